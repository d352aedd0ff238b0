"""Rollup blocks <-> Nitro batches: the batch poster's job and its inverse (arbnode/batch_poster.go).

    batch  = 0x00 ++ brotli(segment_stream)                              (payload; sequencer_message.py)
    stream = block_segments*
    block_segments = [advance_timestamp(delta_s)] [advance_l1_block(delta)]  when the block moves them
                     delayed_message * len(block.forced)         forced txs, via the delayed inbox
                     l2_message(Batch[SignedTx(tx) for tx in block.transactions])

Decisions (each documented where it matters):
- Block boundary: every rollup block is exactly one L2-message segment of kind Batch, even an empty one
  (`00 03`); Nitro makes one L2 block per L2 message, so an empty Batch is an empty block and the
  decoder sees every block. Any L2-message segment (e.g. a bare SignedTx) decodes as one block.
- Time: Nitro timestamps are whole seconds, `timestamp_ms // 1000`; decoding gives `seconds * 1000`.
  Like the poster, timestamp and L1 block start at 0 in every batch, so each batch's first block
  advances by its absolute values; neither may go backwards (BadInput).
- L1 origin: `l1_origin_number` is the message's L1 block number. The format carries no L1 hash:
  decoding takes `config.l1_origin_hashes[number]` when given, else the zero hash.
- Forced transactions live in the delayed inbox, not in the batch: a delayed segment only says "read
  the next one". Decoding takes them, in order, from `config.delayed_inbox` (raw txs, the first being
  delayed message `config.delayed_messages_read`); `after_delayed_messages` counts them.
- Block numbers are not carried: decoded blocks are numbered from `config.first_block_number`
  (default 0) in order.
- Batches are cut between blocks, never inside one, at `config.max_tx_bytes` (default 120,000)
  payload bytes, compressed with `config.brotli_quality` / `config.brotli_lgwin` (11 / 22).
- The 40-byte header (`config.headers`, one SequencerHeader or 5-tuple per payload, optional)
  is applied as inbox.go getNextMsg applies it: timestamps and L1 blocks clamped to its bounds,
  and virtual delayed reads after the last segment up to its after_delayed_messages (counted
  from `config.delayed_messages_read`, which is also the first entry of delayed_inbox).
- `config.reference` (default False) reads as a Nitro node does where it logs and goes on
  (inbox.py): a payload nitro cannot decompress is an empty batch, an invalid message or an L2
  message parse_l2.go rejects is an empty block, delayed reads after the last L2 message form
  blocks of their own. Without it those raise DecodeError: a batch of ours is never like that.
  Either way a zeroheavy payload is decoded, and a block can hold only signed transactions.

`config` is config.py NitroConfig, or a mapping of its field names (unknown keys refused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollup_adapters.base import RollupBlock
from rollup_adapters.spec import config_of
from sequencer.core.evm_tx import decode_transaction
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError, TooLarge

from .config import NitroConfig
from .inbox import OPEN_HEADER, ReadBatch, l2_transactions, read_messages, read_payload
from .l2_message import L2Batch, SignedTx, decode_l2_message, encode_l2_message, signed_transactions
from .limits import MAX_DECOMPRESSED_LEN, MAX_L2_MESSAGE_SIZE, MAX_SEGMENTS_PER_SEQUENCER_MESSAGE
from .segments import (
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    DelayedMessageSegment,
    L2MessageSegment,
    Segment,
    decode_segments,
    encode_segment,
    encode_segments,
)
from .sequencer_message import NEEDS_ZEROHEAVY, SequencerHeader, decode_payload, encode_brotli_payload


@dataclass(frozen=True, slots=True)
class SequencerBatch:
    """One batch as the poster submits it: the header the inbox will build, and the calldata payload."""

    header: SequencerHeader
    data: bytes
    block_count: int


@dataclass(frozen=True, slots=True)
class _Settings:
    max_bytes: int
    quality: int
    lgwin: int
    delayed_start: int


def _settings(config: NitroConfig) -> _Settings:
    return _Settings(
        max_bytes=int(config.max_tx_bytes),
        quality=int(config.brotli_quality),
        lgwin=int(config.brotli_lgwin),
        delayed_start=int(config.delayed_messages_read),
    )


def _block_message(block: RollupBlock) -> bytes:
    """The block's one L2 message: a Batch of SignedTx, checked so the decoder will accept it."""
    for i, tx in enumerate(block.transactions):
        try:
            decode_transaction(tx)
        except DecodeError as exc:
            raise BadInput(
                f"block {block.number} transaction {i}: not a signed EVM transaction: {exc}"
            ) from exc
    message = encode_l2_message(L2Batch(tuple(SignedTx(tx) for tx in block.transactions)))
    if len(message) > MAX_L2_MESSAGE_SIZE:
        raise TooLarge(f"block {block.number}: L2 message of {len(message)} bytes over {MAX_L2_MESSAGE_SIZE}")
    return message


def _check_order(blocks: Sequence[RollupBlock]) -> None:
    for prev, cur in zip(blocks, blocks[1:], strict=False):
        if cur.timestamp_ms // 1000 < prev.timestamp_ms // 1000:
            raise BadInput(f"block {cur.number}: timestamp goes backwards; Nitro time only advances")
        if cur.l1_origin_number < prev.l1_origin_number:
            raise BadInput(f"block {cur.number}: L1 origin goes backwards; Nitro L1 block only advances")


def _batch_segments(blocks: Sequence[RollupBlock], messages: Sequence[bytes]) -> list[Segment]:
    """Segments of one batch; time and L1 block restart at 0 (the reader resets them per batch)."""
    segments: list[Segment] = []
    timestamp = l1_block = 0
    for block, message in zip(blocks, messages, strict=True):
        seconds = block.timestamp_ms // 1000
        if seconds != timestamp:
            segments.append(AdvanceTimestampSegment(seconds - timestamp))
            timestamp = seconds
        if block.l1_origin_number != l1_block:
            segments.append(AdvanceL1BlockSegment(block.l1_origin_number - l1_block))
            l1_block = block.l1_origin_number
        segments.extend(DelayedMessageSegment() for _ in block.forced)
        segments.append(L2MessageSegment(message))
    return segments


def _largest_fit(count: int, fits: Callable[[int], bytes | None]) -> tuple[int, bytes]:
    """Largest k in 1..count with fits(k) not None: probe doubling (capped at count), then bisect, so a
    batch costs O(log n) compressions. Compressed size grows with k only roughly; taking the largest k
    found keeps every emitted batch within budget, if perhaps a block short of the fullest."""
    best = fits(1)
    if best is None:
        raise TooLarge("a single block does not fit in one batch")
    lo, hi = 1, count + 1
    probe = 2
    while lo < count:
        probe = min(probe, count)
        payload = fits(probe)
        if payload is None:
            hi = probe
            break
        lo, best, probe = probe, payload, probe * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (payload := fits(mid)) is not None:
            lo, best = mid, payload
        else:
            hi = mid
    return lo, best


def encode_batches(blocks: Sequence[RollupBlock],
                   config: NitroConfig | Mapping[str, Any] | None) -> list[SequencerBatch]:
    """Pack blocks, in order, into as few batches as the size budget allows."""
    s = _settings(config_of(NitroConfig, config))
    _check_order(blocks)
    messages = [_block_message(b) for b in blocks]
    out: list[SequencerBatch] = []
    delayed = s.delayed_start
    start = 0
    while start < len(blocks):

        def fits(k: int, start: int = start) -> bytes | None:
            segments = _batch_segments(blocks[start : start + k], messages[start : start + k])
            if len(segments) > MAX_SEGMENTS_PER_SEQUENCER_MESSAGE:
                return None
            if len(encode_segments(segments)) > MAX_DECOMPRESSED_LEN:
                return None
            payload = encode_brotli_payload(segments, s.quality, s.lgwin)
            return payload if len(payload) <= s.max_bytes else None

        try:
            k, payload = _largest_fit(len(blocks) - start, fits)
        except TooLarge as exc:
            raise TooLarge(f"block {blocks[start].number}: {exc} of {s.max_bytes} bytes") from None
        chunk = blocks[start : start + k]
        delayed += sum(len(b.forced) for b in chunk)
        header = SequencerHeader(
            min_timestamp=chunk[0].timestamp_ms // 1000,
            max_timestamp=chunk[-1].timestamp_ms // 1000,
            min_l1_block=chunk[0].l1_origin_number,
            max_l1_block=chunk[-1].l1_origin_number,
            after_delayed_messages=delayed,
        )
        out.append(SequencerBatch(header, payload, k))
        start += k
    return out


def encode_blocks(blocks: Sequence[RollupBlock], config: NitroConfig | Mapping[str, Any] | None) -> list[bytes]:
    """The batch poster's calldata `data` arguments (no 40-byte header)."""
    return [b.data for b in encode_batches(blocks, config)]


def _headers(config: NitroConfig, count: int) -> list[SequencerHeader] | None:
    raw = config.headers
    if raw is None:
        return None
    if len(raw) != count:
        raise BadInput(f"headers: {len(raw)} given for {count} payloads")
    out = []
    for h in raw:
        out.append(h if isinstance(h, SequencerHeader) else SequencerHeader(*(int(x) for x in h)))
    return out


def _strict_batch(payload: bytes, p_index: int) -> ReadBatch:
    """The payload's segments as the strict codec reads them (errors raise), zeroheavy decoded."""
    batch = decode_payload(payload)
    segments = batch.segments
    if batch.needs_reader == NEEDS_ZEROHEAVY:
        read = read_payload(payload)
        if read.stream is None:
            raise DecodeError(f"payload[{p_index}]: zeroheavy payload: {'; '.join(read.warnings)}")
        segments = decode_segments(read.stream)
    elif batch.needs_reader is not None:
        raise DecodeError(f"payload[{p_index}]: needs a {batch.needs_reader} reader to get its data")
    return ReadBatch(batch.header_byte, tuple(encode_segment(seg) for seg in segments))


def decode_blocks(payloads: Sequence[bytes], config: NitroConfig | Mapping[str, Any] | None) -> list[RollupBlock]:
    """Inverse of `encode_blocks` (see the module docstring for numbering, hashes, forced txs,
    headers and the `reference` reading)."""
    config = config_of(NitroConfig, config)
    number = int(config.first_block_number)
    inbox = config.delayed_inbox
    hashes = config.l1_origin_hashes or {}
    reference = bool(config.reference)
    headers = _headers(config, len(payloads))
    first_delayed = int(config.delayed_messages_read) if headers is not None else 0
    delayed_read = first_delayed
    pending: list[bytes] = []
    out: list[RollupBlock] = []

    def block(timestamp: int, l1_block: int, txs: Sequence[bytes]) -> None:
        nonlocal number, pending
        out.append(RollupBlock(number=number, timestamp_ms=timestamp * 1000, l1_origin_number=l1_block,
                               l1_origin_hash=hashes.get(l1_block, ZERO_HASH), transactions=tuple(txs),
                               forced=tuple(pending)))
        number += 1
        pending = []

    for p_index, payload in enumerate(payloads):
        if reference:
            batch = read_payload(payload)
            if batch.needs_reader is not None:
                raise DecodeError(f"payload[{p_index}]: needs a {batch.needs_reader} reader to get its data")
        else:
            batch = _strict_batch(payload, p_index)
        header = headers[p_index] if headers is not None else OPEN_HEADER
        messages, _notes = read_messages(batch, header, delayed_read)
        for m in messages:
            field = f"payload[{p_index}].segment[{m.segment}]"
            if m.kind == "delayed_message":
                index = (m.delayed_index or 0) - first_delayed
                if inbox is None or index >= len(inbox):
                    raise DecodeError(f"{field}: reads delayed message {index}, not in config delayed_inbox")
                pending.append(bytes(inbox[index]))
                delayed_read = (m.delayed_index or 0) + 1
                if reference:
                    block(m.timestamp, m.l1_block, ())  # nitro: one block per delayed message
                continue
            if m.kind == "invalid":
                if not reference:
                    raise DecodeError(f"{field}: nitro reads an invalid message here: {m.reason}")
                block(m.timestamp, m.l1_block, ())
                continue
            assert m.l2_message is not None
            if reference:
                parsed = l2_transactions(m.l2_message, m.timestamp)
                if parsed.unsigned:
                    raise DecodeError(f"{field}: an unsigned L2 transaction has no place in a rollup block")
                block(m.timestamp, m.l1_block, parsed.transactions)
            else:
                txs = signed_transactions(decode_l2_message(m.l2_message, field), field)
                for i, raw in enumerate(txs):
                    try:  # nitro would parse a high-s or oversized tx; a block of ours never holds one
                        decode_transaction(raw)
                    except DecodeError as exc:
                        raise DecodeError(f"{field}: transaction {i} is not one our rollups admit: {exc}") from exc
                block(m.timestamp, m.l1_block, txs)
        if headers is not None:
            delayed_read = max(delayed_read, header.after_delayed_messages)
    if pending:
        raise DecodeError(f"delayed_message: {len(pending)} delayed reads after the last L2 message")
    return out
