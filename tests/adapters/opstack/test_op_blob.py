"""Version-0 blob encoding: op-service/eth/blob_test.go vectors (B1, B2), round trips, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup_adapters.opstack.blob import BLOB_SIZE, MAX_BLOB_DATA_SIZE, decode_blob, encode_blob
from sequencer.errors import DecodeError


def blob_with(prefix_hex: str) -> bytes:
    prefix = bytes.fromhex(prefix_hex)
    return prefix + bytes(BLOB_SIZE - len(prefix))


# B1 and B2 where encoding and decoding meet: (name, data, blob prefix hex)
CASES = [
    ("empty", b"", ""),
    ("one zero byte", b"\x00", "0000000001"),
    ("max size zeros", bytes(MAX_BLOB_DATA_SIZE), "000001fbfc"),
    ("27 x ff fits in FE0", b"\xff" * 27, "000000001b" + "ff" * 27),
    ("28 x ff spills into FE1", b"\xff" * 28, "3f0000001c" + "ff" * 27 + "30"),
    ("32 x ff", b"\xff" * 32, "3f00000020" + "ff" * 27 + "30" + "ff" * 4),
    ("10 bytes", bytes.fromhex("000000000000000000ff"), "000000000a000000000000000000ff"),
]


@pytest.mark.parametrize(("name", "data", "prefix"), CASES, ids=[c[0] for c in CASES])
def test_table_encode(name, data, prefix):
    assert encode_blob(data) == blob_with(prefix)


@pytest.mark.parametrize(("name", "data", "prefix"), CASES, ids=[c[0] for c in CASES])
def test_table_decode(name, data, prefix):
    assert decode_blob(blob_with(prefix)) == data


def test_encode_too_large():
    with pytest.raises(ValueError, match="too much data"):
        encode_blob(bytes(MAX_BLOB_DATA_SIZE + 1))


def _set(blob: bytes, pos: int, value: int) -> bytes:
    b = bytearray(blob)
    b[pos] = value
    return bytes(b)


ERRORS = [
    ("invalid length", blob_with("000001fbfd"), "length: 130045 exceeds"),
    ("FE1 top bit 0x80", _set(blob_with("0000000001"), 32, 0x80), "field_element: top bits set"),
    ("FE1 top bit 0x40", _set(blob_with("0000000001"), 32, 0x40), "field_element: top bits set"),
    ("encoding version", blob_with("0001"), "encoding_version: expected 0, got 1 at offset 1"),
    ("extraneous 0x30", blob_with("3000000000"), "field_element: non-zero data past the length"),
    ("extraneous 0x01", blob_with("0100000000"), "field_element: non-zero data past the length"),
    ("short blob", bytes(100), "blob: expected 131072 bytes"),
]


@pytest.mark.parametrize(("name", "blob", "message"), ERRORS, ids=[c[0] for c in ERRORS])
def test_decode_errors(name, blob, message):
    with pytest.raises(DecodeError, match=message):
        decode_blob(blob)


def test_extraneous_data_everywhere_after_length():
    """blob_test.go TestExtraneousData: any non-zero byte after a zero length is rejected."""
    for pos in [*range(5, 128), *range(128, BLOB_SIZE, 997), BLOB_SIZE - 1]:
        with pytest.raises(DecodeError) as exc:
            decode_blob(_set(bytes(BLOB_SIZE), pos, 1))
        expected = "field_element: non-zero data past" if pos < 128 else "blob: non-zero data after"
        assert expected in str(exc.value), pos


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.binary(max_size=2000) | st.integers(0, MAX_BLOB_DATA_SIZE).map(lambda n: b"\xa5" * n))
def test_round_trip(data):
    assert decode_blob(encode_blob(data)) == data


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.binary(max_size=300), st.lists(st.tuples(st.integers(0, BLOB_SIZE - 1), st.integers(0, 255)),
                                          max_size=4))
def test_fuzz_mutated(data, edits):
    blob = bytearray(encode_blob(data))
    for pos, value in edits:
        blob[pos] = value
    try:
        decode_blob(bytes(blob))
    except DecodeError:
        pass


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_prefix(prefix):
    try:
        decode_blob(prefix + bytes(BLOB_SIZE - len(prefix)))
    except DecodeError:
        pass
