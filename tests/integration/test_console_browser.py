"""The console in a real browser (issue 15): Debian's chromium, headless, driven by playwright-core
(both put in by `make install`), against a real `sharedseq serve` taking traffic over gRPC. The
figures must move without a reload, the submitted bundle must appear, and a screenshot is kept in
var/console.png for a human to look at."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from console_testkit import ROOT, check_browser, read_line, start_browser, stop
from seq_helpers import Wallet, free_port, write_config_toml

from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, "sharedseq serve exited"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} not up in {seconds} s"
            time.sleep(0.2)


def test_console_in_chromium(tmp_path: Path) -> None:
    check_browser()
    port, console_port = free_port(), free_port()
    cfg = write_config_toml(tmp_path, port)
    cfg.write_text(cfg.read_text() + f'\n[console]\nlisten = "127.0.0.1:{console_port}"\ninterval_ms = 250\n')
    shot = ROOT / "var" / "console.png"
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    seq = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config", str(cfg),
                            "--log-level", "WARNING"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    browser = None
    try:
        url = f"http://127.0.0.1:{console_port}/"
        _wait_http(url + "api/snapshot", seq)
        browser = start_browser(url, shot, tmp_path / "profile")
        loaded = read_line(browser)
        assert loaded["stage"] == "loaded", loaded
        assert loaded["p50"] == "no traffic yet" and loaded["admitted901"] == "0", loaded

        wallet = Wallet()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            for _ in range(20):
                stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=901, payload=wallet.transfer(901))), timeout=30)
            resp = stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(legs=[
                pb.Transaction(rollup_id=902, payload=wallet.transfer(902)),
                pb.Transaction(rollup_id=903, payload=wallet.transfer(903, kind=0))])), timeout=30)
        assert browser.stdin is not None
        browser.stdin.write(f"bundle 0x{resp.bundle_hash.hex()} included\n")  # no margin view: inclusion only
        browser.stdin.close()
        done = read_line(browser)
        assert done["stage"] == "done", done
        assert done["errors"] == [], done["errors"]
        assert done["marker"] == "first-load" and done["loads"] == 1, "the page reloaded instead of updating live"
        assert done["conn"] == "live"
        assert done["version"] > loaded["version"]
        assert int(done["height"]) > int(loaded["height"])
        assert done["admitted901"] == "20"
        assert done["p50"].startswith("p50 \u2264 ") and done["histogramBars"] > 0
        assert done["tps"].endswith("tx/s")
        assert done["bundleOutcome"] == "included" and not done["marginVisible"]
        assert shot.stat().st_size > 10_000
        assert browser.wait(timeout=60) == 0
    finally:
        for proc in (browser, seq):
            stop(proc)
