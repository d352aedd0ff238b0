"""Monitoring (issue 15, item 4): docs/metrics.md documents every exported metric as exported, and
every query of the Grafana dashboard and the Prometheus alert rules names only exported metrics."""

from __future__ import annotations

import json
import re

import pytest
from repo_root import ROOT

from sequencer.l1.batcher_metrics import BatcherMetrics
from sequencer.service.metrics import Metrics

DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
ALERTS = ROOT / "deploy" / "monitoring" / "alerts.yml"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
PROMQL_WORDS = {"sum", "by", "on", "and", "or", "unless", "rate", "increase", "changes", "histogram_quantile",
                "scalar", "max", "min", "avg", "le", "instance", "rollup", "reason", "limit", "without", "ignoring",
                "time", "job", "group_left", "absent", "count"}


def exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each metric family of the service and of the batcher: name -> (type, label names)."""
    out = {}
    for value in [*vars(Metrics()).values(), *vars(BatcherMetrics()).values()]:
        if hasattr(value, "_type") and hasattr(value, "_name"):
            out[value._name] = (value._type, tuple(value._labelnames))
    return out


def series_names() -> set[str]:
    return {name + sfx for name, (kind, _) in exported().items() for sfx in SUFFIXES[kind]}


def metrics_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside label matchers and strings,
    not PromQL functions, keywords, or label names in by/on clauses."""
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", " ", expr)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return {n for n in names if n not in PROMQL_WORDS}


def unknown_metrics(expr: str) -> set[str]:
    return metrics_in(expr) - series_names()


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def alert_queries() -> list[str]:
    """The rules' exprs. The file is kept to one-line `expr:`s so this needs no YAML library; the
    count check below fails if a rule's expr were written another way and skipped here."""
    text = ALERTS.read_text()
    exprs = [m.group(1).strip() for m in re.finditer(r"^\s+expr:\s*(.+)$", text, re.M)]
    assert len(exprs) == len(re.findall(r"^\s+- alert:", text, re.M)) > 0
    return exprs


@pytest.mark.parametrize("expr", dashboard_queries() + alert_queries())
def test_every_query_names_an_exported_metric(expr: str) -> None:
    assert metrics_in(expr) & series_names(), f"{expr!r} reads no sharedseq metric"
    assert not unknown_metrics(expr), f"{expr!r} names metrics the service does not export: {unknown_metrics(expr)}"


def test_the_check_catches_a_wrong_name() -> None:
    assert unknown_metrics("rate(sharedseq_admitted[1m])") == {"sharedseq_admitted"}  # counter without _total
    assert unknown_metrics('sum by (le) (rate(sharedseq_seal_bucket{job="x"}[5m]))') == {"sharedseq_seal_bucket"}
    assert unknown_metrics("sharedseq_block_height - sharedseq_firm_height") == set()


def test_the_alerts_cover_the_failures_operators_asked_for() -> None:
    names = set(re.findall(r"- alert:\s*(\w+)", ALERTS.read_text()))
    assert {"SharedseqStalled", "SharedseqSlotOverrun", "SharedseqFirmLagHigh", "SharedseqReplicaLagging",
            "SharedseqLeaderChanges", "SharedseqStorageFault", "SharedseqBatcherLowBalance", "SharedseqBatcherStuck",
            "SharedseqForcedDeadlineNear"} <= names


def test_docs_list_every_metric_with_its_type_and_labels() -> None:
    rows = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        m = re.match(r"\| `(sharedseq_\w+)` \| (\w+) \| ([^|]+) \| (.+) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), tuple(re.findall(r"`(\w+)`", m.group(3))), m.group(4))
    want = {}
    for name, (kind, labels) in exported().items():
        shown = name + "_total" if kind == "counter" else name
        want[shown] = (kind, ("le",) if kind == "histogram" else labels)
    assert set(rows) == set(want), f"documented but not exported: {set(rows) - set(want)}; " \
                                   f"exported but not documented: {set(want) - set(rows)}"
    for name, (kind, labels) in want.items():
        assert rows[name][:2] == (kind, labels), name
        assert len(rows[name][2]) > 20, f"{name}: say what it means"
