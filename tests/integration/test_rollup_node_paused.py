"""Issue 8: a rollup paused on L1 by the registry owner, with its transactions in flight.

The sequencer refuses new submissions for it once its origin follower sees the pause; the batcher
leaves it out while it is paused; its firm node makes no progress meanwhile and does not stop; once it
is unpaused, the window that lists it again carries every transaction signed during the pause, and
the firm node (L1 only) reaches the soft node's state root (docs/settlement.md section 5); so does a
firm node started afterwards, and a restarted batcher re-derives every window from L1."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
import grpc
import pytest
from rollup_testkit import block_covering, devnet, engine_w3, rollup_tx, wait_until
from web3.exceptions import Web3RPCError

from deploy.deployer import Sender, contract_at
from rollup_node.node import NodeConfig, RollupNode
from sequencer.devtools.anvil import dev_accounts
from sequencer.l1.batcher import Batcher

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(420)]

RID = 901
SINK = "0x" + "22" * 20
KEPT_LIMIT = 25
"""Shared blocks a limited firm node keeps for a left-out rollup: about a window and a quarter."""


async def start_firm_node(net: Any, **config: Any) -> RollupNode:
    """A firm node with its own config; a stop is recorded in node.error, not raised into the devnet."""
    node = RollupNode(NodeConfig(rollup_id=RID, mode="firm", l1_rpc=net.l1.url, inbox=net.inbox, api_port=None,
                                 poll_ms=50, **config))

    async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await node.run(task_status=task_status)
        except Exception:  # node.error holds why it stopped; the test reads it
            pass

    await net.tg.start(run)
    return node


async def set_paused(owner: Sender, registry: Any, paused: bool) -> None:
    """The registry owner's setPaused. The owner is also the devnet's poster, whose postings may take
    the nonce it picked: send again then."""
    for _ in range(5):
        try:
            await anyio.to_thread.run_sync(owner.transact, registry.functions.setPaused(RID, paused),
                                           f"setPaused({paused})")
            return
        except Web3RPCError as exc:
            if "nonce" not in str(exc) and "replacement" not in str(exc):
                raise
    raise AssertionError("setPaused: the poster kept taking the owner's nonce")


async def test_a_paused_rollup_stops_firm_progress_only_while_paused(tmp_path) -> None:
    alice = dev_accounts()[2]
    async with devnet(tmp_path) as net:
        soft = await net.start_node(RID, "soft")
        firm = await net.start_node(RID, "firm")
        await net.start_poster()
        core = net.server.node.core
        first = (await net.submit(RID, rollup_tx(RID, alice.key, 0, value=1))).height
        await firm.wait_for((await block_covering(soft, first)).number, timeout=60)

        # In flight: admitted before the pause, its window posted after it. The batcher is stopped
        # meanwhile so that order holds however slowly the pause lands (aligning the submission to a
        # window boundary left it to the machine's speed); the next batcher re-derives from L1.
        await net.stop_poster()
        in_flight = (await net.submit(RID, rollup_tx(RID, alice.key, 1, value=2))).height
        owner = Sender(net.w3, dev_accounts()[0].key)
        registry = contract_at(net.w3, "RollupRegistry",
                               contract_at(net.w3, "SequencerInbox", net.inbox).functions.registry().call())
        await set_paused(owner, registry, True)

        await wait_until(lambda: RID in core.paused, 30, "the sequencer to see the pause")
        await net.start_poster()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await net.submit(RID, rollup_tx(RID, alice.key, 2, value=4))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == f"rollup {RID} is paused on L1"

        def left_out() -> list:
            return [p for p in net.batcher.posted if RID not in p.rollup_ids]

        limited = await start_firm_node(net, max_kept_witness_blocks=KEPT_LIMIT)
        await wait_until(lambda: len(left_out()) >= 3, 60, "postings that leave the paused rollup out")
        # Past its bound on kept witness blocks, a firm node stops and says why.
        await wait_until(lambda: limited.error, 60, "the limited firm node to stop")
        assert f"over max_kept_witness_blocks {KEPT_LIMIT}" in limited.error and "leaves out rollup" in limited.error
        assert any(p.first_height <= in_flight <= p.last_height for p in left_out()), \
            "the in-flight transaction's window was posted before the pause (timing): the test proves nothing"
        await block_covering(soft, in_flight)
        stuck = firm.firm_head
        assert stuck is not None and stuck < (await block_covering(soft, in_flight)).number
        assert firm.error is None  # waiting, not stopped

        await set_paused(owner, registry, False)
        await wait_until(lambda: RID not in core.paused, 30, "the sequencer to see the unpause")
        last = (await net.submit(RID, rollup_tx(RID, alice.key, 2, value=4))).height
        target = (await block_covering(soft, last)).number
        await firm.wait_for(target, timeout=120)
        assert firm.error is None
        common = sorted(set(firm.blocks) & set(soft.blocks))
        assert common[0] <= stuck and common[-1] >= target
        for n in common:
            f, s = firm.blocks[n], soft.blocks[n]
            assert (f.state_root, f.engine_block_hash, f.tx_count) == (s.state_root, s.engine_block_hash,
                                                                      s.tx_count), n
        assert engine_w3(firm).eth.get_balance(SINK) == 1 + 2 + 4

        # A restart re-derives the same from L1: a new firm node from window 0, and a new batcher
        # (no state file) replays every window, the one carrying the pause included.
        again = await net.start_node(RID, "firm")
        done = await again.wait_for(target, timeout=120)
        assert done.state_root == soft.blocks[target].state_root
        inbox = contract_at(net.w3, "SequencerInbox", net.inbox)
        windows = int(inbox.functions.windowCount().call())  # both batchers' postings
        assert windows >= len(net.batcher.posted)
        second = Batcher(net.batcher_config())
        await net.tg.start(second.run)
        await wait_until(lambda: second._state is not None and second._state.window_count >= windows, 60,
                         "a second batcher to re-derive every window")
        assert second._state.covered_to[RID] > in_flight
