"""Cross-rollup margin on the three local rollups (issue 11, docs/margin.md).

The sequencer, a soft node per rollup (each with its engine), the margin contracts deployed through
the sequencer, and the operator's coordinator (sequencer/margin/coordinator.py) signing outcomes
with the sequencer key. Every check reads the rollups' engines.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import grpc
import pytest
from eth_account import Account
from rollup_testkit import L1_CHAIN_ID, ROLLUP_IDS, Devnet, devnet, engine_w3, wait_until
from web3 import Web3

from deploy.anvil import dev_accounts
from deploy.margin import MarginParams, ensure_margin
from sequencer.core.signing import Domain, Signer
from sequencer.keys import read_key
from sequencer.margin.coordinator import Coordinator
from sharedseq.margin import (
    LEG_MARGIN,
    LEG_OPTION,
    LEG_PERP,
    ONE,
    MarginDesk,
    RollupAccount,
    finalize_calldata,
    outcome_struct_hash,
)
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = pytest.mark.anyio

TIMEOUT_BLOCKS = 8
DEPLOYER, TRADER, TRADER2, RELAYER, KEEPER = (dev_accounts()[i] for i in (6, 7, 8, 9, 4))
FUNDS = 100_000 * ONE


@dataclass
class MarginNet:
    net: Devnet
    desk: MarginDesk
    coordinator: Coordinator | None
    signer: Signer

    async def bundle(self, legs: list[tuple[int, bytes]]) -> float:
        """Submit as one bundle through the sequencer; returns the submission time (monotonic)."""
        t = time.monotonic()
        if len(legs) == 1:
            await self.net.submit(*legs[0])
        else:
            await self.net.submit_bundle(legs)
        return t

    async def run(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    async def receipt(self, rid: int, raw: bytes, timeout: float = 20.0) -> Any:
        w3 = self.desk.engines[rid]
        tx_hash = Web3.keccak(raw)
        with anyio.fail_after(timeout):
            while True:
                try:
                    return await self.run(w3.eth.get_transaction_receipt, tx_hash)
                except Exception:  # noqa: BLE001 - not executed yet
                    await anyio.sleep(0.1)


def _sync_submit(address: str) -> Any:
    ch = grpc.insecure_channel(address)
    stub = pb_grpc.SequencerServiceStub(ch)

    def submit(rid: int, raw: bytes) -> None:
        stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=pb.Transaction(rollup_id=rid, payload=raw)),
                               timeout=10)
    return ch, submit


@asynccontextmanager
async def margin_net(tmp: Path, *, coordinator: bool = True) -> AsyncIterator[MarginNet]:
    async with devnet(tmp) as net:
        nodes = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
        await wait_until(lambda: all(n.engine is not None and n.head for n in nodes.values()), 30, "the engines")
        engines = {rid: engine_w3(n) for rid, n in nodes.items()}
        seq_key = read_key(net.cfg.key_file)
        signer = Signer(seq_key, Domain(L1_CHAIN_ID, bytes.fromhex(net.inbox[2:])))
        params = MarginParams(l1_chain_id=L1_CHAIN_ID, inbox=net.inbox, sequencer="0x" + signer.address.hex(),
                              rollups=(901, 902, 903), deployer_key=DEPLOYER.key,
                              funded={TRADER.address: FUNDS, TRADER2.address: FUNDS}, timeout_blocks=TIMEOUT_BLOCKS)
        ch, submit = _sync_submit(net.sequencer_address)
        try:
            deployment = await anyio.to_thread.run_sync(lambda: ensure_margin(engines, submit, params, {}))
        finally:
            ch.close()
        desk = MarginDesk(deployment, engines, submit_bundle=lambda legs: None)
        coord = None
        if coordinator:
            coord = Coordinator(deployment, {rid: n.engine.url for rid, n in nodes.items() if n.engine},
                                net.sequencer_address, signer, RELAYER.key, timeout_blocks=TIMEOUT_BLOCKS,
                                decisions_file=tmp / "decisions.jsonl")
            await net.tg.start(coord.run)
        yield MarginNet(net, desk, coord, signer)


async def deposit(m: MarginNet, acct: RollupAccount, amount: int) -> None:
    txs = await m.run(m.desk.deposit_txs, acct, amount)
    for rid, raw in txs:
        await m.net.submit(rid, raw)
    assert (await m.receipt(*txs[-1]))["status"] == 1


async def outcome(m: MarginNet, bundle_id: bytes, legs: int, present: tuple[int, ...] | None = None,
                  timeout: float = 30) -> str:
    return await anyio.to_thread.run_sync(lambda: m.desk.wait_outcome(bundle_id, legs, timeout, present))


def totals(m: MarginNet) -> int:
    """Sum of the token held by every party plus the margin account: conserved."""
    d = m.desk
    who = [TRADER.address, TRADER2.address, KEEPER.address, d.d.house]
    return sum(d.token_balance(w) for w in who) + d.token_balance(d.d.margin_account)


async def test_hedge_commits_closes_and_a_reverting_leg_aborts(tmp_path: Path) -> None:
    async with margin_net(tmp_path) as m:
        d = m.desk
        trader = RollupAccount(TRADER.key)
        await deposit(m, trader, 10_000 * ONE)
        conserved = await m.run(totals, m)
        assert await m.run(d.free, TRADER.address) == 10_000 * ONE

        # One bundle: 1 long perp on 902 and a protective put on 903, margined from 901.
        intent = await m.run(lambda: d.open_intent(TRADER.address, 1, perp_size=ONE, opt_size=ONE,
                                                   opt_strike=2000 * ONE))
        assert intent.legs == LEG_MARGIN | LEG_PERP | LEG_OPTION and intent.margin > 0
        legs = await m.run(d.legs, trader, intent)
        t0 = await m.bundle(legs)
        assert await outcome(m, intent.bundle_id, intent.legs) == "committed"
        print(f"open committed {1000 * (time.monotonic() - t0):.0f} ms after submission")
        assert (await m.run(d.position, LEG_PERP, intent.bundle_id))["state"] == 2
        put = await m.run(d.position, LEG_OPTION, intent.bundle_id)
        assert put["state"] == 2 and put["size"] == ONE and put["premium"] == 40 * ONE  # 2% time value at 2000
        assert await m.run(d.reserved, TRADER.address) == intent.margin
        assert await m.run(d.free, TRADER.address) == 10_000 * ONE - intent.margin

        # Margin is never counted twice: a bundle asking for more than is free fails its margin leg,
        # so its venue legs (which executed) are aborted and no position opens.
        greedy = await m.run(lambda: d.open_intent(TRADER.address, 2, perp_size=ONE,
                                                   extra_margin=10_000 * ONE - intent.margin))
        legs2 = await m.run(d.legs, trader, greedy)
        await m.bundle(legs2)
        assert (await m.receipt(*legs2[0]))["status"] == 0  # InsufficientFreeMargin
        assert (await m.receipt(*legs2[1]))["status"] == 1  # the perp leg itself succeeded (pending)
        assert await outcome(m, greedy.bundle_id, greedy.legs, present=(LEG_PERP,)) == "aborted"
        assert (await m.run(d.position, LEG_PERP, greedy.bundle_id))["state"] == 4
        assert await m.run(d.reserved, TRADER.address) == intent.margin

        # A venue leg reverting (the option leg's margin below the venue's initial margin: the
        # trader's own bundle is wrong) aborts the margin leg: the reservation is released.
        bad = await m.run(lambda: d.open_intent(TRADER.address, 3, perp_size=ONE, opt_size=ONE, opt_strike=2000 * ONE))
        bad = type(bad)(**{**{k: getattr(bad, k) for k in bad.__slots__}, "opt_margin": bad.opt_margin - 1})
        legs3 = await m.run(d.legs, trader, bad)
        await m.bundle(legs3)
        assert [(await m.receipt(*x))["status"] for x in legs3] == [1, 1, 0]
        assert await outcome(m, bad.bundle_id, bad.legs, present=(LEG_MARGIN, LEG_PERP)) == "aborted"
        assert await m.run(d.reserved, TRADER.address) == intent.margin
        assert (await m.run(d.position, LEG_PERP, bad.bundle_id))["state"] == 4

        # Price moves to 1900 (one keeper bundle: the same price on every rollup), then close.
        keeper = RollupAccount(DEPLOYER.key)
        price_legs = await m.run(d.price_legs, keeper, 1, 1900 * ONE)
        await m.bundle(price_legs)
        for x in price_legs:
            assert (await m.receipt(*x))["status"] == 1
        assert {await m.run(d.price, rid) for rid in ROLLUP_IDS} == {1900 * ONE}
        close = await m.run(d.close_intent, intent, 4)
        assert close.perp_pnl == -100 * ONE and close.opt_pnl == 60 * ONE  # put: 100 intrinsic - 40 premium
        legs4 = await m.run(d.legs, trader, close)
        await m.bundle(legs4)
        assert await outcome(m, close.bundle_id, close.legs) == "committed"
        assert await m.run(d.reserved, TRADER.address) == 0
        assert await m.run(d.collateral, TRADER.address) == 10_000 * ONE - 40 * ONE
        assert (await m.run(d.position, LEG_PERP, intent.bundle_id))["state"] == 4
        assert (await m.run(d.position, LEG_OPTION, intent.bundle_id))["state"] == 4
        assert await m.run(totals, m) == conserved
        assert m.coordinator is not None and m.coordinator.decided[intent.bundle_id] is True


async def test_outcome_never_arriving_aborts_after_timeout(tmp_path: Path) -> None:
    async with margin_net(tmp_path, coordinator=False) as m:
        d = m.desk
        trader = RollupAccount(TRADER.key)
        await deposit(m, trader, 1_000 * ONE)
        intent = await m.run(lambda: d.open_intent(TRADER.address, 1, perp_size=ONE, opt_size=ONE,
                                                   opt_strike=2000 * ONE))
        legs = await m.run(d.legs, trader, intent)
        await m.bundle(legs)
        receipts = [await m.receipt(*x) for x in legs]
        assert [r["status"] for r in receipts] == [1, 1, 1]
        assert await m.run(d.free, TRADER.address) == 1_000 * ONE - intent.margin
        anyone = RollupAccount(KEEPER.key)
        # Too early: abortExpired reverts (NotExpired).
        early = await m.run(d.abort_expired_tx, anyone, LEG_MARGIN, intent.bundle_id)
        await m.net.submit(*early)
        assert (await m.receipt(*early))["status"] == 0
        # An outcome signed by anyone but the sequencer is refused: the leg stays pending.
        forger = Signer(RELAYER.key, m.signer.domain)
        forged = forger.sign_struct(outcome_struct_hash(intent.bundle_id, True))
        fake = finalize_calldata(intent.bundle_id, True, forged)
        raw = await m.run(lambda: d.sign(anyone, 901, to=d.d.margin_account, data=fake, gas=300_000))
        await m.net.submit(901, raw)
        assert (await m.receipt(901, raw))["status"] == 0
        assert await m.run(d.status, LEG_MARGIN, intent.bundle_id) == "pending"
        # Wait past the timeout on every rollup, in rollup blocks.
        for (rid, _), r in zip(legs, receipts, strict=True):
            target = r["blockNumber"] + TIMEOUT_BLOCKS + 1
            with anyio.fail_after(30):
                while await m.run(lambda rid=rid: d.engines[rid].eth.block_number) < target:
                    await anyio.sleep(0.2)
        # A commit arriving after the timeout is refused (CommitExpired), even signed by the sequencer.
        sig = m.signer.sign_struct(outcome_struct_hash(intent.bundle_id, True))
        late = await m.run(lambda: d.sign(anyone, 902, to=d.d.perp_market,
                                          data=finalize_calldata(intent.bundle_id, True, sig), gas=300_000))
        await m.net.submit(902, late)
        assert (await m.receipt(902, late))["status"] == 0
        assert await m.run(d.status, LEG_PERP, intent.bundle_id) == "pending"
        for bit in (LEG_MARGIN, LEG_PERP, LEG_OPTION):
            rid, raw = await m.run(d.abort_expired_tx, anyone, bit, intent.bundle_id)
            await m.net.submit(rid, raw)
            assert (await m.receipt(rid, raw))["status"] == 1
        assert await outcome(m, intent.bundle_id, intent.legs) == "aborted"
        assert await m.run(d.free, TRADER.address) == 1_000 * ONE
        assert (await m.run(d.position, LEG_OPTION, intent.bundle_id))["state"] == 4


async def test_liquidation_closes_every_leg_in_one_step(tmp_path: Path) -> None:
    async with margin_net(tmp_path) as m:
        d = m.desk
        trader = RollupAccount(TRADER2.key)
        await deposit(m, trader, 1_000 * ONE)
        conserved = await m.run(totals, m)
        # 2 long perp (IM 400 at 2000) and a small call, with 50 of margin to spare.
        intent = await m.run(lambda: d.open_intent(TRADER2.address, 1, perp_size=2 * ONE, opt_size=ONE // 10,
                                                   opt_is_call=True, opt_strike=2100 * ONE, extra_margin=50 * ONE))
        await m.bundle(await m.run(d.legs, trader, intent))
        assert await outcome(m, intent.bundle_id, intent.legs) == "committed"
        keeper = RollupAccount(KEEPER.key)
        # Not liquidatable yet: the keeper's bundle fails its margin leg and is aborted.
        early = await m.run(d.liquidation_intent, KEEPER.address, intent, 1)
        legs = await m.run(d.legs, keeper, early)
        await m.bundle(legs)
        assert (await m.receipt(*legs[0]))["status"] == 0  # NotLiquidatable
        assert await outcome(m, early.bundle_id, early.legs, present=(LEG_PERP, LEG_OPTION)) == "aborted"
        assert (await m.run(d.position, LEG_PERP, intent.bundle_id))["state"] == 2
        # The keeper moves the price to 1800: equity 458 - 400 - ... < maintenance.
        oracle_keeper = RollupAccount(DEPLOYER.key)
        await m.bundle(await m.run(d.price_legs, oracle_keeper, 1, 1800 * ONE))
        with anyio.fail_after(20):
            while {await m.run(d.price, rid) for rid in ROLLUP_IDS} != {1800 * ONE}:
                await anyio.sleep(0.1)
        eq, mm = await m.run(d.equity, intent)
        assert eq < mm
        liq = await m.run(d.liquidation_intent, KEEPER.address, intent, 2)
        await m.bundle(await m.run(d.legs, keeper, liq))
        assert await outcome(m, liq.bundle_id, liq.legs) == "committed"
        assert (await m.run(d.position, LEG_PERP, intent.bundle_id))["state"] == 4
        assert (await m.run(d.position, LEG_OPTION, intent.bundle_id))["state"] == 4
        assert await m.run(d.reserved, TRADER2.address) == 0
        loss = -(liq.perp_pnl + liq.opt_pnl)
        reward = (intent.margin - loss) * 5000 // 10_000
        assert await m.run(d.collateral, KEEPER.address) == reward
        assert await m.run(d.collateral, TRADER2.address) == 1_000 * ONE - loss - reward
        assert await m.run(totals, m) == conserved


def test_addresses_are_distinct() -> None:
    assert len({a.address for a in (DEPLOYER, TRADER, TRADER2, RELAYER, KEEPER)}) == 5
    assert Account.from_key(RELAYER.key).address == RELAYER.address


async def test_latency_from_submission_to_committed(tmp_path: Path) -> None:
    """Submission of an open bundle to every leg committed, in ms and in rollup blocks (docs/margin.md)."""
    from sequencer.margin.coordinator import FINALIZED_TOPIC

    async with margin_net(tmp_path) as m:
        d = m.desk
        trader = RollupAccount(TRADER.key)
        await deposit(m, trader, 10_000 * ONE)
        ms, blocks = [], []
        for n in range(1, 11):
            intent = await m.run(lambda n=n: d.open_intent(TRADER.address, n, perp_size=ONE // 10))
            legs = await m.run(d.legs, trader, intent)
            t0 = await m.bundle(legs)
            assert await outcome(m, intent.bundle_id, intent.legs) == "committed"
            ms.append(1000 * (time.monotonic() - t0))
            leg_block = (await m.receipt(*legs[0]))["blockNumber"]
            logs = await m.run(lambda i=intent: d.engines[901].eth.get_logs({
                "fromBlock": leg_block, "address": d.d.margin_account,
                "topics": ["0x" + FINALIZED_TOPIC.hex(), "0x" + i.bundle_id.hex()]}))
            blocks.append(logs[0]["blockNumber"] - leg_block)
        ms.sort()
        blocks.sort()
        p50, p99 = ms[len(ms) // 2], ms[-1]
        print(f"\nsubmission -> committed over {len(ms)} bundles: p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
              f"rollup blocks after the legs' block: p50 {blocks[len(blocks) // 2]}, max {blocks[-1]}")
        assert p99 < 10_000 and blocks[-1] <= 4
