"""Property test over random sequences of honest and hostile postings, forced enqueues (valid, junk,
too large) and L1 block advances against the real SequencerInbox on anvil (docs/settlement.md 3-4).

Invariants checked after every step:
- firm history only grows by signed windows: nextHeight / lastBlockHash change exactly when a window
  the sequencer signed is accepted, to that window's values, and a refused posting changes nothing;
- every forced entry is counted by forcedTo within maxOriginLag L1 blocks of its enqueue, or postings
  revert: each accepted posting at L1 block B lists, for each of its rollups, at least every entry
  enqueued at or before B - maxOriginLag, and exactly the entries enqueued at or before its origin; a
  posting that leaves out a due entry (by forcedTo or by a stale origin) is refused.
Each example runs from an anvil snapshot and is reverted afterwards, so examples are independent.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.deployer import FORCED_TX_LIMITS
from sequencer.core.window import window_struct_hash

ROLLUPS = (901, 902, 903)
FORMAT = {901: "opstack", 902: "nitro", 903: "zkevm"}

_post = st.tuples(st.just("post"), st.integers(1, 4), st.sets(st.sampled_from(ROLLUPS)), st.integers(1, 4))
_enqueue = st.tuples(st.just("enqueue"), st.sampled_from(ROLLUPS), st.sampled_from(("valid", "junk", "huge")))
_mine = st.tuples(st.just("mine"), st.integers(1, 7))
_hostile = st.tuples(st.just("hostile"), st.sampled_from(("skip", "invent", "stale", "forge", "jump", "foreign")),
                     st.sampled_from(ROLLUPS))
ACTIONS = st.lists(st.one_of(_post, _enqueue, _mine, _hostile), min_size=1, max_size=12)


class Model:
    """What the inbox must hold: the firm chain and, per rollup, enqueue blocks and applied counts."""

    def __init__(self, l1) -> None:
        fn = l1.inbox.functions
        self.next_height = fn.nextHeight().call()
        self.last_hash = bytes(fn.lastBlockHash().call())
        self.lag = fn.maxOriginLag().call()
        self.enqueued = {r: [fn.forcedTx(r, i).call()[1] for i in range(fn.forcedQueueLength(r).call())]
                         for r in ROLLUPS}
        self.applied = {r: fn.forcedTo(r).call() for r in ROLLUPS}

    def count_at(self, rollup: int, l1_block: int) -> int:
        return sum(1 for e in self.enqueued[rollup] if e <= l1_block)


def _check_state(l1, m: Model) -> None:
    fn = l1.inbox.functions
    assert fn.nextHeight().call() == m.next_height
    assert bytes(fn.lastBlockHash().call()) == m.last_hash
    head = l1.head()
    for r in ROLLUPS:
        assert fn.forcedQueueLength(r).call() == len(m.enqueued[r])
        assert fn.forcedTo(r).call() == m.applied[r]
        due = m.count_at(r, head - m.lag) if head >= m.lag else 0
        assert fn.overdue(r).call() == max(0, due - m.applied[r])


def _honest_origin(l1, behind: int) -> tuple[int, bytes]:
    n = max(l1.head() - behind, l1.inbox.functions.lastOriginNumber().call())
    return n, l1.block_hash_at(n)


def _step(l1, m: Model, action: tuple) -> None:
    kind = action[0]
    poster = l1.poster.address
    if kind == "mine":
        l1.mine(action[1])
    elif kind == "enqueue":
        _, r, what = action
        limit = FORCED_TX_LIMITS[FORMAT[r]]
        data = {"valid": b"\x02" + l1.rng.randbytes(20), "junk": b"\x02", "huge": b"\x01" * (limit + 1)}[what]
        fn = l1.inbox.functions.enqueueForced(r, data)
        if what == "huge":
            assert l1.revert(fn, l1.outsider.address) == "BadForcedTxSize"
            return
        receipt = l1.ok(fn, l1.outsider)
        m.enqueued[r].append(receipt["blockNumber"])
    elif kind == "post":
        _, n, ids, behind = action
        p = l1.build(n, tuple(sorted(ids)), origin=_honest_origin(l1, behind))
        receipt = l1.ok(l1.post(p), l1.poster)
        ev = l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]
        assert bytes(ev["windowHash"]) == window_struct_hash(p.window)
        assert ev["signer"].lower() == "0x" + l1.sequencer.address.hex()
        landed = receipt["blockNumber"]
        for r, f in zip(p.rollup_ids, ev["forcedTo"], strict=True):
            assert f == m.count_at(r, p.window.l1_origin_number)
            assert f >= m.count_at(r, landed - m.lag)  # every entry maxOriginLag blocks old is applied
            m.applied[r] = f
        m.next_height, m.last_hash = p.window.last_height + 1, p.window.last_block_hash
    else:
        _, how, r = action
        head = l1.head()
        if how == "stale":
            # The origin just below the oldest allowed: refused however forcedTo is chosen.
            o = head - m.lag - 1
            if o < 0:
                return
            p = l1.build(1, (r,), origin=(o, l1.block_hash_at(o)), forced_to=(m.count_at(r, o),))
            assert l1.revert(l1.post(p), poster) in ("OriginTooOld", "OriginBackwards")
            return
        p = l1.build(2, (r,), origin=_honest_origin(l1, 1))
        honest = p.forced_to[0]
        if how == "skip":
            if honest == 0:
                return
            bad = l1.build(2, (r,), origin=(p.window.l1_origin_number, p.window.l1_origin_hash),
                           forced_to=(honest - 1,))
            expected = "WrongForcedTo"
        elif how == "invent":
            bad = l1.build(2, (r,), origin=(p.window.l1_origin_number, p.window.l1_origin_hash),
                           forced_to=(honest + 1,))
            expected = "WrongForcedTo"
        elif how == "forge":
            bad = replace(p, batches=(b"not signed",))
            expected = "WrongRollupsHash"
        elif how == "foreign":
            bad = replace(p, signature=p.blocks[-1].signature)  # a signed header is not a signed window
            expected = "UnknownSigner"
        else:  # jump
            bad = l1.resign(p, last_height=p.window.first_height + 1_000_000)
            expected = "WindowTooLong"
        assert l1.revert(l1.post(bad), poster) == expected
        # A due entry cannot be left out: with the oldest origin allowed now, forcedTo still counts it.
        if head >= m.lag:
            assert l1.inbox.functions.forcedCountAt(r, head - m.lag).call() == m.count_at(r, head - m.lag)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(actions=ACTIONS)
def test_random_postings_enqueues_and_l1_blocks(l1, actions):
    snap = l1.snapshot()
    try:
        m = Model(l1)
        for action in actions:
            _step(l1, m, action)
            _check_state(l1, m)
    finally:
        l1.revert_to(snap)
