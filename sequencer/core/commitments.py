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

Well-formedness (issue 8, item 4): the leaves must be strictly increasing by
rollup id. A proof shows its leaves together with the leaves adjacent to them
(index - 1 and index + 1, where they exist), and `verify_namespace` refuses
unless the ids are strictly increasing across that whole run. So a sequencer
that signs [(20, ..), (10, ..)] cannot show rollup 20 an "absence" (the end
leaf 10 comes with its neighbour 20), nor split a rollup over two adjacent
leaves. An inversion elsewhere in the tree, away from the leaves a proof
shows, is not visible to one rollup's proof; it is two adjacent leaves that
are not increasing, which SequencerBond.proveMalformedTree slashes (evidence
from `find_malformed_pair`), and the firm node refuses it (every leaf of every
posted block is in the window witness, window.verify_witness).

Bundles: `prove_bundles` gives each placement's audit path under
bundles_root, `verify_bundle` checks one. The header does not count the
bundle leaves, so a bundle proof shows that the placement is one of the
block's bundles, not its position among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .hashing import keccak
from .merkle import inclusion_proofs, merkle_root, verify_inclusion
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


def namespaces_root_of(tx_roots: Sequence[tuple[RollupId, Hash32, int]]) -> Hash32:
    """`namespaces_root` from each namespace's (rollup_id, tx_root, tx_count), in rollup order, when
    the transaction roots are known already (the core keeps them as a block fills)."""
    return merkle_root([namespace_leaf(rid, root, count) for rid, root, count in tx_roots])


def bundles_root(bundles: Sequence[BundlePlacement]) -> Hash32:
    return merkle_root([bundle_leaf(b) for b in bundles])


LeafProof = tuple[int, RollupId, Hash32, int, tuple[Hash32, ...]]
"""A namespace leaf with its place: (leaf_index, rollup_id, tx_root, tx_count, audit path)."""


@dataclass(frozen=True, slots=True)
class NamespaceProof:
    """Proof that a rollup's namespace in a block is exactly what it was given.

    Present namespace: `leaf_index` and `path` prove the leaf
    `(rollup_id, tx_root, tx_count)` under the header's namespaces_root.
    Absent namespace (no data for the rollup): `neighbours` holds up to two
    adjacent leaves whose ids bracket the rollup id (or the first/last leaf,
    or none in an empty tree).
    `adjacent` holds the leaves next to the shown ones (the rollup's own leaf,
    or the neighbours): index - 1 and index + 1 where they exist, so the
    verifier sees the ids strictly increasing around what it is shown (see
    the module docstring).
    """

    rollup_id: RollupId
    namespace_count: int
    tx_root: Hash32
    tx_count: int
    leaf_index: int
    path: tuple[Hash32, ...]
    neighbours: tuple[LeafProof, ...] = ()
    adjacent: tuple[LeafProof, ...] = ()

    @property
    def present(self) -> bool:
        return self.leaf_index >= 0


NamespaceLeaf = tuple[RollupId, Hash32, int]
"""A namespace leaf's fields: (rollup_id, tx_root, tx_count)."""


def prove_namespace(namespaces: Sequence[Namespace], rollup_id: RollupId) -> NamespaceProof:
    """Build the namespace (or absence) proof for `rollup_id`; namespaces sorted by id."""
    return prove_namespace_from_leaves(
        [(ns.rollup_id, tx_root(ns.transactions), len(ns.transactions)) for ns in namespaces], rollup_id)


def prove_namespace_from_leaves(leaves: Sequence[NamespaceLeaf], rollup_id: RollupId) -> NamespaceProof:
    """The same proof from the block's leaves alone (what a rollup's reader has; core/views.py)."""
    n = len(leaves)
    _, paths = inclusion_proofs([namespace_leaf(rid, root, count) for rid, root, count in leaves])

    def leaf(i: int) -> LeafProof:
        return (i, leaves[i][0], leaves[i][1], leaves[i][2], paths[i])

    def around(first: int, last: int) -> tuple[LeafProof, ...]:
        return tuple(leaf(i) for i in (first - 1, last + 1) if 0 <= i < n)

    for i, (rid, root, count) in enumerate(leaves):
        if rid == rollup_id:
            return NamespaceProof(rollup_id, n, root, count, i, paths[i], (), around(i, i))
    after = next((i for i, (rid, _, _) in enumerate(leaves) if rid > rollup_id), n)
    idx = [i for i in (after - 1, after) if 0 <= i < n]
    adjacent = around(idx[0], idx[-1]) if idx else ()
    return NamespaceProof(rollup_id, n, merkle_root([]), 0, -1, (), tuple(leaf(i) for i in idx), adjacent)


def _increasing_run(shown: Sequence[LeafProof], adjacent: Sequence[LeafProof], namespace_count: int,
                    root: Hash32) -> bool:
    """Are `shown` (consecutive leaves) and `adjacent` together exactly the leaves
    first-1 .. last+1 (clipped to the tree), each under `root`, with strictly
    increasing rollup ids? Well-formedness around what a proof shows."""
    run = sorted([*shown, *adjacent], key=lambda leaf: leaf[0])
    first = max(0, shown[0][0] - 1)
    last = min(namespace_count - 1, shown[-1][0] + 1)
    if [leaf[0] for leaf in run] != list(range(first, last + 1)):
        return False
    for (_, r0, *_rest), (_, r1, *_rest2) in zip(run, run[1:], strict=False):
        if not r0 < r1:
            return False
    return all(verify_inclusion(namespace_leaf(rid, troot, count), i, namespace_count, path, root)
               for i, rid, troot, count, path in adjacent)


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
        own: LeafProof = (proof.leaf_index, proof.rollup_id, proof.tx_root, proof.tx_count, proof.path)
        return (
            not proof.neighbours
            and proof.tx_count == len(payloads)
            and proof.tx_root == tx_root(payloads)
            and verify_inclusion(namespace_leaf(proof.rollup_id, proof.tx_root, proof.tx_count),
                                 proof.leaf_index, namespace_count, proof.path, root)
            and _increasing_run((own,), proof.adjacent, namespace_count, root)
        )
    if payloads:
        return False
    if namespace_count == 0:
        return root == merkle_root([]) and not proof.neighbours and not proof.adjacent
    for i, rid, troot, count, path in proof.neighbours:
        if not verify_inclusion(namespace_leaf(rid, troot, count), i, namespace_count, path, root):
            return False
    idx = [(i, rid) for i, rid, *_ in proof.neighbours]
    if len(idx) == 2:
        (i0, r0), (i1, r1) = idx
        bracketed = i1 == i0 + 1 and r0 < proof.rollup_id < r1
    elif len(idx) == 1:
        i, rid = idx[0]
        bracketed = (i == 0 and proof.rollup_id < rid) or (i == namespace_count - 1 and rid < proof.rollup_id)
    else:
        return False
    return bracketed and _increasing_run(proof.neighbours, proof.adjacent, namespace_count, root)


def find_malformed_pair(namespaces: Sequence[Namespace]) -> tuple[LeafProof, LeafProof] | None:
    """Two adjacent leaves whose rollup ids are not strictly increasing, with their
    paths (the evidence SequencerBond.proveMalformedTree takes), or None when the
    block's tree is well formed."""
    for i in range(len(namespaces) - 1):
        if not namespaces[i].rollup_id < namespaces[i + 1].rollup_id:
            roots = [tx_root(ns.transactions) for ns in namespaces]
            _, paths = inclusion_proofs([namespace_leaf(ns.rollup_id, r, len(ns.transactions))
                                         for ns, r in zip(namespaces, roots, strict=True)])
            a, b = namespaces[i], namespaces[i + 1]
            return ((i, a.rollup_id, roots[i], len(a.transactions), paths[i]),
                    (i + 1, b.rollup_id, roots[i + 1], len(b.transactions), paths[i + 1]))
    return None


@dataclass(frozen=True, slots=True)
class BundleProof:
    """Audit path of one bundle leaf under the header's bundles_root: leaf
    `leaf_index` of a `bundle_count`-leaf tree (see the module docstring on
    what the position means)."""

    leaf_index: int
    bundle_count: int
    path: tuple[Hash32, ...]


def prove_bundles(bundles: Sequence[BundlePlacement]) -> tuple[BundleProof, ...]:
    """Every placement's proof, in inclusion order, from one pass over the tree."""
    _, paths = inclusion_proofs([bundle_leaf(b) for b in bundles])
    return tuple(BundleProof(i, len(bundles), p) for i, p in enumerate(paths))


def prove_bundle(bundles: Sequence[BundlePlacement], index: int) -> BundleProof:
    """The proof of placement `index` of the block's bundles."""
    if not 0 <= index < len(bundles):
        raise IndexError(f"bundle {index} not in a block of {len(bundles)}")
    return prove_bundles(bundles)[index]


def verify_bundle(placement: BundlePlacement, proof: BundleProof, root: Hash32, *,
                  rollup_id: RollupId | None = None, tx_count: int | None = None) -> bool:
    """Is `placement` one of the bundles under `root` (a checked header's bundles_root)?

    With `rollup_id` and `tx_count` (the rollup's checked namespace size), also
    refuse a placement whose legs on that rollup are not consecutive indices
    inside the namespace: what the sequencer promises about a bundle's legs."""
    if not placement.legs or len(placement.legs) >= 2**32:
        return False
    if not verify_inclusion(bundle_leaf(placement), proof.leaf_index, proof.bundle_count, proof.path, root):
        return False
    if rollup_id is not None:
        mine = [i for r, i in placement.legs if r == rollup_id]
        if tx_count is None or not mine:
            return False
        if mine != list(range(mine[0], mine[0] + len(mine))) or mine[-1] >= tx_count:
            return False
    return True
