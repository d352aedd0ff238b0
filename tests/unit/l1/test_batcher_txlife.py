"""sequencer/l1/txlife.py: every transition of the posting lifecycle, as a table.

Each row is (name, in-flight state, observation, expected action kind, expected state change). The
rows are the module docstring's table; a protection removed from `step` (say the receipt grace, or
the rebroadcast of a dropped transaction) makes its row fail.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sequencer.l1.txlife import (
    BUMP_DEN,
    BUMP_NUM,
    Fees,
    InFlight,
    Kind,
    Market,
    Observation,
    Receipt,
    Rules,
    SendOutcome,
    Unconfirmed,
    after_send,
    bump_fees,
    check_confirmations,
    classify_send_error,
    fees_for,
    start,
    step,
)

RULES = Rules(bump_after_s=30.0, receipt_grace_s=5.0, blob_fee_margin=2.0)
MARKET = Market(base_fee=10, tip=2, blob_base_fee=3)
FEES = Fees(max_fee=22, tip=2)
SENT = InFlight(nonce=7, fees=FEES, sent=("0xa",), last_sent_at=100.0, blobs=False)
OK = Receipt("0xa", 50, 1)
FAILED = Receipt("0xa", 50, 0)


def obs(now: float = 101.0, receipt: Receipt | None = None, mined_nonce: int = 7, known: bool = True,
        market: Market = MARKET) -> Observation:
    return Observation(now, receipt, mined_nonce, known, market)


STEP_TABLE = [
    # name, state, observation, action kind, state afterwards (None: unchanged)
    ("mined", SENT, obs(receipt=OK), Kind.MINED, None),
    ("reverted", SENT, obs(receipt=FAILED), Kind.REVERTED, None),
    ("mined even while the nonce looks taken", replace(SENT, taken_since=90.0), obs(receipt=OK, mined_nonce=8),
     Kind.MINED, None),
    ("nonce passed: first sight waits for the receipt", SENT, obs(mined_nonce=8), Kind.WAIT,
     replace(SENT, taken_since=101.0)),
    ("nonce passed: within the grace it still waits", replace(SENT, taken_since=100.0), obs(104.9, mined_nonce=8),
     Kind.WAIT, None),
    ("nonce passed: after the grace another tx took it", replace(SENT, taken_since=100.0),
     obs(105.0, mined_nonce=8), Kind.NONCE_TAKEN, None),
    ("nonce back after a reorg: the taken clock resets", replace(SENT, taken_since=100.0), obs(104.0),
     Kind.WAIT, SENT),
    ("not mined for bump_after_s: bump", SENT, obs(130.0), Kind.BUMP, None),
    ("an underpriced replacement: bump at once", replace(SENT, bump_now=True), obs(101.0), Kind.BUMP, None),
    ("dropped from the pool: rebroadcast", SENT, obs(known=False), Kind.REBROADCAST, None),
    ("bump wins over rebroadcast (a dropped tx is re-sent with the new fees)", SENT, obs(130.0, known=False),
     Kind.BUMP, None),
    ("pending and known: wait", SENT, obs(), Kind.WAIT, None),
    ("nothing sent yet is never 'dropped'", replace(SENT, sent=()), obs(known=False), Kind.WAIT, None),
]


@pytest.mark.parametrize(("name", "state", "observation", "kind", "after"), STEP_TABLE, ids=[r[0] for r in STEP_TABLE])
def test_step(name: str, state: InFlight, observation: Observation, kind: Kind, after: InFlight | None) -> None:
    action, new = step(state, observation, RULES)
    assert action.kind is kind
    assert new == (after or state)
    if kind in (Kind.MINED, Kind.REVERTED):
        assert action.receipt == observation.receipt
    if kind is Kind.BUMP:
        assert action.fees == bump_fees(state.fees, observation.market, state.blobs)


BUMP_TABLE = [
    # name, old fees, market, blobs, expected
    ("+12.5% and one wei", Fees(800, 80), Market(0, 1), False, Fees(901, 91)),
    ("at least the market", Fees(800, 80), Market(1000, 200), False, Fees(2200, 200)),
    ("max fee covers twice the tip", Fees(10, 80), Market(0, 1), False, Fees(182, 91)),
    ("blobs double all three", Fees(800, 80, 50), Market(0, 1, 1), True, Fees(1601, 161, 101)),
    ("blobs: at least the market's blob fee x margin", Fees(800, 80, 5), Market(0, 1, 100), True,
     Fees(1601, 161, 200)),
]


@pytest.mark.parametrize(("name", "old", "market", "blobs", "want"), BUMP_TABLE, ids=[r[0] for r in BUMP_TABLE])
def test_bump_fees(name: str, old: Fees, market: Market, blobs: bool, want: Fees) -> None:
    new = bump_fees(old, market, blobs)
    assert new == want
    # What the pools demand of a replacement: geth +10% (type 2), +100% (blobs).
    factor = 2 if blobs else 1.1
    assert new.tip >= old.tip * factor and new.max_fee >= old.max_fee * factor
    if blobs:
        assert new.blob_fee is not None and old.blob_fee is not None and new.blob_fee >= 2 * old.blob_fee


def test_first_fees() -> None:
    assert fees_for(Market(10, 2), False) == Fees(22, 2)
    assert fees_for(Market(10, 0), False) == Fees(21, 1)  # a zero tip is never sent
    assert fees_for(Market(10, 2, 3), True, 2.0) == Fees(22, 2, 6)
    assert fees_for(Market(10, 2, 0), True, 2.0).blob_fee == 1


def test_start_checks_the_blob_fee() -> None:
    assert start(3, Fees(1, 1), 0.0, False) == InFlight(3, Fees(1, 1), (), 0.0, False)
    with pytest.raises(ValueError):
        start(3, Fees(1, 1), 0.0, True)
    with pytest.raises(ValueError):
        start(3, Fees(1, 1, 1), 0.0, False)


SEND_TABLE = [
    # name, outcome, state afterwards
    ("accepted: recorded, fees and bump clock updated", SendOutcome.ACCEPTED,
     replace(SENT, fees=Fees(30, 3), sent=("0xa", "0xb"), last_sent_at=140.0)),
    ("underpriced: not recorded, bump again from the refused fees", SendOutcome.UNDERPRICED,
     replace(SENT, fees=Fees(30, 3), bump_now=True)),
    ("nonce too low: unchanged (the shell calls it taken)", SendOutcome.NONCE_TOO_LOW, SENT),
    ("insufficient funds: unchanged (the old tx stays in the pool)", SendOutcome.INSUFFICIENT_FUNDS, SENT),
]


@pytest.mark.parametrize(("name", "outcome", "want"), SEND_TABLE, ids=[r[0] for r in SEND_TABLE])
def test_after_send(name: str, outcome: SendOutcome, want: InFlight) -> None:
    assert after_send(SENT, outcome, "0xb", Fees(30, 3), 140.0) == want


def test_after_send_rebroadcast_keeps_one_hash_and_clears_the_bump_flag() -> None:
    fl = after_send(replace(SENT, bump_now=True), SendOutcome.ACCEPTED, "0xa", FEES, 120.0)
    assert fl.sent == ("0xa",) and not fl.bump_now and fl.last_sent_at == 120.0


def test_a_receipt_of_an_earlier_attempt_counts() -> None:
    fl = after_send(SENT, SendOutcome.ACCEPTED, "0xb", Fees(30, 3), 140.0)
    action, _ = step(fl, obs(141.0, receipt=Receipt("0xa", 60, 1)), RULES)
    assert action.kind is Kind.MINED and action.receipt is not None and action.receipt.tx_hash == "0xa"


@pytest.mark.parametrize(("message", "outcome"), [
    ("already known", SendOutcome.ACCEPTED),
    ("ALREADY_EXISTS: already imported", SendOutcome.ACCEPTED),
    ("replacement transaction underpriced", SendOutcome.UNDERPRICED),
    ("transaction underpriced: tip needed 1, tip permitted 0", SendOutcome.UNDERPRICED),
    ("nonce too low: next nonce 8, tx nonce 7", SendOutcome.NONCE_TOO_LOW),
    ("insufficient funds for gas * price + value", SendOutcome.INSUFFICIENT_FUNDS),
    ("intrinsic gas too low", SendOutcome.OTHER),
])
def test_classify_send_error(message: str, outcome: SendOutcome) -> None:
    assert classify_send_error(message) is outcome


def test_a_full_life_bump_then_mined() -> None:
    """Sent, not mined for bump_after_s, bumped twice (each >= 1.125x), then the second replacement mined."""
    fl = start(7, fees_for(MARKET, False), 0.0, False)
    fl = after_send(fl, SendOutcome.ACCEPTED, "0x1", fl.fees, 0.0)
    fees = [fl.fees]
    for t, h in ((30.0, "0x2"), (60.0, "0x3")):
        action, fl = step(fl, obs(t), RULES)
        assert action.kind is Kind.BUMP and action.fees is not None
        fl = after_send(fl, SendOutcome.ACCEPTED, h, action.fees, t)
        fees.append(fl.fees)
    assert all(b.max_fee >= a.max_fee * BUMP_NUM // BUMP_DEN for a, b in zip(fees, fees[1:], strict=False))
    assert step(fl, obs(61.0), RULES)[0].kind is Kind.WAIT
    action, _ = step(fl, obs(62.0, receipt=Receipt("0x3", 9, 1)), RULES)
    assert action.kind is Kind.MINED and fl.sent == ("0x1", "0x2", "0x3")


CONFIRM_TABLE = [
    # name, pending, node says mined in, head, confirmations, expected (kept, reorged)
    ("deep enough: dropped from the watch", [Unconfirmed("0xa", 10)], {"0xa": 10}, 12, 2, ((), False)),
    ("not deep enough: kept", [Unconfirmed("0xa", 10)], {"0xa": 10}, 11, 2, ((Unconfirmed("0xa", 10),), False)),
    ("receipt gone: reorged", [Unconfirmed("0xa", 10)], {"0xa": None}, 11, 2, ((), True)),
    ("re-mined in another block: reorged", [Unconfirmed("0xa", 10)], {"0xa": 11}, 11, 2, ((), True)),
    ("one of two reorged: all forgotten", [Unconfirmed("0xa", 10), Unconfirmed("0xb", 11)],
     {"0xa": 10, "0xb": None}, 11, 3, ((), True)),
    ("no confirmations wanted: nothing kept", [Unconfirmed("0xa", 10)], {"0xa": 10}, 10, 0, ((), False)),
]


@pytest.mark.parametrize(("name", "pending", "mined_in", "head", "confirmations", "want"), CONFIRM_TABLE,
                         ids=[r[0] for r in CONFIRM_TABLE])
def test_check_confirmations(name: str, pending: list[Unconfirmed], mined_in: dict, head: int, confirmations: int,
                             want: tuple) -> None:
    assert check_confirmations(pending, mined_in, head, confirmations) == want
