"""The batcher's posting transaction lifecycle as a pure state machine (sans-IO, like windows.py).

The shell (batcher.py) reads the L1, hands the machine an `Observation`, and does what the returned
`Action` says; send outcomes come back through `after_send`. One posting is in flight at a time,
on one nonce; every transaction sent for that nonce (the first, fee bumps, rebroadcasts) is kept so
a receipt of any of them counts.

    fl = start(nonce, fees_for(market, blobs, margin), now, blobs)
    sign and send;  fl = after_send(fl, outcome, hash, fl.fees, now)
    loop:
        action, fl = step(fl, Observation(now, receipt, mined_nonce, known, market), rules)
        Mined / Reverted / NonceTaken  -> done (Reverted and NonceTaken: re-read the inbox)
        Bump(fees)   -> sign fl.nonce with `fees`, send;  fl = after_send(fl, outcome, hash, fees, now)
        Rebroadcast  -> send the last signed transaction again (the node dropped it)
        Wait         -> poll again

Transitions of `step`, first match wins (each has a row in tests/unit/l1/test_batcher_txlife.py):

    a receipt of one of our hashes, status 1      -> Mined
    a receipt of one of our hashes, status 0      -> Reverted
    the poster's mined nonce passed ours, no receipt:
        first seen                                -> Wait (taken_since = now; the node may count the
                                                     nonce before it serves the receipt: anvil under load)
        still no receipt after `receipt_grace_s`  -> NonceTaken (another transaction used the nonce)
    `bump_after_s` since the last send (or the
        last replacement was underpriced)         -> Bump(bump_fees(...))
    none of our hashes known to the node          -> Rebroadcast (dropped from the pool)
    otherwise                                     -> Wait

Fee bumps: +12.5% on both EIP-1559 fees (geth's pool wants +10% for a replacement) and at least the
market; a blob transaction doubles all three fees (geth's blob pool wants +100%). `max_fee` always
covers twice the tip. Send outcomes (`classify_send_error` maps a node's message): accepted or
"already known" -> recorded; "replacement transaction underpriced" -> bump again now; "nonce too
low" -> NonceTaken; "insufficient funds" -> OutOfFunds (the shell retries with backoff, the
posting stays in flight); anything else is raised by the shell.

After a posting is mined it stays `Unconfirmed` until `confirmations` blocks are on top; a receipt
that disappears or moves to another block before that means an L1 reorg dropped it
(`check_confirmations` -> reorged): the shell re-reads the inbox and posts again from what L1 says.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

BUMP_NUM, BUMP_DEN = 9, 8
"""Fee bump factor 1.125 for type-2 replacements (geth's txpool wants +10%; we give +12.5%)."""
BLOB_BUMP = 2
"""Blob transaction replacements double every fee (geth's blob pool wants +100%)."""


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees of one transaction, wei; `blob_fee` (max_fee_per_blob_gas) only for type 3."""

    max_fee: int
    tip: int
    blob_fee: int | None = None


@dataclass(frozen=True, slots=True)
class Market:
    """What the L1 asks now: base fee, suggested tip and (for blobs) blob base fee, wei."""

    base_fee: int
    tip: int
    blob_base_fee: int = 0


@dataclass(frozen=True, slots=True)
class Rules:
    """Timing of the lifecycle, seconds (BatcherConfig's bump_after_s and rpc_timeout_s)."""

    bump_after_s: float = 30.0
    receipt_grace_s: float = 5.0
    blob_fee_margin: float = 2.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """The parts of a transaction receipt the lifecycle needs."""

    tx_hash: str
    block: int
    status: int


@dataclass(frozen=True, slots=True)
class InFlight:
    """A posting transaction not yet mined: its nonce, current fees and every hash sent for it."""

    nonce: int
    fees: Fees
    sent: tuple[str, ...]
    last_sent_at: float
    blobs: bool
    taken_since: float | None = None
    bump_now: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the L1 for an in-flight posting."""

    now: float
    receipt: Receipt | None
    mined_nonce: int
    known: bool
    market: Market


class Kind(enum.Enum):
    WAIT = "wait"
    BUMP = "bump"
    REBROADCAST = "rebroadcast"
    MINED = "mined"
    REVERTED = "reverted"
    NONCE_TAKEN = "nonce_taken"


@dataclass(frozen=True, slots=True)
class Action:
    """What the shell does next; `fees` for BUMP, `receipt` for MINED / REVERTED."""

    kind: Kind
    fees: Fees | None = None
    receipt: Receipt | None = None


WAIT = Action(Kind.WAIT)


def fees_for(market: Market, blobs: bool, blob_fee_margin: float = 2.0) -> Fees:
    """First-send fees: max_fee = 2 x base fee + tip (survives six full blocks of base-fee rises)."""
    tip = max(market.tip, 1)
    blob_fee = max(1, math.ceil(market.blob_base_fee * blob_fee_margin)) if blobs else None
    return Fees(2 * market.base_fee + tip, tip, blob_fee)


def bump_fees(fees: Fees, market: Market, blobs: bool, blob_fee_margin: float = 2.0) -> Fees:
    """Replacement fees: the old ones x 1.125 (x 2 for blobs) plus one, and at least what the market asks."""
    num, den = (BLOB_BUMP, 1) if blobs else (BUMP_NUM, BUMP_DEN)
    fresh = fees_for(market, blobs, blob_fee_margin)
    tip = max(math.ceil(fees.tip * num / den) + 1, fresh.tip)
    max_fee = max(math.ceil(fees.max_fee * num / den) + 1, fresh.max_fee, 2 * tip)
    blob_fee = None
    if blobs:
        assert fees.blob_fee is not None and fresh.blob_fee is not None
        blob_fee = max(BLOB_BUMP * fees.blob_fee + 1, fresh.blob_fee)
    return Fees(max_fee, tip, blob_fee)


def start(nonce: int, fees: Fees, now: float, blobs: bool) -> InFlight:
    """A posting about to be sent for the first time (nothing sent yet)."""
    if blobs != (fees.blob_fee is not None):
        raise ValueError("a blob posting needs a blob fee, a calldata posting none")
    return InFlight(nonce, fees, (), now, blobs)


def step(fl: InFlight, obs: Observation, rules: Rules) -> tuple[Action, InFlight]:
    """The next action for an in-flight posting (the table in the module docstring)."""
    if obs.receipt is not None:
        kind = Kind.MINED if obs.receipt.status == 1 else Kind.REVERTED
        return Action(kind, receipt=obs.receipt), fl
    if obs.mined_nonce > fl.nonce:
        if fl.taken_since is None:
            return WAIT, replace(fl, taken_since=obs.now)
        if obs.now - fl.taken_since >= rules.receipt_grace_s:
            return Action(Kind.NONCE_TAKEN), fl
        return WAIT, fl
    fl = replace(fl, taken_since=None)  # the nonce is ours again (a reorg put it back): start over
    if fl.bump_now or obs.now - fl.last_sent_at >= rules.bump_after_s:
        return Action(Kind.BUMP, fees=bump_fees(fl.fees, obs.market, fl.blobs, rules.blob_fee_margin)), fl
    if fl.sent and not obs.known:
        return Action(Kind.REBROADCAST), fl
    return WAIT, fl


class SendOutcome(enum.Enum):
    ACCEPTED = "accepted"
    UNDERPRICED = "underpriced"
    NONCE_TOO_LOW = "nonce_too_low"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    OTHER = "other"


def classify_send_error(message: str) -> SendOutcome:
    """An eth_sendRawTransaction error by the wording geth, reth and anvil use."""
    msg = message.lower()
    if "already known" in msg or "already imported" in msg:
        return SendOutcome.ACCEPTED  # the node has this exact transaction
    if "underpriced" in msg:
        return SendOutcome.UNDERPRICED
    if "nonce too low" in msg or "nonce has already been used" in msg:
        return SendOutcome.NONCE_TOO_LOW
    if "insufficient funds" in msg:
        return SendOutcome.INSUFFICIENT_FUNDS
    return SendOutcome.OTHER


def after_send(fl: InFlight, outcome: SendOutcome, tx_hash: str, fees: Fees, now: float) -> InFlight:
    """The in-flight posting after a send of `tx_hash` with `fees` ended with `outcome`.

    Only an accepted transaction changes the fees and the bump clock: a refused replacement leaves
    the old transaction (and fees) in the pool; UNDERPRICED asks `step` for another bump at once."""
    if outcome is SendOutcome.ACCEPTED:
        sent = fl.sent if tx_hash in fl.sent else (*fl.sent, tx_hash)
        return replace(fl, fees=fees, sent=sent, last_sent_at=now, bump_now=False)
    if outcome is SendOutcome.UNDERPRICED:
        return replace(fl, fees=fees, bump_now=True)  # bump from the refused fees, so the next one is higher
    return fl


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A mined posting of ours with fewer than `confirmations` blocks on top."""

    tx_hash: str
    block: int


def check_confirmations(pending: Sequence[Unconfirmed], mined_in: Mapping[str, int | None], head: int,
                        confirmations: int) -> tuple[tuple[Unconfirmed, ...], bool]:
    """(still unconfirmed, reorged): `mined_in[h]` is the block the node now says `h` was mined in
    (None: no receipt). A posting that moved or vanished means an L1 reorg dropped it."""
    keep = []
    for p in pending:
        if mined_in.get(p.tx_hash) != p.block:
            return (), True
        if head - p.block < confirmations:
            keep.append(p)
    return tuple(keep), False
