"""The batcher's Prometheus metrics (docs/metrics.md, deploy/monitoring/alerts.yml).

In their own registry, like the sequencer's (sequencer/service/metrics.py): the devnet registers
them on the sequencer's registry (one endpoint), a standalone batcher serves them with
`serve_metrics`. Updated by the Batcher at each round (L1 head, balance, firm height, forced queues)
and at each event (posted, fee bump, failure, retry); nothing here reads the network itself."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

FAILURES = ("reverted", "would_revert", "dropped", "origin_refused", "forced_to_refused")
"""The `reason` label of sharedseq_batcher_posting_failures_total (the batcher's log events of those names)."""


class BatcherMetrics:
    """One batcher's metrics; `registry` None makes its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.windows_posted = Counter("sharedseq_batcher_windows_posted_total",
                                      "Windows this batcher got mined in the inbox", registry=r)
        self.posted_height = Gauge("sharedseq_batcher_posted_height",
                                   "Last shared height in a window this batcher got mined (-1: none yet)", registry=r)
        self.last_posted = Gauge("sharedseq_batcher_last_posted_timestamp_seconds",
                                 "Unix time the last window this batcher posted was mined (0: none yet)", registry=r)
        self.firm_height = Gauge("sharedseq_batcher_firm_height",
                                 "Last shared height in a window with `confirmations` L1 blocks on top (-1: none)",
                                 registry=r)
        self.l1_block = Gauge("sharedseq_batcher_l1_block", "Latest L1 block the batcher has read", registry=r)
        self.balance = Gauge("sharedseq_batcher_balance_wei", "The poster account's L1 balance, in wei", registry=r)
        self.inflight_age = Gauge("sharedseq_batcher_inflight_seconds",
                                  "Age of the posting transaction waiting to be mined (0: none in flight)", registry=r)
        self.bumps = Counter("sharedseq_batcher_fee_bumps_total",
                             "Posting transactions re-sent with higher fees (not mined in bump_after_s)", registry=r)
        self.failures = Counter("sharedseq_batcher_posting_failures_total",
                                "Postings that failed, by reason (reverted, would_revert, dropped, ...)", ["reason"],
                                registry=r)
        self.retries = Counter("sharedseq_batcher_retries_total",
                               "Rounds that failed on the sequencer or L1 and were retried after a backoff", registry=r)
        self.forced_depth = Gauge("sharedseq_batcher_forced_queue_depth",
                                  "Forced entries seen on L1 that no posted window has applied yet", ["rollup"],
                                  registry=r)
        self.forced_deadline = Gauge("sharedseq_batcher_forced_deadline_blocks",
                                     "L1 blocks left before the oldest unapplied forced entry's deadline "
                                     "(negative: overdue; absent when the queue is empty)", ["rollup"], registry=r)
        self.posted_height.set(-1)
        self.firm_height.set(-1)
        self._inflight_since: float | None = None

    def on_posted(self, last_height: int, now: float | None = None) -> None:
        self.windows_posted.inc()
        self.posted_height.set(last_height)
        self.last_posted.set(time.time() if now is None else now)
        self._inflight_since = None
        self.inflight_age.set(0)

    def waiting(self, now: float) -> None:
        """The batcher is waiting for its posting to be mined (monotonic `now`): its age counts from
        the first wait for it."""
        if self._inflight_since is None:
            self._inflight_since = now
        self.inflight_age.set(now - self._inflight_since)

    def on_failure(self, reason: str) -> None:
        self.failures.labels(reason).inc()
        self._inflight_since = None
        self.inflight_age.set(0)

    def observe(self, *, l1_block: int, firm_height: int, balance_wei: int | None,
                forced: Mapping[Any, Sequence[Any]], now: float | None = None) -> None:
        """A round's reading: the L1 head, the firm height, the poster's balance, the forced queues
        ({rollup: entries with l1_block and deadline, oldest first})."""
        self.l1_block.set(l1_block)
        self.firm_height.set(firm_height)
        if balance_wei is not None:
            self.balance.set(balance_wei)
        if self._inflight_since is not None:
            self.inflight_age.set((time.monotonic() if now is None else now) - self._inflight_since)
        for rid, entries in forced.items():
            self.forced_depth.labels(str(rid)).set(len(entries))
            deadline = int(entries[0].deadline) if entries else 0
            if deadline:
                self.forced_deadline.labels(str(rid)).set(deadline - l1_block)
            else:
                try:
                    self.forced_deadline.remove(str(rid))
                except KeyError:
                    pass


def serve_metrics(listen: str, metrics: BatcherMetrics) -> Any:
    """Serve `metrics` on http://listen/metrics (a daemon thread); returns the server."""
    from prometheus_client import start_http_server

    from sequencer.errors import BadInput

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise BadInput(f"--metrics-listen: expected host:port, got {listen!r}")
    try:
        server, _thread = start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry=metrics.registry)
    except OSError as exc:
        raise BadInput(f"cannot listen on {listen} for the batcher's metrics: {exc.strerror}") from None
    return server
