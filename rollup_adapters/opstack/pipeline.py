"""The OP Stack derivation stages from batcher transactions to batches, on the fork the
rollup config gives at the L1 inclusion time, keeping what op-node keeps when data is broken
(op-node/rollup/derive: frame_queue.go, channel_bank.go / channel_assembler.go,
channel_in_reader.go, batch.go, batches.go).

    payloads --frame queue--> frames --bank | assembler--> channels --BatchReader--> RLP strings
             --decodeTyped--> batches --ChannelInReader / batch checks--> kept batches

What op-node drops, and so does `derive_batches` (each drop is a `Skip` saying why):

    stage       what                                                   op-node
    batcher-tx  a payload whose frames do not all parse: whole payload  frame_queue.go loadNextFrames
    frame       frames the assembly rules ignore                        channel.go AddFrame, frame_queue.go
    channel     brotli before Fjord, unknown compression: whole channel channel_in_reader.go WriteChannel
    channel     a stream error or a batch that does not decode          channel_in_reader.go NextBatch
                (decodeTyped): the batches before it are kept, the rest ("skipping to next channel")
                of the channel is skipped
    batch       a span batch before Delta; a span batch whose           channel_in_reader.go NextBatch,
                transactions do not derive; a batch carrying a          span_batch.go DeriveSpanBatch,
                set-code transaction in a block before Isthmus:         batches.go (Isthmus check)
                that batch alone, the channel goes on, except that
                from Holocene a batches.go drop flushes the rest        batch_stage.go FlushChannel
                of the channel
    channel     a channel that times out: opened at L1 block o, still   channel_bank.go Read /
                unread at block n > o + ChannelTimeout (300 blocks, or  IngestFrame,
                the config's channel_timeout, before Granite; 50 from   channel_assembler.go
                Granite); its later frames are ignored (bank) or find   channelTimedOut
                no channel (Holocene assembler)

Channel timeouts need each batcher transaction's L1 inclusion block (`l1_blocks`); without
them nothing times out, and `Derived.channel_timeout` is None to say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.errors import BadInput, DecodeError

from .batches import Batch, SingularBatch, decode_channel_batch
from .chain_spec import LATEST, RollupConfig, all_forks_at_genesis
from .channel import Assembly, bank_channels, decode_channel, holocene_channels
from .frames import Frame, decode_batcher_tx
from .span_batch import SpanBatch
from .span_txs import SET_CODE_TX_TYPE, check_span_txs, tx_type_of
from .wire import encode_rlp


@dataclass(frozen=True, slots=True)
class ForkContext:
    """The rollup config and the L1 inclusion time that pick the rules (chain_spec.py)."""

    config: RollupConfig
    l1_time: int = LATEST

    @property
    def fork(self) -> str:
        return self.config.fork_at(self.l1_time)

    def active(self, fork: str) -> bool:
        return self.config.is_active(fork, self.l1_time)

    @property
    def max_rlp_bytes(self) -> int:
        return self.config.max_rlp_bytes_per_channel(self.l1_time)

    @property
    def channel_timeout(self) -> int:
        """chain_spec.go ChannelTimeout at the context's L1 time, in L1 blocks."""
        return self.config.channel_timeout_at(self.l1_time)


DEFAULT_CONTEXT = ForkContext(all_forks_at_genesis())
"""Every fork active: our own rollups, and the decoder when it is told nothing."""


@dataclass(frozen=True, slots=True)
class Skip:
    """Data op-node drops and goes on from: the stage, where in the input, and why."""

    stage: str
    where: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"stage": self.stage, "where": self.where, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class KeptBatch:
    """A batch the derivation keeps: its channel, its index in that channel, and the batch."""

    channel_id: bytes
    index: int
    batch: Batch


@dataclass(frozen=True, slots=True)
class Derived:
    """What the stages yield: the frames read, the batches kept, and everything skipped."""

    fork: str
    frames: tuple[Frame, ...]
    batches: tuple[KeptBatch, ...]
    incomplete: tuple[bytes, ...]
    skipped: tuple[Skip, ...]
    channel_timeout: int | None = None
    """The ChannelTimeout applied, in L1 blocks; None when the L1 blocks were not given."""


def parse_payloads(payloads: Sequence[bytes], skipped: list[Skip], strict: bool) -> list[tuple[Frame, ...]]:
    """Each payload's frames; a payload that does not parse is skipped whole (ParseFrames is
    all or nothing) and counts as a transaction without frames (its L1 block is still traversed,
    which matters to channel timeouts), or raises when `strict`."""
    out: list[tuple[Frame, ...]] = []
    for i, payload in enumerate(payloads):
        try:
            out.append(decode_batcher_tx(payload))
        except DecodeError as exc:
            if strict:
                raise
            skipped.append(Skip("batcher-tx", f"payload {i}", str(exc)))
            out.append(())
    return out


def check_l1_blocks(l1_blocks: Sequence[int | None] | None, count: int) -> list[int] | None:
    """The L1 inclusion block of each of `count` batcher transactions, or None if unknown.

    All or none: a timeout counts blocks between transactions, so one unknown block makes every
    later comparison unknown. Blocks must not decrease (op-node reads L1 in order)."""
    if l1_blocks is None or all(b is None for b in l1_blocks):
        return None
    if len(l1_blocks) != count:
        raise BadInput(f"l1_blocks: {len(l1_blocks)} L1 blocks for {count} batcher transactions")
    out: list[int] = []
    for i, b in enumerate(l1_blocks):
        if b is None:
            raise BadInput(f"l1_blocks: batcher transaction {i} has no L1 block; give one for every transaction "
                           "or for none")
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < 2**64:
            raise BadInput(f"l1_blocks: batcher transaction {i}: {b!r} is not a uint64 block number")
        if out and b < out[-1]:
            raise BadInput(f"l1_blocks: batcher transaction {i} at L1 block {b} comes after block {out[-1]}; "
                           "transactions must be in L1 order")
        out.append(b)
    return out


def assemble(txs: Sequence[Sequence[Frame]], ctx: ForkContext, l1_blocks: Sequence[int] | None = None) -> Assembly:
    """Holocene's one-channel assembler, or the channel bank before it (Canyon: first ready
    channel read, before: oldest only); channels time out when `l1_blocks` are known."""
    if ctx.active("holocene"):
        return holocene_channels(txs, ctx.max_rlp_bytes, l1_blocks, ctx.channel_timeout)
    return bank_channels(txs, ctx.config.max_channel_bank_size(ctx.l1_time), canyon=ctx.active("canyon"),
                         l1_blocks=l1_blocks, timeout=ctx.channel_timeout)


def read_channel(channel_id: bytes, data: bytes, ctx: ForkContext, skipped: list[Skip]) -> list[KeptBatch]:
    """One ready channel -> the batches kept from it (channel_in_reader.go NextBatch)."""
    cid = "0x" + channel_id.hex() if channel_id else "(input)"
    try:
        read = decode_channel(data, ctx.max_rlp_bytes, allow_brotli=ctx.active("fjord"))
    except DecodeError as exc:
        skipped.append(Skip("channel", f"channel {cid}", f"channel dropped: {exc}"))
        return []
    kept: list[KeptBatch] = []
    for index, raw in enumerate(read.batches):
        try:
            batch, trailing = decode_channel_batch(raw)
        except DecodeError as exc:
            skipped.append(Skip("channel", f"channel {cid} batch {index}",
                                f"rest of the channel skipped ({len(read.batches) - index} batches): {exc}"))
            return kept
        if trailing:
            skipped.append(Skip("batch", f"channel {cid} batch {index}",
                                f"{trailing} trailing bytes after the batch ignored (batch.go decodeTyped)"))
        drop = batch_check(batch, ctx)
        if drop is not None:
            if drop.batch_drop and ctx.active("holocene"):
                # batch_stage.go: from Holocene a dropped batch flushes the rest of its channel.
                rest = len(read.batches) - index - 1
                skipped.append(Skip("channel", f"channel {cid} batch {index}",
                                    f"{drop.reason}; from Holocene the rest of the channel ({rest} batches) is "
                                    "flushed (batch_stage.go)"))
                return kept
            skipped.append(Skip("batch", f"channel {cid} batch {index}", drop.reason))
            continue
        kept.append(KeptBatch(channel_id, index, batch))
    # A stream cut exactly after a whole batch loses nothing readable: op-node's next read
    # fails the same way, with no batch left to skip.
    if read.error is not None and (read.error != "truncated" or read.leftover):
        skipped.append(Skip("channel", f"channel {cid} batch {len(read.batches)}",
                            f"rest of the channel skipped: {read.error}"
                            + (f" ({read.leftover} bytes of a partial batch)" if read.leftover else "")))
    return kept


@dataclass(frozen=True, slots=True)
class Drop:
    """Why op-node drops one batch. `batch_drop`: a batches.go BatchDrop verdict, which from
    Holocene flushes the rest of the channel (batch_stage.go); the others never do."""

    reason: str
    batch_drop: bool = False


def batch_check(batch: Batch, ctx: ForkContext) -> Drop | None:
    """Why op-node drops this one batch, or None to keep it."""
    cfg = ctx.config
    if isinstance(batch, SingularBatch):
        if not cfg.is_active("isthmus", batch.timestamp) and any(
            tx_type_of(t) == SET_CODE_TX_TYPE for t in batch.transactions
        ):
            return Drop(f"set-code transaction in a block at {batch.timestamp}, before Isthmus (batches.go)", True)
        return None
    if not ctx.active("delta"):
        return Drop(f"span batch before Delta (L1 time {ctx.l1_time}; channel_in_reader.go)")
    try:
        check_span_txs(batch.txs)
    except DecodeError as exc:
        return Drop(f"span batch transactions do not derive (span_batch_txs.go fullTxs): {exc}")
    why = _span_set_code_check(batch, cfg)
    return None if why is None else Drop(why, True)


def _span_set_code_check(batch: SpanBatch, cfg: RollupConfig) -> str | None:
    if cfg.is_active("isthmus", cfg.genesis_l2_time + batch.rel_timestamp):
        return None  # every block of the span is at or after its first
    all_types = batch.txs.tx_types  # computed once: a property that builds a tuple
    pos = 0
    for i, count in enumerate(batch.block_tx_counts):
        ts = cfg.genesis_l2_time + batch.rel_timestamp + i * cfg.block_time
        types = all_types[pos : pos + count]
        pos += count
        if SET_CODE_TX_TYPE in types and not cfg.is_active("isthmus", ts):
            return f"set-code transaction in span block {i} at {ts}, before Isthmus (batches.go)"
    return None


def derive_batches(payloads: Sequence[bytes], ctx: ForkContext = DEFAULT_CONTEXT, *,
                   strict_payloads: bool = False, l1_blocks: Sequence[int | None] | None = None) -> Derived:
    """Batcher transaction payloads, in L1 order -> the batches op-node keeps, and the skips.
    `l1_blocks`: each payload's L1 inclusion block, which makes channels time out (module doc)."""
    blocks = check_l1_blocks(l1_blocks, len(payloads))
    skipped: list[Skip] = []
    txs = parse_payloads(payloads, skipped, strict_payloads)
    return derive_from_frames(txs, ctx, skipped, l1_blocks=blocks)


def derive_from_frames(txs: Sequence[Sequence[Frame]], ctx: ForkContext = DEFAULT_CONTEXT,
                       skipped: list[Skip] | None = None, *,
                       l1_blocks: Sequence[int | None] | None = None) -> Derived:
    """Frames grouped by batcher transaction (with each one's L1 block, if known) -> kept
    batches and skips."""
    blocks = check_l1_blocks(l1_blocks, len(txs))
    skips = [] if skipped is None else skipped
    assembly = assemble(txs, ctx, blocks)
    for d in assembly.dropped:
        what = f"channel 0x{d.channel_id.hex()}" + ("" if d.frame_number < 0 else f" frame {d.frame_number}")
        skips.append(Skip("frame", what, d.reason))
    kept: list[KeptBatch] = []
    for ch in assembly.ready:
        kept.extend(read_channel(ch.channel_id, ch.data, ctx, skips))
    frames = tuple(f for tx in txs for f in tx)
    return Derived(ctx.fork, frames, tuple(kept), assembly.incomplete, tuple(skips),
                   None if blocks is None else ctx.channel_timeout)


class NotAllowed(ValueError):
    """Something the target fork does not allow in what we encode."""


def check_encodable(batches: Sequence[Batch], encoded: Sequence[bytes], compression: str | None,
                    ctx: ForkContext) -> None:
    """Refuse to encode what op-node would drop at the context's fork (module doc table):
    brotli before Fjord, span batches before Delta, set-code transactions before Isthmus, a
    channel whose RLP stream exceeds MaxRLPBytesPerChannel. Raises NotAllowed (a ValueError)."""
    cfg = ctx.config
    if compression == "brotli" and not ctx.active("fjord"):
        raise NotAllowed(f"compression brotli needs Fjord; the fork at {ctx.l1_time} is {ctx.fork} (use zlib)")
    for b in batches:
        if isinstance(b, SpanBatch):
            if not ctx.active("delta"):
                raise NotAllowed(f"span batches need Delta; the fork at {ctx.l1_time} is {ctx.fork} (use singular)")
            why = _span_set_code_check(b, cfg)
        else:
            drop = batch_check(b, ctx)
            why = None if drop is None else drop.reason
        if why is not None:
            raise NotAllowed(why)
    size = sum(len(encode_rlp(e)) for e in encoded)
    if size > ctx.max_rlp_bytes:
        raise NotAllowed(f"channel RLP bytes {size} exceed MaxRLPBytesPerChannel {ctx.max_rlp_bytes} at {ctx.fork}")
