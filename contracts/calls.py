"""Core values as the contracts' ABI arguments (pure: no web3, no I/O).

    inbox.functions.postWindow(window_proof(headers, signature), rollup_ids, batches, forced_read)

`headers` are the window's consecutive headers in height order; `signature` is the sequencer's
signature over the last one (SharedBlock.signature). Tuples follow the Solidity structs in
SharedSeqLib.sol / SequencerInbox.sol field by field.
"""

from __future__ import annotations

from collections.abc import Sequence

from sequencer.core.commitments import NamespaceProof
from sequencer.core.merkle import inclusion_proof, merkle_root
from sequencer.core.signing import block_hash
from sequencer.core.types import BlockHeader, Hash32

HeaderTuple = tuple[int, bytes, int, int, bytes, bytes, int, bytes]
WindowTuple = tuple[HeaderTuple, list[bytes], HeaderTuple, bytes, list[bytes], int, bytes]


def header_tuple(h: BlockHeader) -> HeaderTuple:
    """SharedSeqLib.BlockHeader(height, parentHash, timestamp, l1OriginNumber, l1OriginHash,
    namespacesRoot, namespaceCount, bundlesRoot)."""
    return (h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, h.namespaces_root,
            h.namespace_count, h.bundles_root)


def receipt_tuple(rollup_id: int, tx_hash: Hash32, height: int, index: int) -> tuple[int, bytes, int, int]:
    """SharedSeqLib.Receipt(rollupId, txHash, height, index)."""
    return (rollup_id, tx_hash, height, index)


def window_root(headers: Sequence[BlockHeader]) -> Hash32:
    """The window's blocksRoot: RFC 9162 root over the block hashes in height order."""
    return merkle_root([block_hash(h) for h in headers])


def window_proof(headers: Sequence[BlockHeader], last_signature: bytes) -> WindowTuple:
    """SequencerInbox.WindowProof(first, firstProof, last, lastSignature, lastProof, blockCount, blocksRoot)."""
    if not headers:
        raise ValueError("a window holds at least one block")
    hashes = [block_hash(h) for h in headers]
    n = len(hashes)
    return (header_tuple(headers[0]), list(inclusion_proof(hashes, 0)), header_tuple(headers[-1]), last_signature,
            list(inclusion_proof(hashes, n - 1)), n, merkle_root(hashes))


def namespace_leaf_tuple(proof: NamespaceProof) -> tuple[int, int, bytes, int, list[bytes]]:
    """SharedSeqLib.NamespaceLeaf(index, rollupId, txRoot, txCount, path) of a present namespace."""
    if not proof.present:
        raise ValueError("the namespace is absent; use absence_neighbours()")
    return (proof.leaf_index, proof.rollup_id, proof.tx_root, proof.tx_count, list(proof.path))


def absence_neighbours(proof: NamespaceProof) -> list[tuple[int, int, bytes, int, list[bytes]]]:
    """The NamespaceLeaf[] for SequencerBond.proveReceiptNamespaceAbsent."""
    return [(i, rid, root, count, list(path)) for i, rid, root, count, path in proof.neighbours]
