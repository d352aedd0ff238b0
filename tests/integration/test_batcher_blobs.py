"""The batcher with use_blobs=true on anvil: windows go to L1 as EIP-4844 blobs (postWindowBlobs,
type-3 transactions), firm nodes read them back (anvil_getBlobByHash) and derive the soft nodes' state;
a restarted batcher re-derives its cursors from the blob windows and carries on."""

from __future__ import annotations

import anyio
import pytest
from rollup_testkit import (
    ROLLUP_IDS,
    block_covering,
    check_firm_equals_soft,
    devnet,
    rollup_tx,
    wait_until,
)

from sequencer.devtools.anvil import dev_accounts
from sequencer.l1 import blobs as blob_codec
from sequencer.l1.batcher import Batcher, BatcherConfig
from sequencer.l1.inbox import decode_call

pytestmark = pytest.mark.anyio

SINK = "0x" + "22" * 20


async def test_blob_windows_firm_equals_soft(tmp_path) -> None:
    async with devnet(tmp_path, blobs=True) as net:
        await check_firm_equals_soft(net, dev_accounts()[4].key, use_blobs=True)
        await wait_until(lambda: len(net.batcher.posted) >= 3, 60, "three blob windows")
        posted = list(net.batcher.posted)
        for p in posted:
            assert p.blob_count == len(ROLLUP_IDS) and p.blob_gas_used == p.blob_count * blob_codec.GAS_PER_BLOB
            tx = net.w3.eth.get_transaction(p.tx_hash)
            assert tx["type"] == 3 and len(tx["blobVersionedHashes"]) == p.blob_count
            fn, _ = decode_call(bytes(tx["input"]))
            assert fn == "postWindowBlobs"


async def test_restarted_batcher_replays_blob_windows(tmp_path) -> None:
    alice = dev_accounts()[5]
    async with devnet(tmp_path, blobs=True) as net:
        firm = await net.start_node(ROLLUP_IDS[0], "firm")
        soft = await net.start_node(ROLLUP_IDS[0], "soft")

        def config() -> BatcherConfig:
            return net.batcher_config(use_blobs=True)

        first = Batcher(config())
        async with anyio.create_task_group() as tg:
            await tg.start(first.run)
            await net.submit(ROLLUP_IDS[0], rollup_tx(ROLLUP_IDS[0], alice.key, 0, value=1))
            await wait_until(lambda: len(first.posted) >= 2, 60, "two blob windows")
            tg.cancel_scope.cancel()
        second = Batcher(config())
        async with anyio.create_task_group() as tg:
            await tg.start(second.run)
            h = (await net.submit(ROLLUP_IDS[0], rollup_tx(ROLLUP_IDS[0], alice.key, 1, value=2))).height
            await wait_until(lambda: second.firm_height >= h, 60, "the restarted batcher's windows")
            tg.cancel_scope.cancel()
        assert second.posted and second.posted[0].window_index == first.posted[-1].window_index + 1
        assert all(p.blob_count > 0 for p in second.posted)
        target = (await block_covering(soft, h)).number
        await firm.wait_for(target, timeout=60)
        assert firm.blocks[target].state_root == soft.blocks[target].state_root
