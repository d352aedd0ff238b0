"""SequencerKeys: the key history the inbox (canSign) and the bond (accountable) read. Keys are added
with a first height not below the firm height and an activation delay, retired (never deleted), and
stay accountable for a challenge period; the history never shrinks."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from contracts import load_artifact
from sequencer.core.signing import Signer

ZERO = "0x" + "00" * 20


@pytest.fixture(autouse=True)
def fresh_chain(l1):
    snap = l1.snapshot()
    yield
    l1.revert_to(snap)


def new_signer(l1, seed: int) -> Signer:
    return Signer(bytes([seed]) * 32, l1.sequencer.domain)


def addr(s: Signer) -> str:
    return to_checksum_address(s.address)


def test_genesis_key_signs_from_height_zero_at_once(l1):
    k = l1.keys.functions
    seq = addr(l1.sequencer)
    assert k.keys().call() == [seq]
    assert k.canSign(seq, 0, 10).call() and k.accountable(seq, 0).call()
    first, added, active, retired, _rh, until = k.keyInfo(seq).call()
    assert (first, retired, until) == (0, 0, 0) and active == added
    assert k.liveKeys().call() == 1 and not k.settled().call()
    assert k.inbox().call() == l1.inbox.address
    assert not k.canSign(seq, 5, 4).call()  # an empty range is no window


def test_added_key_is_accountable_at_once_signs_windows_only_after_the_delay(l1):
    k = l1.keys.functions
    l1.ok(l1.post(l1.build(3)), l1.poster)
    nxt = l1.inbox.functions.nextHeight().call()
    assert nxt == 3
    fresh = new_signer(l1, 0x41)
    # A key cannot claim heights that are already firm.
    assert l1.revert(k.addKey(addr(fresh), nxt - 1), l1.owner.address) == "FirstHeightBelowFirm"
    assert l1.revert(k.addKey(addr(fresh), nxt), l1.outsider.address) == "NotOwner"
    assert l1.revert(k.addKey(ZERO, nxt), l1.owner.address) == "ZeroKey"
    r = l1.ok(k.addKey(addr(fresh), nxt), l1.owner)
    ev = l1.keys.events.KeyAdded().process_receipt(r)[0]["args"]
    delay = k.activationDelay().call()
    assert (ev["key"], ev["firstHeight"], ev["activeFrom"]) == (addr(fresh), nxt, r["blockNumber"] + delay)
    assert k.accountable(addr(fresh), nxt).call() and not k.accountable(addr(fresh), nxt - 1).call()
    assert not k.canSign(addr(fresh), nxt, nxt).call()
    # The inbox refuses its window until the delay has passed, then accepts it.
    p = l1.build(2, signer=fresh)
    assert l1.revert(l1.post(p), l1.poster.address) == "UnknownSigner"
    l1.mine(delay)
    assert k.canSign(addr(fresh), nxt, nxt + 1).call()
    p = l1.build(2, signer=fresh)
    l1.ok(l1.post(p), l1.poster)
    assert l1.revert(k.addKey(addr(fresh), nxt + 10), l1.owner.address) == "KeyAlreadyRegistered"


def test_retired_key_stops_signing_at_once_and_stays_accountable_for_the_period(l1):
    k = l1.keys.functions
    seq = addr(l1.sequencer)
    l1.ok(l1.post(l1.build(2)), l1.poster)
    assert l1.revert(k.retireKey(seq), l1.outsider.address) == "NotOwner"
    assert l1.revert(k.retireKey(addr(new_signer(l1, 0x42))), l1.owner.address) == "UnknownKey"
    r = l1.ok(k.retireKey(seq), l1.owner)
    ev = l1.keys.events.KeyRetired().process_receipt(r)[0]["args"]
    period = k.challengePeriod().call()
    assert (ev["retiredAt"], ev["retiredHeight"], ev["accountableUntil"]) == \
        (r["blockNumber"], 2, r["blockNumber"] + period)
    assert not k.canSign(seq, 2, 2).call()
    assert l1.revert(l1.post(l1.build(1)), l1.poster.address) == "UnknownSigner"
    # Heights above the retirement height stay accountable: soft headers it signed before retiring are
    # exactly what narrowing would hide.
    assert k.accountable(seq, 0).call() and k.accountable(seq, 10**9).call()
    assert l1.revert(k.retireKey(seq), l1.owner.address) == "KeyAlreadyRetired"
    assert l1.revert(k.addKey(seq, 5), l1.owner.address) == "KeyAlreadyRegistered"
    l1.mine(period)  # views run at the latest block: retiredAt + period, the last accountable one
    assert k.accountable(seq, 1).call() and not k.settled().call()
    l1.mine(1)
    assert not k.accountable(seq, 1).call() and k.settled().call()
    assert k.keys().call() == [seq]  # history never shrinks
    assert k.liveKeys().call() == 0


def test_settled_waits_for_the_latest_challenge_period(l1):
    k = l1.keys.functions
    a, b = addr(l1.sequencer), addr(new_signer(l1, 0x43))
    l1.ok(k.addKey(b, 0), l1.owner)
    l1.ok(k.retireKey(b), l1.owner)
    l1.mine(20)
    l1.ok(k.retireKey(a), l1.owner)
    l1.mine(k.challengePeriod().call() - 10)
    assert not k.accountable(b, 0).call() and k.accountable(a, 0).call()
    assert not k.settled().call()
    l1.mine(11)
    assert k.settled().call()
    assert k.keys().call() == [a, b]


def test_set_inbox_once_and_keys_without_inbox(l1):
    assert l1.revert(l1.keys.functions.setInbox(l1.outsider.address), l1.owner.address) == "InboxAlreadySet"
    # A registry deployed without its inbox cannot add keys (the firm height is unknown).
    art = load_artifact("SequencerKeys")
    factory = l1.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = l1.transact(factory.constructor(l1.owner.address, ZERO, 1, 100), l1.owner)
    other = l1.w3.eth.contract(address=r["contractAddress"], abi=art["abi"])
    assert other.functions.keys().call() == [] and other.functions.settled().call()  # no key, nothing to prove
    assert l1.revert(other.functions.addKey(l1.outsider.address, 0), l1.owner.address) == "InboxNotSet"
    assert l1.revert(other.functions.setInbox(ZERO), l1.owner.address) == "ZeroInbox"
    assert l1.revert(other.functions.setInbox(l1.inbox.address), l1.outsider.address) == "NotOwner"


@pytest.mark.parametrize(("delay", "period", "error"), [
    (0, 100, "ActivationDelayOutOfRange"), (50_401, 100, "ActivationDelayOutOfRange"),
    (1, 99, "ChallengePeriodOutOfRange"), (1, 1_000_001, "ChallengePeriodOutOfRange"), (1, 100, None),
    (50_400, 1_000_000, None),
])
def test_constructor_bounds(l1, delay, period, error):
    assert l1.deploy_revert("SequencerKeys", l1.owner.address, l1.owner.address, delay, period) == error
