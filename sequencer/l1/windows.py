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

so rollup blocks with no shared block (a sequencer gap) are posted as empty blocks. A posting lists
the rollups the batcher serves that the registry has active (L1View.active), ids ascending; each
listed rollup gets a batch, and forcedTo = the number of its forced entries enqueued at an L1 block
<= the window's L1 origin (the last header's), which is exactly what rule F applied
(derivation.forced_to_after; the inbox checks the same count). A rollup left out (paused on L1, or
its batch could not be encoded) keeps its cursor, and the next posting that lists it groups its
blocks from every shared block since its last listed window (`pending`, the earlier windows'
blocks, then this one's), so the transactions signed while it was out are carried, as the firm
node checks them against those windows' witness blocks (derivation rule 6).
A rollup whose batch cannot be encoded (or whose rule-F count disagrees) is left out of the posting
with the reason in `WindowPlan.left_out`: one rollup never stops the others' postings.

The inbox takes a window only if its L1 origin is postable (docs/settlement.md section 3): before
the landing block (head + 1), at most `max_origin_lag` behind it, and (when the caller gives the
canonical hashes) the L1's block at that number. A window whose natural cut ends at a block with
an unpostable origin (the sequencer's L1 was down, or L1 reorged under it) is extended to the first
later boundary whose last block is postable, so stale blocks ride in a window that ends fresh; the
cut is still the boundary after its last block, so `replay_window` finds it. No window holds more
than `max_window_blocks` blocks (the posting closes early, as by size).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rollup_adapters.base import RollupBlock, RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import Cursor, ForcedTx, encode_window_batch, forced_to_after, place_forced
from sequencer.core.signing import block_hash
from sequencer.core.types import BlockHeader, Hash32, RollupId, SharedBlock
from sequencer.core.window import WindowCommitment, build_window, encode_witness
from sequencer.errors import BadInput, SharedSeqError

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


DEFAULT_MAX_ORIGIN_LAG = 255
"""SequencerInbox.MAX_ORIGIN_LAG: the most any inbox allows (the batcher reads the deployed one)."""
DEFAULT_MAX_WINDOW_BLOCKS = 4096
"""SequencerInbox.MAX_WINDOW_BLOCKS (the batcher reads the deployed maxWindowBlocks)."""


@dataclass(frozen=True, slots=True)
class L1View:
    """What the planner needs from L1: the head, each rollup's forced queue (ordered by seq), which
    served rollups are active (None: all), the inbox's bounds, and canonical L1 block hashes by
    number for the origins in question (None: not checked)."""

    head: int
    forced: Mapping[RollupId, Sequence[ForcedTx]]
    active: frozenset[RollupId] | None = None
    max_origin_lag: int = DEFAULT_MAX_ORIGIN_LAG
    max_window_blocks: int = DEFAULT_MAX_WINDOW_BLOCKS
    origin_hashes: Mapping[int, Hash32] | None = None
    head_time_ms: int | None = None
    catch_up_after_ms: int | None = None

    def is_catch_up(self, header: BlockHeader) -> bool:
        """A window ending at `header` is a catch-up window (SequencerInbox.isLive false) in any block
        after the head: its last block is older than catchUpAfterMs at the head's timestamp already."""
        if self.head_time_ms is None or self.catch_up_after_ms is None:
            return False
        return header.timestamp_ms + self.catch_up_after_ms < self.head_time_ms


def origin_problem(l1: L1View, header: BlockHeader) -> str | None:
    """Why the inbox would refuse a window ending at `header` if it landed in block head + 1 (None: it would not)."""
    landing = l1.head + 1
    origin = header.l1_origin_number
    if origin >= landing:
        return f"L1 origin {origin} is not before the landing block {landing} (the L1 view lags the sequencer's)"
    catch_up = l1.is_catch_up(header)
    if landing - origin > l1.max_origin_lag and not catch_up:
        return f"L1 origin {origin} is {landing - origin} blocks behind the landing block, the inbox allows " \
               f"{l1.max_origin_lag}"
    # The inbox checks the hash of a live window's origin, and of a catch-up window's while the EVM has it.
    checked = landing - origin <= 256 if catch_up else True
    if checked and l1.origin_hashes is not None and l1.origin_hashes.get(origin) != header.l1_origin_hash:
        return f"L1 origin {origin}: its hash is not the L1 block's (an L1 reorg)"
    return None


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """One posting: shared blocks first_height..last_height up to cut time `end_ms`.

    `batches[i]` / `forced_to[i]` belong to `rollup_ids[i]` (the listed rollups); `cursors` hold every
    served rollup's derivation position after the window (unchanged for one left out);
    `rollup_blocks` are the blocks the batches encode; `left_out` names each served, active rollup
    that could not be listed and why; `extended` says the window was closed late to end at a block
    with a postable L1 origin.
    """

    first_height: int
    last_height: int
    end_ms: int
    blocks: tuple[SharedBlock, ...]
    rollup_ids: tuple[RollupId, ...]
    batches: tuple[bytes, ...]
    forced_to: tuple[int, ...]
    cursors: Mapping[RollupId, Cursor]
    rollup_blocks: Mapping[RollupId, tuple[RollupBlock, ...]]
    left_out: Mapping[RollupId, str]
    extended: bool = False

    @property
    def block_count(self) -> int:
        return self.last_height - self.first_height + 1

    @property
    def batch_bytes(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def last_block_hash(self) -> Hash32:
        return block_hash(self.blocks[-1].header)


def commit_window(plan: WindowPlan, batch_hashes: Sequence[Hash32]) -> tuple[WindowCommitment, bytes]:
    """The Window the sequencer signs for `plan` and the witness it commits to (docs/settlement.md 1, 5).
    `batch_hashes[i]`: keccak256 of batches[i], or its blobs' hash for postWindowBlobs."""
    witness = encode_witness(plan.blocks)
    return build_window(plan.blocks, plan.rollup_ids, batch_hashes, plan.forced_to, witness), witness


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
    ids: tuple[RollupId, ...]
    batches: tuple[bytes, ...]
    forced_to: tuple[int, ...]
    blocks: dict[RollupId, tuple[RollupBlock, ...]]
    cursors: dict[RollupId, Cursor]
    left_out: dict[RollupId, str]

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.batches)


def encode_cut(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
               forced: Mapping[RollupId, Sequence[ForcedTx]], end_ms: int,
               listed: frozenset[RollupId] | None = None,
               pending: Mapping[RollupId, Sequence[SharedBlock]] | None = None) -> _Encoded:
    """Every listed rollup's batch for the posting of `blocks` (from the first) that ends at `end_ms`.
    `pending[rid]`: the shared blocks of the windows since rollup rid's last listed one (it was left
    out of them), which its batch covers before this posting's own."""
    members = [b for b in blocks if b.header.timestamp_ms < end_ms]
    if not members:
        raise BadInput(f"no shared block before cut {end_ms}")
    origin = members[-1].header.l1_origin_number
    ids: list[RollupId] = []
    batches: list[bytes] = []
    forced_to: list[int] = []
    out_blocks: dict[RollupId, tuple[RollupBlock, ...]] = {}
    out_cursors: dict[RollupId, Cursor] = dict(cursors)
    left_out: dict[RollupId, str] = {}
    for r in params.rollups:
        if listed is not None and r.rollup_id not in listed:
            continue
        c = cursors[r.rollup_id]
        queue = forced.get(r.rollup_id, ())
        timing = RollupTiming(0, r.block_time_ms)
        covered = [*pending.get(r.rollup_id, ()), *members] if pending else members
        try:
            grouped = group_rollup_blocks(covered, r.rollup_id, timing, first_number=c.next_number,
                                          last_number=timing.window_of(end_ms - 1), prev_origin=c.prev_l1_origin)
            placed = place_forced(grouped, queue, c.forced_applied)
            batch = encode_window_batch(r.fmt, r.rollup_id, r.block_time_ms, placed, c)
        except (SharedSeqError, ValueError) as exc:
            # Derivation skips what a format cannot carry, so this should not happen; if it does,
            # this rollup waits (logged by the batcher) and the others still post.
            left_out[r.rollup_id] = f"its batch cannot be encoded: {type(exc).__name__}: {exc}"
            continue
        after = c.after(placed)
        expected = forced_to_after(queue, origin)
        if after.forced_applied != expected:
            left_out[r.rollup_id] = (f"rule F applied {after.forced_applied} forced entries, the inbox will count "
                                     f"{expected} at origin {origin}")
            continue
        ids.append(r.rollup_id)
        batches.append(batch)
        forced_to.append(expected)
        out_blocks[r.rollup_id] = tuple(placed)
        out_cursors[r.rollup_id] = after
    return _Encoded(len(members), tuple(ids), tuple(batches), tuple(forced_to), out_blocks, out_cursors, left_out)


def _member_count(blocks: Sequence[SharedBlock], end_ms: int) -> int:
    return bisect_left([b.header.timestamp_ms for b in blocks], end_ms)


def _extend_to_postable(params: WindowParams, blocks: Sequence[SharedBlock], count: int, l1: L1View) -> int | None:
    """The first final cut after the block `count` whose last member has a postable origin (None: none yet)."""
    w = params.window_ms
    times = [b.header.timestamp_ms for b in blocks]
    tried = set()
    for b in blocks[count:]:
        cut = (b.header.timestamp_ms // w + 1) * w
        if cut in tried:
            continue
        tried.add(cut)
        n = bisect_left(times, cut)
        if n >= len(blocks) or n > l1.max_window_blocks:
            return None  # not final yet, or too long for one window
        if origin_problem(l1, blocks[n - 1].header) is None:
            return cut
    return None


def plan_window(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
                l1: L1View, pending: Mapping[RollupId, Sequence[SharedBlock]] | None = None) -> WindowPlan | None:
    """The next posting, or None while it is still open (or cannot yet end at a postable origin).

    `blocks` are consecutive sealed blocks starting at the inbox's nextHeight (as many as known);
    `cursors` each served rollup's derivation position after the last posted window; `pending` the
    shared blocks before nextHeight that a rollup's batch has not covered yet (see `encode_cut`).
    """
    all_cuts = candidate_cuts(params, blocks)
    if not all_cuts:
        return None
    cuts = [c for c in all_cuts if _member_count(blocks, c) <= l1.max_window_blocks] or all_cuts[:1]
    closed_by_count = len(cuts) < len(all_cuts)
    end = posting_end(params, blocks)
    listed = l1.active

    def enc_at(cut: int) -> _Encoded:
        return encode_cut(params, blocks, cursors, l1.forced, cut, listed, pending)

    encoded = {cuts[-1]: enc_at(cuts[-1])}
    if encoded[cuts[-1]].size <= params.max_window_bytes:
        if cuts[-1] != end and not closed_by_count:
            return None  # fits so far: wait for the boundary (or for more data to close it by size)
        chosen = cuts[-1]
    else:
        # Binary search the latest cut that fits; the first cut if none does.
        lo, hi = 0, len(cuts) - 1  # invariant: cuts[hi] does not fit
        chosen = cuts[0]
        while lo < hi:
            mid = (lo + hi) // 2
            enc = encoded.setdefault(cuts[mid], enc_at(cuts[mid]))
            if enc.size <= params.max_window_bytes:
                chosen = cuts[mid]
                lo = mid + 1
            else:
                hi = mid
    extended = False
    count = _member_count(blocks, chosen)
    if origin_problem(l1, blocks[count - 1].header) is not None:
        later = _extend_to_postable(params, blocks, count, l1)
        if later is None:
            return None
        chosen, extended = later, True
    enc = encoded.get(chosen) or enc_at(chosen)
    window = tuple(blocks[: enc.count])
    return WindowPlan(
        first_height=window[0].height,
        last_height=window[-1].height,
        end_ms=chosen,
        blocks=window,
        rollup_ids=enc.ids,
        batches=enc.batches,
        forced_to=enc.forced_to,
        cursors=enc.cursors,
        rollup_blocks=enc.blocks,
        left_out=enc.left_out,
        extended=extended,
    )


def replay_window(params: WindowParams, blocks: Sequence[SharedBlock], cursors: Mapping[RollupId, Cursor],
                  forced: Mapping[RollupId, Sequence[ForcedTx]], rollup_ids: Sequence[RollupId],
                  batch_hashes: Sequence[Hash32], hash_fn: Callable[[bytes], Hash32],
                  pending: Mapping[RollupId, Sequence[SharedBlock]] | None = None) -> dict[RollupId, Cursor] | None:
    """Rebuild the cursors after an already posted window of exactly `blocks` listing `rollup_ids`.

    Tries every cut the planner could have chosen (the time boundary first) and returns the cursors
    of the one whose batches hash (with `hash_fn`, keccak256) to the posted `batch_hashes`; None if
    no cut reproduces them (the window was not posted by these rules, or lists a rollup not served).
    """
    listed = frozenset(rollup_ids)
    if not listed <= {r.rollup_id for r in params.rollups}:
        return None
    step = params.cut_step_ms
    t_last = blocks[-1].header.timestamp_ms
    end = (t_last // params.window_ms + 1) * params.window_ms  # closed by time: the boundary after its last block
    cuts = [end, *range(end - step, t_last, -step)]
    for cut in cuts:
        enc = encode_cut(params, blocks, cursors, forced, cut, listed, pending)
        if enc.ids == tuple(rollup_ids) and [hash_fn(b) for b in enc.batches] == list(batch_hashes):
            return enc.cursors
    return None
