"""What a Nitro node makes of a batch, broken data included (OffchainLabs/nitro arbstate/inbox.go
ParseSequencerMessage and inboxMultiplexer.getNextMsg / IsCachedSegementLast; arbos/parse_l2.go
parseL2Message). Where nitro logs and goes on, so does this module; nothing here raises for
hostile bytes except the one case nitro itself stops on (an authenticated header byte this node
does not know: "node out of date").

    read_payload     payload -> ReadBatch: raw segments, as ParseSequencerMessage leaves them
      0x40 with unknown bits                       DecodeError (ErrFatalNodeOutOfDate)
      AnyTrust / DA certificate / blob hashes      the DA reader it needs (no segments here)
      0x20 zeroheavy                               zeroheavy-decoded (<= 101% of the limit + 64 bytes), then
      0x00 brotli                                  decompressed (<= 16 MiB); a failure is an empty batch
      segment stream                               RLP strings until the first error or 100*1024 of them;
                                                   what was read is kept
    read_messages    segments + header -> the messages the multiplexer pops, in order
      empty segment                                skipped
      0x03 / 0x04 advance                          rlp uint64 at the start; trailing bytes ignored; a bad
                                                   value skips the segment
      0x00 / 0x01 L2 message                       one message (a kind-1 brotli failure: an invalid one)
      0x02 delayed                                 reads the next delayed message, or is invalid past
                                                   afterDelayedMessages
      other kind                                   one invalid message
      after the last segment                       "virtual" delayed reads up to afterDelayedMessages
      timestamp, L1 block                          clamped to the header's [min, max]
    l2_transactions  one L2 message -> the transactions it yields, or why it yields none:
      a kind-3 batch with one bad sub-message voids the whole message; kinds 2, 5, 7, 8 and
      unknown kinds, heartbeats (6) from HeartbeatsDisabledAt on, type-3 and Arbitrum-internal
      signed transactions, and messages over 256 KiB are invalid.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sequencer.core import rlp_codec
from sequencer.errors import DecodeError

from .compression import decompress
from .limits import MAX_DECOMPRESSED_LEN, MAX_L2_BATCH_DEPTH, MAX_L2_MESSAGE_SIZE, MAX_SEGMENTS_PER_SEQUENCER_MESSAGE
from .sequencer_message import (
    BLOB_HASHES_HEADER_FLAG,
    BROTLI_MESSAGE_HEADER_BYTE,
    DA_CERTIFICATE_MESSAGE_HEADER_FLAG,
    DAS_MESSAGE_HEADER_FLAG,
    KNOWN_HEADER_BITS,
    L1_AUTHENTICATED_MESSAGE_HEADER_FLAG,
    MIN_ANYTRUST_PAYLOAD_LEN,
    NEEDS_ANYTRUST,
    NEEDS_BLOBS,
    NEEDS_DA_CERTIFICATE,
    ZEROHEAVY_MESSAGE_HEADER_FLAG,
    SequencerHeader,
)
from .signed_tx import decode_nitro_tx
from .zeroheavy import decode_zeroheavy

REFERENCE_KNOWN_HEADER_BITS = KNOWN_HEADER_BITS | DA_CERTIFICATE_MESSAGE_HEADER_FLAG
"""daprovider/util.go KnownHeaderBits, DACertificate (0x01) included: 0x41, 0x51, 0xc1 are known bytes.
(sequencer_message.decode_payload, the strict codec, predates the flag and still refuses them.)"""

MAX_ZEROHEAVY_DECODED_LEN = 101 * MAX_DECOMPRESSED_LEN // 100 + 64
"""inbox.go maxZeroheavyDecompressedLen for the default uncompressed batch limit."""

HEARTBEATS_DISABLED_AT = 1659974400
"""Mon, 08 Aug 2022 16:00:00 GMT: heartbeat (kind 6) messages are invalid from then on (parse_l2.go)."""

U64_MAX = 2**64 - 1
OPEN_HEADER = SequencerHeader(0, U64_MAX, 0, U64_MAX, 0)
"""Bounds that clamp nothing, for a payload read without the header the inbox adds."""


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """A payload as ParseSequencerMessage leaves it: the header byte, the raw segments (kind ++
    body each), the bytes of the segment stream after the last segment read (`rest`), the DA
    reader the data needs if it is not in the payload, and what nitro would log."""

    header_byte: int | None
    segments: tuple[bytes, ...] = ()
    rest: bytes = b""
    needs_reader: str | None = None
    warnings: tuple[str, ...] = ()
    zeroheavy: bool = False
    stream: bytes | None = None


_SEGMENT_WORDS = {
    "truncated": "truncated at {pos}",
    "single_byte": "non-canonical single byte at {pos}",
    "truncated_length": "truncated length at {pos}",
    "length_leading_zero": "length with a leading zero at {pos}",
    "long_form": "long form for a {length}-byte string at {pos}",
    "past_end": "string of {length} bytes truncated at {pos}",
}
"""What nitro logs for each refusal of the core codec (rlp_codec.RlpError.kind)."""


def read_rlp_string(stream: bytes, pos: int) -> tuple[bytes, int] | str:
    """One canonical RLP byte string at `pos` (geth rlp.Stream.Decode into []byte): (bytes, end),
    or why it cannot be read (nitro logs it and keeps the segments read before)."""
    if stream[pos] >= 0xC0:
        return f"a list where a segment string should be at {pos}"
    try:
        _, start, end = rlp_codec.header(stream, pos, len(stream))
    except rlp_codec.RlpError as exc:
        return _SEGMENT_WORDS[exc.kind].format(pos=pos, length=exc.length)
    return stream[start:end], end


def read_segment_stream(stream: bytes) -> tuple[tuple[bytes, ...], bytes, str | None]:
    """Segments until the stream ends or breaks (inbox.go keeps the ones read), at most 100 * 1024."""
    segments: list[bytes] = []
    pos = 0
    while pos < len(stream):
        got = read_rlp_string(stream, pos)
        if isinstance(got, str):
            return tuple(segments), stream[pos:], f"error parsing sequencer message segment: {got}"
        if len(segments) >= MAX_SEGMENTS_PER_SEQUENCER_MESSAGE:
            return tuple(segments), stream[pos:], f"too many segments: more than {MAX_SEGMENTS_PER_SEQUENCER_MESSAGE}"
        segments.append(got[0])
        pos = got[1]
    return tuple(segments), b"", None


def read_payload(payload: bytes) -> ReadBatch:
    """ParseSequencerMessage stages 0-3 over the payload (after the 40-byte header)."""
    if not payload:
        return ReadBatch(None, warnings=("empty sequencer message",))
    hb = payload[0]
    if hb & L1_AUTHENTICATED_MESSAGE_HEADER_FLAG and hb & ~REFERENCE_KNOWN_HEADER_BITS & 0xFF:
        raise DecodeError(f"header_byte: unsupported authenticated header byte {hb:#04x} at 0: node out of date")
    if hb & DAS_MESSAGE_HEADER_FLAG:
        if len(payload) < MIN_ANYTRUST_PAYLOAD_LEN:
            return ReadBatch(hb, warnings=(f"AnyTrust certificate of {len(payload)} bytes is too short; empty batch",))
        return ReadBatch(hb, needs_reader=NEEDS_ANYTRUST)
    if hb & BLOB_HASHES_HEADER_FLAG == BLOB_HASHES_HEADER_FLAG:
        return ReadBatch(hb, needs_reader=NEEDS_BLOBS)
    if hb == DA_CERTIFICATE_MESSAGE_HEADER_FLAG:
        return ReadBatch(hb, needs_reader=NEEDS_DA_CERTIFICATE)
    zeroheavy = False
    if hb & ZEROHEAVY_MESSAGE_HEADER_FLAG:
        payload = decode_zeroheavy(payload[1:], MAX_ZEROHEAVY_DECODED_LEN)
        zeroheavy = True
        if not payload:
            return ReadBatch(hb, warnings=("zeroheavy payload decodes to nothing; empty sequencer message",),
                             zeroheavy=True)
    if payload[0] != BROTLI_MESSAGE_HEADER_BYTE:
        what = f"unknown sequencer message format: byte {payload[0]:#04x}, {len(payload)} bytes; empty batch"
        return ReadBatch(hb, warnings=(what,), zeroheavy=zeroheavy)
    try:
        stream = decompress(payload[1:], MAX_DECOMPRESSED_LEN, "payload.brotli")
    except DecodeError as exc:
        return ReadBatch(hb, warnings=(f"sequencer msg decompression failed ({exc}); empty batch",),
                         zeroheavy=zeroheavy)
    segments, rest, warning = read_segment_stream(stream)
    return ReadBatch(hb, segments, rest, warnings=() if warning is None else (warning,), zeroheavy=zeroheavy,
                     stream=stream)


# --- the multiplexer ------------------------------------------------------------------------------

SEGMENT_L2, SEGMENT_L2_BROTLI, SEGMENT_DELAYED, SEGMENT_ADVANCE_TIME, SEGMENT_ADVANCE_BLOCK = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message the multiplexer pops. `kind` is "l2_message", "delayed_message" (then
    `delayed_index` says which) or "invalid" (then `reason` says why; nitro makes it an
    InvalidL1Message). `segment` is None for a virtual delayed read after the last segment."""

    kind: str
    segment: int | None
    timestamp: int
    l1_block: int
    l2_message: bytes | None = None
    delayed_index: int | None = None
    reason: str | None = None


def read_advance(segment: bytes) -> int | None:
    """The uint64 of an advance segment: rlp.NewStream(rest, 16).Uint64(); trailing bytes are not read
    (the stream reads one value), so unlike rlp_codec.decode nothing after the integer is checked."""
    body = segment[1:]
    try:
        is_list, start, stop = rlp_codec.header(body, 0, len(body))
    except rlp_codec.RlpError:
        return None
    value = body[start:stop]
    if is_list or len(value) > 8 or value[:1] == b"\x00":  # geth: zero is 0x80; 0x00 is non-canonical
        return None
    return int.from_bytes(value, "big")


def read_messages(batch: ReadBatch, header: SequencerHeader = OPEN_HEADER,
                  delayed_read: int = 0) -> tuple[list[InboxMessage], list[str]]:
    """The messages inboxMultiplexer.Pop yields for one batch, and what it logs on the way.

    `delayed_read` is the delayed-message count before this batch; without a header no virtual
    delayed reads are added (afterDelayedMessages unknown)."""
    segs = batch.segments
    after = header.after_delayed_messages if header is not OPEN_HEADER else None
    notes: list[str] = []
    messages: list[InboxMessage] = []
    timestamp = l1_block = 0

    def clamp() -> tuple[int, int]:
        t = min(max(timestamp, header.min_timestamp), header.max_timestamp)
        b = min(max(l1_block, header.min_l1_block), header.max_l1_block)
        return t, b

    last_message = max((i for i, s in enumerate(segs) if s and s[0] in (0, 1, 2)), default=-1)
    for i, seg in enumerate(segs):
        if not seg:
            notes.append(f"segment {i}: empty, skipped")
            continue
        kind = seg[0]
        if kind in (SEGMENT_ADVANCE_TIME, SEGMENT_ADVANCE_BLOCK):
            value = read_advance(seg)
            if value is None:
                notes.append(f"segment {i}: error parsing advancing segment, skipped")
            elif kind == SEGMENT_ADVANCE_TIME:
                timestamp = (timestamp + value) & U64_MAX  # Go's uint64 addition wraps
            else:
                l1_block = (l1_block + value) & U64_MAX
            continue
        if messages and i > last_message and (after is None or delayed_read >= after):
            # IsCachedSegementLast: the batch ended with the previous message; a trailing segment
            # of an unknown kind is never popped.
            notes.append(f"segment {i}: kind {kind} after the last message, not read")
            continue
        t, b = clamp()
        if kind == SEGMENT_L2:
            messages.append(InboxMessage("l2_message", i, t, b, seg[1:]))
        elif kind == SEGMENT_L2_BROTLI:
            try:
                messages.append(InboxMessage("l2_message", i, t, b, decompress(seg[1:], MAX_L2_MESSAGE_SIZE,
                                                                                f"segment[{i}].brotli")))
            except DecodeError as exc:
                messages.append(InboxMessage("invalid", i, t, b, reason=f"dropping compressed message: {exc}"))
        elif kind == SEGMENT_DELAYED:
            if after is not None and delayed_read >= after:
                messages.append(InboxMessage("invalid", i, t, b, reason="attempt to read past batch delayed "
                                                                         "message count"))
            else:
                messages.append(InboxMessage("delayed_message", i, t, b, delayed_index=delayed_read))
                delayed_read += 1
        else:
            messages.append(InboxMessage("invalid", i, t, b, reason=f"bad sequencer message segment kind {kind}"))
    if after is not None:
        t, b = clamp()
        if delayed_read < after:
            notes.append(f"{after - delayed_read} virtual delayed message reads after the last segment")
        while delayed_read < after:
            messages.append(InboxMessage("delayed_message", None, t, b, delayed_index=delayed_read))
            delayed_read += 1
        if not messages:
            # An empty batch still pops once: a virtual delayed segment past the count is invalid.
            messages.append(InboxMessage("invalid", None, t, b, reason="empty batch: virtual delayed read past "
                                                                       "the batch's delayed message count"))
    return messages, notes


# --- parse_l2.go ----------------------------------------------------------------------------------

L2_UNSIGNED_USER_TX, L2_CONTRACT_TX, L2_NONMUTATING_CALL, L2_BATCH, L2_SIGNED_TX = 0, 1, 2, 3, 4
L2_HEARTBEAT, L2_SIGNED_COMPRESSED_TX = 6, 7


@dataclass(frozen=True, slots=True)
class ParsedL2:
    """parseL2Message's outcome: the raw signed transactions, how many unsigned (kind 0) ones
    come with them, and `error`, set when nitro gets none from the whole message."""

    transactions: tuple[bytes, ...]
    error: str | None = None
    unsigned: int = 0

    @property
    def count(self) -> int:
        return len(self.transactions) + self.unsigned


def l2_transactions(message: bytes, timestamp: int, depth: int = 0) -> ParsedL2:
    """The transactions nitro gets from one L2 message (ParseL2Transactions / parseL2Message)."""
    if depth == 0 and len(message) > MAX_L2_MESSAGE_SIZE:
        return ParsedL2((), f"message too large ({len(message)} bytes)")
    if not message:
        return ParsedL2((), "L2 message kind missing")
    kind, body = message[0], message[1:]
    if kind in (L2_UNSIGNED_USER_TX, L2_CONTRACT_TX):
        words = 5 if kind == L2_UNSIGNED_USER_TX else 4
        if len(body) < 32 * words:
            return ParsedL2((), "unsigned transaction truncated")
        if int.from_bytes(body[:32], "big") >= 2**64:
            return ParsedL2((), "unsigned user tx gas limit >= 2^64")
        if kind == L2_UNSIGNED_USER_TX and int.from_bytes(body[64:96], "big") >= 2**64:
            return ParsedL2((), "unsigned user tx nonce >= 2^64")
        if kind == L2_CONTRACT_TX:
            return ParsedL2((), "cannot issue contract tx without L1 request id")
        return ParsedL2((), unsigned=1)
    if kind == L2_BATCH:
        if depth >= MAX_L2_BATCH_DEPTH:
            return ParsedL2((), f"L2 message batches have a max depth of {MAX_L2_BATCH_DEPTH}")
        txs: list[bytes] = []
        unsigned = 0
        pos = 0
        index = 0
        while True:
            # util.BytestringFromReader: an unreadable length or body ends the batch, not an error.
            if len(body) - pos < 8:
                return ParsedL2(tuple(txs), unsigned=unsigned)
            (length,) = struct.unpack_from(">Q", body, pos)
            if length > MAX_L2_MESSAGE_SIZE or pos + 8 + length > len(body):
                return ParsedL2(tuple(txs), unsigned=unsigned)
            sub = l2_transactions(body[pos + 8 : pos + 8 + length], timestamp, depth + 1)
            if sub.error is not None:
                return ParsedL2((), f"sub-message {index}: {sub.error} (voids the whole batch)")
            txs.extend(sub.transactions)
            unsigned += sub.unsigned
            pos += 8 + length
            index += 1
    if kind == L2_SIGNED_TX:
        try:
            decode_nitro_tx(body)
        except DecodeError as exc:
            return ParsedL2((), str(exc))
        return ParsedL2((body,))
    if kind == L2_HEARTBEAT:
        if timestamp >= HEARTBEATS_DISABLED_AT:
            return ParsedL2((), "heartbeat messages have been disabled")
        return ParsedL2(())
    if kind == L2_NONMUTATING_CALL:
        return ParsedL2((), "L2 message kind NonmutatingCall is unimplemented")
    if kind == L2_SIGNED_COMPRESSED_TX:
        return ParsedL2((), "L2 message kind SignedCompressedTx is unimplemented")
    return ParsedL2((), f"unknown L2 message kind {kind}")
