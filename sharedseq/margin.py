"""Cross-rollup margin bundles: build, sign and read them (docs/margin.md).

A trader posts collateral once, in the MarginAccount on the margin rollup, and opens a hedged
position - a perp on one venue rollup, an option on another - in one bundle whose legs are
*conditional*: each records its effect as pending under the bundle id, and the sequencer's signed
BundleOutcome(bundleId, commit) finalises or refunds every leg. The bundle id is the hash of the
intent, so every leg binds the same numbers (contracts/margin/MarginCore.sol, `Intents`):

    bundleId = keccak256(abi.encode(TAG, intent))       TAG = keccak256("sharedseq.margin.open") ...

    desk   = MarginDesk(deployment, engines, submit_bundle=client.submit_bundle)   # sharedseq.client.Client
    intent = desk.open_intent(trader, nonce, perp_size=..., opt_size=...)  # margins from the venues' rules
    desk.submit(account, intent)                          # one signed leg per rollup, as one bundle
    desk.wait_outcome(intent.bundle_id, intent.legs)      # "committed" | "aborted"

Pure helpers (ids, calldata, outcome digests) need no network; `MarginDesk` reads the rollups'
engines over JSON-RPC and signs transactions locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any, Literal

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from sequencer.errors import SharedSeqError

LEG_MARGIN, LEG_PERP, LEG_OPTION = 1, 2, 4
"""Leg bits of a bundle (MarginLib.LEG_*): which rollups' contracts take part."""
ONE = 10**18
"""Fixed point of prices and sizes (MarginLib.ONE)."""
BPS = 10_000

OPEN_TAG = keccak(b"sharedseq.margin.open")
CLOSE_TAG = keccak(b"sharedseq.margin.close")
LIQUIDATE_TAG = keccak(b"sharedseq.margin.liquidate")
OUTCOME_TYPE = b"BundleOutcome(bytes32 bundleId,bool commit)"
OUTCOME_TYPEHASH = keccak(OUTCOME_TYPE)

_OPEN_T = "(bytes32,address,uint64,uint8,int256,uint256,bool,uint256,int256,uint256)"
_CLOSE_T = "(bytes32,address,uint64,uint8,bytes32,int256,int256)"
_LIQ_T = "(bytes32,address,address,uint64,uint8,bytes32,int256,int256,uint256,uint256)"

Outcome = Literal["pending", "committed", "aborted"]
STATUS_NAMES: dict[int, str] = {0: "none", 1: "pending", 2: "committed", 3: "aborted"}
"""Conditional.Status as the contracts number it."""


@dataclass(frozen=True, slots=True)
class OpenIntent:
    """MarginCore.sol `OpenIntent`: reserve perp_margin + opt_margin, open a perp and an option.
    `deployment` (in every intent) is the deployment id its contracts were built with."""

    deployment: bytes
    trader: str
    nonce: int
    legs: int
    perp_size: int
    perp_margin: int
    opt_is_call: bool
    opt_strike: int
    opt_size: int
    opt_margin: int

    @property
    def bundle_id(self) -> bytes:
        return keccak(abi_encode(["bytes32", _OPEN_T], [OPEN_TAG, astuple(self)]))

    @property
    def margin(self) -> int:
        return self.perp_margin + self.opt_margin


@dataclass(frozen=True, slots=True)
class CloseIntent:
    """MarginCore.sol `CloseIntent`: close position `open_id` at the PnL every venue computes."""

    deployment: bytes
    trader: str
    nonce: int
    legs: int
    open_id: bytes
    perp_pnl: int
    opt_pnl: int

    @property
    def bundle_id(self) -> bytes:
        return keccak(abi_encode(["bytes32", _CLOSE_T], [CLOSE_TAG, astuple(self)]))


@dataclass(frozen=True, slots=True)
class LiquidationIntent:
    """MarginCore.sol `LiquidationIntent`: a keeper closes `open_id` below maintenance."""

    deployment: bytes
    keeper: str
    trader: str
    nonce: int
    legs: int
    open_id: bytes
    perp_pnl: int
    opt_pnl: int
    perp_mm: int
    opt_mm: int

    @property
    def bundle_id(self) -> bytes:
        return keccak(abi_encode(["bytes32", _LIQ_T], [LIQUIDATE_TAG, astuple(self)]))


Intent = OpenIntent | CloseIntent | LiquidationIntent


def calldata(signature: str, types: Sequence[str], values: Sequence[Any]) -> bytes:
    """ABI calldata: 4-byte selector of `signature` ++ abi.encode(values)."""
    return function_signature_to_4byte_selector(signature) + abi_encode(list(types), list(values))


def outcome_struct_hash(bundle_id: bytes, commit: bool) -> bytes:
    """hashStruct(BundleOutcome(bundleId, commit)), signed by the sequencer under its EIP-712 domain."""
    if len(bundle_id) != 32:
        raise ValueError(f"bundle id must be 32 bytes, got {len(bundle_id)}")
    return keccak(OUTCOME_TYPEHASH + bundle_id + int(commit).to_bytes(32, "big"))


def finalize_calldata(bundle_id: bytes, commit: bool, signature: bytes) -> bytes:
    return calldata("finalize(bytes32,bool,bytes)", ["bytes32", "bool", "bytes"], [bundle_id, commit, signature])


def abort_expired_calldata(bundle_id: bytes) -> bytes:
    return calldata("abortExpired(bytes32)", ["bytes32"], [bundle_id])


def leg_calls(intent: Intent) -> dict[int, bytes]:
    """{leg bit: calldata} of every leg of `intent` (to the MarginAccount, PerpMarket, OptionsMarket)."""
    if isinstance(intent, OpenIntent):
        t, v = [_OPEN_T], [astuple(intent)]
        names = {LEG_MARGIN: "reserveOpen", LEG_PERP: "open", LEG_OPTION: "open"}
    elif isinstance(intent, CloseIntent):
        t, v = [_CLOSE_T], [astuple(intent)]
        names = {LEG_MARGIN: "settleClose", LEG_PERP: "close", LEG_OPTION: "close"}
    else:
        t, v = [_LIQ_T], [astuple(intent)]
        names = {LEG_MARGIN: "liquidate", LEG_PERP: "liquidate", LEG_OPTION: "liquidate"}
    return {bit: calldata(f"{names[bit]}({t[0]})", t, v) for bit in (LEG_MARGIN, LEG_PERP, LEG_OPTION)
            if intent.legs & bit}


# ------------------------------------------------------------------------------- the venues' rules


def perp_initial_margin(size: int, price: int, im_bps: int) -> int:
    """PerpMarket: imBps of |size| * price."""
    return abs(size) * price // ONE * im_bps // BPS


def option_intrinsic(is_call: bool, strike: int, price: int) -> int:
    return max(price - strike, 0) if is_call else max(strike - price, 0)


def option_initial_margin(is_call: bool, strike: int, size: int, price: int, im_bps: int, time_value_bps: int) -> int:
    """OptionsMarket: a bought option's premium; a written one, intrinsic + imBps of the price, per unit."""
    intrinsic = option_intrinsic(is_call, strike, price)
    per_unit = intrinsic + price * time_value_bps // BPS if size > 0 else intrinsic + price * im_bps // BPS
    return abs(size) * per_unit // ONE


# ------------------------------------------------------------------------------- deployment record


@dataclass(frozen=True, slots=True)
class MarginDeployment:
    """Where the margin contracts live (deploy/margin.py writes it into the manifest's `margin`)."""

    l1_chain_id: int
    inbox: str
    sequencer: str
    """The sequencer key at deployment (the mirrors' genesis key); the keys accepted now are in `key_mirrors`."""
    margin_rollup: int
    perp_rollup: int
    option_rollup: int
    token: str
    margin_account: str
    perp_market: str
    options_market: str
    oracles: Mapping[int, str]
    house: str
    keeper: str
    deployment_id: str
    """0x-hex bytes32 every contract of this deployment checks in every intent."""
    key_mirrors: Mapping[int, str] = field(default_factory=dict)
    """Rollup id -> its SequencerKeyMirror (the sequencer keys whose outcomes that rollup accepts)."""
    key_relayer: str = ""
    """Who may change the mirrors (the key manager, owner of SequencerKeys on L1)."""

    @property
    def deployment(self) -> bytes:
        return bytes.fromhex(self.deployment_id.removeprefix("0x"))

    def rollup_of(self, bit: int) -> int:
        return {LEG_MARGIN: self.margin_rollup, LEG_PERP: self.perp_rollup, LEG_OPTION: self.option_rollup}[bit]

    def contract_of(self, bit: int) -> str:
        return {LEG_MARGIN: self.margin_account, LEG_PERP: self.perp_market, LEG_OPTION: self.options_market}[bit]

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        d["oracles"] = {str(k): v for k, v in self.oracles.items()}
        d["key_mirrors"] = {str(k): v for k, v in self.key_mirrors.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MarginDeployment:
        args = dict(d)
        args["oracles"] = {int(k): v for k, v in d["oracles"].items()}
        args["key_mirrors"] = {int(k): v for k, v in d.get("key_mirrors", {}).items()}
        return cls(**args)


# ------------------------------------------------------------------------------- the desk (I/O)


class MarginError(SharedSeqError):
    """A margin operation could not be built or did not finish (names the step)."""


@dataclass
class RollupAccount:
    """A key that signs transactions on every rollup, with a nonce per rollup read once from the engine."""

    key: bytes
    nonces: dict[int, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(Account.from_key(self.key).address)

    def sign(self, rid: int, w3: Any, *, to: str | None, data: bytes, gas: int = 400_000, value: int = 0,
             legacy: bool = False) -> bytes:
        """A raw signed transaction for rollup `rid` (`legacy`: type 0, as zkEVM batches need)."""
        if rid not in self.nonces:
            self.nonces[rid] = int(w3.eth.get_transaction_count(self.address))
        tx: dict[str, Any] = {"nonce": self.nonces[rid], "gas": gas, "value": value, "data": data, "chainId": rid}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if legacy:
            tx["gasPrice"] = 3 * 10**9
        else:
            tx.update(type=2, maxFeePerGas=3 * 10**9, maxPriorityFeePerGas=10**9)
        self.nonces[rid] += 1
        return bytes(Account.sign_transaction(tx, self.key).raw_transaction)

    def resync(self) -> None:
        """Forget the nonces (after a refused transaction); they are read again from the engines."""
        self.nonces.clear()


class MarginDesk:
    """Builds margin bundles for one deployment and reads their state from the rollups' engines.

    `engines` maps each rollup id to a web3.Web3 on that rollup's execution engine;
    `submit_bundle(legs)` sends [(rollup id, raw tx)] through the sequencer as one bundle.
    """

    def __init__(self, deployment: MarginDeployment, engines: Mapping[int, Any],
                 submit_bundle: Callable[[list[tuple[int, bytes]]], Any],
                 legacy_rollups: Sequence[int] = (903,)) -> None:
        self.d = deployment
        self.engines = dict(engines)
        self.submit_bundle = submit_bundle
        self.legacy = frozenset(legacy_rollups)

    def sign(self, account: RollupAccount, rid: int, *, to: str | None, data: bytes, gas: int = 400_000) -> bytes:
        return account.sign(rid, self.engines[rid], to=to, data=data, gas=gas, legacy=rid in self.legacy)

    # reads ---------------------------------------------------------------------------------

    def call(self, rid: int, to: str, signature: str, types: Sequence[str] = (), values: Sequence[Any] = (),
             out: Sequence[str] = ("uint256",)) -> Any:
        from eth_abi import decode as abi_decode

        raw = self.engines[rid].eth.call({"to": to_checksum_address(to), "data": calldata(signature, types, values)})
        result = abi_decode(list(out), bytes(raw))
        return result[0] if len(out) == 1 else result

    def collateral(self, who: str) -> int:
        return int(self.call(self.d.margin_rollup, self.d.margin_account, "collateral(address)", ["address"], [who]))

    def reserved(self, who: str) -> int:
        return int(self.call(self.d.margin_rollup, self.d.margin_account, "reserved(address)", ["address"], [who]))

    def free(self, who: str) -> int:
        return int(self.call(self.d.margin_rollup, self.d.margin_account, "free(address)", ["address"], [who]))

    def token_balance(self, who: str) -> int:
        return int(self.call(self.d.margin_rollup, self.d.token, "balanceOf(address)", ["address"], [who]))

    def price(self, rid: int) -> int:
        return int(self.call(rid, self.d.oracles[rid], "price()"))

    def status(self, bit: int, bundle_id: bytes) -> str:
        st = self.call(self.d.rollup_of(bit), self.d.contract_of(bit), "status(bytes32)", ["bytes32"], [bundle_id],
                       out=["uint8"])
        return STATUS_NAMES[int(st)]

    def position(self, bit: int, open_id: bytes) -> dict[str, Any]:
        """A venue's position: state (0 none, 1 opening, 2 open, 3 closing, 4 closed), size, entry, margin."""
        out = ["address", "uint8", "bool", "int256", "uint256", "uint256", "uint256", "uint256"]
        v = self.call(self.d.rollup_of(bit), self.d.contract_of(bit), "positions(bytes32)", ["bytes32"], [open_id],
                      out=out)
        names = ("trader", "state", "is_call", "size", "entry_price", "margin", "strike", "premium")
        return dict(zip(names, v, strict=True))

    def pnl(self, bit: int, open_id: bytes) -> int:
        return int(self.call(self.d.rollup_of(bit), self.d.contract_of(bit), "pnlOf(bytes32)", ["bytes32"],
                             [open_id], out=["int256"]))

    def maintenance(self, bit: int, open_id: bytes) -> int:
        return int(self.call(self.d.rollup_of(bit), self.d.contract_of(bit), "maintenanceOf(bytes32)",
                             ["bytes32"], [open_id]))

    def committed_margin(self, bit: int, who: str) -> int:
        """A venue's margin of `who`'s open (or closing) positions (Venue.committedMargin)."""
        return int(self.call(self.d.rollup_of(bit), self.d.contract_of(bit), "committedMargin(address)",
                             ["address"], [who]))

    def key_is_current(self, rid: int, key: str) -> bool:
        """Whether rollup `rid`'s SequencerKeyMirror accepts outcomes signed by `key` now."""
        return bool(self.call(rid, self.d.key_mirrors[rid], "isCurrent(address)", ["address"],
                              [to_checksum_address(key)], out=["bool"]))

    def mirrored_keys(self, rid: int) -> dict[str, tuple[int, int]]:
        """{key: (activeFrom, retiredAt)} of every key rollup `rid`'s mirror holds (engine block numbers)."""
        a = self.d.key_mirrors[rid]
        keys = self.call(rid, a, "keys()", out=["address[]"])
        return {to_checksum_address(k): tuple(self.call(rid, a, "keyInfo(address)", ["address"], [k],
                                                        out=["(uint64,uint64)"]))
                for k in keys}

    def key_change_legs(self, relayer: RollupAccount, *, add: Sequence[str] = (), retire: Sequence[str] = (),
                        delay_blocks: int = 0, rollups: Sequence[int] | None = None) -> list[tuple[int, bytes]]:
        """The key relayer's mirror update: addKey / retireKey on the SequencerKeyMirror of every rollup
        (or of `rollups`), to be submitted as one bundle so every rollup switches keys at the same
        shared height."""
        calls = [calldata("addKey(address,uint64)", ["address", "uint64"], [to_checksum_address(k), delay_blocks])
                 for k in add]
        calls += [calldata("retireKey(address)", ["address"], [to_checksum_address(k)]) for k in retire]
        targets = sorted(self.d.key_mirrors) if rollups is None else list(rollups)
        return [(rid, self.sign(relayer, rid, to=self.d.key_mirrors[rid], data=data, gas=150_000))
                for rid in targets for data in calls]

    def venue_params(self, bit: int) -> tuple[int, int]:
        a = self.d.contract_of(bit)
        rid = self.d.rollup_of(bit)
        return int(self.call(rid, a, "initialMarginBps()")), int(self.call(rid, a, "maintenanceMarginBps()"))

    # intents -------------------------------------------------------------------------------

    def open_intent(self, trader: str, nonce: int, *, perp_size: int = 0, opt_size: int = 0, opt_is_call: bool = False,
                    opt_strike: int = 0, extra_margin: int = 0) -> OpenIntent:
        """An open intent with each venue's initial margin at its current oracle price (plus
        `extra_margin` on the perp leg, or the option leg if there is no perp)."""
        legs = LEG_MARGIN | (LEG_PERP if perp_size else 0) | (LEG_OPTION if opt_size else 0)
        perp_margin = opt_margin = 0
        if perp_size:
            im, _ = self.venue_params(LEG_PERP)
            perp_margin = perp_initial_margin(perp_size, self.price(self.d.perp_rollup), im) + extra_margin
        if opt_size:
            im, _ = self.venue_params(LEG_OPTION)
            tv = int(self.call(self.d.option_rollup, self.d.options_market, "timeValueBps()"))
            opt_margin = option_initial_margin(opt_is_call, opt_strike, opt_size, self.price(self.d.option_rollup),
                                               im, tv) + (0 if perp_size else extra_margin)
        return OpenIntent(self.d.deployment, to_checksum_address(trader), nonce, legs, perp_size, perp_margin,
                          opt_is_call, opt_strike,
                          opt_size, opt_margin)

    def close_intent(self, opened: OpenIntent, nonce: int) -> CloseIntent:
        """Close every leg of `opened` at the PnL its venue computes now."""
        oid = opened.bundle_id
        perp = self.pnl(LEG_PERP, oid) if opened.legs & LEG_PERP else 0
        opt = self.pnl(LEG_OPTION, oid) if opened.legs & LEG_OPTION else 0
        return CloseIntent(opened.deployment, opened.trader, nonce, opened.legs, oid, perp, opt)

    def liquidation_intent(self, keeper: str, opened: OpenIntent, nonce: int) -> LiquidationIntent:
        oid = opened.bundle_id
        p = opened.legs & LEG_PERP
        o = opened.legs & LEG_OPTION
        return LiquidationIntent(opened.deployment, to_checksum_address(keeper), opened.trader, nonce, opened.legs, oid,
                                 self.pnl(LEG_PERP, oid) if p else 0, self.pnl(LEG_OPTION, oid) if o else 0,
                                 self.maintenance(LEG_PERP, oid) if p else 0,
                                 self.maintenance(LEG_OPTION, oid) if o else 0)

    def equity(self, opened: OpenIntent) -> tuple[int, int]:
        """(reserved margin + PnL on every venue, the venues' total maintenance) of a position."""
        oid = opened.bundle_id
        eq, mm = opened.margin, 0
        for bit in (LEG_PERP, LEG_OPTION):
            if opened.legs & bit:
                eq += self.pnl(bit, oid)
                mm += self.maintenance(bit, oid)
        return eq, mm

    # transactions --------------------------------------------------------------------------

    def legs(self, account: RollupAccount, intent: Intent, *, gas: int = 400_000) -> list[tuple[int, bytes]]:
        """One signed transaction per leg of `intent`, each from `account` on its rollup."""
        out = []
        for bit, data in leg_calls(intent).items():
            rid = self.d.rollup_of(bit)
            out.append((rid, self.sign(account, rid, to=self.d.contract_of(bit), data=data, gas=gas)))
        return out

    def submit(self, account: RollupAccount, intent: Intent) -> Any:
        """Sign every leg of `intent` and hand them to `submit_bundle` as one bundle; returns what it returns."""
        return self.submit_bundle(self.legs(account, intent))

    def deposit_txs(self, account: RollupAccount, amount: int) -> list[tuple[int, bytes]]:
        """approve + deposit on the margin rollup (two transactions, in order)."""
        rid = self.d.margin_rollup
        return [
            (rid, self.sign(account, rid, to=self.d.token, gas=100_000,
                               data=calldata("approve(address,uint256)", ["address", "uint256"],
                                             [self.d.margin_account, amount]))),
            (rid, self.sign(account, rid, to=self.d.margin_account, gas=200_000,
                               data=calldata("deposit(uint256)", ["uint256"], [amount]))),
        ]

    def withdraw_tx(self, account: RollupAccount, amount: int) -> tuple[int, bytes]:
        rid = self.d.margin_rollup
        return rid, self.sign(account, rid, to=self.d.margin_account, gas=150_000,
                                 data=calldata("withdraw(uint256)", ["uint256"], [amount]))

    def price_legs(self, keeper: RollupAccount, round_: int, price: int) -> list[tuple[int, bytes]]:
        """The keeper's oracle update: one setPrice leg per rollup, submitted as one bundle so every
        rollup has the new price from the same shared height."""
        data = calldata("setPrice(uint64,uint256)", ["uint64", "uint256"], [round_, price])
        return [(rid, self.sign(keeper, rid, to=addr, data=data, gas=100_000))
                for rid, addr in sorted(self.d.oracles.items())]

    def abort_expired_tx(self, account: RollupAccount, bit: int, bundle_id: bytes) -> tuple[int, bytes]:
        rid = self.d.rollup_of(bit)
        return rid, self.sign(account, rid, to=self.d.contract_of(bit),
                                 data=abort_expired_calldata(bundle_id), gas=200_000)

    # waiting -------------------------------------------------------------------------------

    def wait_outcome(self, bundle_id: bytes, legs: int, timeout: float = 30.0,
                     present: Sequence[int] | None = None) -> Outcome:
        """Wait until every leg of the bundle that executed is committed or aborted on its rollup.

        `present`: the leg bits expected to have a pending record (default: every leg whose status
        is not "none" once any is final). Raises MarginError on a mix (which the protocol forbids)."""
        deadline = time.monotonic() + timeout
        bits = [b for b in (LEG_MARGIN, LEG_PERP, LEG_OPTION) if legs & b]
        while True:
            st = {b: self.status(b, bundle_id) for b in bits}
            seen = {b: s for b, s in st.items() if s != "none" and (present is None or b in present)}
            finals = set(seen.values())
            if seen and finals <= {"committed", "aborted"}:
                if len(finals) != 1:
                    raise MarginError(f"bundle 0x{bundle_id.hex()}: legs disagree: {st}")
                return "committed" if finals == {"committed"} else "aborted"
            if time.monotonic() > deadline:
                raise MarginError(f"bundle 0x{bundle_id.hex()}: no outcome within {timeout}s (legs {st})")
            time.sleep(0.1)
