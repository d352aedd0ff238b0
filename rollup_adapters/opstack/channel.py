"""Channels: frames reassembled by channel id, then a compressed stream of RLP batches
(derivation.md "Channel Format"; fjord/derivation.md "Brotli Channel Compression";
op-node/rollup/derive/channel.go, channel_in_reader.go).

    channel_data       = frame_data(0) ++ frame_data(1) ++ ... ++ frame_data(last)
    channel_data       = zlib_stream                       first byte & 0x0F in {8, 15}
                       | 0x01 ++ brotli_stream             channel version byte (Fjord)
    decompressed       = rlp_string(batch) ++ rlp_string(batch) ++ ...   <= MAX_RLP_BYTES_PER_CHANNEL

Assembly follows channel.go AddFrame: frames may arrive out of order; a duplicate frame
number, a second closing frame, or a frame numbered at or above the closing frame of a
closed channel is dropped; a closing frame prunes frames above it. A channel is ready when
it is closed and frames 0..last are all present. Before Holocene many channels are open at
once (channel_bank.go: the bank drops its oldest channel while the frames it holds, plus 200
bytes per frame, exceed MaxChannelBankSize). From Holocene (holocene/derivation.md) frames
of one batcher transaction are pruned to ordered runs (frame_queue.go pruneFrameQueue) and
one channel is assembled at a time (channel_assembler.go): frames in order, a frame 0 opens
a new channel and drops an unfinished one, a channel past MaxRLPBytesPerChannel is dropped.
Channel timeouts count L1 blocks (channel_bank.go Read / IngestFrame, channel_assembler.go
channelTimedOut: a channel opened at L1 block o has timed out at block n when
o + ChannelTimeout < n), which batcher data does not carry: they apply when the caller gives
each batcher transaction's L1 inclusion block (`l1_blocks`), and not otherwise.

Decompression is incremental and bounded: the output never grows past the limit, and
batches read before the stream breaks (truncated, corrupt, or over the limit) are kept,
as op-node's ChannelInReader keeps them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import brotli

from sequencer.errors import DecodeError

from .frames import MAX_FRAME_LEN, Frame
from .wire import encode_rlp, rlp_header

MAX_RLP_BYTES_PER_CHANNEL = 10_000_000
"""Bound on the decompressed RLP bytes of one channel before Fjord (chain_spec.go
maxRLPBytesPerChannelBedrock); from Fjord it is 100,000,000 (chain_spec.py selects it).
The default of the functions below that take a `limit`."""

FRAME_SIZE_OVERHEAD = 200
"""What a frame counts for in channel and bank sizes besides its data (params.go frameOverhead)."""

CHANNEL_VERSION_BROTLI = 0x01
"""Channel version byte that marks a brotli stream (fjord/derivation.md)."""

ZLIB_CM8, ZLIB_CM15 = 8, 15
"""Low nibble of a zlib stream's first byte (CM); 15 is reserved but routed to zlib too."""

_CHUNK = 16 * 1024
"""Compressed bytes fed to the decompressor per step; bounds work between size checks."""


# --- assembly ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChannelBuilder:
    """A channel being assembled (channel.go `Channel`): mutable while frames arrive."""

    channel_id: bytes
    frames: dict[int, Frame] = field(default_factory=dict)
    closed: bool = False
    end_frame_number: int = 0
    highest_frame_number: int = 0
    in_order: bool = False
    size: int = 0
    open_block: int = 0
    """L1 block of the frame that opened the channel (channel.go openBlock)."""

    def add_frame(self, frame: Frame) -> str | None:
        """Add `frame`; returns why it was dropped, or None if it was kept.

        `in_order` (Holocene, channel.go requireInOrder): frame numbers must come 0, 1, 2, ...
        """
        if frame.channel_id != self.channel_id:
            return "frame belongs to another channel"
        if frame.is_last and self.closed:
            return "closing frame for an already closed channel"
        if frame.frame_number in self.frames:
            return "duplicate frame"
        if self.closed and frame.frame_number >= self.end_frame_number:
            return "frame number at or above the closing frame"
        if self.in_order and frame.frame_number != len(self.frames):
            return f"frame out of order (Holocene): expected {len(self.frames)}, got {frame.frame_number}"
        if frame.is_last:
            self.end_frame_number = frame.frame_number
            self.closed = True
            if self.end_frame_number < self.highest_frame_number:
                # A closing frame prunes frames numbered at or above it.
                self.frames = {n: f for n, f in self.frames.items() if n < self.end_frame_number}
                # channel.go subtracts the size of every frame it scans, kept ones included, so the
                # size restarts from the closing frame (TestFrameValidity "prune after close frame").
                self.size = 0
                self.highest_frame_number = self.end_frame_number
        self.highest_frame_number = max(self.highest_frame_number, frame.frame_number)
        self.frames[frame.frame_number] = frame
        self.size += len(frame.data) + FRAME_SIZE_OVERHEAD
        return None

    def is_ready(self) -> bool:
        return self.closed and len(self.frames) == self.end_frame_number + 1 and all(
            i in self.frames for i in range(self.end_frame_number + 1)
        )

    def data(self) -> bytes:
        """The channel's compressed bytes; only valid once ready."""
        if not self.is_ready():
            raise ValueError("channel is not ready")
        return b"".join(self.frames[i].data for i in range(self.end_frame_number + 1))


@dataclass(frozen=True, slots=True)
class Channel:
    """A complete channel: its id and its compressed data, frames concatenated in order."""

    channel_id: bytes
    data: bytes


def assemble_channels(frames: Iterable[Frame]) -> tuple[list[Channel], list[bytes]]:
    """Feed frames in L1 order; returns (ready channels in the order they completed,
    ids of channels still incomplete). Invalid frames are dropped like op-node does."""
    open_channels: dict[bytes, ChannelBuilder] = {}
    ready: list[Channel] = []
    for frame in frames:
        builder = open_channels.setdefault(frame.channel_id, ChannelBuilder(frame.channel_id))
        if builder.add_frame(frame) is None and builder.is_ready():
            ready.append(Channel(frame.channel_id, builder.data()))
            del open_channels[frame.channel_id]
    return ready, list(open_channels)


@dataclass(frozen=True, slots=True)
class FrameDrop:
    """A frame op-node ignores (it logs and goes on): which one, and why."""

    channel_id: bytes
    frame_number: int
    reason: str


@dataclass(frozen=True, slots=True)
class Assembly:
    """Channels assembled from batcher transactions: ready ones in the order they completed,
    the ids of channels still open at the end, and every frame or channel dropped on the way."""

    ready: tuple[Channel, ...]
    incomplete: tuple[bytes, ...]
    dropped: tuple[FrameDrop, ...]


def timed_out(open_block: int, timeout: int, l1_block: int | None) -> bool:
    """channel_bank.go / channel_assembler.go: OpenBlockNumber() + ChannelTimeout < origin.Number.
    An unknown L1 block (None) never times a channel out."""
    return l1_block is not None and open_block + timeout < l1_block


TIMED_OUT = "channel timed out"
"""How every timeout drop's reason starts (FrameDrop.reason, the JSON's skipped[].reason)."""


def timeout_reason(open_block: int, timeout: int, rule: str) -> str:
    # op-node traverses every L1 block, so the channel goes at block open + timeout + 1 whether
    # or not that block carries batcher data.
    return (f"{TIMED_OUT}: opened at L1 block {open_block}, timeout {timeout} blocks, dropped at L1 block "
            f"{open_block + timeout + 1} ({rule})")


def _check_blocks(txs: Sequence[Sequence[Frame]], l1_blocks: Sequence[int | None] | None) -> list[int | None]:
    if l1_blocks is None:
        return [None] * len(txs)
    if len(l1_blocks) != len(txs):
        raise ValueError(f"l1_blocks: {len(l1_blocks)} blocks for {len(txs)} batcher transactions")
    return list(l1_blocks)


def bank_channels(txs: Sequence[Sequence[Frame]], max_bank_size: int, canyon: bool = True,
                  l1_blocks: Sequence[int | None] | None = None, timeout: int = 0) -> Assembly:
    """Pre-Holocene assembly (channel_bank.go IngestFrame, prune, Read): channels open side by
    side; while the frames held (plus 200 bytes each) exceed `max_bank_size`, the oldest open
    channel is dropped. From Canyon the first ready channel is read; before Canyon only the
    oldest one, so a ready channel waits while an older one is open.

    With `l1_blocks` (the L1 inclusion block of each transaction, in order) channels time out
    after `timeout` blocks: a frame for a timed-out channel is ignored (IngestFrame), a
    timed-out channel is never read (tryReadChannelAtIndex) and leaves the bank when it is the
    oldest (Read), which lets a ready channel behind it be read at that block. op-node runs Read
    at every L1 block it traverses, so a channel waiting behind an older one is read at the block
    where the older one times out, if it has not timed out itself by then. Without `l1_blocks`
    nothing times out; a ready channel still waiting at the end of the input is reported."""
    blocks = _check_blocks(txs, l1_blocks)
    open_channels: dict[bytes, ChannelBuilder] = {}
    ready: list[Channel] = []
    dropped: list[FrameDrop] = []
    total = 0  # the bank's size, kept as frames come and channels go (no rescans)

    def read(n: int | None) -> None:
        # channel_bank.go Read, called until it has nothing to give: timed-out channels leave
        # from the front; then the oldest (pre-Canyon) or the first ready channel is read.
        nonlocal total
        while open_channels:
            head = next(iter(open_channels.values()))
            if timed_out(head.open_block, timeout, n):
                del open_channels[head.channel_id]
                total -= head.size
                dropped.append(FrameDrop(head.channel_id, -1, timeout_reason(head.open_block, timeout,
                                                                             "channel_bank.go Read")))
                continue
            if canyon:
                pick = next((b for b in open_channels.values()
                             if b.is_ready() and not timed_out(b.open_block, timeout, n)), None)
            else:
                pick = head if head.is_ready() else None
            if pick is None:
                return
            ready.append(Channel(pick.channel_id, pick.data()))
            total -= pick.size
            del open_channels[pick.channel_id]

    current: int | None = None
    for frames, n in zip(txs, blocks, strict=True):
        if n is not None:
            # The L1 blocks op-node traverses before this one: each oldest channel that times out
            # on the way goes at the block it times out, and Read runs there.
            while open_channels and current is not None:
                head = next(iter(open_channels.values()))
                at = head.open_block + timeout + 1
                if at >= n:
                    break
                read(max(at, current))
            current = n
            read(n)
        for frame in frames:
            builder = open_channels.get(frame.channel_id)
            if builder is None:
                builder = open_channels[frame.channel_id] = ChannelBuilder(frame.channel_id, open_block=n or 0)
            if timed_out(builder.open_block, timeout, n):
                dropped.append(FrameDrop(frame.channel_id, frame.frame_number,
                                         f"frame for a timed-out channel (opened at L1 block {builder.open_block}, "
                                         f"timeout {timeout} blocks, frame at L1 block {n}; channel_bank.go "
                                         "IngestFrame)"))
                continue
            before = builder.size
            why = builder.add_frame(frame)
            total += builder.size - before
            if why is not None:
                dropped.append(FrameDrop(frame.channel_id, frame.frame_number, why))
                continue
            while total > max_bank_size:
                oldest = next(iter(open_channels))
                pruned = open_channels.pop(oldest)
                total -= pruned.size
                dropped.append(FrameDrop(oldest, -1, f"channel bank over {max_bank_size} bytes: oldest channel "
                                                    f"pruned (channel_bank.go prune)"))
            read(n)
    for b in list(open_channels.values()):
        if b.is_ready():
            head = next(iter(open_channels.values()))
            at = head.open_block + timeout + 1
            if current is None:
                until = ""
            elif b.open_block + timeout < at:
                until = f"; it times out at L1 block {at} with channel 0x{head.channel_id.hex()}"
            else:
                until = (f"; it is read at L1 block {at} if channel 0x{head.channel_id.hex()} is not "
                         "completed by then and times out")
            dropped.append(FrameDrop(b.channel_id, -1, "ready channel waits behind an older open channel "
                                                       f"(pre-Canyon channel bank reads only the oldest){until}"))
            del open_channels[b.channel_id]
    return Assembly(tuple(ready), tuple(open_channels), tuple(dropped))


def prune_frame_queue(frames: Sequence[Frame]) -> tuple[list[Frame], list[FrameDrop]]:
    """Holocene frame queue (frame_queue.go pruneFrameQueue), over one batcher transaction's
    frames: within a channel frames must follow one another and stop at the closing frame; a
    frame 0 of another channel drops the unclosed frames before it; a non-first frame of a new
    channel is dropped.

    pruneFrameQueue walks pairs and deletes in place, stepping back after dropping the current
    frame; keeping the survivors on a stack gives the same result in linear time."""
    kept: list[Frame] = []
    dropped: list[FrameDrop] = []
    for nxt in frames:
        while True:
            if not kept:
                kept.append(nxt)
                break
            cur = kept[-1]
            if cur.channel_id == nxt.channel_id:
                if cur.is_last or nxt.frame_number != cur.frame_number + 1:
                    what = "after the closing frame" if cur.is_last else f"out of order after frame {cur.frame_number}"
                    dropped.append(FrameDrop(nxt.channel_id, nxt.frame_number, f"frame {what} (Holocene frame queue)"))
                else:
                    kept.append(nxt)
                break
            if nxt.frame_number == 0 and not cur.is_last:
                dropped.append(FrameDrop(cur.channel_id, cur.frame_number,
                                         "unclosed channel replaced by a new frame 0 (Holocene frame queue)"))
                kept.pop()
                continue  # the frame before may be unclosed as well
            if nxt.frame_number != 0:
                dropped.append(FrameDrop(nxt.channel_id, nxt.frame_number,
                                         "non-first frame of a new channel (Holocene frame queue)"))
            else:
                kept.append(nxt)
            break
    return kept, dropped


def holocene_channels(txs: Sequence[Sequence[Frame]], max_rlp_bytes: int,
                      l1_blocks: Sequence[int | None] | None = None, timeout: int = 0) -> Assembly:
    """Holocene assembly (channel_assembler.go NextData): each transaction's frames pruned by
    `prune_frame_queue`, then one channel at a time, frames in order.

    With `l1_blocks` the staged channel times out after `timeout` L1 blocks: NextData drops it
    (channelTimedOut) before it takes the frames of a later block, so their non-first frames
    find no channel and are dropped."""
    blocks = _check_blocks(txs, l1_blocks)
    current: ChannelBuilder | None = None
    ready: list[Channel] = []
    dropped: list[FrameDrop] = []
    for tx_frames, n in zip(txs, blocks, strict=True):
        if current is not None and timed_out(current.open_block, timeout, n):
            dropped.append(FrameDrop(current.channel_id, -1, timeout_reason(current.open_block, timeout,
                                                                            "channel_assembler.go channelTimedOut")))
            current = None
        frames, pruned = prune_frame_queue(tx_frames)
        dropped.extend(pruned)
        for frame in frames:
            if frame.frame_number == 0:
                if current is not None:
                    dropped.append(FrameDrop(current.channel_id, -1,
                                             "unfinished channel dropped by a new frame 0 (Holocene)"))
                current = ChannelBuilder(frame.channel_id, in_order=True, open_block=n or 0)
            elif current is None:
                dropped.append(FrameDrop(frame.channel_id, frame.frame_number,
                                         "non-first frame without an open channel (Holocene)"))
                continue
            why = current.add_frame(frame)
            if why is not None:
                dropped.append(FrameDrop(frame.channel_id, frame.frame_number, why))
                continue
            if current.size > max_rlp_bytes:
                dropped.append(FrameDrop(current.channel_id, -1,
                                         f"channel over {max_rlp_bytes} bytes dropped (channel_assembler.go)"))
                current = None
                continue
            if frame.is_last:
                ready.append(Channel(current.channel_id, current.data()))
                current = None
    return Assembly(tuple(ready), () if current is None else (current.channel_id,), tuple(dropped))


def split_into_frames(channel_id: bytes, data: bytes, max_frame_data: int) -> list[Frame]:
    """Cut compressed channel data into frames of at most `max_frame_data` bytes each."""
    if not 0 < max_frame_data <= MAX_FRAME_LEN:
        raise ValueError(f"max_frame_data must be in 1..{MAX_FRAME_LEN}")
    chunks = [data[i : i + max_frame_data] for i in range(0, len(data), max_frame_data)] or [b""]
    if len(chunks) > 2**16:
        raise ValueError(f"channel needs {len(chunks)} frames, more than 65536")
    return [Frame(channel_id, i, c, i == len(chunks) - 1) for i, c in enumerate(chunks)]


# --- compression ---------------------------------------------------------------------------------


def encode_channel(batches: Sequence[bytes], compression: str = "brotli", level: int | None = None,
                   limit: int = MAX_RLP_BYTES_PER_CHANNEL) -> bytes:
    """Compress encoded batches (each `batch_version ++ content`) into channel data;
    `limit` is the target fork's MaxRLPBytesPerChannel."""
    stream = encode_batch_stream(batches)
    if len(stream) > limit:
        raise ValueError(f"channel RLP bytes {len(stream)} exceed {limit}")
    if compression == "zlib":
        return zlib.compress(stream, 9 if level is None else level)
    if compression == "brotli":
        q = 10 if level is None else level
        return bytes([CHANNEL_VERSION_BROTLI]) + brotli.compress(stream, quality=q, lgwin=22)
    raise ValueError(f"unknown compression {compression!r} (zlib or brotli)")


def encode_batch_stream(batches: Sequence[bytes]) -> bytes:
    """Each batch as an RLP byte string, back to back."""
    return b"".join(encode_rlp(b) for b in batches)


@dataclass(frozen=True, slots=True)
class Decompressed:
    """A channel's decompressed bytes (at most the limit) and how the stream ended.

    `error` is None when the stream ended cleanly within the limit; otherwise it says why
    decompression stopped ("truncated", "corrupt: ...", "over limit"), and `data` holds
    what was produced before that point.
    """

    compression: str
    data: bytes
    error: str | None


def compression_of(data: bytes, allow_brotli: bool = True) -> str:
    """zlib or brotli, from the first byte (channel.go BatchReader); brotli only from Fjord."""
    if not data:
        raise DecodeError("channel_version: empty channel at offset 0")
    first = data[0]
    if first & 0x0F in (ZLIB_CM8, ZLIB_CM15):
        return "zlib"
    if first == CHANNEL_VERSION_BROTLI:
        if not allow_brotli:
            raise DecodeError("channel_version: brotli channel (0x01) before Fjord at offset 0")
        return "brotli"
    raise DecodeError(f"channel_version: unknown compression type byte {first:#04x} at offset 0")


def decompress_channel(data: bytes, limit: int = MAX_RLP_BYTES_PER_CHANNEL, allow_brotli: bool = True) -> Decompressed:
    """Decompress channel data incrementally, never holding more than `limit` bytes."""
    compression = compression_of(data, allow_brotli)
    if compression == "zlib":
        out, error = _bounded(_ZlibStep, data, limit)
    else:
        out, error = _bounded(_BrotliStep, data[1:], limit)
    return Decompressed(compression, out, error)


class _ZlibStep:
    """One zlib stream; `feed` returns output, at most `room` bytes past what it had."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj()

    def feed(self, chunk: bytes, room: int) -> bytes:
        # Output stops at `room`; reaching it means the stream exceeds the caller's limit,
        # so the unconsumed tail is never needed.
        return self._d.decompress(chunk, room)

    @property
    def finished(self) -> bool:
        return self._d.eof


class _BrotliStep:
    """One brotli stream; output is capped per call by output_buffer_limit."""

    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, chunk: bytes, room: int) -> bytes:
        out = bytearray(self._d.process(chunk, output_buffer_limit=room))
        while len(out) <= room and not self._d.is_finished() and not self._d.can_accept_more_data():
            out += self._d.process(b"", output_buffer_limit=room - len(out) + 1)
        return bytes(out)

    @property
    def finished(self) -> bool:
        return self._d.is_finished()


def _bounded(make: Callable[[], _ZlibStep | _BrotliStep], data: bytes, limit: int) -> tuple[bytes, str | None]:
    """Run a decompressor over `data` in chunks, checking the output size after each step.

    If a chunk is corrupt, the chunk is replayed byte by byte on a fresh decompressor so
    that output produced before the bad byte is kept (Python drops a failing call's output).
    """
    dec = make()
    out = bytearray()
    pos = 0
    while pos < len(data) and not dec.finished:
        chunk = data[pos : pos + _CHUNK]
        try:
            out += dec.feed(chunk, limit + 1 - len(out))
        except (zlib.error, brotli.error) as exc:
            return _salvage(make, data, pos, limit, f"corrupt: {exc}")
        pos += len(chunk)
        if len(out) > limit:
            return bytes(out[:limit]), "over limit"
    if not dec.finished:
        return bytes(out), "truncated"
    return bytes(out), None


def _salvage(make: Callable[[], _ZlibStep | _BrotliStep], data: bytes, bad: int, limit: int, why: str):
    dec = make()
    out = bytearray(dec.feed(data[:bad], limit + 1)) if bad else bytearray()
    for i in range(bad, min(bad + _CHUNK, len(data))):
        try:
            out += dec.feed(data[i : i + 1], limit + 1 - len(out))
        except (zlib.error, brotli.error):
            break
        if len(out) > limit:
            return bytes(out[:limit]), "over limit"
    return bytes(out), why


# --- batches in the stream -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRead:
    """What a channel yields: its encoded batches in order (each `batch_version ++ content`),
    and why reading stopped early, if it did (then the batches before that point are kept)."""

    compression: str
    batches: tuple[bytes, ...]
    error: str | None
    leftover: int = 0
    """Decompressed bytes after the last whole batch: 0 when a truncated stream was cut exactly
    between batches, so that nothing readable was lost."""


def read_batch_stream(stream: bytes, stream_error: str | None = None) -> tuple[tuple[bytes, ...], str | None]:
    """Split decompressed bytes into RLP byte strings, stopping at the first bad item."""
    batches: list[bytes] = []
    pos = 0
    while pos < len(stream):
        try:
            is_list, start, end = rlp_header(stream, pos, "batch")
        except DecodeError as exc:
            return tuple(batches), stream_error or str(exc)
        if is_list:
            return tuple(batches), f"batch: expected an RLP byte string, got a list at offset {pos}"
        batches.append(bytes(stream[start:end]))
        pos = end
    return tuple(batches), stream_error


def decode_channel(data: bytes, limit: int = MAX_RLP_BYTES_PER_CHANNEL, allow_brotli: bool = True) -> ChannelRead:
    """Channel data -> the encoded batches it carries (ChannelInReader)."""
    d = decompress_channel(data, limit, allow_brotli)
    batches, error = read_batch_stream(d.data, d.error)
    used = sum(len(encode_rlp(b)) for b in batches)
    return ChannelRead(d.compression, batches, error, len(d.data) - used)
