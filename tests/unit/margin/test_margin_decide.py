"""sequencer/margin/decide.py: the coordinator's rule (docs/margin.md, "Deciding"), and the bundle ids
the SDK computes (they must be what the contracts compute; the integration tests check that on chain)."""

from __future__ import annotations

import random

from sequencer.margin import BundleState, LegRecord, decide
from sharedseq.margin import LEG_MARGIN, LEG_OPTION, LEG_PERP, CloseIntent, OpenIntent

ROLLUP_OF = {LEG_MARGIN: 901, LEG_PERP: 902, LEG_OPTION: 903}
ALL = LEG_MARGIN | LEG_PERP | LEG_OPTION
BID = b"\x01" * 32


def leg(bit: int, block: int = 10, ts: int = 100) -> LegRecord:
    return LegRecord(bit, ROLLUP_OF[bit], block, ts)


def run(state: BundleState, heads: dict[int, int] | None = None, ts: int = 100, decided: bool | None = None):
    heads = heads or {901: 10, 902: 10, 903: 10}
    return decide(state, head_block=heads, head_ts={r: ts for r in heads}, rollup_of=ROLLUP_OF, timeout_blocks=20,
                  grace_s=2, safety_blocks=3, decided=decided)


def test_commit_only_when_every_leg_is_pending() -> None:
    full = BundleState(BID, ALL, {b: leg(b) for b in (1, 2, 4)})
    d = run(full)
    assert d is not None and d.commit and d.bits == (1, 2, 4)
    partial = BundleState(BID, ALL, {1: leg(1), 2: leg(2)})
    assert run(partial, ts=101) is None  # the missing leg's rollup may not have executed yet
    d = run(partial, ts=102)
    assert d is not None and not d.commit and d.bits == (1, 2)  # abort only the legs that exist


def test_too_close_to_the_timeout_aborts_and_foreign_finalisation_aborts() -> None:
    full = BundleState(BID, ALL, {b: leg(b) for b in (1, 2, 4)})
    d = run(full, heads={901: 28, 902: 10, 903: 10})
    assert d is not None and not d.commit
    expired_one = BundleState(BID, ALL, {b: leg(b) for b in (1, 2, 4)}, frozenset({4}))
    d = run(expired_one)
    assert d is not None and not d.commit and d.bits == (1, 2)


def test_a_decision_never_changes() -> None:
    rng = random.Random(11)
    for _ in range(300):
        pending = {b: leg(b, rng.randrange(1, 30), rng.randrange(90, 110)) for b in (1, 2, 4) if rng.random() < 0.7}
        if not pending:
            continue
        state = BundleState(BID, ALL, pending)
        first = rng.random() < 0.5
        d = run(state, heads={r: rng.randrange(1, 40) for r in (901, 902, 903)}, ts=rng.randrange(90, 120),
                decided=first)
        # Never the opposite signed outcome: the same decision, an unsigned abortExpired, or a wait.
        assert d is None or d.expired or d.commit is first
        if d is None:
            assert first  # only a decided commit waits (some legs expired, some not)


def test_bundle_ids_bind_every_number() -> None:
    base = OpenIntent(b"\x05" * 32, "0x" + "11" * 20, 1, ALL, 10**18, 200 * 10**18, False, 2000 * 10**18, 10**18,
                      40 * 10**18)
    ids = {base.bundle_id}
    for field in ("nonce", "perp_size", "perp_margin", "opt_strike", "opt_size", "opt_margin"):
        changed = OpenIntent(**{**{k: getattr(base, k) for k in base.__slots__}, field: getattr(base, field) + 1})
        ids.add(changed.bundle_id)
    other_deployment = OpenIntent(**{**{k: getattr(base, k) for k in base.__slots__}, "deployment": b"\x06" * 32})
    ids.add(other_deployment.bundle_id)
    assert len(ids) == 8
    close = CloseIntent(base.deployment, base.trader, 2, ALL, base.bundle_id, -1, 1)
    assert close.bundle_id not in ids
    assert CloseIntent(base.deployment, base.trader, 2, ALL, base.bundle_id, -1, 2).bundle_id != close.bundle_id


def test_a_decided_commit_past_the_timeout_becomes_abort_expired() -> None:
    full = BundleState(BID, ALL, {b: leg(b) for b in (1, 2, 4)})
    assert run(full, heads={901: 31, 902: 29, 903: 29}, decided=True) is None  # only one leg expired: wait
    d = run(full, heads={901: 31, 902: 31, 903: 31}, decided=True)
    assert d is not None and d.expired and not d.commit and d.bits == (1, 2, 4)
