"""The devnet's margin use case on the console (docs/margin.md, issue 15): per trader and per rollup
the collateral, reserved and free margin on the margin rollup and the open positions on each venue;
and the latest margin bundles with each leg's status and the outcome.

`MarginView.refresh` reads the rollups' engines over JSON-RPC (the Pending and Finalized events of
the margin contracts, incrementally, then the accounts and the positions still open); it runs in a
worker thread every `poll_s` (`run`), never on the sequencer's loop, and the sampler merges the
latest view (`__call__`) into each picture. `txs` maps each engine transaction hash that carried a
margin leg or an outcome to its bundle, so the console can put the outcome beside the sequencer's
own bundle rows (the sampler gives each leg's transaction hash)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread
from eth_utils import keccak, to_checksum_address

from sharedseq.margin import LEG_MARGIN, LEG_OPTION, LEG_PERP, ONE, MarginDeployment, MarginDesk

log = logging.getLogger("sharedseq.console.margin")

PENDING_TOPIC = "0x" + keccak(b"Pending(bytes32,uint8,uint8)").hex()
FINALIZED_TOPIC = "0x" + keccak(b"Finalized(bytes32,bool,bool)").hex()
KINDS = {1: "open", 2: "close", 3: "liquidate"}
"""Pending.kind as the contracts number it (KIND_OPEN, KIND_CLOSE, KIND_LIQUIDATE)."""
BITS = (LEG_MARGIN, LEG_PERP, LEG_OPTION)


def _tokens(wei: int) -> float:
    """Token wei as tokens, for display (the console rounds)."""
    return wei / ONE


def bundle_outcome(statuses: Mapping[int, str]) -> str:
    """One word for a bundle from its legs' statuses: committed / aborted when every leg that ran
    agrees, pending while any is, "mixed" if legs disagree (which the protocol forbids: shown, not hidden)."""
    seen = {s for s in statuses.values() if s != "none"}
    if not seen:
        return "none"
    if "pending" in seen:
        return "pending"
    return seen.pop() if len(seen) == 1 else "mixed"


class MarginView:
    """A console source: the margin deployment's accounts, positions and bundles, read from the engines."""

    def __init__(self, desk: MarginDesk, accounts: Mapping[str, str], *, keep: int = 12, poll_s: float = 1.0) -> None:
        self.desk = desk
        self.d: MarginDeployment = desk.d
        self.accounts = {name: to_checksum_address(a) for name, a in accounts.items()}
        self.keep, self.poll_s = keep, poll_s
        self.scanned = {rid: 0 for rid in {self.d.rollup_of(b) for b in BITS}}
        self.bundles: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """Bundle id -> {kind, legs, txs {bit: tx}, outcome_txs}, newest last, at most `keep`."""
        self.positions: dict[int, dict[str, dict[str, Any]]] = {LEG_PERP: {}, LEG_OPTION: {}}
        """Venue bit -> open id -> the position as last read (dropped once closed)."""
        self.latest: dict[str, Any] = {}

    def _scan(self) -> None:
        by_address = {(self.d.rollup_of(b), self.d.contract_of(b).lower()): b for b in BITS}
        for rid in self.scanned:
            w3 = self.desk.engines[rid]
            head = int(w3.eth.block_number)
            if head <= self.scanned[rid]:
                continue
            addresses = [to_checksum_address(a) for (r, a) in by_address if r == rid]
            logs = w3.eth.get_logs({"fromBlock": self.scanned[rid] + 1, "toBlock": head, "address": addresses,
                                    "topics": [[PENDING_TOPIC, FINALIZED_TOPIC]]})
            for entry in logs:
                bit = by_address[(rid, str(entry["address"]).lower())]
                bid = "0x" + bytes(entry["topics"][1]).hex()
                tx = "0x" + bytes(entry["transactionHash"]).hex()
                topic = "0x" + bytes(entry["topics"][0]).hex()
                data = bytes(entry["data"])
                b = self.bundles.get(bid)
                if topic == PENDING_TOPIC:
                    legs, kind = int.from_bytes(data[0:32], "big"), int.from_bytes(data[32:64], "big")
                    if b is None:
                        b = self.bundles[bid] = {"kind": KINDS.get(kind, str(kind)), "legs": legs, "txs": {},
                                                 "outcome_txs": {}}
                    b["txs"][bit] = tx
                    if kind == 1 and bit in self.positions:
                        self.positions[bit][bid] = {}
                elif b is not None:
                    b["outcome_txs"][bit] = tx
            self.scanned[rid] = head
        while len(self.bundles) > self.keep:
            self.bundles.popitem(last=False)

    def refresh(self) -> dict[str, Any]:
        """Read the engines once; returns (and keeps) the view."""
        self._scan()
        d, desk = self.d, self.desk
        bundles, txs = [], {}
        for bid, b in reversed(self.bundles.items()):
            statuses = {bit: desk.status(bit, bytes.fromhex(bid[2:])) for bit in BITS if b["legs"] & bit}
            outcome = bundle_outcome(statuses)
            legs = [{"rollup": d.rollup_of(bit), "leg": {LEG_MARGIN: "margin", LEG_PERP: "perp",
                                                         LEG_OPTION: "option"}[bit],
                     "status": statuses[bit], "tx": b["txs"].get(bit)} for bit in statuses]
            bundles.append({"bundle_id": bid, "kind": b["kind"], "legs": legs, "outcome": outcome})
            for tx in b["txs"].values():
                txs[tx] = {"bundle_id": bid, "kind": b["kind"], "role": "leg", "outcome": outcome}
            for tx in b["outcome_txs"].values():
                txs[tx] = {"bundle_id": bid, "kind": b["kind"], "role": "outcome", "outcome": outcome}
        venues: dict[int, dict[str, list[dict[str, Any]]]] = {LEG_PERP: {}, LEG_OPTION: {}}
        for bit, known in self.positions.items():
            for oid in list(known):
                p = desk.position(bit, bytes.fromhex(oid[2:]))
                if p["state"] in (0, 4):  # never opened / closed: no longer shown
                    if p["state"] == 4:
                        del known[oid]
                    continue
                pnl = desk.pnl(bit, bytes.fromhex(oid[2:]))
                venues[bit].setdefault(to_checksum_address(p["trader"]), []).append({
                    "open_id": oid, "state": {1: "opening", 2: "open", 3: "closing"}[p["state"]],
                    "size": p["size"] / ONE, "entry": _tokens(p["entry_price"]), "margin": _tokens(p["margin"]),
                    "pnl": _tokens(pnl), **({"call": p["is_call"], "strike": _tokens(p["strike"])}
                                            if bit == LEG_OPTION else {})})
        accounts = []
        for name, a in self.accounts.items():
            collateral, reserved = desk.collateral(a), desk.reserved(a)
            accounts.append({"name": name, "address": a, "rollups": {
                str(d.margin_rollup): {"collateral": _tokens(collateral), "reserved": _tokens(reserved),
                                       "free": _tokens(collateral - reserved)},
                str(d.perp_rollup): {"positions": venues[LEG_PERP].get(a, [])},
                str(d.option_rollup): {"positions": venues[LEG_OPTION].get(a, [])}}})
        self.latest = {
            "rollups": {"margin": d.margin_rollup, "perp": d.perp_rollup, "option": d.option_rollup},
            "prices": {str(rid): _tokens(desk.price(rid)) for rid in sorted(d.oracles)},
            "accounts": accounts, "bundles": bundles, "txs": txs,
        }
        return self.latest

    def __call__(self) -> dict[str, Any]:
        return {"margin": self.latest} if self.latest else {}

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Refresh every `poll_s` in a worker thread until cancelled."""
        task_status.started(self)
        while True:
            try:
                await anyio.to_thread.run_sync(self.refresh)
            except Exception as exc:  # an engine briefly away; the console keeps the last view
                log.warning("margin view: refresh failed: %s", exc)
            await anyio.sleep(self.poll_s)
