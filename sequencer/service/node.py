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
A write failure is fatal: the in-memory state may be ahead of the disk, so
the node stops rather than hand out receipts it cannot keep. It tells
`on_fatal` first (the server turns health NOT_SERVING), then raises the
StorageFault that names the cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from sequencer.core.sequencer import AdmittedTx, SequencerCore
from sequencer.core.types import Bundle, Hash32, Receipt, SharedBlock, Transaction
from sequencer.errors import Critical, SharedSeqError, StorageFault, Temporary
from sequencer.store.sqlite_log import BlockLog

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
BLOCK_CACHE_BYTES = 32 * 1024 * 1024
"""Recent sealed blocks kept in memory, by payload bytes (not count: a block can be 1 MB)."""


OFFLOAD_MIN_ITEMS = 16
"""Lists shorter than this are checked on the loop: the thread hop would cost more than it saves."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


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

    async def wait(self) -> tuple[Receipt, ...]:
        await self.done.wait()
        if self.error is not None:
            raise Temporary("the sequencer could not persist the transaction; it was not admitted") from self.error
        return self.receipts


@dataclass(slots=True)
class _Batch:
    records: list[AdmittedTx] = field(default_factory=list)
    blocks: list[SharedBlock] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    meta: dict[str, bytes] = field(default_factory=dict)


class SequencerNode:
    """See the module docstring."""

    def __init__(
        self,
        core: SequencerCore,
        block_log: BlockLog,
        *,
        metrics: Metrics | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        block_cache_bytes: int = BLOCK_CACHE_BYTES,
        read_threads: int = READ_THREADS,
    ) -> None:
        self.core = core
        self.log = block_log
        self.metrics = metrics or Metrics()
        self.clock_ms = clock_ms
        self.l1_origin: tuple[int, Hash32] | None = None
        self.durable_height = core.head.height
        self.firm_height = -1
        self._cache: deque[tuple[SharedBlock, int]] = deque()
        self._cache_bytes = 0
        self._cache_max = block_cache_bytes
        self._reads = ThreadPoolExecutor(read_threads, thread_name_prefix="sharedseq-read")
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sharedseq-writer")
        self._prepare_thread = ThreadPoolExecutor(1, thread_name_prefix="sharedseq-seal")
        self.on_fatal: Callable[[BaseException], Awaitable[None]] | None = None
        self.shares = ClientShares(0, 0)
        """Each client's share of the pending blocks (security.py); the server sets the caps."""
        """Called once, before the writer raises, when the log cannot be written."""
        self._queue = _Batch()
        self._work = anyio.Event()
        self._new_block = anyio.Event()
        self._fatal: BaseException | None = None
        self._validators = anyio.CapacityLimiter(2)
        self._admitted = {rid: self.metrics.admitted.labels(str(rid)) for rid in core.rollups}

    @classmethod
    def open(cls, core: SequencerCore, block_log: BlockLog, **kw: object) -> SequencerNode:
        """Resume from the log: the same head, the same pending placements."""
        state = block_log.load_state(recent=min(core.config.limits.dedupe_window, 1_000_000))
        core.restore(state.head, state.pending, state.recent_hashes)
        node = cls(core, block_log, **kw)  # type: ignore[arg-type]
        fh = block_log.get_meta("firm_height")
        node.firm_height = int(fh.decode()) if fh else -1
        node.metrics.firm_height.set(node.firm_height)
        node.metrics.height.set(node.durable_height)
        log.info("log opened: sealed height %d, %d admitted transactions pending",
                 state.head.height, len(state.pending))
        return node

    # -- submission --------------------------------------------------------

    def close(self) -> None:
        """Stop the read and write threads, then close the log."""
        for pool in (self._reads, self._prepare_thread, self._write_thread):
            pool.shutdown(wait=True, cancel_futures=True)
        self.log.close()

    async def read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a blocking read on the node's read pool (never anyio's default one, never the loop)."""
        return await asyncio.wrap_future(self._reads.submit(fn, *args, **kwargs))

    @staticmethod
    async def _on_thread(pool: ThreadPoolExecutor, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on `pool` and wait for it even if cancelled: a commit half-awaited at shutdown
        would have the log closed under it."""
        fut = pool.submit(fn, *args, **kwargs)
        with anyio.CancelScope(shield=True):
            result = await asyncio.wrap_future(fut)
        return result

    def _check_running(self) -> None:
        if self._fatal is not None:
            raise Temporary("the sequencer is stopping after a storage failure")

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
        for r in records:
            self._admitted[r.rollup_id].inc()
            self.shares.add(client, r.height, 1, len(r.payload))
        return ticket

    def admit_transaction(self, tx: Transaction) -> Ticket:
        """Admit one transaction (raises BadInput/Overloaded); await the ticket."""
        self._check_running()
        self.shares.check(CLIENT.get(), 1, len(tx.payload))
        started = time.perf_counter()
        return self._enqueue(self.core.admit(tx, self.clock_ms()), started)

    def admit_bundle(self, bundle: Bundle) -> Ticket:
        self._check_running()
        self.shares.check(CLIENT.get(), len(bundle.legs), sum(len(leg.payload) for leg in bundle.legs))
        started = time.perf_counter()
        ticket = self._enqueue(self.core.admit_bundle(bundle, self.clock_ms()), started)
        self.metrics.bundles.inc()
        return ticket

    def _check_all(self, items: Sequence[T], convert: Callable[[T, int], Transaction]) -> list[Transaction | Refusal]:
        """Convert and policy-check each item; refusals are kept as small values (no traceback)."""
        out: list[Transaction | Refusal] = []
        for i, item in enumerate(items):
            try:
                tx = convert(item, i)
                self.core.validate(tx)
            except SharedSeqError as exc:
                out.append(Refusal.of(exc))
                continue
            out.append(tx)
        return out

    async def admit_list_checked(
        self, items: Sequence[T], convert: Callable[[T, int], Transaction]
    ) -> tuple[Ticket, list[int | Refusal]]:
        """admit_list, with each item converted and policy-checked (signature recovery) in a
        worker thread first: coincurve releases the GIL, so the checks use another core while
        the event loop serves the network, and a long list never holds the loop item by item.
        Order is kept: the placement happens after, on the loop, in list order."""
        if len(items) < OFFLOAD_MIN_ITEMS:
            checked = self._check_all(items, convert)
        else:
            checked = await anyio.to_thread.run_sync(self._check_all, items, convert, limiter=self._validators)
        return self.admit_list(checked, validated=True)

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
        now = self.clock_ms()
        records: list[AdmittedTx] = []
        results: list[int | Refusal] = []
        for tx in txs:
            if isinstance(tx, Refusal):
                results.append(tx)
                continue
            try:
                records.extend(self.core.admit(tx, now, validated=validated))
            except SharedSeqError as exc:
                results.append(Refusal.of(exc))
                continue
            results.append(len(records) - 1)
        return self._enqueue(tuple(records), started), results

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
            task_status.started()

    async def _writer(self) -> None:
        while True:
            await self._work.wait()
            self._work = anyio.Event()
            batch, self._queue = self._queue, _Batch()
            if not batch.records and not batch.blocks and not batch.meta:
                for t in batch.tickets:  # none should be here (see _enqueue); never leave one waiting
                    t.done.set()
                continue
            try:
                receipts = await self._on_thread(self._write_thread, self._persist, batch)
            except Exception as exc:  # cancellation (shutdown) is not a storage failure
                self._fatal = exc
                for t in batch.tickets:
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
            now = time.perf_counter()
            self.metrics.commit_batch.observe(len(batch.records))
            i = 0
            for t in batch.tickets:
                t.receipts = receipts[i:i + len(t.records)]
                i += len(t.records)
                if t.records:  # block tickets carry none: their time is seal time, not receipt latency
                    self.metrics.receipt_seconds.observe(now - t.started)
                t.done.set()

    def _persist(self, batch: _Batch) -> tuple[Receipt, ...]:
        """Worker thread: sign the batch's receipts, then commit it (one SQLite transaction)."""
        receipts = self.core.sign_receipts(batch.records)
        self.log.append(batch.records, batch.blocks, batch.meta)
        return receipts

    async def _clock(self) -> None:
        slot = self.core.config.slot_ms
        while True:
            now = self.clock_ms()
            await anyio.sleep((slot - now % slot) / 1000)
            await self.seal_now()

    async def seal_now(self) -> SharedBlock:
        """Seal the next block, persist it, then publish it."""
        started = time.perf_counter()
        block = self.core.seal(self.clock_ms(), self.l1_origin)
        # Hash every namespace for the stored leaves on a thread of its own, in parallel with the
        # commits of receipts: on the writer's thread it would delay each of them behind it.
        await self._on_thread(self._prepare_thread, self.log.prepare_block, block)
        ticket = Ticket((), started)
        self._queue.blocks.append(block)
        self._queue.tickets.append(ticket)
        self._work.set()
        await ticket.wait()
        self._publish(block)
        self.metrics.seal_seconds.observe(time.perf_counter() - started)
        return block

    def _publish(self, block: SharedBlock) -> None:
        size = sum(len(t) for ns in block.namespaces for t in ns.transactions) + 512
        self._cache.append((block, size))
        self._cache_bytes += size
        while len(self._cache) > 1 and self._cache_bytes > self._cache_max:
            self._cache_bytes -= self._cache.popleft()[1]
        self.shares.sealed(block.height)
        self.durable_height = block.height
        self.metrics.height.set(block.height)
        self.metrics.pending_txs.set(self.core.pending_txs)
        ev, self._new_block = self._new_block, anyio.Event()
        ev.set()

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
