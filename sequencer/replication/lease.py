"""The leader lease as a pure state machine (issue 12): no I/O, time is an input.

One key in a JetStream KV bucket whose max_age is the lease's TTL holds the leader's address. The
leader renews it by compare-and-set on its revision; the key vanishes TTL after the last write, and
then any replica may create it (create fails if it exists: one winner). The shell (replica.py) does
the KV calls this machine asks for and feeds back what came of them.

Safety does not rest on the lease: the log fences a deposed writer (jetstream_log.py). The lease
gives liveness (one replica tries to lead) and a bound on how long a cut-off leader goes on
believing it leads: until `sent + ttl - margin`, where `sent` is when it sent its last successful
renewal. The server starts the TTL when it stores the write, after it was sent, so by the time the
key can vanish and a follower take it, the old leader's own deadline has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Timings in ms. ttl: the bucket's max_age. renew: how often the leader renews. margin: how long
    before its lease could end a leader stops (clock rate differences, a slow renewal). poll: how
    often a follower reads the key."""

    ttl_ms: int = 1000
    renew_ms: int = 200
    margin_ms: int = 200
    poll_ms: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.renew_ms < self.ttl_ms - self.margin_ms:
            raise ValueError(f"lease: renew_ms ({self.renew_ms}) must be below ttl_ms - margin_ms "
                             f"({self.ttl_ms - self.margin_ms})")


class Role(Enum):
    FOLLOWER = "follower"
    LEADER = "leader"


class Action(Enum):
    """What the shell does next."""

    WAIT = "wait"
    OBSERVE = "observe"  # read the key
    ACQUIRE = "acquire"  # create the key with my address
    RENEW = "renew"  # update the key, expecting `revision`


@dataclass(frozen=True, slots=True)
class Lease:
    """`me`: this replica's address (the key's value when it leads). `leader`: the address the key
    last named (None: nobody). `revision`: the key's revision this replica wrote last (leader).
    `valid_until_ms`: the leader's own deadline. `next_ms`: when to act next."""

    me: str
    role: Role = Role.FOLLOWER
    leader: str | None = None
    revision: int = 0
    valid_until_ms: int = 0
    next_ms: int = 0
    hold_off_until_ms: int = 0
    """After stepping down on its own (its log write failed), a replica leaves the key alone until
    then: another, whose copy may be further on, should get the first chance."""


def tick(lease: Lease, now_ms: int, cfg: LeaseConfig) -> tuple[Lease, Action]:
    """The next action at `now_ms`. A leader past its deadline steps down before anything else."""
    if lease.role is Role.LEADER and now_ms >= lease.valid_until_ms:
        return replace(lease, role=Role.FOLLOWER, leader=None, next_ms=now_ms), Action.OBSERVE
    if now_ms < lease.next_ms:
        return lease, Action.WAIT
    if lease.role is Role.LEADER:
        return lease, Action.RENEW
    return lease, Action.OBSERVE


def observed(lease: Lease, holder: str | None, revision: int, now_ms: int, cfg: LeaseConfig) -> tuple[Lease, Action]:
    """The key read: its holder and revision, or None if there is no key (the lease lapsed or was
    never taken). A key still naming me (my deadline passed, a renewal was slow) is renewed by CAS on
    the revision just read: if it succeeds, nobody took the lease in between."""
    if holder == lease.me:
        return replace(lease, leader=holder, revision=revision), Action.RENEW
    if holder is None:
        if now_ms < lease.hold_off_until_ms:
            return replace(lease, leader=None, next_ms=now_ms + cfg.poll_ms), Action.WAIT
        return replace(lease, leader=None), Action.ACQUIRE
    if lease.role is Role.LEADER and holder != lease.me:
        return replace(lease, role=Role.FOLLOWER, leader=holder, next_ms=now_ms + cfg.poll_ms), Action.WAIT
    return replace(lease, leader=holder, next_ms=now_ms + cfg.poll_ms), Action.WAIT


def written(lease: Lease, revision: int, sent_ms: int, now_ms: int, cfg: LeaseConfig) -> Lease:
    """A create or renewal sent at `sent_ms` succeeded with `revision`: lead until sent + ttl - margin."""
    deadline = sent_ms + cfg.ttl_ms - cfg.margin_ms
    if deadline <= now_ms:  # it took so long that the lease may already be gone
        return replace(lease, role=Role.FOLLOWER, leader=None, next_ms=now_ms)
    return replace(lease, role=Role.LEADER, leader=lease.me, revision=revision, valid_until_ms=deadline,
                   next_ms=sent_ms + cfg.renew_ms)


def refused(lease: Lease, now_ms: int, cfg: LeaseConfig) -> Lease:
    """A create or renewal lost its compare-and-set: someone else holds the key now."""
    return replace(lease, role=Role.FOLLOWER, revision=0, next_ms=now_ms)


def failed(lease: Lease, now_ms: int, cfg: LeaseConfig) -> Lease:
    """A KV call failed (no quorum, timeout): try again soon; a leader keeps leading only until its
    deadline (`tick` enforces it)."""
    return replace(lease, next_ms=now_ms + cfg.poll_ms)


def resigned(lease: Lease, now_ms: int, cfg: LeaseConfig) -> Lease:
    """The node stopped leading on its own (its log refused a write): stop renewing and let the key
    lapse; stand back for one TTL so that a replica still in good standing takes it first."""
    return replace(lease, role=Role.FOLLOWER, leader=None, revision=0, next_ms=now_ms,
                   hold_off_until_ms=now_ms + cfg.ttl_ms)
