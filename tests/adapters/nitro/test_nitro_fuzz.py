"""Fuzz every Nitro decoder: arbitrary and mutated bytes may only raise DecodeError, never hang, and a
brotli bomb is refused at the cap without allocating what it expands to."""

from __future__ import annotations

import json
import time
import tracemalloc
from functools import cache

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nitro_testkit import TX1, read_hex, signed_pool

from rollup_adapters.nitro import (
    FORMAT,
    decode_l2_message,
    decode_payload,
    decode_segments,
    decode_sequencer_message,
)
from rollup_adapters.nitro.limits import MAX_DECOMPRESSED_LEN
from rollup_adapters.nitro.rlp_bytes import decode_rlp_uint, encode_rlp_bytes
from sequencer.errors import DecodeError

A2 = read_hex("nitro_a2_seqmsg.hex")
A2_SEGMENTS = read_hex("nitro_a2_segments.hex")
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def only_decode_error(fn, data) -> None:
    try:
        fn(data)
    except DecodeError:
        pass


DECODERS = {
    "sequencer_message": decode_sequencer_message,
    "payload": decode_payload,
    "segments": decode_segments,
    "l2_message": decode_l2_message,
    "rlp_uint": lambda d: decode_rlp_uint(d, "v"),
    "json_sequencer_message": lambda d: FORMAT.decode_json(d, "sequencer-message"),
    "json_payload": lambda d: FORMAT.decode_json(d, "payload"),
    "json_segments": lambda d: FORMAT.decode_json(d, "segments"),
    "blocks": lambda d: FORMAT.decode_blocks([d], {"delayed_inbox": [TX1] * 4}),
}


def _seeds() -> list[bytes]:
    blocks_payloads = FORMAT.encode_blocks([], {})
    l2 = b"\x03" + (100).to_bytes(8, "big") + b"\x04" + TX1
    return [A2, A2[40:], A2_SEGMENTS, l2, b"\x04" + signed_pool()[3], *blocks_payloads]


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in ops:
        if not buf:
            buf.append(value)
            continue
        i = pos % len(buf)
        if op == 0:
            buf[i] ^= 1 << (value % 8)
        elif op == 1:
            buf[i] = value
        elif op == 2:
            del buf[i:]
        elif op == 3:
            buf.insert(i, value)
        else:
            del buf[i]
    return bytes(buf)


mutations = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4
)


@pytest.mark.parametrize("name", sorted(DECODERS))
@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_only_decode_error(name: str, data: bytes) -> None:
    only_decode_error(DECODERS[name], data)
    only_decode_error(DECODERS[name], b"\x00" * 40 + data)  # past the header, into the payload parser
    only_decode_error(DECODERS[name], b"\x00" + brotli.compress(data, quality=1))  # a valid brotli wrapper


@pytest.mark.parametrize("name", sorted(DECODERS))
@FUZZ
@given(seed=st.sampled_from(_seeds()), ops=mutations)
def test_mutated_bytes_only_decode_error(name: str, seed: bytes, ops: list) -> None:
    only_decode_error(DECODERS[name], _mutate(seed, ops))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1, 2**70)
    | st.text(max_size=6)
    | st.sampled_from(["0x", "0x04", "0xzz"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "kind",
                    "l2_kind",
                    "messages",
                    "raw",
                    "delta",
                    "segments",
                    "header",
                    "data",
                    "header_byte",
                    "brotli",
                    "compressed",
                    "to",
                    "gas_limit",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@FUZZ
@given(doc=json_values, layer=st.sampled_from([None, "payload", "segments", "sequencer-message", "bogus"]))
def test_encode_json_only_decode_error(doc, layer) -> None:
    try:
        FORMAT.encode_json(doc, layer)
    except DecodeError:
        pass


@FUZZ
@given(ops=mutations)
def test_mutated_json_doc_only_decode_error(ops: list) -> None:
    text = json.dumps(FORMAT.decode_json(A2, "sequencer-message")).encode()
    try:
        doc = json.loads(_mutate(text, ops))
    except ValueError:
        return
    try:
        FORMAT.encode_json(doc, "sequencer-message")
    except DecodeError:
        pass


@cache
def brotli_bomb() -> bytes:
    """~48 KB of brotli that expands to 256 MiB of zeros."""
    return brotli.compress(b"\x00" * (256 * 1024 * 1024), quality=1)


def test_brotli_bomb_refused_at_cap_with_bounded_memory() -> None:
    bomb = b"\x00" + brotli_bomb()
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(DecodeError, match="exceeds the 16777216-byte limit"):
            decode_payload(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_DECOMPRESSED_LEN  # nowhere near the 256 MiB the bomb expands to
    assert time.monotonic() - started < 10


def test_brotli_l2_segment_bomb_refused_at_max_l2_message_size() -> None:
    inner = brotli.compress(b"\x00" * (256 * 1024 + 1), quality=1)
    stream = encode_rlp_bytes(b"\x01" + inner)
    with pytest.raises(DecodeError, match="262144-byte limit"):
        decode_segments(stream)


def test_truncated_and_trailing_brotli_are_decode_errors() -> None:
    body = A2[41:]
    with pytest.raises(DecodeError, match="truncated"):
        decode_payload(b"\x00" + body[:-3])
    with pytest.raises(DecodeError, match="corrupt"):
        decode_payload(b"\x00" + body + b"\x00")
