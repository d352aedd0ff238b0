"""The two RLP shapes Nitro batches use: byte strings and unsigned integers.

    string = 0x00..0x7f                          (one byte, itself)
           | (0x80 + len) ++ bytes               (len <= 55)
           | (0xb7 + len_of_len) ++ len ++ bytes (len > 55, len_of_len <= 8)
    uint   = string holding the big-endian value, no leading zeros (0 is the empty string 0x80)

Decoding is canonical, as go-ethereum's rlp.Stream insists: a single byte below 0x80 must stand alone,
lengths have no leading zeros and use the short form when they can. Lists are refused.

The grammar and its canonical checks are the project's one RLP codec (sequencer/core/rlp_codec.py);
what this module adds is where Nitro's reading differs from plain decoding: go-ethereum's rlp.Stream
(OffchainLabs/go-ethereum rlp/decode.go, `Stream.Kind` / `readKind`, used by nitro arbstate/inbox.go
through rlp.NewStream with a size limit) refuses a list where a string is expected, and a string longer
than the limit, from the header alone, before it looks at (or copies) the payload; so a length over the
limit is named as such even when the payload is also truncated.
"""

from __future__ import annotations

from sequencer.core import rlp_codec
from sequencer.errors import DecodeError

from .limits import U64_MAX

_WORDS = {
    "truncated": "truncated at {offset}",
    "single_byte": "non-canonical single byte at {offset}",
    "truncated_length": "truncated length at {offset}",
    "length_leading_zero": "length with leading zero at {offset}",
    "long_form": "long form for a short string at {offset}",
}
"""How Nitro's stages word the core codec's refusals (rlp_codec.RlpError.kind)."""


def encode_rlp_bytes(data: bytes) -> bytes:
    return rlp_codec.encode(bytes(data))


def encode_rlp_uint(value: int) -> bytes:
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"rlp uint out of u64 range: {value}")
    return rlp_codec.encode(value)


def decode_rlp_bytes(data: bytes, offset: int, field: str, max_len: int) -> tuple[bytes, int]:
    """One RLP byte string at `offset`; returns (bytes, next offset). Lengths over `max_len` are refused
    before anything is copied."""
    if offset < len(data) and data[offset] >= 0xC0:
        raise DecodeError(f"{field}: expected a byte string, found a list at {offset}")
    try:
        _, start, end = rlp_codec.header(data, offset, len(data))
    except rlp_codec.RlpError as exc:
        if exc.kind != "past_end":
            raise DecodeError(f"{field}: {_WORDS[exc.kind].format(offset=offset)}") from None
        prefix = data[offset]
        start = offset + 1 + (prefix - 0xB7 if prefix > 0xB7 else 0)
        if exc.length <= max_len:
            raise DecodeError(f"{field}: truncated at {offset} (needs {exc.length} bytes, has {len(data) - start})") \
                from None
        end = start + exc.length  # over the limit: said below, as rlp.Stream says it
    if end - start > max_len:
        raise DecodeError(f"{field}: length {end - start} over the {max_len}-byte limit at {offset}")
    return data[start:end], end


def decode_rlp_uint(data: bytes, field: str) -> int:
    """`data` is exactly one canonical RLP uint64 (as rlp.Stream.Uint64 reads it)."""
    raw, end = decode_rlp_bytes(data, 0, field, 8)
    if end != len(data):
        raise DecodeError(f"{field}: {len(data) - end} trailing bytes at {end}")
    if raw and raw[0] == 0:
        raise DecodeError(f"{field}: integer with leading zero")
    return int.from_bytes(raw, "big")
