"""Memory under hostile clients, measured on a real server process (issue 9, finding 2).

The server runs as `sharedseq serve` in a subprocess; a sampler reads its RSS (/proc/PID/status)
every 20 ms while each abuse the issue describes runs, and an honest client submits one signed
transaction every 20 ms and times its receipts. Each test asserts that the server's peak RSS stays
under the configured bound: the idle figure plus total_request_bytes plus total_answer_bytes plus
a fixed allowance for the runtime (gRPC transport buffers, allocator slack). Before the fix these
abuses took it from 70 MB to 1.2-3 GB. The latency figures are printed (run with -s), not asserted.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from seq_helpers import ROLLUPS, Wallet, free_port, garbage_list, varint

from sequencer.keys import write_key
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MB = 1024 * 1024
TOTAL_REQUEST_BYTES = 16 * MB
TOTAL_ANSWER_BYTES = 16 * MB
MAX_MESSAGE_BYTES = 4 * MB
READ_AHEAD_BYTES = 1 * MB
RUNTIME_ALLOWANCE = 64 * MB
"""The allocator's slack and fragmentation, and what the idle figure does not show of the runtime."""


def bound(calls: int) -> int:
    """The configured bound with `calls` hostile calls open: the two pools, and per open call its
    HTTP/2 receive window plus one message being received (gRPC assembles a whole message before
    any handler sees it, so that part is bounded by max_message_bytes, not by the pools)."""
    return TOTAL_REQUEST_BYTES + TOTAL_ANSWER_BYTES + calls * (READ_AHEAD_BYTES + MAX_MESSAGE_BYTES) + RUNTIME_ALLOWANCE

PHASE_S = 3.0
STALL_S = 1.5
SERVICE = "/sharedseq.v1.SequencerService/"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")




@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    address: str
    abusers: Abusers
    idle_rss: int = 0
    wallet: Wallet = field(default_factory=Wallet)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hostile")
    write_key(tmp / "seq.key")
    port = free_port()
    rollups = "".join(f'\n[[rollups]]\nid = {r["id"]}\nname = "{r["name"]}"\nformat = "{r["format"]}"\n'
                      f'block_time_ms = {r["block_time_ms"]}\n' for r in ROLLUPS)
    (tmp / "seq.toml").write_text(f"""
[sequencer]
listen = "127.0.0.1:{port}"
data_dir = "data"
key_file = "seq.key"
slot_ms = 50
metrics_listen = ""
log_format = "text"
# One host plays every client here: per-client limits off, so the API's own bounds are what is tested.
rate_limit_tx_per_s = 0
rate_limit_bytes_per_s = 0
max_streams_per_client = 0
client_share = 0
max_list_items = 256
max_answer_bytes = {1 * MB}
stream_window_bytes = {1 * MB}
stream_stall_timeout_s = {STALL_S}
total_answer_bytes = {TOTAL_ANSWER_BYTES}
total_request_bytes = {TOTAL_REQUEST_BYTES}
read_ahead_bytes = {READ_AHEAD_BYTES}
max_message_bytes = {MAX_MESSAGE_BYTES}

[domain]
chain_id = 31337
verifying_contract = "0x{"ab" * 20}"
{rollups}""")
    proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config", str(tmp / "seq.toml"),
                             "--log-level", "ERROR"], cwd=tmp, start_new_session=True)
    srv = Server(proc, f"127.0.0.1:{port}", Abusers(f"127.0.0.1:{port}"))
    try:
        with grpc.insecure_channel(srv.address) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            stub = pb_grpc.SequencerServiceStub(ch)
            for _ in range(5):  # warm up: every code path an honest client uses
                stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=901, payload=srv.wallet.transfer(901))))
        time.sleep(0.5)
        srv.idle_rss = rss_bytes(proc.pid)
        yield srv
    finally:
        srv.abusers.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Figures:
    peak_rss: int = 0
    latencies: list[float] = field(default_factory=list)
    honest_errors: list[str] = field(default_factory=list)

    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98] * 1000 if len(self.latencies) > 2 else float("nan")


def measure(srv: Server, abuse: str, threads: int, seconds: float = PHASE_S) -> tuple[Figures, dict]:
    """Run `threads` copies of the abuse named `abuse` in another process (so the honest client's
    timings are not the abusers' GIL) for `seconds`, sampling the server's RSS and timing an honest
    client meanwhile. Returns the figures and what the abusers saw."""
    figs = Figures()
    stop = threading.Event()
    txs = [srv.wallet.transfer(902) for _ in range(int(seconds / 0.02) + 10)]

    def sample() -> None:
        while not stop.is_set():
            figs.peak_rss = max(figs.peak_rss, rss_bytes(srv.proc.pid))
            time.sleep(0.02)

    def honest() -> None:
        with grpc.insecure_channel(srv.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            for payload in txs:
                if stop.is_set():
                    return
                t = time.perf_counter()
                try:
                    r = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=902, payload=payload)), timeout=10)
                    assert r.receipt.tx_hash
                    figs.latencies.append(time.perf_counter() - t)
                except grpc.RpcError as exc:
                    figs.honest_errors.append(f"{exc.code().name}: {exc.details()}")
                except Exception as exc:  # reported by the test, not lost in a thread
                    figs.honest_errors.append(repr(exc))
                time.sleep(0.02)

    if threads:
        srv.abusers.command(f"start {abuse} {threads}")
    workers = [threading.Thread(target=sample), threading.Thread(target=honest)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    seen: dict = json.loads(srv.abusers.command("stop")) if threads else {}
    stop.set()
    for w in workers:
        w.join(timeout=30)
    figs.peak_rss = max(figs.peak_rss, rss_bytes(srv.proc.pid))
    return figs, seen


def report(name: str, srv: Server, figs: Figures, calls: int, idle: Figures | None = None) -> None:
    limit = bound(calls)
    grown = (figs.peak_rss - srv.idle_rss) / MB
    p99 = f"honest p99 {figs.p99_ms():.1f} ms over {len(figs.latencies)} receipts"
    if idle is not None:
        p99 += f" (idle {idle.p99_ms():.1f} ms)"
    print(f"\n[{name}] server RSS idle {srv.idle_rss / MB:.0f} MB, peak {figs.peak_rss / MB:.0f} MB "
          f"(+{grown:.0f} MB; bound +{limit / MB:.0f} MB); {p99}")
    assert figs.peak_rss - srv.idle_rss <= limit, f"{name}: RSS grew {grown:.0f} MB, over the bound"
    assert not figs.honest_errors, figs.honest_errors[:3]
    assert srv.proc.poll() is None, "the server died"


_idle: list[Figures] = []


def idle_figures(srv: Server) -> Figures:
    if not _idle:
        _idle.append(measure(srv, "", threads=0, seconds=2.0)[0])
    return _idle[0]


def raw_stream(channel: grpc.Channel) -> Callable[..., Iterator[pb.StreamSubmitResponse]]:
    return channel.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                                 response_deserializer=pb.StreamSubmitResponse.FromString)


def garbage_lists(address: str, stop: threading.Event, seen: dict) -> None:
    """Stream 4 MB lists of 2 million empty items (the issue: 70 MB -> 1.2 GB a list), reading answers."""
    garbage = garbage_list(1, 2_000_000)
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 8 * MB)]) as ch:
        def gen() -> Iterator[bytes]:
            while not stop.is_set():
                yield garbage

        for resp in raw_stream(ch)(gen()):
            code = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            seen.setdefault("codes", []).append("RESOURCE_EXHAUSTED" if resp.error.code == code else str(resp))


def stop_reading(address: str, stop: threading.Event, seen: dict) -> None:
    """Send lists of 256 refused items (~240 KB, the issue's lists) and never read the answers."""
    junk = pb.StreamSubmitRequest(transactions=pb.TransactionList(
        transactions=[pb.Transaction(rollup_id=7000 + i, payload=b"\x02" + bytes([i % 256]) * 900)
                      for i in range(256)])).SerializeToString()
    # A small receive window (no bandwidth probing) so the server, not this client, holds the answers.
    with grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)]) as ch:
        def gen() -> Iterator[bytes]:
            while not stop.is_set():
                yield junk

        answers = raw_stream(ch)(gen())
        stop.wait()  # read nothing until the phase ends
        try:
            for _ in answers:
                pass
            seen.setdefault("ends", []).append("OK")
        except grpc.RpcError as exc:
            seen.setdefault("ends", []).append(exc.code().name)


@functools.cache
def huge_bundle() -> bytes:
    """A SubmitBundleRequest of 400,000 one-byte legs (~3.6 MB), built once per process."""
    leg = pb.Bundle(legs=[pb.Transaction(rollup_id=901, payload=b"\x01")]).SerializeToString()
    legs = leg * 400_000  # protobuf concatenates repeated fields: 400,000 legs
    return b"\x0a" + varint(len(legs)) + legs


@functools.cache
def full_list() -> bytes:
    return pb.StreamSubmitRequest(transactions=pb.TransactionList(
        transactions=[pb.Transaction(rollup_id=7000 + i, payload=b"\xee" * 200) for i in range(256)]
    )).SerializeToString()


def bundles_and_full_lists(address: str, stop: threading.Event, seen: dict) -> None:
    """400,000-leg bundles (unary), and full lists of items refused with long messages (the largest
    answer a request can get) on a stream."""
    bundle, full = huge_bundle(), full_list()
    with grpc.insecure_channel(address) as ch:
        unary = ch.unary_unary(SERVICE + "SubmitBundle", request_serializer=None, response_deserializer=None)

        def gen() -> Iterator[bytes]:
            while not stop.is_set():
                yield full

        stream = raw_stream(ch)(gen())
        while not stop.is_set():
            try:
                unary(bundle, timeout=10)
                seen.setdefault("codes", []).append("OK")
            except grpc.RpcError as exc:
                seen.setdefault("codes", []).append(exc.code().name)
            resp = next(stream)
            seen.setdefault("answers", []).append([len(resp.results), resp.ByteSize()])
        stream.cancel()


ABUSES: dict[str, Callable[[str, threading.Event, dict], None]] = {
    "garbage_lists": garbage_lists, "stop_reading": stop_reading, "bundles_and_full_lists": bundles_and_full_lists}


def run_abusers(address: str) -> None:
    """The abusers' process, one for the module: on "start KIND N" it runs N copies of an abuse
    (answering "ready"), on "stop" it stops them and answers what they saw, as JSON."""
    print("ready", flush=True)
    stop, seen, workers = threading.Event(), {}, []
    for line in sys.stdin:
        words = line.split()
        if words[0] == "start":
            stop, seen = threading.Event(), {}
            workers = [threading.Thread(target=ABUSES[words[1]], args=(address, stop, seen), daemon=True)
                       for _ in range(int(words[2]))]
            for w in workers:
                w.start()
            print("ready", flush=True)
        else:
            stop.set()
            for w in workers:
                w.join(timeout=STALL_S + 10)
            print(json.dumps(seen), flush=True)
    os._exit(0)  # leave gRPC's threads behind


class Abusers:
    """The test's handle on the abusers' process."""

    def __init__(self, address: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, address], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=Path(__file__).parent, text=True)
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_idle_figures(server: Server) -> None:
    report("idle", server, idle_figures(server), calls=0)


def test_4mb_garbage_lists_from_six_streams(server: Server) -> None:
    figs, seen = measure(server, "garbage_lists", threads=6)
    report("6 streams of 4 MB garbage lists", server, figs, 6, idle_figures(server))
    assert len(seen["codes"]) >= 6 and set(seen["codes"]) == {"RESOURCE_EXHAUSTED"}  # each answered


def test_clients_that_stop_reading(server: Server) -> None:
    figs, seen = measure(server, "stop_reading", threads=8, seconds=STALL_S + 3)
    report("8 streams that stop reading, 240 KB lists", server, figs, 8, idle_figures(server))
    assert "RESOURCE_EXHAUSTED" in seen["ends"]  # cut off, not held for ever


def test_huge_bundles_and_big_answers(server: Server) -> None:
    figs, seen = measure(server, "bundles_and_full_lists", threads=4)
    report("400,000-leg bundles and full-list answers", server, figs, 8, idle_figures(server))
    assert seen["codes"] and set(seen["codes"]) == {"RESOURCE_EXHAUSTED"}
    assert all(n == 256 and size <= 1 * MB for n, size in seen["answers"])


def test_after_the_abuse_memory_comes_back_down(server: Server) -> None:
    # Whatever the earlier phases took is returned: RSS comes back near its idle value.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and rss_bytes(server.proc.pid) - server.idle_rss > RUNTIME_ALLOWANCE:
        time.sleep(0.2)
    grown = rss_bytes(server.proc.pid) - server.idle_rss
    print(f"\n[after] server RSS {rss_bytes(server.proc.pid) / MB:.0f} MB (+{grown / MB:.0f} MB over idle)")
    assert grown <= RUNTIME_ALLOWANCE
    os.kill(server.proc.pid, 0)  # still alive


if __name__ == "__main__":
    run_abusers(sys.argv[1])
