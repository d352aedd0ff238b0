# Wire grammar (the length of one RLP list, read from its header):
#   list        = short_list | long_list
#   short_list  = (0xc0 + n) ++ payload[n]                 n <= 55
#   long_list   = (0xf7 + k) ++ n[k] (big-endian) ++ payload[n]   1 <= k <= 8
# decode_rlp_list_length(data, offset) = header length + n; it reads only the
# header and never the payload, so callers check the payload fits.
"""The RLP list-length helper of zkevm-node's batch decoder.

Follows `decodeRLPListLengthFromOffset` in 0xPolygonHermez/zkevm-node
state/encoding_batch_v2.go (and the same arithmetic in `DecodeTxs`,
state/helper.go): a tx entry starts with an RLP list whose total length tells
where r, s, v and effectivePercentage begin. Like the reference, the helper
does not insist on canonical headers (`f801` gives 3); the RLP decoder that
reads the list afterwards does. That leniency, and reading only the header
of a list whose payload may run past the data, are why this is not the
project's RLP codec (sequencer/core/rlp_codec.py), which refuses both.
"""

from __future__ import annotations

from sequencer.errors import DecodeError

RLP_LIST_SHORT = 0xC0
"""Header of an empty list; list headers are 0xc0..0xff."""

RLP_LIST_LONG = 0xF7
"""0xc0 + 55: headers above this carry the payload length in 1..8 more bytes."""


def decode_rlp_list_length(data: bytes, offset: int) -> int:
    """Header plus payload length of the RLP list starting at `offset`."""
    if offset >= len(data):
        raise DecodeError(f"tx.rlp: truncated at {offset}")
    head = data[offset]
    if head < RLP_LIST_SHORT:
        raise DecodeError(f"tx.rlp: first byte 0x{head:02x} is not an RLP list header (< 0xc0) at {offset}")
    if head <= RLP_LIST_LONG:
        return 1 + head - RLP_LIST_SHORT
    size_len = head - RLP_LIST_LONG
    if offset + 1 + size_len > len(data):
        raise DecodeError(f"tx.rlp: length of length truncated at {offset + 1}")
    payload_len = int.from_bytes(data[offset + 1 : offset + 1 + size_len], "big")
    return 1 + size_len + payload_len
