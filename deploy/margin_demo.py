"""The cross-rollup margin use case, as `sharedseq demo` runs it on the devnet (docs/margin.md).

A trader deposits collateral on the margin rollup; in one bundle opens a perp on the second
rollup and a protective put on the third, both margined from the first; the keeper moves the
price; the trader closes both; a bundle with a reverting leg is aborted everywhere; a second
trader is liquidated after the price falls. Every figure printed is read from the rollups' engines.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import grpc
from web3 import Web3

from deploy.margin import DEVNET_ROLES
from sequencer.devtools.anvil import dev_accounts
from sharedseq.margin import (
    LEG_MARGIN,
    LEG_OPTION,
    LEG_PERP,
    ONE,
    Intent,
    MarginDeployment,
    MarginDesk,
    OpenIntent,
    RollupAccount,
)
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

STATES = {0: "none", 1: "opening", 2: "open", 3: "closing", 4: "closed"}


def _fmt(wei: int) -> str:
    return f"{wei / ONE:,.2f}"


def run_margin_demo(endpoints: dict[str, Any], say: Callable[[str], None], check: Callable[[bool, str], None]) -> None:
    record = dict(endpoints["margin"])
    record.pop("timeout_blocks", None)
    d = MarginDeployment.from_dict(record)
    engines = {int(rid): Web3(Web3.HTTPProvider(url)) for rid, url in endpoints["engines"].items()}
    accts = dev_accounts()
    role = {name: RollupAccount(accts[i].key) for name, i in DEVNET_ROLES.items()}
    trader, trader2, keeper, oracle_keeper = role["trader"], role["trader2"], role["keeper"], role["deployer"]
    with grpc.insecure_channel(endpoints["sequencer"]) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)

        def submit(legs: list[tuple[int, bytes]]) -> tuple[float, list[Any]]:
            t0 = time.monotonic()
            if len(legs) == 1:
                stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=legs[0][0], payload=legs[0][1])), timeout=10)
            else:
                stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(
                    legs=[pb.Transaction(rollup_id=r, payload=p) for r, p in legs])), timeout=10)
            return t0, [_receipt(engines[rid], raw) for rid, raw in legs]

        desk = MarginDesk(d, engines, submit_bundle=submit)

        def show(who: RollupAccount, opened: OpenIntent | None) -> None:
            a = who.address
            say(f"    rollup {d.margin_rollup} margin account: collateral {_fmt(desk.collateral(a))}, "
                f"reserved {_fmt(desk.reserved(a))}, free {_fmt(desk.free(a))}")
            if opened is None:
                return
            for bit, name in ((LEG_PERP, "perp"), (LEG_OPTION, "option")):
                if opened.legs & bit:
                    p = desk.position(bit, opened.bundle_id)
                    extra = f", PnL {_fmt(desk.pnl(bit, opened.bundle_id))}" if p["state"] == 2 else ""
                    say(f"    rollup {d.rollup_of(bit)} {name}: {STATES[p['state']]}, size {_fmt(p['size'])}, "
                        f"entry {_fmt(p['entry_price'])}, margin {_fmt(p['margin'])}{extra}")

        def run(intent: Intent, account: RollupAccount, what: str) -> str:
            t0, receipts = submit(desk.legs(account, intent))
            present = [bit for bit, r in zip(_bits(intent.legs), receipts, strict=True) if r["status"] == 1]
            if not present:
                say(f"  {what}: every leg reverted, nothing pending")
                return "none"
            result = desk.wait_outcome(intent.bundle_id, intent.legs, timeout=40, present=present)
            say(f"  {what}: {result} {1000 * (time.monotonic() - t0):.0f} ms after submission "
                f"(legs that executed: {', '.join(str(d.rollup_of(b)) for b in present)})")
            return result

        def set_price(price: int) -> None:
            round_ = int(desk.call(d.margin_rollup, d.oracles[d.margin_rollup], "round()", out=["uint64"])) + 1
            _, receipts = submit(desk.price_legs(oracle_keeper, round_, price))
            prices = {rid: desk.price(rid) for rid in d.oracles}
            check(all(r["status"] == 1 for r in receipts) and set(prices.values()) == {price},
                  f"keeper's price bundle: {_fmt(price)} on every rollup from one shared height")

        say("cross-rollup margin:")
        set_price(2000 * ONE)
        deposit = 10_000 * ONE
        free0 = desk.free(trader.address)
        _, receipts = submit(desk.deposit_txs(trader, deposit))
        check(all(r["status"] == 1 for r in receipts) and desk.free(trader.address) == free0 + deposit,
              f"trader {trader.address} deposited {_fmt(deposit)} sUSD on rollup {d.margin_rollup}")
        show(trader, None)

        opened = desk.open_intent(trader.address, secrets.randbits(48), perp_size=ONE, opt_size=ONE,
                                  opt_strike=2000 * ONE)
        result = run(opened, trader, f"open 1 long perp on {d.perp_rollup} + 1 put (strike 2,000) on "
                                     f"{d.option_rollup}, margin {_fmt(opened.margin)} reserved on {d.margin_rollup}")
        check(result == "committed" and desk.reserved(trader.address) >= opened.margin,
              "hedge opened atomically on both venues, margined once")
        show(trader, opened)

        bad = desk.open_intent(trader.address, secrets.randbits(48), perp_size=ONE, opt_size=ONE, opt_strike=2000 * ONE)
        bad = OpenIntent(**{**{k: getattr(bad, k) for k in bad.__slots__}, "opt_margin": bad.opt_margin - 1})
        reserved = desk.reserved(trader.address)
        result = run(bad, trader, "a bundle whose option leg reverts (margin 1 wei under the initial margin)")
        check(result == "aborted" and desk.reserved(trader.address) == reserved
              and desk.position(LEG_PERP, bad.bundle_id)["state"] == 4,
              "its perp and margin legs were aborted: no position, margin released")

        set_price(1900 * ONE)
        show(trader, opened)
        close = desk.close_intent(opened, secrets.randbits(48))
        before = desk.collateral(trader.address)
        result = run(close, trader, f"close both legs (perp PnL {_fmt(close.perp_pnl)}, put PnL {_fmt(close.opt_pnl)})")
        check(result == "committed" and desk.collateral(trader.address) == before + close.perp_pnl + close.opt_pnl,
              "closed on both venues and settled on the margin rollup in one step")
        show(trader, opened)

        say("  liquidation:")
        set_price(2000 * ONE)
        submit(desk.deposit_txs(trader2, 1_000 * ONE))
        lev = desk.open_intent(trader2.address, secrets.randbits(48), perp_size=2 * ONE, opt_size=ONE // 10,
                               opt_is_call=True, opt_strike=2100 * ONE, extra_margin=50 * ONE)
        check(run(lev, trader2, "trader 2 opens 2 long perp + 0.1 call with little spare margin") == "committed",
              "trader 2's position open")
        set_price(1800 * ONE)
        eq, mm = desk.equity(lev)
        say(f"    equity {_fmt(eq)} < maintenance {_fmt(mm)}")
        show(trader2, lev)
        liq = desk.liquidation_intent(keeper.address, lev, secrets.randbits(48))
        kbefore = desk.collateral(keeper.address)
        result = run(liq, keeper, "keeper's liquidation bundle (both venues and the margin account)")
        check(result == "committed" and desk.reserved(trader2.address) == 0
              and desk.position(LEG_PERP, lev.bundle_id)["state"] == 4
              and desk.position(LEG_OPTION, lev.bundle_id)["state"] == 4,
              f"liquidated on every rollup at once; keeper earned {_fmt(desk.collateral(keeper.address) - kbefore)}")
        show(trader2, lev)
        set_price(2000 * ONE)


def _bits(legs: int) -> list[int]:
    return [b for b in (LEG_MARGIN, LEG_PERP, LEG_OPTION) if legs & b]


def _receipt(w3: Any, raw: bytes, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    tx_hash = Web3.keccak(raw)
    while time.monotonic() < deadline:
        try:
            return w3.eth.get_transaction_receipt(tx_hash)
        except Exception:  # not executed yet
            time.sleep(0.1)
    raise TimeoutError(f"tx {tx_hash.hex()} not executed within {timeout}s")
