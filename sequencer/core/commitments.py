"""What a block header commits to, and the proofs a rollup checks.

Leaves (abi.encodePacked layouts, so Solidity rebuilds them byte for byte):
    tx leaf        = tx_hash                                           (32 bytes)
    namespace leaf = uint64 rollup_id ++ bytes32 tx_root ++ uint64 tx_count   (48 bytes)
    bundle leaf    = bytes32 bundle_hash ++ uint32 leg_count ++ (uint64 rollup_id ++ uint32 index)*
tx_root is the Merkle root (merkle.py) of a namespace's tx leaves in order;
namespaces_root the root of the namespace leaves sorted by rollup id;
bundles_root the root of the bundle leaves in inclusion order.

Completeness: the namespace leaves are sorted and counted in the header, so a
rollup proves it got all its transactions (tx_count in its leaf), and proves
that it had none in a block by two adjacent leaves that bracket its id (or
one end leaf, or an empty tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .hashing import keccak
from .merkle import inclusion_proof, merkle_root, verify_inclusion
from .types import BundlePlacement, Hash32, Namespace, RollupId


def tx_leaf(tx_hash: Hash32) -> bytes:
    return tx_hash


def namespace_leaf(rollup_id: RollupId, tx_root: Hash32, tx_count: int) -> bytes:
    return rollup_id.to_bytes(8, "big") + tx_root + tx_count.to_bytes(8, "big")


def bundle_leaf(b: BundlePlacement) -> bytes:
    legs = b"".join(r.to_bytes(8, "big") + i.to_bytes(4, "big") for r, i in b.legs)
    return b.bundle_hash + len(b.legs).to_bytes(4, "big") + legs


def tx_root(payloads: Sequence[bytes]) -> Hash32:
    return merkle_root([keccak(p) for p in payloads])


def namespace_leaves(namespaces: Sequence[Namespace]) -> list[bytes]:
    return [namespace_leaf(ns.rollup_id, tx_root(ns.transactions), len(ns.transactions)) for ns in namespaces]


def namespaces_root(namespaces: Sequence[Namespace]) -> Hash32:
    return merkle_root(namespace_leaves(namespaces))


def bundles_root(bundles: Sequence[BundlePlacement]) -> Hash32:
    return merkle_root([bundle_leaf(b) for b in bundles])


@dataclass(frozen=True, slots=True)
class NamespaceProof:
    """Proof that a rollup's namespace in a block is exactly what it was given.

    Present namespace: `leaf_index` and `path` prove the leaf
    `(rollup_id, tx_root, tx_count)` under the header's namespaces_root.
    Absent namespace (no data for the rollup): `neighbours` holds up to two
    adjacent leaves `(leaf_index, rollup_id, tx_root, tx_count, path)` whose
    ids bracket the rollup id (or the first/last leaf, or none in an empty tree).
    """

    rollup_id: RollupId
    namespace_count: int
    tx_root: Hash32
    tx_count: int
    leaf_index: int
    path: tuple[Hash32, ...]
    neighbours: tuple[tuple[int, RollupId, Hash32, int, tuple[Hash32, ...]], ...] = ()

    @property
    def present(self) -> bool:
        return self.leaf_index >= 0


def prove_namespace(namespaces: Sequence[Namespace], rollup_id: RollupId) -> NamespaceProof:
    """Build the namespace (or absence) proof for `rollup_id`; namespaces sorted by id."""
    leaves = namespace_leaves(namespaces)
    n = len(namespaces)
    for i, ns in enumerate(namespaces):
        if ns.rollup_id == rollup_id:
            return NamespaceProof(rollup_id, n, tx_root(ns.transactions), len(ns.transactions), i,
                                  inclusion_proof(leaves, i))
    after = next((i for i, ns in enumerate(namespaces) if ns.rollup_id > rollup_id), n)
    idx = [i for i in (after - 1, after) if 0 <= i < n]
    neighbours = tuple(
        (i, namespaces[i].rollup_id, tx_root(namespaces[i].transactions), len(namespaces[i].transactions),
         inclusion_proof(leaves, i))
        for i in idx
    )
    return NamespaceProof(rollup_id, n, merkle_root([]), 0, -1, (), neighbours)


def verify_namespace(proof: NamespaceProof, payloads: Sequence[bytes], root: Hash32, namespace_count: int,
                     *, rollup_id: RollupId | None = None) -> bool:
    """Check that `payloads` are exactly the rollup's transactions under `root`.

    `root` and `namespace_count` come from a header whose signature the caller
    checked; pass `rollup_id` so a proof about another rollup is refused.
    """
    if proof.namespace_count != namespace_count:
        return False
    if rollup_id is not None and proof.rollup_id != rollup_id:
        return False
    if proof.present:
        return (
            proof.tx_count == len(payloads)
            and proof.tx_root == tx_root(payloads)
            and verify_inclusion(namespace_leaf(proof.rollup_id, proof.tx_root, proof.tx_count),
                                 proof.leaf_index, namespace_count, proof.path, root)
        )
    if payloads:
        return False
    if namespace_count == 0:
        return root == merkle_root([])
    for i, rid, troot, count, path in proof.neighbours:
        if not verify_inclusion(namespace_leaf(rid, troot, count), i, namespace_count, path, root):
            return False
    idx = [(i, rid) for i, rid, *_ in proof.neighbours]
    if len(idx) == 2:
        (i0, r0), (i1, r1) = idx
        return i1 == i0 + 1 and r0 < proof.rollup_id < r1
    if len(idx) == 1:
        i, rid = idx[0]
        return (i == 0 and proof.rollup_id < rid) or (i == namespace_count - 1 and rid < proof.rollup_id)
    return False


def verify_tx_inclusion(tx_hash: Hash32, index: int, tx_count: int, path: Sequence[Hash32], root: Hash32) -> bool:
    return verify_inclusion(tx_leaf(tx_hash), index, tx_count, path, root)
