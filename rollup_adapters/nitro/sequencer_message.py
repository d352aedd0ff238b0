"""The sequencer message: what the SequencerInbox hashes and the node parses (arbstate/inbox.go).

    sequencer_message = min_timestamp u64be ++ max_timestamp u64be ++ min_l1_block u64be
                        ++ max_l1_block u64be ++ after_delayed_messages u64be ++ payload
    payload           = 0x00 ++ brotli(segment_stream)          brotli batch (segments.py)
                      | header_byte ++ certificate_or_hashes    data held elsewhere (see below)
                      | (empty)                                 empty batch

The batch poster's calldata `data` argument is `payload`; the contract builds the 40-byte header.
Header byte flags (daprovider/util.go): 0x80 AnyTrust (DAS) certificate, 0x08 tree DAS (with 0x80),
0x40 L1-authenticated, 0x50 EIP-4844 blob hashes, 0x20 zeroheavy, 0x01 DA certificate; 0x00 brotli.
Known bits are 0xf8. Handling, as parseSequencerMessage does it without DA readers:
  - 0x40 set together with an unknown bit: fatal, this node is out of date (DecodeError).
  - 0x80 (AnyTrust, 0x88 tree): shorter than 33 bytes (header byte + keyset hash) is an empty batch;
    otherwise the batch needs an AnyTrust DA reader.
  - 0x01 DA certificate, 0x50 blob hashes, 0x20 zeroheavy: the batch needs that reader (reported).
  - any other byte, or an empty payload: empty batch with a warning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sequencer.errors import DecodeError

from .compression import DEFAULT_LGWIN, DEFAULT_QUALITY, compress, decompress
from .limits import MAX_DECOMPRESSED_LEN, SEQUENCER_HEADER_LEN, U64_MAX
from .segments import Segment, decode_segments, encode_segments

BROTLI_MESSAGE_HEADER_BYTE = 0x00
DAS_MESSAGE_HEADER_FLAG = 0x80
TREE_DAS_MESSAGE_HEADER_FLAG = 0x08
L1_AUTHENTICATED_MESSAGE_HEADER_FLAG = 0x40
ZEROHEAVY_MESSAGE_HEADER_FLAG = 0x20
BLOB_HASHES_HEADER_FLAG = 0x50
DA_CERTIFICATE_MESSAGE_HEADER_FLAG = 0x01
KNOWN_HEADER_BITS = 0x80 | 0x08 | 0x40 | 0x20 | 0x50
"""Header byte flags and the bits this node understands (daprovider/util.go)."""

MIN_ANYTRUST_PAYLOAD_LEN = 33
"""Header byte + keyset hash: AnyTrust payloads shorter than this are empty batches (inbox_test.go)."""

NEEDS_ANYTRUST = "anytrust"
NEEDS_DA_CERTIFICATE = "da_certificate"
NEEDS_BLOBS = "blobs"
NEEDS_ZEROHEAVY = "zeroheavy"
"""Which reader a batch needs when its data is not in the payload itself."""


@dataclass(frozen=True, slots=True)
class SequencerHeader:
    """The 40-byte header the SequencerInbox prepends: time and L1-block bounds, delayed count."""

    min_timestamp: int
    max_timestamp: int
    min_l1_block: int
    max_l1_block: int
    after_delayed_messages: int


@dataclass(frozen=True, slots=True)
class BatchPayload:
    """A decoded payload. `segments` is filled for brotli batches only; `needs_reader` names the DA
    reader a certificate or blob-hash batch needs (its bytes stay in `data`); `warnings` says why a
    batch was taken as empty."""

    header_byte: int | None
    segments: tuple[Segment, ...] = ()
    needs_reader: str | None = None
    data: bytes = b""
    warnings: tuple[str, ...] = ()
    trailing: bytes = b""
    """Segment-stream bytes after the last segment nitro reads (an RLP error or the segment cap)."""


@dataclass(frozen=True, slots=True)
class SequencerMessage:
    """Header plus decoded payload."""

    header: SequencerHeader
    payload: BatchPayload


def encode_header(header: SequencerHeader) -> bytes:
    fields = (
        header.min_timestamp,
        header.max_timestamp,
        header.min_l1_block,
        header.max_l1_block,
        header.after_delayed_messages,
    )
    if not all(0 <= f <= U64_MAX for f in fields):
        raise ValueError(f"sequencer header field out of u64 range: {header}")
    return struct.pack(">5Q", *fields)


def decode_header(data: bytes) -> SequencerHeader:
    if len(data) < SEQUENCER_HEADER_LEN:
        raise DecodeError(f"header: {len(data)} bytes, sequencer message needs {SEQUENCER_HEADER_LEN}")
    return SequencerHeader(*struct.unpack(">5Q", data[:SEQUENCER_HEADER_LEN]))


def encode_brotli_payload(
    segments: list[Segment] | tuple[Segment, ...], quality: int = DEFAULT_QUALITY, lgwin: int = DEFAULT_LGWIN,
    trailing: bytes = b"",
) -> bytes:
    """0x00 ++ brotli(segment_stream): the batch poster's calldata `data`."""
    stream = encode_segments(segments) + trailing
    if len(stream) > MAX_DECOMPRESSED_LEN:
        raise ValueError(f"segment stream of {len(stream)} bytes over the {MAX_DECOMPRESSED_LEN}-byte limit")
    return bytes([BROTLI_MESSAGE_HEADER_BYTE]) + compress(stream, quality, lgwin)


def encode_payload(
    payload: BatchPayload, quality: int = DEFAULT_QUALITY, lgwin: int = DEFAULT_LGWIN
) -> bytes:
    """Inverse of `decode_payload` (brotli batches are recompressed with the given settings)."""
    if payload.header_byte is None:
        return b""
    if payload.header_byte == BROTLI_MESSAGE_HEADER_BYTE:
        if payload.data and not payload.segments:  # a body nitro cannot decompress, kept as it was
            return bytes([BROTLI_MESSAGE_HEADER_BYTE]) + payload.data
        return encode_brotli_payload(payload.segments, quality, lgwin, payload.trailing)
    return bytes([payload.header_byte]) + payload.data


def decode_payload(payload: bytes) -> BatchPayload:
    """Classify the header byte and, for brotli batches, decompress (capped) and parse the segments."""
    if not payload:
        return BatchPayload(None, warnings=("empty sequencer message",))
    hb, rest = payload[0], payload[1:]
    if hb & L1_AUTHENTICATED_MESSAGE_HEADER_FLAG and hb & ~KNOWN_HEADER_BITS & 0xFF:
        raise DecodeError(
            f"header_byte: unsupported authenticated header byte {hb:#04x} at 0: node out of date"
        )
    if hb == BROTLI_MESSAGE_HEADER_BYTE:
        stream = decompress(rest, MAX_DECOMPRESSED_LEN, "payload.brotli")
        return BatchPayload(hb, decode_segments(stream))
    if hb & DAS_MESSAGE_HEADER_FLAG == DAS_MESSAGE_HEADER_FLAG:
        if len(payload) < MIN_ANYTRUST_PAYLOAD_LEN:
            warning = f"AnyTrust certificate of {len(payload)} bytes is too short; empty batch"
            return BatchPayload(hb, data=rest, warnings=(warning,))
        return BatchPayload(hb, needs_reader=NEEDS_ANYTRUST, data=rest)
    if hb & BLOB_HASHES_HEADER_FLAG == BLOB_HASHES_HEADER_FLAG:
        if len(rest) % 32:
            raise DecodeError(f"blob_hashes: {len(rest)} bytes at 1 is not a list of 32-byte hashes")
        return BatchPayload(hb, needs_reader=NEEDS_BLOBS, data=rest)
    if hb == DA_CERTIFICATE_MESSAGE_HEADER_FLAG:
        return BatchPayload(hb, needs_reader=NEEDS_DA_CERTIFICATE, data=rest)
    if hb & ZEROHEAVY_MESSAGE_HEADER_FLAG:
        return BatchPayload(hb, needs_reader=NEEDS_ZEROHEAVY, data=rest)
    warning = f"unknown sequencer message format: header byte {hb:#04x}, {len(payload)} bytes; empty batch"
    return BatchPayload(hb, data=rest, warnings=(warning,))


def encode_sequencer_message(header: SequencerHeader, payload: bytes) -> bytes:
    """The full message the SequencerInbox hashes: 40-byte header ++ payload."""
    return encode_header(header) + payload


def decode_sequencer_message(data: bytes) -> SequencerMessage:
    return SequencerMessage(decode_header(data), decode_payload(data[SEQUENCER_HEADER_LEN:]))
