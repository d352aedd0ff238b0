"""Subscribers cannot exhaust the server or starve its commits (issue 9, finding 3).

- 50 subscribers replaying from height 0, half never reading: the server's RSS stays under the
  configured bound (replay budget + per-stream overhead), where it used to grow by ~31 MB each;
- a subscriber that stops reading is cut off with RESOURCE_EXHAUSTED naming the height to
  resume from, and resuming there gets that block next;
- with every thread of anyio's default pool and of the node's read pool blocked, commits go on
  (the writer has its own thread); log reads never run on the event loop's thread;
- the view cache is an LRU bounded by bytes, and replays never insert into it.
"""

from __future__ import annotations

import logging
import shutil
import signal
import statistics
import threading
import time
from pathlib import Path

import anyio
import anyio.to_thread
import grpc
import pytest
from seq_helpers import config_doc
from torture import A, B, free_port, start_server, wait_healthy, write_config

from sequencer.config import parse_config
from sequencer.core.types import Transaction
from sequencer.server import build_node, running
from sequencer.service import views as views_module
from sequencer.service.views import EncodedView, RollupViews, ViewCache, ViewLimits
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BLOCKS = 120
PER_BLOCK = {A: 4, B: 8}  # 20 kB transactions: about 240 kB a block, a third of it rollup A's
READ = 30
"""Blocks each reading subscriber takes (the non-readers stall meanwhile)."""
TX_BYTES = 20_000
SUBSCRIBER_BOUNDS = {"chunk_bytes": 256 * 1024, "replay_bytes": 4 * 1024 * 1024, "stall_s": 2.0}


def _config(workdir: Path, **sequencer: object):
    from sequencer.keys import write_key

    if not (workdir / "seq.key").exists():
        write_key(workdir / "seq.key")
    doc = config_doc(workdir, rate_limit_tx_per_s=0, client_share=0, max_streams_per_client=0, **sequencer)
    doc["rollups"] = [{"id": A, "name": "a", "policy": "opaque"}, {"id": B, "name": "b", "policy": "opaque"}]
    doc["subscribers"] = dict(SUBSCRIBER_BOUNDS)
    return parse_config(doc, workdir)


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of BLOCKS blocks of about 480 kB each (both rollups), written once for the module."""
    workdir = tmp_path_factory.mktemp("biglog")
    cfg = _config(workdir, slot_ms=3_600_000)

    async def fill() -> None:
        node = build_node(cfg)
        async with running(cfg, node):
            for h in range(BLOCKS):
                txs = [Transaction(rid, h.to_bytes(4, "big") + bytes([rid % 256, i]) + bytes(TX_BYTES))
                       for rid, n in PER_BLOCK.items() for i in range(n)]
                ticket, _ = node.admit_list(txs)
                await ticket.wait()
                await node.seal_now()

    anyio.run(fill)
    return workdir / "data"


def _server_with(log_dir: Path, workdir: Path) -> tuple[str, object]:
    shutil.copytree(log_dir, workdir / "data")
    shutil.copy(log_dir.parent / "seq.key", workdir / "seq.key")  # the key that signed the log
    port = free_port()
    config = write_config(workdir, port, slot_ms=50)
    text = config.read_text() + "\n[subscribers]\n" + "".join(f"{k} = {v}\n" for k, v in SUBSCRIBER_BOUNDS.items())
    config.write_text(text)
    proc = start_server(config, workdir / "server.log")
    address = f"127.0.0.1:{port}"
    wait_healthy(address, proc)
    return address, proc


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _p99_ms(stub: pb_grpc.SequencerServiceStub, tag: str, n: int = 200) -> float:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=pb.Transaction(
            rollup_id=A, payload=f"{tag}-{i}".encode())), timeout=10)
        lat.append((time.perf_counter() - t) * 1000)
    return statistics.quantiles(lat, n=100)[98]


SUBSCRIBERS = """
import sys, threading, grpc
from sharedseq.v1 import sequencer_pb2 as pb, sequencer_pb2_grpc as pb_grpc
address, rollup, read = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
got, calls, threads = [0], [], []
def reader(call):
    try:
        for n, _ in enumerate(call):
            got[0] += 1
            if n + 1 >= read:
                call.cancel()
                return
    except grpc.RpcError:
        pass
for i in range(50):
    ch = grpc.insecure_channel(address)
    call = pb_grpc.SequencerServiceStub(ch).SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=rollup, from_height=0))
    calls.append((ch, call))
    if i % 2 == 0:
        threads.append(threading.Thread(target=reader, args=(call,), daemon=True))
print("open", flush=True)
for t in threads:
    t.start()
for t in threads:
    t.join()
print("read", got[0], flush=True)
sys.stdin.read()
"""
"""50 subscribers from height 0 in a process of their own (so their work does not slow the honest
client measuring latency in this one); the even ones read READ blocks, the odd ones never read."""


def test_fifty_replaying_subscribers_half_not_reading_hold_bounded_memory(big_log: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    address, proc = _server_with(big_log, tmp_path)
    subs = None
    try:
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            idle_p99 = _p99_ms(stub, "idle")
            rss_before = _rss_mb(proc.pid)  # type: ignore[attr-defined]
            subs = subprocess.Popen([sys.executable, "-c", SUBSCRIBERS, address, str(A), str(READ)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert subs.stdout is not None and subs.stdout.readline().strip() == "open"
            peak = rss_before
            busy_p99 = _p99_ms(stub, "busy", 100)
            peak = max(peak, _rss_mb(proc.pid))  # type: ignore[attr-defined]
            sampler_stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not sampler_stop.is_set():
                    peak = max(peak, _rss_mb(proc.pid))  # type: ignore[attr-defined]
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            line = subs.stdout.readline().split()
            assert line[:1] == ["read"] and int(line[1]) >= 25 * READ, line
            time.sleep(SUBSCRIBER_BOUNDS["stall_s"] + 1)  # across the non-readers' cut-off
            sampler_stop.set()
            sampler.join()
            growth = peak - rss_before
            # The bound: the replay budget, each stream's chunk and one HTTP/2 window of 4 MB
            # pending toward each non-reader, and 40 MB for gRPC and the allocator.
            bound = (SUBSCRIBER_BOUNDS["replay_bytes"] + 50 * SUBSCRIBER_BOUNDS["chunk_bytes"]
                     + 25 * 4 * 1024 * 1024) / 2**20 + 40
            print(f"server RSS {rss_before:.0f} MB -> peak {peak:.0f} MB (+{growth:.0f} MB, bound {bound:.0f} MB); "
                  f"honest p99 idle {idle_p99:.1f} ms, with 50 subscribers {busy_p99:.1f} ms")
            assert growth < bound
            log_mb = sum(f.stat().st_size for f in big_log.iterdir()) / 2**20
            assert growth < log_mb  # old code: every non-reader held whole 256-block chunks of the log
    finally:
        if subs is not None:
            subs.kill()
            subs.wait()
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        proc.wait(timeout=30)  # type: ignore[attr-defined]


def test_a_subscriber_that_stops_reading_is_cut_off_and_resumes(big_log: Path, tmp_path: Path) -> None:
    address, proc = _server_with(big_log, tmp_path)
    try:
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            call = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=A, from_height=0))
            time.sleep(SUBSCRIBER_BOUNDS["stall_s"] + 3)  # not reading: the server's write waits, then gives up
            last = -1
            with pytest.raises(grpc.RpcError) as err:
                for resp in call:
                    last = resp.block.signed_header.header.height
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value  # type: ignore[attr-defined]
            details = err.value.details()  # type: ignore[attr-defined]
            assert "not reading" in details and "from_height=" in details
            resume = int(details.rsplit("from_height=", 1)[1])
            assert 0 < resume <= last + 1 < BLOCKS  # nothing skipped: resume at or before the next one
            again = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=A, from_height=resume))
            assert next(iter(again)).block.signed_header.header.height == resume
            again.cancel()
    finally:
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        proc.wait(timeout=30)  # type: ignore[attr-defined]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # through the gRPC edge (grpc.aio): asyncio only
async def test_commits_go_on_with_every_read_thread_blocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path, slot_ms=3_600_000)
    node = build_node(cfg)
    loop_thread = threading.get_ident()
    sqlite_threads: list[str] = []
    for name in ("read_rollup", "read_blocks", "find_tx", "append"):
        real = getattr(node.log, name)

        def spy(*args, _real=real, **kw):
            if threading.get_ident() == loop_thread:
                sqlite_threads.append(f"{_real.__name__} on the event loop")
            sqlite_threads.append(threading.current_thread().name)
            return _real(*args, **kw)
        monkeypatch.setattr(node.log, name, spy)
    release = threading.Event()
    async with running(cfg, node) as srv:
        ticket, _ = node.admit_list([Transaction(A, b"first")])
        await ticket.wait()
        await node.seal_now()
        async with anyio.create_task_group() as tg:
            # Every token of anyio's default limiter and every read thread, blocked.
            limiter = anyio.to_thread.current_default_thread_limiter()
            for _ in range(int(limiter.total_tokens)):
                tg.start_soon(anyio.to_thread.run_sync, release.wait)
            for _ in range(4):
                tg.start_soon(node.read, release.wait)
            await anyio.sleep(0.2)
            with anyio.fail_after(60):  # a deadline for a hang, not a timing bound
                async with grpc.aio.insecure_channel(srv.address) as ch:
                    stub = pb_grpc.SequencerServiceStub(ch)
                    r = await stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=A, payload=b"while-reads-are-stuck")))
                    block = await node.seal_now()
            assert r.receipt.height == block.height
            release.set()
        async with grpc.aio.insecure_channel(srv.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            sub = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=A, from_height=0))
            assert (await sub.read()).block.signed_header.header.height == 0
            sub.cancel()
            await stub.GetBlock(pb.GetBlockRequest(height=0))
            await stub.GetRollupBlock(pb.GetRollupBlockRequest(height=1, rollup_id=A))
    assert not [t for t in sqlite_threads if "event loop" in t], sqlite_threads
    assert {t.split("_")[0] for t in sqlite_threads} <= {"sharedseq-read", "sharedseq-writer"}, set(sqlite_threads)
    assert any(t.startswith("sharedseq-writer") for t in sqlite_threads)
    assert any(t.startswith("sharedseq-read") for t in sqlite_threads)


def test_view_cache_is_an_lru_bounded_by_bytes() -> None:
    cache = ViewCache(max_bytes=1000)
    for h in range(5):
        cache.put((h, 1), EncodedView(h, bytes(300)), 300)
    assert len(cache) == 3 and cache.bytes == 900 and (0, 1) not in cache
    assert cache.get((2, 1)) is not None  # used: now the most recent
    cache.put((5, 1), EncodedView(5, bytes(300)), 300)
    assert (2, 1) in cache and (3, 1) not in cache and cache.bytes <= 1000


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # through the gRPC edge (grpc.aio): asyncio only
async def test_replays_do_not_evict_the_live_views(big_log: Path, tmp_path: Path) -> None:
    shutil.copytree(big_log, tmp_path / "data")
    shutil.copy(big_log.parent / "seq.key", tmp_path / "seq.key")
    cfg = _config(tmp_path, slot_ms=3_600_000)
    node = build_node(cfg)
    async with running(cfg, node):
        views = RollupViews(node, ViewLimits(cache_bytes=2 * 1024 * 1024, live_heights=8, chunk_bytes=64 * 1024))
        live = [await views.view(h, A) for h in range(BLOCKS - 8, BLOCKS)]
        assert all(v is not None for v in live)
        cached = set(views.cache._views)
        assert len(cached) == 8
        seen = 0
        async for v in views.follow(A, 0):  # a replay of the whole log, through the same object
            seen += 1
            if v.view().signed_header.header.height == BLOCKS - 9:
                break
        assert seen == BLOCKS - 8
        assert set(views.cache._views) == cached  # replays read around the cache
        assert views_module.ViewLimits().cache_bytes > 0


class _LeavesMidWrite:
    """A SubscribeBlocks context whose client goes away while its second block is being written:
    the write fails as grpc.aio's does then (ExecuteBatchError from the failed send batch)."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self.context = context
        self.writes = 0

    async def write(self, message: bytes) -> None:
        self.writes += 1
        if self.writes == 2:
            raise views_module.ExecuteBatchError('Failed "execute_batch": (SendMessageOperation,)')
        await self.context.write(message)

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        await self.context.abort(code, details)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # through the gRPC edge (grpc.aio): asyncio only
async def test_a_subscriber_leaving_mid_write_is_one_debug_line_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A client that cancels (or drops its connection) while a block is on its way is normal: the
    server logs one debug line, never grpc's ERROR with a traceback, frees the subscription and
    goes on serving. Without the handling, grpc.aio logs `ExecuteBatchError raised in core by
    servicer method` at ERROR with the traceback through views.subscribe."""
    caplog.set_level(logging.DEBUG)
    cfg = _config(tmp_path, slot_ms=3_600_000)
    node = build_node(cfg)
    async with running(cfg, node) as srv:
        for i in range(3):
            ticket, _ = node.admit_list([Transaction(A, b"leaving-%d" % i)])
            await ticket.wait()
            await node.seal_now()
        views = srv.servicer.views
        real = views.subscribe
        contexts: list[_LeavesMidWrite] = []

        async def subscribe(rollup_id: int, from_height: int, context: grpc.aio.ServicerContext) -> None:
            contexts.append(_LeavesMidWrite(context))
            await real(rollup_id, from_height, contexts[-1])
        monkeypatch.setattr(views, "subscribe", subscribe)
        with anyio.fail_after(60):  # a deadline for a hang, not a timing bound
            async with grpc.aio.insecure_channel(srv.address) as ch:
                stub = pb_grpc.SequencerServiceStub(ch)
                call = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=A, from_height=0))
                assert (await call.read()).block.signed_header.header.height == 0
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call.read()  # the server ended the call (were this client there, it would see why)
                assert err.value.code() == grpc.StatusCode.CANCELLED
                assert "resume with from_height=1" in (err.value.details() or "")
                while views._subscribers:  # the subscription's slot is given back
                    await anyio.sleep(0.05)
                monkeypatch.setattr(views, "subscribe", real)
                again = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=A, from_height=1))
                assert [(await again.read()).block.signed_header.header.height for _ in range(2)] == [1, 2]
                again.cancel()
    assert contexts and contexts[0].writes == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]
    left = [r for r in caplog.records if r.name == "sharedseq.views" and "left while block 1" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.DEBUG and left[0].exc_info is None
    assert "\n" not in left[0].getMessage()
