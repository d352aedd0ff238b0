"""Derivation (rollup_adapters/derivation.py, docs/settlement.md sections 4-5): window batches decode
back to exactly the rollups' namespace transactions; rule F and the skip rule as tables and as a
property; the firm check of a batch against the signed witness, played by a hostile sequencer."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.deployer import FORCED_TX_LIMITS  # at collection: web3's import probes a socket (urllib3 HAS_IPV6)
from rollup_adapters.base import RollupBlock, RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import (
    MAX_FORCED_TX_BYTES,
    Cursor,
    DerivationError,
    ForcedTx,
    admitted_forced,
    check_batch_against_witness,
    decode_container,
    decode_window_batch,
    encode_window_batch,
    forced_refusal,
    forced_to_after,
    place_forced,
)
from rollup_adapters.nitro.segments import DelayedMessageSegment
from rollup_adapters.nitro.sequencer_message import decode_payload
from rollup_adapters.registry import get_spec
from rollup_adapters.spec import ForcedCarriage
from sequencer.core import Bundle, CoreConfig, Domain, RollupInfo, SequencerCore, Signer, Transaction, make_policy
from sequencer.core.commitments import bundles_root, namespaces_root
from sequencer.core.hashing import keccak
from sequencer.core.signing import block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.core.window import build_window, encode_witness, verify_witness

ROLLUPS = {901: ("opstack", 1000), 902: ("nitro", 1000), 903: ("zkevm", 1000)}


def signed(acct, chain_id: int, nonce: int, legacy: bool) -> bytes:
    tx = {"nonce": nonce, "gas": 21000, "to": "0x" + "33" * 20, "value": nonce + 1, "chainId": chain_id}
    tx |= {"gasPrice": 10**9} if legacy else {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}
    return bytes(acct.sign_transaction(tx).raw_transaction)


def make_blocks(seed: int) -> list:
    rng = random.Random(seed)
    cfg = CoreConfig(tuple(RollupInfo(r, str(r), make_policy(get_spec(f).default_policy, r), f, bt)
                           for r, (f, bt) in ROLLUPS.items()), slot_ms=100)
    core = SequencerCore(cfg, Signer(bytes(range(1, 33)), Domain(1, b"\x01" * 20)))
    acct = Account.from_key(bytes([7]) * 32)
    nonces = dict.fromkeys(ROLLUPS, 0)
    blocks = []
    now = 1_700_000_000_050
    for slot in range(45):
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.3:
                legs = []
                for r in rng.sample(sorted(ROLLUPS), rng.randint(2, 3)):
                    legs.append(Transaction(r, signed(acct, r, nonces[r], r == 903)))
                    nonces[r] += 1
                core.submit_bundle(Bundle(tuple(legs)))
            else:
                r = rng.choice(sorted(ROLLUPS))
                core.submit(Transaction(r, signed(acct, r, nonces[r], r == 903)))
                nonces[r] += 1
        origin = 100 + slot // 12
        blocks.append(core.seal(now, (origin, origin.to_bytes(32, "big"))))
        now += 100 if slot != 20 else 2600  # a gap of empty rollup windows
    return blocks


@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_windows_round_trip_with_forced(rollup_id: int) -> None:
    fmt, bt = ROLLUPS[rollup_id]
    blocks = make_blocks(rollup_id)
    timing = RollupTiming(0, bt)
    acct = Account.from_key(bytes([9]) * 32)
    queue = [ForcedTx(rollup_id, i, signed(acct, rollup_id, i, rollup_id == 903), 101 + i) for i in range(3)]
    queue.insert(1, ForcedTx(rollup_id, 1, b"\x02", 101))  # junk: skipped, counted as applied
    queue = [replace(f, seq=i) for i, f in enumerate(queue)]
    # Two posting windows split at a whole second, as the batcher does.
    boundary = (blocks[len(blocks) // 2].header.timestamp_ms // 1000) * 1000
    first = [b for b in blocks if b.header.timestamp_ms < boundary]
    second = [b for b in blocks if b.header.timestamp_ms >= boundary]
    cursor = Cursor(timing.window_of(first[0].header.timestamp_ms))
    total_txs = []
    for part, last_ms in ((first, boundary), (second, second[-1].header.timestamp_ms + bt)):
        rblocks = group_rollup_blocks(part, rollup_id, timing, first_number=cursor.next_number,
                                      last_number=timing.window_of(last_ms - 1), prev_origin=cursor.prev_l1_origin)
        rblocks = place_forced(rblocks, queue, cursor.forced_applied)
        data = encode_window_batch(fmt, rollup_id, bt, rblocks, cursor)
        decoded = decode_window_batch(fmt, rollup_id, bt, data, cursor, queue)
        assert [b.transactions for b in decoded] == [b.transactions for b in rblocks]
        assert [b.number for b in decoded] == [b.number for b in rblocks]
        assert [b.timestamp_ms for b in decoded] == [b.timestamp_ms for b in rblocks]
        assert [b.l1_origin_number for b in decoded] == [b.l1_origin_number for b in rblocks]
        assert [b.forced for b in decoded] == [b.forced for b in rblocks]
        total_txs.extend(tx for b in decoded for tx in b.transactions)
        cursor = cursor.after(rblocks)
    assert total_txs == [tx for b in blocks for tx in b.namespace(rollup_id).transactions]
    assert cursor.forced_applied == 4
    # Bundle legs land in the rollup block covering their shared block's instant.
    for b in blocks:
        for p in b.bundles:
            assert all(r in ROLLUPS for r, _ in p.legs)


# ---------------------------------------------------------------- rule F and the skip rule: tables

ACCT = Account.from_key(bytes([9]) * 32)
GOOD = {rid: [signed(ACCT, rid, n, rid == 903) for n in range(4)] for rid in ROLLUPS}
"""Valid forced transactions per rollup (legacy EIP-155 on the zkEVM, EIP-1559 elsewhere)."""


def rblock(number: int, origin: int, txs: tuple[bytes, ...] = ()) -> RollupBlock:
    return RollupBlock(number, number * 1000, origin, origin.to_bytes(32, "big"), txs)


def queue_of(rid: int, entries: list[tuple[bytes, int]]) -> list[ForcedTx]:
    return [ForcedTx(rid, i, data, e) for i, (data, e) in enumerate(entries)]


A, B, C = (bytes([0x60 + i]) for i in range(3))

RULE_F_CASES = [
    # (block L1 origins, enqueue blocks E of the queue, applied before, forced entries per block)
    ("applied at the first block whose origin reaches E", [4, 5, 6], [5], 0, [[], [A], []]),
    ("origin kept stale: never applied", [4, 4, 4], [5], 0, [[], [], []]),
    ("same L1 block: both, queue order", [3, 7], [7, 7], 0, [[], [A, B]]),
    ("origin jumps past several entries: all at once", [1, 9], [2, 5, 9], 0, [[], [A, B, C]]),
    ("enqueued at the origin block itself", [0, 0], [0], 0, [[A], []]),
    ("already applied entries are not applied again", [5, 6], [1, 2, 6], 2, [[], [C]]),
    ("queue order even if a later entry is eligible earlier", [5], [2, 3], 0, [[A, B]]),
    ("empty queue", [1, 2], [], 0, [[], []]),
]


@pytest.mark.parametrize(("why", "origins", "enqueued", "applied", "want"), RULE_F_CASES,
                         ids=[c[0] for c in RULE_F_CASES])
def test_rule_f_table(why: str, origins: list[int], enqueued: list[int], applied: int,
                      want: list[list[bytes]]) -> None:
    queue = queue_of(901, [(bytes([0x60 + i]), e) for i, e in enumerate(enqueued)])
    placed = place_forced([rblock(i, o) for i, o in enumerate(origins)], queue, applied)
    assert [list(b.forced) for b in placed] == want, why
    # The inbox's forcedTo for a window ending at the last origin agrees with rule F.
    assert applied + sum(len(b.forced) for b in placed) == forced_to_after(queue, origins[-1])


def test_rule_f_refuses_a_queue_out_of_order() -> None:
    with pytest.raises(ValueError, match="seq"):
        place_forced([rblock(0, 9)], [ForcedTx(901, 1, A, 1)], 0)
    with pytest.raises(ValueError, match="enqueued before"):
        place_forced([rblock(0, 9)], [ForcedTx(901, 0, A, 5), ForcedTx(901, 1, B, 4)], 0)


def legacy_without_chain_id() -> bytes:
    tx = {"nonce": 0, "gas": 21000, "to": "0x" + "33" * 20, "value": 1, "gasPrice": 10**9}
    return bytes(ACCT.sign_transaction(tx).raw_transaction)


def bad_signature(raw: bytes) -> bytes:
    return raw[:-40] + bytes(32) + raw[-8:]


SKIP_CASES = [
    # (format, rollup, entry, refused because ... or None when applied)
    ("zkevm", 903, b"\x02", "malformed"),
    ("zkevm", 903, GOOD[903][0], None),
    ("zkevm", 903, signed(ACCT, 903, 0, False), "not accepted"),  # EIP-1559: the zkEVM carries legacy only
    ("zkevm", 903, signed(ACCT, 902, 0, True), "wrong chain id"),
    ("zkevm", 903, legacy_without_chain_id(), "without EIP-155"),
    ("zkevm", 903, signed(ACCT, 903, 0, True)[:-1], "malformed"),
    ("nitro", 902, GOOD[902][0], None),
    ("nitro", 902, signed(ACCT, 902, 0, True), None),  # legacy EIP-155 is fine on Nitro
    ("nitro", 902, b"\x02", "malformed"),
    ("nitro", 902, signed(ACCT, 901, 0, False), "wrong chain id"),
    ("opstack", 901, GOOD[901][0], None),
    ("opstack", 901, b"", "0 bytes"),
    ("opstack", 901, b"\xff" * 120_001, "120001 bytes"),
    ("nitro", 902, b"\xff" * 117_965, "117965 bytes"),
    ("zkevm", 903, b"\xf8" * 4901, "4901 bytes"),
]


def test_format_limits_are_the_registrys() -> None:
    """The inbox refuses at enqueue what is larger than the registry's limit: the same numbers."""
    assert FORCED_TX_LIMITS == MAX_FORCED_TX_BYTES


@pytest.mark.parametrize(("fmt", "rid", "data", "reason"), SKIP_CASES)
def test_skip_rule_table(fmt: str, rid: int, data: bytes, reason: str | None) -> None:
    got = forced_refusal(fmt, rid, data)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


def test_skip_rule_refuses_a_bad_signature() -> None:
    raw = bad_signature(GOOD[902][1])
    assert forced_refusal("nitro", 902, raw) is not None


@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_junk_forced_entries_never_halt_encoding(rollup_id: int) -> None:
    """Finding 5: enqueueForced(903, 0x02) made the zkEVM encoder raise on every round. Now every
    format encodes a window whose rule-F entries include junk; the junk counts as applied, has no
    effect, and the format's own accounting follows the skip rule (Nitro reads it as a delayed
    message; the zkEVM gives it no forced batch)."""
    fmt, bt = ROLLUPS[rollup_id]
    junk = [b"\x02", signed(ACCT, rollup_id + 1, 0, True), b"\xc0"]
    queue = queue_of(rollup_id, [(junk[0], 1), (GOOD[rollup_id][0], 1), (junk[1], 2), (junk[2], 2),
                                 (GOOD[rollup_id][1], 3)])
    blocks = place_forced([rblock(10, 1), rblock(11, 2), rblock(12, 3)], queue, 0)
    data = encode_window_batch(fmt, rollup_id, bt, blocks, Cursor(10))
    decoded = decode_window_batch(fmt, rollup_id, bt, data, Cursor(10), queue)
    assert [b.forced for b in decoded] == [b.forced for b in blocks]
    assert Cursor(10).after(decoded).forced_applied == 5
    assert [admitted_forced(fmt, rollup_id, b.forced) for b in decoded] == [(GOOD[rollup_id][0],), (),
                                                                           (GOOD[rollup_id][1],)]
    payloads, forced_idx = decode_container(data)
    carriage = get_spec(fmt).forced
    if carriage is ForcedCarriage.EVERY_APPLIED:  # nitro
        reads = [s for p in payloads for s in decode_payload(p).segments if isinstance(s, DelayedMessageSegment)]
        assert len(reads) == 5, "one delayed-message read per applied entry, skipped ones included"
    if carriage is ForcedCarriage.ADMITTED:  # zkevm
        assert len(forced_idx) == 2, "a forced batch for the admitted entries only"
    if carriage is ForcedCarriage.NONE:  # opstack: nothing of them in the batch
        assert not forced_idx


def test_zkevm_batch_that_carries_a_skipped_entry_is_refused() -> None:
    """A batch may not apply what the skip rule skips (or leave out what it applies)."""
    queue = queue_of(903, [(GOOD[903][0], 1)])
    blocks = place_forced([rblock(0, 1)], queue, 0)
    data = encode_window_batch("zkevm", 903, 1000, blocks, Cursor(0))
    with pytest.raises(DerivationError, match="rule F gives 0"):
        decode_window_batch("zkevm", 903, 1000, data, Cursor(0), queue_of(903, [(GOOD[903][0], 2)]))


# ---------------------------------------------------------------- rule F: property


@st.composite
def forced_scenarios(draw: st.DrawFn) -> tuple[int, list[int], list[ForcedTx], int]:
    rid = draw(st.sampled_from(sorted(ROLLUPS)))
    origins = sorted(draw(st.lists(st.integers(0, 12), min_size=1, max_size=8)))
    enqueued = sorted(draw(st.lists(st.integers(0, 14), max_size=7)))
    junk = [b"\x02", b"\xc0", signed(ACCT, rid + 1, 0, True)]
    pool = GOOD[rid] + junk
    queue = queue_of(rid, [(draw(st.sampled_from(pool)), e) for e in enqueued])
    split = draw(st.integers(0, len(origins)))
    return rid, origins, queue, split


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forced_scenarios())
def test_rule_f_property(scenario: tuple[int, list[int], list[ForcedTx], int]) -> None:
    """Every entry is applied exactly once, in queue order, at the first block whose origin reaches
    its enqueue block, however the blocks are split into windows; the inbox's forcedTo agrees; the
    batch of every format round-trips with junk in the queue."""
    rid, origins, queue, split = scenario
    blocks = [rblock(i, o) for i, o in enumerate(origins)]
    whole = place_forced(blocks, queue, 0)
    applied = [f for b in whole for f in b.forced]
    assert applied == [f.data for f in queue[:forced_to_after(queue, origins[-1])]]
    seq = 0
    for i, b in enumerate(whole):
        for _ in b.forced:
            assert origins[i] >= queue[seq].l1_block
            assert i == 0 or origins[i - 1] < queue[seq].l1_block, "not the first eligible block"
            seq += 1
    first = place_forced(blocks[:split], queue, 0)
    done = sum(len(b.forced) for b in first)
    assert first + place_forced(blocks[split:], queue, done) == whole
    if split:
        assert done == forced_to_after(queue, origins[split - 1])
    fmt = ROLLUPS[rid][0]
    data = encode_window_batch(fmt, rid, 1000, whole, Cursor(0))
    decoded = decode_window_batch(fmt, rid, 1000, data, Cursor(0), queue)
    assert [b.forced for b in decoded] == [b.forced for b in whole]


# ---------------------------------------------------------------- the firm check: batch against the signed witness


def shared_chain(seed: int, count: int = 40) -> list[SharedBlock]:
    """Signed shared blocks with namespaces for the three rollups (built directly, not by the core): 50 ms
    slots, a gap of empty rollup blocks, L1 origins rising every 12 blocks."""
    rng = random.Random(seed)
    signer = Signer(bytes(range(1, 33)), Domain(1, b"\x01" * 20))
    acct = Account.from_key(bytes([7]) * 32)
    nonces = dict.fromkeys(ROLLUPS, 0)
    parent, now, out = ZERO_HASH, 1_700_000_000_050, []
    for height in range(count):
        txs: dict[int, list[bytes]] = {}
        for _ in range(rng.randint(0, 5)):
            r = rng.choice(sorted(ROLLUPS))
            txs.setdefault(r, []).append(signed(acct, r, nonces[r], r == 903))
            nonces[r] += 1
        namespaces = tuple(Namespace(r, tuple(t)) for r, t in sorted(txs.items()))
        origin = 100 + height // 12
        header = BlockHeader(height, parent, now, origin, origin.to_bytes(32, "big"), namespaces_root(namespaces),
                             len(namespaces), bundles_root(()))
        out.append(SharedBlock(header, signer.sign_header(header), namespaces))
        parent = block_hash(header)
        now += 2600 if height == 20 else 150
    return out


def signed_window(rollup_id: int, rblocks_of=None):
    """One window over shared_chain: the verified witness, and the rollup's blocks (optionally tampered with
    by `rblocks_of`, as a hostile sequencer would before signing the batch) encoded and decoded with it."""
    fmt, bt = ROLLUPS[rollup_id]
    blocks = shared_chain(rollup_id)
    timing = RollupTiming(0, bt)
    cursor = Cursor(timing.window_of(blocks[0].header.timestamp_ms))
    rblocks = group_rollup_blocks(blocks, rollup_id, timing, first_number=cursor.next_number,
                                  prev_origin=cursor.prev_l1_origin)
    honest = list(rblocks)
    if rblocks_of is not None:
        rblocks = rblocks_of(list(rblocks))
    data = encode_window_batch(fmt, rollup_id, bt, rblocks, cursor)
    witness = encode_witness(blocks)
    window = build_window(blocks, [rollup_id], [keccak(data)], [0], witness)
    verified = verify_witness(window, witness)
    return honest, lambda: decode_window_batch(fmt, rollup_id, bt, data, cursor, (), verified)


@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_an_honest_batch_matches_the_witness(rollup_id: int) -> None:
    honest, derive = signed_window(rollup_id)
    got = derive()
    def key(bs: list[RollupBlock]) -> list[tuple]:
        return [(b.number, b.timestamp_ms, b.l1_origin_number, b.l1_origin_hash, b.transactions, b.shared_heights)
                for b in bs]

    assert key(got) == key(honest)
    assert sum(len(b.transactions) for b in got) > 10


def busiest(blocks: list[RollupBlock]) -> int:
    return max(range(len(blocks)), key=lambda i: len(blocks[i].transactions))


def with_txs(blocks: list[RollupBlock], i: int, txs) -> list[RollupBlock]:
    blocks[i] = replace(blocks[i], transactions=tuple(txs))
    return blocks


def extra_tx(rid: int):
    return signed(Account.from_key(bytes([11]) * 32), rid, 0, rid == 903)


ATTACKS = {
    "a transaction the headers never had": lambda rid, bs: with_txs(bs, busiest(bs),
                                                                    (*bs[busiest(bs)].transactions, extra_tx(rid))),
    "a sequenced transaction withheld": lambda rid, bs: with_txs(bs, busiest(bs), bs[busiest(bs)].transactions[1:]),
    "a transaction replaced by another": lambda rid, bs: with_txs(
        bs, busiest(bs), (extra_tx(rid), *bs[busiest(bs)].transactions[1:])),
    "transactions reordered": lambda rid, bs: with_txs(bs, busiest(bs), bs[busiest(bs)].transactions[::-1]),
    "a transaction moved to the next rollup block": lambda rid, bs: with_txs(
        with_txs(bs, busiest(bs) + 1, (bs[busiest(bs)].transactions[-1], *bs[busiest(bs) + 1].transactions)),
        busiest(bs), bs[busiest(bs)].transactions[:-1]),
    "a transaction in a block the rollup had no leaf in": lambda rid, bs: with_txs(
        bs, next(i for i, b in enumerate(bs) if not b.transactions), (extra_tx(rid),)),
    "the last rollup blocks left out": lambda rid, bs: bs[:-3],
    "a later L1 origin than signed": lambda rid, bs: [replace(b, l1_origin_number=b.l1_origin_number + 1)
                                                      if i >= len(bs) // 2 else b for i, b in enumerate(bs)],
}

ATTACK_REASONS = {
    "a transaction the headers never had": "transactions, the signed leaves",
    "a sequenced transaction withheld": "tx root|left",
    "a transaction replaced by another": "tx root",
    "transactions reordered": "tx root",
    "a transaction moved to the next rollup block": "tx root|left",
    "a transaction in a block the rollup had no leaf in": "count 0",
    "the last rollup blocks left out": "do not cover the window's shared blocks",
    "a later L1 origin than signed": "L1 origin",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_a_batch_that_contradicts_the_signed_headers_is_refused(rollup_id: int, attack: str) -> None:
    """Finding 3: a hostile sequencer signs a window whose batch is not what its headers commit to.
    The firm check refuses it, naming the rollup block."""
    _, derive = signed_window(rollup_id, lambda bs: ATTACKS[attack](rollup_id, bs))
    with pytest.raises(DerivationError, match=f"rollup {rollup_id}.*({ATTACK_REASONS[attack]})"):
        derive()


def test_an_empty_batch_for_a_listed_rollup_is_refused() -> None:
    blocks = shared_chain(3)
    wb = verify_witness(build_window(blocks, [], [], [], encode_witness(blocks)), encode_witness(blocks))
    with pytest.raises(DerivationError, match="holds no block"):
        check_batch_against_witness([], wb, 901, RollupTiming(0, 1000), Cursor(0))
