"""Fuzz targets: every adapter decoder (each layer of each registered batch format, the window-batch
container, Nitro L2 messages, zkEVM legacy transactions) and the EVM admission policies.

A target takes bytes and may fail only with its typed error: `DecodeError` for decoders (conventions:
"a hypothesis fuzz test whose only allowed failure is DecodeError"), `BadInput` for admission
policies (what the gRPC API turns into INVALID_ARGUMENT). Anything else - IndexError, RecursionError,
MemoryError, a hang - is a bug. Seeds are the reference vectors in tests/adapters/**/testdata and a
few signed transactions, so mutations start inside each format, past its version bytes.

Runners: test_fuzz.py (hypothesis, a short run in `make test`), run_fuzz.py (atheris, coverage
guided, the long run of 1,000,000 inputs per target; figures in docs/fuzzing.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sequencer.errors import BadInput, DecodeError

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "tests" / "adapters"
MAX_INPUT = 64 * 1024
"""Inputs are cut to this size: every format's caps are below what this can expand into, so a
decoder that allocates far beyond it (a decompression bomb) shows in the memory check."""
MAX_ALLOC = 160 * 1024 * 1024
"""Peak allocation allowed for one input (tracemalloc): above the largest decompression cap of any
format (OP Stack's Fjord channel limit, 100 MB of RLP), far below an unbounded read."""


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzz target: `call(data)` may raise only `allowed`."""

    name: str
    call: Callable[[bytes], object]
    allowed: type[Exception]
    seeds: tuple[str, ...]  # testdata files (relative to tests/adapters), hex text


def _hex_file(rel: str) -> list[bytes]:
    text = (TESTDATA / rel).read_text()
    out = []
    for line in text.splitlines():
        line = line.strip().removeprefix("0x")
        if not line or line.startswith("#"):
            continue
        try:
            out.append(bytes.fromhex(line.split()[-1].removeprefix("0x")))
        except ValueError:
            continue
    if not out:
        out.append(bytes.fromhex("".join(text.split()).removeprefix("0x")))
    return out


@cache
def _signed_txs() -> tuple[bytes, ...]:
    from eth_account import Account

    acct = Account.from_key(b"\x01" * 32)
    base = {"nonce": 7, "gas": 21000, "to": "0x" + "22" * 20, "value": 5}
    txs = [
        {**base, "gasPrice": 10**9, "chainId": 901},
        {**base, "type": 1, "gasPrice": 10**9, "accessList": [], "chainId": 901},
        {**base, "type": 2, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9, "chainId": 901,
         "data": "0x" + "ab" * 40},
        {**base, "gasPrice": 10**9, "chainId": 903},
    ]
    return tuple(bytes(acct.sign_transaction(t).raw_transaction) for t in txs)


def seeds(target: Target) -> list[bytes]:
    out: list[bytes] = [b"", b"\x00", b"\x01" * 8]
    for rel in target.seeds:
        if rel == "<signed-txs>":
            out.extend(_signed_txs())
            continue
        try:
            out.extend(_hex_file(rel))
        except (OSError, ValueError):
            continue
    return [s[:MAX_INPUT] for s in out]


BLOB_BYTES = 131_072
"""An EIP-4844 blob is exactly this long: shorter inputs would all stop at the length check, so the
blob target pads each input to a whole blob (its bytes are the blob's first bytes)."""


def _layer(fmt_name: str, layer: str) -> Callable[[bytes], object]:
    from rollup_adapters.registry import get_format

    fmt = get_format(fmt_name)
    if layer == "blob":
        return lambda data: fmt.decode_json(data.ljust(BLOB_BYTES, b"\0")[:BLOB_BYTES], layer)
    return lambda data: fmt.decode_json(data, layer)


def _policy(name: str, chain_id: int) -> Callable[[bytes], object]:
    from sequencer.core.policy import make_policy

    policy = make_policy(name, chain_id)
    return policy.check


def _container(data: bytes) -> object:
    from rollup_adapters.derivation import decode_container

    return decode_container(data)


def _l2_message(data: bytes) -> object:
    from rollup_adapters.nitro import decode_l2_message

    return decode_l2_message(data)


def _legacy_tx(data: bytes) -> object:
    from rollup_adapters.zkevm.legacy_tx import decode_legacy_tx

    return decode_legacy_tx(data)


def _evm_tx(data: bytes) -> object:
    from sequencer.core.evm_tx import decode_transaction

    return decode_transaction(data)


OP = ("opstack/testdata/v2_frame0.hex", "opstack/testdata/v2_frame1.hex", "opstack/testdata/raw_span_batch.hex",
      "opstack/testdata/v2_singular_batch.hex", "opstack/testdata/brotli_unit.hex",
      "opstack/testdata/force_close_tx_data.hex", "realworld/testdata/op_mainnet_batcher_tx_zlib.hex")
NITRO = ("nitro/testdata/nitro_a2_seqmsg.hex", "nitro/testdata/nitro_a2_segments.hex",
         "realworld/testdata/nitro_orbit_calldata_seq456.hex")
ZKEVM = ("zkevm/testdata/z1_encode_two_empty_blocks.hex", "zkevm/testdata/z2_coded_l2_block1.hex",
         "zkevm/testdata/z3_coded_l2_block2.hex", "zkevm/testdata/z4_forced_coded_rlp_2txs1.hex",
         "zkevm/testdata/real_batch_incaberry_txs.hex")


def targets() -> dict[str, Target]:
    """Every target, by name."""
    from rollup_adapters.registry import NAMES, get_format

    seeds_of = {"opstack": OP, "nitro": NITRO, "zkevm": ZKEVM}
    out: dict[str, Target] = {}
    for fmt_name in NAMES:
        for layer in get_format(fmt_name).layers:
            name = f"{fmt_name}.{layer}"
            out[name] = Target(name, _layer(fmt_name, layer), DecodeError, seeds_of.get(fmt_name, ()))
    out["derivation.container"] = Target("derivation.container", _container, DecodeError, ())
    out["nitro.l2-message"] = Target("nitro.l2-message", _l2_message, DecodeError, NITRO)
    out["zkevm.legacy-tx"] = Target("zkevm.legacy-tx", _legacy_tx, DecodeError, ("<signed-txs>",))
    out["core.evm-tx"] = Target("core.evm-tx", _evm_tx, DecodeError, ("<signed-txs>",))
    out["policy.evm"] = Target("policy.evm", _policy("evm", 901), BadInput, ("<signed-txs>",))
    out["policy.evm-legacy"] = Target("policy.evm-legacy", _policy("evm-legacy", 903), BadInput, ("<signed-txs>",))
    return out


def run_one(target: Target, data: bytes) -> None:
    """Feed one input; re-raise anything but the target's typed error."""
    try:
        target.call(data[:MAX_INPUT])
    except target.allowed:
        pass
