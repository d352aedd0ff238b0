"""The live view of a replicated sequencer (issue 12, deploy/liveview.py): each replica's role, height,
lag and (on the leader) lease, read from the metrics it exports (docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import generate_latest

from deploy.liveview import LiveStatus, Probe, ReplicaRow, ScrapedMetrics, render_line, render_table, replica_row
from sequencer.service.metrics import Metrics


def exported(*, leading: bool, height: int, lag: int, lease_s: float, leader: str) -> ScrapedMetrics:
    """What a replica's endpoint serves, made by the service's own Metrics."""
    m = Metrics()
    m.leading.set(1 if leading else 0)
    m.height.set(height)
    m.replica_lag.set(lag)
    m.lease_remaining.set(lease_s)
    m.leader.labels(leader).set(1)
    m.admitted.labels("901").inc(7)
    m.receipt_seconds.observe(0.003)
    return ScrapedMetrics(generate_latest(m.registry).decode())


def test_a_row_per_replica_from_its_metrics() -> None:
    lead = replica_row("127.0.0.1:1", 11, exported(leading=True, height=40, lag=0, lease_s=0.7, leader="127.0.0.1:1"))
    follower = replica_row("127.0.0.1:2", 12,
                           exported(leading=False, height=39, lag=3, lease_s=0, leader="127.0.0.1:1"))
    gone = replica_row("127.0.0.1:3", 13, None)
    assert lead == ReplicaRow("127.0.0.1:1", 11, True, 40, 0, 0.7, "127.0.0.1:1")
    assert follower == ReplicaRow("127.0.0.1:2", 12, False, 39, 3, 0.0, "127.0.0.1:1")
    st = LiveStatus("10:00:00", 40, 30, None, None, None, (), (lead, follower, gone))
    line = render_line(st)
    assert "replica 127.0.0.1:1 (pid 11) leader, lease 0.7s, block 40, lag 0 entries" in line
    assert "replica 127.0.0.1:2 (pid 12) follower of 127.0.0.1:1, block 39, lag 3 entries" in line
    assert "replica 127.0.0.1:3 (pid 13) not answering" in line
    assert render_table(st)[-3:] == [f"replica {part}" for part in line.split(" | replica ")[1:]]  # a line each


def test_the_leaders_scraped_metrics_feed_the_latency_and_rate_probe() -> None:
    probe = Probe(exported(leading=True, height=1, lag=0, lease_s=0.5, leader="a"))
    p50, p99, total, per = probe.read(0.0)
    assert p50 is not None and p50 <= 0.005 and p99 is not None and set(per) == {"901"}
