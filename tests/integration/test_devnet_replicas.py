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
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


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


def _console_shows(endpoints: dict[str, Any], lead: dict[str, Any], down: set[str]) -> bool:
    """The console names `lead` (which its own metrics say leads, read now) with its pid, the
    replicas in `down` as not answering, and every other replica following `lead`."""
    v = _console(endpoints)
    rows = {x["address"]: x for x in v["replicas"]}
    return (v["leader"] == lead["address"] and v["leader_pid"] == lead["pid"] and _leading(lead["metrics"])
            and {a for a, x in rows.items() if not x["up"]} == down
            and all(x["follows"] == lead["address"] for a, x in rows.items() if x["up"] and a != lead["address"]))


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
    workdir = tmp_path / "devnet"
    out_path = tmp_path / "devnet.out"
    out = out_path.open("wb")
    proc = subprocess.Popen(["make", "--no-print-directory", "run",
                             f"RUN_ARGS=--free-ports --workdir {workdir} --replicas 3"],
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    endpoints_file = workdir / "endpoints.json"
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while not endpoints_file.exists():
            assert proc.poll() is None, out_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "devnet not ready in 240 s"
            time.sleep(0.5)
        endpoints = json.loads(endpoints_file.read_text())
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
        _until("the console never named the leader", lambda: _console_shows(endpoints, leader, set()), 60)
        view = _console(endpoints)
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
        _until("the console did not show the new leader and the killed one down",
               lambda: any(_console_shows(endpoints, r, {leader["address"]}) for r in others), 60)
        # Rollup blocks are 1 s: a few more on every soft node means it follows the new leader's blocks.
        _until("the soft nodes stopped after the failover",
               lambda: all(h >= soft_before[rid] + 5 for rid, h in _heads(endpoints, "nodes").items()))
        # Firm nodes read L1 only: their heads move only if the batcher posts windows after the failover.
        soft_after = _heads(endpoints, "nodes")
        _until("the batcher posted nothing after the failover",
               lambda: all(h > max(firm_before[rid], soft_before[rid])
                           for rid, h in _heads(endpoints, "firm_nodes").items()))
        assert all(soft_after[rid] >= soft_before[rid] for rid in soft_before)

        def live() -> str:
            return out_path.read_text().split("devnet ready")[-1]
        # The live view: one part per replica, the killed one not answering, a new leader with its lease.
        _until("the live view shows no replica lines", lambda: f"replica {leader['address']}" in live()
               and "not answering" in live() and ", lease " in live(), 30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:  # the devnet already exited: let the failure above say why
            pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert "devnet stopped" in out_path.read_text()
    assert not any(_alive(p) for p in pids), "a replica is still running after Ctrl-C"
    for url in endpoints["jetstream"]:
        host, port = url.removeprefix("nats://").split(":")
        with socket.socket() as s:
            assert s.connect_ex((host, int(port))) != 0, f"JetStream node {url} still running after Ctrl-C"
