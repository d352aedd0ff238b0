"""`make run` as a newcomer types it, for the end-to-end devnet tests (test_devnet.py; meant for
test_devnet_replicas.py too): the devnet in its own process group with free ports and its output in a
file, up once it wrote endpoints.json, and Ctrl-C (SIGINT to the group) on the way out.

    with make_run(tmp_path, "--replicas", "3") as (run, endpoints):
        ...                                     # run.output(), run.live(), run.proc
    assert "devnet stopped" in run.output()     # it has stopped here
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

READY_S = 300.0
"""How long the devnet may take to write endpoints.json: four anvils, the contracts, the sequencer and
six rollup nodes start one after the other (about 30 s on a quiet machine, minutes under the suite's
load); the bound only turns a devnet that never comes up into a failure with its output."""
STOP_S = 60.0
"""How long Ctrl-C may take to stop everything before the group is killed and the test fails."""


@dataclass(frozen=True, slots=True)
class DevnetRun:
    """A running `make run`: its process (the group leader) and where its output and endpoints go."""

    proc: subprocess.Popen[bytes]
    out_path: Path
    endpoints_file: Path

    def output(self) -> str:
        """Everything the devnet printed so far."""
        return self.out_path.read_text()

    def live(self) -> str:
        """What it printed after `devnet ready`: the live view."""
        return self.output().split("devnet ready")[-1]


@contextmanager
def make_run(tmp_path: Path, *run_args: str, ready_s: float = READY_S,
             stop_s: float = STOP_S) -> Iterator[tuple[DevnetRun, dict[str, Any]]]:
    """`make run RUN_ARGS="--free-ports --workdir <tmp_path>/devnet <run_args>"`; yields the run and its
    endpoints.json once written. On exit (a failure included) the group gets SIGINT and `stop_s` to end;
    past that it is killed and TimeoutExpired raised."""
    workdir = tmp_path / "devnet"
    out_path = tmp_path / "devnet.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "run",
                                 " ".join(("RUN_ARGS=--free-ports", "--workdir", str(workdir), *run_args))],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    run = DevnetRun(proc, out_path, workdir / "endpoints.json")
    try:
        deadline = time.monotonic() + ready_s
        while not run.endpoints_file.exists():
            assert proc.poll() is None, run.output()[-3000:]
            assert time.monotonic() < deadline, f"devnet not ready in {ready_s:g} s"
            time.sleep(0.2)
        yield run, json.loads(run.endpoints_file.read_text())
    finally:
        _interrupt(proc, stop_s)


def _interrupt(proc: subprocess.Popen[bytes], stop_s: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:  # the whole group already ended (a devnet that failed to start): keep its error
        return
    try:
        proc.wait(timeout=stop_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
