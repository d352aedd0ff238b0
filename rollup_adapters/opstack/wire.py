"""Byte-level building blocks shared by the OP Stack codecs.

Grammar of the primitives used by every stage:

    uvarint = protobuf base-128 varint, at most 10 bytes, value < 2**64
    bitlist = big-endian integer of n bits, left-padded with zeroes to ceil(n / 8) bytes
              (span-batch "standard bitlist", delta/span-batches.md)
    rlp     = Ethereum RLP (canonical: minimal lengths, single bytes < 0x80 unwrapped)

`Reader` walks a byte string and raises `DecodeError("<field>: <problem> at offset N")`
where N is the offset of the field inside the input handed to the stage's decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

from sequencer.core import rlp_codec
from sequencer.errors import DecodeError

MAX_UVARINT_LEN = 10
"""binary.MaxVarintLen64: a uint64 uvarint never needs more than 10 bytes."""

RLP_MAX_DEPTH = 16
"""Nesting bound for RLP lists; no OP Stack structure nests deeper than 4."""

RlpItem = bytes | list  # nested lists of byte strings


class Reader:
    """A cursor over `data`; every read is bounds-checked before slicing."""

    __slots__ = ("data", "pos", "base")

    def __init__(self, data: bytes, base: int = 0) -> None:
        self.data = data
        self.pos = 0
        self.base = base

    @property
    def offset(self) -> int:
        """Offset of the cursor within the stage's input (for error messages)."""
        return self.base + self.pos

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or n > self.remaining():
            raise DecodeError(f"{field}: truncated at offset {self.offset} (need {n}, have {self.remaining()})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "big")

    def uvarint(self, field: str) -> int:
        """Go's binary.ReadUvarint: accepts non-minimal forms, rejects uint64 overflow."""
        start = self.offset
        value = 0
        for i in range(MAX_UVARINT_LEN):
            if self.remaining() == 0:
                raise DecodeError(f"{field}: truncated uvarint at offset {start}")
            b = self.data[self.pos]
            self.pos += 1
            if b < 0x80:
                if i == MAX_UVARINT_LEN - 1 and b > 1:
                    break
                return value | (b << (7 * i))
            value |= (b & 0x7F) << (7 * i)
        raise DecodeError(f"{field}: uvarint overflows uint64 at offset {start}")

    def bits(self, n: int, field: str) -> int:
        """A standard bitlist of n bits; bits beyond n must be zero (span_batch_bits.go)."""
        start = self.offset
        value = int.from_bytes(self.take((n + 7) // 8, field), "big")
        if value.bit_length() > n:
            raise DecodeError(f"{field}: bitlist has more than {n} bits at offset {start}")
        return value

    def rlp(self, field: str) -> RlpItem:
        item, end = decode_rlp_item(self.data, self.pos, field, self.base)
        self.pos = end
        return item

    def rlp_raw(self, field: str) -> tuple[bool, bytes]:
        """The next RLP item undecoded: (is_list, header ++ payload)."""
        is_list, start, end = rlp_header(self.data, self.pos, field, self.base)
        raw = bytes(self.data[self.pos : end])
        self.pos = end
        return is_list, raw

    def expect_end(self, field: str) -> None:
        if self.remaining():
            raise DecodeError(f"{field}: {self.remaining()} leftover bytes at offset {self.offset}")


def encode_uvarint(value: int) -> bytes:
    if not 0 <= value < 2**64:
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_bits(value: int, n: int) -> bytes:
    if value < 0 or value.bit_length() > n:
        raise ValueError(f"bitlist value does not fit in {n} bits")
    return value.to_bytes((n + 7) // 8, "big")


def bits_from_list(bits: Sequence[int]) -> int:
    """Bit i of the result is bits[i] (big.Int.SetBit order)."""
    return sum(1 << i for i, b in enumerate(bits) if b)


def bits_to_list(value: int, n: int) -> list[int]:
    return [(value >> i) & 1 for i in range(n)]


# --- RLP -----------------------------------------------------------------------------------------


_RLP_WORDS = {
    "truncated": "truncated RLP",
    "single_byte": "non-canonical RLP single byte",
    "truncated_length": "truncated RLP length",
    "length_leading_zero": "non-canonical RLP length (leading zero)",
    "long_form": "non-canonical RLP long form for {length} bytes",
    "past_end": "RLP item of {length} bytes truncated",
    "nested": f"RLP nested deeper than {RLP_MAX_DEPTH}",
}
"""How the OP Stack stages word the core codec's refusals (rlp_codec.RlpError.kind)."""


def _reword(exc: rlp_codec.RlpError, field: str, base: int) -> DecodeError:
    return DecodeError(f"{field}: {_RLP_WORDS[exc.kind].format(length=exc.length)} at offset {base + exc.offset}")


def rlp_header(
    data: bytes, pos: int, field: str, base: int = 0, limit: int | None = None
) -> tuple[bool, int, int]:
    """Parse the RLP header at `pos`: (is_list, payload_start, item_end). Canonical forms only
    (sequencer/core/rlp_codec.py, the project's one RLP codec).

    `limit` (default len(data)) is where the enclosing item ends; nothing may cross it.
    """
    try:
        return rlp_codec.header(data, pos, len(data) if limit is None else limit)
    except rlp_codec.RlpError as exc:
        raise _reword(exc, field, base) from None


def decode_rlp_item(
    data: bytes, pos: int, field: str, base: int = 0, depth: int = 0, limit: int | None = None
) -> tuple[RlpItem, int]:
    """Decode one RLP item at `pos`; returns (item, end). Lists nest at most RLP_MAX_DEPTH deep below the
    item at `depth`."""
    if not isinstance(data, bytes):
        data = bytes(data)  # items are bytes, not views of a caller's buffer
    try:
        return rlp_codec.decode_at(data, pos, len(data) if limit is None else limit, depth, RLP_MAX_DEPTH + 1)
    except rlp_codec.RlpError as exc:
        raise _reword(exc, field, base) from None


def decode_rlp(data: bytes, field: str, base: int = 0) -> RlpItem:
    """Decode exactly one RLP item spanning all of `data`."""
    item, end = decode_rlp_item(data, 0, field, base)
    if end != len(data):
        raise DecodeError(f"{field}: {len(data) - end} leftover bytes after RLP item at offset {base + end}")
    return item


def encode_rlp(item: RlpItem | int) -> bytes:
    """Canonical RLP of bytes, ints (minimal big-endian) and nested lists (the core codec's)."""
    if isinstance(item, int) and item < 0:
        raise ValueError("negative integer")
    return rlp_codec.encode(item)


def rlp_uint(item: RlpItem, field: str, max_bits: int = 256) -> int:
    """An RLP integer: a byte string without leading zeros, at most `max_bits` wide."""
    if not isinstance(item, bytes):
        raise DecodeError(f"{field}: expected an integer, got a list")
    if item[:1] == b"\x00":
        raise DecodeError(f"{field}: non-canonical integer (leading zero)")
    if len(item) * 8 > max_bits:
        raise DecodeError(f"{field}: integer wider than {max_bits} bits")
    return int.from_bytes(item, "big")


def rlp_bytes(item: RlpItem, field: str, size: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise DecodeError(f"{field}: expected a byte string, got a list")
    if size is not None and len(item) != size:
        raise DecodeError(f"{field}: expected {size} bytes, got {len(item)}")
    return item


def rlp_list(item: RlpItem, field: str, count: int | None = None) -> list[RlpItem]:
    if not isinstance(item, list):
        raise DecodeError(f"{field}: expected an RLP list, got a byte string")
    if count is not None and len(item) != count:
        raise DecodeError(f"{field}: expected {count} elements, got {len(item)}")
    return item


def hex0x(b: bytes) -> str:
    return "0x" + b.hex()


def unhex(s: str, field: str) -> bytes:
    if not isinstance(s, str):
        raise DecodeError(f"{field}: expected a 0x-prefixed hex string")
    body = s[2:] if s.startswith(("0x", "0X")) else s
    try:
        return bytes.fromhex(body)
    except ValueError as exc:
        raise DecodeError(f"{field}: invalid hex") from exc
