"""The block log's RLP encoding of sealed blocks (sequencer/store/codec.py)."""

from __future__ import annotations

import pytest
import rlp
from core_testkit import make_core
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.core.types import BlockHeader, Bundle, BundlePlacement, Namespace, SharedBlock, Transaction
from sequencer.errors import Critical
from sequencer.store.codec import decode_block, encode_block

U64 = st.integers(0, 2**64 - 1)
H32 = st.binary(min_size=32, max_size=32)

HEADERS = st.builds(BlockHeader, U64, H32, U64, U64, H32, H32, st.integers(0, 2**32 - 1), H32)
NAMESPACES = st.dictionaries(U64, st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=4),
                             max_size=4).map(lambda d: tuple(Namespace(k, tuple(v)) for k, v in sorted(d.items())))
PLACEMENTS = st.lists(st.builds(BundlePlacement, H32, st.lists(st.tuples(U64, st.integers(0, 2**32 - 1)),
                                                               min_size=1, max_size=3).map(tuple)), max_size=3)
BLOCKS = st.builds(SharedBlock, HEADERS, st.binary(min_size=65, max_size=65), NAMESPACES, PLACEMENTS.map(tuple))


def test_layout() -> None:
    core = make_core()
    core.submit(Transaction(2, b"x"))
    core.submit_bundle(Bundle((Transaction(1, b"y"), Transaction(2, b"z"))))
    block = core.seal(100)
    h = block.header
    header, sig, namespaces, bundles = rlp.decode(encode_block(block))
    assert header[1] == h.parent_hash and header[5] == h.namespaces_root and len(header) == 8
    assert sig == block.signature
    assert namespaces == [[b"\x01", [b"y"]], [b"\x02", [b"x", b"z"]]]
    assert bundles == [[block.bundles[0].bundle_hash, [[b"\x01", b""], [b"\x02", b"\x01"]]]]
    assert decode_block(encode_block(block)) == block


@settings(max_examples=150, deadline=None)
@given(BLOCKS)
def test_round_trip(block: SharedBlock) -> None:
    data = encode_block(block)
    assert decode_block(data) == block
    assert encode_block(decode_block(data)) == data


@settings(max_examples=150, deadline=None)
@given(BLOCKS)
def test_the_bytes_on_disk_are_what_pyrlp_wrote(block: SharedBlock) -> None:
    """The log moved from the `rlp` package to the project's one codec (sequencer/core/rlp_codec.py):
    rows written before read back, and rows written now are byte for byte what pyrlp would write."""
    h = block.header
    as_pyrlp = rlp.encode([[h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash,
                            h.namespaces_root, h.namespace_count, h.bundles_root], block.signature,
                           [[ns.rollup_id, list(ns.transactions)] for ns in block.namespaces],
                           [[p.bundle_hash, [[r, i] for r, i in p.legs]] for p in block.bundles]])
    assert encode_block(block) == as_pyrlp
    assert decode_block(as_pyrlp) == block


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\x02", b"\xc0", b"\xc4\x01\x02\x03\x04", b"\xc4\xc0\xc0\xc0\xc0", b"\xc5\xc1\xc0\x80\xc0\xc0"],
)
def test_corrupt_bodies_are_critical(data: bytes) -> None:
    # regression: b"\xc4\x01\x02\x03\x04" (a 4-list of bytes) raised a bare TypeError
    with pytest.raises(Critical, match="block log is corrupt"):
        decode_block(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | BLOCKS.map(encode_block).flatmap(
    lambda d: st.tuples(st.just(d), st.integers(0, len(d) - 1), st.integers(0, 255)).map(
        lambda t: t[0][: t[1]] + bytes([t[2]]) + t[0][t[1] + 1:])))
def test_fuzz_decode_raises_only_critical(data: bytes) -> None:
    try:
        decode_block(data)
    except Critical:
        pass


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.binary(min_size=1, max_size=40)), min_size=0, max_size=60,
                unique_by=lambda t: t))
def test_a_sealed_blocks_row_carries_the_roots_the_payloads_give(txs: list[tuple[int, bytes]]) -> None:
    """The core hands its namespaces' transaction roots (kept as the block filled) to the block log,
    which stores them instead of hashing every payload again: the row is the one the payloads give."""
    import dataclasses

    from sequencer.core.commitments import tx_root
    from sequencer.store.codec import decode_block_row, encode_block_row

    core = make_core()
    for rid, payload in txs:
        core.submit(Transaction(rid, payload))
    block = core.seal(100)
    assert block.tx_roots == tuple(tx_root(ns.transactions) for ns in block.namespaces)
    recomputed = dataclasses.replace(block, tx_roots=None)
    assert encode_block_row(block) == encode_block_row(recomputed)
    row = decode_block_row(encode_block_row(block))
    assert [root for _, root, _ in row.leaves] == list(block.tx_roots)
