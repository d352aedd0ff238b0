"""The sequencer node: the async shell around the sans-IO core.

It owns the core, the block log, the slot clock and the subscribers:
- `admit_*` runs the core synchronously (placement is decided at once) and
  queues the records for the group-commit writer; the caller awaits the
  returned `Ticket`, which completes when the records are durable;
- the writer task drains everything queued meanwhile into one SQLite
  transaction (group commit), in queue order, and completes the tickets;
- the clock task seals one block per slot, persists it through the same
  queue (so a block is never durable before its records) and then publishes
  it to subscribers;
- reads (`read`) run on the node's own bounded thread pool, each thread with
  its own SQLite connection; the writer has its own thread and connection,
  so no number of readers can hold up a commit (rollup views and replays:
  views.py).
Backend-neutral (issue 10 item 5): only anyio (events, task groups, cancel
scopes, capacity limiters, an event loop token to hear from the threads),
never asyncio, so the engine runs on asyncio and on trio alike
(tests/unit/service/test_service_node.py runs it on both); only the network edge
(server.py, grpc_api.py, stream_submit.py: grpc.aio) needs asyncio.
Retries (issue 9): a resubmission of an admitted (rollup, tx_hash) admits
nothing and gets a Ticket whose `wait` returns the original receipt, taken
from the original's own ticket while its block is unsealed (`_unsealed`),
else rebuilt from the log. `lookup_transaction` (GetTransaction) answers from
the same places, and only from durable ones: a record counts once its group
commit has returned.
A write failure is fatal: the in-memory state may be ahead of the disk, so
the node stops rather than hand out receipts it cannot keep. It tells
`on_fatal` first (the server turns health NOT_SERVING), then raises the
StorageFault that names the cause.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NoReturn, ParamSpec, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.abc import TaskStatus

from sequencer.core.sequencer import AdmittedTx, BundleDuplicate, Duplicate, SequencerCore
from sequencer.core.types import Bundle, Hash32, Receipt, RollupId, SharedBlock, Transaction
from sequencer.errors import (
    AlreadyExists,
    BadInput,
    Critical,
    Fenced,
    LogUnavailable,
    NotLeader,
    SharedSeqError,
    StorageFault,
    Temporary,
)
from sequencer.store.sqlite_log import BlockLog, TxLocation

from .checkers import PolicyCheckers
from .errors import Refusal
from .metrics import Metrics
from .security import CLIENT, ClientShares

log = logging.getLogger("sharedseq.node")
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

READ_THREADS = 2
"""Threads for log reads (replays, GetBlock, GetTransaction). Bounded, and apart from the writer's
thread: readers queue behind each other, never in front of a commit."""
LAG_SAMPLE_S = 0.005
"""How often the lag monitor times the event loop (FloodPacer's saturation signal)."""
WRITER_BUSY_TAU_S = 0.25
"""Time constant of `writer_busy`, the writer's recent utilisation."""
BLOCK_CACHE_BYTES = 32 * 1024 * 1024
"""Recent sealed blocks kept in memory, by payload bytes (not count: a block can be 1 MB)."""


OFFLOAD_MIN_ITEMS = 16
"""Lists shorter than this are checked on the loop: the thread hop would cost more than it saves."""
SMALL_CHECKS_AWAY_PER_S = 2500
"""Checks a second past which short requests' checks go to the check workers too (`_use_workers`):
about 15 % of the loop's time if done here. Measured (`python -m sequencer.bench --only latency`, 2
cores): always in a worker, the p99 at 1,000 single messages/s was 50 ms against 11 inline (a
process hand-off per message on a busy machine); never, the loop saturated at 1,000 messages of 5 a
second (p50 2.4-3.3 s, against 0.08-1.1 s with them away). Chosen by the demand, not the loop's
lag: the lag falls as soon as the checks leave, and a choice by lag went back and forth."""


INDEX_CHUNK_ROWS = 1024
"""Records of sealed blocks moved into the txs index per commit (BlockLog.index_sealed): about a
block's worth under load, which is what a receipt arriving meanwhile waits for. Measured against 128
(`/tmp/prof/prof.py` lists of 100, interleaved runs): 81-97 against 103-122 µs of server CPU a
transaction, 9,000-10,400 against 7,500-8,800 tx/s (each commit rewrites every index page it touches,
and many small ones touch the same pages again); the flood's honest p99 15-17 ms either way."""
INDEX_BEHIND_ROWS = 2048
"""How far the deferred index may fall behind before it runs between group commits and not only
when the writer has nothing else: it bounds the tickets kept for lookups meanwhile."""
CHECKPOINT_EVERY_S = 0.2
"""How often, at most, the WAL is checkpointed (SequencerNode._checkpointer): about 1,000 pages
under a flood, what SQLite's automatic checkpoint would also have waited for."""
ALONE_RECORDS = 64
"""A ticket this long (a list, or a part of one) behind a short one is committed on its own
(`_commits`): the short one's receipt waits for the commits before it, not for this one's 1.5-15 ms."""


def origin_too_old(now_ms: int, origin_time_ms: int | None, max_drift_ms: int | None) -> bool:
    """Sequencer drift: a slot at `now_ms` may not be sealed on an L1 origin whose block timestamp is
    more than `max_drift_ms` older (None: no L1, or its limit unknown, so no limit)."""
    if origin_time_ms is None or max_drift_ms is None:
        return False
    return now_ms - origin_time_ms > max_drift_ms


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def _result(fut: Future[R]) -> R:
    """Wait for a thread pool's future on any anyio backend (what asyncio.wrap_future does on asyncio).

    The pool's thread wakes the event loop through the loop's token without waiting for it
    (`run_sync_soon`, as anyio's own BlockingPortal does): `anyio.from_thread.run_sync` would hold
    the thread until the loop ran, and `close`, on the loop, waits for the threads. A caller
    cancelled before a thread took the call unqueues it: it never runs."""
    token = anyio.lowlevel.current_token()
    done = anyio.Event()

    def wake(_: Future[R]) -> None:
        try:
            token.backend_class.run_sync_soon(done.set, (), token.native_token)
        except anyio.RunFinishedError:
            pass  # the loop is gone: nobody waits

    fut.add_done_callback(wake)
    try:
        await done.wait()
    except BaseException:
        fut.cancel()
        raise
    return fut.result()


@dataclass(slots=True)
class Ticket:
    """Admitted records; their signed receipts arrive once the records are durable.

    Receipts are signed by the writer, in its worker thread beside the
    SQLite commit, so signing never runs on the event loop."""

    records: tuple[AdmittedTx, ...]
    started: float
    done: anyio.Event = field(default_factory=anyio.Event)
    error: BaseException | None = None
    receipts: tuple[Receipt, ...] = ()
    retries: tuple[tuple[RollupId, Hash32], ...] = ()
    """Transactions that were admitted before (resubmitted): `wait` answers their original
    receipts after the new ones, in this order."""
    fetch: Callable[[RollupId, Hash32], Awaitable[Receipt]] | None = None

    @property
    def already_admitted(self) -> bool:
        """Nothing new: every transaction of the request had been admitted before."""
        return bool(self.retries) and not self.records

    async def wait(self) -> tuple[Receipt, ...]:
        await self.done.wait()
        if self.error is not None:
            raise Temporary("the sequencer could not persist the transaction; it was not admitted") from self.error
        if not self.retries:
            return self.receipts
        assert self.fetch is not None
        return self.receipts + tuple([await self.fetch(rid, h) for rid, h in self.retries])


@dataclass(slots=True)
class JoinedTicket(Ticket):
    """A list placed in parts (`SequencerNode.admit_checked`): every part's new receipts in order,
    then every part's resubmissions' original receipts, as one ticket of its own answers."""

    parts: tuple[Ticket, ...] = ()

    @classmethod
    def of(cls, parts: Sequence[tuple[Ticket, list[int | Refusal]]]) -> tuple[Ticket, list[int | Refusal]]:
        """The joined ticket and the list's results, renumbered into its answers."""
        tickets = tuple(t for t, _ in parts)
        new = sum(len(t.records) for t in tickets)
        joined = cls(tuple(r for t in tickets for r in t.records), tickets[0].started,
                     retries=tuple(k for t in tickets for k in t.retries), parts=tickets)
        results: list[int | Refusal] = []
        new_at = old_at = 0
        for t, part_results in parts:
            n = len(t.records)
            results += [r if isinstance(r, Refusal) else new_at + r if r < n else new + old_at + r - n
                        for r in part_results]
            new_at, old_at = new_at + n, old_at + len(t.retries)
        return joined, results

    async def wait(self) -> tuple[Receipt, ...]:
        new: list[Receipt] = []
        old: list[Receipt] = []
        for t in self.parts:
            got = await t.wait()
            new += got[:len(t.records)]
            old += got[len(t.records):]
        return (*new, *old)


@dataclass(frozen=True, slots=True)
class TxStatus:
    """A durable transaction as GetTransaction reports it: "preconfirmed", "sealed" or "firm"."""

    status: str
    location: TxLocation
    receipt: Receipt | None


@dataclass(slots=True)
class ListCheck:
    """A list's conversion and policy checks, started by `SequencerNode.check_list`: done (`checked`)
    or under way (`wait` returns them)."""

    wait: Callable[[], Awaitable[list[Transaction | Refusal]]] | None
    checked: list[Transaction | Refusal] = field(default_factory=list)


@dataclass(slots=True)
class _Batch:
    records: list[AdmittedTx] = field(default_factory=list)
    blocks: list[SharedBlock] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    meta: dict[str, bytes] = field(default_factory=dict)


def _commits(batch: _Batch) -> list[_Batch]:
    """Split what the queue holds into group commits, in admission order: records before blocks and
    meta, and a long ticket (ALONE_RECORDS or more: a long list, or a part of one) right behind a
    short one starting a commit of its own, so that short requests queued ahead of it are not held
    up by it (long tickets in a row stay in one commit: a stream of lists is not split up).

    A block's commit copies its height into the index and fsyncs every payload again (20-55 ms for
    a block of thousands), and a 250-record commit takes 5-15 ms under load: in one commit with
    them, every receipt queued meanwhile waited for that. Each commit is a prefix of what is left,
    so what is durable is always a prefix of what was admitted; a block's own records are durable
    before it, and a crash between two commits leaves records of the pending heights, which a
    restart rebuilds and seals again (`load_state`, `SequencerCore.restore`)."""
    commits: list[_Batch] = []
    cur = _Batch()
    for t in batch.tickets:
        if not t.records:
            continue
        if len(t.records) >= ALONE_RECORDS and cur.tickets and len(cur.tickets[-1].records) < ALONE_RECORDS:
            commits.append(cur)
            cur = _Batch()
        cur.records.extend(t.records)
        cur.tickets.append(t)
    if batch.blocks or batch.meta:
        if cur.records:
            commits.append(cur)
        cur = _Batch([], batch.blocks, [t for t in batch.tickets if not t.records], batch.meta)
    commits.append(cur)
    return commits


class SequencerNode:
    """See the module docstring."""

    def __init__(
        self,
        core: SequencerCore,
        block_log: BlockLog,
        *,
        metrics: Metrics | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        block_cache_bytes: int = BLOCK_CACHE_BYTES,
        read_threads: int = READ_THREADS,
    ) -> None:
        self.core = core
        self.log = block_log
        self.metrics = metrics or Metrics()
        self.clock_ms = clock_ms
        self.sleep = sleep
        """How the slot clock waits (seconds) for the next slot of `clock_ms`: a test hands both a fake clock."""
        self.l1_origin: tuple[int, Hash32] | None = None
        # Sequencer drift (docs/settlement.md 3): with an L1, no block is sealed on an origin whose L1
        # timestamp is more than max_origin_drift_ms behind the slot, so a block sealed during an L1
        # outage can never be one that the inbox's catch-up rule (ForcedEntryDue) refuses for ever.
        self.l1_origin_time_ms: int | None = None
        self.max_origin_drift_ms: int | None = None
        self._drift_stalled = False
        self.durable_height = core.head.height
        self.firm_height = -1
        self._cache: deque[tuple[SharedBlock, int]] = deque()
        self._cache_bytes = 0
        self._cache_max = block_cache_bytes
        # Threads of the node's own, not anyio.to_thread's: the calls queue on the threads' side, so a
        # thread takes the next one as it finishes (through a limiter, each call waits for the event
        # loop to hand it over: half the read throughput on a busy loop), and each thread keeps its
        # SQLite connection.
        self._reads = ThreadPoolExecutor(read_threads, thread_name_prefix="sharedseq-read")
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sharedseq-writer")
        self._prepare_thread = ThreadPoolExecutor(1, thread_name_prefix="sharedseq-seal")
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="sharedseq-checkpoint")
        self._committed = anyio.Event()
        self.on_fatal: Callable[[BaseException], Awaitable[None]] | None = None
        """Called once, before the writer raises, when the log cannot be written."""
        self.checkers: PolicyCheckers | None = None
        """Where policy checks run when there is enough to check (checkers.py; the server sets it,
        and closes it): None, always here."""
        self.shares = ClientShares(0, 0)
        """Each client's share of the pending blocks (security.py); the server sets the caps."""
        self.loop_lag_s = 0.0
        """How late the event loop runs a task that became ready, a moving average (`_lag_monitor`):
        with `writer_busy`, the API's saturation signal (security.FloodPacer)."""
        self._busy = (0.0, time.monotonic())  # (commit seconds decayed with WRITER_BUSY_TAU_S, as of when)
        self._index_debt = 0
        """Records of sealed blocks not yet in the log's txs index (a log that defers it)."""
        self._queue = _Batch()
        self._work = anyio.Event()
        self._new_block = anyio.Event()
        self._fatal: BaseException | None = None
        self._check_threads = ThreadPoolExecutor(2, thread_name_prefix="sharedseq-check")
        self._admitted = {rid: self.metrics.admitted.labels(str(rid)) for rid in core.rollups}
        # (rollup, tx_hash) -> (its ticket, its index there), from admission until its block is
        # durable; tickets in admission order, to forget them when their last block is published.
        self._unsealed: dict[tuple[RollupId, Hash32], tuple[Ticket, int]] = {}
        self._unsealed_tickets: deque[Ticket] = deque()
        # Records restored from the log at start (their receipts are in the log), until sealed.
        self._restored: set[tuple[RollupId, Hash32]] = set()
        self._restored_max = -1
        # Replicas (issue 12, sequencer/replication): a follower neither admits nor seals; it
        # publishes the blocks its log copy receives. A single sequencer always leads.
        self.leading = True
        self._term = 0
        self._writing_term = 0
        """Counts leadership changes: work queued in one term is never written in another."""
        self.leader_address: str | None = None
        self.on_resign: Callable[[BaseException], None] | None = None
        """Set by the replica shell: a write the replicated log refused or did not confirm makes the
        node stop leading (and tells the shell) instead of stopping the process."""

    @classmethod
    def open(cls, core: SequencerCore, block_log: BlockLog, **kw: object) -> SequencerNode:
        """Resume from the log: the same head, the same pending placements."""
        state = block_log.load_state(core.config.limits.dedupe_window_ms)
        core.restore(state.head, state.pending, state.recent)
        node = cls(core, block_log, **kw)  # type: ignore[arg-type]
        node._restored = {(r.rollup_id, r.tx_hash) for r in state.pending}
        node._restored_max = max((r.height for r in state.pending), default=-1)
        fh = block_log.get_meta("firm_height")
        node.firm_height = int(fh.decode()) if fh else -1
        node.metrics.firm_height.set(node.firm_height)
        node.metrics.height.set(node.durable_height)
        log.info("log opened: sealed height %d, %d admitted transactions pending",
                 state.head.height, len(state.pending))
        return node

    # -- submission --------------------------------------------------------

    def close(self) -> None:
        """Stop the check workers, the read and write threads, then close the log."""
        if self.checkers is not None:
            self.checkers.close()
        for pool in (self._reads, self._check_threads, self._prepare_thread, self._checkpoint_thread,
                     self._write_thread):
            pool.shutdown(wait=True, cancel_futures=True)
        self.log.close()

    async def read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a blocking read on the node's read pool (never anyio's default one, never the loop)."""
        return await _result(self._reads.submit(fn, *args, **kwargs))

    @staticmethod
    async def _on_thread(pool: ThreadPoolExecutor, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on `pool` and wait for it even if cancelled: a commit half-awaited at shutdown
        would have the log closed under it."""
        fut = pool.submit(fn, *args, **kwargs)
        with anyio.CancelScope(shield=True):
            result = await _result(fut)
        return result

    def _check_running(self) -> None:
        if self._fatal is not None:
            raise Temporary("the sequencer is stopping after a storage failure")
        if not self.leading:
            raise NotLeader(f"this sequencer replica follows; submit to the leader at {self.leader_address}"
                            if self.leader_address else "this sequencer replica follows and no leader is known "
                            "yet (a failover is under way); retry")

    def _enqueue(self, records: tuple[AdmittedTx, ...], started: float) -> Ticket:
        ticket = Ticket(records, started)
        if not records:
            # Nothing to make durable (a list that admitted nothing): answer at once. Queued, it
            # would wait for a commit that an idle writer never runs, and hold up its stream.
            ticket.done.set()
            return ticket
        self._queue.records.extend(records)
        self._queue.tickets.append(ticket)
        self._work.set()
        client = CLIENT.get()
        unsealed = self._unsealed
        for i, r in enumerate(records):
            self._admitted[r.rollup_id].inc()
            self.shares.add(client, r.height, 1, len(r.payload))
            unsealed[(r.rollup_id, r.tx_hash)] = (ticket, i)
        self._unsealed_tickets.append(ticket)
        return ticket

    def _retry(self, keys: Sequence[tuple[RollupId, Hash32]], started: float,
               fetch: Callable[[RollupId, Hash32], Awaitable[Receipt]] | None = None) -> Ticket:
        """The ticket of a resubmission: nothing to persist, the original receipts to answer."""
        ticket = Ticket((), started, retries=tuple(keys), fetch=fetch or self._fetch_receipt)
        ticket.done.set()
        return ticket

    async def _fetch_receipt(self, rollup_id: RollupId, tx_hash: Hash32) -> Receipt:
        return (await self.original_receipt(rollup_id, tx_hash))[0]

    async def original_receipt(self, rollup_id: RollupId, tx_hash: Hash32) -> tuple[Receipt, Hash32 | None]:
        """The receipt first given for an admitted transaction (and its bundle hash), waiting for
        it to be durable if it is not yet. Raises Temporary if the log could not persist it."""
        hit = self._unsealed.get((rollup_id, tx_hash))
        if hit is not None:
            ticket, i = hit
            # Its own receipts, not `wait()`: that would fetch the ticket's retries too, and a list
            # holding a transaction twice retries itself.
            await ticket.done.wait()
            if ticket.error is not None:
                raise Temporary("the sequencer could not persist the transaction; it was not admitted")
            return ticket.receipts[i], ticket.records[i].bundle_hash
        found = await self.read(self.log.find_receipts, tx_hash, rollup_id, (rollup_id, tx_hash) in self._restored)
        if not found:
            raise Temporary(f"transaction 0x{tx_hash.hex()} is being sealed; retry")
        newest = found[-1]  # an unsealed copy (re-admitted after the window) comes after a sealed one
        if newest.receipt is not None:
            return newest.receipt, newest.location.bundle_hash
        # Admitted by a version that did not store receipts: sign the same promise again, as a batch of one.
        loc = newest.location
        _, (receipt,) = await anyio.to_thread.run_sync(
            self.core.signer.sign_receipt_batch, [(loc.rollup_id, tx_hash, loc.height, loc.index)])
        return receipt, loc.bundle_hash

    async def lookup_transaction(self, tx_hash: Hash32, rollup_id: RollupId | None = None) -> TxStatus | None:
        """Where a transaction is, from durable state only, and its receipt (GetTransaction).

        Never "preconfirmed" before its group commit has returned; never None for a receipted
        transaction: its ticket stays in `_unsealed` until its block is durable and in the log."""
        rollups = [rollup_id] if rollup_id is not None else sorted(self.core.rollups)
        found: dict[RollupId, TxStatus] = {}
        for rid in rollups:
            hit = self._unsealed.get((rid, tx_hash))
            if hit is None:
                continue
            ticket, i = hit
            if not ticket.done.is_set() or ticket.error is not None or i >= len(ticket.receipts):
                continue  # not durable yet: not admitted yet
            r = ticket.records[i]
            status = "preconfirmed" if r.height > self.durable_height else \
                "firm" if r.height <= self.firm_height else "sealed"
            found[rid] = TxStatus(status, TxLocation(r.height, rid, r.index, r.bundle_hash), ticket.receipts[i])
        restored = any((rid, tx_hash) in self._restored for rid in rollups)
        for s in await self.read(self.log.find_receipts, tx_hash, rollup_id, restored):
            rid = s.location.rollup_id
            if rid in found and (found[rid].status == "preconfirmed" or s.sealed):
                continue  # the in-memory copy is at least as new
            status = "preconfirmed" if not s.sealed else \
                "firm" if s.location.height <= self.firm_height else "sealed"
            found[rid] = TxStatus(status, s.location, s.receipt)
        if len(found) > 1:
            raise BadInput(f"transaction 0x{tx_hash.hex()} is on rollups {sorted(found)}; set rollup_id")
        return next(iter(found.values()), None)

    def admit_transaction(self, tx: Transaction, *, validated: bool = False) -> Ticket:
        """Admit one transaction (raises BadInput/Overloaded); await the ticket."""
        self._check_running()
        self.shares.check(CLIENT.get(), 1, len(tx.payload))
        started = time.perf_counter()
        try:
            records = self.core.admit(tx, validated=validated)
        except Duplicate as dup:
            return self._retry([(dup.rollup_id, dup.tx_hash)], started)
        return self._enqueue(records, started)

    def start_transaction(self, tx: Transaction) -> Callable[[], Awaitable[Ticket]]:
        """Start admitting one transaction; awaiting what this returns places it (admit_transaction).
        With check workers up, the limits are checked now and the policy check goes to them, so the
        caller can read its next request meanwhile (stream_submit.py); else all happens on the await."""
        if not self._use_workers(1):
            async def now() -> Ticket:
                return self.admit_transaction(tx)
            return now
        assert self.checkers is not None
        self._check_running()
        self.core.validate(tx, policy=False)
        job = self.checkers.submit([(tx.rollup_id, tx.payload)])

        async def place() -> Ticket:
            (err,) = await job.wait()
            if err is not None:
                raise err
            return self.admit_transaction(tx, validated=True)
        return place

    def _use_workers(self, n: int) -> bool:
        """Whether a request's `n` policy checks go to the check workers (checkers.py) rather than run
        here: a long list's whenever they are up; a short request's only under a high demand (over
        SMALL_CHECKS_AWAY_PER_S), since a hand-off costs it more time than its checks when the
        loop has time for them."""
        if self.checkers is None:
            return False
        self.checkers.demand(n)
        if not self.checkers.ready:
            return False
        return n >= OFFLOAD_MIN_ITEMS or self.checkers.rate() > SMALL_CHECKS_AWAY_PER_S

    def admit_bundle(self, bundle: Bundle) -> Ticket:
        self._check_running()
        self.shares.check(CLIENT.get(), len(bundle.legs), sum(len(leg.payload) for leg in bundle.legs))
        started = time.perf_counter()
        try:
            records = self.core.admit_bundle(bundle)
        except BundleDuplicate:
            keys = [(leg.rollup_id, leg.tx_hash) for leg in bundle.legs]
            if not all(self.core.admitted(rid, h) for rid, h in keys):
                raise  # some legs are new: not a retry of this bundle
            return self._retry(keys, started, self._bundle_leg_fetch(bundle))
        ticket = self._enqueue(records, started)
        self.metrics.bundles.inc()
        return ticket

    def _bundle_leg_fetch(self, bundle: Bundle) -> Callable[[RollupId, Hash32], Awaitable[Receipt]]:
        """A retried bundle's originals, each checked to be a leg of this same bundle."""
        legs = {(leg.rollup_id, leg.tx_hash): i for i, leg in enumerate(bundle.legs)}

        async def fetch(rollup_id: RollupId, tx_hash: Hash32) -> Receipt:
            receipt, bundle_hash = await self.original_receipt(rollup_id, tx_hash)
            if bundle_hash != bundle.bundle_hash:
                raise AlreadyExists(f"bundle leg {legs[(rollup_id, tx_hash)]}: transaction 0x{tx_hash.hex()} was "
                                    "admitted outside this bundle")
            return receipt

        return fetch

    def _check_all(self, items: Sequence[T], convert: Callable[[T, int], Transaction]) -> list[Transaction | Refusal]:
        """Convert and policy-check each item; refusals are kept as small values (no traceback)."""
        return self._convert_all(items, convert, policy=True)[0]

    def _convert_all(self, items: Sequence[T], convert: Callable[[T, int], Transaction], *, policy: bool = False
                     ) -> tuple[list[Transaction | Refusal], list[int]]:
        """Convert each item and check it against the limits (and the policy with `policy`); any
        thread. The indices of the items that passed come second: what the policy checks are for."""
        out: list[Transaction | Refusal] = []
        sent: list[int] = []
        for i, item in enumerate(items):
            try:
                tx = convert(item, i)
                self.core.validate(tx, policy=policy)
            except SharedSeqError as exc:
                out.append(Refusal.of(exc))
                continue
            out.append(tx)
            sent.append(i)
        return out, sent

    def _start_in_workers(self, items: Sequence[T], convert: Callable[[T, int], Transaction]) -> ListCheck:
        """_check_all with the policy checks in the check workers: conversion and the limits first (a
        long list's on a check thread, so that it is not one long step of the loop), then every
        remaining item's policy verdict in one hand-off."""
        checkers = self.checkers
        assert checkers is not None

        def submit(out: list[Transaction | Refusal], sent: list[int]) -> Any:
            return checkers.submit([(t.rollup_id, t.payload) for i in sent if isinstance(t := out[i], Transaction)])

        def apply(out: list[Transaction | Refusal], sent: list[int], verdicts: list[SharedSeqError | None]
                  ) -> list[Transaction | Refusal]:
            for i, err in zip(sent, verdicts, strict=True):
                if err is not None:
                    out[i] = Refusal.of(err)
            return out

        if len(items) < OFFLOAD_MIN_ITEMS:
            out, sent = self._convert_all(items, convert)
            job = submit(out, sent)

            async def short() -> list[Transaction | Refusal]:
                return apply(out, sent, await job.wait())
            return ListCheck(short)
        fut = self._check_threads.submit(self._convert_all, items, convert)

        async def long() -> list[Transaction | Refusal]:
            out, sent = await _result(fut)
            return apply(out, sent, await submit(out, sent).wait())
        return ListCheck(long)

    async def off_loop(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a CPU step that needs no node state on a check thread (it shares the GIL, but the
        interpreter switches every GIL_SWITCH_INTERVAL_S, so it is never one long step of the loop)."""
        return await _result(self._check_threads.submit(fn, *args, **kwargs))

    def check_list(self, items: Sequence[T], convert: Callable[[T, int], Transaction]) -> ListCheck:
        """Start converting and policy-checking a list's items (signature recovery), to be placed
        later with `admit_checked`, in the order lists are started: by the check workers when they
        are up (checkers.py); else a long list in a worker thread (coincurve releases the GIL, so
        the checks use another core while the event loop serves the network), a short one here, now.
        The caller can read its next request meanwhile (stream_submit.py)."""
        self._check_running()
        if self._use_workers(len(items)):
            return self._start_in_workers(items, convert)
        if len(items) < OFFLOAD_MIN_ITEMS:
            return ListCheck(None, self._check_all(items, convert))
        fut = self._check_threads.submit(self._check_all, items, convert)
        return ListCheck(lambda: _result(fut))

    async def admit_checked(self, check: ListCheck, part: int = 0) -> tuple[Ticket, list[int | Refusal]]:
        """Place a list whose checks `check_list` started (see admit_list). With `part`, a longer
        list is placed `part` items at a time, each part once the one before is durable, so that no
        group commit holds more than `part` of one client's transactions (the in-flight cap, which
        a single long list would pass alone) and other clients' requests are placed, and committed,
        between them. The ticket answers the whole list (JoinedTicket)."""
        checked = check.checked if check.wait is None else await check.wait()
        if not part or len(checked) <= part:
            return self.admit_list(checked, validated=True)
        parts: list[tuple[Ticket, list[int | Refusal]]] = [self.admit_list(checked[:part], validated=True)]
        for at in range(part, len(checked), part):
            await parts[-1][0].done.wait()
            items = checked[at:at + part]
            try:
                if parts[-1][0].error is not None:
                    raise Temporary("the sequencer could not persist the list's earlier items; these were not admitted")
                parts.append(self.admit_list(items, validated=True))
            except SharedSeqError as exc:  # a later part past the client's share, or the node stopping
                parts.append((self._enqueue((), parts[-1][0].started), [Refusal.of(exc)] * (len(checked) - at)))
                break
        return JoinedTicket.of(parts)

    async def admit_list_checked(
        self, items: Sequence[T], convert: Callable[[T, int], Transaction]
    ) -> tuple[Ticket, list[int | Refusal]]:
        """admit_list with each item converted and policy-checked first (check_list); order is kept:
        the placement happens after, on the loop, in list order."""
        return await self.admit_checked(self.check_list(items, convert))

    def admit_list(
        self, txs: Sequence[Transaction | Refusal], *, validated: bool = False
    ) -> tuple[Ticket, list[int | Refusal]]:
        """Admit independent transactions in order; one ticket covers all admitted ones.

        Each result is the index of the item's receipt in the ticket, or its
        refusal. Items that are already refusals (refused while converting) pass through."""
        self._check_running()
        admissible = [t for t in txs if isinstance(t, Transaction)]
        self.shares.check(CLIENT.get(), len(admissible), sum(len(t.payload) for t in admissible))
        started = time.perf_counter()
        records: list[AdmittedTx] = []
        results: list[int | Refusal] = []
        retries: list[tuple[RollupId, Hash32]] = []
        for tx in txs:
            if isinstance(tx, Refusal):
                results.append(tx)
                continue
            try:
                records.extend(self.core.admit(tx, validated=validated))
            except Duplicate as dup:  # answered with its original receipt, after the new ones
                retries.append((dup.rollup_id, dup.tx_hash))
                results.append(-len(retries))
                continue
            except SharedSeqError as exc:
                results.append(Refusal.of(exc))
                continue
            results.append(len(records) - 1)
        ticket = self._enqueue(tuple(records), started)
        if retries:
            n = len(records)
            results = [n - r - 1 if isinstance(r, int) and r < 0 else r for r in results]
            ticket.retries, ticket.fetch = tuple(retries), self._fetch_receipt
        return ticket, results

    async def submit(self, tx: Transaction) -> Receipt:
        return (await self.admit_transaction(tx).wait())[0]

    async def submit_bundle(self, bundle: Bundle) -> tuple[Receipt, ...]:
        return await self.admit_bundle(bundle).wait()

    # -- the tasks ----------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the writer and the slot clock until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer)
            tg.start_soon(self._clock)
            tg.start_soon(self._lag_monitor)
            if self.log.checkpoint_apart:
                tg.start_soon(self._checkpointer)
            task_status.started()

    async def _checkpointer(self) -> None:
        """WAL checkpoints on a thread of their own, after commits, at most every CHECKPOINT_EVERY_S
        (BlockLog.checkpoint_apart): never inside a commit that receipts wait for."""
        while True:
            await self._committed.wait()
            self._committed = anyio.Event()
            try:
                await self._on_thread(self._checkpoint_thread, self.log.checkpoint)
            except StorageFault as exc:
                await self._stop_on(exc, [])
            await anyio.sleep(CHECKPOINT_EVERY_S)

    async def _lag_monitor(self) -> None:
        """Time the event loop: how late a short sleep returns is how long every task that became
        ready waits for the loop (`loop_lag_s`, a moving average over about 20 ms)."""
        while True:
            t = anyio.current_time()
            await anyio.sleep(LAG_SAMPLE_S)
            lag = max(0.0, anyio.current_time() - t - LAG_SAMPLE_S)
            self.loop_lag_s += 0.25 * (lag - self.loop_lag_s)

    async def _writer(self) -> None:
        while True:
            # The deferred index (BlockLog.index_sealed): whenever nothing else waits, and between
            # group commits once it is INDEX_BEHIND_ROWS behind, so it can never fall further back.
            while self._index_debt and (self._index_debt > INDEX_BEHIND_ROWS or not self._queue.tickets):
                await self._index_chunk()
            await self._work.wait()
            self._work = anyio.Event()
            batch, self._queue = self._queue, _Batch()
            if not batch.records and not batch.blocks and not batch.meta:
                for t in batch.tickets:  # none should be here (see _enqueue); never leave one waiting
                    t.done.set()
                continue
            parts = _commits(batch)
            for k, part in enumerate(parts):
                if not await self._commit(part, parts[k + 1:]):
                    break

    async def _commit(self, batch: _Batch, later: Sequence[_Batch]) -> bool:
        """One group commit; its tickets are answered when it returns. False when the term ended
        under it: then its tickets and `later`'s are refused (the next term keeps what the log has)."""
        try:
            term = self._term
            receipts = await self._on_writer(self._persist, batch, term)
        except Exception as exc:  # cancellation (shutdown) is not a storage failure
            rest = _Batch(tickets=[t for b in (batch, *later) for t in b.tickets])
            if isinstance(exc, LogUnavailable) and self.on_resign is not None:
                if term == self._term:
                    self._resign(exc, rest)
                else:  # a batch of a term that ended: refused, and the term now running goes on
                    for t in rest.tickets:
                        t.error = exc
                        t.done.set()
                return False
            await self._stop_on(exc, rest.tickets)
        self._committed.set()
        if batch.blocks and not self.log.index_at_seal:
            self._index_debt += sum(len(ns.transactions) for b in batch.blocks for ns in b.namespaces)
        now = time.perf_counter()
        self.metrics.commit_batch.observe(len(batch.records))
        i = 0
        for t in batch.tickets:
            t.receipts = receipts[i:i + len(t.records)]
            i += len(t.records)
            if t.records:  # block tickets carry none: their time is seal time, not receipt latency
                self.metrics.receipt_seconds.observe(now - t.started)
            t.done.set()
        return True

    async def _index_chunk(self) -> None:
        """Index records of sealed blocks in a commit of its own: INDEX_CHUNK_ROWS of them, or, when
        the index is further than INDEX_BEHIND_ROWS behind (the writer never idle), all that is over
        that bound at once."""
        limit = max(INDEX_CHUNK_ROWS, self._index_debt - INDEX_BEHIND_ROWS)
        try:
            moved, through = await self._on_writer(self.log.index_sealed, limit)
        except Exception as exc:
            await self._stop_on(exc, [])
        self._index_debt = self._index_debt - moved if moved == limit else 0
        self._forget_through(through)

    async def _on_writer(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on the writer's thread, its time counted in `writer_busy`."""
        began = time.monotonic()
        result = await self._on_thread(self._write_thread, fn, *args, **kwargs)
        self._busy = (self._decayed_busy(began) + time.monotonic() - began, began)
        return result

    async def _stop_on(self, exc: Exception, tickets: Sequence[Ticket]) -> NoReturn:
        """The writer failed: refuse `tickets`, report, and stop the node."""
        self._fatal = exc
        for t in tickets:
            t.error = exc
            t.done.set()
        # A storage fault names SQLite's reason; anything else here is a bug, named as such
        # (and not given the storage fault's exit code: freeing disk space would not fix it).
        fault = exc if isinstance(exc, StorageFault) else Critical(f"group commit failed: {exc!r}")
        log.critical("%s; stopping", fault)
        if self.on_fatal is not None:
            with anyio.CancelScope(shield=True):
                await self.on_fatal(fault)
        raise fault from exc

    def _decayed_busy(self, now: float) -> float:
        busy, at = self._busy
        return busy * math.exp(-(now - at) / WRITER_BUSY_TAU_S) if now > at else busy

    def writer_busy(self) -> float:
        """The share of recent time (about WRITER_BUSY_TAU_S) the writer spent in group commits,
        0..1 (a commit's whole time counts from its start): near 1, every receipt waits for a
        commit in progress before its own."""
        return min(1.0, self._decayed_busy(time.monotonic()) / WRITER_BUSY_TAU_S)

    def _persist(self, batch: _Batch, term: int = 0) -> tuple[Receipt, ...]:
        """Worker thread: sign the group commit's receipts with one signature (a batch), then
        commit records, batch, blocks and meta in one SQLite transaction."""
        signed, receipts = self.core.sign_receipt_batch(batch.records)
        self._writing_term = term
        self.log.append(batch.records, batch.blocks, batch.meta, receipts=signed)
        return receipts

    def check_term(self) -> None:
        """The replicated log calls this inside its write lock, before each append: a batch of a
        term that ended is refused there, so it can never land after the next term's claim."""
        if self._writing_term != self._term:
            raise Fenced("a group commit of a leadership term that ended is not written")

    async def _clock(self) -> None:
        slot = self.core.config.slot_ms
        while True:
            now = self.clock_ms()
            await self.sleep((slot - now % slot) / 1000)
            if not self.leading or self._origin_too_old(self.clock_ms()):
                continue
            try:
                await self.seal_now()
            except NotLeader:
                continue  # the term ended under the seal
            except Temporary:
                if self.leading:
                    raise
                # Deposed while sealing: the block never reached the log; the next leader seals it.

    def _origin_too_old(self, now_ms: int) -> bool:
        """Whether sealing waits for a fresher L1 origin (logged once per stall)."""
        stalled = origin_too_old(now_ms, self.l1_origin_time_ms, self.max_origin_drift_ms)
        if stalled != self._drift_stalled:
            self._drift_stalled = stalled
            if stalled:
                log.error("sealing stopped: the L1 origin's timestamp is %d ms behind the clock, more than "
                          "max_origin_drift_ms %d; waiting for the L1 RPC (admitted transactions keep their "
                          "placements and are sealed once it is back)",
                          now_ms - (self.l1_origin_time_ms or 0), self.max_origin_drift_ms or 0,
                          extra={"fields": {"event": "seal.origin_drift"}})
            else:
                log.info("sealing resumed: the L1 origin is fresh again")
        return stalled

    # -- replicas (issue 12) ----------------------------------------------------

    def _resign(self, exc: BaseException, batch: _Batch) -> None:
        """Stop leading after the replicated log refused (Fenced) or could not confirm a write:
        none of the batch's or the queue's tickets gets a receipt (their records may or may not be
        in the log; the next leader finds out from the log and keeps whatever is there)."""
        self.leading = False
        self.leader_address = None
        self._drop_queue(exc, batch)
        log.warning("stopped leading: %s", exc)
        if self.on_resign is not None:
            self.on_resign(exc)

    def _drop_queue(self, exc: BaseException, batch: _Batch | None = None) -> None:
        """End a term: fail every ticket queued in it. Its records and blocks were placed by a core
        the next term rebuilds from the log; written after the next claim they would sit beside that
        term's own blocks (two at one height)."""
        self._term += 1
        queued, self._queue = self._queue, _Batch()
        for t in [*(batch.tickets if batch else ()), *queued.tickets]:
            t.error = exc
            t.done.set()

    def follow_block(self, block: SharedBlock) -> None:
        """A follower's log copy received `block` (on the loop): publish it to subscribers, after
        any the copy got before this hook was set (read back from the copy). One already published
        (or any while leading) is ignored."""
        if self.leading or block.height <= self.durable_height:
            return
        if block.height > self.durable_height + 1:
            for missed in self.log.read_blocks(self.durable_height + 1, block.height - 1):
                self._publish(missed)
        if block.height == self.durable_height + 1:
            self._publish(block)

    def lead(self) -> None:
        """Take over (the log is caught up and claimed): publish what the log holds past what was
        published, then rebuild the core from the log exactly as a restart does, so the pending
        placements and receipts the old leader gave are kept at their heights and indices."""
        for block in self.log.read_blocks(self.durable_height + 1, self.log.head_height()):
            self._publish(block)
        state = self.log.load_state(self.core.config.limits.dedupe_window_ms)
        self.core.restore(state.head, state.pending, state.recent)
        self._unsealed.clear()
        self._unsealed_tickets.clear()
        self._restored = {(r.rollup_id, r.tx_hash) for r in state.pending}
        self._restored_max = max((r.height for r in state.pending), default=-1)
        self._drop_queue(NotLeader("a new term began"))  # nothing of an earlier term is written in this one
        self.leading = True
        log.info("leading from sealed height %d, %d admitted transactions pending", state.head.height,
                 len(state.pending))

    def step_down(self, leader: str | None) -> None:
        """The lease says another replica leads (or nobody yet): stop admitting and sealing."""
        if self.leading:
            log.warning("stopped leading: the lease names %s", leader or "no one")
            self._drop_queue(NotLeader(f"this replica stopped leading; the lease names {leader or 'no one'}"))
        self.leading = False
        self.leader_address = leader

    async def seal_now(self) -> SharedBlock:
        """Seal the next block, persist it, then publish it."""
        started = time.perf_counter()
        term = self._term
        block = self.core.seal(self.clock_ms(), self.l1_origin)
        # Hash every namespace for the stored leaves on a thread of its own, in parallel with the
        # commits of receipts: on the writer's thread it would delay each of them behind it.
        await self._on_thread(self._prepare_thread, self.log.prepare_block, block)
        if term != self._term:  # stepped down (and maybe led again) meanwhile: this core's block is void
            raise NotLeader(f"block {block.height} was sealed in a term that ended")
        ticket = Ticket((), started)
        self._queue.blocks.append(block)
        self._queue.tickets.append(ticket)
        self._work.set()
        await ticket.wait()
        self._publish(block)
        self.metrics.seal_seconds.observe(time.perf_counter() - started)
        return block

    def _publish(self, block: SharedBlock) -> None:
        if block.height <= self.durable_height:
            # Replicas (issue 12): a seal that was in flight when the node stopped leading and led
            # again may return after lead() published the same height from the log. Published once;
            # the cache stays one block per height, in order (`_cached` indexes it by height).
            return
        if block.height > self.durable_height + 1:
            # Two seals that resumed out of order: the lower one is durable too (one commit, in
            # order); publish it first from the log, and it is skipped when its own turn comes.
            for missed in self.log.read_blocks(self.durable_height + 1, block.height - 1):
                self._publish(missed)
            if block.height != self.durable_height + 1:
                raise Critical(f"block {block.height} is durable but block {self.durable_height + 1} is not in the log")
        size = sum(len(t) for ns in block.namespaces for t in ns.transactions) + 512
        self._cache.append((block, size))
        self._cache_bytes += size
        while len(self._cache) > 1 and self._cache_bytes > self._cache_max:
            self._cache_bytes -= self._cache.popleft()[1]
        self.shares.sealed(block.height)
        self.durable_height = block.height
        if self.log.index_at_seal:
            self._forget_through(block.height)
        self.metrics.height.set(block.height)
        self.metrics.pending_txs.set(self.core.pending_txs)
        ev, self._new_block = self._new_block, anyio.Event()
        ev.set()

    def _forget_through(self, height: int) -> None:
        """Blocks through `height` are durable and their records in the log's txs index, where
        lookups find them: forget their tickets (and, past the restored ones, the restored set)."""
        tickets, unsealed = self._unsealed_tickets, self._unsealed
        while tickets and tickets[0].records[-1].height <= height:
            t = tickets.popleft()
            for r in t.records:
                key = (r.rollup_id, r.tx_hash)
                if unsealed.get(key, (None,))[0] is t:
                    del unsealed[key]
        if self._restored and height >= self._restored_max:
            self._restored = set()

    def mark_firm(self, height: int) -> None:
        """Record that blocks up to `height` are committed on L1."""
        if height > self.firm_height:
            self.firm_height = height
            # Through the writer's next commit: a write here would run SQLite on the event loop.
            self._queue.meta["firm_height"] = str(height).encode()
            self._work.set()
            self.metrics.firm_height.set(height)

    # -- reads ----------------------------------------------------------------

    def _cached(self, height: int) -> SharedBlock | None:
        if self._cache and self._cache[0][0].height <= height <= self._cache[-1][0].height:
            return self._cache[height - self._cache[0][0].height][0]
        return None

    async def get_block(self, height: int) -> SharedBlock | None:
        if height > self.durable_height:
            return None
        return self._cached(height) or await self.read(self.log.read_block, height)

    async def wait_for_height(self, height: int) -> None:
        """Return once the block at `height` is sealed and durable."""
        while height > self.durable_height:
            await self._new_block.wait()
