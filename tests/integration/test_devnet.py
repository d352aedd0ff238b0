"""A newcomer's path: `make run` brings the devnet up, the demo traffic succeeds, Ctrl-C stops all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from devnet_run import REPO, make_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _alive(url: str) -> bool:
    try:
        req = urllib.request.Request(url, data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        return True
    except OSError:
        return False


def test_make_run_then_demo_then_ctrl_c(tmp_path: Path) -> None:
    with make_run(tmp_path) as (run, endpoints):
        text = run.output()
        for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]", "devnet ready"):
            assert step in text, f"progress line {step} missing"
        demo = subprocess.run([sys.executable, "-m", "sequencer.cli", "demo", "--endpoints", str(run.endpoints_file)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "demo succeeded" in demo.stdout and "FAIL" not in demo.stdout
        # The console (issue 15) sees what the demo did: its bundles, every rollup's soft block, the
        # batcher's postings with their L1 status.
        deadline = time.monotonic() + 120
        while True:
            with urllib.request.urlopen(endpoints["console"] + "api/snapshot", timeout=10) as r:
                picture = json.load(r)
            postings = (picture["batcher"] or {}).get("postings", [])
            if picture["bundles"] and postings and all(v.get("soft_block") for v in picture["rollups"].values()):
                break
            assert time.monotonic() < deadline, f"the console did not show the demo: {picture}"
            time.sleep(0.5)
        assert picture["bundles_total"] >= 1 and picture["latency"]["p50_s"] is not None
        assert {p["status"] for p in postings} <= {"mined", "firm"} and postings[0]["tx_hash"].startswith("0x")
        assert set(picture["forced"]) <= {"901", "902", "903"}
        # The live view shows heights, firm lag and latency.
        deadline = time.monotonic() + 60
        while "firm" not in run.live():
            assert time.monotonic() < deadline, "no live view line"
            time.sleep(0.2)
    assert "devnet stopped" in run.output()
    urls = [endpoints["l1_rpc"], *endpoints["engines"].values()]
    assert not any(_alive(u) for u in urls), "a chain is still running after Ctrl-C"


def test_workdir_is_wiped_only_when_a_devnet_made_it(tmp_path: Path) -> None:
    from deploy.devnet import MARKER, DevnetError, prepare_workdir

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    with pytest.raises(DevnetError, match="refusing to wipe"):
        prepare_workdir(foreign)
    assert (foreign / "keep.txt").read_text() == "keep"
    ours = tmp_path / "devnet"
    prepare_workdir(ours)
    (ours / "old.log").write_text("x")
    prepare_workdir(ours)
    assert sorted(p.name for p in ours.iterdir()) == [MARKER]


def test_busy_ports_fail_before_anything_starts(tmp_path: Path) -> None:
    import socket

    from deploy.devnet import DevnetConfig, DevnetError, check_ports

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        cfg = DevnetConfig(workdir=tmp_path, rollups=({"id": 901},), l1_port=busy, sequencer_port=0,
                           metrics_port=0, node_api_port=0)
        with pytest.raises(DevnetError, match=f"l1_port {busy}"):
            check_ports(cfg)
        cfg_free = DevnetConfig(workdir=tmp_path, rollups=({"id": 901},), l1_port=0, sequencer_port=0,
                                metrics_port=0, node_api_port=0)
        check_ports(cfg_free)
