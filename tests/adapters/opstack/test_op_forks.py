"""OP Stack forks: rollup configs, fork-selected limits and rules, Holocene assembly, and the
encoder refusing what the target fork does not allow (op-node chain_spec.go, frame_queue.go,
channel_bank.go, channel_assembler.go, channel_in_reader.go, batches.go)."""

from __future__ import annotations

import json
import zlib

import brotli
import pytest
from opstack_helpers import CHAIN_ID, TESTDATA, read_lines, signed_tx

from rollup_adapters.base import RollupBlock
from rollup_adapters.cli import main
from rollup_adapters.opstack import FORMAT
from rollup_adapters.opstack.batches import SingularBatch, encode_batch
from rollup_adapters.opstack.chain_spec import (
    FORKS,
    OP_MAINNET,
    OP_SEPOLIA,
    all_forks_at_genesis,
    load_rollup_config,
    parse_rollup_config,
)
from rollup_adapters.opstack.channel import bank_channels, encode_batch_stream, holocene_channels, prune_frame_queue
from rollup_adapters.opstack.frames import Frame, encode_batcher_tx
from rollup_adapters.opstack.json_view import decode_json, encode_json
from rollup_adapters.opstack.pipeline import ForkContext, derive_batches
from sequencer.core import evm_tx
from sequencer.errors import BadInput, DecodeError

KEYS = [bytes([i + 7]) * 32 for i in range(4)]


# --- rollup configs ------------------------------------------------------------------------------

# (config, time, fork): chain_spec.go CheckForkActivation, superchain-registry op.toml times.
FORK_AT = [
    (OP_MAINNET, 1686068903, "regolith"),
    (OP_MAINNET, 1704992400, "regolith"),
    (OP_MAINNET, 1704992401, "canyon"),
    (OP_MAINNET, 1708560000, "delta"),
    (OP_MAINNET, 1710374401, "ecotone"),
    (OP_MAINNET, 1720627200, "ecotone"),
    (OP_MAINNET, 1720627201, "fjord"),
    (OP_MAINNET, 1726070401, "granite"),
    (OP_MAINNET, 1736445601, "holocene"),
    (OP_MAINNET, 1746806401, "isthmus"),
    (OP_MAINNET, 1764691201, "jovian"),
    (OP_SEPOLIA, 1716998399, "ecotone"),
    (OP_SEPOLIA, 1716998400, "fjord"),
    (OP_SEPOLIA, 1732633200, "holocene"),
    (OP_SEPOLIA, 1744905600, "isthmus"),
]


@pytest.mark.parametrize(("config", "t", "fork"), FORK_AT)
def test_fork_at(config, t, fork):
    assert config.fork_at(t) == fork


def test_max_rlp_bytes_per_channel_follows_fjord():
    """chain_spec.go MaxRLPBytesPerChannel: 10,000,000 before Fjord, 100,000,000 from Fjord."""
    fjord = OP_MAINNET.activation("fjord")
    assert OP_MAINNET.max_rlp_bytes_per_channel(fjord - 1) == 10_000_000
    assert OP_MAINNET.max_rlp_bytes_per_channel(fjord) == 100_000_000
    assert OP_MAINNET.max_channel_bank_size(fjord - 1) == 100_000_000
    assert OP_MAINNET.max_channel_bank_size(fjord) == 1_000_000_000
    assert OP_MAINNET.channel_timeout_at(OP_MAINNET.activation("granite")) == 50
    assert OP_MAINNET.channel_timeout_at(fjord) == 300


ROLLUP_JSON = {
    "genesis": {"l1": {"hash": "0x" + "11" * 32, "number": 1}, "l2": {"hash": "0x" + "22" * 32, "number": 0},
                "l2_time": 1_000, "system_config": {}},
    "block_time": 2, "l2_chain_id": 901, "channel_timeout": 120, "regolith_time": 0, "canyon_time": 0,
    "delta_time": 0, "ecotone_time": 0, "fjord_time": 5_000, "granite_time": None,
}


def test_parse_rollup_json():
    cfg = parse_rollup_config(ROLLUP_JSON)
    assert (cfg.l2_chain_id, cfg.genesis_l2_time, cfg.block_time, cfg.channel_timeout) == (901, 1_000, 2, 120)
    assert cfg.fork_at(4_999) == "ecotone" and cfg.fork_at(5_000) == "fjord" and cfg.fork_at(2**63) == "fjord"
    assert cfg.activation("holocene") is None


@pytest.mark.parametrize(("patch", "message"), [
    ({"block_time": 0}, "block_time: must be positive"),
    ({"l2_chain_id": "10"}, "l2_chain_id: expected a uint64"),
    ({"genesis": {}}, "genesis.l2_time: expected a uint64"),
    ({"fjord_time": -1}, "fjord_time: expected a uint64"),
    ({"ecotone_time": 6_000}, "fjord_time: 5000 is before ecotone_time 6000"),
    ({"granite_time": None, "holocene_time": 7_000}, "holocene_time: set although an earlier fork is not scheduled"),
])
def test_rollup_json_errors_name_the_field(patch, message):
    with pytest.raises(BadInput, match=message):
        parse_rollup_config({**ROLLUP_JSON, **patch})


def test_load_rollup_config(tmp_path):
    assert load_rollup_config("op-mainnet") is OP_MAINNET
    path = tmp_path / "rollup.json"
    path.write_text(json.dumps(ROLLUP_JSON))
    assert load_rollup_config(str(path)).l2_chain_id == 901
    path.write_text("{")
    with pytest.raises(BadInput, match="not JSON"):
        load_rollup_config(str(path))
    with pytest.raises(BadInput, match="cannot read"):
        load_rollup_config(str(tmp_path / "missing.json"))


# --- op-node's own tables (testdata/*.txt, each names its source) --------------------------------


def op_frame(spec: str) -> Frame:
    """op-node's testFrame notation "channel:number:data[!]" (channel ids are the name, zero-padded)."""
    cid, num, rest = spec.split(":", 2)
    last = rest.endswith("!")
    return Frame(cid.encode().ljust(16, b"\0"), int(num), rest.removesuffix("!").encode(), last)


def table(name: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in read_lines(name)]


@pytest.mark.parametrize("case", table("holocene_prune_frame_queue.txt"), ids=lambda c: c[0])
def test_holocene_prune_frame_queue_matches_op_node(case):
    _, frames_in, kept = case
    out, dropped = prune_frame_queue([op_frame(f) for f in frames_in.split()])
    assert out == [op_frame(f) for f in kept.split()]
    assert len(dropped) == len(frames_in.split()) - len(kept.split())


@pytest.mark.parametrize("case", table("holocene_channel_assembler.txt"), ids=lambda c: c[0])
def test_holocene_channel_assembler_matches_op_node(case):
    _, txs, out, limit = case
    frames = [[op_frame(f) for f in tx.split()] for tx in txs.split(";")]
    assembly = holocene_channels(frames, 10_000_000 if limit == "-" else int(limit))
    assert [c.data.decode() for c in assembly.ready] == ([] if out == "-" else out.split())


@pytest.mark.parametrize("case", table("channel_bank.txt"), ids=lambda c: c[0])
def test_channel_bank_matches_op_node(case):
    _, txs, out, fork = case
    frames = [[op_frame(f) for f in tx.split()] for tx in txs.split(";")]
    assembly = bank_channels(frames, 100_000_000, canyon=fork == "canyon")
    assert [c.data.decode() for c in assembly.ready] == out.split()


def test_bank_prunes_oldest_channel_over_its_size():
    """channel_bank.go prune: the bank drops its oldest channel while it holds too much."""
    frames = [[op_frame("a:0:" + "x" * 300), op_frame("b:0:y!")]]
    assert [c.data for c in bank_channels(frames, 10_000).ready] == [b"y"]
    assembly = bank_channels([[op_frame("a:0:" + "x" * 300), op_frame("b:0:y"), op_frame("a:1:z!")]], 600)
    assert assembly.ready == () and any("pruned" in d.reason for d in assembly.dropped)


# --- the rules on real batcher data --------------------------------------------------------------

CID = b"\x42" * 16


def singular(ts: int, txs: tuple[bytes, ...] = ()) -> SingularBatch:
    return SingularBatch(b"\x01" * 32, 7, b"\x02" * 32, ts, txs)


def zlib_channel(*batches: SingularBatch) -> bytes:
    return zlib.compress(encode_batch_stream([encode_batch(b) for b in batches]))


def tx_payloads(channel: bytes, cid: bytes = CID, cut: int = 0) -> list[bytes]:
    if not cut:
        return [encode_batcher_tx([Frame(cid, 0, channel, True)])]
    parts = [channel[i : i + cut] for i in range(0, len(channel), cut)]
    return [encode_batcher_tx([Frame(cid, i, p, i == len(parts) - 1)]) for i, p in enumerate(parts)]


def test_out_of_order_frames_kept_before_holocene_dropped_from_holocene():
    """channel_bank.go takes frames in any order; from Holocene frame_queue.go/channel_assembler.go do not."""
    data = zlib_channel(singular(OP_SEPOLIA.genesis_l2_time + 2))
    payloads = list(reversed(tx_payloads(data, cut=8)))
    holocene = OP_SEPOLIA.activation("holocene")
    before = derive_batches(payloads, ForkContext(OP_SEPOLIA, holocene - 1))
    after = derive_batches(payloads, ForkContext(OP_SEPOLIA, holocene))
    assert (before.fork, len(before.batches)) == ("granite", 1)
    assert (after.fork, after.batches) == ("holocene", ())
    assert any("Holocene" in s.reason for s in after.skipped)


def test_holocene_new_frame_zero_drops_unfinished_channel():
    first = zlib_channel(singular(10))
    second = zlib_channel(singular(12))
    payloads = [encode_batcher_tx([Frame(CID, 0, first[:5], False)]), *tx_payloads(second, b"\x43" * 16),
                encode_batcher_tx([Frame(CID, 1, first[5:], True)])]
    ctx_before = ForkContext(OP_SEPOLIA, OP_SEPOLIA.activation("holocene") - 1)
    ctx_after = ForkContext(OP_SEPOLIA, OP_SEPOLIA.activation("holocene"))
    assert [k.batch.timestamp for k in derive_batches(payloads, ctx_before).batches] == [12, 10]
    derived = derive_batches(payloads, ctx_after)
    assert [k.batch.timestamp for k in derived.batches] == [12]
    assert any("unfinished channel dropped" in s.reason for s in derived.skipped)


def test_post_fjord_channel_over_10_mb_is_read_whole_pre_fjord_is_cut():
    """A 12 MB channel: complete from Fjord (100 MB limit), cut at 10 MB before it."""
    big = singular(100, (b"\x00" * 6_000_000,))
    data = zlib_channel(big, big, singular(102))
    payloads = tx_payloads(data)
    fjord = OP_MAINNET.activation("fjord")
    after = derive_batches(payloads, ForkContext(OP_MAINNET, fjord))
    assert [k.batch.timestamp for k in after.batches] == [100, 100, 102] and after.skipped == ()
    before = derive_batches(payloads, ForkContext(OP_MAINNET, fjord - 1))
    assert [k.batch.timestamp for k in before.batches] == [100]
    assert [s.stage for s in before.skipped] == ["channel"] and "over limit" in before.skipped[0].reason


def test_brotli_channel_dropped_before_fjord():
    channel = encode_json({"batches": [{"type": "singular", "parent_hash": "0x" + "00" * 32, "epoch_number": 1,
                                        "epoch_hash": "0x" + "00" * 32, "timestamp": 5, "transactions": []}]},
                          "channel")
    assert channel[0] == 0x01
    fjord = OP_MAINNET.activation("fjord")
    assert len(derive_batches(tx_payloads(channel), ForkContext(OP_MAINNET, fjord)).batches) == 1
    before = derive_batches(tx_payloads(channel), ForkContext(OP_MAINNET, fjord - 1))
    assert before.batches == () and "brotli channel (0x01) before Fjord" in before.skipped[0].reason


def test_span_batch_before_delta_dropped_alone_channel_goes_on():
    """channel_in_reader.go: a span batch before Delta is dropped; the next batch is read."""
    blocks = [RollupBlock(0, 0, 1, b"\x01" * 32, (signed_tx(KEYS[0], 2, 0),))]
    span_raw = FORMAT.decode_json(FORMAT.encode_blocks(blocks, {"chain_id": CHAIN_ID, "compression": "zlib"})[0],
                                  None)["batches"][0]
    assert span_raw["type"] == "span"
    doc = {"compression": "zlib", "batches": [span_raw, {"type": "singular", "parent_hash": "0x" + "00" * 32,
                                                         "epoch_number": 1, "epoch_hash": "0x" + "00" * 32,
                                                         "timestamp": 9, "transactions": []}]}
    channel = encode_json(doc, "channel")
    delta = OP_MAINNET.activation("delta")
    out = decode_json(channel, "channel", {"rollup_config": OP_MAINNET, "l1_timestamp": delta - 1})
    assert [b["type"] for b in out["batches"]] == ["singular"] and out["fork"] == "canyon"
    assert out["skipped"] == [{"stage": "batch", "where": "channel (input) batch 0",
                               "reason": f"span batch before Delta (L1 time {delta - 1}; channel_in_reader.go)"}]
    at_delta = decode_json(channel, "channel", {"rollup_config": OP_MAINNET, "l1_timestamp": delta})
    assert [b["type"] for b in at_delta["batches"]] == ["span", "singular"]


def set_code_tx() -> bytes:
    """A type-4 (EIP-7702) transaction; the signature only has to be in range for these tests."""
    return evm_tx.encode_transaction(evm_tx.EvmTransaction(
        tx_type=4, chain_id=CHAIN_ID, nonce=0, gas_price=0, max_priority_fee=1, max_fee=2, gas=50_000,
        to=b"\x11" * 20, value=0, data=b"", access_list=(), y_parity=0, r=1, s=1, v=0,
        authorization_list=((CHAIN_ID, b"\x22" * 20, 0, 0, 1, 1),),
    ))


def test_set_code_transactions_dropped_before_isthmus_by_l2_time():
    """batches.go (Isthmus): a batch with a set-code transaction in a block before Isthmus is
    dropped; before Holocene the channel reads on, from Holocene batch_stage.go flushes it."""
    holocene, isthmus = OP_MAINNET.activation("holocene"), OP_MAINNET.activation("isthmus")
    data = zlib_channel(singular(holocene - 10, (set_code_tx(),)), singular(holocene - 8, ()),
                        singular(isthmus, (set_code_tx(),)))
    before = derive_batches(tx_payloads(data), ForkContext(OP_MAINNET, holocene - 1))
    assert [k.batch.timestamp for k in before.batches] == [holocene - 8, isthmus]
    assert before.skipped[0].stage == "batch" and "before Isthmus" in before.skipped[0].reason
    after = derive_batches(tx_payloads(data), ForkContext(OP_MAINNET, isthmus + 100))
    assert after.batches == () and "rest of the channel (2 batches) is flushed" in after.skipped[0].reason
    ok = zlib_channel(singular(isthmus, (set_code_tx(),)), singular(isthmus + 2, ()))
    assert len(derive_batches(tx_payloads(ok), ForkContext(OP_MAINNET, isthmus + 100)).batches) == 2


# --- encoding for a fork, and round trips on every fork ------------------------------------------


def mainnet_block(t: int, origin: int, txs: tuple[bytes, ...] = ()) -> RollupBlock:
    n = (t - OP_MAINNET.genesis_l2_time) // 2
    return RollupBlock(n, (OP_MAINNET.genesis_l2_time + 2 * n) * 1000, origin, origin.to_bytes(32, "big"), txs)


def first_slot_at(fork: str) -> int:
    at = OP_MAINNET.activation(fork) or OP_MAINNET.genesis_l2_time
    g = OP_MAINNET.genesis_l2_time
    return g + -(-(max(at, g) - g) // 2) * 2


# (fork, expected batch type, expected compression byte test)
ROUND_TRIP_FORKS = [("regolith", "singular", "zlib"), ("canyon", "singular", "zlib"), ("delta", "span", "zlib"),
                    ("ecotone", "span", "zlib"), ("fjord", "span", "brotli"), ("granite", "span", "brotli"),
                    ("holocene", "span", "brotli"), ("isthmus", "span", "brotli")]


@pytest.mark.parametrize(("fork", "batch_type", "compression"), ROUND_TRIP_FORKS)
def test_round_trip_on_every_fork(fork, batch_type, compression):
    t = first_slot_at(fork)
    txs = (signed_tx(KEYS[0], 2, 0), signed_tx(KEYS[1], 0, 0))
    if fork == "isthmus":
        txs += (set_code_tx(),)
    blocks = [mainnet_block(t, 500, txs), mainnet_block(t + 2, 501)]
    config = {"rollup_config": OP_MAINNET}
    payloads = FORMAT.encode_blocks(blocks, config)
    doc = FORMAT.decode_json(payloads[0], None, {"rollup_config": OP_MAINNET, "l1_timestamp": t + 12})
    assert doc["fork"] == fork and {b["type"] for b in doc["batches"]} == {batch_type}
    assert (doc["frames"][0]["data"][:4] == "0x01") == (compression == "brotli")
    out = FORMAT.decode_blocks(payloads, {**config, "l1_timestamp": t + 12})
    assert [b.transactions for b in out] == [b.transactions for b in blocks]
    assert [b.number for b in out] == [b.number for b in blocks]


@pytest.mark.parametrize(("extra", "message"), [
    ({"compression": "brotli"}, "compression brotli needs Fjord"),
    ({"batch_type": "span"}, "span batches need Delta"),
])
def test_encoder_refuses_what_the_fork_does_not_allow(extra, message):
    t = first_slot_at("canyon")
    with pytest.raises(BadInput, match=message):
        FORMAT.encode_blocks([mainnet_block(t, 1, (signed_tx(KEYS[0], 2, 0),))], {"rollup_config": OP_MAINNET,
                                                                              "compression": "zlib", **extra})


def test_encoder_refuses_set_code_before_isthmus():
    t = OP_MAINNET.activation("isthmus") - 2 - (OP_MAINNET.activation("isthmus") - OP_MAINNET.genesis_l2_time) % 2
    with pytest.raises(BadInput, match="before Isthmus"):
        FORMAT.encode_blocks([mainnet_block(t, 1, (set_code_tx(),))], {"rollup_config": OP_MAINNET})


def test_encode_json_refuses_brotli_and_span_before_their_forks():
    batch = {"type": "singular", "parent_hash": "0x" + "00" * 32, "epoch_number": 1, "epoch_hash": "0x" + "00" * 32,
             "timestamp": 5, "transactions": []}
    pre_fjord = {"rollup_config": OP_MAINNET, "l1_timestamp": OP_MAINNET.activation("fjord") - 1}
    with pytest.raises(DecodeError, match="compression brotli needs Fjord"):
        encode_json({"compression": "brotli", "batches": [batch]}, "channel", pre_fjord)
    assert encode_json({"batches": [batch]}, "channel", pre_fjord)[0] & 0x0F == 8  # zlib by default there


def test_devnet_default_has_every_fork():
    cfg = all_forks_at_genesis()
    assert all(cfg.is_active(f, 0) for f in FORKS)


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_rollup_config_and_l1_timestamp(tmp_path, capsys):
    data = zlib_channel(singular(5))
    path = tmp_path / "ch.bin"
    path.write_bytes(bytes([0x78]) + data[1:])
    fjord = OP_MAINNET.activation("fjord")
    code = main(["batch", "decode", "--format", "opstack", "--layer", "channel", "--rollup-config", "op-mainnet",
                 "--l1-timestamp", str(fjord), str(path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["fork"] == "fjord" and len(out["batches"]) == 1
    rj = tmp_path / "rollup.json"
    rj.write_text(json.dumps(ROLLUP_JSON))
    assert main(["batch", "decode", "--format", "opstack", "--layer", "channel", "--rollup-config", str(rj),
                 "--l1-timestamp", "4000", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["fork"] == "ecotone"


def test_cli_fork_options_errors(tmp_path, capsys):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00")
    assert main(["batch", "decode", "--format", "nitro", "--l1-timestamp", "5", str(path)]) == 1
    assert "apply to opstack only" in capsys.readouterr().err
    bad = tmp_path / "rollup.json"
    bad.write_text(json.dumps({**ROLLUP_JSON, "block_time": 0}))
    assert main(["batch", "decode", "--format", "opstack", "--rollup-config", str(bad), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "block_time: must be positive" in err


def test_testdata_files_name_their_source():
    for name in ("holocene_prune_frame_queue.txt", "holocene_channel_assembler.txt", "channel_bank.txt",
                 "channel_frame_validity.txt", "holocene_frames_derivation.txt"):
        head = (TESTDATA / name).read_text()
        assert "ethereum-optimism/optimism" in head and "commit " in head


@pytest.mark.parametrize("case", table("channel_frame_validity.txt"), ids=lambda c: c[0])
def test_channel_add_frame_matches_op_node(case):
    from rollup_adapters.opstack.channel import ChannelBuilder

    _, holocene, frames, refused, sizes = case
    builder = ChannelBuilder(b"\xff".ljust(16, b"\0"), in_order=holocene == "yes")
    for spec, err, size in zip(frames.split(), refused.split(), sizes.split(), strict=True):
        cid = b"\xee".ljust(16, b"\0") if spec.startswith("ee/") else b"\xff".ljust(16, b"\0")
        num, rest = spec.removeprefix("ee/").split(":", 1)
        why = builder.add_frame(Frame(cid, int(num), rest.removesuffix("!").encode(), rest.endswith("!")))
        assert (why is not None) == (err == "1") and builder.size == int(size)


# (name, compression, L1 time relative to Fjord, accepted): channel_test.go TestBatchReader.
BATCH_READER = [("zlib-pre-fjord", "zlib", -1, True), ("zlib-post-fjord", "zlib", 0, True),
                ("brotli-pre-fjord", "brotli", -1, False), ("brotli-post-fjord", "brotli", 0, True),
                ("unknown-type-post-fjord", "zstd", 0, False)]


@pytest.mark.parametrize(("name", "compression", "dt", "accepted"), BATCH_READER, ids=[c[0] for c in BATCH_READER])
def test_batch_reader_compression_by_fork(name, compression, dt, accepted):
    stream = encode_batch_stream([encode_batch(singular(7))])
    data = {"zlib": zlib.compress(stream), "brotli": b"\x01" + brotli.compress(stream),
            "zstd": b"\x02" + stream}[compression]
    derived = derive_batches(tx_payloads(data), ForkContext(OP_MAINNET, OP_MAINNET.activation("fjord") + dt))
    assert (len(derived.batches) == 1) == accepted
    assert accepted or derived.skipped[0].reason.startswith("channel dropped: channel_version")


@pytest.mark.parametrize("case", table("holocene_frames_derivation.txt"), ids=lambda c: c[0])
def test_holocene_frame_orderings_derive_as_op_e2e_expects(case):
    _, order, before, after = case
    channel = zlib_channel(*(singular(OP_SEPOLIA.genesis_l2_time + 2 * k) for k in (1, 2, 3)))
    third = -(-len(channel) // 3)
    parts = [channel[i * third : (i + 1) * third] for i in range(3)]
    frames = [Frame(CID, i, parts[i], i == 2) for i in range(3)]
    payloads = [encode_batcher_tx([frames[int(j)]]) for j in order.split()]
    holocene = OP_SEPOLIA.activation("holocene")
    assert len(derive_batches(payloads, ForkContext(OP_SEPOLIA, holocene - 1)).batches) == int(before)
    assert len(derive_batches(payloads, ForkContext(OP_SEPOLIA, holocene)).batches) == int(after)
