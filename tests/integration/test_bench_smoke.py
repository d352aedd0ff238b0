"""`make bench` end to end with tiny settings (issue 13): every phase runs against real processes
and latest.json carries exactly the stable keys, the JetStream log's (issue 12) among them. No
figure is asserted: timings depend on the machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_bench_tiny_writes_every_stable_key(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "sequencer.bench", "--tiny", "--out", str(out),
                          "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads((out / "latest.json").read_text())
    assert set(doc) == {"ceilings", "ingest", "preconf_latency_ms", "echo_latency_ms", "subscriber_latency_ms",
                        "memory", "restart_s_100k_blocks", "machine", "jetstream"}
    assert set(doc["ceilings"]) == {"grpc_echo_msgs_per_s", "secp256k1_recover_per_s", "sqlite_commit_ms"}
    assert set(doc["ingest"]) == {"stream_tx_per_s", "single_msg_tx_per_s", "unary_tx_per_s", "bundles_per_s"}
    assert set(doc["memory"]) == {"rss_mb_start", "rss_mb_end"}
    assert {"cpu_model", "cores", "python"} <= set(doc["machine"])
    rates = doc["preconf_latency_ms"]
    assert rates and set(rates) == set(doc["echo_latency_ms"])
    for rate, shapes in rates.items():
        assert set(shapes) == {"1", "5"}
        for per, q in shapes.items():
            assert set(q) == {"p50", "p90", "p99", "max"}
            assert set(doc["echo_latency_ms"][rate][per]) == {"p50", "p99"}
            # Measured, not placeholders: every answered message has a latency, ordered quantiles.
            assert all(math.isfinite(v) and v > 0 for v in q.values()), q
            assert q["p50"] <= q["p90"] <= q["p99"] <= q["max"]
    for n, q in doc["subscriber_latency_ms"].items():
        assert set(q) == {"p50", "p99"} and math.isfinite(q["p99"]), (n, q)
    # Work was done in each ingest mode: receipts came back.
    assert all(v > 0 for v in doc["ingest"].values()), doc["ingest"]
    assert doc["restart_s_100k_blocks"] > 0
    for chart in ("latency.png", "throughput.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "preconfirmation latency" in run.stdout and "seal-to-subscriber" in run.stdout
    # The JetStream log beside SQLite, at the same rates and message sizes, measured (nats-server is
    # installed by `make install`: a NaN here means the phase failed, and the table says why; the
    # NaN paths themselves: tests/unit/bench/test_bench_jetstream.py).
    js = doc["jetstream"]
    assert set(js) == {"preconf_latency_ms", "ingest"} and set(js["ingest"]) == {"stream_tx_per_s"}
    assert js["preconf_latency_ms"] and set(js["preconf_latency_ms"]) <= set(rates)
    for rate, shapes in js["preconf_latency_ms"].items():
        assert set(shapes) == set(rates[rate])
        for q in shapes.values():
            assert set(q) == {"p50", "p90", "p99", "max"}
            assert all(math.isfinite(v) and v > 0 for v in q.values()), (q, run.stdout[-2000:])
            assert q["p50"] <= q["p90"] <= q["p99"] <= q["max"]
    assert js["ingest"]["stream_tx_per_s"] > 0, run.stdout[-2000:]
    assert "the SQLite log beside the JetStream log" in run.stdout

