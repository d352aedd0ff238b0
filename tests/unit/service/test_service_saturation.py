"""The node's saturation signals, what security.FloodPacer paces a dominant client on (issue 13,
step 3): the event loop's lag (`loop_lag_s`) and the writer's utilisation (`writer_busy`). Each is
checked from below only (a loaded machine can only make them larger): a loop blocked for 30 ms at
a time lags, a writer whose commits take 40 ms each is busy; idle, the writer is not."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from core_testkit import make_config, make_signer

from sequencer.core.sequencer import AdmittedTx, SequencerCore
from sequencer.core.types import SharedBlock, Transaction
from sequencer.service.node import SequencerNode
from sequencer.store.sqlite_log import BlockLog, ReceiptBatch

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class SlowLog(BlockLog):
    """An in-memory log whose commits take `delay_s` (on the writer's thread)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.delay_s = 0.0
        self.commits = 0
        self.lock = threading.Lock()

    def append(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
               meta: Any = None, receipts: ReceiptBatch | None = None) -> None:
        time.sleep(self.delay_s)
        super().append(records, blocks, meta, receipts)
        with self.lock:
            self.commits += 1


async def test_a_blocked_loop_lags_and_a_slow_writer_is_busy() -> None:
    log = SlowLog()
    node = SequencerNode(SequencerCore(make_config(slot_ms=60_000), make_signer()), log)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            assert node.writer_busy() == 0.0  # nothing committed yet
            # The loop held for 30 ms at a time (what a long synchronous step does to every task).
            with anyio.fail_after(30):
                while node.loop_lag_s <= 0.005:
                    time.sleep(0.03)
                    await anyio.sleep(0.006)
            # Commits of 40 ms back to back: the writer is busy most of the time.
            log.delay_s = 0.04
            tickets = []
            with anyio.fail_after(30):
                for i in range(12):
                    tickets.append(node.admit_transaction(Transaction(1, b"slow-%d" % i)))
                    await tickets[-1].wait()
            assert node.writer_busy() > 0.3, node.writer_busy()
            # Idle again: the utilisation decays (time constant 0.25 s), it is not stuck where it was.
            log.delay_s = 0.0
            with anyio.fail_after(30):
                while node.writer_busy() > 0.05:
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    finally:
        node.close()
