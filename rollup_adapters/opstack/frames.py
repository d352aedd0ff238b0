"""Batcher transactions and channel frames (OP derivation spec, "Batcher Transaction Format"
and "Frame Format"; op-node/rollup/derive/frame.go).

    batcher_tx_data   = derivation_version ++ frame ++ frame*          derivation_version = 0x00
    frame             = channel_id ++ frame_number ++ frame_data_length ++ frame_data ++ is_last
    channel_id        = bytes16
    frame_number      = uint16 (big-endian)
    frame_data_length = uint32 (big-endian), 0 <= length <= MAX_FRAME_LEN
    frame_data        = bytes(frame_data_length)
    is_last           = 0x00 | 0x01

A batcher transaction whose frames do not all parse is rejected whole, like op-node's
ParseFrames. With Ecotone the same bytes may travel in blobs (see blob.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.errors import DecodeError

from .wire import Reader

DERIVATION_VERSION_0 = 0
"""The only defined batcher-transaction version byte (derivation.md, "Batcher Transaction Format")."""

MAX_FRAME_LEN = 1_000_000
"""Upper bound on frame_data_length (derivation.md, "Frame Format": MaxFrameLen)."""

CHANNEL_ID_LEN = 16
FRAME_OVERHEAD = CHANNEL_ID_LEN + 2 + 4 + 1
"""23 bytes around frame_data (FrameV0OverHeadSize)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One chunk of a channel's compressed data (derivation.md, "Frame Format")."""

    channel_id: bytes
    frame_number: int
    data: bytes
    is_last: bool

    def __post_init__(self) -> None:
        if len(self.channel_id) != CHANNEL_ID_LEN:
            raise ValueError(f"channel_id must be {CHANNEL_ID_LEN} bytes")
        if not 0 <= self.frame_number < 2**16:
            raise ValueError(f"frame_number out of uint16 range: {self.frame_number}")
        if len(self.data) > MAX_FRAME_LEN:
            raise ValueError(f"frame_data longer than MAX_FRAME_LEN ({len(self.data)})")


def encode_frame(frame: Frame) -> bytes:
    return (
        frame.channel_id
        + frame.frame_number.to_bytes(2, "big")
        + len(frame.data).to_bytes(4, "big")
        + frame.data
        + (b"\x01" if frame.is_last else b"\x00")
    )


def decode_frame(r: Reader) -> Frame:
    """Read one frame at the reader's cursor (frame.go UnmarshalBinary)."""
    channel_id = r.take(CHANNEL_ID_LEN, "channel_id")
    frame_number = r.u16("frame_number")
    at = r.offset
    length = r.u32("frame_data_length")
    if length > MAX_FRAME_LEN:
        raise DecodeError(f"frame_data_length: {length} exceeds MAX_FRAME_LEN at offset {at}")
    data = r.take(length, "frame_data")
    at = r.offset
    is_last = r.byte("is_last")
    if is_last > 1:
        raise DecodeError(f"is_last: invalid value {is_last} at offset {at}")
    return Frame(channel_id, frame_number, data, bool(is_last))


def encode_frames(frames: Sequence[Frame]) -> bytes:
    """Frames back to back, without the derivation version byte."""
    return b"".join(encode_frame(f) for f in frames)


def decode_frames(data: bytes, base: int = 0) -> tuple[Frame, ...]:
    """Frames back to back until the data ends; at least one (frame.go ParseFrames)."""
    r = Reader(data, base)
    frames = []
    while r.remaining():
        frames.append(decode_frame(r))
    if not frames:
        raise DecodeError(f"frames: no frame at offset {base}")
    return tuple(frames)


def encode_batcher_tx(frames: Sequence[Frame]) -> bytes:
    return bytes([DERIVATION_VERSION_0]) + encode_frames(frames)


def decode_batcher_tx(data: bytes) -> tuple[Frame, ...]:
    """The frames of one batcher transaction's data (calldata, or a decoded blob)."""
    if not data:
        raise DecodeError("derivation_version: empty batcher transaction at offset 0")
    if data[0] != DERIVATION_VERSION_0:
        raise DecodeError(f"derivation_version: unknown version {data[0]} at offset 0")
    return decode_frames(data[1:], base=1)


def force_close_tx_data(frames: Sequence[Frame]) -> bytes:
    """Batcher tx data that closes a channel given the frames already on L1, in L1 order
    (channel_out.go ForceCloseTxData): an empty closing frame 0 if no frame closed it,
    otherwise empty frames filling every gap below the closing frame."""
    if not frames:
        raise ValueError("force_close_tx_data: at least one frame is needed")
    channel_id = frames[0].channel_id
    if any(f.channel_id != channel_id for f in frames):
        raise ValueError("force_close_tx_data: frames of different channels")
    seen = {f.frame_number for f in frames}
    closing = next((f.frame_number for f in frames if f.is_last), None)
    if closing is None:
        out = [Frame(channel_id, 0, b"", True)]
    else:
        out = [Frame(channel_id, i, b"", False) for i in range(closing + 1) if i not in seen]
    return encode_batcher_tx(out)
