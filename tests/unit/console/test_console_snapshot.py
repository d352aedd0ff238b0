"""The console's figures (sequencer/console/snapshot.py): windowed histograms, quantiles, rates, and
the batcher's view (postings' L1 status, forced queues past the last window's cursor)."""

from __future__ import annotations

from rollup_adapters.derivation import Cursor, ForcedTx
from sequencer.console.snapshot import (
    Bucket,
    batcher_view,
    cumulative_buckets,
    merge,
    quantile,
    rate,
    window_buckets,
)
from sequencer.l1.batcher import Batcher, BatcherConfig, PostResult, _Synced
from sequencer.service.metrics import Metrics


def test_window_buckets_count_only_what_happened_in_the_window() -> None:
    m = Metrics()
    for v in (0.0003, 0.0003, 0.004):
        m.receipt_seconds.observe(v)
    then = cumulative_buckets(m.receipt_seconds)
    for v in (0.03, 0.03, 0.03, 7.0):
        m.receipt_seconds.observe(v)
    now = cumulative_buckets(m.receipt_seconds)
    since_start = {b.le: b.count for b in window_buckets(now, None)}
    assert since_start[0.0005] == 2 and since_start[0.005] == 1 and since_start[0.05] == 3
    recent = window_buckets(now, then)
    assert {b.le: b.count for b in recent if b.count} == {0.05: 3, float("inf"): 1}
    assert quantile(recent, 0.5) == 0.05
    assert quantile(recent, 0.99) == 0.5  # in +Inf: shown as above the largest finite bound
    assert quantile(window_buckets(now, now), 0.5) is None  # nothing new: "no traffic yet", never 0


def test_quantile_and_rate_edges() -> None:
    assert quantile((Bucket(0.001, 0), Bucket(float("inf"), 0)), 0.5) is None
    assert quantile((Bucket(0.001, 1), Bucket(0.01, 3)), 0.25) == 0.001
    assert rate([]) is None and rate([(1.0, 5.0)]) is None and rate([(1.0, 5.0), (1.0, 9.0)]) is None
    assert rate([(0.0, 0.0), (1.0, 3.0), (2.0, 10.0)]) == 5.0


def test_merge_puts_rollup_fields_in_their_row() -> None:
    picture = {"rollups": {"901": {"id": 901, "admitted": 3}}, "batcher": None}
    merge(picture, {"rollups": {901: {"soft_block": 7}, "902": {"soft_block": 1}}, "batcher": {"x": 1}})
    assert picture["rollups"]["901"] == {"id": 901, "admitted": 3, "soft_block": 7}
    assert picture["rollups"]["902"] == {"id": 902, "soft_block": 1}
    assert picture["batcher"] == {"x": 1}


def _batcher() -> Batcher:
    return Batcher(BatcherConfig(sequencer="127.0.0.1:1", l1_rpc_url="http://127.0.0.1:1", inbox="0x" + "11" * 20,
                                 key=b"\x01" * 32, signer_key=b"\x02" * 32))


def test_forced_backlog_is_what_no_window_applied_yet() -> None:
    b = _batcher()
    f = {rid: [ForcedTx(rid, i, b"x", 100 + i) for i in range(3)] for rid in (901, 902)}
    b._forced = f
    # Before any sync every entry seen is pending.
    assert {rid: len(q) for rid, q in b.forced_backlog().items()} == {901: 3, 902: 3}
    b._state = _Synced(4, 10, b"", {901: Cursor(0, forced_applied=2), 902: Cursor(0, forced_applied=3)})
    backlog = b.forced_backlog()
    assert backlog[901] == (f[901][2],) and backlog[902] == ()
    view = batcher_view(b, force_inclusion_delay=10)
    assert view["forced"]["901"] == {"depth": 1, "oldest_l1_block": 102, "deadline_l1_block": 112}
    assert view["forced"]["902"] == {"depth": 0, "oldest_l1_block": None, "deadline_l1_block": None}


def test_postings_are_firm_only_once_the_batcher_firm_height_covers_them() -> None:
    b = _batcher()
    b.posted = [PostResult(i, 10 * i, 10 * i + 9, f"0x{i:064x}", 50 + i, 1, 1, 1, rollup_ids=(901,)) for i in range(15)]
    b.firm_height = 129  # windows 0..12 are under enough confirmations, 13 and 14 only mined
    postings = batcher_view(b, force_inclusion_delay=10)["batcher"]["postings"]
    assert [p["window"] for p in postings] == list(range(14, 4, -1))  # newest first, ten of them
    assert [p["status"] for p in postings[:3]] == ["mined", "mined", "firm"]
