"""(e) Forced inclusion: a transaction enqueued on L1 that the sequencer never includes is executed
by every node (soft and firm, all three rollups) in the first rollup block whose L1 origin reaches
its deadline (rule F), ahead of that block's sequenced transactions."""

from __future__ import annotations

import anyio
import pytest
from rollup_testkit import FORCE_INCLUSION_DELAY, ROLLUP_IDS, devnet, engine_w3, rollup_tx, wait_until

from deploy.anvil import dev_accounts

pytestmark = pytest.mark.anyio

FORCED_SINK = "0x" + "33" * 20


async def test_forced_tx_executed_after_deadline(tmp_path) -> None:
    user = dev_accounts()[6]
    async with devnet(tmp_path) as net:
        soft = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
        firm = {rid: await net.start_node(rid, "firm") for rid in ROLLUP_IDS}
        await net.start_poster()
        await wait_until(lambda: all(n.head is not None for n in soft.values()), 20, "soft nodes to start")
        forced = {rid: rollup_tx(rid, user.key, 0, value=5, to=FORCED_SINK) for rid in ROLLUP_IDS}
        deadlines = {}
        for rid in ROLLUP_IDS:
            deadlines[rid] = await anyio.to_thread.run_sync(net.enqueue_forced, rid, forced[rid])
        net.l1.mine(FORCE_INCLUSION_DELAY + 1)

        for rid in ROLLUP_IDS:
            block = await wait_until(lambda r=rid: next((b for b in soft[r].blocks.values() if b.forced_count), None),
                                     30, f"rollup {rid}'s forced tx on the soft node")
            assert block.l1_origin_number >= deadlines[rid]
            earlier = [b for b in soft[rid].blocks.values() if b.number < block.number]
            assert all(b.l1_origin_number < deadlines[rid] for b in earlier), "placed at the first eligible block"
            w3 = engine_w3(soft[rid])
            rcpt = w3.eth.get_transaction_receipt(w3.keccak(forced[rid]))
            assert rcpt["status"] == 1 and rcpt["blockNumber"] == block.engine_number
            assert rcpt["transactionIndex"] == 0
            assert w3.eth.get_balance(FORCED_SINK) == 5

            fb = await firm[rid].wait_for(block.number, timeout=40)
            assert fb.forced_count == 1 and fb.state_root == block.state_root
            fw3 = engine_w3(firm[rid])
            assert fw3.eth.get_transaction_receipt(fw3.keccak(forced[rid]))["blockNumber"] == block.engine_number
            assert fw3.eth.get_balance(FORCED_SINK) == 5
        assert sum(b.forced_count for n in soft.values() for b in n.blocks.values()) == len(ROLLUP_IDS)
