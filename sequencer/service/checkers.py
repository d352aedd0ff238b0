"""Admission policy checks in worker processes (issue 13: "admission is stateless and can run in
several processes, while one owner orders and persists").

A rollup's policy check (for EVM rollups: the strict decode of a signed transaction and the
recovery of its sender, sequencer/core/policy.py) is most of what admitting a transaction costs,
and it needs no state. In the server's own process it shares one GIL with the event loop and the
group-commit writer: every check was loop time taken from reading, answering and committing.
Here it runs in `workers` processes of its own (check_worker.py), fed in batches: whatever was
asked for while every worker was busy goes to the next free one as one frame, so under load a
frame carries many requests' transactions and the hand-off costs the loop a few microseconds per
transaction; idle, a frame is one request and the round trip a fraction of a millisecond.

Nothing about the outcome changes: the worker runs the same policy object, and a refusal comes back
as the same error kind with the same message. Placement stays on the loop, in the order requests
were read. The workers start on demand (`spawn_after` checks within a second), so a server that
admits little never starts them; until they are ready, and whenever none is (one died), `ready` is
False and the node checks inline as before. A worker that dies has its batch checked again inline,
is logged, and is replaced after `RESPAWN_S`.

Backend-neutral: anyio events and the loop's token; each worker's pipe is driven by a thread of its
own (blocking reads and writes release the GIL).
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from sequencer import errors
from sequencer.core.policy import AdmissionPolicy
from sequencer.core.types import RollupId
from sequencer.errors import SharedSeqError

from .check_worker import read_frame, write_frame

log = logging.getLogger("sharedseq.checkers")

MAX_FRAME_ITEMS = 4096
"""Transactions in one frame to a worker at most (a frame takes whole requests, so one request's
list, up to max_list_items, is never split)."""
RESPAWN_S = 5.0
"""A worker that died is replaced no sooner than this (a payload that crashes workers must not make
the server spend its time starting processes)."""
SPAWN_WINDOW_S = 1.0

Item = tuple[RollupId, bytes]


def _window_rate(now: float, start: float, count: int) -> float:
    """The rate of a demand window that is over; one that ended long ago (over twice its length
    before `now`) counts as nothing: nothing was asked for since."""
    return count / (now - start) if now - start < 2 * SPAWN_WINDOW_S else 0.0


def _error_of(result: tuple[str, str] | None) -> SharedSeqError | None:
    """The error a worker's result names (None: accepted). Only sequencer.errors' kinds are named."""
    if result is None:
        return None
    kind = getattr(errors, result[0], None)
    if not (isinstance(kind, type) and issubclass(kind, SharedSeqError)):
        raise ValueError(f"not an error kind: {result[0]!r}")
    return kind(result[1])


@dataclass(slots=True)
class _Job:
    items: Sequence[Item]
    done: anyio.Event = field(default_factory=anyio.Event)
    results: list[SharedSeqError | None] = field(default_factory=list)

    async def wait(self) -> list[SharedSeqError | None]:
        await self.done.wait()
        return self.results


class _Worker:
    """One worker process and the thread that owns its pipes."""

    def __init__(self, pool: PolicyCheckers, number: int) -> None:
        self.pool, self.number = pool, number
        self.jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name=f"sharedseq-check-{number}", daemon=True)

    def _start_process(self) -> subprocess.Popen[bytes]:
        # The worker imports this project's package from wherever the server found it.
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        return subprocess.Popen([sys.executable, "-m", "sequencer.service.check_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env)

    def _run(self) -> None:
        jobs: list[_Job] = []
        try:
            self.proc = proc = self._start_process()
            assert proc.stdin is not None and proc.stdout is not None
            write_frame(proc.stdin, dict(self.pool.policies))
            if read_frame(proc.stdout) != "ready":
                raise EOFError("the worker did not start")
            self.pool._soon(self.pool._ready, self)
            while (next_jobs := self.jobs.get()) is not None:
                jobs = next_jobs
                write_frame(proc.stdin, [it for j in jobs for it in j.items])
                results = read_frame(proc.stdout)
                self.pool._soon(self.pool._finished, self, jobs, results)
                jobs = []
        except Exception as exc:  # noqa: BLE001 - any end of the pipe is a dead worker, handled on the loop
            self.pool._soon(self.pool._died, self, jobs, exc)
        finally:
            self.stop()

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        for f in (proc.stdin, proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PolicyCheckers:
    """See the module docstring. Create and use on the event loop; `close` ends the workers."""

    def __init__(self, policies: Mapping[RollupId, AdmissionPolicy], workers: int, *, spawn_after: int = 200,
                 clock: Any = time.monotonic) -> None:
        self.policies = dict(policies)
        self.workers = workers
        self.spawn_after = spawn_after
        self.clock = clock
        self._token: Any = None
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._pending: deque[_Job] = deque()
        self._started = 0
        self._last_spawn = -RESPAWN_S
        self._window = (0.0, 0)  # (start, checks asked for since)
        self._last_rate = 0.0
        self._starting = 0
        self._closed = False
        self.deaths = 0
        """Workers that died (metrics and tests read it)."""
        self.batches = 0
        """Frames sent to workers."""

    @property
    def ready(self) -> bool:
        """Whether a worker is up to take checks (else the caller checks inline)."""
        return bool(self._live)

    def demand(self, n: int) -> None:
        """`n` checks are wanted now (inline or not): counted for `rate`, and the workers started
        once there is enough demand."""
        if self.workers <= 0 or self._closed:
            return
        now = self.clock()
        start, count = self._window
        if now - start > SPAWN_WINDOW_S:
            self._last_rate = _window_rate(now, start, count)
            start, count = now, 0
        count += n
        self._window = (start, count)
        if (len(self._live) < self.workers and count >= self.spawn_after
                and now - self._last_spawn >= RESPAWN_S):
            self._spawn(now)

    def rate(self) -> float:
        """Checks asked for per second, over the last whole window of about a second (0 before one):
        what the node's choice of where a short request is checked goes by. It does not depend on
        where the checks ran, so that choice does not feed back on itself."""
        now = self.clock()
        start, count = self._window
        return _window_rate(now, start, count) if now - start > SPAWN_WINDOW_S else self._last_rate

    def _spawn(self, now: float) -> None:
        if self._token is None:
            self._token = anyio.lowlevel.current_token()
        self._last_spawn = now
        missing = self.workers - len(self._live) - self._starting
        for _ in range(missing):
            self._started += 1
            self._starting += 1
            w = _Worker(self, self._started)
            w.thread.start()

    def _soon(self, fn: Any, *args: Any) -> None:
        """From a worker's thread: run `fn(*args)` on the loop (never waiting for it)."""
        try:
            self._token.backend_class.run_sync_soon(fn, args, self._token.native_token)
        except (anyio.RunFinishedError, RuntimeError):
            pass  # the loop is gone: nobody waits

    def _ready(self, w: _Worker) -> None:
        self._starting -= 1
        if self._closed:
            w.jobs.put(None)
            return
        self._live.add(w)
        self._idle.append(w)
        self._dispatch()

    def _finished(self, w: _Worker, jobs: list[_Job], results: list[tuple[str, str] | None]) -> None:
        i = 0
        for j in jobs:
            out = results[i:i + len(j.items)]
            i += len(j.items)
            j.results = [self._outcome(item, r) for item, r in zip(j.items, out, strict=True)]
            j.done.set()
        if w in self._live:
            self._idle.append(w)
            self._dispatch()

    def _outcome(self, item: Item, result: tuple[str, str] | None) -> SharedSeqError | None:
        try:
            return _error_of(result)
        except ValueError:  # the worker failed on it unexpectedly: the check runs here and shows what failed
            return self.check_inline(item)

    def _died(self, w: _Worker, jobs: list[_Job], exc: BaseException) -> None:
        if w in self._live:
            self._live.discard(w)
        else:
            self._starting -= 1  # it never became ready
        if w in self._idle:
            self._idle.remove(w)
        if not self._closed:
            self.deaths += 1
            log.warning("policy check worker %d ended (%s: %s); its checks run in the server until it is "
                        "replaced", w.number, type(exc).__name__, exc)
        for j in jobs:
            j.results = [self.check_inline(it) for it in j.items]
            j.done.set()
        if not self._live:  # nobody left to take what waits
            while self._pending:
                j = self._pending.popleft()
                j.results = [self.check_inline(it) for it in j.items]
                j.done.set()

    def check_inline(self, item: Item) -> SharedSeqError | None:
        try:
            self.policies[item[0]].check(item[1])
        except SharedSeqError as exc:
            return exc
        return None

    def _dispatch(self) -> None:
        while self._idle and self._pending:
            w = self._idle.pop()
            jobs = [self._pending.popleft()]
            n = len(jobs[0].items)
            while self._pending and n + len(self._pending[0].items) <= MAX_FRAME_ITEMS:
                n += len(self._pending[0].items)
                jobs.append(self._pending.popleft())
            self.batches += 1
            w.jobs.put(jobs)

    def submit(self, items: Sequence[Item]) -> _Job:
        """Start checking `items` (inline, now, when no worker is `ready`); `await job.wait()` gives each
        item's policy outcome (None: accepted), in order."""
        job = _Job(items)
        if not items or not self._live:
            job.results = [self.check_inline(it) for it in items]
            job.done.set()
            return job
        self._pending.append(job)
        self._dispatch()
        return job

    async def check(self, items: Sequence[Item]) -> list[SharedSeqError | None]:
        """submit, then wait for the outcomes."""
        return await self.submit(items).wait()

    def close(self) -> None:
        """End the workers (their threads close the pipes; a worker exits at the end of its input)."""
        self._closed = True
        for w in list(self._live):
            w.jobs.put(None)
        self._live.clear()
        self._idle.clear()
