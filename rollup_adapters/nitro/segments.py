"""Segments: the decompressed body of a brotli batch (arbstate/inbox.go, arbnode/batch_poster.go).

    segment_stream = rlp_string(segment)*                      (at most 100 * 1024 segments)
    segment        = 0x00 ++ l2_message                        L2 message
                   | 0x01 ++ brotli(l2_message)                L2 message, brotli (<= MaxL2MessageSize out)
                   | 0x02                                      read the next delayed-inbox message
                   | 0x03 ++ rlp_uint(delta_seconds)           advance timestamp
                   | 0x04 ++ rlp_uint(delta_blocks)            advance L1 block number

Timestamp and L1 block start at 0 in every batch and only move forward by the advance segments; each
L2-message or delayed segment is one message at the current (timestamp, L1 block).
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import DecodeError

from .compression import decompress
from .limits import MAX_DECOMPRESSED_LEN, MAX_L2_MESSAGE_SIZE, MAX_SEGMENTS_PER_SEQUENCER_MESSAGE
from .rlp_bytes import decode_rlp_bytes, decode_rlp_uint, encode_rlp_bytes, encode_rlp_uint

KIND_L2_MESSAGE = 0
KIND_L2_MESSAGE_BROTLI = 1
KIND_DELAYED_MESSAGES = 2
KIND_ADVANCE_TIMESTAMP = 3
KIND_ADVANCE_L1_BLOCK = 4
"""Segment kinds (arbstate/inbox.go, BatchSegmentKind*)."""


@dataclass(frozen=True, slots=True)
class L2MessageSegment:
    """One L2 message (kind 0), or kind 1 when `compressed` holds its brotli form.

    `compressed` keeps the exact brotli bytes so a decoded segment re-encodes byte for byte.
    """

    l2_message: bytes
    compressed: bytes | None = None


@dataclass(frozen=True, slots=True)
class DelayedMessageSegment:
    """Kind 2: the next message of the delayed inbox is sequenced here."""


@dataclass(frozen=True, slots=True)
class AdvanceTimestampSegment:
    """Kind 3: timestamp += delta (seconds)."""

    delta: int


@dataclass(frozen=True, slots=True)
class AdvanceL1BlockSegment:
    """Kind 4: L1 block number += delta."""

    delta: int


@dataclass(frozen=True, slots=True)
class RawSegment:
    """A segment kept byte for byte (kind ++ body) because the strict reading refuses it, though
    nitro reads on (inbox.py): an empty or unknown-kind segment, an advance with trailing bytes or
    a bad value, a delayed segment with a body, a kind-1 segment whose brotli fails."""

    raw: bytes


Segment = L2MessageSegment | DelayedMessageSegment | AdvanceTimestampSegment | AdvanceL1BlockSegment | RawSegment


def encode_segment(segment: Segment) -> bytes:
    """The segment's bytes: kind ++ body (not yet wrapped as an RLP string)."""
    match segment:
        case L2MessageSegment(l2_message, None):
            return bytes([KIND_L2_MESSAGE]) + l2_message
        case L2MessageSegment(_, compressed) if compressed is not None:
            return bytes([KIND_L2_MESSAGE_BROTLI]) + compressed
        case DelayedMessageSegment():
            return bytes([KIND_DELAYED_MESSAGES])
        case AdvanceTimestampSegment(delta):
            return bytes([KIND_ADVANCE_TIMESTAMP]) + encode_rlp_uint(delta)
        case AdvanceL1BlockSegment(delta):
            return bytes([KIND_ADVANCE_L1_BLOCK]) + encode_rlp_uint(delta)
        case RawSegment(raw):
            return raw
    raise TypeError(f"not a segment: {segment!r}")


def decode_segment(raw: bytes, field: str) -> Segment:
    """The inverse of `encode_segment`. Strict where the reference only logs: an empty segment, an
    unknown kind, a delayed segment with a body, or a bad advance value is a DecodeError."""
    if not raw:
        raise DecodeError(f"{field}: empty segment")
    kind, body = raw[0], raw[1:]
    if kind == KIND_L2_MESSAGE:
        return L2MessageSegment(body)
    if kind == KIND_L2_MESSAGE_BROTLI:
        return L2MessageSegment(decompress(body, MAX_L2_MESSAGE_SIZE, f"{field}.l2_message"), body)
    if kind == KIND_DELAYED_MESSAGES:
        if body:
            raise DecodeError(f"{field}: delayed-message segment has {len(body)} unexpected body bytes")
        return DelayedMessageSegment()
    if kind == KIND_ADVANCE_TIMESTAMP:
        return AdvanceTimestampSegment(decode_rlp_uint(body, f"{field}.advance_timestamp"))
    if kind == KIND_ADVANCE_L1_BLOCK:
        return AdvanceL1BlockSegment(decode_rlp_uint(body, f"{field}.advance_l1_block"))
    raise DecodeError(f"{field}: unknown segment kind {kind:#04x}")


def encode_segments(segments: list[Segment] | tuple[Segment, ...]) -> bytes:
    """The uncompressed segment stream."""
    return b"".join(encode_rlp_bytes(encode_segment(s)) for s in segments)


def decode_segments(stream: bytes) -> tuple[Segment, ...]:
    """Parse a whole decompressed segment stream; no leftover bytes, at most the reference's limits."""
    if len(stream) > MAX_DECOMPRESSED_LEN:
        raise DecodeError(
            f"segments: stream of {len(stream)} bytes over the {MAX_DECOMPRESSED_LEN}-byte limit"
        )
    out: list[Segment] = []
    offset = 0
    while offset < len(stream):
        if len(out) >= MAX_SEGMENTS_PER_SEQUENCER_MESSAGE:
            raise DecodeError(
                f"segments: more than {MAX_SEGMENTS_PER_SEQUENCER_MESSAGE} segments at {offset}"
            )
        field = f"segment[{len(out)}]@{offset}"
        raw, offset = decode_rlp_bytes(stream, offset, field, MAX_DECOMPRESSED_LEN)
        out.append(decode_segment(raw, field))
    return tuple(out)
