"""Sequencer drift (docs/settlement.md section 3): with an L1, the node never seals a block on an L1
origin whose timestamp is more than max_origin_drift_ms behind the slot, so no block sealed during an
L1 outage can be one the inbox's catch-up rule refuses for ever (ForcedEntryDue); sealing resumes,
with every placement kept, once the origin is fresh."""

from __future__ import annotations

import anyio
import pytest

from sequencer.core.config import CoreConfig, RollupInfo
from sequencer.core.policy import OpaquePolicy
from sequencer.core.sequencer import SequencerCore
from sequencer.core.signing import Domain, Signer
from sequencer.core.types import Transaction
from sequencer.service.node import SequencerNode, origin_too_old
from sequencer.store.sqlite_log import BlockLog

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Backend-neutral code (issue 10 item 5): run on both anyio backends."""
    return str(request.param)


@pytest.mark.parametrize(("now", "origin_time", "drift", "stalled"), [
    (100_000, None, 5_000, False),      # no L1 origin time yet
    (100_000, 90_000, None, False),     # no limit known (no inbox)
    (100_000, 95_000, 5_000, False),    # exactly at the limit
    (100_000, 94_999, 5_000, True),     # one ms past it
    (100_000, 120_000, 5_000, False),   # an origin ahead of the local clock is not stale
])
def test_origin_too_old(now: int, origin_time: int | None, drift: int | None, stalled: bool) -> None:
    assert origin_too_old(now, origin_time, drift) is stalled


async def test_the_node_stops_sealing_on_a_stale_origin_and_resumes_with_placements_kept() -> None:
    clock = [1_000_000]
    core = SequencerCore(CoreConfig((RollupInfo(901, "r", OpaquePolicy()),), slot_ms=20),
                         Signer(b"\x11" * 32, Domain(1, b"\x22" * 20)))
    node = SequencerNode(core, BlockLog(":memory:"), clock_ms=lambda: clock[0])
    node.l1_origin = (7, b"\x07" * 32)
    node.l1_origin_time_ms = clock[0] - 10_000
    node.max_origin_drift_ms = 5_000
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            ticket = node.admit_transaction(Transaction(901, b"a promise"))
            receipt = (await ticket.wait())[0]
            height = node.durable_height
            for _ in range(10):  # ten slots of a stale origin: nothing sealed
                clock[0] += 20
                await anyio.sleep(0.03)
            assert node.durable_height == height
            node.l1_origin_time_ms = clock[0] - 1_000  # the L1 RPC is back
            with anyio.fail_after(10):
                while node.durable_height < receipt.height:
                    clock[0] += 20
                    await anyio.sleep(0.03)
            block = await node.get_block(receipt.height)
            assert block is not None
            assert block.namespace(901).transactions[receipt.index] == b"a promise"
            tg.cancel_scope.cancel()
    finally:
        node.close()
