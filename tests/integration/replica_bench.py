"""Preconfirmation latency with the JetStream log beside the SQLite one, in one run (issue 12).

    .venv/bin/python tests/integration/replica_bench.py [--n 400]

Starts a 3-node JetStream cluster and three replicas (store = "jetstream"), then one sequencer on
SQLite, each as `sharedseq serve`; submits --n transactions one at a time (unary, each awaited) to
the leader and to the SQLite sequencer, and prints p50/p99 of the receipt latency. Unary and
sequential on purpose: each figure is one group commit's round trip (SQLite fsync vs a JetStream
quorum ack), not throughput.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nats_cluster import NatsCluster
from test_replication import find_leader, write_replicas
from torture import A, _tx, free_port, start_server, wait_healthy, write_config

from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc


def latencies(address: str, n: int, tag: str) -> list[float]:
    out = []
    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        for i in range(n + 20):
            t = time.perf_counter()
            stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=_tx(A, f"{tag}-{i}")), timeout=30)
            if i >= 20:  # warm-up: channels, caches
                out.append(time.perf_counter() - t)
    return out


def summary(name: str, xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return f"{name:10s} n={len(xs)}  p50 {q[49] * 1000:.2f} ms  p99 {q[98] * 1000:.2f} ms  max {max(xs) * 1000:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="replica-bench-"))
    cluster = NatsCluster(root / "nats")
    replicas = write_replicas(root, cluster.urls, "bench")
    sql_dir = root / "sqlite"
    sql_dir.mkdir()
    sql_port = free_port()
    sql_cfg = write_config(sql_dir, sql_port)
    sql = None
    try:
        cluster.start()
        for r in replicas:
            r.start()
        for r in replicas:
            assert r.proc is not None
            wait_healthy(r.address, r.proc)
        leader = find_leader(replicas)
        sql = start_server(sql_cfg, sql_dir / "server.log")
        wait_healthy(f"127.0.0.1:{sql_port}", sql)
        js = latencies(leader.address, args.n, "js")
        lite = latencies(f"127.0.0.1:{sql_port}", args.n, "sql")
        print(summary("jetstream", js))
        print(summary("sqlite", lite))
    finally:
        for r in replicas:
            r.kill()
        if sql is not None:
            sql.kill()
            sql.wait()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
