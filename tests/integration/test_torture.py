"""Crash torture (issue 9, finding 8; harness: torture.py): SIGKILL at seeded random moments under
mixed load, every promise checked from outside after each restart. A short run here; the long run
(SHAREDSEQ_TORTURE_TRIALS=100, or `python -m tests.integration.torture`) is in docs/torture.md."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import torture

TRIALS = int(os.environ.get("SHAREDSEQ_TORTURE_TRIALS", "3"))
SEED = int(os.environ.get("SHAREDSEQ_TORTURE_SEED", "20261201"))

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180 + 60 * TRIALS)]


def test_sigkill_at_random_moments_breaks_no_promise(tmp_path: Path) -> None:
    figures = torture.run(tmp_path, TRIALS, SEED, max_delay_s=1.0 if TRIALS <= 5 else 1.5)
    print(figures.as_dict())
    assert figures.kills == TRIALS
    assert figures.receipts > 0 and figures.bundles > 0 and figures.views > 0
    assert min(figures.per_trial_receipts) >= 0


def _stop_after_receipts(held: torture.Held, stop: threading.Event, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(held.receipts) < count and not held.failures and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()


def test_the_checker_catches_a_broken_promise(tmp_path: Path) -> None:
    """The checks can fail: a receipt moved to another index, or a forged signature, is caught."""
    held = torture.Held()
    port = torture.free_port()
    config = torture.write_config(tmp_path, port)
    proc = torture.start_server(config, tmp_path / "server.log")
    address = f"127.0.0.1:{port}"
    try:
        torture.wait_healthy(address, proc, 90.0)
        stop = threading.Event()
        # Load until the stream has given a few receipts (a count, not a time: on a loaded machine half a
        # second could pass before the first one); the bound only turns a dead stream into a failure.
        threading.Thread(target=_stop_after_receipts, args=(held, stop, 20, 60.0), daemon=True).start()
        torture.stream_load(address, "probe", held, stop)
        assert held.receipts and not held.failures
        checker = torture.Checker(torture.signing.Domain(31337, bytes.fromhex("ab" * 20)))
        checker.check(address, held)
        moved = torture.Held(receipts=[torture.pb.Receipt()])
        moved.receipts[0].CopyFrom(held.receipts[0])
        moved.receipts[0].index += 1000
        with pytest.raises(torture.TortureFailure, match="signature is not the sequencer's"):
            torture.Checker(checker.domain, checker.address).check(address, moved)
        with pytest.raises(torture.TortureFailure, match="the block does not hold it"):  # signature taken as checked
            torture.Checker(checker.domain, checker.address, verified_receipts=1).check(address, moved)
        forged = torture.Held(receipts=[torture.pb.Receipt()])
        forged.receipts[0].CopyFrom(held.receipts[-1])
        forged.receipts[0].tx_hash = bytes(32)
        with pytest.raises((torture.TortureFailure, ValueError)):  # ValueError: no key recovers at all
            torture.Checker(checker.domain, checker.address).check(address, forged)
        twice = torture.Held(receipts=[held.receipts[0], held.receipts[0]])
        with pytest.raises(torture.TortureFailure, match="same place"):
            torture.Checker(checker.domain, checker.address).check(address, twice)
    finally:
        proc.kill()
        proc.wait()
