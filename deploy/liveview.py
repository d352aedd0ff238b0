"""The devnet's terminal live view: a fixed table redrawn in place on a terminal (like `htop`), one
plain line per interval otherwise (a log file, a pipe, CI).

`render_table` and `render_line` are pure (a `LiveStatus` in, text out) so both modes are tested
without a terminal; `LiveView` only decides which one and how to overwrite the previous frame.
Figures come from the same helpers as the web console (sequencer/console/snapshot.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sequencer.console.snapshot import (
    LATENCY_WINDOW_S,
    RATE_WINDOW_S,
    counter_by_label,
    cumulative_buckets,
    quantile,
    rate,
    window_buckets,
)

NO_TRAFFIC = "no traffic yet"


@dataclass(frozen=True, slots=True)
class RollupRow:
    rollup_id: int
    name: str
    soft_block: int | None
    firm_block: int | None
    tx_per_s: float | None


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    """One sequencer replica (devnet --replicas, docs/replication.md) as its metrics show it; None
    fields: its metrics endpoint did not answer (killed, restarting)."""

    address: str
    pid: int | None
    leading: bool | None
    height: int | None
    lag_entries: int | None
    lease_s: float | None
    leader: str | None


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """One interval's figures. Latency quantiles are bucket upper bounds (None: no receipt in the
    window, shown as "no traffic yet", never as 0 ms)."""

    clock: str
    shared_height: int
    firm_height: int
    p50_s: float | None
    p99_s: float | None
    tx_per_s: float | None
    rollups: tuple[RollupRow, ...]
    replicas: tuple[ReplicaRow, ...] = ()
    """A replicated sequencer's replicas (empty: one sequencer)."""


def _ms(s: float) -> str:
    return f"<={s * 1000:.1f}ms" if s < 0.01 else f"<={s * 1000:.0f}ms"


def latency_text(st: LiveStatus) -> str:
    if st.p50_s is None or st.p99_s is None:
        return NO_TRAFFIC
    return f"p50 {_ms(st.p50_s)} p99 {_ms(st.p99_s)}"


def _opt(v: int | None) -> str:
    return "-" if v is None else str(v)


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _firm(st: LiveStatus) -> tuple[str, str]:
    if st.firm_height < 0:
        return "none yet", "-"
    return str(st.firm_height), str(st.shared_height - st.firm_height)


def replica_text(r: ReplicaRow) -> str:
    """One replica: its role, height, lag and (on the leader) the lease time left."""
    if r.leading is None:
        return f"{r.address} (pid {_opt(r.pid)}) not answering"
    role = f"leader, lease {r.lease_s:.1f}s" if r.leading and r.lease_s is not None else \
        "leader" if r.leading else f"follower of {r.leader or 'nobody yet'}"
    return f"{r.address} (pid {_opt(r.pid)}) {role}, block {_opt(r.height)}, lag {_opt(r.lag_entries)} entries"


def render_line(st: LiveStatus) -> str:
    """The non-terminal mode: everything on one line, greppable."""
    firm, lag = _firm(st)
    parts = [f"{st.clock} shared {st.shared_height} firm {firm} (lag {lag})", f"preconf {latency_text(st)}",
             f"{_rate(st.tx_per_s)} tx/s"]
    for r in st.rollups:
        lag_r = "-" if r.soft_block is None or r.firm_block is None else str(r.soft_block - r.firm_block)
        parts.append(f"{r.rollup_id}: block {_opt(r.soft_block)} firm {_opt(r.firm_block)} (lag {lag_r})")
    parts.extend(f"replica {replica_text(r)}" for r in st.replicas)
    return " | ".join(parts)


COLUMNS = (("", 22), ("soft", 10), ("firm", 10), ("lag", 6), ("latency", 26), ("tx/s", 8))


def _row(cells: tuple[str, ...]) -> str:
    return "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS,
                                                                                                   strict=True)))


def render_table(st: LiveStatus) -> list[str]:
    """The terminal mode: always 4 + len(rollups) lines of fixed width, so a redraw overwrites it."""
    firm, lag = _firm(st)
    lines = [f"sharedseq devnet  {st.clock}   (Ctrl-C stops everything)",
             _row(tuple(name for name, _ in COLUMNS)),
             _row(("shared (blocks)", str(st.shared_height), firm, lag, latency_text(st), _rate(st.tx_per_s)))]
    for r in st.rollups:
        lag_r = "-" if r.soft_block is None or r.firm_block is None else str(r.soft_block - r.firm_block)
        lines.append(_row((f"{r.rollup_id} {r.name}"[:22], _opt(r.soft_block), _opt(r.firm_block), lag_r, "",
                           _rate(r.tx_per_s))))
    lines.append("soft/firm: rollup block numbers of the node following the sequencer / deriving from L1")
    lines.extend(f"replica {replica_text(r)}" for r in st.replicas)
    return [line.rstrip() for line in lines]


class ScrapedMetrics:
    """A replica's metrics read from its endpoint's text, with the families `Probe` and the console's
    Sampler read (`admitted`, `receipt_seconds`, `seal_seconds`, `bundles`) offering `collect()` as
    the in-process ones do."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.families = {f.name: f for f in text_string_to_metric_families(text)}

        class _Family:
            def __init__(self, family: Any) -> None:
                self._family = family

            def collect(self) -> list[Any]:
                return [self._family] if self._family is not None else []
        self.admitted = _Family(self.families.get("sharedseq_admitted"))
        self.receipt_seconds = _Family(self.families.get("sharedseq_receipt_latency_seconds"))
        self.seal_seconds = _Family(self.families.get("sharedseq_seal_seconds"))
        self.bundles = _Family(self.families.get("sharedseq_bundles"))

    def value(self, name: str, **labels: str) -> float | None:
        """An unlabelled (or exactly labelled) sample's value; None if absent."""
        for f in self.families.values():
            for s in f.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None

    def labels_of(self, name: str, label: str) -> list[str]:
        return [s.labels[label] for f in self.families.values() for s in f.samples if s.name == name]


def replica_row(address: str, pid: int | None, metrics: ScrapedMetrics | None) -> ReplicaRow:
    """A replica's row from its scraped metrics (docs/metrics.md); None: it did not answer."""
    if metrics is None:
        return ReplicaRow(address, pid, None, None, None, None, None)
    height, lag, lease = (metrics.value(n) for n in ("sharedseq_block_height", "sharedseq_replica_lag_entries",
                                                       "sharedseq_lease_remaining_seconds"))
    leaders = metrics.labels_of("sharedseq_leader", "address")
    return ReplicaRow(address, pid, metrics.value("sharedseq_leading") == 1.0,
                      None if height is None else int(height), None if lag is None else int(lag), lease,
                      leaders[0] if leaders else None)


class Probe:
    """Windowed figures from the sequencer's metrics: tx/s over RATE_WINDOW_S, latency over
    LATENCY_WINDOW_S (both as the console computes them)."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self._admitted: deque[tuple[float, dict[str, float]]] = deque()
        self._latency: deque[tuple[float, tuple[tuple[float, float], ...]]] = deque()

    @staticmethod
    def _keep(hist: deque[tuple[float, Any]], now: float, value: Any, span: float) -> Any:
        hist.append((now, value))
        while len(hist) > 2 and now - hist[1][0] >= span:
            hist.popleft()
        return hist[0][1] if len(hist) > 1 else None

    def read(self, now: float) -> tuple[float | None, float | None, float | None, dict[str, float | None]]:
        admitted = counter_by_label(self.metrics.admitted, "rollup")
        self._keep(self._admitted, now, admitted, RATE_WINDOW_S)
        lat_now = cumulative_buckets(self.metrics.receipt_seconds)
        lat = window_buckets(lat_now, self._keep(self._latency, now, lat_now, LATENCY_WINDOW_S))
        per = {k: rate((t, a.get(k, 0.0)) for t, a in self._admitted) for k in admitted}
        return (quantile(lat, 0.5), quantile(lat, 0.99), rate((t, sum(a.values())) for t, a in self._admitted), per)


class LiveView:
    """Writes each status: redrawn in place on a terminal (cursor up over the last frame, each line
    cleared to its end), appended as one line otherwise."""

    def __init__(self, write: Callable[[str], None], *, tty: bool) -> None:
        self.write = write
        self.tty = tty
        self._height = 0

    def show(self, st: LiveStatus) -> None:
        if not self.tty:
            self.write(render_line(st) + "\n")
            return
        lines = render_table(st)
        up = f"\x1b[{self._height}F" if self._height else ""
        self.write(up + "".join(line + "\x1b[K\n" for line in lines))
        self._height = len(lines)
