"""The batcher's metrics (sequencer/l1/batcher_metrics.py): what a round's reading and each event set."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sequencer.errors import BadInput
from sequencer.l1.batcher_metrics import BatcherMetrics, serve_metrics


@dataclass(frozen=True)
class Entry:
    l1_block: int
    deadline: int


def value(m: BatcherMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels or None)


def test_a_round_sets_head_balance_firm_and_forced_deadlines() -> None:
    m = BatcherMetrics()
    assert value(m, "sharedseq_batcher_posted_height") == -1 and value(m, "sharedseq_batcher_firm_height") == -1
    m.observe(l1_block=100, firm_height=41, balance_wei=5 * 10**18,
              forced={901: (Entry(95, 104), Entry(99, 108)), 902: ()})
    assert value(m, "sharedseq_batcher_l1_block") == 100
    assert value(m, "sharedseq_batcher_firm_height") == 41
    assert value(m, "sharedseq_batcher_balance_wei") == 5 * 10**18
    assert value(m, "sharedseq_batcher_forced_queue_depth", rollup="901") == 2
    assert value(m, "sharedseq_batcher_forced_deadline_blocks", rollup="901") == 4  # the oldest entry's
    assert value(m, "sharedseq_batcher_forced_queue_depth", rollup="902") == 0
    assert value(m, "sharedseq_batcher_forced_deadline_blocks", rollup="902") is None  # empty: no deadline
    # The balance is read once per new L1 block; a round without a reading keeps the last one.
    m.observe(l1_block=112, firm_height=41, balance_wei=None, forced={901: (Entry(95, 104),)})
    assert value(m, "sharedseq_batcher_balance_wei") == 5 * 10**18
    assert value(m, "sharedseq_batcher_forced_deadline_blocks", rollup="901") == -8  # overdue
    m.observe(l1_block=113, firm_height=41, balance_wei=None, forced={901: ()})
    assert value(m, "sharedseq_batcher_forced_deadline_blocks", rollup="901") is None


def test_inflight_age_grows_while_waiting_and_resets_when_mined_or_failed() -> None:
    m = BatcherMetrics()
    m.waiting(10.0)
    m.waiting(42.5)
    assert value(m, "sharedseq_batcher_inflight_seconds") == 32.5
    m.on_posted(250, now=1_700_000_000.0)
    assert value(m, "sharedseq_batcher_inflight_seconds") == 0
    assert value(m, "sharedseq_batcher_windows_posted_total") == 1
    assert value(m, "sharedseq_batcher_posted_height") == 250
    assert value(m, "sharedseq_batcher_last_posted_timestamp_seconds") == 1_700_000_000.0
    m.waiting(100.0)
    m.waiting(103.0)
    m.on_failure("reverted")
    assert value(m, "sharedseq_batcher_inflight_seconds") == 0
    assert value(m, "sharedseq_batcher_posting_failures_total", reason="reverted") == 1
    m.waiting(200.0)  # the next posting's age starts afresh
    assert value(m, "sharedseq_batcher_inflight_seconds") == 0


def test_serve_metrics_names_a_bad_listen_address() -> None:
    with pytest.raises(BadInput, match="host:port"):
        serve_metrics("nonsense", BatcherMetrics())
