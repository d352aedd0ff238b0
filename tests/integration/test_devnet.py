"""A newcomer's path: `make run` brings the devnet up, the demo traffic succeeds, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _alive(url: str) -> bool:
    try:
        req = urllib.request.Request(url, data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=1).read()
        return True
    except OSError:
        return False


def test_make_run_then_demo_then_ctrl_c(tmp_path: Path) -> None:
    workdir = tmp_path / "devnet"
    out = (tmp_path / "devnet.out").open("wb")
    proc = subprocess.Popen(["make", "--no-print-directory", "run", f"RUN_ARGS=--free-ports --workdir {workdir}"],
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    endpoints_file = workdir / "endpoints.json"
    try:
        deadline = time.monotonic() + 180
        while not endpoints_file.exists():
            assert proc.poll() is None, (tmp_path / "devnet.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "devnet not ready in 180 s"
            time.sleep(0.2)
        text = (tmp_path / "devnet.out").read_text()
        for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]", "devnet ready"):
            assert step in text, f"progress line {step} missing"
        endpoints = json.loads(endpoints_file.read_text())
        demo = subprocess.run([sys.executable, "-m", "sequencer.cli", "demo", "--endpoints", str(endpoints_file)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "demo succeeded" in demo.stdout and "FAIL" not in demo.stdout
        # The live view shows heights, firm lag and latency.
        deadline = time.monotonic() + 30
        while "firm" not in (tmp_path / "devnet.out").read_text().split("devnet ready")[-1]:
            assert time.monotonic() < deadline, "no live view line"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert "devnet stopped" in (tmp_path / "devnet.out").read_text()
    urls = [endpoints["l1_rpc"], *endpoints["engines"].values()]
    assert not any(_alive(u) for u in urls), "a chain is still running after Ctrl-C"
