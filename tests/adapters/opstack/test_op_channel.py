"""Channels: frame assembly (channel.go rules), compression, bounded incremental reading."""

from __future__ import annotations

import random
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import read_hex, read_lines

from rollup_adapters.opstack.channel import (
    MAX_RLP_BYTES_PER_CHANNEL,
    ChannelBuilder,
    assemble_channels,
    decode_channel,
    decompress_channel,
    encode_batch_stream,
    encode_channel,
    split_into_frames,
)
from rollup_adapters.opstack.frames import Frame, decode_frames
from sequencer.errors import DecodeError

A = b"\xaa" * 16
B = b"\xbb" * 16


def f(num, data=b"", last=False, cid=A):
    return Frame(cid, num, data, last)


# (name, frames in arrival order, expected ready channel data or None, frames dropped)
ASSEMBLY = [
    ("single closing frame", [f(0, b"x", True)], b"x", 0),
    ("out of order", [f(2, b"c", True), f(0, b"a"), f(1, b"b")], b"abc", 0),
    ("duplicate dropped", [f(0, b"a"), f(0, b"z"), f(1, b"b", True)], b"ab", 1),
    ("second close dropped", [f(1, b"b", True), f(2, b"c", True), f(0, b"a")], b"ab", 1),
    ("frame above close dropped", [f(1, b"b", True), f(3, b"d"), f(0, b"a")], b"ab", 1),
    ("frame equal to close dropped", [f(1, b"b", True), f(1, b"z"), f(0, b"a")], b"ab", 1),
    ("close prunes higher frames", [f(0, b"a"), f(3, b"d"), f(1, b"b", True)], b"ab", 0),
    ("gap never ready", [f(0, b"a"), f(2, b"c", True)], None, 0),
    ("not closed", [f(0, b"a"), f(1, b"b")], None, 0),
    ("empty frames", [f(0), f(1, b"", True)], b"", 0),
]


@pytest.mark.parametrize(("name", "frames", "expected", "dropped"), ASSEMBLY, ids=[c[0] for c in ASSEMBLY])
def test_assembly(name, frames, expected, dropped):
    builder = ChannelBuilder(A)
    drops = [builder.add_frame(fr) for fr in frames]
    assert sum(d is not None for d in drops) == dropped
    if expected is None:
        assert not builder.is_ready()
    else:
        assert builder.is_ready() and builder.data() == expected


def test_assemble_channels_interleaved():
    frames = [f(0, b"a"), f(0, b"X", cid=B), f(1, b"b", True), f(1, b"Y", True, cid=B), f(0, b"p", cid=b"\x01" * 16)]
    ready, incomplete = assemble_channels(frames)
    assert [(c.channel_id, c.data) for c in ready] == [(A, b"ab"), (B, b"XY")]
    assert incomplete == [b"\x01" * 16]


def test_brotli_unit_vector_v3():
    compressed, plain = (bytes.fromhex(x) for x in read_lines("brotli_unit.hex"))
    assert decompress_channel(b"\x01" + compressed).data == plain
    assert decompress_channel(b"\x01" + compressed).error is None


def test_v2_frames_brotli_without_channel_version():
    """V2 skips the 0x01 channel version: the frames and the batch body decode, the channel does not."""
    frames = decode_frames(read_hex("v2_frame0.hex") + read_hex("v2_frame1.hex"))
    assert [(fr.frame_number, len(fr.data), fr.is_last) for fr in frames] == [(0, 77, False), (1, 70, True)]
    ready, _ = assemble_channels(frames)
    assert len(ready) == 1
    with pytest.raises(DecodeError, match="channel_version"):
        decode_channel(ready[0].data)
    # With the Fjord channel version byte added, the stream is the 276-byte batch body.
    d = decompress_channel(b"\x01" + ready[0].data)
    assert d.error is None and d.data == read_hex("v2_singular_batch.hex")


@pytest.mark.parametrize("compression", ["zlib", "brotli"])
def test_round_trip_and_first_byte(compression):
    batches = [b"\x00" + b"x" * 100, b"\x01\x02\x03", b"\x00"]
    data = encode_channel(batches, compression)
    if compression == "zlib":
        assert data[0] & 0x0F == 8
    else:
        assert data[0] == 1
    read = decode_channel(data)
    assert read.batches == tuple(batches) and read.error is None and read.compression == compression


def test_zlib_cm15_routes_to_zlib_and_fails_there():
    read = decode_channel(b"\x0f\x00\x00")
    assert read.compression == "zlib" and read.batches == () and read.error


def test_unknown_compression_byte():
    with pytest.raises(DecodeError, match="channel_version: unknown compression type byte 0x02 at offset 0"):
        decode_channel(b"\x02abc")


def _random_batches(n: int) -> list[bytes]:
    """Incompressible batches, so that a stream cut short still holds whole early batches."""
    rnd = random.Random(7)
    return [bytes([0]) + rnd.randbytes(1000) for _ in range(n)]


@pytest.mark.parametrize("compression", ["zlib", "brotli"])
def test_truncated_stream_keeps_earlier_batches(compression):
    batches = _random_batches(40)
    data = encode_channel(batches, compression, level=1)
    read = decode_channel(data[: len(data) * 2 // 3])
    assert 0 < len(read.batches) < len(batches)
    assert read.batches == tuple(batches[: len(read.batches)])
    assert read.error is not None


def test_corrupt_zlib_checksum_keeps_every_batch_read():
    """A bad adler32 is only seen at the end: op-node has read every batch by then, and so do we
    (the failing input chunk is replayed byte by byte to keep its output)."""
    batches = _random_batches(40)
    data = bytearray(encode_channel(batches, "zlib", level=1))
    data[-1] ^= 0xFF
    read = decode_channel(bytes(data))
    assert read.batches == tuple(batches)
    assert read.error is not None and read.error.startswith("corrupt")


@pytest.mark.parametrize("compression", ["zlib", "brotli"])
def test_bomb_is_bounded(compression):
    """40 MB of zeros compresses to little; decompression stops at the limit, not after it."""
    stream = encode_batch_stream([b"\x00" * 4_000_000] * 10)
    data = zlib.compress(stream, 9) if compression == "zlib" else b"\x01" + brotli.compress(stream, quality=1)
    d = decompress_channel(data)
    assert d.error == "over limit" and len(d.data) == MAX_RLP_BYTES_PER_CHANNEL
    read = decode_channel(data)
    assert len(read.batches) == 2 and read.error == "over limit"


def test_stream_with_list_item_stops():
    stream = encode_batch_stream([b"\x00ab"]) + b"\xc0"
    read = decode_channel(zlib.compress(stream))
    assert read.batches == (b"\x00ab",) and "expected an RLP byte string" in read.error


def test_split_into_frames():
    frames = split_into_frames(A, b"abcdefg", 3)
    assert [(fr.frame_number, fr.data, fr.is_last) for fr in frames] == [
        (0, b"abc", False), (1, b"def", False), (2, b"g", True)]
    ready, _ = assemble_channels(reversed(frames))
    assert ready[0].data == b"abcdefg"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=8), st.sampled_from(["zlib", "brotli"]),
       st.integers(1, 50), st.randoms(use_true_random=False))
def test_round_trip_through_frames(batches, compression, frame_size, rnd):
    data = encode_channel(batches, compression)
    frames = split_into_frames(B, data, frame_size)
    rnd.shuffle(frames)
    ready, incomplete = assemble_channels(frames)
    assert not incomplete and len(ready) == 1
    assert decode_channel(ready[0].data).batches == tuple(batches)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    try:
        decode_channel(data)
    except DecodeError:
        pass
    try:
        decode_channel(b"\x01" + data)
        decode_channel(b"\x78\x9c" + data)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(["zlib", "brotli"]), st.integers(0, 10**6), st.integers(0, 255))
def test_fuzz_mutated(compression, where, value):
    data = bytearray(encode_channel([b"\x00" + b"abc" * 50, b"\x01" * 30], compression))
    data[where % len(data)] = value
    try:
        read = decode_channel(bytes(data))
        assert all(isinstance(b, bytes) for b in read.batches)
    except DecodeError:
        pass
