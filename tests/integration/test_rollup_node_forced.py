"""(e) Forced inclusion: a transaction enqueued on L1 that the sequencer never includes is executed
by every node (soft and firm, all three rollups) in the first rollup block whose L1 origin reaches
its enqueue block (rule F, docs/settlement.md section 4), ahead of that block's sequenced
transactions. A junk entry queued before it (0x02 for the zkEVM, whose encoder used to raise on it
and halt every posting; a transaction for another chain for Nitro) is skipped by every node, counts
as applied, and postings go on."""

from __future__ import annotations

import anyio
import pytest
from rollup_testkit import FORCE_INCLUSION_DELAY, ROLLUP_IDS, devnet, engine_w3, rollup_tx, wait_until

from deploy.deployer import contract_at
from sequencer.devtools.anvil import dev_accounts

pytestmark = pytest.mark.anyio

FORCED_SINK = "0x" + "33" * 20
JUNK = {903: b"\x02", 902: rollup_tx(901, dev_accounts()[6].key, 0, value=5, to=FORCED_SINK)}
"""Entries the rollup's admission policy refuses: not a transaction; a transaction for chain 901."""


def enqueue_block(net, rid: int) -> int:
    """The L1 block of the rollup's latest forced entry (E in rule F)."""
    inbox = contract_at(net.w3, "SequencerInbox", net.inbox)
    logs = inbox.events.ForcedTxEnqueued().get_logs(from_block=0, argument_filters={"rollupId": rid})
    return int(max(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))["args"]["l1Block"])


async def test_forced_tx_executed_and_junk_skipped(tmp_path) -> None:
    user = dev_accounts()[6]
    async with devnet(tmp_path) as net:
        soft = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
        firm = {rid: await net.start_node(rid, "firm") for rid in ROLLUP_IDS}
        await net.start_poster()
        await wait_until(lambda: all(n.head is not None for n in soft.values()), 60, "soft nodes to start")
        forced = {rid: rollup_tx(rid, user.key, 0, value=5, to=FORCED_SINK) for rid in ROLLUP_IDS}
        enqueued = {}
        for rid in ROLLUP_IDS:
            if rid in JUNK:
                await anyio.to_thread.run_sync(net.enqueue_forced, rid, JUNK[rid])
            await anyio.to_thread.run_sync(net.enqueue_forced, rid, forced[rid])
            enqueued[rid] = enqueue_block(net, rid)
        net.l1.mine(FORCE_INCLUSION_DELAY + 1)

        for rid in ROLLUP_IDS:
            block = await wait_until(lambda r=rid: next((b for b in soft[r].blocks.values() if b.forced_count), None),
                                     60, f"rollup {rid}'s forced tx on the soft node")
            assert block.l1_origin_number >= enqueued[rid]
            earlier = [b for b in soft[rid].blocks.values() if b.number < block.number]
            assert all(b.l1_origin_number < enqueued[rid] for b in earlier), "placed at the first eligible block"
            w3 = engine_w3(soft[rid])
            rcpt = w3.eth.get_transaction_receipt(w3.keccak(forced[rid]))
            assert rcpt["status"] == 1 and rcpt["blockNumber"] == block.engine_number
            assert rcpt["transactionIndex"] == 0
            assert w3.eth.get_balance(FORCED_SINK) == 5

            fb = await firm[rid].wait_for(block.number, timeout=90)
            assert fb.forced_count == 1 and fb.state_root == block.state_root
            fw3 = engine_w3(firm[rid])
            assert fw3.eth.get_transaction_receipt(fw3.keccak(forced[rid]))["blockNumber"] == block.engine_number
            assert fw3.eth.get_balance(FORCED_SINK) == 5
            skipped = 1 if rid in JUNK else 0
            assert sum(b.forced_skipped for b in soft[rid].blocks.values()) == skipped
            assert sum(b.forced_skipped for b in firm[rid].blocks.values() if b.number <= block.number) == skipped
            # Postings go on past the junk: the firm node keeps following, equal to the soft node.
            later = await firm[rid].wait_for(block.number + 2, timeout=60)
            assert later.state_root == (await soft[rid].wait_for(block.number + 2, timeout=60)).state_root
        assert sum(b.forced_count for n in soft.values() for b in n.blocks.values()) == len(ROLLUP_IDS)
