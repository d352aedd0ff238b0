"""The web console of a replica set (issue 12): what `sharedseq devnet --replicas N` serves.

The single devnet's console samples the node in its own process (sequencer/console/snapshot.py).
A replica set's nodes run in processes of their own, so this console reads them as an operator's
tools do: each replica's metrics endpoint (its role, height, log lag and lease: docs/metrics.md)
and the leader's gRPC API for the newest blocks (GetBlock; followers serve reads too). The page is
the same page, its figures computed by the same Sampler (tx/s, latency windows, blocks, bundles)
from the leader's metrics, plus a `replication` part: the leader, the lease, each replica's height
and lag, and which replica each one takes as the leader.

The leader shown is the replica whose metrics say it leads (`sharedseq_leading 1`). Two may say so
for a moment: a deposed leader that has not yet noticed its lease lapsed (the log fences its writes,
docs/replication.md). Then the one holding the newer lease revision is shown, and both are listed
under `claimants` so the moment is visible rather than hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import grpc

from deploy.liveview import ScrapedMetrics
from sequencer.console.settings import ConsoleConfig
from sequencer.console.snapshot import Sampler
from sequencer.core.types import SharedBlock
from sequencer.service.convert import block_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

Scrape = Callable[[str], Awaitable[str | None]]
"""A metrics URL -> the endpoint's text, or None when it did not answer."""
GetBlock = Callable[[str, int], Awaitable[SharedBlock | None]]
"""(a replica's gRPC address, height) -> the block, or None (not there yet, not answering)."""


@dataclass(frozen=True, slots=True)
class Member:
    """One replica as the console knows it: where to ask, and its pid for the operator."""

    address: str
    pid: int | None
    metrics_url: str


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """One replica as its metrics showed it at the last sample; `up` False: it did not answer."""

    address: str
    pid: int | None
    up: bool
    leading: bool = False
    height: int | None = None
    lag_entries: int | None = None
    lease_remaining_s: float | None = None
    lease_revision: int | None = None
    follows: str | None = None
    """The address this replica takes as the leader (its `sharedseq_leader` series)."""

    def view(self) -> dict[str, Any]:
        return {"address": self.address, "pid": self.pid, "up": self.up, "leading": self.leading,
                "height": self.height, "lag_entries": self.lag_entries,
                "lease_remaining_s": self.lease_remaining_s, "lease_revision": self.lease_revision,
                "follows": self.follows}


def _parse(text: str | None) -> ScrapedMetrics | None:
    """None for no answer and for text that is not the exposition format (a replica cut off while
    writing it, or something else on its port): that replica shows as not answering, and the page
    goes on for the others."""
    if text is None:
        return None
    try:
        return ScrapedMetrics(text)
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def replica_state(member: Member, metrics: ScrapedMetrics | None) -> ReplicaState:
    """A replica's state from its scraped metrics (None: the endpoint did not answer)."""
    if metrics is None:
        return ReplicaState(member.address, member.pid, up=False)
    follows = metrics.labels_of("sharedseq_leader", "address")
    return ReplicaState(member.address, member.pid, up=True,
                        leading=metrics.value("sharedseq_leading") == 1.0,
                        height=_int(metrics.value("sharedseq_block_height")),
                        lag_entries=_int(metrics.value("sharedseq_replica_lag_entries")),
                        lease_remaining_s=metrics.value("sharedseq_lease_remaining_seconds"),
                        lease_revision=_int(metrics.value("sharedseq_lease_revision")),
                        follows=follows[0] if follows else None)


def pick_leader(states: Sequence[ReplicaState]) -> ReplicaState | None:
    """The replica shown as the leader: of those answering that say they lead, the one with the
    newest lease revision (a deposed leader still claiming holds an older one), then the most lease
    left; None while nobody leads (a failover under way)."""
    claimants = [s for s in states if s.up and s.leading]
    if not claimants:
        return None
    return max(claimants, key=lambda s: (s.lease_revision or 0, s.lease_remaining_s or 0.0))


@dataclass(frozen=True, slots=True)
class _Rollup:
    name: str
    batch_format: str


@dataclass(frozen=True, slots=True)
class _CoreConfig:
    slot_ms: int


@dataclass(slots=True)
class _Core:
    """The few core fields the Sampler reads (NodeView.core), from the config and the metrics."""

    rollups: dict[int, _Rollup]
    config: _CoreConfig
    pending_txs: int = 0


@dataclass
class ReplicaSetView:
    """A NodeView (sequencer/console/snapshot.py) over a replica set, refreshed before each sample:
    heights and figures from the leader's metrics (while nobody leads, from the replica furthest
    ahead), blocks from that replica's gRPC API."""

    members: Sequence[Member]
    core: _Core
    scrape: Scrape
    fetch_block: GetBlock
    durable_height: int = -1
    firm_height: int = -1
    leading: bool = False
    leader_address: str | None = None
    metrics: ScrapedMetrics = field(default_factory=lambda: ScrapedMetrics(""))
    states: list[ReplicaState] = field(default_factory=list)
    source: str | None = None
    """The replica the figures and blocks come from at the last refresh."""

    async def refresh(self) -> None:
        texts = await asyncio.gather(*(self.scrape(m.metrics_url) for m in self.members))
        scraped = [_parse(t) for t in texts]
        self.states = [replica_state(m, s) for m, s in zip(self.members, scraped, strict=True)]
        lead = pick_leader(self.states)
        up = [(st, s) for st, s in zip(self.states, scraped, strict=True) if s is not None]
        if lead is not None:
            src = next((st, s) for st, s in up if st is lead)
        elif up:
            src = max(up, key=lambda p: p[0].height if p[0].height is not None else -1)
        else:
            return  # nobody answers: keep the last picture's figures (the page shows every replica down)
        state, m = src
        self.leading = lead is not None
        self.leader_address = lead.address if lead is not None else None
        self.source = state.address
        self.metrics = m
        self.durable_height = state.height if state.height is not None else self.durable_height
        firm = m.value("sharedseq_firm_height")
        self.firm_height = int(firm) if firm is not None else self.firm_height
        self.core.pending_txs = _int(m.value("sharedseq_pending_txs")) or 0

    async def get_block(self, height: int) -> SharedBlock | None:
        return await self.fetch_block(self.source, height) if self.source is not None else None

    def replication(self) -> dict[str, Any]:
        """The picture's `replication` part (a Sampler source)."""
        lead = pick_leader(self.states)
        return {"replication": {
            "leader": lead.address if lead is not None else None,
            "leader_pid": lead.pid if lead is not None else None,
            "lease": {"remaining_s": lead.lease_remaining_s, "revision": lead.lease_revision}
            if lead is not None else None,
            "claimants": [s.address for s in self.states if s.up and s.leading],
            "replicas": [s.view() for s in self.states],
        }}


class ReplicaSetSampler(Sampler):
    """The console's Sampler over a ReplicaSetView: refreshes the view, then samples it as the single
    console samples its node. When another replica starts leading, the rate and latency windows
    start afresh: the new leader's counters are its own, and a difference across two processes'
    counters would be a made-up figure."""

    def __init__(self, view: ReplicaSetView) -> None:
        super().__init__(view)
        self.view = view
        self._figures_from: str | None = None
        self.sources.append(view.replication)

    async def sample(self) -> dict[str, Any]:
        await self.view.refresh()
        if self.view.source != self._figures_from:
            self._figures_from = self.view.source
            self.reset_windows()
        return await super().sample()


async def scrape_http(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=1.0)) as r:
            return await r.text() if r.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


class BlockReader:
    """GetBlock over one grpc.aio channel per replica, opened on first use and closed by `aclose`."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def __call__(self, address: str, height: int) -> SharedBlock | None:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpc.aio.insecure_channel(address)
        try:
            resp = await pb_grpc.SequencerServiceStub(ch).GetBlock(pb.GetBlockRequest(height=height), timeout=2.0)
        except (grpc.aio.AioRpcError, TimeoutError):
            return None  # not sealed there yet, or the replica is down: the next sample tries again
        return block_from_proto(resp.block)

    async def aclose(self) -> None:
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()


@dataclass(frozen=True, slots=True)
class RunningConsole:
    port: int
    sampler: ReplicaSetSampler


def members_of(replica_set: Any) -> list[Member]:
    """The console's members from a running deploy.replicas.launch.ReplicaSet."""
    return [Member(r.address, r.pid, f"http://127.0.0.1:{r.metrics_port}/metrics") for r in replica_set.replicas]


@asynccontextmanager
async def serve_console(members: Sequence[Member], listen: str, rollups: Sequence[dict[str, Any]],
                        slot_ms: int) -> AsyncIterator[RunningConsole]:
    """The console for `members` on `listen` (host:port, port 0: a free one) until the block exits.
    `rollups`: the sequencer config's [[rollups]] tables (id, name, format)."""
    from sequencer.console.server import run_console

    core = _Core({int(r["id"]): _Rollup(str(r.get("name", r["id"])), str(r.get("format", "")))
                  for r in rollups}, _CoreConfig(slot_ms))
    reader = BlockReader()
    async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
        view = ReplicaSetView(members, core, lambda url: scrape_http(session, url), reader)
        sampler = ReplicaSetSampler(view)
        try:
            port = await tg.start(run_console, ConsoleConfig(listen=listen), sampler)
            yield RunningConsole(port, sampler)
        finally:
            tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await reader.aclose()
