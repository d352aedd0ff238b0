"""Recursive Length Prefix (Ethereum Yellow Paper, appendix B), strict and small.

    item   = string | list
    string = [0x00..0x7f]                                  (one byte, itself)
           | (0x80 + len) ++ bytes                         (len <= 55)
           | (0xb7 + len_of_len) ++ len ++ bytes           (len > 55)
    list   = (0xc0 + len) ++ items | (0xf7 + len_of_len) ++ len ++ items

Decoding is canonical only: a single byte below 0x80 must stand alone, short
forms must be used below 56 bytes, lengths have no leading zeros, nesting is
bounded, and nothing may follow the top item. This is the hot path of
admission (every EVM transaction is decoded and re-encoded for its signing
hash), and the general-purpose `rlp` package spends most of its time
inferring types; this module does only bytes, ints and lists.

It is the project's one RLP codec: the core, the posting container
(rollup_adapters/derivation.py) and the batch formats' plain-RLP fields
(OP Stack span batches, Nitro signed transactions, zkEVM tx entries) all use
it. A stage that names its own fields reads items with `header` / `decode_at`
and words a refusal from `RlpError.kind` and `.offset`. Only where a
format's reference reads RLP differently from this grammar does the format
keep its own reader, which says so at its top (rollup_adapters/zkevm/
rlp_length.py, nitro/rlp_bytes.py).
"""

from __future__ import annotations

from sequencer.errors import DecodeError

MAX_DEPTH = 16
Item = bytes | list["Item"]


class RlpError(DecodeError):
    """A refusal of the grammar: `kind` says which rule (one of KINDS), `offset` where the item starts,
    `length` the payload length when it matters; str() is this module's own wording."""

    def __init__(self, kind: str, offset: int, message: str, length: int = 0) -> None:
        super().__init__(message)
        self.kind, self.offset, self.length = kind, offset, length


KINDS = ("truncated", "single_byte", "truncated_length", "length_leading_zero", "long_form", "past_end", "nested",
         "trailing")
"""Every RlpError.kind: no byte at the item; a single byte below 0x80 wrapped; the length of length runs past
the end; a length with a leading zero; the long form for a length below 56; the payload runs past the end
(of the data or of the enclosing list); lists nested too deep; bytes after the top item."""


def encode_int(n: int) -> bytes:
    """The minimal big-endian bytes of a non-negative int (0 → b"")."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def _prefix(length: int, short: int, long: int) -> bytes:
    if length <= 55:
        return bytes([short + length])
    ll = encode_int(length)
    return bytes([long + len(ll)]) + ll


def list_header(length: int) -> bytes:
    """The header of a list whose items encode to `length` bytes (to wrap already-encoded items)."""
    return _prefix(length, 0xC0, 0xF7)


def encode(item: bytes | int | list) -> bytes:
    """RLP of bytes, a non-negative int, or a (nested) list of those."""
    if isinstance(item, int):
        item = encode_int(item)
    if isinstance(item, bytes | bytearray):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return _prefix(len(item), 0x80, 0xB7) + item
    payload = b"".join(encode(x) for x in item)
    return _prefix(len(payload), 0xC0, 0xF7) + payload


def header(data: bytes, pos: int, end: int) -> tuple[bool, int, int]:
    """(is_list, payload_start, payload_end) of the item at `pos`, which must end by `end`."""
    if pos >= end:
        raise RlpError("truncated", pos, f"rlp: truncated at offset {pos}")
    b = data[pos]
    if b < 0x80:
        return False, pos, pos + 1
    if b <= 0xB7:
        n, start, is_list = b - 0x80, pos + 1, False
        if n == 1 and start < end and data[start] < 0x80:
            raise RlpError("single_byte", pos, f"rlp: non-canonical single byte at offset {pos}")
    elif b <= 0xBF or 0xF8 <= b:
        ll = b - (0xB7 if b <= 0xBF else 0xF7)
        if pos + 1 + ll > end:
            raise RlpError("truncated_length", pos, f"rlp: truncated length at offset {pos}")
        if data[pos + 1] == 0:
            raise RlpError("length_leading_zero", pos, f"rlp: length with leading zero at offset {pos}")
        n = int.from_bytes(data[pos + 1:pos + 1 + ll], "big")
        if n <= 55:
            raise RlpError("long_form", pos, f"rlp: long form for a short length at offset {pos}", n)
        start, is_list = pos + 1 + ll, b >= 0xF8
    else:
        n, start, is_list = b - 0xC0, pos + 1, True
    if start + n > end:
        raise RlpError("past_end", pos, f"rlp: item at offset {pos} runs past the end", n)
    return is_list, start, start + n



def decode_at(data: bytes, pos: int, end: int, depth: int = 0, max_depth: int = MAX_DEPTH) -> tuple[Item, int]:
    """The item at `pos` (ending by `end`) and the offset after it. A list at nesting depth `max_depth`
    (the top item is at `depth`) is refused.

    The one decoder, and the admission hot path (every EVM transaction goes through it): straight-line,
    the bound a local. Carrying `max_depth` down costs nothing measurable against a copy hard-wired to
    MAX_DEPTH (which this replaced): per signed transaction and per 300-item nested list alike, within
    3 % either way (thread CPU time, best of 80 rounds on a loaded 2-core machine)."""
    is_list, start, stop = header(data, pos, end)
    if not is_list:
        return data[start:stop], stop
    if depth >= max_depth:
        raise RlpError("nested", pos, f"rlp: lists nested deeper than {max_depth} at offset {pos}")
    items: list[Item] = []
    p = start
    while p < stop:
        item, p = decode_at(data, p, stop, depth + 1, max_depth)
        items.append(item)
    return items, stop


def decode(data: bytes) -> Item:
    """Decode exactly one item spanning all of `data`."""
    item, end = decode_at(data, 0, len(data))
    if end != len(data):
        raise RlpError("trailing", end, f"rlp: {len(data) - end} trailing bytes at offset {end}", len(data) - end)
    return item
