"""The ordering core (sequencer/core/sequencer.py): FCFS placement, atomic
bundles, receipts kept by the sealed blocks, limits, sealing and restore."""

from __future__ import annotations

import pytest
from core_testkit import DOMAIN, make_config, make_core, make_signer
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sequencer.core.commitments import bundles_root, namespaces_root
from sequencer.core.hashing import keccak
from sequencer.core.sequencer import AdmittedTx, BundleDuplicate, Duplicate, Head, SequencerCore
from sequencer.core.signing import block_hash, header_struct_hash, recover_signer, verify_receipt
from sequencer.core.types import ZERO_HASH, Bundle, BundlePlacement, SharedBlock, Transaction
from sequencer.errors import AlreadyExists, BadInput, Critical, NotFound, Overloaded, TooLarge


def tx(rollup_id: int, payload: bytes) -> Transaction:
    return Transaction(rollup_id, payload)


def check_block(block: SharedBlock, core: SequencerCore) -> None:
    """What every sealed block must satisfy on its own."""
    h = block.header
    assert h.namespaces_root == namespaces_root(block.namespaces)
    assert h.namespace_count == len(block.namespaces)
    assert h.bundles_root == bundles_root(block.bundles)
    assert [ns.rollup_id for ns in block.namespaces] == sorted({ns.rollup_id for ns in block.namespaces})
    assert all(ns.transactions for ns in block.namespaces)
    assert recover_signer(DOMAIN, header_struct_hash(h), block.signature) == core.signer.address
    limits = core.config.limits
    assert sum(len(ns.transactions) for ns in block.namespaces) <= limits.max_block_txs
    assert sum(len(p) for ns in block.namespaces for p in ns.transactions) <= limits.max_block_bytes


# -- FCFS and receipts --------------------------------------------------------------


def test_fcfs_across_rollups_and_receipts_kept() -> None:
    core = make_core()
    order = [(1, b"a"), (2, b"b"), (1, b"c"), (3, b"d"), (2, b"e"), (1, b"f")]
    receipts = [core.submit(tx(r, p)).receipts[0] for r, p in order]
    assert [(r.height, r.index) for r in receipts] == [(0, 0), (0, 0), (0, 1), (0, 0), (0, 1), (0, 2)]
    for (rollup, payload), r in zip(order, receipts, strict=True):
        assert r.rollup_id == rollup and r.tx_hash == Transaction(rollup, payload).tx_hash
        assert verify_receipt(DOMAIN, r) == core.signer.address
        assert (r.leaf_index, r.batch_count) == (0, 1)  # one admission, one batch
    block = core.seal(1_000)
    check_block(block, core)
    assert block.height == 0
    assert {ns.rollup_id: ns.transactions for ns in block.namespaces} == {
        1: (b"a", b"c", b"f"), 2: (b"b", b"e"), 3: (b"d",)}
    assert core.pending_txs == 0 and core.pending_blocks == 0


def test_fcfs_overflow_opens_the_next_height_in_arrival_order() -> None:
    core = make_core(max_block_txs=2, max_block_bytes=100, max_tx_bytes=50, max_bundle_bytes=100)
    heights = [core.submit(tx(1 + i % 3, b"p%d" % i)).records[0].height for i in range(7)]
    assert heights == [0, 0, 1, 1, 2, 2, 3]
    assert core.pending_blocks == 4
    blocks = [core.seal(100 * (i + 1)) for i in range(4)]
    assert [sum(len(ns.transactions) for ns in b.namespaces) for b in blocks] == [2, 2, 2, 1]
    assert core.pending_position(Transaction(1, b"p0").tx_hash) is None


def test_byte_limit_opens_the_next_height() -> None:
    core = make_core(max_block_bytes=10, max_tx_bytes=6, max_bundle_bytes=10)
    assert core.submit(tx(1, b"123456")).records[0].height == 0
    assert core.submit(tx(2, b"1234")).records[0].height == 0  # exactly 10 bytes
    assert core.submit(tx(2, b"5")).records[0].height == 1
    assert core.pending_position(Transaction(2, b"5").tx_hash) == (1, 2, 0)


def test_bundle_that_does_not_fit_moves_whole_to_the_next_block() -> None:
    core = make_core(max_block_txs=4)
    core.submit(tx(1, b"x"))
    core.submit(tx(2, b"y"))
    adm = core.submit_bundle(Bundle((tx(1, b"l0"), tx(2, b"l1"), tx(1, b"l2"))))
    assert [(r.height, r.rollup_id, r.index) for r in adm.records] == [(1, 1, 0), (1, 2, 0), (1, 1, 1)]
    assert [(r.height, r.index) for r in adm.receipts] == [(1, 0), (1, 0), (1, 1)]
    assert all(r.bundle_hash == adm.records[0].bundle_hash for r in adm.records)
    # later single transactions go after it: the first block is never reopened
    assert core.submit(tx(3, b"z")).records[0].height == 1
    first, second = core.seal(100), core.seal(200)
    assert {ns.rollup_id: ns.transactions for ns in first.namespaces} == {1: (b"x",), 2: (b"y",)}
    assert first.bundles == ()
    assert second.namespace(1).transactions == (b"l0", b"l2")
    assert second.bundles == (BundlePlacement(adm.records[0].bundle_hash, ((1, 0), (2, 0), (1, 1))),)


def test_bundle_hash_is_over_leg_hashes() -> None:
    legs = (tx(1, b"a"), tx(2, b"b"))
    b = Bundle(legs)
    assert b.bundle_hash == keccak((1).to_bytes(8, "big") + legs[0].tx_hash + (2).to_bytes(8, "big") + legs[1].tx_hash)
    assert b.bundle_hash != Bundle(legs[::-1]).bundle_hash
    # the same payloads on swapped rollups are another bundle (dedupe is per rollup, so both can exist)
    assert b.bundle_hash != Bundle((tx(2, b"a"), tx(1, b"b"))).bundle_hash


# -- rejections and limits ----------------------------------------------------------


def test_duplicates_are_refused_before_and_after_sealing() -> None:
    core = make_core()
    core.submit(tx(1, b"x"))
    core.submit(tx(1, b"dup"))
    with pytest.raises(Duplicate) as pending:
        core.submit(tx(1, b"dup"))
    assert (pending.value.rollup_id, pending.value.height, pending.value.index) == (1, 0, 1)
    assert isinstance(pending.value, AlreadyExists)
    core.seal(100)
    with pytest.raises(Duplicate) as sealed:
        core.submit(tx(1, b"dup"))
    assert (sealed.value.height, sealed.value.index) == (0, None)  # sealed: the log knows the index
    with pytest.raises(BundleDuplicate, match="bundle leg 1") as leg:
        core.submit_bundle(Bundle((tx(1, b"new"), tx(1, b"dup"))))
    assert leg.value.leg == 1 and leg.value.duplicate.tx_hash == Transaction(1, b"dup").tx_hash
    assert core.pending_txs == 0


def test_dedupe_is_per_rollup() -> None:
    # The same bytes sent to another rollup first must not block the real one (issue 9, finding 5).
    core = make_core()
    squatter = core.submit(tx(2, b"same bytes")).receipts[0]
    real = core.submit(tx(1, b"same bytes")).receipts[0]
    assert squatter.tx_hash == real.tx_hash and (squatter.rollup_id, real.rollup_id) == (2, 1)
    assert core.pending_position(real.tx_hash, 1) == (0, 1, 0)
    assert core.pending_position(real.tx_hash, 2) == (0, 2, 0)
    block = core.seal(100)
    assert block.namespace(1).transactions == block.namespace(2).transactions == (b"same bytes",)
    for rid in (1, 2):
        with pytest.raises(Duplicate):
            core.submit(tx(rid, b"same bytes"))
    core.submit(tx(3, b"same bytes"))


def test_dedupe_window_is_block_time() -> None:
    core = make_core(dedupe_window_ms=1_000)
    core.submit(tx(1, b"a"))
    core.seal(100)  # block 0 at t=100
    core.submit(tx(1, b"b"))
    core.seal(600)  # block 1 at t=600
    assert core.remembered_txs == 2
    core.seal(1_100)  # t=1100: block 0 is exactly 1000 ms old, still inside
    for p in (b"a", b"b"):
        with pytest.raises(Duplicate):
            core.submit(tx(1, p))
    core.seal(1_200)  # block 0 is now older than the window, block 1 is not
    assert core.remembered_txs == 1
    again = core.submit(tx(1, b"a"))  # forgotten: admitted anew, at a new place
    assert again.records[0].height == 4
    with pytest.raises(Duplicate):
        core.submit(tx(1, b"b"))
    core.seal(1_300)
    core.seal(1_700)  # block 1 (t=600) falls out; the re-admitted "a" (t=1300) stays
    with pytest.raises(Duplicate) as exc:
        core.submit(tx(1, b"a"))
    assert exc.value.height == 4
    core.submit(tx(1, b"b"))


def test_dedupe_memory_is_bounded_by_the_window_not_the_rate() -> None:
    core = make_core(dedupe_window_ms=500)
    for t in range(0, 20_000, 100):
        for i in range(20):
            core.submit(tx(1 + i % 3, b"%d-%d" % (t, i)))
        core.seal(t + 100)
    # 500 ms of 100 ms blocks of 20 transactions: at most six blocks' worth remembered
    assert core.remembered_txs <= 6 * 20


def test_single_transaction_rejections() -> None:
    core = make_core(max_tx_bytes=4)
    with pytest.raises(NotFound, match="unknown rollup 9"):
        core.submit(tx(9, b"x"))
    with pytest.raises(TooLarge, match="5 bytes"):
        core.submit(tx(1, b"12345"))
    with pytest.raises(BadInput, match="empty"):
        core.submit(tx(1, b""))
    core.submit(tx(1, b"1234"))
    assert core.pending_txs == 1


def test_bundle_rejections_leave_nothing_behind() -> None:
    core = make_core(max_bundle_legs=3, max_bundle_bytes=6, max_block_bytes=100, max_tx_bytes=50)
    core.submit(tx(1, b"old"))
    before = core.pending_txs
    bad = [
        (Bundle(()), BadInput, "no legs"),
        (Bundle(tuple(tx(1, b"%d" % i) for i in range(4))), TooLarge, "4 legs"),
        (Bundle((tx(1, b"1234"), tx(2, b"567"))), TooLarge, "7 bytes"),
        (Bundle((tx(1, b"ok"), tx(99, b"u"))), NotFound, "bundle leg 1: unknown rollup 99"),
        (Bundle((tx(1, b"ok"), tx(2, b""))), BadInput, "bundle leg 1: payload: empty"),
        (Bundle((tx(1, b"ok"), tx(1, b"ok"))), AlreadyExists, "bundle leg 1: .* appears twice"),
        (Bundle((tx(2, b"ok"), tx(1, b"old"))), AlreadyExists, "bundle leg 1: .* already submitted"),
    ]
    for bundle, error, message in bad:
        with pytest.raises(error, match=message):
            core.submit_bundle(bundle)
        assert core.pending_txs == before
        assert core.pending_position(Transaction(1, b"ok").tx_hash) is None
    block = core.seal(100)
    assert block.namespaces[0].transactions == (b"old",) and len(block.namespaces) == 1
    assert block.bundles == ()


def test_bundle_with_more_legs_than_a_block_holds_is_too_large() -> None:
    # regression: max_block_txs=2 and a 3-leg bundle (under max_bundle_legs) sealed a 3-tx block
    core = make_core(max_block_txs=2, max_bundle_legs=16)
    with pytest.raises(TooLarge, match="bundle: 3 legs"):
        core.submit_bundle(Bundle(tuple(tx(1, b"%d" % i) for i in range(3))))
    assert core.pending_txs == 0
    core.submit_bundle(Bundle((tx(1, b"a"), tx(2, b"b"))))
    check_block(core.seal(100), core)


def test_mempool_full_is_overloaded_until_a_seal() -> None:
    core = make_core(max_block_txs=1, max_pending_blocks=2)
    core.submit(tx(1, b"a"))
    core.submit(tx(1, b"b"))
    assert core.pending_blocks == 2
    with pytest.raises(Overloaded, match="mempool full"):
        core.submit(tx(1, b"c"))
    with pytest.raises(Overloaded):
        core.submit_bundle(Bundle((tx(2, b"c"),)))
    assert core.pending_txs == 2 and core.pending_position(Transaction(1, b"c").tx_hash) is None
    core.seal(100)
    assert core.submit(tx(1, b"c")).records[0].height == 2


def test_empty_slots_give_empty_blocks_and_a_chain() -> None:
    core = make_core(slot_ms=100)
    core.submit(tx(1, b"a"))
    blocks = [core.seal(t) for t in (150, 250, 250, 240, 1_000)]
    assert [b.height for b in blocks] == [0, 1, 2, 3, 4]
    assert [b.header.timestamp_ms for b in blocks] == [100, 200, 201, 202, 1_000]
    assert blocks[0].namespaces and not any(b.namespaces for b in blocks[1:])
    for b in blocks[1:]:
        assert b.header.namespace_count == 0 and b.header.namespaces_root == ZERO_HASH
        assert b.header.bundles_root == ZERO_HASH
    parent = ZERO_HASH
    for b in blocks:
        check_block(b, core)
        assert b.header.parent_hash == parent
        parent = block_hash(b.header)
    assert core.head == Head(4, parent, 1_000, (0, ZERO_HASH))


def test_l1_origin_never_goes_backwards() -> None:
    core = make_core()
    a = core.seal(100, (10, b"\x0a" * 32))
    b = core.seal(200, (9, b"\x09" * 32))
    c = core.seal(300)
    d = core.seal(400, (12, b"\x0c" * 32))
    assert [x.header.l1_origin_number for x in (a, b, c, d)] == [10, 10, 10, 12]
    assert b.header.l1_origin_hash == b"\x0a" * 32


# -- the receipt promise, as a stateful property ------------------------------------

RID = st.sampled_from([1, 2, 3, 1, 2, 3, 99])  # 99 is not registered
PAYLOAD = st.one_of(st.sampled_from([b"a", b"b", b"cc", b""]), st.binary(min_size=0, max_size=9))
LIMITS = dict(max_tx_bytes=8, max_block_bytes=16, max_block_txs=4, max_bundle_legs=5, max_bundle_bytes=16,
              max_pending_blocks=3)


class CoreMachine(RuleBasedStateMachine):
    """Random interleavings of submit / submit_bundle / seal with small limits."""

    def __init__(self) -> None:
        super().__init__()
        self.core = make_core(**LIMITS)
        self.now = 0
        self.receipts: dict[bytes, tuple[int, int, int]] = {}  # tx_hash -> (rollup, height, index)
        self.payloads: dict[bytes, bytes] = {}
        self.bundles: list[tuple[bytes, tuple[Transaction, ...], int]] = []  # (hash, legs, height)
        self.rejected_legs: list[bytes] = []
        self.blocks: list[SharedBlock] = []
        self.fill: dict[int, tuple[int, int]] = {}  # height -> (txs, bytes) promised so far

    def _expected_error(self, legs: list[Transaction]) -> type[Exception] | None:
        seen: set[bytes] = set()
        for t in legs:
            if t.rollup_id not in self.core.rollups:
                return NotFound
            if len(t.payload) > LIMITS["max_tx_bytes"]:
                return TooLarge
            if not t.payload:
                return BadInput
            if (t.rollup_id, t.tx_hash) in self.receipts or (t.rollup_id, t.tx_hash) in seen:
                return AlreadyExists
            seen.add((t.rollup_id, t.tx_hash))
        return None

    def _admitted(self, legs: list[Transaction], adm, bundle_hash: bytes | None) -> None:
        assert len(adm.records) == len(adm.receipts) == len(legs)
        size = sum(len(t.payload) for t in legs)
        height = adm.records[0].height
        # FCFS: never before an earlier admission; a new height only when the newest is full
        last = max(self.fill) if self.fill else None
        if last is not None:
            assert height >= last
            if height > last:
                txs, nbytes = self.fill[last]
                assert txs + len(legs) > LIMITS["max_block_txs"] or nbytes + size > LIMITS["max_block_bytes"]
                assert height == last + 1
        else:
            assert height == self.core.head.height + 1 or height == len(self.blocks)
        txs, nbytes = self.fill.get(height, (0, 0))
        self.fill[height] = (txs + len(legs), nbytes + size)
        for t, rec, rcp in zip(legs, adm.records, adm.receipts, strict=True):
            assert (rec.height, rec.rollup_id, rec.index, rec.payload, rec.tx_hash, rec.bundle_hash) == (
                height, t.rollup_id, rcp.index, t.payload, t.tx_hash, bundle_hash)
            assert (rcp.height, rcp.rollup_id, rcp.tx_hash) == (height, t.rollup_id, t.tx_hash)
            assert verify_receipt(DOMAIN, rcp) == self.core.signer.address
            self.receipts[(t.rollup_id, t.tx_hash)] = (t.rollup_id, rcp.height, rcp.index)
            self.payloads[t.tx_hash] = t.payload

    @rule(rollup=RID, payload=PAYLOAD)
    def submit(self, rollup: int, payload: bytes) -> None:
        t = tx(rollup, payload)
        expected = self._expected_error([t])
        pending = self.core.pending_blocks
        try:
            adm = self.core.submit(t)
        except Overloaded:
            assert expected is None and pending == LIMITS["max_pending_blocks"]
            return
        except BadInput as exc:
            assert type(exc) is expected or (expected is AlreadyExists and isinstance(exc, AlreadyExists))
            return
        assert expected is None
        self._admitted([t], adm, None)

    @rule(legs=st.lists(st.tuples(RID, PAYLOAD), min_size=1, max_size=6)
          | st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.binary(min_size=1, max_size=3)),
                     min_size=1, max_size=6, unique_by=lambda leg: leg[1]))
    def submit_bundle(self, legs: list[tuple[int, bytes]]) -> None:
        txs = [tx(r, p) for r, p in legs]
        bundle = Bundle(tuple(txs))
        expected: type[Exception] | None = None
        max_legs = min(LIMITS["max_bundle_legs"], LIMITS["max_block_txs"])  # all legs go in one block
        if len(txs) > max_legs or sum(len(p) for _, p in legs) > LIMITS["max_bundle_bytes"]:
            expected = TooLarge
        else:
            expected = self._expected_error(txs)
        pending_before = self.core.pending_txs
        try:
            adm = self.core.submit_bundle(bundle)
        except (BadInput, Overloaded) as exc:
            if isinstance(exc, Overloaded):
                assert expected is None
            elif expected is AlreadyExists:
                assert isinstance(exc, AlreadyExists), (exc, expected)
            else:
                assert type(exc) is expected, (exc, expected)
            # (c) a rejected bundle leaves no leg anywhere
            assert self.core.pending_txs == pending_before
            for t in txs:
                if (t.rollup_id, t.tx_hash) not in self.receipts:
                    assert self.core.pending_position(t.tx_hash, t.rollup_id) is None
                    self.rejected_legs.append((t.rollup_id, t.tx_hash))
            return
        assert expected is None
        self._admitted(txs, adm, bundle.bundle_hash)
        self.bundles.append((bundle.bundle_hash, bundle.legs, adm.records[0].height))

    @rule(dt=st.sampled_from([0, 1, 50, 100, 250, -30]))
    def seal(self, dt: int) -> None:
        self.now = max(0, self.now + dt)
        block = self.core.seal(self.now)
        check_block(block, self.core)
        # (d) consecutive heights, parent hashes chain, timestamps strictly increase
        if self.blocks:
            prev = self.blocks[-1]
            assert block.height == prev.height + 1
            assert block.header.parent_hash == block_hash(prev.header)
            assert block.header.timestamp_ms > prev.header.timestamp_ms
        else:
            assert block.height == 0 and block.header.parent_hash == ZERO_HASH
        self.blocks.append(block)
        self.fill.pop(block.height, None)
        # (a) the block holds exactly the transactions receipted for its height, at their indices
        promised = {k: (r, i) for k, (r, height, i) in self.receipts.items() if height == block.height}
        got = {}
        for ns in block.namespaces:
            for i, payload in enumerate(ns.transactions):
                got[(ns.rollup_id, Transaction(ns.rollup_id, payload).tx_hash)] = (ns.rollup_id, i)
        assert got == promised
        # (b) bundles: all legs in this block, contiguous per namespace, in leg order, placement listed
        placements = {p.bundle_hash: p for p in block.bundles}
        mine = [(bh, legs) for bh, legs, height in self.bundles if height == block.height]
        assert set(placements) == {bh for bh, _ in mine}
        assert [p.bundle_hash for p in block.bundles] == [bh for bh, _ in mine]
        for bh, legs in mine:
            spots = [got[(t.rollup_id, t.tx_hash)] for t in legs]
            assert placements[bh].legs == tuple(spots)
            for rollup in {t.rollup_id for t in legs}:
                idx = [i for r, i in spots if r == rollup]
                assert idx == list(range(idx[0], idx[0] + len(idx)))

    @invariant()
    def rejected_legs_never_admitted_unless_resubmitted(self) -> None:
        for rid, h in self.rejected_legs:
            if (rid, h) not in self.receipts:
                assert self.core.pending_position(h, rid) is None

    @precondition(lambda self: self.core.pending_blocks > 0)
    @rule()
    def drain(self) -> None:
        while self.core.pending_blocks:
            self.seal(100)
        assert all(height < self.core.next_height for _, height, _ in self.receipts.values())
        assert self.core.pending_txs == 0


CoreMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestCoreMachine = CoreMachine.TestCase


# -- restore ------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("tx"), st.sampled_from([1, 2, 3]), st.binary(min_size=1, max_size=6)),
        st.tuples(st.just("bundle"), st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.binary(min_size=1, max_size=4)),
                                              min_size=1, max_size=3)),
        st.tuples(st.just("seal"), st.integers(0, 150)),
    ),
    max_size=30,
)


def apply(core: SequencerCore, op, now: int):
    """Run one op; returns (now, admission-or-block-or-error)."""
    try:
        if op[0] == "tx":
            return now, core.submit(tx(op[1], op[2]))
        if op[0] == "bundle":
            return now, core.submit_bundle(Bundle(tuple(tx(r, p) for r, p in op[1])))
        now += op[1]
        return now, core.seal(now)
    except (BadInput, Overloaded) as exc:
        return now, type(exc)


@settings(max_examples=100, deadline=None)
@given(OPS, OPS)
def test_restore_from_records_seals_the_same_blocks(before, after) -> None:
    limits = dict(max_tx_bytes=6, max_block_bytes=12, max_block_txs=3, max_bundle_legs=3, max_bundle_bytes=12,
                  max_pending_blocks=4)
    original = make_core(**limits)
    records: list[AdmittedTx] = []
    sealed: list[tuple[int, int, dict[int, list[bytes]]]] = []
    now = 0
    for op in before:
        now, out = apply(original, op, now)
        if isinstance(out, SharedBlock):
            sealed.append((out.header.timestamp_ms, out.height,
                           {ns.rollup_id: [Transaction(ns.rollup_id, p).tx_hash for p in ns.transactions]
                            for ns in out.namespaces}))
        elif not isinstance(out, type):
            records.extend(out.records)
    restored = SequencerCore(make_config(**limits), make_signer())
    unsealed = [r for r in records if r.height > original.head.height]
    restored.restore(original.head, unsealed, sealed)
    assert restored.pending_blocks == original.pending_blocks
    assert restored.pending_txs == original.pending_txs
    for op in after + [("seal", 100)] * 5:
        _, b = apply(restored, op, now)
        now, a = apply(original, op, now)
        if isinstance(a, SharedBlock):
            assert block_hash(a.header) == block_hash(b.header)
            assert a == b
        else:
            assert a == b


def test_restore_rejects_records_out_of_order() -> None:
    core = make_core()
    h = Transaction(1, b"a").tx_hash
    with pytest.raises(Critical, match="promised index 3"):
        core.restore(Head(), [AdmittedTx(0, 1, 3, b"a", h)])
    with pytest.raises(Critical, match="out of order"):
        core.restore(Head(), [AdmittedTx(1, 1, 0, b"a", h), AdmittedTx(0, 1, 0, b"b", Transaction(1, b"b").tx_hash)])
