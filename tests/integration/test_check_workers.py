"""Admission policy checks in worker processes (sequencer/service/checkers.py, issue 13): the same
verdicts as in the server, each caller its own, batched under load, and nothing lost or hung when a
worker dies. Backend-neutral: the pool runs on asyncio and on trio."""

from __future__ import annotations

import os
import signal

import anyio
import grpc
import pytest
from seq_helpers import Wallet, make_config

from sequencer.core.policy import EvmPolicy, OpaquePolicy, make_policy
from sequencer.errors import BadInput, SharedSeqError
from sequencer.server import running
from sequencer.service import check_worker
from sequencer.service.checkers import RESPAWN_S, PolicyCheckers
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EVM, LEGACY_ONLY, RAW = 901, 902, 904
POLICIES = {EVM: make_policy("evm", EVM), LEGACY_ONLY: make_policy("evm-legacy", LEGACY_ONLY), RAW: OpaquePolicy()}


def _payloads() -> list[tuple[int, bytes]]:
    """Accepted and refused payloads of every kind the EVM policy tells apart."""
    w = Wallet()
    good = w.transfer(EVM)
    legacy = w.transfer(LEGACY_ONLY, kind=0)
    flipped = bytearray(good)
    flipped[-5] ^= 0x01
    return [
        (EVM, good), (EVM, w.transfer(EVM, kind=1)), (EVM, w.transfer(EVM, kind=0)),
        (EVM, w.transfer(EVM + 1)),  # wrong chain
        (EVM, b"\x02\xc0"),  # an empty typed body
        (EVM, good[:-3]),  # truncated
        (EVM, good + b"\x00"),  # trailing bytes
        (EVM, bytes(flipped)),  # a signature that recovers to another key or none
        (EVM, b"\x07" + good[1:]),  # unknown type
        (LEGACY_ONLY, legacy), (LEGACY_ONLY, w.transfer(LEGACY_ONLY)),  # an eip1559 one: not accepted
        (RAW, b"anything"), (EVM, os.urandom(200)),
    ]


def _inline(items: list[tuple[int, bytes]]) -> list[tuple[type, str] | None]:
    out: list[tuple[type, str] | None] = []
    for rid, payload in items:
        try:
            POLICIES[rid].check(payload)
            out.append(None)
        except SharedSeqError as exc:
            out.append((type(exc), str(exc)))
    return out


def _shape(results: list[SharedSeqError | None]) -> list[tuple[type, str] | None]:
    return [None if r is None else (type(r), str(r)) for r in results]


async def _ready(pool: PolicyCheckers) -> None:
    pool.demand(pool.spawn_after)
    with anyio.fail_after(120):  # a worker's start is a Python start-up: seconds on a loaded machine
        while not pool.ready:
            await anyio.sleep(0.02)


BOTH = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])


@BOTH
@pytest.mark.anyio
async def test_workers_give_the_same_verdicts_as_the_server() -> None:
    items = _payloads()
    expected = _inline(items)
    assert all(e is None or issubclass(e[0], BadInput) for e in expected)
    assert sum(e is None for e in expected) >= 4 and sum(e is not None for e in expected) >= 7
    pool = PolicyCheckers(POLICIES, 1, spawn_after=1)
    try:
        assert not pool.ready  # nothing asked for yet: no process started
        await _ready(pool)
        assert _shape(await pool.check(items)) == expected
        assert pool.batches == 1 and pool.deaths == 0
    finally:
        pool.close()


@BOTH
@pytest.mark.anyio
async def test_concurrent_callers_each_get_their_own_verdicts_in_batches() -> None:
    items = _payloads()
    pool = PolicyCheckers(POLICIES, 1, spawn_after=1)
    try:
        await _ready(pool)
        got: dict[int, list] = {}

        async def one(k: int) -> None:
            mine = items[k % len(items):] + items[:k % len(items)]  # each caller its own order
            got[k] = [mine, _shape(await pool.check(mine))]

        async with anyio.create_task_group() as tg:
            for k in range(60):
                tg.start_soon(one, k)
        for mine, verdicts in got.values():
            assert verdicts == _inline(mine)
        assert len(got) == 60
        assert pool.batches < 60  # what was asked for while the worker was busy went as one frame
    finally:
        pool.close()


@BOTH
@pytest.mark.anyio
async def test_a_killed_worker_loses_no_check_and_is_replaced() -> None:
    now = [1000.0]
    pool = PolicyCheckers(POLICIES, 1, spawn_after=1, clock=lambda: now[0])
    try:
        await _ready(pool)
        (w,) = pool._live
        assert w.proc is not None
        big = _payloads() * 300  # a few seconds of checks: the kill lands while the worker has them
        expected = _inline(big)
        results: list = []

        async def check() -> None:
            results.append(_shape(await pool.check(big)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(check)
            await anyio.sleep(0.05)
            os.kill(w.proc.pid, signal.SIGKILL)
        assert results == [expected]  # checked again in the server: every verdict, none lost
        with anyio.fail_after(60):
            while pool.deaths == 0 or pool.ready:
                await anyio.sleep(0.01)
        assert not pool.ready
        assert _shape(await pool.check(big[:5])) == expected[:5]  # no worker: checked in the server
        pool.demand(10)
        assert not pool.ready and pool._starting == 0  # not replaced sooner than RESPAWN_S
        now[0] += RESPAWN_S
        await _ready(pool)
        assert _shape(await pool.check(big[:20])) == expected[:20]
    finally:
        pool.close()


@BOTH
@pytest.mark.anyio
async def test_no_workers_below_the_demand_threshold() -> None:
    pool = PolicyCheckers(POLICIES, 2, spawn_after=1000)
    try:
        pool.demand(999)
        assert pool._starting == 0 and not pool.ready
        items = _payloads()
        assert _shape(await pool.check(items)) == _inline(items)  # checked in the server meanwhile
        assert pool.batches == 0
    finally:
        pool.close()


def test_a_worker_reports_an_unexpected_failure_instead_of_dying() -> None:
    class Broken:
        def check(self, payload: bytes) -> None:
            raise ZeroDivisionError("a bug")

    out = check_worker.check_all({1: Broken(), 2: EvmPolicy(2)}, [(1, b"x"), (2, b"\x02\xc0"), (1, b"y")])
    assert out[0] == ("", "ZeroDivisionError('a bug')") and out[2] == out[0]
    with pytest.raises(BadInput) as refused:
        EvmPolicy(2).check(b"\x02\xc0")
    assert out[1] == ("BadInput", str(refused.value))


@pytest.mark.anyio
async def test_the_server_answers_the_same_with_check_workers(tmp_path) -> None:
    """Lists, single messages, bundles and unary calls, through a server whose long lists are checked
    in a worker, get the answers (receipts, refusals and their messages) a server without workers gives."""
    w = Wallet()
    good = [w.transfer(901) for _ in range(6)]
    bad = [w.transfer(999), b"\x02\xc0", good[0][:-2]]
    answers = []
    for workers in (0, 1):
        cfg = make_config(tmp_path / f"w{workers}", check_workers=workers, rate_limit_tx_per_s=0)
        async with running(cfg) as srv:
            if workers:
                assert srv.node.checkers is not None
                await _ready(srv.node.checkers)
            else:
                assert srv.node.checkers is None
            async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
                stub = pb_grpc.SequencerServiceStub(ch)
                got = []
                items = [pb.Transaction(rollup_id=901, payload=p) for p in [good[0], *bad, good[1]]]
                items.append(pb.Transaction(rollup_id=12345, payload=good[2]))
                items += [pb.Transaction(rollup_id=901, payload=p) for p in bad] * 4  # long enough for a worker
                reqs = [
                    pb.StreamSubmitRequest(request_id=1, transactions=pb.TransactionList(transactions=items)),
                    pb.StreamSubmitRequest(request_id=2, transaction=pb.Transaction(rollup_id=901, payload=bad[0])),
                    pb.StreamSubmitRequest(request_id=3, transaction=pb.Transaction(rollup_id=901, payload=good[3])),
                    pb.StreamSubmitRequest(request_id=4, bundle=pb.Bundle(legs=[
                        pb.Transaction(rollup_id=902, payload=w.transfer(902)),
                        pb.Transaction(rollup_id=901, payload=bad[1])])),
                    pb.StreamSubmitRequest(request_id=5, transactions=pb.TransactionList(
                        transactions=[pb.Transaction(rollup_id=901, payload=p) for p in bad] * 10)),
                ]
                async for resp in stub.StreamSubmit(iter(reqs), timeout=60):
                    got.append(("stream", resp.request_id,
                                [(r.HasField("receipt"), r.error.code, r.error.message) for r in resp.results],
                                len(resp.receipts), resp.error.code, resp.error.message))
                try:
                    await stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=901, payload=bad[2])), timeout=60)
                    got.append(("unary", "ok"))
                except grpc.aio.AioRpcError as exc:
                    got.append(("unary", exc.code(), exc.details()))
                r = await stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=901, payload=good[4])), timeout=60)
                got.append(("unary", r.receipt.index >= 0))
                if workers:  # both long lists went to the worker (short requests are checked in the server)
                    assert srv.node.checkers is not None and srv.node.checkers.batches >= 2
            answers.append(got)
    # The same payloads to both (each server its own log: nothing is a resubmission to the second).
    assert answers[0] == answers[1]
    refusals = [m for entry in answers[1] if entry[0] == "stream" for _, _, m in entry[2] if m]
    assert any("chain id" in m for m in refusals) and any("unknown rollup" in m for m in refusals)
    assert len(refusals) == 4 + 12 + 30
    bundle = next(e for e in answers[1] if e[0] == "stream" and e[1] == 4)
    assert bundle[3] == 0 and "bundle leg 1" in bundle[5]


@pytest.mark.anyio
async def test_a_stream_is_placed_in_request_order_while_checks_overlap(tmp_path) -> None:
    """With a check worker up, a stream's next request is read while the last one's checks run
    (stream_submit.py: reader, placer, writer): here each long list's in the worker, the single
    transactions between them here. Placement stays first come, first served: every answer in
    request order, and the receipts' (height, index) increase with the request ids."""
    w = Wallet()
    cfg = make_config(tmp_path, check_workers=1, rate_limit_tx_per_s=0, client_inflight_txs=0)
    async with running(cfg) as srv:
        assert srv.node.checkers is not None
        await _ready(srv.node.checkers)
        batches = srv.node.checkers.batches
        reqs = []
        for k in range(1, 121):
            if k % 10 == 0:
                reqs.append(pb.StreamSubmitRequest(request_id=k, transactions=pb.TransactionList(
                    transactions=[pb.Transaction(rollup_id=901, payload=w.transfer(901)) for _ in range(20)])))
            else:
                reqs.append(pb.StreamSubmitRequest(request_id=k, transaction=pb.Transaction(
                    rollup_id=901, payload=w.transfer(901))))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            got = [resp async for resp in stub.StreamSubmit(iter(reqs), timeout=120)]
        assert [r.request_id for r in got] == list(range(1, 121))
        places = []
        for r in got:
            receipts = list(r.receipts) or [x.receipt for x in r.results]
            assert receipts and not r.error.message
            places += [(x.height, x.index) for x in receipts]
        assert places == sorted(places) and len(set(places)) == len(places) == 108 + 12 * 20
        assert srv.node.checkers.batches >= batches + 12  # the lists' checks went to the worker


def test_demand_rate_is_over_the_last_whole_window() -> None:
    now = [100.0]
    pool = PolicyCheckers(POLICIES, 0, clock=lambda: now[0])  # no workers: only the rate is kept
    pool.workers = 1
    pool.spawn_after = 10**9  # never start one here
    assert pool.rate() == 0.0
    for _ in range(20):
        pool.demand(100)
        now[0] += 0.04
    assert pool.rate() == 0.0  # 0.8 s: the first window is not over
    now[0] += 0.3
    assert 1_800 < pool.rate() < 1_830  # 2,000 checks over 1.1 s, read before the next demand
    pool.demand(1)  # starts the next window; the rate stays the last window's
    assert 1_800 < pool.rate() < 1_830
    now[0] += 5  # then quiet: a window that ended long ago counts as nothing
    assert pool.rate() == 0.0
