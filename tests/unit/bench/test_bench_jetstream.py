"""The benchmark's JetStream phase (sequencer/bench/run.py, issue 12) when it cannot measure: no
nats-server, a cluster that does not start, a sequencer that dies half way. Its figures are NaN
where nothing was measured (never a made-up number, never a crash that loses the rest of the run),
what was measured stands, and the table says why. The measuring itself runs in
tests/integration/test_bench_smoke.py against real processes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sequencer.bench import loadgen, report, run
from sequencer.devtools import jetstream

QUANTILES = {"p50", "p90", "p99", "max"}


def _settings() -> run.Settings:
    return run.Settings(js_rates=[1000, 2000], shapes=[1, 5])


def _notes() -> dict[str, Any]:
    return {"late": {}, "ingest_errors": {}}


def _nan_everywhere(out: dict[str, Any], rates: list[str]) -> None:
    assert set(out) == {"preconf_latency_ms", "ingest"} and set(out["preconf_latency_ms"]) == set(rates)
    for shapes in out["preconf_latency_ms"].values():
        assert set(shapes) == {"1", "5"}
        assert all(set(q) == QUANTILES and all(math.isnan(v) for v in q.values()) for q in shapes.values())
    assert math.isnan(out["ingest"]["stream_tx_per_s"])


def _table(out: dict[str, Any], notes: dict[str, Any]) -> list[str]:
    return report.jetstream_table({"jetstream": out, "preconf_latency_ms": {}}, notes)


def test_without_nats_server_every_figure_is_nan_and_the_table_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(jetstream.shutil, "which", lambda name: None)
    started: list[Any] = []
    monkeypatch.setattr(jetstream, "start_cluster", lambda *a, **k: started.append(a))
    notes = _notes()
    out = run._jetstream(_settings(), tmp_path, dict, notes)
    assert not started
    _nan_everywhere(out, ["1000", "2000"])
    assert notes["jetstream"] == jetstream.MISSING
    lines = _table(out, notes)
    assert f"({jetstream.MISSING})" in lines[1]
    rows = [line for line in lines if line.split("|")[0].split() in (["1000", "1"], ["2000", "5"])]
    assert len(rows) == 2 and all(r.split("|")[2].split() == ["nan"] * 4 for r in rows)


def test_a_cluster_that_does_not_start_is_nan_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(jetstream, "available", lambda: None)

    def broken(*_: Any, **__: Any) -> jetstream.JetStreamCluster:
        raise jetstream.JetStreamError("nats-server nats-1 exited with 1 while starting")
    monkeypatch.setattr(jetstream, "start_cluster", broken)
    notes = _notes()
    out = run._jetstream(_settings(), tmp_path, dict, notes)
    _nan_everywhere(out, ["1000", "2000"])
    assert notes["jetstream"] == "stopped at starting the cluster: JetStreamError: nats-server nats-1 exited with 1 " \
                                 "while starting"


class _Cluster(jetstream.JetStreamCluster):
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_what_was_measured_stands_when_a_later_sequencer_fails(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """The second point's sequencer does not lead: the first point's figures are kept, the others
    NaN, the note names the point, and every process the phase started is ended."""
    monkeypatch.setattr(jetstream, "available", lambda: None)
    cluster = _Cluster(tmp_path)
    monkeypatch.setattr(jetstream, "start_cluster", lambda *a, **k: cluster)
    made: list[Any] = []

    class Seq:
        address = "127.0.0.1:1"

        def __init__(self, workdir: Path, rollups: list[int], *, jetstream: list[str], stream: str,
                     lease_ttl_ms: int, check_workers: int) -> None:
            if made:
                raise RuntimeError("the JetStream sequencer did not lead within 60 s")
            self.stream, self.closed = stream, False
            made.append(self)

        def lease_losses(self) -> int:
            return 0

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(run.targets, "Sequencer", Seq)
    monkeypatch.setattr(run, "_open_loop", lambda *a: loadgen.Result(sent_msgs=3, ok_txs=3,
                                                                      latencies=[0.002, 0.004, 0.010]))
    notes = _notes()
    out = run._jetstream(_settings(), tmp_path, dict, notes)
    assert out["preconf_latency_ms"]["1000"]["1"] == {"p50": 4.0, "p90": 10.0, "p99": 10.0, "max": 10.0}
    assert all(math.isnan(v) for v in out["preconf_latency_ms"]["1000"]["5"].values())
    assert all(math.isnan(v) for q in out["preconf_latency_ms"]["2000"].values() for v in q.values())
    assert math.isnan(out["ingest"]["stream_tx_per_s"])
    assert notes["jetstream"].startswith("stopped at 1000 tx/s in messages of 5: RuntimeError: the JetStream "
                                         "sequencer did not lead")
    assert made[0].stream == "bench1" and made[0].closed and cluster.stopped
