"""The batcher's pure window planner: boundaries, gaps, closing by size or block count, cursor continuity,
rule-F forcedTo, active rollups only, a rollup that cannot be encoded left out, and windows that
always end at a postable L1 origin."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_account import Account

from rollup_adapters.derivation import ForcedTx, decode_window_batch, forced_to_after
from rollup_adapters.registry import get_spec
from sequencer.core import CoreConfig, Domain, RollupInfo, SequencerCore, Signer, Transaction, make_policy
from sequencer.core.hashing import keccak
from sequencer.core.merkle import merkle_root
from sequencer.core.signing import block_hash
from sequencer.core.types import BlockHeader, SharedBlock
from sequencer.core.window import rollups_hash, verify_witness
from sequencer.errors import BadInput, DecodeError
from sequencer.l1 import windows as windows_module
from sequencer.l1.windows import (
    L1View,
    PostedRollup,
    WindowParams,
    candidate_cuts,
    commit_window,
    genesis_cursors,
    origin_problem,
    plan_window,
    replay_window,
)

ROLLUPS = (PostedRollup(901, "opstack", 1000), PostedRollup(902, "nitro", 500), PostedRollup(903, "zkevm", 1000))
T0 = 1_700_000_000_000
ACCT = Account.from_key(bytes([5]) * 32)
NO_L1 = L1View(head=110, forced={})
"""An L1 whose head is just past every origin the test chains use (100..109): all postable."""


def signed(chain_id: int, nonce: int, size: int = 0) -> bytes:
    tx = {"nonce": nonce, "gas": 21000 + 16 * size, "to": "0x" + "44" * 20, "value": 1, "chainId": chain_id,
          "data": bytes(size)}
    tx |= {"gasPrice": 10**9} if chain_id == 903 else {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1,
                                                        "type": 2}
    return bytes(ACCT.sign_transaction(tx).raw_transaction)


def chain(times: Sequence[int], txs_per_block: int = 1, size: int = 0, origin_every: int = 10,
          origins: Sequence[int] | None = None) -> list[SharedBlock]:
    """Sealed blocks at the given offsets (ms) from T0, each with `txs_per_block` txs per rollup;
    block i's L1 origin is origins[i], or 100 + i // origin_every."""
    cfg = CoreConfig(tuple(RollupInfo(r.rollup_id, str(r.rollup_id), make_policy(get_spec(r.fmt).default_policy,
                                                                                r.rollup_id),
                                      r.fmt, r.block_time_ms) for r in ROLLUPS), slot_ms=100)
    core = SequencerCore(cfg, Signer(bytes(range(1, 33)), Domain(31337, b"\x01" * 20)))
    nonces = dict.fromkeys((r.rollup_id for r in ROLLUPS), 0)
    out = []
    for i, t in enumerate(times):
        for r in ROLLUPS:
            for _ in range(txs_per_block):
                core.submit(Transaction(r.rollup_id, signed(r.rollup_id, nonces[r.rollup_id], size)))
                nonces[r.rollup_id] += 1
        origin = origins[i] if origins is not None else 100 + i // origin_every
        out.append(core.seal(T0 + t, (origin, origin.to_bytes(32, "big"))))
    return out


def params(window_ms: int = 2000, max_bytes: int = 100_000, catch_up: int = 1) -> WindowParams:
    """Postings of one window each unless `catch_up` > 1 (the tables plan with every block already sealed)."""
    return WindowParams(ROLLUPS, window_ms, max_bytes, catch_up)


def post_all(p: WindowParams, blocks: list[SharedBlock], l1: L1View = NO_L1):
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


def assert_each_posting_replays(p: WindowParams, blocks: list[SharedBlock], plans: Sequence) -> None:
    """Each posting is found again from its own blocks and batch hashes, with the cursors it planned
    (what a restarted batcher does)."""
    cursors = genesis_cursors(p, blocks[0])
    for plan in plans:
        window = blocks[plan.first_height:plan.last_height + 1]
        got = replay_window(p, window, cursors, {}, plan.rollup_ids, [keccak(b) for b in plan.batches], keccak)
        assert got == dict(plan.cursors)
        cursors = got


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
    assert_each_posting_replays(p, blocks, plans)
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


def test_commitment_matches_the_blocks_and_its_witness_verifies() -> None:
    blocks = chain([0, 100, 700, 1500, 2000])
    plan = plan_window(params(), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert plan is not None and plan.block_count == 4
    hashes = [keccak(b) for b in plan.batches]
    w, witness = commit_window(plan, hashes)
    assert (w.first_height, w.last_height) == (0, 3)
    assert w.blocks_root == merkle_root([block_hash(b.header) for b in blocks[:4]])
    assert w.last_block_hash == plan.last_block_hash == block_hash(blocks[3].header)
    assert (w.l1_origin_number, w.l1_origin_hash) == (blocks[3].header.l1_origin_number,
                                                      blocks[3].header.l1_origin_hash)
    assert w.rollups_hash == rollups_hash(plan.rollup_ids, hashes, plan.forced_to)
    assert [b.header for b in verify_witness(w, witness)] == [b.header for b in blocks[:4]]


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


def forced_queue(rid: int, enqueued: Sequence[int], data: Sequence[bytes] | None = None) -> list[ForcedTx]:
    """Entries of rollup `rid` enqueued at the given L1 blocks (signed transfers unless `data` is given)."""
    return [ForcedTx(rid, i, data[i] if data else signed(rid, 1000 + i), e) for i, e in enumerate(enqueued)]


@pytest.mark.parametrize(("rid", "fmt"), [(902, "nitro"), (903, "zkevm"), (901, "opstack")])
def test_rule_f_places_forced_txs_and_forced_to_counts_them_at_the_origin(rid: int, fmt: str) -> None:
    blocks = chain(list(range(0, 6001, 200)), origin_every=5)  # origins 100.. rising every second
    queue = {rid: forced_queue(rid, [101, 103])}
    plans, cursors = post_all(params(), blocks, L1View(head=110, forced=queue))
    placed = [tx for plan in plans for b in plan.rollup_blocks[rid] for tx in b.forced]
    assert placed == [f.data for f in queue[rid]]
    assert cursors[rid].forced_applied == 2
    # forcedTo is what the inbox counts: entries enqueued at or before the window's (last header's) origin.
    got = [x.forced_to[x.rollup_ids.index(rid)] for x in plans]
    assert got == [forced_to_after(queue[rid], x.blocks[-1].header.l1_origin_number) for x in plans]
    assert got[0] < 2 and got[-1] == 2  # the first window's origin is before the second entry
    bt = next(r.block_time_ms for r in ROLLUPS if r.rollup_id == rid)
    cursor = genesis_cursors(params(), blocks[0])[rid]
    carried = []
    for x in plans:
        decoded = decode_window_batch(fmt, rid, bt, x.batches[x.rollup_ids.index(rid)], cursor, queue[rid])
        carried.extend(tx for b in decoded for tx in b.forced)
        cursor = x.cursors[rid]
    assert carried == [f.data for f in queue[rid]]


def test_a_junk_forced_entry_for_the_zkevm_is_skipped_not_fatal() -> None:
    """The 0x02-to-zkEVM attack (issue 8, finding 5): the entry cannot be a zkEVM batch transaction. The
    planner still lists the zkEVM rollup, counts the entry in forcedTo (it is applied as a no-op), and the
    batch decodes; the next (valid) entry is carried."""
    blocks = chain(list(range(0, 4001, 200)), origin_every=5)
    queue = {903: forced_queue(903, [100, 101], data=[b"\x02", signed(903, 1000)])}
    plans, cursors = post_all(params(), blocks, L1View(head=110, forced=queue))
    assert plans and all(x.rollup_ids == (901, 902, 903) and not x.left_out for x in plans)
    assert plans[-1].forced_to[2] == 2 and cursors[903].forced_applied == 2
    cursor = genesis_cursors(params(), blocks[0])[903]
    carried = []
    for x in plans:
        decoded = decode_window_batch("zkevm", 903, 1000, x.batches[2], cursor, queue[903])
        carried.extend(tx for b in decoded for tx in b.forced)
        cursor = x.cursors[903]
    assert signed(903, 1000) in carried


def test_a_rollup_whose_batch_cannot_be_encoded_is_left_out_and_the_others_post(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = windows_module.encode_window_batch

    def broken_for_903(fmt, rid, *args):
        if rid == 903:
            raise DecodeError("zkevm: cannot encode this")
        return real(fmt, rid, *args)

    monkeypatch.setattr(windows_module, "encode_window_batch", broken_for_903)
    blocks = chain([0, 100, 1900, 2000, 2100, 4000])
    plans, cursors = post_all(params(), blocks)
    assert [(x.first_height, x.last_height) for x in plans] == [(0, 2), (3, 4)]
    for x in plans:
        assert x.rollup_ids == (901, 902) and len(x.batches) == len(x.forced_to) == 2
        assert "cannot be encoded" in x.left_out[903] and "cannot encode this" in x.left_out[903]
    assert cursors[903] == genesis_cursors(params(), blocks[0])[903]  # it waits where it was


def test_only_active_rollups_are_listed_and_a_left_out_one_keeps_its_cursor() -> None:
    blocks = chain([0, 100, 1900, 2000, 2100, 4000])
    l1 = L1View(head=110, forced={902: forced_queue(902, [100])}, active=frozenset({901, 903}))
    plans, cursors = post_all(params(), blocks, l1)
    assert plans and all(x.rollup_ids == (901, 903) and not x.left_out for x in plans)
    start = genesis_cursors(params(), blocks[0])
    assert cursors[902] == start[902] and cursors[901] != start[901]
    # Replay reproduces a posting that lists a subset.
    got = replay_window(params(), blocks[:3], start, l1.forced, (901, 903), [keccak(b) for b in plans[0].batches],
                        keccak)
    assert got == dict(plans[0].cursors)
    assert replay_window(params(), blocks[:3], start, l1.forced, (901, 902, 903),
                         [keccak(b) for b in plans[0].batches], keccak) is None


def test_windows_hold_at_most_max_window_blocks() -> None:
    blocks = chain(list(range(0, 4001, 100)))
    uncapped, _ = post_all(params(), blocks)
    assert {x.block_count for x in uncapped} == {20}  # a 2 s window of 100 ms blocks
    plans, _ = post_all(params(), blocks, L1View(head=110, forced={}, max_window_blocks=12))
    assert plans and all(x.block_count == 10 for x in plans)  # closed early at the 1 s rollup block boundary
    assert [x.first_height for x in plans[1:]] == [x.last_height + 1 for x in plans[:-1]]
    assert all(x.end_ms % 1000 == 0 for x in plans)  # still cut at rollup block boundaries


STALE = 100
FRESH = 390


@pytest.mark.parametrize(
    ("name", "origins", "l1", "expected"),
    [
        # (first, last, extended) of the first posting, None: it waits
        ("fresh origins: the natural window", [FRESH] * 6, L1View(400, {}), (0, 2, False)),
        ("stale origins ride in a window that ends at a fresh one", [STALE] * 4 + [FRESH] * 2 + [FRESH + 1],
         L1View(400, {}), (0, 4, True)),
        ("all stale: wait for a fresh block", [STALE] * 6, L1View(400, {}), None),
        ("origin ahead of this L1 view: wait", [FRESH] * 6, L1View(300, {}), None),
        ("reorged origin hash: extended past it", [FRESH] * 4 + [FRESH + 5] * 3,
         L1View(400, {}, origin_hashes={FRESH: b"\xee" * 32, FRESH + 5: (FRESH + 5).to_bytes(32, "big")}),
         (0, 4, True)),
    ],
)
def test_a_window_always_ends_at_a_postable_origin(name: str, origins: list[int], l1: L1View,
                                                   expected: tuple | None) -> None:
    times = [0, 100, 1900, 2000, 2100, 4000, 6000][: len(origins)]
    blocks = chain(times, origins=origins)
    plan = plan_window(params(), blocks, genesis_cursors(params(), blocks[0]), l1)
    if expected is None:
        assert plan is None
        assert origin_problem(l1, blocks[2].header) is not None
        return
    assert plan is not None
    assert (plan.first_height, plan.last_height, plan.extended) == expected
    assert origin_problem(l1, plan.blocks[-1].header) is None
    # An extended window is still found again by a restarted batcher.
    replayed = replay_window(params(), list(plan.blocks), genesis_cursors(params(), blocks[0]), {}, plan.rollup_ids,
                             [keccak(b) for b in plan.batches], keccak)
    assert replayed == dict(plan.cursors)


def test_origin_problem_names_each_refusal() -> None:
    h = chain([0], origins=[200])[0].header
    assert origin_problem(L1View(300, {}), h) is None
    assert "not before the landing block" in (origin_problem(L1View(199, {}), h) or "")
    assert "blocks behind the landing block" in (origin_problem(L1View(455, {}), h) or "")
    assert origin_problem(L1View(454, {}), h) is None  # 255 behind the landing block 455 is allowed
    assert "L1 reorg" in (origin_problem(L1View(300, {}, origin_hashes={200: b"\x01" * 32}), h) or "")


def test_replay_finds_the_posted_cut() -> None:
    times = list(range(0, 4001, 250))
    blocks = chain(times, txs_per_block=2, size=300)
    full = plan_window(params(window_ms=4000), blocks, genesis_cursors(params(), blocks[0]), NO_L1)
    assert full is not None
    p = params(window_ms=4000, max_bytes=full.batch_bytes // 2)
    plans, _ = post_all(p, blocks)
    assert_each_posting_replays(p, blocks, plans)
    assert replay_window(p, blocks[:2], genesis_cursors(p, blocks[0]), {}, (901, 902, 903), [b"\x00" * 32] * 3,
                         keccak) is None


def test_origin_problem_knows_catch_up_windows() -> None:
    """A window whose last block is older than the inbox's catchUpAfterMs at the head's time may carry an
    origin older than maxOriginLag (SequencerInbox.isLive), so a long outage never strands sealed blocks;
    a live window with the same origin is still refused, and a catch-up origin's hash is still checked
    while blockhash has it."""
    h = BlockHeader(5, b"\x00" * 32, 1_000_000, 200, (200).to_bytes(32, "big"), b"\x00" * 32, 0, b"\x00" * 32)
    live = L1View(455, {}, head_time_ms=1_000_000 + 60_000, catch_up_after_ms=300_000)
    old = L1View(455, {}, head_time_ms=1_000_000 + 300_001, catch_up_after_ms=300_000)
    assert "blocks behind the landing block" in (origin_problem(live, h) or "")
    assert origin_problem(old, h) is None
    forked = L1View(455, {}, origin_hashes={200: b"\x01" * 32}, head_time_ms=1_000_000 + 300_001,
                    catch_up_after_ms=300_000)
    assert "L1 reorg" in (origin_problem(forked, h) or "")
    far = L1View(200 + 300, {}, origin_hashes={200: b"\x01" * 32}, head_time_ms=1_000_000 + 300_001,
                 catch_up_after_ms=300_000)
    assert origin_problem(far, h) is None  # beyond blockhash's reach the inbox cannot check it either
    assert "not before the landing block" in (origin_problem(L1View(150, {}, head_time_ms=10**12,
                                                                    catch_up_after_ms=300_000), h) or "")
