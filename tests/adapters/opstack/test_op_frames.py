"""Batcher transactions and frames: table, upstream vectors, round trips, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import read_lines

from rollup_adapters.opstack.frames import (
    FRAME_OVERHEAD,
    MAX_FRAME_LEN,
    Frame,
    decode_batcher_tx,
    decode_frames,
    encode_batcher_tx,
    encode_frames,
    force_close_tx_data,
)
from sequencer.errors import DecodeError

CID = bytes.fromhex("deadbeef" * 4)

# (name, frames, batcher tx data hex): shared by the encoder and the decoder.
CASES = [
    ("empty frame, last", [Frame(CID, 0, b"", True)], "00" + "deadbeef" * 4 + "0000" + "00000000" + "01"),
    ("empty frame, not last", [Frame(CID, 7, b"", False)], "00" + "deadbeef" * 4 + "0007" + "00000000" + "00"),
    ("data", [Frame(CID, 1, b"\xaa\xbb", True)], "00" + "deadbeef" * 4 + "0001" + "00000002" + "aabb01"),
    (
        "two frames",
        [Frame(CID, 0, b"\x01", False), Frame(b"\x00" * 16, 65535, b"", True)],
        "00" + "deadbeef" * 4 + "0000000000010100" + "00" * 16 + "ffff0000000001",
    ),
]


@pytest.mark.parametrize(("name", "frames", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_table_encode(name, frames, hex_):
    assert encode_batcher_tx(frames).hex() == hex_


@pytest.mark.parametrize(("name", "frames", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_table_decode(name, frames, hex_):
    assert list(decode_batcher_tx(bytes.fromhex(hex_))) == frames


def test_empty_frame_is_23_bytes():
    assert len(encode_frames([Frame(CID, 0, b"", True)])) == FRAME_OVERHEAD == 23


def _parse_frames_spec(spec: str) -> list[Frame]:
    out = []
    for part in spec.split(","):
        num, last = part.split(":")
        out.append(Frame(CID, int(num), b"", last == "1"))
    return out


@pytest.mark.parametrize("line", read_lines("force_close_tx_data.hex"))
def test_force_close_tx_data_vector_v1(line):
    spec, expected = line.split()
    assert force_close_tx_data(_parse_frames_spec(spec)).hex() == expected


def test_v1_decodes_empty_closing_frame():
    data = bytes.fromhex("00deadbeefdeadbeefdeadbeefdeadbeef00000000000001")
    assert decode_batcher_tx(data) == (Frame(CID, 0, b"", True),)


ERRORS = [
    ("", "derivation_version: empty"),
    ("01" + "00" * 23, "derivation_version: unknown version 1 at offset 0"),
    ("00", "frames: no frame at offset 1"),
    ("00" + "de" * 10, "channel_id: truncated at offset 1"),
    ("00" + "de" * 16 + "00", "frame_number: truncated at offset 17"),
    ("00" + "de" * 16 + "0000" + "0000", "frame_data_length: truncated at offset 19"),
    ("00" + "de" * 16 + "0000" + "000f4241", "frame_data_length: 1000001 exceeds MAX_FRAME_LEN at offset 19"),
    ("00" + "de" * 16 + "0000" + "00000002" + "aa", "frame_data: truncated at offset 23"),
    ("00" + "de" * 16 + "0000" + "00000000", "is_last: truncated at offset 23"),
    ("00" + "de" * 16 + "0000" + "00000000" + "02", "is_last: invalid value 2 at offset 23"),
]


@pytest.mark.parametrize(("hex_", "message"), ERRORS)
def test_decode_errors_name_field_and_offset(hex_, message):
    with pytest.raises(DecodeError) as exc:
        decode_batcher_tx(bytes.fromhex(hex_))
    assert message in str(exc.value)


def test_max_frame_len_accepted():
    frame = Frame(CID, 0, b"\x00" * MAX_FRAME_LEN, True)
    assert decode_frames(encode_frames([frame])) == (frame,)


frames_st = st.builds(
    Frame,
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**16 - 1),
    st.binary(max_size=300),
    st.booleans(),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(frames_st, min_size=1, max_size=6))
def test_round_trip(frames):
    data = encode_batcher_tx(frames)
    assert list(decode_batcher_tx(data)) == frames
    assert encode_batcher_tx(decode_batcher_tx(data)) == data


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data):
    try:
        decode_batcher_tx(data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(frames_st, min_size=1, max_size=3), st.integers(0, 10**6), st.integers(0, 255), st.booleans())
def test_fuzz_mutated(frames, where, value, cut):
    data = bytearray(encode_batcher_tx(frames))
    i = where % len(data)
    if cut:
        del data[i:]
    else:
        data[i] = value
    try:
        decode_batcher_tx(bytes(data))
    except DecodeError:
        pass
