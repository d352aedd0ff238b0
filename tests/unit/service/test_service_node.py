"""The sequencer engine (sequencer/service/node.py, and the subscription service of views.py) with a
fake clock and an in-memory log: group commit (a receipt only once its records are durable), slot
sealing on the clock, subscriptions (a subscriber that stops reading is cut off at its bound; the
others are not held up), and the storage-fault path. No socket, process or chain.

Every test runs on both anyio backends (asyncio and trio): the engine is backend-neutral (issue 10
item 5); only the gRPC edge (server.py, grpc_api.py) is asyncio, and its tests pin asyncio."""

from __future__ import annotations

import ast
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
import grpc
import pytest
from core_testkit import DOMAIN, make_config, make_signer
from repo_root import ROOT

from sequencer.core.sequencer import AdmittedTx, SequencerCore
from sequencer.core.signing import verify_receipt
from sequencer.core.types import Bundle, SharedBlock, Transaction
from sequencer.errors import (
    Critical,
    LogUnavailable,
    Overloaded,
    SharedSeqError,
    StorageFault,
    Temporary,
    leaf_exceptions,
)
from sequencer.service.errors import Refusal
from sequencer.service.node import SequencerNode
from sequencer.service.views import RollupViews, ViewLimits
from sequencer.store.sqlite_log import BlockLog, ReceiptBatch
from sharedseq.v1 import sequencer_pb2 as pb

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SLOT_MS = 100
START_MS = 1_000_000  # a slot boundary


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FakeClock:
    """Milliseconds that move only when the test says; `sleep` waits for them, not for real time."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms
        self._moved = anyio.Event()
        self.sleepers = 0

    def __call__(self) -> int:
        return self.now_ms

    async def sleep(self, seconds: float) -> None:
        wake = self.now_ms + math.ceil(seconds * 1000)
        self.sleepers += 1
        try:
            while self.now_ms < wake:
                await self._moved.wait()
        finally:
            self.sleepers -= 1

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        moved, self._moved = self._moved, anyio.Event()
        moved.set()


class MemoryLog(BlockLog):
    """The in-memory block log, with the writer's commits observable and controllable: `gate`
    holds a commit before it writes, `block_gate` one that writes blocks, `fault` makes the next
    commit fail with it (`block_fault`: the next that writes blocks)."""

    def __init__(self, *, index_at_seal: bool = True) -> None:
        self.index_gate = threading.Event()  # before the base class opens the log (which indexes)
        self.index_gate.set()
        super().__init__(":memory:", index_at_seal=index_at_seal)
        self.commits: list[tuple[int, int]] = []
        """(records, blocks) of each commit that reached the log."""
        self.gate = threading.Event()
        self.gate.set()
        self.writing = threading.Event()
        self.block_gate = threading.Event()
        self.block_gate.set()
        self.fault: BaseException | None = None
        self.block_fault: BaseException | None = None

    def append(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
               meta: Any = None, receipts: ReceiptBatch | None = None) -> None:
        self.writing.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if blocks:
            assert self.block_gate.wait(30), "the test never opened the block gate"
            if self.block_fault is not None:
                raise self.block_fault
        if self.fault is not None:
            raise self.fault
        super().append(records, blocks, meta, receipts)
        self.commits.append((len(records), len(blocks)))

    def index_sealed(self, limit: int) -> tuple[int, int]:
        assert self.index_gate.wait(30), "the test never opened the index gate"
        return super().index_sealed(limit)

    def durable(self, tx: Transaction) -> bool:
        return bool(self.find_receipts(tx.tx_hash, tx.rollup_id))


def tx(n: int, rollup: int = 1) -> Transaction:
    return Transaction(rollup, f"tx-{n}".encode())


async def until(cond: Callable[[], bool], what: str) -> None:
    """Poll (generous deadline, no timing asserted)."""
    with anyio.fail_after(20):
        while not cond():
            await anyio.sleep(0.002)
    assert cond(), what


class Engine:
    def __init__(self, node: SequencerNode, log: MemoryLog, clock: FakeClock, tg: anyio.abc.TaskGroup) -> None:
        self.node, self.log, self.clock, self.tg = node, log, clock, tg

    async def slot(self) -> SharedBlock:
        """Move the fake clock to the next slot and return the block sealed for it."""
        height = self.node.durable_height + 1
        await until(lambda: self.clock.sleepers > 0, "the slot clock waits on the fake clock")
        self.clock.advance(SLOT_MS)
        with anyio.fail_after(20):
            await self.node.wait_for_height(height)
        block = await self.node.get_block(height)
        assert block is not None
        return block


def make_node(log: MemoryLog, clock: FakeClock, **limits: int) -> SequencerNode:
    core = SequencerCore(make_config(slot_ms=SLOT_MS, **limits), make_signer())
    return SequencerNode(core, log, clock_ms=clock, sleep=clock.sleep)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    log, clock = MemoryLog(), FakeClock()
    node = make_node(log, clock)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            yield Engine(node, log, clock, tg)
            log.gate.set()
            tg.cancel_scope.cancel()
    finally:
        node.close()


# -- group commit ------------------------------------------------------------------------------


async def test_a_receipt_is_given_only_once_its_record_is_durable(engine: Engine) -> None:
    node, log = engine.node, engine.log
    log.gate.clear()
    first = tx(0)
    ticket = node.admit_transaction(first)
    await until(log.writing.is_set, "the writer took the record")
    await anyio.sleep(0.05)  # however long the commit takes, nothing is answered before it returns
    assert not ticket.done.is_set() and ticket.receipts == ()
    assert await node.lookup_transaction(first.tx_hash, 1) is None  # GetTransaction: not admitted yet
    assert not log.durable(first)
    log.gate.set()
    with anyio.fail_after(20):
        (receipt,) = await ticket.wait()
    assert log.durable(first)
    assert verify_receipt(DOMAIN, receipt) == node.core.signer.address
    assert (receipt.rollup_id, receipt.tx_hash, receipt.height, receipt.index) == (1, first.tx_hash, 0, 0)
    status = await node.lookup_transaction(first.tx_hash, 1)
    assert status is not None and status.status == "preconfirmed" and status.receipt == receipt


async def test_everything_queued_during_a_commit_goes_in_one_commit_in_order(engine: Engine) -> None:
    node, log = engine.node, engine.log
    log.gate.clear()
    head = node.admit_transaction(tx(0))
    await until(log.writing.is_set, "the first commit started")
    queued = [node.admit_transaction(tx(i)) for i in range(1, 21)]
    bundle = node.admit_bundle(Bundle((tx(100, 2), tx(101, 3))))
    log.gate.set()
    with anyio.fail_after(20):
        await head.wait()
        receipts = [(await t.wait())[0] for t in queued]
        legs = await bundle.wait()
    assert log.commits == [(1, 0), (22, 0)]  # the 20 transactions and the 2 legs: one commit
    assert [r.index for r in receipts] == list(range(1, 21))  # admission order is placement order
    assert {r.batch_count for r in receipts + list(legs)} == {22}  # one batch signature for the commit
    assert all(verify_receipt(DOMAIN, r) == node.core.signer.address for r in receipts + list(legs))
    assert node.metrics.commit_batch._sum.get() == 23  # type: ignore[attr-defined]


async def test_group_commits_keep_admission_order_even_behind_a_long_list(engine: Engine) -> None:
    """Short requests queued behind a flood's long list are not committed ahead of it: a crash
    between two such commits would leave the later placements durable without the earlier ones,
    and the restart's replay (SequencerCore.restore) refuses that gap. So one commit, in order; and
    a log holding the later records without the earlier ones is refused on restore."""
    node, log = engine.node, engine.log
    log.gate.clear()
    head = node.admit_transaction(tx(0))
    await until(log.writing.is_set, "the first commit started")
    flood, _ = node.admit_list([tx(i) for i in range(1000, 1200)])
    honest = [node.admit_transaction(tx(i)) for i in range(1, 4)]
    log.gate.set()
    with anyio.fail_after(20):
        await head.wait()
        await flood.wait()
        small = [(await t.wait())[0] for t in honest]
    assert log.commits == [(1, 0), (203, 0)]
    assert [r.index for r in small] == [201, 202, 203]
    records = [r for t in [flood, *honest] for r in t.records]
    core = SequencerCore(make_config(slot_ms=SLOT_MS), make_signer())
    with pytest.raises(Critical, match="promised index 201"):
        core.restore(node.core.head, records[200:])  # the short ones durable, the list not: refused


async def _records_queued_beside_a_seal(engine: Engine) -> tuple[Any, Any]:
    """Hold the first commit, queue a record and then a seal behind it: the next batch has both."""
    node, log, clock = engine.node, engine.log, engine.clock
    log.gate.clear()
    first = node.admit_transaction(tx(0))
    await until(log.writing.is_set, "the first commit started")
    second = node.admit_transaction(tx(1))
    await until(lambda: clock.sleepers > 0, "the slot clock waits")
    clock.advance(SLOT_MS)
    await until(lambda: bool(node._queue.blocks), "the seal is queued behind the record")
    return first, second


async def test_receipts_are_not_held_up_by_the_block_commit_queued_with_them(engine: Engine) -> None:
    """A block's commit copies its height into the index and fsyncs its payloads again: tens of ms
    for a block of thousands. Records queued beside it are committed first, on their own, so their
    receipts do not wait for it (with one commit for both, this test never gets `second`)."""
    node, log = engine.node, engine.log
    first, second = await _records_queued_beside_a_seal(engine)
    log.block_gate.clear()
    log.gate.set()
    with anyio.fail_after(20):
        await first.wait()
        (receipt,) = await second.wait()
    assert node.durable_height == -1 and log.commits == [(1, 0), (1, 0)]  # the block still held
    assert (receipt.height, receipt.index) == (0, 1) and log.durable(tx(1))
    log.block_gate.set()
    with anyio.fail_after(20):
        await node.wait_for_height(0)
    assert log.commits == [(1, 0), (1, 0), (0, 1)]
    assert (await node.get_block(0)).namespace(1).transactions == (b"tx-0", b"tx-1")  # type: ignore[union-attr]


async def test_a_long_list_is_placed_in_parts_with_another_client_between(engine: Engine) -> None:
    """A 600-item list with parts of 256: no commit holds more than 256 of it, a request that came
    while its first part was committing is placed before its second part, and every item's result
    (a new receipt, an earlier receipt for a resubmission, a refusal) is the one for that item."""
    node, log = engine.node, engine.log
    earlier = [await node.submit(tx(n)) for n in (5000, 5001)]
    log.gate.clear()
    log.writing.clear()
    items = [tx(i) for i in range(1000, 1600)]
    items[10], items[300] = tx(5000), tx(5001)  # resubmissions in the first and the second part
    items[400] = Transaction(77, b"unknown rollup")  # refused
    items[401] = items[402]  # the same transaction twice in one part: the second is a resubmission
    got: list[Any] = []

    async def place() -> None:
        got.append(await node.admit_checked(node.check_list(items, lambda t, i: t), part=256))
    engine.tg.start_soon(place)
    await until(log.writing.is_set, "the first part's commit started")
    honest = node.admit_transaction(tx(1))
    log.gate.set()
    with anyio.fail_after(20):
        (honest_receipt,) = await honest.wait()
        await until(lambda: bool(got), "the list was placed")
        ticket, results = got[0]
        receipts = await ticket.wait()
    assert honest_receipt.index == 2 + 255  # after the first part's 255 new, before the second part
    assert max(n for n, _ in log.commits) <= 256 and len(log.commits) >= 4, log.commits
    new = len(ticket.records)
    assert new == 600 - 4  # two resubmissions, one refusal, one repeat
    for i, (item, r) in enumerate(zip(items, results, strict=True)):
        if i == 400:
            assert isinstance(r, Refusal) and "77" in r.message
            continue
        assert isinstance(r, int)
        assert receipts[r].tx_hash == item.tx_hash, i
        assert (r >= new) == (i in (10, 300, 402)), i  # answered as already admitted
        assert verify_receipt(DOMAIN, receipts[r]) == node.core.signer.address
    assert receipts[results[10]] == earlier[0] and receipts[results[300]] == earlier[1]
    assert receipts[results[402]] == receipts[results[401]]
    first_part = [receipts[results[i]] for i in range(256) if i != 10]
    second_part = [receipts[results[i]] for i in range(256, 512) if i not in (300, 400, 402)]
    assert max(r.index for r in first_part) < honest_receipt.index < min(r.index for r in second_part)


async def test_a_long_list_behind_a_short_request_is_committed_after_it_on_its_own(engine: Engine) -> None:
    """Queued while a commit runs: a single transaction, two lists of 100, another single. The
    first single is committed alone (its receipt does not wait for the lists' commit); the two lists
    stay in one commit (a stream of lists is not split up), and the single behind them joins it."""
    node, log = engine.node, engine.log
    log.gate.clear()
    held = node.admit_transaction(tx(0))
    await until(log.writing.is_set, "the first commit started")
    short = node.admit_transaction(tx(1))
    lists = [node.admit_list([tx(k * 1000 + i) for i in range(100)])[0] for k in (1, 2)]
    behind = node.admit_transaction(tx(2))
    log.gate.set()
    with anyio.fail_after(20):
        for t in (held, short, *lists, behind):
            await t.wait()
    assert log.commits == [(1, 0), (1, 0), (201, 0)]


async def test_a_resubmission_admits_nothing_and_answers_the_original_receipt(engine: Engine) -> None:
    node, log = engine.node, engine.log
    first = await node.submit(tx(7))
    commits = len(log.commits)
    retry = node.admit_transaction(tx(7))
    assert retry.already_admitted
    assert (await retry.wait()) == (first,)
    block = await engine.slot()  # sealed: now answered from the log
    assert block.namespace(1).transactions == (b"tx-7",)
    assert (await node.admit_transaction(tx(7)).wait()) == (first,)
    assert len(log.commits) == commits + 1  # the block's commit, no record written twice


async def test_with_the_index_deferred_a_receipted_transaction_is_always_found() -> None:
    """`sharedseq serve` moves sealed records into the log's txs index after the block's commit
    (BlockLog.index_sealed). Until then the node keeps their tickets: GetTransaction and a
    resubmission find each one, sealed, with its receipt, before the index moves and after; and once
    it has, the tickets are gone (nothing kept for ever)."""
    log, clock = MemoryLog(index_at_seal=False), FakeClock()
    node = make_node(log, clock)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            engine = Engine(node, log, clock, tg)
            receipts = [await node.submit(tx(i)) for i in range(5)]
            log.index_gate.clear()
            await engine.slot()
            assert node._index_debt == 5 and log.find_tx(tx(0).tx_hash) is None  # not indexed yet

            async def every_one_found() -> None:
                for i, receipt in enumerate(receipts):
                    status = await node.lookup_transaction(tx(i).tx_hash, 1)
                    assert status is not None and (status.status, status.receipt) == ("sealed", receipt), i
                    assert (await node.admit_transaction(tx(i)).wait()) == (receipt,)
            await every_one_found()
            log.index_gate.set()
            await until(lambda: node._index_debt == 0 and not node._unsealed, "indexed, tickets forgotten")
            assert log.find_tx(tx(0).tx_hash) is not None
            await every_one_found()
            tg.cancel_scope.cancel()
    finally:
        node.close()


async def test_the_node_checkpoints_the_wal_on_a_thread_of_its_own(tmp_path) -> None:
    """With checkpoint_apart (as `sharedseq serve` opens its log) the node checkpoints after its
    commits, on its checkpoint thread: never the writer's, whose commits receipts wait for."""
    class Counting(BlockLog):
        threads: list[str] = []

        def checkpoint(self) -> int:
            self.threads.append(threading.current_thread().name)
            return super().checkpoint()

    log, clock = Counting(tmp_path / "sharedseq.db", index_at_seal=False, checkpoint_apart=True), FakeClock()
    node = SequencerNode(SequencerCore(make_config(slot_ms=SLOT_MS), make_signer()), log, clock_ms=clock,
                         sleep=clock.sleep)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            for i in range(3):
                await node.submit(tx(i))
            await until(lambda: bool(log.threads), "a checkpoint ran")
            tg.cancel_scope.cancel()
        assert all(name.startswith("sharedseq-checkpoint") for name in log.threads), log.threads
    finally:
        node.close()


# -- the slot clock ------------------------------------------------------------------------------


async def test_one_block_per_slot_of_the_fake_clock_with_the_slot_start_as_timestamp(engine: Engine) -> None:
    node, clock = engine.node, engine.clock
    await until(lambda: clock.sleepers > 0, "the slot clock is waiting")
    await anyio.sleep(0.05)  # real time passes, the fake clock does not: no slot, no block
    assert node.durable_height == -1 and engine.log.commits == []
    receipt = await node.submit(tx(1))
    block = await engine.slot()
    assert (block.header.height, block.header.timestamp_ms) == (0, START_MS + SLOT_MS)
    assert block.namespace(1).transactions[receipt.index] == b"tx-1"
    clock.advance(SLOT_MS // 2)  # half a slot: the clock's wake-up is still ahead
    await anyio.sleep(0.05)
    assert node.durable_height == 0
    clock.advance(SLOT_MS // 2)
    with anyio.fail_after(20):
        await node.wait_for_height(1)
    second = await node.get_block(1)
    assert second is not None and second.header.timestamp_ms == START_MS + 2 * SLOT_MS
    assert second.header.parent_hash != block.header.parent_hash
    assert engine.log.commits[-2:] == [(0, 1), (0, 1)]  # each block its own commit, after its records


async def test_a_block_is_published_only_after_its_commit(engine: Engine) -> None:
    node, log = engine.node, engine.log
    await node.submit(tx(1))
    log.gate.clear()
    log.writing.clear()
    await until(lambda: engine.clock.sleepers > 0, "the slot clock is waiting")
    engine.clock.advance(SLOT_MS)
    await until(log.writing.is_set, "the block's commit started")
    await anyio.sleep(0.05)
    assert node.durable_height == -1 and await node.get_block(0) is None  # not served before durable
    log.gate.set()
    with anyio.fail_after(20):
        await node.wait_for_height(0)
    assert log.read_block(0) is not None


# -- subscriptions -------------------------------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class Subscriber:
    """The server side of one SubscribeBlocks call, as views.py sees it; `reading=False` is a
    client that stopped reading (its writes never complete)."""

    def __init__(self, reading: bool = True) -> None:
        self.reading = reading
        self.heights: list[int] = []
        self.aborted: Aborted | None = None

    async def write(self, resp: bytes) -> None:
        if not self.reading:
            await anyio.sleep_forever()
        # The bytes a stream is sent: a SubscribeBlocksResponse, as the client decodes it.
        self.heights.append(pb.SubscribeBlocksResponse.FromString(resp).block.signed_header.header.height)

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)

    def serve(self, views: RollupViews, rollup: int, from_height: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await views.subscribe(rollup, from_height, self)
            except Aborted as exc:
                self.aborted = exc
        return run


async def test_a_subscriber_that_stops_reading_is_cut_off_and_holds_no_one_up(engine: Engine) -> None:
    node = engine.node
    views = RollupViews(node, ViewLimits(stall_s=0.2, max_subscribers=2))
    fast, slow = Subscriber(), Subscriber(reading=False)
    for i in range(3):
        await node.submit(tx(i))
        await engine.slot()
    engine.tg.start_soon(fast.serve(views, 1, 0))
    engine.tg.start_soon(slow.serve(views, 1, 1))
    await until(lambda: views._subscribers == 2, "both subscribed")
    with pytest.raises(Overloaded, match="limit of 2 open subscriptions"):
        await views.subscribe(1, 0, Subscriber())
    for _ in range(3):
        await engine.slot()
    await until(lambda: fast.heights == list(range(6)), "the reading subscriber got every block in order")
    await until(lambda: slow.aborted is not None, "the stalled subscriber was cut off")
    assert slow.aborted is not None and slow.aborted.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "resume with from_height=1" in slow.aborted.details  # the block it never took
    assert node.metrics.subscribers_cut._value.get() == 1  # type: ignore[attr-defined]
    await until(lambda: views._subscribers == 1, "the cut subscriber's slot is free")
    late = Subscriber()  # a new subscriber takes the freed slot, from the log and then live
    engine.tg.start_soon(late.serve(views, 1, 4))
    await engine.slot()
    await until(lambda: late.heights == [4, 5, 6], "the new subscriber follows")
    assert fast.heights == list(range(7))


async def test_a_view_wanted_by_many_is_built_once_and_its_builder_may_leave(engine: Engine) -> None:
    """Concurrent requests for one live view share one build. The caller whose build the others
    wait on is cancelled before its read got a thread (the read pool is busy): its read never runs,
    the waiters are not cancelled with it (no exception crosses tasks), one of them builds instead."""
    node = engine.node
    await node.submit(tx(1))
    await engine.slot()
    views = RollupViews(node)
    reads = 0
    read = views._read

    def counted(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        return read(*args)

    views._read = counted  # type: ignore[method-assign]
    release = threading.Event()
    busy = [node._reads.submit(release.wait, 30) for _ in range(node._reads._max_workers)]  # every read thread taken
    got: list[Any] = []
    builder = anyio.CancelScope()

    async def leaves() -> None:
        with builder:
            await views.encoded(0, 1)
            raise AssertionError("the builder's caller was cancelled")

    async def view() -> None:
        got.append(await views.encoded(0, 1))

    async with anyio.create_task_group() as tg:
        tg.start_soon(leaves)
        await until(lambda: (0, 1) in views._building, "the first caller builds")
        for _ in range(4):
            tg.start_soon(view)
        await anyio.sleep(0.02)
        builder.cancel()
        await until(lambda: builder.cancelled_caught, "the builder left")
        release.set()
    assert all(b.result() for b in busy)
    assert len(got) == 4 and all(v is got[0] and v.view().signed_header.header.height == 0 for v in got)
    assert reads == 1  # the left build never read (unqueued); the four share one


class Recorder(Subscriber):
    """A reading subscriber that keeps the very objects it was handed to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []

    async def write(self, resp: bytes) -> None:
        self.sent.append(resp)
        await super().write(resp)


async def test_live_views_are_encoded_once_per_rollup_and_read_once_per_block(engine: Engine) -> None:
    """Live subscribers of a rollup are handed the same bytes (encoded once, on the read thread),
    byte for byte the SubscribeBlocksResponse protobuf writes; a new block's views for every
    rollup with a subscriber at the head come from one read-pool call (one thread hop a block,
    not one per rollup or per subscriber)."""
    node = engine.node
    await node.submit(tx(0))
    await engine.slot()
    views = RollupViews(node)
    hops: list[tuple[int, list[int]]] = []
    read_height = views._read_height

    def counted(height: int, rollup_ids: Any) -> Any:
        hops.append((height, list(rollup_ids)))
        return read_height(height, rollup_ids)

    views._read_height = counted  # type: ignore[method-assign]
    subs = {rid: [Recorder() for _ in range(4)] for rid in (1, 2)}
    for rid, group in subs.items():
        for sub in group:
            engine.tg.start_soon(sub.serve(views, rid, 1))
    await until(lambda: sum(views._following.values()) == 8, "all eight wait at the head")
    for i in range(1, 4):
        await node.submit(tx(i, 1 + i % 2))
        await engine.slot()
    await until(lambda: all(s.heights == [1, 2, 3] for g in subs.values() for s in g), "every block to each")
    for rid, group in subs.items():
        for k in range(3):
            assert all(s.sent[k] is group[0].sent[k] for s in group)  # one object, shared by the streams
            view = await views.view(k + 1, rid)
            assert view is not None and group[0].sent[k] == pb.SubscribeBlocksResponse(block=view).SerializeToString()
    assert [h for h, _ in hops] == [1, 2, 3]  # one read for both rollups, per block
    assert all(sorted(r) == [1, 2] for _, r in hops)


async def test_the_subscriber_waiting_for_a_block_for_the_others_may_leave(engine: Engine) -> None:
    """At the head, one subscriber waits for the next block on the others' behalf; when its client
    leaves, another takes over and nobody misses the block."""
    node = engine.node
    await node.submit(tx(0))
    await engine.slot()
    views = RollupViews(node)
    first, others = Subscriber(), [Subscriber(), Subscriber()]
    leaves = anyio.CancelScope()

    async def first_serves() -> None:
        with leaves:
            await first.serve(views, 1, 1)()
    engine.tg.start_soon(first_serves)
    await until(lambda: 1 in views._sealing, "the first subscriber waits for block 1")
    for sub in others:
        engine.tg.start_soon(sub.serve(views, 1, 1))
    await until(lambda: views._subscribers == 3, "all three subscribed")
    leaves.cancel()
    await until(lambda: views._subscribers == 2, "the first one left")
    for i in range(1, 3):
        await node.submit(tx(i))
        await engine.slot()
    await until(lambda: all(s.heights == [1, 2] for s in others), "the others got every block")
    assert first.heights == []


async def test_close_waits_for_a_read_whose_caller_left() -> None:
    """A caller that stops waiting (cancelled: a client gone) leaves its read running on its thread;
    the log is not closed under it."""
    log = MemoryLog()
    node = make_node(log, FakeClock())
    release = threading.Event()
    seen: list[int] = []

    def slow_read() -> None:
        release.wait(30)
        seen.append(log.head_height())  # raises if the log was closed meanwhile

    with anyio.move_on_after(0.05) as left:
        await node.read(slow_read)
    assert left.cancelled_caught
    threading.Timer(0.1, release.set).start()
    node.close()
    assert seen == [-1]


# -- the storage fault path ----------------------------------------------------------------------


async def test_a_failed_commit_gives_no_receipt_and_stops_the_node_naming_the_cause() -> None:
    log, clock = MemoryLog(), FakeClock()
    node = make_node(log, clock)
    told: list[BaseException] = []

    async def on_fatal(fault: BaseException) -> None:
        told.append(fault)

    node.on_fatal = on_fatal
    kept = None
    try:
        with pytest.raises(BaseException) as stopped:  # the task group's exception group
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                kept = await node.submit(tx(0))
                log.fault = StorageFault("storage fault: database or disk is full (write)")
                ticket = node.admit_transaction(tx(1))
                with pytest.raises(Temporary, match="could not persist"):
                    await ticket.wait()
                await anyio.sleep_forever()  # the writer's fault ends the group
        faults = [e for e in leaf_exceptions(stopped.value) if isinstance(e, SharedSeqError)]
        assert [type(f) for f in faults] == [StorageFault] and "disk is full" in str(faults[0])
        assert told == faults  # told first, with the same fault
        assert not log.durable(tx(1)) and kept is not None and log.durable(tx(0))
        with pytest.raises(Temporary, match="stopping after a storage failure"):
            node.admit_transaction(tx(2))  # nothing more is promised
    finally:
        node.close()


async def test_a_fault_between_the_records_and_their_block_loses_no_receipt() -> None:
    """The block's commit fails after its records' own commit: the receipts given stand, the log
    holds the records as pending, and a core restored from it seals the same block (what a crash
    between the two commits leaves, too)."""
    log, clock = MemoryLog(), FakeClock()
    node = make_node(log, clock)
    receipt = None
    try:
        with pytest.raises(BaseException) as stopped:
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                engine = Engine(node, log, clock, tg)
                first, second = await _records_queued_beside_a_seal(engine)
                log.block_fault = StorageFault("storage fault: database or disk is full (write)")
                log.gate.set()
                await first.wait()
                (receipt,) = await second.wait()
                await anyio.sleep_forever()  # the block's fault ends the group
        assert any(isinstance(e, StorageFault) for e in leaf_exceptions(stopped.value))
        assert node.durable_height == -1 and receipt is not None
        state = log.load_state()
        assert [r.tx_hash for r in state.pending] == [tx(0).tx_hash, tx(1).tx_hash]
        core = SequencerCore(make_config(slot_ms=SLOT_MS), make_signer())
        core.restore(state.head, state.pending)
        block = core.seal(START_MS + SLOT_MS)
        assert block.namespace(1).transactions[receipt.index] == b"tx-1"
        assert block.namespace(1).transactions == (b"tx-0", b"tx-1")
    finally:
        node.close()


async def test_a_failure_that_is_not_the_disk_stops_the_node_as_a_bug() -> None:
    log, clock = MemoryLog(), FakeClock()
    node = make_node(log, clock)
    log.fault = ValueError("a bug in the writer")
    try:
        with pytest.raises(BaseException) as stopped:
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                with pytest.raises(Temporary):
                    await node.submit(tx(0))
                await anyio.sleep_forever()
    finally:
        node.close()
    (fault,) = [e for e in leaf_exceptions(stopped.value) if isinstance(e, SharedSeqError)]
    assert type(fault) is Critical and "group commit failed" in str(fault) and "a bug" in str(fault)


async def test_a_replicated_log_that_does_not_confirm_makes_the_node_resign_not_stop(engine: Engine) -> None:
    node, log = engine.node, engine.log
    resigned: list[BaseException] = []
    node.on_resign = resigned.append
    log.fault = LogUnavailable("no quorum")
    with pytest.raises(Temporary):
        await node.admit_transaction(tx(0)).wait()
    assert not node.leading and [str(e) for e in resigned] == ["no quorum"]
    assert not log.durable(tx(0))
    with pytest.raises(SharedSeqError, match="follows"):
        node.admit_transaction(tx(1))
    log.fault = None
    node.lead()  # the node runs on: a new term leads from the log
    assert (await node.submit(tx(1))).height == 0


# -- backend neutrality --------------------------------------------------------------------------


NEUTRAL = ["sequencer/service/node.py", "sequencer/service/views.py", "sequencer/service/limits.py"]
"""The engine and its subscription service: no asyncio (the gRPC edge is server.py, grpc_api.py,
stream_submit.py)."""


@pytest.mark.parametrize("path", NEUTRAL)
def test_the_engine_never_imports_asyncio(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"asyncio", "trio"}, path
