"""Seeded round trips and fuzzing of the zkEVM codec (hypothesis).

derandomize=True: every run draws the same examples, so a failure reproduces.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollup_adapters.zkevm import (
    FORMAT,
    BatchTx,
    BatchV2,
    ForcedBatchV2,
    L2Block,
    L2BlockChange,
    SignedLegacyTx,
    batch_tx_from_raw,
    decode_batch_v2,
    decode_forced_batch,
    encode_batch_v2,
    encode_forced_batch,
)
from sequencer.core.evm_tx import SECP256K1_N
from sequencer.errors import DecodeError

TESTDATA = Path(__file__).parent / "testdata"
VECTORS = [
    bytes.fromhex((TESTDATA / name).read_text().strip())
    for name in ("z2_coded_l2_block1.hex", "z3_coded_l2_block2.hex", "z4_forced_coded_rlp_2txs1.hex")
]

U64 = st.integers(0, 2**64 - 1)
U256 = st.integers(0, 2**256 - 1)


def legacy_txs(r: st.SearchStrategy[int] = U256, s: st.SearchStrategy[int] = U256) -> st.SearchStrategy:
    return st.builds(
        SignedLegacyTx,
        nonce=U64,
        gas_price=U256,
        gas=U64,
        to=st.none() | st.binary(min_size=20, max_size=20),
        value=U256,
        data=st.binary(max_size=300),
        chain_id=st.none() | U64,
        y_parity=st.integers(0, 1),
        r=r.map(lambda n: n.to_bytes(32, "big")),
        s=s.map(lambda n: n.to_bytes(32, "big")),
    )


batch_txs = st.builds(BatchTx, legacy_txs(), st.integers(0, 255))
changes = st.builds(L2BlockChange, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
blocks = st.builds(L2Block, changes, st.lists(batch_txs, max_size=4).map(tuple))
batches = st.lists(blocks, max_size=5).map(lambda b: BatchV2(tuple(b)))
forced_batches = st.lists(batch_txs, max_size=8).map(lambda t: ForcedBatchV2(tuple(t)))


@settings(derandomize=True)
@given(batches)
def test_batch_round_trip(batch: BatchV2) -> None:
    assert decode_batch_v2(encode_batch_v2(batch)) == batch


@settings(derandomize=True)
@given(forced_batches)
def test_forced_batch_round_trip(batch: ForcedBatchV2) -> None:
    data = encode_forced_batch(batch, max_bytes=10**6)
    assert decode_forced_batch(data, max_bytes=10**6) == batch


@settings(derandomize=True)
@given(legacy_txs(r=st.integers(1, SECP256K1_N - 1), s=st.integers(1, SECP256K1_N // 2)), st.integers(0, 255))
def test_entry_to_raw_tx_and_back(tx: SignedLegacyTx, ep: int) -> None:
    """Every entry with a well-formed signature is a raw legacy tx, and back."""
    entry = BatchTx(tx, ep)
    assert batch_tx_from_raw(entry.raw, ep) == entry


def decode_everything(data: bytes) -> None:
    """Run every decoder over `data`; DecodeError is the only failure allowed."""
    for decode in (
        decode_batch_v2,
        decode_forced_batch,
        lambda d: FORMAT.decode_json(d, "batch"),
        lambda d: FORMAT.decode_json(d, "forced-batch"),
        lambda d: FORMAT.decode_blocks([d], {}),
    ):
        try:
            decode(data)
        except DecodeError:
            pass


@settings(max_examples=500, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    decode_everything(data)
    decode_everything(b"\x0b" + bytes(8) + data)


@settings(max_examples=500, derandomize=True)
@given(st.sampled_from(VECTORS), st.data())
def test_fuzz_mutated_vectors(vector: bytes, data: st.DataObject) -> None:
    mutated = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            mutated[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            mutated.insert(at, data.draw(st.integers(0, 255)))
        elif action == "delete" and len(mutated) > 1:
            del mutated[at]
        else:
            del mutated[at + 1 :]
    decode_everything(bytes(mutated))
