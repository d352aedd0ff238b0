"""Prometheus metrics (served on the metrics endpoint by the server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The sequencer's metrics, in their own registry (tests make many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.admitted = Counter("sharedseq_admitted_total", "Transactions admitted", ["rollup"], registry=r)
        self.rejected = Counter("sharedseq_rejected_total", "Submissions rejected", ["reason"], registry=r)
        self.bundles = Counter("sharedseq_bundles_total", "Bundles admitted", registry=r)
        self.height = Gauge("sharedseq_block_height", "Height of the last sealed, durable block", registry=r)
        self.firm_height = Gauge("sharedseq_firm_height", "Height of the last block firm on L1", registry=r)
        self.pending_txs = Gauge("sharedseq_pending_txs", "Admitted transactions not sealed yet", registry=r)
        self.seal_seconds = Histogram(
            "sharedseq_seal_seconds", "Time to seal, sign and persist a block", registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.receipt_seconds = Histogram(
            "sharedseq_receipt_latency_seconds", "Submission to durable signed receipt", registry=r,
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
        )
        self.commit_batch = Histogram(
            "sharedseq_group_commit_records", "Records per group commit", registry=r,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
        )
        self.subscribers = Gauge("sharedseq_subscribers", "Open block subscriptions", registry=r)
        self.subscribers_cut = Counter(
            "sharedseq_subscribers_cut_total", "Subscriptions cut off for not reading (RESOURCE_EXHAUSTED)",
            registry=r)
        self.client_limited = Counter(
            "sharedseq_client_limited_total", "Requests refused by a per-client limit", ["limit"], registry=r)
        self.leading = Gauge(
            "sharedseq_leading", "1 while this sequencer leads (admits and seals), 0 while it follows a leader",
            registry=r)
        # Replicas (issue 12, sequencer/replication/replica.py); a single sequencer leaves them at 0.
        self.replica_lag = Gauge(
            "sharedseq_replica_lag_entries",
            "Replicated-log entries JetStream holds that this replica has not applied yet", registry=r)
        self.lease_remaining = Gauge(
            "sharedseq_lease_remaining_seconds",
            "Seconds left on the leader lease this replica holds (0 while it does not lead)", registry=r)
        self.lease_revision = Gauge(
            "sharedseq_lease_revision", "Revision of the lease key as this replica last read or wrote it",
            registry=r)
        self.leader = Gauge(
            "sharedseq_leader", "1 for the gRPC address this replica takes as the leader (the lease holder)",
            ["address"], registry=r)
        self.storage_faults = Counter(
            "sharedseq_storage_faults_total", "Block log writes that failed (the service stops)", registry=r)
