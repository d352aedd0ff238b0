"""One picture of the node for the console, sampled on the sequencer's loop.

`Sampler.sample()` reads only what the node already holds (heights, the metrics registry, the newest
blocks from its cache) and returns a JSON-able dict; `sources` add what lives outside the node (the
devnet's batcher and rollup nodes). The figures are computed by the pure helpers below, which the
devnet's terminal view shares, so both show the same numbers."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import keccak

RATE_WINDOW_S = 10.0
"""tx/s is averaged over this much time: smooth enough to read, recent enough to react."""
LATENCY_WINDOW_S = 30.0
"""The latency histogram shows the receipts of the last this-many seconds, not since start (a
histogram since start stops moving after a few minutes and hides a fresh regression)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """Observations with value <= `le` and above the previous bucket's bound (not cumulative)."""

    le: float
    count: float


def cumulative_buckets(hist: Any) -> tuple[tuple[float, float], ...]:
    """(upper bound, cumulative count) of a prometheus_client Histogram, sorted, +Inf last."""
    out: list[tuple[float, float]] = []
    for metric in hist.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket"):
                out.append((float(s.labels["le"]), float(s.value)))
    return tuple(sorted(out))


def window_buckets(now: Sequence[tuple[float, float]], then: Sequence[tuple[float, float]] | None
                   ) -> tuple[Bucket, ...]:
    """The per-bucket counts observed between two cumulative readings (`then` None: since start)."""
    prev_cum = dict(then or ())
    buckets: list[Bucket] = []
    below = 0.0
    for le, cum in now:
        in_window = cum - prev_cum.get(le, 0.0)
        buckets.append(Bucket(le, max(0.0, in_window - below)))
        below = in_window
    return tuple(buckets)


def quantile(buckets: Sequence[Bucket], q: float) -> float | None:
    """The upper bound of the bucket holding quantile `q`; None when nothing was observed (the
    console says "no traffic yet" rather than a made-up 0 ms). A quantile in the +Inf bucket is
    reported as the largest finite bound (it is "above that")."""
    total = sum(b.count for b in buckets)
    if total <= 0:
        return None
    seen = 0.0
    finite = [b.le for b in buckets if b.le != float("inf")]
    for b in buckets:
        seen += b.count
        if seen >= q * total:
            return b.le if b.le != float("inf") else (finite[-1] if finite else None)
    return finite[-1] if finite else None


def counter_by_label(counter: Any, label: str) -> dict[str, float]:
    """A labelled Counter's current totals, by the value of `label`."""
    out: dict[str, float] = {}
    for metric in counter.collect():
        for s in metric.samples:
            if s.name.endswith("_total"):
                out[s.labels[label]] = float(s.value)
    return out


def rate(history: Iterable[tuple[float, float]]) -> float | None:
    """Events per second between the oldest and newest (time, cumulative count) readings."""
    h = list(history)
    if len(h) < 2 or h[-1][0] <= h[0][0]:
        return None
    return (h[-1][1] - h[0][1]) / (h[-1][0] - h[0][0])


class NodeView(Protocol):
    """What the sampler reads from a SequencerNode (kept small so tests can see the contract)."""

    durable_height: int
    firm_height: int
    leading: bool
    leader_address: str | None
    metrics: Any
    core: Any

    async def get_block(self, height: int) -> Any: ...


class Sampler:
    """Samples the node every tick; the latest picture is in `latest`, `version` counts them."""

    def __init__(self, node: NodeView, *, keep_blocks: int = 12, keep_bundles: int = 12,
                 clock: Callable[[], float] = time.monotonic, wall_ms: Callable[[], int] | None = None) -> None:
        self.node = node
        self.sources: list[Callable[[], dict[str, Any]]] = []
        """Extra views merged into each picture (the devnet adds its batcher and rollup nodes)."""
        self.keep_blocks = keep_blocks
        self._clock = clock
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self._seen = node.durable_height
        self._blocks: deque[dict[str, Any]] = deque(maxlen=keep_blocks)
        self._bundles: deque[dict[str, Any]] = deque(maxlen=keep_bundles)
        self._last_data: dict[int, int] = {}
        self._last_block: dict[str, Any] | None = None
        self._intervals: deque[int] = deque(maxlen=50)
        self._admitted: deque[tuple[float, dict[str, float]]] = deque()
        self._latency: deque[tuple[float, tuple[tuple[float, float], ...]]] = deque()
        self._seal: deque[tuple[float, tuple[tuple[float, float], ...]]] = deque()
        self.version = 0
        self.latest: dict[str, Any] = {}

    def reset_windows(self) -> None:
        """Start the tx/s and latency windows afresh: the counters they difference were replaced (a
        replica set's console reading another leader, whose counters are its own), and a difference
        between two processes' counters is no figure."""
        self._admitted.clear()
        self._latency.clear()
        self._seal.clear()

    async def _read_new_blocks(self) -> None:
        top = self.node.durable_height
        # Far behind (a replay, a slow tab): only the newest blocks are shown, so read only those.
        start = max(self._seen + 1, top - self.keep_blocks * 4 + 1)
        for h in range(start, top + 1):
            block = await self.node.get_block(h)
            if block is None:
                break
            hdr = block.header
            if self._last_block is not None and h == self._last_block["height"] + 1:
                self._intervals.append(hdr.timestamp_ms - self._last_block["timestamp_ms"])
            txs = {ns.rollup_id: len(ns.transactions) for ns in block.namespaces if ns.transactions}
            for rid in txs:
                self._last_data[rid] = h
            row = {"height": h, "timestamp_ms": hdr.timestamp_ms, "l1_origin": hdr.l1_origin_number,
                   "txs": {str(k): v for k, v in txs.items()}, "tx_count": sum(txs.values()),
                   "bundles": len(block.bundles)}
            self._last_block = row
            if txs:
                self._blocks.appendleft(row)
            payloads = {ns.rollup_id: ns.transactions for ns in block.namespaces}
            for b in block.bundles:
                # Each leg's transaction hash (keccak of the payload: an EVM rollup's own tx hash), so a
                # source that knows the rollups' execution (the devnet's margin view) can say what
                # became of the bundle there: committed, aborted, pending.
                self._bundles.appendleft({"height": h, "bundle_hash": "0x" + b.bundle_hash.hex(),
                                          "legs": [{"rollup": rid, "index": i,
                                                    "tx": "0x" + keccak(payloads[rid][i]).hex()
                                                    if i < len(payloads.get(rid, ())) else None}
                                                   for rid, i in b.legs]})
            self._seen = h

    @staticmethod
    def _windowed(hist: deque[tuple[float, Any]], now: float, value: Any, span: float) -> Any:
        """Append (now, value), drop readings older than `span`, return the oldest kept reading."""
        hist.append((now, value))
        while len(hist) > 2 and now - hist[1][0] >= span:
            hist.popleft()
        return hist[0][1]

    async def sample(self) -> dict[str, Any]:
        node, m = self.node, self.node.metrics
        await self._read_new_blocks()
        now = self._clock()
        admitted = counter_by_label(m.admitted, "rollup")
        self._windowed(self._admitted, now, admitted, RATE_WINDOW_S)
        lat_now = cumulative_buckets(m.receipt_seconds)
        lat = window_buckets(lat_now, self._windowed(self._latency, now, lat_now, LATENCY_WINDOW_S))
        if len(self._latency) == 1:
            lat = window_buckets(lat_now, None)
        seal_now = cumulative_buckets(m.seal_seconds)
        seal = window_buckets(seal_now, self._windowed(self._seal, now, seal_now, LATENCY_WINDOW_S))
        rollups: dict[str, dict[str, Any]] = {}
        for rid, info in node.core.rollups.items():
            key = str(rid)
            rollups[key] = {
                "id": rid, "name": info.name, "format": info.batch_format,
                "admitted": int(admitted.get(key, 0)),
                "tx_per_s": rate((t, a.get(key, 0.0)) for t, a in self._admitted),
                "last_data_height": self._last_data.get(rid),
            }
        total_rate = rate((t, sum(a.values())) for t, a in self._admitted)
        last = self._last_block
        picture: dict[str, Any] = {
            "now_ms": self._wall_ms(),
            "shared": {
                "height": node.durable_height, "firm_height": node.firm_height,
                "firm_lag": node.durable_height - node.firm_height if node.firm_height >= 0 else None,
                "pending_txs": node.core.pending_txs,
                "leading": node.leading, "leader": node.leader_address,
            },
            "slot": {
                "slot_ms": node.core.config.slot_ms,
                "last_block_ms": last["timestamp_ms"] if last else None,
                "mean_interval_ms": (sum(self._intervals) / len(self._intervals)) if self._intervals else None,
                "seal_p50_s": quantile(seal, 0.5), "seal_p99_s": quantile(seal, 0.99),
            },
            "tx_per_s": total_rate,
            "latency": {
                "window_s": LATENCY_WINDOW_S,
                "buckets": [{"le": None if b.le == float("inf") else b.le, "count": b.count} for b in lat],
                "p50_s": quantile(lat, 0.5), "p99_s": quantile(lat, 0.99),
                "count": sum(b.count for b in lat),
            },
            "rollups": rollups,
            "blocks": list(self._blocks),
            "bundles": list(self._bundles),
            "bundles_total": int(sum(float(s.value) for mm in m.bundles.collect() for s in mm.samples
                                     if s.name.endswith("_total"))),
            "batcher": None,
            "forced": None,
        }
        for source in self.sources:
            merge(picture, source())
        self.version += 1
        picture["version"] = self.version
        self.latest = picture
        return picture


def merge(picture: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge a source's view: per-rollup fields into their rollup's row, other keys replace."""
    for key, value in extra.items():
        if key == "rollups":
            for rid, fields in value.items():
                picture["rollups"].setdefault(str(rid), {"id": int(rid)}).update(fields)
        else:
            picture[key] = value


def batcher_view(batcher: Any, *, force_inclusion_delay: int, keep: int = 10) -> dict[str, Any]:
    """The batcher's last postings with their L1 status, and the forced queues' depth and deadlines.

    A posting is "mined" once its transaction has a receipt (it is in `posted`) and "firm" once the
    batcher's firm height (windows under `confirmations` L1 blocks) covers its last block. A forced
    entry must be applied by the window that follows L1 block `l1_block + force_inclusion_delay`
    (docs/settlement.md, rule F), hence its deadline."""
    postings = [{"window": p.window_index, "first_height": p.first_height, "last_height": p.last_height,
                 "tx_hash": p.tx_hash, "l1_block": p.l1_block, "gas_used": p.gas_used, "blobs": p.blob_count,
                 "rollups": list(p.rollup_ids),
                 "status": "firm" if batcher.firm_height >= p.last_height else "mined"}
                for p in reversed(batcher.posted[-keep:])]
    forced = {}
    for rid, entries in batcher.forced_backlog().items():
        forced[str(rid)] = {"depth": len(entries),
                            "oldest_l1_block": entries[0].l1_block if entries else None,
                            "deadline_l1_block": entries[0].l1_block + force_inclusion_delay if entries else None}
    return {"batcher": {"address": batcher.address, "firm_height": batcher.firm_height,
                        "windows_posted": len(batcher.posted), "postings": postings},
            "forced": forced}
