"""The window commitment and its header witness (sequencer/core/window.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_testkit import make_core
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.core import rlp_codec
from sequencer.core.hashing import keccak
from sequencer.core.signing import block_hash
from sequencer.core.types import Transaction
from sequencer.core.window import (
    build_window,
    decode_witness,
    encode_witness,
    rollups_hash,
    verify_witness,
    window_struct_hash,
)
from sequencer.errors import DecodeError


def sealed_blocks(n: int = 5):
    core = make_core()
    blocks = []
    for i in range(n):
        for r in (1, 3) if i % 2 else (2,):
            core.submit(Transaction(r, f"tx-{i}-{r}".encode()))
        blocks.append(core.seal(1000 + i * 100 + 99, (10 + i, bytes([i]) * 32)))
    return blocks


def window_of(blocks):
    witness = encode_witness(blocks)
    return build_window(blocks, [1, 2, 3], [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32], [0, 1, 0], witness), witness


def test_witness_round_trip_and_checks():
    blocks = sealed_blocks()
    w, witness = window_of(blocks)
    assert w.block_count == 5 and w.last_block_hash == block_hash(blocks[-1].header)
    got = verify_witness(w, witness)
    assert [b.header for b in got] == [b.header for b in blocks]
    assert got[1].leaf(3) is not None and got[1].leaf(2) is None


def test_witness_refuses_a_forged_block():
    """A poster that swaps one header (a fabricated block) is caught by the signed hash and root."""
    blocks = sealed_blocks()
    w, _ = window_of(blocks)
    forged = list(blocks)
    forged[2] = replace(blocks[2], header=replace(blocks[2].header, bundles_root=b"\x99" * 32))
    witness = encode_witness(forged)
    with pytest.raises(DecodeError, match="witness_hash"):
        verify_witness(w, witness)
    with pytest.raises(DecodeError, match="parent hash does not chain"):
        verify_witness(replace(w, witness_hash=keccak(witness)), witness)


def test_witness_refuses_unsorted_leaves():
    """A sequencer that lists namespace leaves out of order (hiding a rollup) is refused."""
    blocks = sealed_blocks()
    entries = rlp_codec.decode(encode_witness(blocks))
    entries[1][1] = list(reversed(entries[1][1]))
    witness = rlp_codec.encode(entries)
    w, _ = window_of(blocks)
    with pytest.raises(DecodeError, match="strictly sorted"):
        verify_witness(replace(w, witness_hash=keccak(witness)), witness)


def test_rollups_hash_matches_abi_encoding():
    from eth_abi import encode

    ids, hashes, forced = [1, 901, 2**64 - 1], [b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32], [0, 5, 7]
    assert rollups_hash(ids, hashes, forced) == keccak(encode(["uint64[]", "bytes32[]", "uint64[]"],
                                                              [ids, hashes, forced]))
    assert rollups_hash([], [], []) == keccak(encode(["uint64[]", "bytes32[]", "uint64[]"], [[], [], []]))


def test_window_struct_hash_matches_eip712():
    from eth_account.messages import encode_typed_data

    blocks = sealed_blocks(2)
    w, _ = window_of(blocks)
    fields = [("firstHeight", "uint64"), ("lastHeight", "uint64"), ("parentHash", "bytes32"),
              ("lastBlockHash", "bytes32"), ("blocksRoot", "bytes32"), ("firstTimestamp", "uint64"),
              ("lastTimestamp", "uint64"), ("l1OriginNumber", "uint64"), ("l1OriginHash", "bytes32"),
              ("rollupsHash", "bytes32"), ("witnessHash", "bytes32")]
    values = [w.first_height, w.last_height, w.parent_hash, w.last_block_hash, w.blocks_root,
              w.first_timestamp_ms, w.last_timestamp_ms, w.l1_origin_number, w.l1_origin_hash, w.rollups_hash,
              w.witness_hash]
    msg = encode_typed_data(full_message={
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "Window": [{"name": n, "type": t} for n, t in fields]},
        "primaryType": "Window",
        "domain": {"name": "sharedseq", "version": "1", "chainId": 1, "verifyingContract": "0x" + "5f" * 20},
        "message": dict(zip([n for n, _ in fields], values, strict=True)),
    })
    assert msg.body == window_struct_hash(w)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decode_witness_fuzz(data):
    try:
        decode_witness(data)
    except DecodeError:
        pass


def test_witness_refuses_timestamps_going_back():
    """Timestamps inside a signed window never go back (the inbox only sees the first and last)."""
    blocks = sealed_blocks(3)
    core_blocks = list(blocks)
    h1 = replace(blocks[1].header, timestamp_ms=blocks[0].header.timestamp_ms - 1)
    core_blocks[1] = replace(blocks[1], header=h1)
    h2 = replace(blocks[2].header, parent_hash=block_hash(h1))
    core_blocks[2] = replace(blocks[2], header=h2)
    w, witness = window_of(core_blocks)
    with pytest.raises(DecodeError, match="timestamp goes back"):
        verify_witness(w, witness)
