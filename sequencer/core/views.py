"""Namespace proofs from the namespace leaves alone (docs/architecture.md section 3, commitments.py).

`commitments.prove_namespace` needs every rollup's payloads, since it hashes
them into the leaves. A rollup's reader has only its own payloads and the
block's leaves `(rollup_id, tx_root, tx_count)`, which the log stores beside
the header (sequencer/store/codec.py): the proof needs nothing more, and
building it costs a few hashes per namespace instead of two per transaction.
The result is the same `NamespaceProof`, checked by the same
`commitments.verify_namespace`.
"""

from __future__ import annotations

from .commitments import NamespaceLeaf, prove_namespace_from_leaves

Leaf = NamespaceLeaf
"""A namespace leaf's fields: (rollup_id, tx_root, tx_count), as in the header's tree."""

__all__ = ["Leaf", "prove_namespace_from_leaves"]
