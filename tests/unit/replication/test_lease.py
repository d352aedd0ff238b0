"""The lease machine (sequencer/replication/lease.py), sans IO: time is an input (issue 12)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequencer.replication import lease as lm

CFG = lm.LeaseConfig(ttl_ms=1000, renew_ms=200, margin_ms=200, poll_ms=50)


def leader_at(sent: int, revision: int = 1) -> lm.Lease:
    f, action = lm.observed(lm.Lease("a:1"), None, 0, sent, CFG)
    assert action is lm.Action.ACQUIRE
    return lm.written(f, revision, sent, sent + 5, CFG)


def test_absent_key_is_acquired_and_held_until_sent_plus_ttl_minus_margin() -> None:
    s = leader_at(10_000)
    assert s.role is lm.Role.LEADER and s.leader == "a:1" and s.valid_until_ms == 10_800
    assert lm.tick(s, 10_100, CFG) == (s, lm.Action.WAIT)
    assert lm.tick(s, 10_200, CFG)[1] is lm.Action.RENEW


def test_a_leader_that_cannot_renew_stops_at_its_deadline() -> None:
    s = leader_at(10_000)
    s = lm.failed(s, 10_300, CFG)  # the KV did not answer
    assert lm.tick(s, 10_799, CFG)[0].role is lm.Role.LEADER
    down, action = lm.tick(s, 10_800, CFG)
    assert down.role is lm.Role.FOLLOWER and action is lm.Action.OBSERVE


@given(st.integers(0, 10**12), st.integers(0, 5_000))
def test_a_cut_off_leader_stops_before_its_key_can_vanish(sent: int, store_delay: int) -> None:
    """The server stores the write at sent + store_delay and drops it ttl later; a follower can take
    the lease only after that. The old leader's own deadline is always earlier."""
    s = leader_at(sent)
    expires = sent + store_delay + CFG.ttl_ms
    assert lm.tick(s, expires, CFG)[0].role is lm.Role.FOLLOWER


def test_a_renewal_that_came_back_too_late_does_not_lead() -> None:
    s = leader_at(10_000)
    late = lm.written(s, 2, 10_200, 11_000, CFG)  # sent at 10.2 s, answered after its deadline
    assert late.role is lm.Role.FOLLOWER


def test_losing_the_cas_or_seeing_another_holder_follows_it() -> None:
    s = leader_at(10_000)
    assert lm.refused(s, 10_200, CFG).role is lm.Role.FOLLOWER
    other, action = lm.observed(s, "b:2", 7, 10_250, CFG)
    assert other.role is lm.Role.FOLLOWER and other.leader == "b:2" and action is lm.Action.WAIT
    f = lm.Lease("c:3")
    seen, action = lm.observed(f, "b:2", 7, 0, CFG)
    assert seen.leader == "b:2" and seen.role is lm.Role.FOLLOWER and action is lm.Action.WAIT


def test_a_key_still_naming_me_is_renewed_by_cas_on_the_read_revision() -> None:
    s = lm.tick(leader_at(10_000), 10_800, CFG)[0]  # past its deadline: following
    again, action = lm.observed(s, "a:1", 9, 10_810, CFG)
    assert action is lm.Action.RENEW and again.revision == 9


def test_after_resigning_a_replica_stands_back_one_ttl() -> None:
    s = lm.resigned(leader_at(10_000), 10_300, CFG)
    assert s.role is lm.Role.FOLLOWER
    assert lm.observed(s, None, 0, 11_299, CFG)[1] is lm.Action.WAIT
    assert lm.observed(s, None, 0, 11_300, CFG)[1] is lm.Action.ACQUIRE


def test_config_refuses_a_renewal_slower_than_the_lease() -> None:
    with pytest.raises(ValueError, match="renew_ms"):
        lm.LeaseConfig(ttl_ms=1000, renew_ms=900, margin_ms=200)
