"""Seeded random round trips for every layer, and RollupBlocks with real signed transactions."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nitro_testkit import signed_pool

from rollup_adapters.base import RollupBlock
from rollup_adapters.nitro import (
    FORMAT,
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    BatchPayload,
    DelayedMessageSegment,
    L2Batch,
    L2MessageSegment,
    OpaqueL2Message,
    SequencerHeader,
    SignedTx,
    UnsignedTx,
    decode_l2_message,
    decode_payload,
    decode_segments,
    decode_sequencer_message,
    encode_batches,
    encode_l2_message,
    encode_payload,
    encode_segments,
    encode_sequencer_message,
)
from rollup_adapters.nitro.compression import compress
from sequencer.core.hashing import keccak

U64 = st.integers(0, 2**64 - 1)
U256 = st.integers(0, 2**256 - 1)
signed = st.sampled_from(signed_pool()).map(SignedTx)
unsigned = st.builds(
    UnsignedTx,
    U64,
    U256,
    st.one_of(st.none(), U64),
    st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
    U256,
    st.binary(max_size=40),
).filter(lambda t: t.to != b"\x00" * 20)  # the zero word means "no destination"
opaque = st.builds(OpaqueL2Message, st.sampled_from([2, 6, 7]), st.binary(max_size=20))
l2_messages = st.recursive(
    st.one_of(signed, unsigned, opaque),
    lambda inner: st.lists(inner, max_size=4).map(lambda ms: L2Batch(tuple(ms))),
    max_leaves=12,
)
# Segment-level round trips do not parse L2 bodies, so any bytes will do there.
raw_l2 = st.binary(max_size=300)
segments = st.one_of(
    st.builds(AdvanceTimestampSegment, U64),
    st.builds(AdvanceL1BlockSegment, U64),
    st.just(DelayedMessageSegment()),
    st.builds(L2MessageSegment, raw_l2),
    raw_l2.map(lambda m: L2MessageSegment(m, compress(m, 5, 16))),
)
valid_segments = st.one_of(
    st.builds(AdvanceTimestampSegment, U64),
    st.builds(AdvanceL1BlockSegment, U64),
    st.just(DelayedMessageSegment()),
    l2_messages.map(lambda m: L2MessageSegment(encode_l2_message(m))),
)
headers = st.builds(SequencerHeader, U64, U64, U64, U64, U64)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@SETTINGS
@given(st.lists(segments, max_size=12))
def test_segments_round_trip(segs: list) -> None:
    assert decode_segments(encode_segments(segs)) == tuple(segs)


@SETTINGS
@given(l2_messages)
def test_l2_message_round_trip(msg) -> None:
    assert decode_l2_message(encode_l2_message(msg)) == msg


@SETTINGS
@given(st.lists(segments, max_size=8))
def test_payload_round_trip(segs: list) -> None:
    batch = BatchPayload(0, tuple(segs))
    assert decode_payload(encode_payload(batch)) == batch


@SETTINGS
@given(headers, st.lists(segments, max_size=6))
def test_sequencer_message_round_trip(header: SequencerHeader, segs: list) -> None:
    msg = decode_sequencer_message(
        encode_sequencer_message(header, encode_payload(BatchPayload(0, tuple(segs))))
    )
    assert msg.header == header and msg.payload.segments == tuple(segs)


@SETTINGS
@given(headers, st.lists(valid_segments, max_size=6))
def test_json_round_trip_every_layer(header: SequencerHeader, segs: list) -> None:
    stream = encode_segments(segs)
    payload = encode_payload(BatchPayload(0, tuple(segs)))
    full = encode_sequencer_message(header, payload)
    for layer, data in (("segments", stream), ("payload", payload), ("sequencer-message", full)):
        assert FORMAT.encode_json(FORMAT.decode_json(data, layer), layer) == data
    assert FORMAT.decode_json(full, None) == FORMAT.decode_json(full, "sequencer-message")


def random_blocks(rng: random.Random, count: int) -> list[RollupBlock]:
    """Blocks as group_rollup_blocks makes them: consecutive numbers, whole-second times that only move
    forward (several blocks may share a second), L1 origins that only move forward; some empty."""
    pool = signed_pool()
    first = rng.randrange(0, 1000)
    seconds, l1 = rng.randrange(1_600_000_000, 1_800_000_000), rng.randrange(0, 20_000_000)
    out = []
    for k in range(count):
        seconds += rng.choice([0, 0, 1, 2, 250])
        l1 += rng.choice([0, 0, 1, 3])
        txs = tuple(rng.choice(pool) for _ in range(rng.choice([0, 0, 1, 3, 8])))
        forced = tuple(rng.choice(pool) for _ in range(rng.choice([0, 0, 0, 1, 2])))
        out.append(RollupBlock(first + k, seconds * 1000, l1, keccak(l1.to_bytes(8, "big")), txs, forced))
    return out


def decode_config(blocks: list[RollupBlock]) -> dict:
    return {
        "first_block_number": blocks[0].number if blocks else 0,
        "delayed_inbox": [tx for b in blocks for tx in b.forced],
        "l1_origin_hashes": {b.l1_origin_number: b.l1_origin_hash for b in blocks},
    }


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(0, 40), st.sampled_from([1_500, 4_000, 120_000]))
def test_blocks_round_trip_with_real_signed_txs(seed: int, count: int, max_bytes: int) -> None:
    blocks = random_blocks(random.Random(seed), count)
    config = {"max_tx_bytes": max_bytes, "brotli_quality": 5}
    payloads = FORMAT.encode_blocks(blocks, config)
    assert all(len(p) <= max_bytes and p[0] == 0 for p in payloads)
    assert FORMAT.decode_blocks(payloads, decode_config(blocks)) == blocks


def test_blocks_split_and_headers_count_delayed_messages() -> None:
    blocks = random_blocks(random.Random(7), 60)
    batches = encode_batches(blocks, {"max_tx_bytes": 1_500, "delayed_messages_read": 4})
    assert len(batches) > 3
    assert sum(b.block_count for b in batches) == len(blocks)
    assert batches[-1].header.after_delayed_messages == 4 + sum(len(b.forced) for b in blocks)
    start = 0
    for batch in batches:
        chunk = blocks[start : start + batch.block_count]
        assert batch.header.min_timestamp == chunk[0].timestamp_ms // 1000
        assert batch.header.max_l1_block == chunk[-1].l1_origin_number
        start += batch.block_count
    assert FORMAT.decode_blocks([b.data for b in batches], decode_config(blocks)) == blocks


def test_empty_blocks_stay_visible() -> None:
    blocks = [RollupBlock(n, 1_700_000_000_000, 5, b"\x00" * 32, ()) for n in range(3)]
    payloads = FORMAT.encode_blocks(blocks, {})
    assert len(payloads) == 1
    empty_batch = L2MessageSegment(b"\x03")  # one L2 message per block keeps empty blocks countable
    assert decode_payload(payloads[0]).segments == (
        AdvanceTimestampSegment(1_700_000_000),
        AdvanceL1BlockSegment(5),
        empty_batch,
        empty_batch,
        empty_batch,
    )
    assert FORMAT.decode_blocks(payloads, {}) == blocks
    assert FORMAT.encode_blocks([], {}) == [] and FORMAT.decode_blocks([], {}) == []
