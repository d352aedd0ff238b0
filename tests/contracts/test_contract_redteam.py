"""Outside red-team review of issue 8 (docs/settlement.md), played against a real anvil. Each test
is an attack that succeeded on the contracts as first delivered; it now fails with the named revert.
The docstring names the protection: remove it and the attack goes through again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sequencer.core.window import rollups_hash

FORCE_TX = b"\x02forced-by-a-censored-user"


@pytest.fixture(autouse=True)
def fresh_chain(l1):
    snap = l1.snapshot()
    yield
    l1.revert_to(snap)


def _now_ms(l1) -> int:
    return l1.w3.eth.get_block("latest")["timestamp"] * 1000


def test_stale_clock_sequencer_cannot_censor_forced_entries_with_catch_up_windows(l1):
    """The attack: the sequencer signs its blocks with timestamps just over catchUpAfterMs behind L1
    time, so every window it posts is a *catch-up* window, whose origin need only be real and never go
    back. It keeps the origin frozen below a user's enqueue block forever: forcedTo stays 0 however
    long the entry has waited, and its chain looks merely a few minutes slow.

    The protection: the inbox records each entry's L1 timestamp, and a catch-up window must apply
    every entry enqueued catchUpAfterMs or more before its own last timestamp (ForcedEntryDue). A
    censor must then freeze its chain's clock before the entry's time, for as long as it censors."""
    inbox, poster = l1.inbox.functions, l1.poster.address
    lag, catch_up = inbox.maxOriginLag().call(), inbox.catchUpAfterMs().call()
    l1.ok(l1.post(l1.build(1, (902,))), l1.poster)
    frozen = l1.origin()  # the origin the censor will never move past
    l1.mine(2)
    rc = l1.ok(inbox.enqueueForced(902, FORCE_TX), l1.outsider)
    enq_block = rc["blockNumber"]
    enq_ms = l1.w3.eth.get_block(enq_block)["timestamp"] * 1000
    assert frozen[0] < enq_block
    # Long past the entry's deadline, in L1 blocks and in time.
    l1.w3.provider.make_request("evm_increaseTime", [3 * catch_up // 1000])
    l1.mine(lag + 5)
    assert inbox.forcedCountAt(902, l1.head() - 1).call() == 1
    # A live window must apply it (the lag bound), so the censor posts a catch-up one instead, its last
    # block just over catchUpAfterMs old and well after the enqueue.
    stale_ts = _now_ms(l1) - catch_up - 20_000
    assert stale_ts >= enq_ms + catch_up
    censor = l1.build(1, (902,), origin=frozen, first_ts=stale_ts)
    assert censor.forced_to == (0,)
    assert not inbox.isLive(censor.window.last_timestamp_ms).call()
    assert l1.revert(l1.post(censor), poster) == "ForcedEntryDue"
    # Giving the right forcedTo for the frozen origin changes nothing; moving the origin to the enqueue
    # block (the honest window) applies the entry and posts.
    honest = l1.build(1, (902,), origin=(enq_block, l1.block_hash_at(enq_block)), first_ts=stale_ts)
    assert honest.forced_to == (1,)
    l1.ok(l1.post(honest), l1.poster)
    assert inbox.forcedTo(902).call() == 1


def test_honest_catch_up_window_before_the_entry_is_still_accepted(l1):
    """The rule binds only entries older than the window's own clock by catchUpAfterMs: blocks sealed
    before an outage (or before the entry) still catch up with their real, older origin."""
    inbox = l1.inbox.functions
    lag, catch_up = inbox.maxOriginLag().call(), inbox.catchUpAfterMs().call()
    l1.ok(l1.post(l1.build(1, (902,))), l1.poster)
    origin = l1.origin()
    sealed_ms = max(inbox.lastTimestamp().call(), _now_ms(l1))
    l1.mine(1)
    l1.ok(inbox.enqueueForced(902, FORCE_TX), l1.outsider)
    l1.w3.provider.make_request("evm_increaseTime", [3 * catch_up // 1000])
    l1.mine(lag + 5)
    old = l1.build(1, (902,), origin=origin, first_ts=sealed_ms)
    assert old.forced_to == (0,) and not inbox.isLive(old.window.last_timestamp_ms).call()
    l1.ok(l1.post(old), l1.poster)


# ---------------------------------------------------------------------------- slashing


def _equivocation(l1, height: int):
    """proveEquivocation of two different headers the sequencer signed at `height`."""
    a, _ = l1.make_headers(height, b"\x01" * 32, 1)[0]
    b = replace(a, timestamp_ms=a.timestamp_ms + 1)
    s = l1.sequencer
    return l1.bond.functions.proveEquivocation(l1.htuple(a), s.sign_header(a), l1.htuple(b), s.sign_header(b))


def test_offence_ids_cannot_be_burnt_in_advance_with_a_dust_bond(l1):
    """The attack: an equivocation is one offence per height, punished once. With (nearly) nothing at
    stake (a fresh deployment with bond_wei = 0, or right after a slash) the operator deposits 1 wei
    and reports its own equivocation at a height far ahead, losing the 1 wei. It then deposits the
    real bond, and when that height comes it shows one header to a victim and makes another firm: the
    honest reporter's proof reverts AlreadyPunished and the bond stays.

    The protection: a slash takes at least minimumBond (BondBelowMinimum below it), so an offence id
    is never spent for less than the bond the inbox requires, and an offence proven while less is at
    stake stays provable until a real bond is."""
    bond, outsider = l1.bond.functions, l1.outsider
    minimum = bond.minimumBond().call()
    # Start with nothing at stake (the deployed bond slashed away by an unrelated offence).
    l1.report(_equivocation(l1, 40_000), outsider)
    assert bond.bond().call() == 0
    l1.ok(bond.deposit(), l1.owner, value=1)
    planned = 1_000_000
    assert l1.report_revert(_equivocation(l1, planned), l1.owner) == "BondBelowMinimum"
    # Real money goes in; the lie at the planned height is still punished.
    l1.ok(bond.deposit(), l1.owner, value=10 * minimum)
    rc = l1.report(_equivocation(l1, planned), outsider)
    slashed = l1.bond.events.Slashed().process_receipt(rc)[0]["args"]
    assert slashed["reporter"] == outsider.address and bond.bond().call() == 0
    assert slashed["reward"] + slashed["burnt"] == 10 * minimum + 1


# ---------------------------------------------------------------------------- held: Python and Solidity agree


def test_python_and_solidity_agree_on_empty_and_extreme_rollup_lists(l1):
    """A disagreement on rollupsHash would let a window the firm node accepts be refused on L1, or the
    reverse. Empty arrays (a posting with no rollups) and extreme ids/values encode the same in both."""
    inbox = l1.inbox.functions
    cases = [([], [], []), ([1], [b"\x00" * 32], [0]), ([2**64 - 1], [b"\xff" * 32], [2**64 - 1]),
             ([1, 2**63, 2**64 - 1], [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32], [0, 1, 2**64 - 1])]
    for ids, hashes, forced in cases:
        assert bytes(inbox.rollupsHash(ids, hashes, forced).call()) == rollups_hash(ids, hashes, forced)
