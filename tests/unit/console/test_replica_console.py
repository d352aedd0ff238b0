"""The replica set's console (issue 12, deploy/replicas/console.py): the leader it shows is the one
that leads by its own metrics, never a deposed replica still claiming to, nor a follower's word; its
figures and blocks come from that leader; a leader change starts the rate windows afresh instead of
differencing two processes' counters. The scraped text is made by the service's own Metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from core_testkit import make_core
from prometheus_client import generate_latest

from deploy.replicas.console import (
    Member,
    ReplicaSetSampler,
    ReplicaSetView,
    ReplicaState,
    _Core,
    _CoreConfig,
    _Rollup,
    pick_leader,
)
from sequencer.core.types import SharedBlock
from sequencer.service.metrics import Metrics

A, B, C = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"
MEMBERS = [Member(a, 100 + i, f"http://{a}/metrics") for i, a in enumerate((A, B, C))]


def exported(*, leading: bool, height: int, lag: int = 0, lease_s: float = 0.0, revision: int = 1,
             leader: str | None = None, admitted: int = 0) -> str:
    m = Metrics()
    m.leading.set(1 if leading else 0)
    m.height.set(height)
    m.replica_lag.set(lag)
    m.lease_remaining.set(lease_s)
    m.lease_revision.set(revision)
    if leader is not None:
        m.leader.labels(leader).set(1)
    if admitted:
        m.admitted.labels("901").inc(admitted)
        m.receipt_seconds.observe(0.003)
    return generate_latest(m.registry).decode()


class FakeSet:
    """The replicas' endpoints: `texts[address]` is what its metrics serve (None: not answering)."""

    def __init__(self, texts: dict[str, str | None]) -> None:
        self.texts = texts
        self.asked: list[str] = []
        core = make_core()
        self.blocks: list[SharedBlock] = [core.seal(1_700_000_000_000 + 100 * h) for h in range(50)]

    async def scrape(self, url: str) -> str | None:
        return self.texts[url.removeprefix("http://").removesuffix("/metrics")]

    async def block(self, address: str, height: int) -> SharedBlock | None:
        self.asked.append(address)
        return self.blocks[height] if height < len(self.blocks) else None

    def view(self) -> ReplicaSetView:
        core = _Core({901: _Rollup("op", "opstack")}, _CoreConfig(100))
        return ReplicaSetView(MEMBERS, core, self.scrape, self.block)


def sample(sampler: ReplicaSetSampler) -> dict[str, Any]:
    return asyncio.run(sampler.sample())


def test_the_leader_shown_is_the_one_leading_with_its_lease_and_every_replicas_lag() -> None:
    fake = FakeSet({A: exported(leading=False, height=9, lag=4, revision=7, leader=B),
                    B: exported(leading=True, height=10, lease_s=0.8, revision=7, leader=B),
                    C: None})
    p = sample(ReplicaSetSampler(fake.view()))
    r = p["replication"]
    assert r["leader"] == B and r["leader_pid"] == 101 and r["claimants"] == [B]
    assert r["lease"] == {"remaining_s": 0.8, "revision": 7}
    rows = {x["address"]: x for x in r["replicas"]}
    assert rows[A]["up"] and not rows[A]["leading"] and rows[A]["lag_entries"] == 4 and rows[A]["follows"] == B
    assert rows[C] == {"address": C, "pid": 102, "up": False, "leading": False, "height": None,
                       "lag_entries": None, "lease_remaining_s": None, "lease_revision": None, "follows": None}
    assert p["shared"]["height"] == 10 and p["shared"]["leader"] == B  # the leader's figures
    assert set(fake.asked) == {B}  # blocks read from the leader


def test_a_deposed_replica_still_claiming_to_lead_is_not_shown_as_the_leader() -> None:
    # A paused leader resumed after its lease lapsed still says it leads (until its next renewal
    # fails) and reports a greater height it never made durable; B took the lease (a newer revision).
    fake = FakeSet({A: exported(leading=True, height=99, lease_s=0.9, revision=3, leader=A),
                    B: exported(leading=True, height=12, lease_s=0.4, revision=4, leader=B),
                    C: exported(leading=False, height=12, revision=4, leader=B)})
    p = sample(ReplicaSetSampler(fake.view()))
    assert p["replication"]["leader"] == B and sorted(p["replication"]["claimants"]) == [A, B]
    assert p["shared"]["height"] == 12 and set(fake.asked) == {B}


def test_nobody_leading_is_said_and_the_figures_come_from_the_replica_furthest_ahead() -> None:
    fake = FakeSet({A: None, B: exported(leading=False, height=20, revision=5),
                    C: exported(leading=False, height=21, revision=5)})
    p = sample(ReplicaSetSampler(fake.view()))
    assert p["replication"]["leader"] is None and p["replication"]["lease"] is None
    assert p["shared"]["leading"] is False and p["shared"]["height"] == 21 and set(fake.asked) == {C}
    assert pick_leader([ReplicaState(A, 1, up=False, leading=True)]) is None  # a silent replica's old word


def test_a_new_leader_starts_the_windows_afresh() -> None:
    # The old leader admitted 500; the new one, 5 since it took over. Differencing the two would
    # give a negative tx/s and a latency window mixing two processes' receipts.
    fake = FakeSet({A: exported(leading=True, height=10, revision=1, admitted=500, leader=A),
                    B: exported(leading=False, height=10, revision=1, leader=A), C: None})
    sampler = ReplicaSetSampler(fake.view())
    clock = iter(float(t) for t in range(100))
    sampler._clock = lambda: next(clock)
    sample(sampler)
    sample(sampler)
    fake.texts[A] = None
    fake.texts[B] = exported(leading=True, height=11, revision=2, admitted=5, leader=B)
    p = sample(sampler)
    assert p["replication"]["leader"] == B
    assert p["tx_per_s"] is None  # one reading of the new leader's counters: no rate yet, not a negative one
    assert p["latency"]["count"] == 1  # the new leader's receipt only
    fake.texts[B] = exported(leading=True, height=12, revision=2, admitted=15, leader=B)
    assert sample(sampler)["tx_per_s"] == 10.0  # (15 - 5) over one second


def test_a_replica_serving_garbage_on_its_metrics_port_shows_as_not_answering() -> None:
    # Not the exposition format (a process cut off mid-write, or another program on the port): that
    # replica is down on the page and the console goes on with the others, never a crashed sampler.
    fake = FakeSet({A: "sharedseq_leading{ 1.0\n\x00garbage", B: exported(leading=True, height=3, revision=2, leader=B),
                    C: exported(leading=False, height=3, revision=2, leader=B)})
    p = sample(ReplicaSetSampler(fake.view()))
    rows = {x["address"]: x for x in p["replication"]["replicas"]}
    assert not rows[A]["up"] and rows[B]["up"] and p["replication"]["leader"] == B
