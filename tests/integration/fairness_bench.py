"""An honest client's preconfirmation latency while other clients abuse the server (issue 9, "an
honest client's p99 stays within 3x its idle figure"); figures in docs/fairness.md.

    .venv/bin/python tests/integration/fairness_bench.py                  # default limits
    .venv/bin/python tests/integration/fairness_bench.py --byte-rate 0    # without the byte rate
    .venv/bin/python tests/integration/fairness_bench.py --phase-s 10 --only garbage_lists

One `sharedseq serve` process under mutual TLS with the default per-client limits: each client is
its certificate (under TLS the server tells clients from one host apart, which is the only way a
benchmark on one machine can have an honest client and abusive ones). `honest` submits one signed
EVM transfer every 20 ms and times each receipt (SubmitTransaction answers once the transaction
is durable: its preconfirmation). The abusers run in a process of their own, one abuse a phase:

- garbage_lists: 6 streams of 4 MB TransactionLists of 2 million empty items, answers read;
- stop_reading: 8 streams of 240 kB lists of refused items, answers never read;
- subscribers: 50 subscribers from height 0 of a 120-block, 29 MB history, half never reading,
  each with its own certificate (so no per-client cap helps: the server-wide bounds do);
- flood: one client streaming lists of 500 admissible transactions as fast as it is let.

Prints one JSON line a phase: the honest client's p50/p99/max and receipts, the server's peak RSS,
and what the abusers saw. Timings depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import grpc  # noqa: E402
from seq_helpers import garbage_list  # noqa: E402

from sequencer.keys import write_key  # noqa: E402
from sequencer.service.security import client_credentials, generate_dev_pki  # noqa: E402
from sharedseq.v1 import sequencer_pb2 as pb  # noqa: E402
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc  # noqa: E402

MB = 1024 * 1024
RAW = 904
SUBSCRIBERS = 50
HISTORY_BLOCKS = 120
SERVICE = "/sharedseq.v1.SequencerService/"
CHANNEL_OPTIONS = [("grpc.max_send_message_length", 8 * MB), ("grpc.max_receive_message_length", 8 * MB),
                   ("grpc.http2.bdp_probe", 0)]


def channel(address: str, pki: dict[str, str], name: str) -> grpc.Channel:
    creds = client_credentials(Path(pki["ca"]), Path(pki[f"{name}_cert"]), Path(pki[f"{name}_key"]))
    return grpc.secure_channel(address, creds, options=CHANNEL_OPTIONS)


def raw_stream(ch: grpc.Channel) -> Callable[..., Iterator[pb.StreamSubmitResponse]]:
    return ch.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                            response_deserializer=pb.StreamSubmitResponse.FromString)


# -- the abuses (in the abusers' process) ----------------------------------------------------------


def garbage_lists(address: str, pki: dict[str, str], k: int, stop: threading.Event, seen: dict) -> None:
    garbage = garbage_list(1, 2_000_000)
    with channel(address, pki, "abuser") as ch:
        def gen() -> Iterator[bytes]:
            while not stop.is_set():
                yield garbage

        try:
            for resp in raw_stream(ch)(gen()):
                seen.setdefault("answers", 0)
                seen["answers"] += 1
                seen.setdefault("codes", set()).add(resp.error.code)
        except grpc.RpcError as exc:
            seen.setdefault("ends", set()).add(exc.code().name)


def stop_reading(address: str, pki: dict[str, str], k: int, stop: threading.Event, seen: dict) -> None:
    junk = pb.StreamSubmitRequest(transactions=pb.TransactionList(
        transactions=[pb.Transaction(rollup_id=7000 + i, payload=b"\x02" + bytes([i % 256]) * 900)
                      for i in range(256)])).SerializeToString()
    with channel(address, pki, "abuser") as ch:
        def gen() -> Iterator[bytes]:
            while not stop.is_set():
                seen["sent"] = seen.get("sent", 0) + 1
                yield junk

        answers = raw_stream(ch)(gen())
        stop.wait()
        try:
            for _ in answers:
                pass
            seen.setdefault("ends", set()).add("OK")
        except grpc.RpcError as exc:
            seen.setdefault("ends", set()).add(exc.code().name)


def subscriber(address: str, pki: dict[str, str], k: int, stop: threading.Event, seen: dict) -> None:
    with channel(address, pki, f"sub{k:02d}") as ch:
        subscribe = ch.unary_stream(SERVICE + "SubscribeBlocks", request_serializer=None,
                                    response_deserializer=None)  # bytes: the reader costs its process little
        call = subscribe(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=0).SerializeToString())
        try:
            if k % 2:  # half never read
                stop.wait()
                call.cancel()
                return
            for _ in call:
                seen["blocks"] = seen.get("blocks", 0) + 1
                if stop.is_set():
                    call.cancel()
                    return
        except grpc.RpcError as exc:
            seen.setdefault("ends", set()).add(exc.code().name)


FLOOD_LISTS = 400
"""Lists the flood client builds before it starts (200,000 distinct transactions), so that what
it costs its own process, on this one machine, is sending bytes, not building messages."""


def flood(address: str, pki: dict[str, str], k: int, stop: threading.Event, seen: dict) -> None:
    lists = [pb.StreamSubmitRequest(request_id=n, transactions=pb.TransactionList(transactions=[
        pb.Transaction(rollup_id=RAW, payload=b"flood-%d-%d-%d-%d" % (os.getpid(), time.monotonic_ns(), n, i))
        for i in range(500)])).SerializeToString() for n in range(FLOOD_LISTS)]
    seen["built"] = len(lists)
    ready.set()
    with channel(address, pki, "flood") as ch:
        def gen() -> Iterator[bytes]:
            for raw in lists:
                if stop.is_set():
                    return
                yield raw

        try:
            for resp in raw_stream(ch)(gen()):
                seen["admitted"] = seen.get("admitted", 0) + sum(1 for r in resp.results if r.HasField("receipt"))
                refused = [r.error.message.split(":")[0] for r in resp.results if r.HasField("error")]
                if resp.HasField("error"):
                    refused.append(resp.error.message.split(":")[0])
                seen["refused"] = seen.get("refused", 0) + len(refused)
                if refused:
                    seen.setdefault("why", set()).add(refused[0])
        except grpc.RpcError as exc:
            seen.setdefault("ends", set()).add(exc.code().name)


ready = threading.Event()
"""Set by an abuse once it is built and about to start (the flood builds its lists first)."""


ABUSES: dict[str, tuple[Callable[..., None], int]] = {
    "garbage_lists": (garbage_lists, 6), "stop_reading": (stop_reading, 8),
    "subscribers": (subscriber, SUBSCRIBERS), "flood": (flood, 1)}


def run_abusers(address: str, pki_json: str) -> None:
    """The abusers' process: "start KIND" runs that abuse's threads, "stop" ends them and prints
    what they saw (JSON)."""
    pki = json.loads(pki_json)
    print("ready", flush=True)
    stop, seen, workers = threading.Event(), {}, []
    for line in sys.stdin:
        words = line.split()
        if words[0] == "start":
            fn, n = ABUSES[words[1]]
            stop, seen = threading.Event(), {}
            workers = [threading.Thread(target=fn, args=(address, pki, k, stop, seen), daemon=True) for k in range(n)]
            ready.clear()
            for w in workers:
                w.start()
            if fn is flood:
                ready.wait(120)
            print("ready", flush=True)
        else:
            stop.set()
            for w in workers:
                w.join(timeout=20)
            print(json.dumps({k: sorted(v) if isinstance(v, set) else v for k, v in seen.items()}), flush=True)
    os._exit(0)


# -- the measuring side ----------------------------------------------------------------------------


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Bench:
    def __init__(self, workdir: Path, byte_rate: int | None, slot_ms: int, extra: str = "") -> None:
        from seq_helpers import ROLLUPS, free_port

        names = ("honest", "abuser", "flood", "loader", *(f"sub{k:02d}" for k in range(SUBSCRIBERS)))
        self.pki = {k: str(v) for k, v in generate_dev_pki(workdir / "pki", names).items()}
        write_key(workdir / "seq.key")
        port, self.metrics_port = free_port(), free_port()
        self.address = f"localhost:{port}"
        rollups = "".join(f'\n[[rollups]]\nid = {r["id"]}\nname = "{r["name"]}"\nformat = "{r["format"]}"\n'
                          f'block_time_ms = {r["block_time_ms"]}\n' for r in ROLLUPS)
        rate = "" if byte_rate is None else f"rate_limit_bytes_per_s = {byte_rate}\n"
        (workdir / "seq.toml").write_text(
            f'[sequencer]\nlisten = "127.0.0.1:{port}"\ndata_dir = "data"\nkey_file = "seq.key"\n'
            f'slot_ms = {slot_ms}\nmetrics_listen = "127.0.0.1:{self.metrics_port}"\nlog_format = "text"\n{rate}{extra}'
            f'[tls]\ncert_file = "{self.pki["server_cert"]}"\nkey_file = "{self.pki["server_key"]}"\n'
            f'client_ca_file = "{self.pki["ca"]}"\n'
            f'[domain]\nchain_id = 31337\nverifying_contract = "0x{"ab" * 20}"\n{rollups}'
            f'\n[[rollups]]\nid = {RAW}\nname = "raw"\npolicy = "opaque"\n')
        self.server = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config",
                                        str(workdir / "seq.toml"), "--log-level", "ERROR"], cwd=workdir,
                                       start_new_session=True)
        self.abusers: subprocess.Popen[str] | None = None
        ch = channel(self.address, self.pki, "honest")
        grpc.channel_ready_future(ch).result(timeout=60)
        self.stub = pb_grpc.SequencerServiceStub(ch)
        from seq_helpers import Wallet

        self.wallet = Wallet()

    def history(self) -> None:
        """HISTORY_BLOCKS blocks of two 120 kB transactions on RAW, for the subscribers to replay."""
        with channel(self.address, self.pki, "loader") as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            height = -1
            n = 0
            while height < HISTORY_BLOCKS:
                for _ in range(2):
                    payload = n.to_bytes(8, "big") + os.urandom(120_000)
                    n += 1
                    while True:
                        try:
                            r = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                                transaction=pb.Transaction(rollup_id=RAW, payload=payload)), timeout=30)
                            break
                        except grpc.RpcError as exc:  # the loader's own byte rate or share: wait
                            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                                raise
                            time.sleep(0.2)
                    height = r.receipt.height

    def start_abusers(self) -> None:
        self.abusers = subprocess.Popen([sys.executable, __file__, "--abusers", self.address, json.dumps(self.pki)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._read() == "ready"

    def _read(self) -> str:
        assert self.abusers is not None and self.abusers.stdout is not None
        return self.abusers.stdout.readline().strip()

    def command(self, line: str) -> str:
        assert self.abusers is not None and self.abusers.stdin is not None
        self.abusers.stdin.write(line + "\n")
        self.abusers.stdin.flush()
        return self._read()

    def metrics(self) -> dict[str, float]:
        """The server's histograms' sums and counts (where an honest receipt's time goes)."""
        import urllib.request

        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.endswith(("_sum", "_count")) and name.startswith(("sharedseq_receipt", "sharedseq_group_commit")):
                out[name] = float(value)
            elif name == 'sharedseq_client_limited_total{limit="paced"}':  # FloodPacer's waits
                out["paced"] = float(value)
        return out

    def phase(self, abuse: str, seconds: float) -> dict[str, object]:
        txs = [self.wallet.transfer(902) for _ in range(int(seconds / 0.02) + 20)]
        latencies: list[float] = []
        errors: list[str] = []
        peak = [rss(self.server.pid)]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss(self.server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        seen: dict[str, object] = {}
        if abuse != "idle":
            self.command(f"start {abuse}")
            time.sleep(1.0)  # the abuse at full strength before the honest client is timed
        sampler.start()
        before = self.metrics()
        end = time.monotonic() + seconds
        for payload in txs:
            if time.monotonic() >= end:
                break
            t = time.perf_counter()
            try:
                r = self.stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=902, payload=payload)), timeout=30)
                assert r.receipt.tx_hash
                latencies.append(time.perf_counter() - t)
            except grpc.RpcError as exc:
                errors.append(f"{exc.code().name}: {exc.details()}")
            time.sleep(0.02)
        after = self.metrics()
        if abuse != "idle":
            seen = json.loads(self.command("stop"))
        stop.set()
        sampler.join()
        q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 2 else [float("nan")] * 99
        return {"abuse": abuse, "receipts": len(latencies), "honest_errors": len(errors),
                "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
                "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
                "server_peak_rss_mb": round(peak[0] / MB), "abusers_saw": seen, **_server_side(before, after),
                **({"first_error": errors[0]} if errors else {})}

    def close(self) -> None:
        if self.abusers is not None:
            self.abusers.kill()
            self.abusers.wait()
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


def _server_side(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean receipt latency inside the server (admission to durable) and mean group commit size
    over the phase, for every client: what part of the honest client's time the server's queues are."""
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    receipts = delta("sharedseq_receipt_latency_seconds_count")
    commits = delta("sharedseq_group_commit_records_count")
    return {"server_receipt_mean_ms": round(delta("sharedseq_receipt_latency_seconds_sum") / receipts * 1000, 1)
            if receipts else 0.0,
            "group_commit_mean_records": round(delta("sharedseq_group_commit_records_sum") / commits, 1)
            if commits else 0.0, "requests_paced": int(delta("paced"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--byte-rate", type=int, default=None,
                    help="rate_limit_bytes_per_s for the server (default: the server's default; 0: off)")
    ap.add_argument("--phase-s", type=float, default=8.0)
    ap.add_argument("--slot-ms", type=int, default=100)
    ap.add_argument("--only", nargs="*", default=list(ABUSES))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another [sequencer] option for the server, e.g. rate_limit_tx_per_s=2000")
    ap.add_argument("--abusers", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.abusers:
        run_abusers(*args.abusers)
        return 0
    with tempfile.TemporaryDirectory(prefix="fairness-") as tmp:
        bench = Bench(Path(tmp), args.byte_rate, args.slot_ms, "".join(f"{kv}\n" for kv in args.set))
        try:
            for _ in range(10):  # warm up every path the honest client uses
                bench.stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=902, payload=bench.wallet.transfer(902))), timeout=30)
            if "subscribers" in args.only:
                bench.history()
            bench.start_abusers()
            load = os.getloadavg()[0]
            idle = bench.phase("idle", args.phase_s)
            info = bench.stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=30).client_limits
            limits = {f.name: v for f, v in info.ListFields() if f.name != "keyed_by"}
            print(json.dumps({**idle, "client_limits": limits, "load_avg_1m": round(load, 1)}), flush=True)
            for abuse in args.only:
                figs = bench.phase(abuse, args.phase_s)
                ratio = figs["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")  # type: ignore[operator]
                print(json.dumps({**figs, "p99_over_idle": round(ratio, 2),
                                  "load_avg_1m": round(os.getloadavg()[0], 1)}), flush=True)
            again = bench.phase("idle", args.phase_s)
            print(json.dumps({**again, "abuse": "idle (after)"}), flush=True)
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
