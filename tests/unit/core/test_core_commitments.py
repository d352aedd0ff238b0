"""Namespace completeness proofs (sequencer/core/commitments.py): a rollup
proves it got all of its transactions in a block, or that it had none."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.core.commitments import (
    BundleProof,
    NamespaceProof,
    bundle_leaf,
    bundles_root,
    find_malformed_pair,
    namespace_leaf,
    namespaces_root,
    prove_bundle,
    prove_bundles,
    prove_namespace,
    tx_root,
    verify_bundle,
    verify_namespace,
)
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof, merkle_root
from sequencer.core.types import ZERO_HASH, BundlePlacement, Namespace

BLOCK = (
    Namespace(10, (b"a", b"b", b"c")),
    Namespace(20, (b"d",)),
    Namespace(30, (b"e", b"f")),
    Namespace(2**64 - 1, (b"g",)),
)
ROOT = namespaces_root(BLOCK)
COUNT = len(BLOCK)


def check(ns: tuple[Namespace, ...], rollup_id: int, payloads, proof: NamespaceProof | None = None) -> bool:
    proof = proof or prove_namespace(ns, rollup_id)
    return verify_namespace(proof, list(payloads), namespaces_root(ns), len(ns))


def test_leaf_layouts() -> None:
    assert namespace_leaf(1, b"\x05" * 32, 2) == (1).to_bytes(8, "big") + b"\x05" * 32 + (2).to_bytes(8, "big")
    assert tx_root([b"a", b"b"]) == merkle_root([keccak(b"a"), keccak(b"b")])
    p = BundlePlacement(b"\x07" * 32, ((10, 2), (20, 0)))
    assert bundle_leaf(p) == b"\x07" * 32 + b"\x00\x00\x00\x02" + (10).to_bytes(8, "big") + b"\x00\x00\x00\x02" + \
        (20).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    assert bundles_root([p]) == merkle_root([bundle_leaf(p)])
    assert bundles_root([]) == ZERO_HASH == namespaces_root([])


@pytest.mark.parametrize("ns", BLOCK, ids=lambda ns: str(ns.rollup_id))
def test_present_namespace(ns: Namespace) -> None:
    proof = prove_namespace(BLOCK, ns.rollup_id)
    assert proof.present and proof.tx_count == len(ns.transactions)
    txs = list(ns.transactions)
    assert verify_namespace(proof, txs, ROOT, COUNT)
    # a dropped, an added, a reordered, a changed transaction
    assert not verify_namespace(proof, txs[:-1], ROOT, COUNT)
    assert not verify_namespace(proof, txs + [b"x"], ROOT, COUNT)
    assert not verify_namespace(proof, [b"x"] + txs, ROOT, COUNT)
    if len(txs) > 1:
        assert not verify_namespace(proof, txs[::-1], ROOT, COUNT)
    assert not verify_namespace(proof, [t + b"!" for t in txs], ROOT, COUNT)
    assert not verify_namespace(proof, [], ROOT, COUNT)
    # a wrong header count or root
    assert not verify_namespace(proof, txs, ROOT, COUNT + 1)
    assert not verify_namespace(proof, txs, ROOT, COUNT - 1)
    assert not verify_namespace(proof, txs, keccak(ROOT), COUNT)


def test_present_proof_cannot_be_forged_by_editing_it() -> None:
    proof = prove_namespace(BLOCK, 10)
    txs = [b"a", b"b"]  # dropped "c": make the proof match the shorter list
    forged = dataclasses.replace(proof, tx_root=tx_root(txs), tx_count=2)
    assert not verify_namespace(forged, txs, ROOT, COUNT)
    # another rollup's leaf proof presented as rollup 10's
    other = dataclasses.replace(prove_namespace(BLOCK, 20), rollup_id=10)
    assert not verify_namespace(other, [b"d"], ROOT, COUNT)
    moved = dataclasses.replace(proof, leaf_index=1)
    assert not verify_namespace(moved, [b"a", b"b", b"c"], ROOT, COUNT)


@pytest.mark.parametrize(
    ("rollup_id", "neighbour_ids"),
    [(0, [10]), (9, [10]), (15, [10, 20]), (25, [20, 30]), (31, [30, 2**64 - 1]), (2**63, [30, 2**64 - 1])],
)
def test_absent_namespace(rollup_id: int, neighbour_ids: list[int]) -> None:
    proof = prove_namespace(BLOCK, rollup_id)
    assert not proof.present
    assert [n[1] for n in proof.neighbours] == neighbour_ids
    assert verify_namespace(proof, [], ROOT, COUNT)
    assert not verify_namespace(proof, [b"x"], ROOT, COUNT)
    assert not verify_namespace(proof, [], ROOT, COUNT + 1)
    assert not verify_namespace(proof, [], keccak(ROOT), COUNT)


def test_absent_after_the_last_leaf() -> None:
    ns = BLOCK[:3]
    proof = prove_namespace(ns, 31)
    assert [n[1] for n in proof.neighbours] == [30]
    assert check(ns, 31, [], proof)
    # the same proof is no good for a header that counts one more namespace
    forged = dataclasses.replace(proof, namespace_count=4)
    assert not verify_namespace(forged, [], namespaces_root(ns), 4)
    assert not verify_namespace(proof, [], namespaces_root(ns), 4)


def test_absent_from_an_empty_block() -> None:
    proof = prove_namespace((), 5)
    assert not proof.present and proof.neighbours == () and proof.namespace_count == 0
    assert verify_namespace(proof, [], ZERO_HASH, 0)
    assert not verify_namespace(proof, [b"x"], ZERO_HASH, 0)
    assert not verify_namespace(proof, [], ROOT, 0)  # a block with data has a non-zero root
    assert not verify_namespace(proof, [], ROOT, COUNT)


def _neighbour(ns: tuple[Namespace, ...], i: int):
    leaves = [namespace_leaf(n.rollup_id, tx_root(n.transactions), len(n.transactions)) for n in ns]
    n = ns[i]
    return (i, n.rollup_id, tx_root(n.transactions), len(n.transactions), inclusion_proof(leaves, i))


def _absent(rollup_id: int, *neighbours, adjacent=None) -> NamespaceProof:
    """An absence proof showing `neighbours`; by default with the honest adjacent leaves."""
    if adjacent is None and neighbours:
        lo, hi = neighbours[0][0], neighbours[-1][0]
        adjacent = tuple(_neighbour(BLOCK, i) for i in (lo - 1, hi + 1) if 0 <= i < COUNT)
    return NamespaceProof(rollup_id, COUNT, ZERO_HASH, 0, -1, (), tuple(neighbours), tuple(adjacent or ()))


def test_absence_needs_adjacent_bracketing_neighbours() -> None:
    # a present rollup claimed absent with valid but non-adjacent leaves around it
    assert not verify_namespace(_absent(20, _neighbour(BLOCK, 0), _neighbour(BLOCK, 2)), [], ROOT, COUNT)
    # adjacent leaves that do not bracket the id
    assert not verify_namespace(_absent(20, _neighbour(BLOCK, 0), _neighbour(BLOCK, 1)), [], ROOT, COUNT)
    assert not verify_namespace(_absent(35, _neighbour(BLOCK, 0), _neighbour(BLOCK, 1)), [], ROOT, COUNT)
    # neighbours given in the wrong order
    assert not verify_namespace(_absent(15, _neighbour(BLOCK, 1), _neighbour(BLOCK, 0)), [], ROOT, COUNT)
    # a single leaf that is neither the first nor the last
    assert not verify_namespace(_absent(15, _neighbour(BLOCK, 1)), [], ROOT, COUNT)
    assert not verify_namespace(_absent(25, _neighbour(BLOCK, 1)), [], ROOT, COUNT)
    # the first leaf, but the id is above it; the last leaf, but the id is below it
    assert not verify_namespace(_absent(15, _neighbour(BLOCK, 0)), [], ROOT, COUNT)
    assert not verify_namespace(_absent(25, _neighbour(BLOCK, 3)), [], ROOT, COUNT)
    # no neighbours in a non-empty block
    assert not verify_namespace(_absent(15), [], ROOT, COUNT)
    # a neighbour whose leaf is not under the root
    i, rid, troot, count, path = _neighbour(BLOCK, 0)
    assert not verify_namespace(_absent(5, (i, rid, troot, count + 1, path)), [], ROOT, COUNT)
    assert not verify_namespace(_absent(5, (i, 4, troot, count, path)), [], ROOT, COUNT)
    # and the honest versions of the same claims pass
    assert verify_namespace(_absent(15, _neighbour(BLOCK, 0), _neighbour(BLOCK, 1)), [], ROOT, COUNT)
    assert verify_namespace(_absent(5, _neighbour(BLOCK, 0)), [], ROOT, COUNT)
    # the last leaf's own id claimed absent
    assert not verify_namespace(_absent(2**64 - 1, _neighbour(BLOCK, 3)), [], ROOT, COUNT)


namespaces_st = st.dictionaries(
    st.integers(0, 40), st.lists(st.binary(min_size=1, max_size=3), min_size=1, max_size=4), max_size=8
).map(lambda d: tuple(Namespace(k, tuple(v)) for k, v in sorted(d.items())))


@settings(max_examples=150, deadline=None)
@given(namespaces_st, st.integers(0, 41))
def test_proofs_verify_exactly_the_namespace_contents(ns: tuple[Namespace, ...], rollup_id: int) -> None:
    contents = {n.rollup_id: list(n.transactions) for n in ns}
    txs = contents.get(rollup_id, [])
    proof = prove_namespace(ns, rollup_id)
    assert proof.present == (rollup_id in contents)
    assert check(ns, rollup_id, txs, proof)
    assert not check(ns, rollup_id, txs + [b"extra"], proof)
    if txs:
        assert not check(ns, rollup_id, txs[1:], proof)
    assert proof.rollup_id == rollup_id
    # a proof vouches for its own rollup's exact list only
    for other in ns:
        other_proof = prove_namespace(ns, other.rollup_id)
        assert check(ns, other.rollup_id, txs, other_proof) == (list(other.transactions) == txs)


# -- well-formedness: a hostile sequencer signs a tree that is not strictly sorted ----------------------


def _leaves(ns: tuple[Namespace, ...]) -> list:
    return [_neighbour(ns, i) for i in range(len(ns))]


def _every_proof(ns: tuple[Namespace, ...], rollup_id: int):
    """Every proof a sequencer could assemble for `rollup_id` from the real leaves of its (signed)
    tree: each leaf as the rollup's own, each single leaf or adjacent pair as an absence bracket,
    each with every choice of adjacent leaves (none, left, right, both)."""
    leaves = _leaves(ns)
    n = len(leaves)

    def adjacents(lo: int, hi: int):
        around = [leaves[i] for i in (lo - 1, hi + 1) if 0 <= i < n]
        yield ()
        for a in around:
            yield (a,)
        if len(around) == 2:
            yield tuple(around)

    for i, rid, troot, count, path in leaves:
        for adj in adjacents(i, i):
            yield NamespaceProof(rollup_id, n, troot, count, i, path, (), adj), ns[i].transactions, rid
    for lo in range(n):
        for hi in (lo, lo + 1):
            if hi < n:
                for adj in adjacents(lo, hi):
                    yield NamespaceProof(rollup_id, n, ZERO_HASH, 0, -1, (), tuple(leaves[lo:hi + 1]), adj), (), None
    yield NamespaceProof(rollup_id, n, ZERO_HASH, 0, -1, ()), (), None


def _accepted(ns: tuple[Namespace, ...], rollup_id: int) -> list:
    root = namespaces_root(ns)
    return [(p, txs) for p, txs, rid in _every_proof(ns, rollup_id)
            if (rid is None or rid == rollup_id) and verify_namespace(p, list(txs), root, len(ns), rollup_id=rollup_id)]


def test_hostile_unsorted_tree_cannot_show_an_absence() -> None:
    # The sequencer signs [(20, ...), (10, ...)]: rollup 20 has data, and the last leaf (10 < 20) used
    # to "prove" that it had none. Shown with its neighbour (20), the run is not increasing.
    hostile = (Namespace(20, (b"r20 tx",)), Namespace(10, (b"r10 tx",)))
    assert _accepted(hostile, 20) == []
    assert _accepted(hostile, 10) == []  # the tree is malformed: neither rollup can accept any view of it
    # the attack as it was: one end leaf, no adjacent leaves, bracketing by the old rule
    i, rid, troot, count, path = _neighbour(hostile, 1)
    attack = NamespaceProof(20, 2, ZERO_HASH, 0, -1, (), ((i, rid, troot, count, path),))
    assert i == 1 and rid < 20  # "the last leaf is below 20": what the old check accepted
    assert not verify_namespace(attack, [], namespaces_root(hostile), 2)
    assert find_malformed_pair(hostile) == (_neighbour(hostile, 0), _neighbour(hostile, 1))


@pytest.mark.parametrize("hostile", [
    (Namespace(10, (b"a",)), Namespace(10, (b"b",))),
    (Namespace(5, (b"x",)), Namespace(10, (b"a", b"b")), Namespace(10, (b"c",)), Namespace(30, (b"y",))),
    (Namespace(10, (b"a",)), Namespace(10, (b"a",))),
])
def test_hostile_split_namespace_is_refused(hostile: tuple[Namespace, ...]) -> None:
    # One rollup's transactions split over two adjacent leaves: each leaf alone would look complete.
    accepted = _accepted(hostile, 10)
    assert accepted == []
    assert find_malformed_pair(hostile) is not None
    # with the adjacency check removed, the split would be accepted: the leaf proof alone verifies
    i, rid, troot, count, path = _neighbour(hostile, [n.rollup_id for n in hostile].index(10))
    from sequencer.core.merkle import verify_inclusion
    assert count == len(hostile[i].transactions) and troot == tx_root(hostile[i].transactions)
    assert verify_inclusion(namespace_leaf(rid, troot, count), i, len(hostile), path, namespaces_root(hostile))


def test_present_proof_needs_its_adjacent_leaves() -> None:
    proof = prove_namespace(BLOCK, 20)
    assert [a[1] for a in proof.adjacent] == [10, 30]
    assert verify_namespace(proof, [b"d"], ROOT, COUNT)
    for adj in [(), proof.adjacent[:1], proof.adjacent[1:], (proof.adjacent[0], proof.adjacent[0])]:
        assert not verify_namespace(dataclasses.replace(proof, adjacent=adj), [b"d"], ROOT, COUNT)
    # an adjacent leaf that is not under the root, or not next to the proven leaf
    i, rid, troot, count, path = proof.adjacent[0]
    bad = ((i, rid, troot, count + 1, path), proof.adjacent[1])
    assert not verify_namespace(dataclasses.replace(proof, adjacent=bad), [b"d"], ROOT, COUNT)
    far = (proof.adjacent[0], _neighbour(BLOCK, 3))
    assert not verify_namespace(dataclasses.replace(proof, adjacent=far), [b"d"], ROOT, COUNT)
    # a present proof may not also carry absence neighbours
    assert not verify_namespace(dataclasses.replace(proof, neighbours=(proof.adjacent[0],)), [b"d"], ROOT, COUNT)
    # end leaves have one adjacent leaf
    assert [a[1] for a in prove_namespace(BLOCK, 10).adjacent] == [20]
    assert [a[1] for a in prove_namespace(BLOCK, 2**64 - 1).adjacent] == [30]
    single = (Namespace(7, (b"q",)),)
    assert prove_namespace(single, 7).adjacent == () and check(single, 7, [b"q"])


def test_absence_proof_carries_the_leaves_around_its_bracket() -> None:
    assert [a[1] for a in prove_namespace(BLOCK, 25).adjacent] == [10, 2**64 - 1]
    assert [a[1] for a in prove_namespace(BLOCK, 5).adjacent] == [20]
    assert [a[1] for a in prove_namespace(BLOCK[:3], 31).adjacent] == [20]
    assert not verify_namespace(_absent(25, _neighbour(BLOCK, 1), _neighbour(BLOCK, 2), adjacent=()), [], ROOT,
                                COUNT)


def test_non_adjacent_inversion_is_evidence_for_slashing() -> None:
    # An inversion away from the leaves a proof shows cannot be seen by that proof (module docstring):
    # rollup 10's view of leaf 0 is locally sorted; the malformed pair (1, 2) is the slashing evidence.
    hostile = (Namespace(10, (b"a",)), Namespace(20, (b"d",)), Namespace(10, (b"b",)))
    assert check(hostile, 10, [b"a"])
    left, right = find_malformed_pair(hostile)
    assert (left[0], left[1], right[0], right[1]) == (1, 20, 2, 10)
    from sequencer.core.merkle import verify_inclusion
    root = namespaces_root(hostile)
    for i, rid, troot, count, path in (left, right):
        assert verify_inclusion(namespace_leaf(rid, troot, count), i, 3, path, root)
    assert find_malformed_pair(BLOCK) is None and find_malformed_pair(()) is None


hostile_st = st.lists(
    st.tuples(st.integers(0, 6), st.lists(st.binary(min_size=1, max_size=2), min_size=1, max_size=2)),
    max_size=6,
).map(lambda items: tuple(Namespace(k, tuple(v)) for k, v in items))


@settings(max_examples=200, deadline=None)
@given(hostile_st, st.integers(0, 7))
def test_any_accepted_view_is_the_truth_or_the_tree_is_slashable(ns: tuple[Namespace, ...], rollup_id: int) -> None:
    # Whatever tree the sequencer signs and whatever proof it assembles from it, a rollup that accepts a
    # view gets all of its transactions, or the tree holds a malformed pair (slashable, refused by firm nodes).
    truth = [t for n in ns if n.rollup_id == rollup_id for t in n.transactions]
    for _proof, txs in _accepted(ns, rollup_id):
        assert list(txs) == truth or find_malformed_pair(ns) is not None
    if find_malformed_pair(ns) is None:
        assert check(ns, rollup_id, truth)


# -- bundle placements against bundles_root -------------------------------------------------------------

BUNDLES = (
    BundlePlacement(b"\x01" * 32, ((10, 0), (20, 0))),
    BundlePlacement(b"\x02" * 32, ((10, 1), (10, 2), (30, 0))),
    BundlePlacement(b"\x03" * 32, ((20, 1),)),
)


def test_bundle_proofs_verify_each_placement() -> None:
    root = bundles_root(BUNDLES)
    proofs = prove_bundles(BUNDLES)
    assert [p.leaf_index for p in proofs] == [0, 1, 2] and {p.bundle_count for p in proofs} == {3}
    for b, p in zip(BUNDLES, proofs, strict=True):
        assert prove_bundle(BUNDLES, p.leaf_index) == p
        assert verify_bundle(b, p, root)
        assert not verify_bundle(b, p, keccak(root))
    assert prove_bundles(()) == ()
    with pytest.raises(IndexError):
        prove_bundle(BUNDLES, 3)


def test_forged_bundle_placements_are_refused() -> None:
    root = bundles_root(BUNDLES)
    b, p = BUNDLES[1], prove_bundle(BUNDLES, 1)
    # a leg moved, a leg dropped, a leg added, another bundle hash, another position
    assert not verify_bundle(dataclasses.replace(b, legs=((10, 1), (10, 3), (30, 0))), p, root)
    assert not verify_bundle(dataclasses.replace(b, legs=b.legs[:2]), p, root)
    assert not verify_bundle(dataclasses.replace(b, legs=(*b.legs, (40, 0))), p, root)
    assert not verify_bundle(dataclasses.replace(b, bundle_hash=b"\x09" * 32), p, root)
    assert not verify_bundle(b, dataclasses.replace(p, leaf_index=0), root)
    assert not verify_bundle(b, BundleProof(1, 3, ()), root)
    assert not verify_bundle(BundlePlacement(b"\x01" * 32, ()), prove_bundle(BUNDLES, 0), root)


def test_bundle_legs_checked_against_the_rollups_namespace() -> None:
    root = bundles_root(BUNDLES)
    b, p = BUNDLES[1], prove_bundle(BUNDLES, 1)
    assert verify_bundle(b, p, root, rollup_id=10, tx_count=3)
    assert not verify_bundle(b, p, root, rollup_id=10, tx_count=2)  # leg index 2 beyond the namespace
    assert not verify_bundle(b, p, root, rollup_id=20, tx_count=5)  # no leg on rollup 20
    gap = (BundlePlacement(b"\x04" * 32, ((10, 0), (10, 2))),)
    assert verify_bundle(gap[0], prove_bundle(gap, 0), bundles_root(gap))
    assert not verify_bundle(gap[0], prove_bundle(gap, 0), bundles_root(gap), rollup_id=10, tx_count=3)
