"""A restart reads what it resumes from, not the log (issue 13, "restart from a log of 100,000 blocks
in <= 2 s"): `BlockLog.load_state` reads the head, the unsealed records and the dedupe window's
sealed transactions, however many blocks were sealed before the window.

No timing: the work is counted in SQLite virtual-machine steps (a progress handler called on each
one), which do not depend on the machine or its load. A statement that scans `blocks` or `txs`
(a lost index, an ORDER BY the index cannot give, a window read without its lower bound) costs
at least a step per row it passes, so the count would grow with the blocks before the window."""

from __future__ import annotations

from pathlib import Path

from core_testkit import make_core

from sequencer.core.types import Transaction
from sequencer.store.sqlite_log import BlockLog, LogState

SLOT_MS = 100
WINDOW_MS = 2_000
"""The dedupe window of these tests: the last 20 blocks."""
RECENT = 30
"""Blocks sealed last, inside and around the window, the same in every log here."""


def _log(path: Path, old: int) -> BlockLog:
    """`old` blocks, then RECENT more, a transaction in every third, and two records left unsealed."""
    core = make_core(slot_ms=SLOT_MS, dedupe_window_ms=WINDOW_MS)
    log = BlockLog(path)
    records, blocks = [], []
    for h in range(old + RECENT):
        if h % 3 == 0:
            records += core.submit(Transaction(1 + h % 2, b"tx-%d" % h)).records
        blocks.append(core.seal((h + 1) * SLOT_MS))
        if len(blocks) == 200:  # commits of many blocks, as a long run's group commits leave them
            log.append(records, blocks)
            records, blocks = [], []
    log.append(records, blocks)
    log.append(core.submit(Transaction(1, b"pending-a")).records + core.submit(Transaction(2, b"pending-b")).records,
               [])
    return log


def _steps(log: BlockLog) -> tuple[int, LogState]:
    """SQLite VM steps `load_state` takes on this thread's read connection (the one it uses)."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with log._reader() as conn:
        conn.set_progress_handler(count, 1)
    try:
        state = log.load_state(WINDOW_MS)
    finally:
        with log._reader() as conn:
            conn.set_progress_handler(None, 1)
    return steps, state


def test_load_state_reads_the_window_not_the_blocks_before_it(tmp_path: Path) -> None:
    small, big = 100, 1_500
    logs = {n: _log(tmp_path / f"log-{n}.sqlite3", n) for n in (small, big)}
    try:
        (few, state_few), (many, state_many) = (_steps(logs[n]) for n in (small, big))
    finally:
        for log in logs.values():
            log.close()
    # The same resume point relative to the head in both: head, 2 pending records, the window's txs.
    for state, n in ((state_few, small), (state_many, big)):
        assert state.head.height == n + RECENT - 1
        assert [r.payload for r in state.pending] == [b"pending-a", b"pending-b"]
        assert state.recent and all(ts >= state.head.timestamp_ms - WINDOW_MS for ts, _, _ in state.recent)
    assert len(state_few.recent) == len(state_many.recent)
    # 1,400 more sealed blocks (and 467 more sealed transactions) before the window: a scan of either
    # would add thousands of steps; the binary search for the window's first height adds a few probes.
    assert many - few < (big - small) // 4, (few, many)
