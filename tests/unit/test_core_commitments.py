"""Namespace completeness proofs (sequencer/core/commitments.py): a rollup
proves it got all of its transactions in a block, or that it had none."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.core.commitments import (
    NamespaceProof,
    bundle_leaf,
    bundles_root,
    namespace_leaf,
    namespaces_root,
    prove_namespace,
    tx_root,
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


def _absent(rollup_id: int, *neighbours) -> NamespaceProof:
    return NamespaceProof(rollup_id, COUNT, ZERO_HASH, 0, -1, (), tuple(neighbours))


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
