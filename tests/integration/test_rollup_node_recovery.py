"""(d) Recovery: the sequencer stops and restarts under running soft nodes, which resume from the next
height with no gap or duplicate; a wiped node (new engine) resyncs from L1 alone to the same state."""

from __future__ import annotations

import pytest
from rollup_testkit import ROLLUP_IDS, block_covering, devnet, engine_w3, rollup_tx, wait_until

from sequencer.devtools.anvil import dev_accounts

pytestmark = pytest.mark.anyio


def assert_no_gap_or_duplicate(node) -> None:
    numbers = sorted(node.blocks)
    assert numbers == list(range(numbers[0], numbers[-1] + 1))
    heights = [h for n in numbers for h in node.blocks[n].shared_heights]
    assert heights == list(range(0, len(heights))), "every shared height exactly once, in order"


async def test_sequencer_restart_and_resync_from_l1(tmp_path) -> None:
    alice = dev_accounts()[5]
    async with devnet(tmp_path, process=True) as net:
        soft = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
        firm = {rid: await net.start_node(rid, "firm") for rid in ROLLUP_IDS}
        await net.start_poster()
        before = {rid: (await net.submit(rid, rollup_tx(rid, alice.key, 0, value=1))).height for rid in ROLLUP_IDS}
        for rid in ROLLUP_IDS:
            await block_covering(soft[rid], before[rid])
        stopped_at = await net.sealed_height()
        reconnects = {rid: soft[rid].follower.reconnects for rid in ROLLUP_IDS}

        await net.stop_sequencer()
        await wait_until(lambda: all(soft[r].follower.reconnects > reconnects[r] for r in ROLLUP_IDS), 30,
                         "soft nodes to notice the sequencer is gone")
        await net.start_sequencer()

        after = {rid: (await net.submit(rid, rollup_tx(rid, alice.key, 1, value=2))).height for rid in ROLLUP_IDS}
        assert min(after.values()) > stopped_at
        targets = {}
        for rid in ROLLUP_IDS:
            block = await block_covering(soft[rid], after[rid])
            targets[rid] = block.number
            assert_no_gap_or_duplicate(soft[rid])
            w3 = engine_w3(soft[rid])
            for nonce in (0, 1):
                tx = rollup_tx(rid, alice.key, nonce, value=nonce + 1)
                assert w3.eth.get_transaction_receipt(w3.keccak(tx))["status"] == 1
            assert w3.eth.get_balance("0x" + "22" * 20) == 3

        # Wipe each firm node (its engine dies with it) and resync a fresh one from L1 alone.
        for rid in ROLLUP_IDS:
            await firm[rid].wait_for(targets[rid], timeout=60)
            old_roots = {n: b.state_root for n, b in firm[rid].blocks.items()}
            await net.stop_node(firm[rid])
            fresh = await net.start_node(rid, "firm")
            await fresh.wait_for(targets[rid], timeout=60)
            for n in range(min(soft[rid].blocks), targets[rid] + 1):
                assert fresh.blocks[n].state_root == soft[rid].blocks[n].state_root == old_roots[n], (rid, n)
            assert fresh.firm_head >= targets[rid]
