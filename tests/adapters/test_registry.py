"""The format registry owns everything format-specific (rollup_adapters/registry.py, spec.py): a toy
fourth format (toy_format.py), registered here with one line, is taken by the service config, derivation
(rule F, the skip rule, the carriage check), the deployer's limits and the batch tool, with no other
change; and every built-in entry is consistent with its codec."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from eth_account import Account

from deploy.deployer import FORCED_TX_LIMITS  # at collection: web3's import probes a socket (urllib3 HAS_IPV6)
from rollup_adapters import registry
from rollup_adapters.base import RollupBlock
from rollup_adapters.cli import main
from rollup_adapters.derivation import (
    MAX_FORCED_TX_BYTES,
    Cursor,
    DerivationError,
    ForcedTx,
    adapter_config,
    admitted_forced,
    decode_container,
    decode_window_batch,
    encode_window_batch,
    forced_refusal,
    place_forced,
)
from rollup_adapters.spec import ForcedCarriage, config_of
from sequencer.config import parse_config
from sequencer.core import rlp_codec
from sequencer.core.policy import make_policy
from sequencer.errors import BadInput, DecodeError, NotFound

RID = 904
ACCT = Account.from_key(bytes([11]) * 32)


def signed(nonce: int, chain_id: int = RID) -> bytes:
    tx = {"nonce": nonce, "gas": 21000, "to": "0x" + "44" * 20, "value": 1, "chainId": chain_id,
          "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}
    return bytes(ACCT.sign_transaction(tx).raw_transaction)


@pytest.fixture
def toy() -> Iterator[str]:
    """The one registry line a fourth format needs (the package is tests/adapters/toy_format.py)."""
    registry.register("toy", 1, "toy_format")
    try:
        yield "toy"
    finally:
        registry.unregister("toy", 1)


def service_doc(fmt: str, block_time_ms: int = 1000) -> dict:
    return {"rollups": [{"id": RID, "name": "t", "format": fmt, "block_time_ms": block_time_ms}]}


def test_the_service_config_takes_a_registered_fourth_format(toy: str) -> None:
    cfg = parse_config(service_doc(toy, 1500))
    (info,) = cfg.core.rollups
    assert (info.batch_format, info.block_time_ms, info.policy.name) == ("toy", 1500, "evm")  # the toy's policy
    with pytest.raises(BadInput, match="toy block times are half seconds"):  # the toy's own block-time rule
        parse_config(service_doc(toy, 1200))


def test_an_unregistered_format_is_refused_everywhere() -> None:
    with pytest.raises(BadInput, match="unknown batch format 'toy'"):
        parse_config(service_doc("toy"))
    with pytest.raises(NotFound, match="unknown batch format 'toy'"):
        registry.get_spec("toy")
    with pytest.raises(DecodeError, match="unknown batch format 'toy'"):
        forced_refusal("toy", RID, signed(0))
    assert "toy" not in registry.names() and "toy" not in MAX_FORCED_TX_BYTES
    assert main(["batch", "decode", "--format", "toy", "-"]) == 2  # argparse: not a choice


def test_derivation_takes_a_registered_fourth_format(toy: str) -> None:
    """Rule F, the skip rule with the toy's limits and policy, and EVERY_APPLIED carriage, all from its entry."""
    junk, too_big, wrong_chain = b"\x02", b"\x01" * 1_001, signed(9, chain_id=RID + 1)
    good = [signed(n) for n in range(3)]
    queue = [ForcedTx(RID, i, d, e) for i, (d, e) in
             enumerate([(junk, 1), (good[0], 1), (too_big, 2), (wrong_chain, 2), (good[1], 3)])]
    blocks = [RollupBlock(n, n * 500, o, o.to_bytes(32, "big"), (good[2],) if n == 11 else ())
              for n, o in ((10, 1), (11, 2), (12, 3))]
    placed = place_forced(blocks, queue, 0)
    data = encode_window_batch(toy, RID, 500, placed, Cursor(10))
    decoded = decode_window_batch(toy, RID, 500, data, Cursor(10), queue)
    assert [b.forced for b in decoded] == [b.forced for b in placed] == [(junk, good[0]), (too_big, wrong_chain),
                                                                       (good[1],)]
    assert [b.transactions for b in decoded] == [(), (good[2],), ()]
    assert [admitted_forced(toy, RID, b.forced) for b in decoded] == [(good[0],), (), (good[1],)]
    assert forced_refusal(toy, RID, too_big) == "1001 bytes, the toy format takes 1..1000"
    assert "wrong chain id" in (forced_refusal(toy, RID, wrong_chain) or "")
    assert isinstance(adapter_config(toy, RID, 500, Cursor(10)), registry.get_spec(toy).config_type)
    assert MAX_FORCED_TX_BYTES[toy] == 1_000 and decode_container(data)[1] == set()


def test_a_toy_batch_that_withholds_a_forced_entry_is_refused(toy: str) -> None:
    """The carriage check applies to a new format as it does to Nitro: a hostile poster's batch that drops
    an entry rule F applies does not derive."""
    queue = [ForcedTx(RID, 0, signed(0), 1)]
    placed = place_forced([RollupBlock(0, 0, 1, bytes(32), ())], queue, 0)
    honest = encode_window_batch(toy, RID, 500, placed, Cursor(0))
    payloads, _ = decode_container(honest)
    block = rlp_codec.decode(payloads[0])
    assert isinstance(block, list)
    withheld = rlp_codec.encode([[rlp_codec.encode([*block[:4], []])], []])  # the same block, forced list emptied
    with pytest.raises(DerivationError, match="rule F gives 1"):
        decode_window_batch(toy, RID, 500, withheld, Cursor(0), queue)
    assert decode_window_batch(toy, RID, 500, honest, Cursor(0), queue)[0].forced == (signed(0),)


def test_the_deployer_and_the_batch_tool_take_a_registered_fourth_format(toy: str, tmp_path, capsys) -> None:
    assert FORCED_TX_LIMITS[toy] == 1_000 and FORCED_TX_LIMITS == MAX_FORCED_TX_BYTES
    doc = tmp_path / "block.json"
    doc.write_text(json.dumps({"number": 3, "timestamp_ms": 1500, "txs": ["0x" + signed(0).hex()]}))
    assert main(["batch", "encode", "--format", toy, str(doc)]) == 0
    (tmp_path / "block.hex").write_text(capsys.readouterr().out)
    assert main(["batch", "decode", "--format", toy, str(tmp_path / "block.hex")]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(doc.read_text())
    assert main(["batch", "decode", "--format", toy, "--l1-timestamp", "5", str(tmp_path / "block.hex")]) == 1
    assert "apply to opstack only" in capsys.readouterr().err  # the toy takes no fork options


def test_versions_and_registration_rules(toy: str) -> None:
    registry.register("toy", 3, "toy_format")
    try:
        assert registry.get_spec("toy") is registry.get_spec("toy", 1) is registry.get_spec("toy", 3)
        with pytest.raises(NotFound, match="no version 2; registered: 1, 3"):
            registry.get_format("toy", 2)
        assert registry.names().count("toy") == 1
    finally:
        registry.unregister("toy", 3)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("toy", 1, "rollup_adapters.nitro")
    with pytest.raises(ValueError, match="built in"):
        registry.unregister("opstack", 0)


@pytest.mark.parametrize("name", registry.NAMES)
def test_every_built_in_entry_matches_its_codec(name: str) -> None:
    spec = registry.get_spec(name)
    assert spec.name == name == spec.codec.name and registry.get_format(name) is spec.codec
    assert spec.posted_layer in spec.codec.layers
    assert spec.forced_layer is None or spec.forced_layer in spec.codec.layers
    assert (spec.forced_layer is not None) == (spec.forced is ForcedCarriage.ADMITTED)  # zkEVM's forced batches
    make_policy(spec.default_policy, 1)  # a policy the core knows
    cfg = adapter_config(name, 901, 1000, Cursor(4, 3000, (7, bytes(32)), 2), [ForcedTx(901, 2, b"\x01", 1)])
    assert type(cfg) is spec.config_type and dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.__setattr__(dataclasses.fields(cfg)[0].name, None)


@pytest.mark.parametrize("name", registry.NAMES)
def test_a_typo_in_a_format_config_is_refused_not_ignored(name: str) -> None:
    codec = registry.get_format(name)
    with pytest.raises(BadInput, match="unknown key\\(s\\) first_blok_number; known: .*"):
        codec.decode_blocks([], {"first_blok_number": 3})
    with pytest.raises(BadInput, match="unknown key"):
        codec.encode_blocks([RollupBlock(0, 0, 0, bytes(32), ())], {"max_tx_byte": 10})
    spec = registry.get_spec(name)
    typed = config_of(spec.config_type, {})
    assert config_of(spec.config_type, typed) is typed and config_of(spec.config_type, None) == typed
    assert replace(typed) == typed
