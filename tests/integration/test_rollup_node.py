"""Three local rollups (opstack 901, nitro 902, zkevm 903): soft nodes execute transfers, contracts and an
atomic bundle; firm nodes derive the same state from L1 alone."""

from __future__ import annotations

import pytest
from rollup_testkit import (
    ROLLUP_IDS,
    STORE_INIT_CODE,
    block_covering,
    check_firm_equals_soft,
    create_address,
    devnet,
    engine_w3,
    rollup_tx,
)

from sequencer.devtools.anvil import dev_accounts

pytestmark = pytest.mark.anyio

SINK = "0x" + "22" * 20


async def test_transfers_contracts_and_bundle(tmp_path) -> None:
    alice, bob = dev_accounts()[2], dev_accounts()[3]
    word = (0xC0FFEE).to_bytes(32, "big")
    async with devnet(tmp_path) as net:
        nodes = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
        # (a) transfers, a contract deployment and a call on each rollup
        sent: dict[int, list[tuple[bytes, int]]] = {}
        for rid in ROLLUP_IDS:
            txs = [rollup_tx(rid, alice.key, 0, value=10**18),
                   rollup_tx(rid, alice.key, 1, value=2 * 10**18, to=bob.address),
                   rollup_tx(rid, alice.key, 2, to=None, data=STORE_INIT_CODE, gas=100_000),
                   rollup_tx(rid, alice.key, 3, to=create_address(alice.address, 2), data=word, gas=60_000)]
            sent[rid] = [(tx, (await net.submit(rid, tx)).height) for tx in txs]
        # (b) one bundle with a leg on each rollup
        legs = [(rid, rollup_tx(rid, bob.key, 0, value=7)) for rid in ROLLUP_IDS]
        receipts = await net.submit_bundle(legs)
        assert len({r.height for r in receipts}) == 1
        bundle_height = receipts[0].height

        for rid, node in nodes.items():
            for tx, height in sent[rid]:
                block = await block_covering(node, height)
                w3 = engine_w3(node)
                rcpt = w3.eth.get_transaction_receipt(w3.keccak(tx))
                assert rcpt["status"] == 1, (rid, rcpt)
                assert rcpt["blockNumber"] == block.engine_number
                assert rcpt["blockHash"].to_0x_hex() == block.engine_block_hash
            contract = create_address(alice.address, 2)
            assert w3.eth.get_code(contract).hex().removeprefix("0x") == "60003560005500"
            assert bytes(w3.eth.get_storage_at(contract, 0)) == word
            # the bundle leg: in the rollup block covering the bundle's shared height, and nowhere else
            block = await block_covering(node, bundle_height)
            leg = dict(legs)[rid]
            rcpt = w3.eth.get_transaction_receipt(w3.keccak(leg))
            assert rcpt["status"] == 1 and rcpt["blockNumber"] == block.engine_number
            assert w3.eth.get_balance(SINK) == 10**18 + 7
            fee = rcpt["gasUsed"] * rcpt["effectiveGasPrice"]
            assert w3.eth.get_balance(bob.address) == 10000 * 10**18 + 2 * 10**18 - 7 - fee
            window = node.timing.window_of(block.timestamp_ms)
            assert block.number == window and bundle_height in block.shared_heights
            hits = [n for n in range(1, w3.eth.block_number + 1)
                    if w3.keccak(leg) in w3.eth.get_block(n)["transactions"]]
            assert hits == [block.engine_number]
            # engine numbering: one engine block per rollup block, empty or not
            numbers = sorted(node.blocks)
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
            assert all(b.engine_number == b.number - numbers[0] + 1 for b in node.blocks.values())


async def test_derivation_equivalence(tmp_path) -> None:
    """(c) a firm node (L1 only) has the soft node's state root at every firm rollup block."""
    async with devnet(tmp_path) as net:
        await check_firm_equals_soft(net, dev_accounts()[4].key)
