"""Issue 8: a rollup paused on L1 (or otherwise left out of postings) is carried by the next window
that lists it, and the firm check takes that batch against every window's witness since its last
listed one (derivation rule 6, docs/settlement.md section 5). Pure: the planner and the derivation
functions, with the firm node's steps 3-6 played here as rollup_node/firm.py does them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from test_batcher_windows import NO_L1, chain, forced_queue, params

from rollup_adapters.base import RollupBlock, RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import (
    Cursor,
    DerivationError,
    ForcedTx,
    decode_window_batch,
    join_witnesses,
)
from sequencer.core.hashing import keccak
from sequencer.core.types import RollupId, SharedBlock
from sequencer.core.window import WitnessBlock, verify_witness
from sequencer.l1.windows import L1View, WindowPlan, commit_window, genesis_cursors, plan_window, replay_window

PAUSED = 902  # nitro, 500 ms blocks: it carries its forced entries (delayed messages), so rule F shows
TIMES = [0, 100, 500, 1900, 2000, 2100, 2600, 3900, 4000, 4100, 5000, 5900, 6000, 6100, 7900, 8000, 8100, 10_000]
ACTIVE = [None, frozenset({901, 903}), frozenset({901, 903}), None, None]
"""Which rollups the registry has active at each posting: 902 is paused for the second and third."""


def post_with_pause(blocks: list[SharedBlock], forced: Mapping[RollupId, Sequence[ForcedTx]], carry: bool):
    """Plan windows as the batcher does, with the registry's active set per posting; with `carry` the
    batcher hands each rollup's uncovered blocks (`pending`), without it (the code before issue 8) not."""
    p = params()
    cursors = genesis_cursors(p, blocks[0])
    covered_to: dict[RollupId, int] = {}
    plans: list[WindowPlan] = []
    start = 0
    for active in ACTIVE:
        l1 = L1View(head=NO_L1.head, forced=forced, active=active)
        pending = {r.rollup_id: blocks[covered_to.get(r.rollup_id, 0):start] for r in p.rollups
                   if carry and (active is None or r.rollup_id in active)}
        plan = plan_window(p, blocks[start:], cursors, l1, pending)
        assert plan is not None
        plans.append(plan)
        cursors = dict(plan.cursors)
        covered_to.update(dict.fromkeys(plan.rollup_ids, plan.last_height + 1))
        start = plan.last_height + 1
    return plans


def firm_follow(plans: Sequence[WindowPlan], rid: RollupId, bt: int, queue: Sequence[ForcedTx],
                first: SharedBlock) -> list[RollupBlock]:
    """rollup_node/firm.py steps 3-6 for rollup `rid`: verify each window's witness; keep it while the
    window leaves the rollup out; check the listing window's batch against the kept blocks and its own."""
    cursor = Cursor(RollupTiming(0, bt).window_of(first.header.timestamp_ms))
    kept: tuple[WitnessBlock, ...] = ()
    out: list[RollupBlock] = []
    for plan in plans:
        window, witness_bytes = commit_window(plan, [keccak(b) for b in plan.batches])
        witness = verify_witness(window, witness_bytes)
        if rid not in plan.rollup_ids:
            kept = (*kept, *witness)
            continue
        i = plan.rollup_ids.index(rid)
        blocks = decode_window_batch("nitro", rid, bt, plan.batches[i], cursor, queue,
                                     join_witnesses([kept, witness]))
        after = cursor.after(blocks)
        assert after.forced_applied == plan.forced_to[i], "forcedTo is what rule F applied"
        out.extend(blocks)
        cursor, kept = after, ()
    return out


@pytest.fixture(scope="module")
def scenario() -> tuple[list[SharedBlock], dict[RollupId, list[ForcedTx]]]:
    blocks = chain(TIMES, origin_every=6)
    # Forced entries of the paused rollup enqueued before and during its pause.
    return blocks, {PAUSED: forced_queue(PAUSED, [100, 101, 101])}


def test_the_batch_after_unpause_carries_every_transaction_signed_during_the_pause(scenario) -> None:
    blocks, forced = scenario
    plans = post_with_pause(blocks, forced, carry=True)
    assert [PAUSED in x.rollup_ids for x in plans] == [True, False, False, True, True]
    got = firm_follow(plans, PAUSED, 500, forced[PAUSED], blocks[0])
    # What a soft node executes from the stream: every shared block of the posted heights, grouped.
    last = plans[-1].last_height
    soft = group_rollup_blocks(blocks[:last + 1], PAUSED, RollupTiming(0, 500),
                               last_number=RollupTiming(0, 500).window_of(plans[-1].end_ms - 1))
    assert [(b.number, b.transactions, b.l1_origin_number) for b in got] == \
        [(b.number, b.transactions, b.l1_origin_number) for b in soft]
    assert sum(len(b.transactions) for b in got) == sum(len(b.namespace(PAUSED).transactions)
                                                        for b in blocks[:last + 1])
    assert sum(len(b.forced) for b in got) == 3  # rule F applied the entries enqueued during the pause


def test_a_batch_after_unpause_that_drops_the_paused_windows_transactions_is_refused(scenario) -> None:
    """The batch the batcher made before issue 8 (the paused windows' rollup blocks posted empty): the
    sequencer signed those transactions, the firm check against the kept witness refuses it."""
    blocks, forced = scenario
    plans = post_with_pause(blocks, forced, carry=False)
    with pytest.raises(DerivationError, match=f"rollup {PAUSED} block .*shared height"):
        firm_follow(plans, PAUSED, 500, forced[PAUSED], blocks[0])


def test_kept_witnesses_must_follow_each_other(scenario) -> None:
    blocks, forced = scenario
    plans = post_with_pause(blocks, forced, carry=True)
    witnesses = [verify_witness(*commit_window(x, [keccak(b) for b in x.batches])) for x in plans]
    assert len(join_witnesses(witnesses[:3])) == plans[2].last_height + 1
    with pytest.raises(DerivationError, match="kept witness: shared height .* follows"):
        join_witnesses([witnesses[0], witnesses[2]])  # a window skipped


def test_replay_reproduces_the_posting_after_unpause_only_with_the_uncovered_blocks(scenario) -> None:
    """The batcher's restart (re-derivation from L1) finds the cut of the listing window again."""
    blocks, forced = scenario
    plans = post_with_pause(blocks, forced, carry=True)
    x, before = plans[3], dict(plans[2].cursors)
    hashes = [keccak(b) for b in x.batches]
    window = blocks[x.first_height:x.last_height + 1]
    pending = {PAUSED: blocks[plans[0].last_height + 1:x.first_height]}
    assert replay_window(params(), window, before, forced, x.rollup_ids, hashes, keccak, pending) == dict(x.cursors)
    assert replay_window(params(), window, before, forced, x.rollup_ids, hashes, keccak) is None


# ---------------------------------------------------------------- admission while paused (sequencer core)


def test_the_core_refuses_new_submissions_for_a_paused_rollup_and_keeps_what_it_admitted() -> None:
    import grpc
    from core_testkit import make_core

    from sequencer.core import Bundle, Transaction
    from sequencer.errors import FailedPrecondition
    from sequencer.service.errors import status_of

    core = make_core()
    before = core.submit(Transaction(2, b"admitted before the pause"))
    core.paused = frozenset({2})
    with pytest.raises(FailedPrecondition, match="rollup 2 is paused on L1") as exc:
        core.submit(Transaction(2, b"sent while paused"))
    assert status_of(exc.value) == (grpc.StatusCode.FAILED_PRECONDITION, "rollup 2 is paused on L1")
    with pytest.raises(FailedPrecondition, match="bundle leg 1: rollup 2 is paused on L1"):
        core.submit_bundle(Bundle((Transaction(1, b"a"), Transaction(2, b"b"))))
    core.submit(Transaction(1, b"another rollup still takes transactions"))
    block = core.seal(1100, (7, b"\x07" * 32))
    assert block.namespace(2).transactions == (b"admitted before the pause",)
    assert before.records[0].height == block.height
    core.paused = frozenset()
    core.submit(Transaction(2, b"after the unpause"))
