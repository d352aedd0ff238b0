"""The two RLP shapes Nitro batches use: byte strings and unsigned integers.

    string = 0x00..0x7f                          (one byte, itself)
           | (0x80 + len) ++ bytes               (len <= 55)
           | (0xb7 + len_of_len) ++ len ++ bytes (len > 55, len_of_len <= 8)
    uint   = string holding the big-endian value, no leading zeros (0 is the empty string 0x80)

Decoding is canonical, as go-ethereum's rlp.Stream insists: a single byte below 0x80 must stand alone,
lengths have no leading zeros and use the short form when they can. Lists are refused.
"""

from __future__ import annotations

from sequencer.errors import DecodeError

from .limits import U64_MAX


def encode_rlp_bytes(data: bytes) -> bytes:
    if len(data) == 1 and data[0] < 0x80:
        return data
    if len(data) <= 55:
        return bytes([0x80 + len(data)]) + data
    length = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(length)]) + length + data


def encode_rlp_uint(value: int) -> bytes:
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"rlp uint out of u64 range: {value}")
    return encode_rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def decode_rlp_bytes(data: bytes, offset: int, field: str, max_len: int) -> tuple[bytes, int]:
    """One RLP byte string at `offset`; returns (bytes, next offset). Lengths over `max_len` are refused
    before anything is copied."""
    if offset >= len(data):
        raise DecodeError(f"{field}: truncated at {offset}")
    prefix = data[offset]
    if prefix < 0x80:
        return data[offset : offset + 1], offset + 1
    if prefix <= 0xB7:
        length, start = prefix - 0x80, offset + 1
        if length == 1 and start < len(data) and data[start] < 0x80:
            raise DecodeError(f"{field}: non-canonical single byte at {offset}")
    elif prefix < 0xC0:
        start = offset + 1 + prefix - 0xB7
        if start > len(data):
            raise DecodeError(f"{field}: truncated length at {offset}")
        raw_len = data[offset + 1 : start]
        if raw_len[0] == 0:
            raise DecodeError(f"{field}: length with leading zero at {offset}")
        length = int.from_bytes(raw_len, "big")
        if length <= 55:
            raise DecodeError(f"{field}: long form for a short string at {offset}")
    else:
        raise DecodeError(f"{field}: expected a byte string, found a list at {offset}")
    if length > max_len:
        raise DecodeError(f"{field}: length {length} over the {max_len}-byte limit at {offset}")
    end = start + length
    if end > len(data):
        raise DecodeError(f"{field}: truncated at {offset} (needs {length} bytes, has {len(data) - start})")
    return data[start:end], end


def decode_rlp_uint(data: bytes, field: str) -> int:
    """`data` is exactly one canonical RLP uint64 (as rlp.Stream.Uint64 reads it)."""
    raw, end = decode_rlp_bytes(data, 0, field, 8)
    if end != len(data):
        raise DecodeError(f"{field}: {len(data) - end} trailing bytes at {end}")
    if raw and raw[0] == 0:
        raise DecodeError(f"{field}: integer with leading zero")
    return int.from_bytes(raw, "big")
