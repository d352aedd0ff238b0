"""`make run RUN_ARGS="--replicas 3"` (issue 12): the devnet on a replicated sequencer and a 3-node
JetStream cluster. endpoints.json lists every replica (address, pid) and `leader_pid`; the leader is
SIGKILLed and everything goes on: a new leader seals, the soft rollup nodes (given every address)
follow it, and the batcher (every address too) keeps posting, which the firm nodes, reading L1
alone, show. The web console (its URL in endpoints.json) shows the leader the replicas' own metrics
name, before and after the kill, with the lease and each replica's lag. Ctrl-C stops every replica
and JetStream node."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from devnet_run import make_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def _heads(endpoints: dict[str, Any], kind: str) -> dict[str, int]:
    out = {}
    for rid, url in endpoints[kind].items():
        head = _get(url + "/status")["head"]
        out[rid] = head["number"] if head else -1
    return out


def _leading(metrics_url: str) -> bool:
    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        return "sharedseq_leading 1.0" in r.read().decode().splitlines()


def _console(endpoints: dict[str, Any]) -> dict[str, Any]:
    return dict(_get(endpoints["console"] + "api/snapshot")["replication"])


def _shows(v: dict[str, Any], lead: dict[str, Any], down: set[str]) -> bool:
    """The console's picture `v` names `lead` (which its own metrics say leads, read now) with its
    pid and lease, the replicas in `down` as not answering, and every other one following `lead`."""
    rows = {x["address"]: x for x in v["replicas"]}
    return (v["leader"] == lead["address"] and v["leader_pid"] == lead["pid"] and v["lease"] is not None
            and {a for a, x in rows.items() if not x["up"]} == down
            and all(x["follows"] == lead["address"] for a, x in rows.items() if x["up"] and a != lead["address"])
            and _leading(lead["metrics"]))


def _console_until(endpoints: dict[str, Any], leads: list[dict[str, Any]], down: set[str],
                   timeout: float = 60.0) -> dict[str, Any]:
    """Polls the console until it shows one of `leads` as the leader (see _shows); its picture then."""
    deadline = time.monotonic() + timeout
    while True:
        v = _console(endpoints)
        if any(_shows(v, lead, down) for lead in leads):
            return v
        assert time.monotonic() < deadline, f"the console never showed one of {leads} leading, {down} down: {v}"
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by the devnet) counts as gone.
    return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower() if Path(f"/proc/{pid}").exists() else False


def _until(what: str, ok: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_devnet_with_three_replicas_survives_the_leader(tmp_path: Path) -> None:
    with make_run(tmp_path, "--replicas", "3") as (run, endpoints):
        replicas = endpoints["replicas"]
        pids = [r["pid"] for r in replicas]
        assert len(replicas) == 3 and len(set(pids)) == 3 and all(_alive(p) for p in pids)
        assert len(endpoints["jetstream"]) == 3
        leader = next(r for r in replicas if r["pid"] == endpoints["leader_pid"])
        assert endpoints["sequencer"] == leader["address"]
        assert _leading(leader["metrics"])  # leader_pid is the replica that leads
        assert not any(_leading(r["metrics"]) for r in replicas if r is not leader)

        # The console: the page with its replicas panel, and the data it renders naming the real
        # leader (the one whose own metrics say it leads), its lease, and every replica with its lag.
        with urllib.request.urlopen(endpoints["console"], timeout=5) as r:
            page = r.read().decode()
        assert 'id="replication-panel"' in page and 'id="replicas"' in page
        with urllib.request.urlopen(endpoints["console"] + "static/console.js", timeout=5) as r:
            assert "renderReplication" in r.read().decode()
        view = _console_until(endpoints, [leader], set())
        assert view["lease"]["revision"] >= 1 and view["lease"]["remaining_s"] is not None
        rows = {x["address"]: x for x in view["replicas"]}
        assert {a: x["pid"] for a, x in rows.items()} == {r["address"]: r["pid"] for r in replicas}
        assert all(x["up"] and isinstance(x["lag_entries"], int) for x in rows.values()), rows

        soft_before, firm_before = _heads(endpoints, "nodes"), _heads(endpoints, "firm_nodes")
        os.kill(leader["pid"], signal.SIGKILL)
        others = [r for r in replicas if r is not leader]
        _until("no other replica leads after the leader was killed",
               lambda: any(_leading(r["metrics"]) for r in others))
        # Whichever replica leads by its own metrics when asked (under load a lease may move again).
        _console_until(endpoints, others, {leader["address"]})
        # Rollup blocks are 1 s: a few more on every soft node means it follows the new leader's blocks.
        _until("the soft nodes stopped after the failover",
               lambda: all(h >= soft_before[rid] + 5 for rid, h in _heads(endpoints, "nodes").items()))
        # Firm nodes read L1 only: their heads move only if the batcher posts windows after the failover.
        soft_after = _heads(endpoints, "nodes")
        _until("the batcher posted nothing after the failover",
               lambda: all(h > max(firm_before[rid], soft_before[rid])
                           for rid, h in _heads(endpoints, "firm_nodes").items()))
        assert all(soft_after[rid] >= soft_before[rid] for rid in soft_before)

        # The live view: one part per replica, the killed one not answering, a new leader with its lease.
        _until("the live view shows no replica lines", lambda: f"replica {leader['address']}" in run.live()
               and "not answering" in run.live() and ", lease " in run.live(), 60)
    assert "devnet stopped" in run.output()
    assert not any(_alive(p) for p in pids), "a replica is still running after Ctrl-C"
    for url in endpoints["jetstream"]:
        host, port = url.removeprefix("nats://").split(":")
        with socket.socket() as s:
            assert s.connect_ex((host, int(port))) != 0, f"JetStream node {url} still running after Ctrl-C"
