"""The batcher's pure window planner: boundaries, gaps, closing by size, cursor continuity."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_account import Account

from rollup_adapters.derivation import ForcedTx, decode_window_batch
from sequencer.core import CoreConfig, Domain, RollupInfo, SequencerCore, Signer, Transaction, make_policy
from sequencer.core.hashing import keccak
from sequencer.core.merkle import merkle_root, verify_inclusion
from sequencer.core.signing import block_hash
from sequencer.core.types import SharedBlock
from sequencer.errors import BadInput
from sequencer.l1.windows import (
    L1View,
    PostedRollup,
    WindowParams,
    candidate_cuts,
    forced_read_after,
    genesis_cursors,
    plan_window,
    replay_window,
)

ROLLUPS = (PostedRollup(901, "opstack", 1000), PostedRollup(902, "nitro", 500), PostedRollup(903, "zkevm", 1000))
POLICY = {"opstack": "evm", "nitro": "evm", "zkevm": "evm-legacy"}
T0 = 1_700_000_000_000
ACCT = Account.from_key(bytes([5]) * 32)
NO_L1 = L1View(head=10, forced={}, forced_read={})


def signed(chain_id: int, nonce: int, size: int = 0) -> bytes:
    tx = {"nonce": nonce, "gas": 21000 + 16 * size, "to": "0x" + "44" * 20, "value": 1, "chainId": chain_id,
          "data": bytes(size)}
    tx |= {"gasPrice": 10**9} if chain_id == 903 else {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1,
                                                        "type": 2}
    return bytes(ACCT.sign_transaction(tx).raw_transaction)


def chain(times: Sequence[int], txs_per_block: int = 1, size: int = 0, origin_every: int = 10) -> list[SharedBlock]:
    """Sealed blocks at the given offsets (ms) from T0, each with `txs_per_block` txs per rollup."""
    cfg = CoreConfig(tuple(RollupInfo(r.rollup_id, str(r.rollup_id), make_policy(POLICY[r.fmt], r.rollup_id), r.fmt,
                                      r.block_time_ms) for r in ROLLUPS), slot_ms=100)
    core = SequencerCore(cfg, Signer(bytes(range(1, 33)), Domain(31337, b"\x01" * 20)))
    nonces = dict.fromkeys((r.rollup_id for r in ROLLUPS), 0)
    out = []
    for i, t in enumerate(times):
        for r in ROLLUPS:
            for _ in range(txs_per_block):
                core.submit(Transaction(r.rollup_id, signed(r.rollup_id, nonces[r.rollup_id], size)), T0 + t)
                nonces[r.rollup_id] += 1
        origin = 100 + i // origin_every
        out.append(core.seal(T0 + t, (origin, origin.to_bytes(32, "big"))))
    return out


def params(window_ms: int = 2000, max_bytes: int = 100_000, catch_up: int = 1) -> WindowParams:
    """Postings of one window each unless `catch_up` > 1 (the tables plan with every block already sealed)."""
    return WindowParams(ROLLUPS, window_ms, max_bytes, catch_up)


def post_all(p: WindowParams, blocks: list[SharedBlock], l1: L1View = NO_L1):  # noqa: ANN201
    """Plan windows one after another as the batcher does; returns the plans and the final cursors."""
    cursors = genesis_cursors(p, blocks[0])
    plans = []
    start = 0
    while True:
        plan = plan_window(p, blocks[start:], cursors, l1)
        if plan is None:
            return plans, cursors
        plans.append(plan)
        cursors = dict(plan.cursors)
        start = plan.last_height + 1


@pytest.mark.parametrize(
    ("window_ms", "block_times", "ok"),
    [(2000, (1000, 500, 1000), True), (1000, (1000, 500, 1000), True), (1500, (1000, 500, 1000), False),
     (250, (1000, 500, 1000), False)],
)
def test_window_must_be_a_multiple_of_every_block_time(window_ms: int, block_times: tuple, ok: bool) -> None:
    rollups = tuple(PostedRollup(r.rollup_id, r.fmt, bt) for r, bt in zip(ROLLUPS, block_times, strict=True))
    if ok:
        assert WindowParams(rollups, window_ms).cut_step_ms == 1000
    else:
        with pytest.raises(BadInput):
            WindowParams(rollups, window_ms)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        # offsets (ms from T0, a multiple of 2000) -> [(first, last) heights per posted window]
        ([0, 100, 1900, 2000], [(0, 2)]),                       # boundary at 2000 closes window 0
        ([0, 100, 1999], []),                                    # nothing at/after 2000 yet: open
        ([0, 500, 2100, 3900, 4000, 4100], [(0, 1), (2, 3)]),    # second window [2000, 4000)
        ([300, 2300, 9000, 9100, 10_000], [(0, 0), (1, 1), (2, 3)]),  # a gap: windows 4000-8000 have no block
        ([0, 100], []),
    ],
)
def test_time_boundaries(times: list[int], expected: list[tuple[int, int]]) -> None:
    p = params()
    plans, _ = post_all(p, chain(times))
    assert [(x.first_height, x.last_height) for x in plans] == expected
    for x in plans:
        assert x.end_ms % p.window_ms == 0


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0, 500, 2100, 3900, 4000, 4100], [(0, 3)]),                   # behind: two windows merge into one
        ([300, 2300, 9000, 9100, 10_000], [(0, 3)]),                     # the gap inside is posted as empty blocks
        ([0, 2000, 4000, 6000, 8000, 10_000, 12_000, 14_000], [(0, 5), (6, 6)]),  # at most 6 windows a posting
    ],
)
def test_catching_up_merges_windows(times: list[int], expected: list[tuple[int, int]]) -> None:
    p = params(catch_up=6)
    blocks = chain(times)
    plans, cursors = post_all(p, blocks)
    assert [(x.first_height, x.last_height) for x in plans] == expected
    # Each merged posting is found again from its own blocks (what a restarted batcher does).
    start_cursors = genesis_cursors(p, blocks[0])
    for x in plans:
        window = blocks[x.first_height:x.last_height + 1]
        replayed = replay_window(p, window, start_cursors, {}, [keccak(b) for b in x.batches], keccak)
        assert replayed == dict(x.cursors)
        start_cursors = replayed
    # Merged or not, the rollups get the same blocks.
    _, one_by_one = post_all(params(catch_up=1), blocks)
    assert cursors == one_by_one


def test_candidate_cuts_are_multiples_of_the_block_time_lcm() -> None:
    blocks = chain([100, 600, 1700, 2500])
    assert candidate_cuts(params(), blocks) == [1000 + T0, 2000 + T0]
    assert candidate_cuts(params(), blocks[:3]) == [1000 + T0]
    assert candidate_cuts(params(), blocks[:2]) == []


def test_gap_posts_empty_rollup_blocks_and_cursors_continue() -> None:
    times = [0, 100, 2000, 2100, 9000, 9500, 12_000]  # gap of 2100..9000: rollup blocks 3..8 empty
    p = params()
    plans, cursors = post_all(p, chain(times))
    for rid, bt in ((901, 1000), (902, 500), (903, 1000)):
        numbers = [b.number for plan in plans for b in plan.rollup_blocks[rid]]
        # contiguous rollup block numbers from block 0's rollup block to the last cut
        assert numbers == list(range(T0 // bt, (T0 + 10_000) // bt))
        assert cursors[rid].next_number == (T0 + 10_000) // bt
        empty = [b for plan in plans for b in plan.rollup_blocks[rid] if not b.shared_heights]
        assert len(empty) == len(numbers) - len({(T0 + t) // bt for t in times[:-1]})


def test_batches_decode_to_each_rollups_transactions_with_cursor_continuity() -> None:
    times = list(range(0, 9000, 300))
    p = params()
    blocks = chain(times)
    plans, _ = post_all(p, blocks)
    cursors = genesis_cursors(p, blocks[0])
    for plan in plans:
        assert plan.rollup_ids == (901, 902, 903)
        for rid, data in zip(plan.rollup_ids, plan.batches, strict=True):
            r = next(x for x in ROLLUPS if x.rollup_id == rid)
            decoded = decode_window_batch(r.fmt, rid, r.block_time_ms, data, cursors[rid])
            got = [tx for b in decoded for tx in b.transactions]
            want = [tx for b in blocks[plan.first_height: plan.last_height + 1] for tx in b.namespace(rid).transactions]
            assert got == want
            assert cursors[rid].after(decoded).next_number == plan.cursors[rid].next_number
        cursors = dict(plan.cursors)
    assert [x.first_height for x in plans[1:]] == [x.last_height + 1 for x in plans[:-1]]


def test_window_proof_matches_the_blocks() -> None:
    blocks = chain([0, 100, 700, 1500, 2000])
    plan = plan_window(params(), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert plan is not None and plan.block_count == 4
    first, first_proof, last, sig, last_proof, count, root = plan.proof
    hashes = [block_hash(b.header) for b in blocks[:4]]
    assert root == merkle_root(hashes) and count == 4 and sig == blocks[3].signature
    assert first[0] == 0 and last[0] == 3
    assert verify_inclusion(hashes[0], 0, 4, first_proof, root)
    assert verify_inclusion(hashes[3], 3, 4, last_proof, root)


def test_closes_early_by_size_at_a_rollup_block_boundary() -> None:
    times = list(range(0, 4001, 250))  # 4 blocks per second, each ~3 x 600 bytes of txs
    blocks = chain(times, txs_per_block=2, size=300)
    full = plan_window(params(window_ms=4000), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert full is not None and full.end_ms == T0 + 4000
    limit = full.batch_bytes // 2
    p = params(window_ms=4000, max_bytes=limit)
    plans, _ = post_all(p, blocks)
    assert len(plans) >= 2
    assert all(x.batch_bytes <= limit for x in plans)
    assert all(x.end_ms % 1000 == 0 for x in plans)
    assert [x.end_ms - T0 for x in plans][-1] == 4000
    heights = [h for x in plans for h in range(x.first_height, x.last_height + 1)]
    assert heights == list(range(len(blocks) - 1))


def test_a_window_that_cannot_fit_still_posts_one_cut() -> None:
    blocks = chain([0, 250, 500, 1000, 1250, 2000], size=2000)
    plan = plan_window(params(max_bytes=100), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert plan is not None and plan.end_ms == T0 + 1000 and plan.last_height == 2


def test_open_window_under_the_size_limit_waits() -> None:
    blocks = chain([0, 250, 500, 1000, 1250])  # cut 1000 final, boundary 2000 not reached
    assert plan_window(params(), blocks, genesis_cursors(params(), blocks[0]), NO_L1) is None


def forced_queue(rid: int, deadlines: Sequence[int]) -> list[ForcedTx]:
    return [ForcedTx(rid, i, signed(rid, 1000 + i), d - 5, d) for i, d in enumerate(deadlines)]


@pytest.mark.parametrize(
    ("deadlines", "applied", "on_chain", "head", "expected"),
    [
        ([], 0, 0, 100, 0),
        ([50, 60, 200], 0, 0, 100, 2),     # two overdue when the tx lands at 101
        ([50, 60, 200], 0, 0, 59, 1),      # deadline 60 is not < 60
        ([50, 60, 200], 3, 0, 10, 3),      # rule F applied all three
        ([50, 60, 200], 1, 2, 10, 2),      # never backwards
        ([50], 0, 0, 10**6, 1),            # never beyond the queue
    ],
)
def test_forced_read(deadlines: list[int], applied: int, on_chain: int, head: int, expected: int) -> None:
    assert forced_read_after(forced_queue(902, deadlines), applied, on_chain, head) == expected


@pytest.mark.parametrize(("rid", "fmt"), [(902, "nitro"), (903, "zkevm"), (901, "opstack")])
def test_rule_f_places_forced_txs_in_the_batches(rid: int, fmt: str) -> None:
    blocks = chain(list(range(0, 6001, 200)), origin_every=5)  # origins 100.. rising every second
    queue = {rid: forced_queue(rid, [101, 103])}
    l1 = L1View(head=105, forced=queue, forced_read={})
    plans, cursors = post_all(params(), blocks, l1)
    placed = [tx for plan in plans for b in plan.rollup_blocks[rid] for tx in b.forced]
    assert placed == [f.data for f in queue[rid]]
    assert cursors[rid].forced_applied == 2
    assert all(x.forced_read[x.rollup_ids.index(rid)] == 2 for x in plans)  # both overdue at head 105
    bt = next(r.block_time_ms for r in ROLLUPS if r.rollup_id == rid)
    cursor = genesis_cursors(params(), blocks[0])[rid]
    carried = []
    for x in plans:
        decoded = decode_window_batch(fmt, rid, bt, x.batches[x.rollup_ids.index(rid)], cursor, queue[rid])
        carried.extend(tx for b in decoded for tx in b.forced)
        cursor = x.cursors[rid]
    assert carried == [f.data for f in queue[rid]]


def test_replay_finds_the_posted_cut() -> None:
    times = list(range(0, 4001, 250))
    blocks = chain(times, txs_per_block=2, size=300)
    full = plan_window(params(window_ms=4000), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert full is not None
    p = params(window_ms=4000, max_bytes=full.batch_bytes // 2)
    plans, _ = post_all(p, blocks)
    cursors = genesis_cursors(p, blocks[0])
    for plan in plans:
        window = blocks[plan.first_height: plan.last_height + 1]
        got = replay_window(p, window, cursors, {}, [keccak(b) for b in plan.batches], keccak)
        assert got == dict(plan.cursors)
        cursors = got
    assert replay_window(p, blocks[:2], genesis_cursors(p, blocks[0]), {}, [b"\x00" * 32] * 3, keccak) is None
