"""`make bench`: every figure of issue 13 in one run, each beside its ceiling from the same run.

Phases, each against a server process of its own (never the generator's process):
1. ceilings: secp256k1 recoveries on one core, an fsync'd SQLite commit, and the grpc.aio echo
   (echo.py) driven by the same generator, closed loop, single-transaction messages;
2. ingest, closed loop, a fresh sequencer per mode: StreamSubmit lists over several streams,
   single-transaction messages, unary calls, bundles;
3. preconfirmation latency, open loop (loadgen.py), at each rate and message size, on the
   sequencer and then on the echo at the same message rate;
4. the same preconfirmation latency and StreamSubmit ingest with the JetStream log (issue 12): a
   3-node JetStream cluster (sequencer.devtools.jetstream) and a sequencer with store = "jetstream"
   leading on it, beside the SQLite figures; NaN, with the reason, when nats-server is missing;
5. seal-to-subscriber latency with 3 and 100 subscribers under a light load, and with 100 rollups
   registered;
6. memory: the sequencer's RSS over a soak;
7. restart: a cold `sharedseq serve` over a log of 100,000 sealed blocks, until it answers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sequencer.devtools import jetstream

from . import loadgen, report, targets, txgen
from .loadgen import Spec

ROLLUPS = [901, 902, 903]
GEN = loadgen.Generator()
"""The load generator's processes, shared by every phase of a run."""


@dataclass(slots=True)
class Settings:
    rates: list[int] = field(default_factory=lambda: [1000, 2000, 5000, 10000])
    shapes: list[int] = field(default_factory=lambda: [1, 5])
    js_rates: list[int] = field(default_factory=lambda: [1000, 2000, 5000])
    """Offered loads for the JetStream log's latency (each message size of `shapes`): where SQLite's
    saturate, a replicated log's only queue longer, so the top rate is left out by default."""
    js_lease_ttl_ms: int = 1000
    """The JetStream sequencer's lease TTL: the deployed default. A lease lost under load (a renewal
    not scheduled in time) is a takeover inside a point, which the table reports."""
    point_s: float = 2.0
    """Seconds of offered load per latency point."""
    procs: int = 2
    """Load generator processes."""
    streams: int = 2
    """Streams per generator process in the ingest runs."""
    list_size: int = 100
    window: int = 32
    ingest_s: float = 3.0
    unary_calls: int = 64
    bundle_legs: int = 3
    subscribers: list[int] = field(default_factory=lambda: [3, 100])
    subscribe_s: float = 4.0
    subscribe_load: int = 1000
    scale_rollups: int = 100
    soak_s: float = 20.0
    soak_rate: int = 1000
    restart_blocks: int = 100_000
    pool: int = 30_000
    """Signed transactions per rollup (cached in `cache`)."""
    cache: str = "var/bench"
    out: str = "bench/results"
    ceiling_s: float = 1.0
    """Seconds of secp256k1 recoveries (and a hundred SQLite commits) for the ceilings."""
    empty_start: bool = True
    """Also time a start on an empty log (what of the restart is the process, not the log)."""
    only: str = ""
    """Comma-separated phases to run (ingest, latency, jetstream, subscribers, memory, restart; the ceilings always
    run): for measuring one change. A partial run prints its figures and leaves latest.json alone."""
    check_workers: int = 1
    """The sequencer's check_workers ([sequencer]; 0: every policy check in the server process)."""
    one_server: bool = False
    """One sequencer for every phase but the restart, each phase with transactions of its own (the smoke
    test: starting a sequencer per phase is most of its time). Off, every phase gets a fresh one."""


TINY = dict(rates=[200], shapes=[1, 5], js_rates=[200], js_lease_ttl_ms=5000, point_s=0.5, procs=1, streams=1,
            list_size=10, window=4, ingest_s=0.5, unary_calls=4, subscribers=[3], subscribe_s=0.6,
            subscribe_load=100, scale_rollups=0, soak_s=0.5, soak_rate=100, restart_blocks=200, pool=150,
            one_server=True, ceiling_s=0.2, empty_start=False)
"""The smoke test's settings: every phase runs, for a fraction of a second. The JetStream lease is
longer than deployed so that a loaded test machine (several workers on 2 cores) does not take it
away mid-run: the smoke test checks the plumbing and the keys, not the figures."""


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _ingest(seq: targets.Sequencer, s: Settings, pool: dict[int, list[bytes]], kind: str) -> loadgen.Result:
    n = s.procs
    specs = []
    for share in loadgen.split(pool, n):
        if kind == "list":
            specs.append(Spec(seq.address, "list", share, per_message=s.list_size, window=s.window // 4 or 1,
                              streams=s.streams, duration_s=s.ingest_s))
        elif kind == "single":
            specs.append(Spec(seq.address, "single", share, window=s.window, streams=s.streams, duration_s=s.ingest_s))
        elif kind == "unary":
            specs.append(Spec(seq.address, "unary", share, window=s.unary_calls // n or 1, duration_s=s.ingest_s))
        else:
            legs = {r: share[r] for r in ROLLUPS[:s.bundle_legs]}
            specs.append(Spec(seq.address, "bundle", legs, window=s.window, streams=s.streams, duration_s=s.ingest_s))
    return loadgen.merge(GEN.run(specs))


def _open_loop(address: str, s: Settings, pool: dict[int, list[bytes]], rate: int, per: int,
               seconds: float) -> loadgen.Result:
    """`rate` tx/s in messages of `per`, split over the generator processes, one stream each."""
    need = int(rate * seconds) + per * s.procs
    shares = loadgen.split({r: v[:need // len(pool) + per] for r, v in pool.items()}, s.procs)
    specs = [Spec(address, "single" if per == 1 else "list", share, per_message=per,
                  rate_msgs=rate / per / s.procs, duration_s=seconds) for share in shares]
    return loadgen.merge(GEN.run(specs))


def _subscribers(seq: targets.Sequencer, s: Settings, pool: dict[int, list[bytes]], n: int,
                 rollups: list[int]) -> loadgen.Result:
    """`n` subscribers (split over the generator processes) while the generator offers a light load."""
    start = seq.sealed_height() + 1
    per_proc = [n // s.procs + (1 if i < n % s.procs else 0) for i in range(s.procs)]
    subs = [Spec(seq.address, "subscribe", {r: [] for r in rollups}, subscribers=k, duration_s=s.subscribe_s,
                 from_height=start) for k in per_proc if k]
    need = int(s.subscribe_load * s.subscribe_s) + 10
    load = Spec(seq.address, "list", {r: v[:need // len(pool) + 5] for r, v in pool.items()}, per_message=5,
                rate_msgs=s.subscribe_load / 5, duration_s=s.subscribe_s)
    results = GEN.run([*subs, load])
    return loadgen.merge(results[:-1])


def run(s: Settings) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sharedseq-bench-"))
    cache = Path(s.cache).resolve()
    notes: dict[str, Any] = {"late": {}, "subscriber_blocks": {}, "ingest_errors": {}, "list_size": s.list_size,
                             "ingest_streams": f"{s.procs} procs x {s.streams} streams",
                             "unary_calls": f"{s.unary_calls} calls in flight", "bundle_legs": s.bundle_legs,
                             "soak_s": s.soak_s, "soak_rate": s.soak_rate, "restart_blocks": s.restart_blocks}
    f: dict[str, Any] = {}
    phases = set(s.only.split(",")) if s.only else {"ingest", "latency", "jetstream", "subscribers", "memory",
                                                     "restart"}
    rates = s.rates if "latency" in phases else []
    nan = float("nan")
    shared: list[targets.Sequencer] = []
    parts = [0]

    def txs() -> dict[int, list[bytes]]:
        """A phase's transactions: the pool, or with one_server a pool of its own (new keys)."""
        if not s.one_server:
            return pool
        parts[0] += 1
        return {r: txgen.pool(cache, r, s.pool, parts[0]) for r in ROLLUPS}

    @contextmanager
    def sequencer(name: str, rollups: list[int] = ROLLUPS) -> Iterator[targets.Sequencer]:
        if s.one_server and rollups == ROLLUPS:
            if not shared:
                shared.append(targets.Sequencer(work / "shared", ROLLUPS, check_workers=s.check_workers))
            yield shared[0]
            return
        seq = targets.Sequencer(work / name, rollups, check_workers=s.check_workers)
        try:
            yield seq
        finally:
            seq.close()

    try:
        say(f"signing (or loading from {cache}) {s.pool:,} transactions for each of {ROLLUPS}")
        with ProcessPoolExecutor(len(ROLLUPS), mp_context=get_context("spawn")) as ex:  # signing is slow
            pool = dict(zip(ROLLUPS, ex.map(txgen.pool, [cache] * 3, ROLLUPS, [s.pool] * 3, [0] * 3), strict=True))

        say("ceilings: secp256k1 recovery, fsync'd SQLite commit, grpc.aio echo")
        f["ceilings"] = {"secp256k1_recover_per_s": round(targets.secp256k1_recover_per_s(s.ceiling_s)),
                         "sqlite_commit_ms": round(targets.sqlite_commit_ms(work / "sqlite"), 3)}
        echo = targets.Echo()
        try:
            r = _ingest(echo, s, pool, "single")  # type: ignore[arg-type]
            f["ceilings"]["grpc_echo_msgs_per_s"] = round(r.ok_in_window_rate)
            echo_lat: dict[str, dict[str, dict[str, float]]] = {}
            for rate in rates:
                for per in s.shapes:
                    say(f"echo: {rate} tx/s in messages of {per}")
                    r = _open_loop(echo.address, s, pool, rate, per, s.point_s)
                    sm = report.summary_ms(r.latencies)
                    echo_lat.setdefault(str(rate), {})[str(per)] = {"p50": sm["p50"], "p99": sm["p99"]}
                    notes["late"][f"echo {rate}/{per}"] = r.late
        finally:
            echo.close()
        f["echo_latency_ms"] = echo_lat

        f["ingest"] = {}
        for kind, key in (("list", "stream_tx_per_s"), ("single", "single_msg_tx_per_s"),
                          ("unary", "unary_tx_per_s"), ("bundle", "bundles_per_s")):
            if "ingest" not in phases:
                f["ingest"][key] = nan
                continue
            say(f"ingest: {kind}")
            with sequencer(f"ingest-{kind}") as seq:
                r = _ingest(seq, s, txs(), kind)
            per_unit = s.bundle_legs if kind == "bundle" else 1
            f["ingest"][key] = round(r.ok_in_window_rate / per_unit)
            if r.err_txs or r.unanswered:
                notes["ingest_errors"][key] = f"{r.err_txs} refused, {r.unanswered} unanswered; {r.first_error}"

        f["preconf_latency_ms"] = {}
        for rate in rates:
            for per in s.shapes:
                say(f"sequencer: {rate} tx/s in messages of {per}")
                with sequencer(f"lat-{rate}-{per}") as seq:
                    r = _open_loop(seq.address, s, txs(), rate, per, s.point_s)
                f["preconf_latency_ms"].setdefault(str(rate), {})[str(per)] = report.summary_ms(r.latencies)
                late = f"{r.late} late of {r.sent_msgs}"
                if r.err_txs or r.unanswered:
                    late += f"; {r.err_txs} refused, {r.unanswered} unanswered ({r.first_error})"
                notes["late"][f"{rate}/{per}"] = late

        f["jetstream"] = _jetstream(s, work / "jetstream", txs, notes) if "jetstream" in phases else \
            _jetstream_nan(s, "not run (--only)", notes)

        f["subscriber_latency_ms"] = {}
        for n in s.subscribers if "subscribers" in phases else []:
            say(f"seal-to-subscriber: {n} subscribers")
            with sequencer(f"subs-{n}") as seq:
                r = _subscribers(seq, s, txs(), n, ROLLUPS)
            sm = report.summary_ms(r.latencies)
            f["subscriber_latency_ms"][str(n)] = {"p50": sm["p50"], "p99": sm["p99"]}
            notes["subscriber_blocks"][str(n)] = len(r.latencies)
        notes["scale"] = {}
        if s.scale_rollups and "subscribers" in phases:
            say(f"seal-to-subscriber: 3 subscribers, {s.scale_rollups} rollups registered")
            many = ROLLUPS + [10_000 + i for i in range(s.scale_rollups - len(ROLLUPS))]
            with sequencer("scale", many) as seq:
                r = _subscribers(seq, s, txs(), 3, ROLLUPS)
            sm = report.summary_ms(r.latencies)
            notes["scale"][str(s.scale_rollups)] = {"p50": sm["p50"], "p99": sm["p99"]}

        f["memory"] = {"rss_mb_start": nan, "rss_mb_end": nan}
        notes["soak_txs"] = 0
        if "memory" in phases:
            say(f"memory: {s.soak_s:.0f} s soak at {s.soak_rate} tx/s")
            with sequencer("soak") as seq:
                rss_start = targets.rss_mb(seq.pid)
                notes["soak_txs"] = _soak(seq, s, txs())
                rss_end = targets.rss_mb(seq.pid)
            f["memory"] = {"rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1)}
        f["restart_s_100k_blocks"] = nan
        notes["restart_open_s"] = notes["empty_start_s"] = nan
        if "restart" in phases:
            say(f"restart: a log of {s.restart_blocks:,} blocks (built once, cached in {cache})")
            log_dir = cache / f"log-{s.restart_blocks}"
            if not (log_dir / "data").exists():
                tmp = cache / f"log-{s.restart_blocks}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                targets.build_log(tmp, ROLLUPS, s.restart_blocks)
                tmp.replace(log_dir)
            shutil.copytree(log_dir, work / "restart")
            serving, opening = targets.restart_s(work / "restart", ROLLUPS)
            f["restart_s_100k_blocks"] = round(serving, 3)
            notes["restart_open_s"] = opening
            notes["empty_start_s"] = targets.restart_s(work / "empty", ROLLUPS)[0] if s.empty_start else float("nan")
        f["machine"] = report.machine()
    finally:
        GEN.close()
        for seq in shared:
            seq.close()
        shutil.rmtree(work, ignore_errors=True)
    f["_notes"] = notes
    return f


def _jetstream_nan(s: Settings, why: str, notes: dict[str, Any]) -> dict[str, Any]:
    """The JetStream phase's keys, every figure NaN, and why in the notes (the table prints it)."""
    notes["jetstream"] = why
    nan = float("nan")
    return {"preconf_latency_ms": {str(r): {str(p): dict.fromkeys(("p50", "p90", "p99", "max"), nan)
                                            for p in s.shapes} for r in s.js_rates},
            "ingest": {"stream_tx_per_s": nan}}


def _jetstream(s: Settings, work: Path, txs: Any, notes: dict[str, Any]) -> dict[str, Any]:
    """Preconfirmation latency at each of js_rates x shapes, then StreamSubmit ingest, on a sequencer
    whose log is a stream of 3 replicas on a 3-node JetStream cluster: a receipt waits for a quorum's
    acknowledgement, so these figures are what replication costs over the SQLite ones.

    Each point gets a fresh sequencer on a stream (and lease bucket) of its own, as each SQLite point
    gets a fresh data folder: a stream left by the previous point would be replayed at start. With
    one_server (the smoke test) one sequencer serves the phase, each point with new transactions.
    A missing nats-server, a cluster or sequencer that does not start: NaN for what was not measured
    and the reason in the notes, never an exception (the rest of the run stands)."""
    out = _jetstream_nan(s, "", notes)
    if (why := jetstream.available()) is not None:
        say(f"jetstream: skipped, {why}")
        notes["jetstream"] = why
        return out
    say(f"jetstream: starting a 3-node cluster in {work}")
    cluster: jetstream.JetStreamCluster | None = None
    shared: list[targets.Sequencer] = []
    made = [0]

    @contextmanager
    def sequencer() -> Iterator[targets.Sequencer]:
        if s.one_server and shared:
            yield shared[0]
            return
        made[0] += 1
        assert cluster is not None
        seq = targets.Sequencer(work / f"seq-{made[0]}", ROLLUPS, jetstream=cluster.urls, stream=f"bench{made[0]}",
                                lease_ttl_ms=s.js_lease_ttl_ms, check_workers=s.check_workers)
        if s.one_server:
            shared.append(seq)
            yield seq
            return
        try:
            yield seq
        finally:
            seq.close()

    step = "starting the cluster"
    try:
        cluster = jetstream.start_cluster(work)
        lat = out["preconf_latency_ms"]
        for rate in s.js_rates:
            for per in s.shapes:
                step = f"{rate} tx/s in messages of {per}"
                say(f"jetstream: {step}")
                with sequencer() as seq:
                    lost = seq.lease_losses()
                    r = _open_loop(seq.address, s, txs(), rate, per, s.point_s)
                    lost = seq.lease_losses() - lost
                lat[str(rate)][str(per)] = report.summary_ms(r.latencies)
                late = f"{r.late} late of {r.sent_msgs}"
                if r.err_txs or r.unanswered:
                    late += f"; {r.err_txs} refused, {r.unanswered} unanswered ({r.first_error})"
                if lost:
                    late += f"; the lease was lost {lost}x during the point"
                notes["late"][f"jetstream {rate}/{per}"] = late
        step = "ingest: StreamSubmit lists"
        say(f"jetstream: {step}")
        with sequencer() as seq:
            r = _ingest(seq, s, txs(), "list")
        out["ingest"]["stream_tx_per_s"] = round(r.ok_in_window_rate)
        if r.err_txs or r.unanswered:
            notes["ingest_errors"]["jetstream.stream_tx_per_s"] = \
                f"{r.err_txs} refused, {r.unanswered} unanswered; {r.first_error}"
        notes["jetstream"] = ("3 JetStream nodes, stream replicas 3, "
                              + ("one sequencer" if s.one_server else "a fresh sequencer per point"))
    except Exception as exc:  # the phase's figures so far stand; the rest stays NaN, with the reason
        notes["jetstream"] = f"stopped at {step}: {type(exc).__name__}: {exc}"
        say(f"jetstream: {notes['jetstream']}")
    finally:
        for seq in shared:
            seq.close()
        if cluster is not None:
            cluster.stop()
    return out


def _soak(seq: targets.Sequencer, s: Settings, pool: dict[int, list[bytes]]) -> int:
    """Offer soak_rate tx/s in lists of 10 for soak_s, in rounds no longer than the pool lasts: a round
    starts over at the pool's start, past the dedupe window, so every transaction is admitted anew."""
    per_round = min(s.soak_s, 30.0)
    done, t = 0, 0.0
    while t < s.soak_s:
        seconds = min(per_round, s.soak_s - t)
        r = _open_loop(seq.address, s, pool, s.soak_rate, 10, seconds)
        done += r.ok_txs
        t += seconds
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sequencer.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="every phase for a fraction of a second (the smoke test)")
    ap.add_argument("--long-soak", action="store_true", help="a 10-minute memory soak instead of a short one")
    ap.add_argument("--out", help="folder for latest.json and the charts (default bench/results)")
    ap.add_argument("--cache", help="folder for the signed transactions and the restart log (default var/bench)")
    ap.add_argument("--no-charts", action="store_true")
    ap.add_argument("--rates", help="offered loads for the latency phase, tx/s, comma-separated (1000,2000,5000,10000)")
    ap.add_argument("--shapes", help="transactions per message for the latency phase, comma-separated (1,5)")
    ap.add_argument("--js-rates", help="offered loads for the JetStream log's latency, tx/s, comma-separated "
                                       "(1000,2000,5000; with --rates alone, those)")
    ap.add_argument("--only", help="phases to run, comma-separated: "
                                   "ingest,latency,jetstream,subscribers,memory,restart")
    for fl in fields(Settings):
        if fl.type in ("float", "int"):
            ap.add_argument("--" + fl.name.replace("_", "-"), type=float if fl.type == "float" else int)
    args = ap.parse_args(argv)
    s = Settings(**TINY) if args.tiny else Settings()  # type: ignore[arg-type]
    for fl in fields(Settings):
        v = getattr(args, fl.name, None)
        if v is not None and fl.name not in ("out", "cache"):
            setattr(s, fl.name, v)
    if args.long_soak:
        s.soak_s = 600.0
    if args.rates:
        s.rates = [int(x) for x in args.rates.split(",")]
        if not args.js_rates:
            s.js_rates = list(s.rates)
    if args.js_rates:
        s.js_rates = [int(x) for x in args.js_rates.split(",")]
    if args.shapes:
        s.shapes = [int(x) for x in args.shapes.split(",")]
    if args.only:
        s.only = args.only
    if args.out:
        s.out = args.out
    if args.cache:
        s.cache = args.cache
    figures = run(s)
    notes = figures.pop("_notes")
    if s.only:  # a partial run: its figures, not a results file
        print(report.table(figures, notes))
        return 0
    out = Path(s.out)
    report.write_json(figures, out / "latest.json")
    print(report.table(figures, notes))
    if not args.no_charts:
        for p in report.charts(figures, out):
            print(f"chart: {p}")
    print(f"figures: {out / 'latest.json'}")
    return 0
