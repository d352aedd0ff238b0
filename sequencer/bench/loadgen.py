"""The load generator: grpc.aio clients in processes of their own, open loop or closed loop.

Open loop (latency): message k of a worker is due at start + k / rate, whatever the server does.
A sender that wakes up after a message's due time sends it at once and counts it late (more than
LATE_S behind); its latency is still taken from the due time, so a server that stalls the sender
is charged for the wait (no coordinated omission). Latency = receipt arrival - scheduled send.

Closed loop (throughput): each stream keeps `window` messages unanswered; throughput counts the
transactions answered with a receipt inside the measured interval.

Requests are serialised before the start, so the generator's own cost during the run is writing
bytes and reading answers. Each worker is a spawned process (no fork after grpc is loaded) that
reports ready, waits for the common start time, runs, and sends its results back on a pipe.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

LATE_S = 0.001
"""A send more than this behind its schedule counts as late."""
SERVICE = "/sharedseq.v1.SequencerService/"


@dataclass(slots=True)
class Spec:
    """One worker's job. `txs[rollup]` are the signed payloads it may use, in order."""

    address: str
    kind: str  # "single" | "list" | "bundle" | "unary" | "subscribe"
    txs: dict[int, list[bytes]] = field(default_factory=dict)
    per_message: int = 1
    rate_msgs: float = 0.0  # open loop when > 0
    window: int = 64  # closed loop: unanswered messages per stream
    streams: int = 1
    duration_s: float = 2.0
    subscribers: int = 0
    from_height: int = 0


@dataclass(slots=True)
class Result:
    sent_msgs: int = 0
    ok_txs: int = 0
    err_txs: int = 0
    late: int = 0
    unanswered: int = 0
    latencies: list[float] = field(default_factory=list)
    """Per answered message (open loop), or per block received (subscribers), in seconds."""
    ok_in_window: int = 0
    window_s: float = 0.0
    """The measured interval: the run's duration, or less when the worker ran out of transactions."""
    first_error: str = ""
    last_ok_s: float = 0.0
    """When the last transaction was answered, in seconds from the start."""
    ok_in_window_rate: float = 0.0
    """Merged results: the sum of each worker's answered transactions per second."""


def _requests(spec: Spec) -> list[bytes]:
    from sharedseq.v1 import sequencer_pb2 as pb

    out: list[bytes] = []
    rollups = sorted(spec.txs)
    if spec.kind == "bundle":
        n = min(len(v) for v in spec.txs.values())
        for k in range(n):
            legs = [pb.Transaction(rollup_id=r, payload=spec.txs[r][k]) for r in rollups]
            out.append(pb.StreamSubmitRequest(request_id=k, bundle=pb.Bundle(legs=legs)).SerializeToString())
        return out
    # Interleaved, so messages mix the rollups as real traffic would.
    longest = max((len(v) for v in spec.txs.values()), default=0)
    flat = [(r, spec.txs[r][i]) for i in range(longest) for r in rollups if i < len(spec.txs[r])]
    m = spec.per_message
    for k, i in enumerate(range(0, len(flat) - m + 1, m)):
        chunk = [pb.Transaction(rollup_id=r, payload=p) for r, p in flat[i:i + m]]
        if spec.kind == "unary":
            out.append(pb.SubmitTransactionRequest(transaction=chunk[0]).SerializeToString())
        elif m == 1:
            out.append(pb.StreamSubmitRequest(request_id=k, transaction=chunk[0]).SerializeToString())
        else:
            out.append(pb.StreamSubmitRequest(
                request_id=k, transactions=pb.TransactionList(transactions=chunk)).SerializeToString())
    return out


def _count(resp: Any, res: Result) -> tuple[int, int]:
    """(ok, refused) transactions in one StreamSubmitResponse."""
    if resp.results:
        ok = sum(1 for x in resp.results if x.HasField("receipt"))
        bad = len(resp.results) - ok
    else:
        ok, bad = len(resp.receipts), 0 if resp.receipts else 1
    if bad and not res.first_error:
        err = resp.error if resp.HasField("error") else next(x.error for x in resp.results if not x.HasField("receipt"))
        res.first_error = f"{err.code}: {err.message}"
    return ok, bad


async def _stream(spec: Spec, reqs: list[tuple[int, bytes]], t0: float, res: Result) -> None:
    import grpc

    from sharedseq.v1 import sequencer_pb2 as pb

    async with grpc.aio.insecure_channel(spec.address) as ch:
        call = ch.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                                response_deserializer=pb.StreamSubmitResponse.FromString)()
        due: dict[int, float] = {}
        end = t0 + spec.duration_s
        free = asyncio.Semaphore(spec.window)
        open_loop = spec.rate_msgs > 0

        async def send() -> None:
            loop_time = time.perf_counter
            for k, (request_id, req) in enumerate(reqs):
                if open_loop:
                    at = t0 + k / spec.rate_msgs
                    if at >= end:
                        break
                    delay = at - loop_time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif -delay > LATE_S:
                        res.late += 1
                else:
                    await free.acquire()
                    at = loop_time()
                    if at >= end:
                        break
                due[request_id] = at
                await call.write(req)
                res.sent_msgs += 1
            await call.done_writing()

        async def receive() -> None:
            async for resp in call:
                now = time.perf_counter()
                at = due.pop(resp.request_id)
                ok, bad = _count(resp, res)
                res.ok_txs += ok
                res.err_txs += bad
                if ok:
                    res.last_ok_s = now - t0
                if now <= end:
                    res.ok_in_window += ok
                    last[0] = now
                if open_loop:
                    res.latencies.append(now - at)
                else:
                    free.release()

        last = [t0]
        sender = asyncio.ensure_future(send())
        try:
            await asyncio.wait_for(receive(), spec.duration_s + 30)
        except TimeoutError:
            call.cancel()
        await sender
        res.unanswered += len(due)
        if not open_loop and last[0] < end and len(due) == 0:
            # Out of transactions before the end: the interval is what was actually measured.
            res.window_s = min(res.window_s, last[0] - t0)


async def _unary(spec: Spec, reqs: list[bytes], t0: float, res: Result) -> None:
    import grpc

    async with grpc.aio.insecure_channel(spec.address) as ch:
        submit = ch.unary_unary(SERVICE + "SubmitTransaction", request_serializer=None, response_deserializer=None)
        end = t0 + spec.duration_s
        it = iter(reqs)

        async def caller() -> None:
            for req in it:
                if time.perf_counter() >= end:
                    return
                res.sent_msgs += 1
                try:
                    await submit(req)
                except grpc.aio.AioRpcError as exc:
                    res.err_txs += 1
                    res.first_error = res.first_error or f"{exc.code()}: {exc.details()}"
                    continue
                res.ok_txs += 1
                res.last_ok_s = time.perf_counter() - t0
                if res.last_ok_s <= spec.duration_s:
                    res.ok_in_window += 1

        await asyncio.gather(*(caller() for _ in range(spec.window)))
        if time.perf_counter() < end:  # ran out of transactions first
            res.window_s = time.perf_counter() - t0


async def _subscribe(spec: Spec, t0: float, res: Result) -> None:
    import grpc

    from sharedseq.v1 import sequencer_pb2 as pb

    rollups = sorted(spec.txs)
    end = t0 + spec.duration_s

    async def one(i: int) -> None:
        async with grpc.aio.insecure_channel(spec.address) as ch:
            # From the next block on: a block sealed before this subscriber came is a replay, not a delivery.
            info = await ch.unary_unary(SERVICE + "GetSequencerInfo", request_serializer=pb.GetSequencerInfoRequest.
                                        SerializeToString, response_deserializer=pb.GetSequencerInfoResponse.
                                        FromString)(pb.GetSequencerInfoRequest())
            since = time.time()
            req = pb.SubscribeBlocksRequest(rollup_id=rollups[i % len(rollups)],
                                            from_height=max(spec.from_height, info.sealed_height + 1))
            call = ch.unary_stream(SERVICE + "SubscribeBlocks", request_serializer=pb.SubscribeBlocksRequest.
                                   SerializeToString, response_deserializer=pb.SubscribeBlocksResponse.FromString)(req)
            async for resp in call:
                # The header's timestamp is the clock reading the block was sealed with (node.seal_now),
                # in the same wall clock as this process: the lag is seal -> durable -> delivered.
                sealed = resp.block.signed_header.header.timestamp_ms / 1000
                if sealed >= since:
                    res.latencies.append(time.time() - sealed)
                    res.ok_txs += 1
                if time.perf_counter() >= end:
                    call.cancel()
                    return

    await asyncio.gather(*(one(i) for i in range(spec.subscribers)))


def _job(spec: Spec, conn: Connection) -> None:
    import grpc

    reqs = [] if spec.kind == "subscribe" else _requests(spec)
    with grpc.insecure_channel(spec.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
    conn.send("ready")
    start_wall = conn.recv()
    t0 = time.perf_counter() + (start_wall - time.time())
    res = Result(window_s=spec.duration_s)

    async def main() -> None:
        await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
        if spec.kind == "subscribe":
            await _subscribe(spec, t0, res)
        elif spec.kind == "unary":
            await _unary(spec, reqs, t0, res)
        else:
            # Request k carries request_id k; each stream takes every streams-th, keeping its id.
            share = [list(enumerate(reqs))[s::spec.streams] for s in range(spec.streams)]
            fields = {f: getattr(spec, f) for f in Spec.__slots__}
            streams = [Spec(**{**fields, "rate_msgs": spec.rate_msgs / spec.streams}) for _ in share]
            await asyncio.gather(*(_stream(s, r, t0, res) for s, r in zip(streams, share, strict=True)))

    asyncio.run(main())
    conn.send(res)


def _worker(conn: Connection) -> None:
    """A generator process: runs the jobs it is sent, one at a time, until it is sent None."""
    import grpc  # noqa: F401 - loaded once, before the first job

    while (spec := conn.recv()) is not None:
        _job(spec, conn)
    conn.close()


class Generator:
    """The generator's processes, spawned once (no fork after grpc is loaded) and reused by every
    phase: `run` hands spec i to process i, starts them together, and returns their results."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._procs: list[tuple[Any, Connection]] = []

    def run(self, specs: list[Spec], *, lead_s: float = 0.3) -> list[Result]:
        while len(self._procs) < len(specs):
            parent, child = self._ctx.Pipe()
            p = self._ctx.Process(target=_worker, args=(child,), daemon=True)
            p.start()
            self._procs.append((p, parent))
        pipes = [c for _, c in self._procs[:len(specs)]]
        for c, spec in zip(pipes, specs, strict=True):
            c.send(spec)
        for c in pipes:
            if not c.poll(120):
                raise RuntimeError("a load generator worker did not get ready in 120 s")
            c.recv()
        start = time.time() + lead_s
        for c in pipes:
            c.send(start)
        timeout = max(s.duration_s for s in specs) + 60
        out = []
        for c in pipes:
            if not c.poll(timeout):
                raise RuntimeError("a load generator worker did not report")
            out.append(c.recv())
        return out

    def close(self) -> None:
        for _, c in self._procs:
            try:
                c.send(None)
            except OSError:
                pass
        for p, _ in self._procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        self._procs = []


def split(txs: dict[int, list[bytes]], parts: int) -> list[dict[int, list[bytes]]]:
    """Disjoint shares of the transactions, one per worker."""
    return [{r: v[i::parts] for r, v in txs.items()} for i in range(parts)]


def merge(results: list[Result]) -> Result:
    out = Result()
    for r in results:
        out.sent_msgs += r.sent_msgs
        out.ok_txs += r.ok_txs
        out.err_txs += r.err_txs
        out.late += r.late
        out.unanswered += r.unanswered
        out.latencies.extend(r.latencies)
        out.ok_in_window += r.ok_in_window
        out.window_s = max(out.window_s, r.window_s)
        if r.ok_in_window == 0 and r.ok_txs and r.last_ok_s > 0:
            # Nothing answered within a (tiny, or badly overloaded) window, yet answers came: the rate
            # over the time they took, rather than a 0 that says the server did nothing.
            out.ok_in_window_rate += r.ok_txs / r.last_ok_s
        else:
            out.ok_in_window_rate += r.ok_in_window / r.window_s if r.window_s > 0 else 0.0
        out.first_error = out.first_error or r.first_error
    return out
