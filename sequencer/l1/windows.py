"""Posting windows: which sealed shared blocks the next L1 posting covers, and the bytes it carries.

Sans-IO: plain values in, plain values out (the batcher shell does the reading and the sending).

Window boundaries are the multiples of `window_ms` of shared-block time. A posting that starts at
height h (the inbox's nextHeight), whose block has timestamp t_h, ends at a cut time T with

    t_h < T <= E,   E = (t_h // window_ms + 1) * window_ms     (the next boundary)
    T a multiple of L = lcm(every rollup's block time)          (no rollup block straddles T)

and covers the blocks h.. with timestamp < T. T is final once a sealed block with timestamp >= T
exists. The posting closes at E (by time), or earlier by size: when the batch data up to the
latest final cut would exceed `max_window_bytes`, it closes at the latest cut that fits (at the
first cut if none fits: a window holds at least one block).

A batcher that fell behind (an L1 slower than the windows, say 12 s blocks and 2 s windows, or
after downtime) catches up by merging: E moves to the latest boundary already passed by a sealed
block, at most `catch_up_periods` windows after the first, then back to the first boundary after
the last block it covers, so a posted window's cut is found again from its own blocks
(`replay_window`). Merged or not, the rollups get the same blocks.

Per rollup, with its cursor c:

    blocks  = group_rollup_blocks(window, rid, RollupTiming(0, bt), first_number=c.next_number,
                                  last_number=(T - 1) // bt, prev_origin=c.prev_l1_origin)
    blocks  = place_forced(blocks, forced_queue[rid], c.forced_applied)       (rule F)
    batch   = encode_window_batch(fmt, rid, bt, blocks, c)
    cursor' = c.after(blocks)

so rollup blocks with no shared block (a sequencer gap) are posted as empty blocks. Every rollup
gets a batch in every posting, rollup ids ascending. forcedRead per rollup is
min(queue length, max(cursor'.forced_applied, on-chain forcedRead, #entries with deadline < head + 1)),
the last term because the inbox refuses a posting while an entry with deadline < block.number is unread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rollup_adapters.base import RollupBlock, RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import Cursor, ForcedTx, encode_window_batch, place_forced
from sequencer.core.signing import block_hash
from sequencer.core.types import Hash32, RollupId, SharedBlock
from sequencer.errors import BadInput

from .inbox import LegacyWindowTuple as WindowTuple
from .inbox import window_proof

DEFAULT_WINDOW_MS = 2000
"""Posting window length in shared-block time, milliseconds."""
DEFAULT_MAX_WINDOW_BYTES = 100_000
"""Batch data (all rollups) above which a posting closes early, bytes."""
DEFAULT_CATCH_UP_PERIODS = 6
"""Windows one posting may merge when the batcher is behind (6 x 2 s covers a 12 s L1 block)."""


@dataclass(frozen=True, slots=True)
class PostedRollup:
    """A rollup the batcher posts for: its id, batch format and block time (ms)."""

    rollup_id: RollupId
    fmt: str
    block_time_ms: int


@dataclass(frozen=True, slots=True)
class WindowParams:
    """How postings are cut. `window_ms` must be a multiple of every rollup's block time."""

    rollups: tuple[PostedRollup, ...]
    window_ms: int = DEFAULT_WINDOW_MS
    max_window_bytes: int = DEFAULT_MAX_WINDOW_BYTES
    catch_up_periods: int = DEFAULT_CATCH_UP_PERIODS

    def __post_init__(self) -> None:
        if not self.rollups:
            raise BadInput("batcher: no rollups to post for")
        ids = [r.rollup_id for r in self.rollups]
        if ids != sorted(set(ids)):
            raise BadInput("batcher: rollups must be sorted by id without duplicates")
        if self.window_ms <= 0 or self.max_window_bytes <= 0 or self.catch_up_periods <= 0:
            raise BadInput("batcher: window_ms, max_window_bytes and catch_up_periods must be positive")
        for r in self.rollups:
            if r.block_time_ms <= 0 or self.window_ms % r.block_time_ms:
                raise BadInput(f"batcher: window_ms {self.window_ms} is not a multiple of rollup {r.rollup_id}'s "
                               f"block time {r.block_time_ms} ms")

    @property
    def cut_step_ms(self) -> int:
        """L: the lcm of the block times; every cut is a multiple of it."""
        return math.lcm(*(r.block_time_ms for r in self.rollups))


@dataclass(frozen=True, slots=True)
class L1View:
    """What the planner needs from L1: the head, each rollup's forced queue (ordered by seq) and forcedRead."""

    head: int
    forced: Mapping[RollupId, Sequence[ForcedTx]]
    forced_read: Mapping[RollupId, int]


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """One posting: shared blocks first_height..last_height up to cut time `end_ms`.

    `batches[i]` / `forced_read[i]` belong to `rollup_ids[i]`; `cursors` hold each rollup's
    derivation position after the window; `rollup_blocks` are the blocks the batches encode.
    """

    first_height: int
    last_height: int
    end_ms: int
    headers_hash: Hash32
    proof: WindowTuple
    rollup_ids: tuple[RollupId, ...]
    batches: tuple[bytes, ...]
    forced_read: tuple[int, ...]
    cursors: Mapping[RollupId, Cursor]
    rollup_blocks: Mapping[RollupId, tuple[RollupBlock, ...]]

    @property
    def block_count(self) -> int:
        return self.last_height - self.first_height + 1

    @property
    def batch_bytes(self) -> int:
        return sum(len(b) for b in self.batches)


def genesis_cursors(params: WindowParams, first_block: SharedBlock) -> dict[RollupId, Cursor]:
    """Each rollup's cursor before height 0: its first rollup block is the one holding block 0."""
    return {r.rollup_id: Cursor(first_block.header.timestamp_ms // r.block_time_ms) for r in params.rollups}


def window_end(params: WindowParams, first: SharedBlock) -> int:
    """E: the first window boundary after the posting's first block."""
    return (first.header.timestamp_ms // params.window_ms + 1) * params.window_ms


def max_window_end(params: WindowParams, first: SharedBlock) -> int:
    """The furthest a posting starting at `first` may reach when catching up."""
    return window_end(params, first) + (params.catch_up_periods - 1) * params.window_ms


def posting_end(params: WindowParams, blocks: Sequence[SharedBlock]) -> int:
    """E for a posting starting at blocks[0], given the sealed blocks known (see the module docstring)."""
    w = params.window_ms
    end = window_end(params, blocks[0])
    latest = min(blocks[-1].header.timestamp_ms // w * w, max_window_end(params, blocks[0]))
    if latest > end:
        last_member = max(b.header.timestamp_ms for b in blocks if b.header.timestamp_ms < latest)
        end = (last_member // w + 1) * w
    return end


def candidate_cuts(params: WindowParams, blocks: Sequence[SharedBlock]) -> list[int]:
    """The final cut times T (ascending) a posting starting at blocks[0] may end at, given these sealed blocks."""
    if not blocks:
        return []
    step = params.cut_step_ms
    t0 = blocks[0].header.timestamp_ms
    limit = min(posting_end(params, blocks), blocks[-1].header.timestamp_ms // step * step)
    return list(range((t0 // step + 1) * step, limit + 1, step))


@dataclass(frozen=True, slots=True)
class _Encoded:
    count: int
    batches: tuple[bytes, ...]
    blocks: dict[RollupId, tuple[RollupBlock, ...]]
    cursors: dict[RollupId, Cursor]

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.batches)


def encode_cut(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
               forced: Mapping[RollupId, Sequence[ForcedTx]], end_ms: int) -> _Encoded:
    """Every rollup's batch for the posting of `blocks` (from the first) that ends at `end_ms`."""
    members = [b for b in blocks if b.header.timestamp_ms < end_ms]
    if not members:
        raise BadInput(f"no shared block before cut {end_ms}")
    batches = []
    out_blocks: dict[RollupId, tuple[RollupBlock, ...]] = {}
    out_cursors: dict[RollupId, Cursor] = {}
    for r in params.rollups:
        c = cursors[r.rollup_id]
        timing = RollupTiming(0, r.block_time_ms)
        grouped = group_rollup_blocks(members, r.rollup_id, timing, first_number=c.next_number,
                                      last_number=timing.window_of(end_ms - 1), prev_origin=c.prev_l1_origin)
        placed = place_forced(grouped, forced.get(r.rollup_id, ()), c.forced_applied)
        batches.append(encode_window_batch(r.fmt, r.rollup_id, r.block_time_ms, placed, c))
        out_blocks[r.rollup_id] = tuple(placed)
        out_cursors[r.rollup_id] = c.after(placed)
    return _Encoded(len(members), tuple(batches), out_blocks, out_cursors)


def forced_read_after(queue: Sequence[ForcedTx], applied: int, on_chain: int, l1_head: int) -> int:
    """The forcedRead to report: rule-F applied, never backwards, covering every entry overdue at head + 1."""
    landing = l1_head + 1
    overdue = 0
    while overdue < len(queue) and queue[overdue].deadline < landing:
        overdue += 1
    return min(len(queue), max(applied, on_chain, overdue))


def plan_window(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
                l1: L1View) -> WindowPlan | None:
    """The next posting, or None while it is still open.

    `blocks` are consecutive sealed blocks starting at the inbox's nextHeight (as many as known);
    `cursors` each rollup's derivation position after the last posted window.
    """
    cuts = candidate_cuts(params, blocks)
    if not cuts:
        return None
    end = posting_end(params, blocks)
    encoded = {cuts[-1]: encode_cut(params, blocks, cursors, l1.forced, cuts[-1])}
    if encoded[cuts[-1]].size <= params.max_window_bytes:
        if cuts[-1] != end:
            return None  # fits so far: wait for the boundary (or for more data to close it by size)
        chosen = cuts[-1]
    else:
        # Binary search the latest cut that fits; the first cut if none does.
        lo, hi = 0, len(cuts) - 1  # invariant: cuts[hi] does not fit
        chosen = cuts[0]
        while lo < hi:
            mid = (lo + hi) // 2
            enc = encoded.setdefault(cuts[mid], encode_cut(params, blocks, cursors, l1.forced, cuts[mid]))
            if enc.size <= params.max_window_bytes:
                chosen = cuts[mid]
                lo = mid + 1
            else:
                hi = mid
    enc = encoded.get(chosen) or encode_cut(params, blocks, cursors, l1.forced, chosen)
    window = blocks[: enc.count]
    ids = tuple(r.rollup_id for r in params.rollups)
    forced_read = tuple(
        forced_read_after(l1.forced.get(rid, ()), enc.cursors[rid].forced_applied, l1.forced_read.get(rid, 0), l1.head)
        for rid in ids
    )
    last = window[-1]
    return WindowPlan(
        first_height=window[0].height,
        last_height=last.height,
        end_ms=chosen,
        headers_hash=block_hash(last.header),
        proof=window_proof([b.header for b in window], last.signature),
        rollup_ids=ids,
        batches=enc.batches,
        forced_read=forced_read,
        cursors=enc.cursors,
        rollup_blocks=enc.blocks,
    )


def replay_window(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
                  forced: Mapping[RollupId, Sequence[ForcedTx]], batch_hashes: Sequence[Hash32],
                  hash_fn: Callable[[bytes], Hash32]) -> dict[RollupId, Cursor] | None:
    """Rebuild the cursors after an already posted window of exactly `blocks`.

    Tries every cut the planner could have chosen (the time boundary first) and returns the cursors
    of the one whose batches hash (with `hash_fn`, keccak256) to the posted `batch_hashes`; None if
    no cut reproduces them (the window was not posted by these rules).
    """
    step = params.cut_step_ms
    t_last = blocks[-1].header.timestamp_ms
    end = (t_last // params.window_ms + 1) * params.window_ms  # closed by time: the boundary after its last block
    cuts = [end, *range(end - step, t_last, -step)]
    for cut in cuts:
        enc = encode_cut(params, blocks, cursors, forced, cut)
        if [hash_fn(b) for b in enc.batches] == list(batch_hashes):
            return enc.cursors
    return None
