"""Namespace proofs from the namespace leaves alone (design.md section 3, commitments.py).

`commitments.prove_namespace` needs every rollup's payloads, since it hashes
them into the leaves. A rollup's reader has only its own payloads and the
block's leaves `(rollup_id, tx_root, tx_count)`, which the log stores beside
the header (sequencer/store/codec.py): the proof needs nothing more, and
building it costs a few hashes per namespace instead of two per transaction.
The result is the same `NamespaceProof`, checked by the same
`commitments.verify_namespace`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .commitments import NamespaceProof, namespace_leaf
from .merkle import inclusion_proof, merkle_root
from .types import Hash32, RollupId

Leaf = tuple[RollupId, Hash32, int]
"""A namespace leaf's fields: (rollup_id, tx_root, tx_count), as in the header's tree."""


def prove_namespace_from_leaves(leaves: Sequence[Leaf], rollup_id: RollupId) -> NamespaceProof:
    """The namespace (or absence) proof for `rollup_id`; `leaves` sorted by rollup id, as sealed."""
    data = [namespace_leaf(rid, root, count) for rid, root, count in leaves]
    n = len(leaves)
    for i, (rid, root, count) in enumerate(leaves):
        if rid == rollup_id:
            return NamespaceProof(rollup_id, n, root, count, i, inclusion_proof(data, i))
    after = next((i for i, (rid, _, _) in enumerate(leaves) if rid > rollup_id), n)
    neighbours = tuple(
        (i, leaves[i][0], leaves[i][1], leaves[i][2], inclusion_proof(data, i))
        for i in (after - 1, after) if 0 <= i < n
    )
    return NamespaceProof(rollup_id, n, merkle_root([]), 0, -1, (), neighbours)
