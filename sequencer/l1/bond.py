"""Arguments of SequencerBond's proofs, and the commitment that makes a report front-run proof.

Pure: no provider, no I/O (docs/settlement.md section 6; contracts/SequencerBond.sol). A report is
two transactions from the same account:

    data = bond.encode_abi("proveEquivocation", [header_tuple(a), sig_a, header_tuple(b), sig_b])
    bond.commitReport(report_commitment(reporter, data))      # block N
    send(to=bond, data=data)                                  # block N + 1 or later

A broken receipt is proven from the Receipt the sequencer handed out: batched_receipt(receipt).

The first reveal slashes; the reporter whose commitment is earliest (revealed within claimDelay
blocks) is paid by `claimReward(offence)` once claimDelay has passed.

Tuples follow the Solidity structs field by field:
    WindowClaim(uint8 kind, bytes32 leaf, bytes32[] path)
    BatchedReceipt(Receipt receipt, ReceiptBatch batch, bytes batchSignature, uint256 leafIndex, bytes32[] path)
    NamespaceLeaf(uint256 index, uint64 rollupId, bytes32 txRoot, uint64 txCount, bytes32[] path)
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode

from sequencer.core.commitments import find_malformed_pair, namespace_leaves, tx_root
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof
from sequencer.core.signing import Signer, block_hash, receipt_batch_root
from sequencer.core.types import BlockHeader, Hash32, Namespace, Receipt

CLAIM_LEAF = 0
"""WindowClaim.kind: the block hash is leaf `height - firstHeight` of the window's blocksRoot."""
CLAIM_PARENT = 1
"""WindowClaim.kind: the block hash at firstHeight - 1 is the window's parentHash."""
CLAIM_LAST = 2
"""WindowClaim.kind: the block hash at lastHeight is the window's lastBlockHash."""

WindowClaimTuple = tuple[int, bytes, list[bytes]]
ReceiptTuple = tuple[int, bytes, int, int]
BatchedReceiptTuple = tuple[ReceiptTuple, tuple[bytes, int], bytes, int, list[bytes]]
NamespaceLeafTuple = tuple[int, int, bytes, int, list[bytes]]


def report_commitment(reporter: str | bytes, calldata: str | bytes) -> Hash32:
    """keccak256(abi.encode(reporter, keccak256(calldata))): what `commitReport` takes before the proof
    call `calldata` is sent from `reporter` (SequencerBond._revealed)."""
    data = bytes.fromhex(calldata.removeprefix("0x")) if isinstance(calldata, str) else calldata
    addr = reporter if isinstance(reporter, str) else "0x" + reporter.hex()
    return keccak(abi_encode(["address", "bytes32"], [addr, keccak(data)]))


def window_leaf_claim(headers: Sequence[BlockHeader], height: int) -> WindowClaimTuple:
    """The WindowClaim for the block hash at `height` of a window over consecutive `headers`."""
    first = headers[0].height
    if not first <= height < first + len(headers):
        raise ValueError(f"height {height} is not in the window {first}..{first + len(headers) - 1}")
    hashes = [block_hash(h) for h in headers]
    return (CLAIM_LEAF, hashes[height - first], list(inclusion_proof(hashes, height - first)))


def window_leaf_claim_from_hashes(hashes: Sequence[Hash32], index: int) -> WindowClaimTuple:
    """The WindowClaim for leaf `index` of a blocksRoot over `hashes` (a window that may lie)."""
    return (CLAIM_LEAF, hashes[index], list(inclusion_proof(list(hashes), index)))


def field_claim(kind: int) -> WindowClaimTuple:
    """The WindowClaim that reads parentHash (CLAIM_PARENT) or lastBlockHash (CLAIM_LAST) from the window."""
    if kind not in (CLAIM_PARENT, CLAIM_LAST):
        raise ValueError(f"not a field claim kind: {kind}")
    return (kind, bytes(32), [])


def batched_receipt(receipt: Receipt) -> BatchedReceiptTuple:
    """The BatchedReceipt argument of proveBrokenReceipt / proveReceiptNamespaceAbsent for a receipt as
    the sequencer gave it (SubmitTransaction, GetTransaction; convert.receipt_from_proto): the batch's
    root is rebuilt from the receipt's path, exactly as the contract and signing.verify_receipt do.
    Raises signing.InvalidSignature for a receipt whose path cannot fit its batch."""
    return ((receipt.rollup_id, receipt.tx_hash, receipt.height, receipt.index),
            (receipt_batch_root(receipt), receipt.batch_count), receipt.batch_signature, receipt.leaf_index,
            list(receipt.path))


def sign_receipt_batch(signer: Signer, items: Sequence[ReceiptTuple]) -> list[BatchedReceiptTuple]:
    """Sign `items` (rollupId, txHash, height, index) as one group commit (Signer.sign_receipt_batch) and
    return each receipt's BatchedReceipt tuple, in order: what a test or a hostile-sequencer scenario
    needs to build a proof."""
    _, receipts = signer.sign_receipt_batch(items)
    return [batched_receipt(r) for r in receipts]


def namespace_leaf_at(namespaces: Sequence[Namespace], index: int) -> NamespaceLeafTuple:
    """NamespaceLeaf at `index` of the tree over `namespaces` as given (in any order, duplicates too)."""
    leaves = namespace_leaves(namespaces)
    ns = namespaces[index]
    return (index, ns.rollup_id, tx_root(ns.transactions), len(ns.transactions), list(inclusion_proof(leaves, index)))


def malformed_pair(namespaces: Sequence[Namespace]) -> tuple[NamespaceLeafTuple, NamespaceLeafTuple] | None:
    """The (left, right) NamespaceLeaf tuples for SequencerBond.proveMalformedTree: the first two adjacent
    leaves whose rollup ids are not strictly increasing (commitments.find_malformed_pair), or None."""
    pair = find_malformed_pair(namespaces)
    if pair is None:
        return None
    (i, rid, root, count, path), (j, rid2, root2, count2, path2) = pair
    return (i, rid, root, count, list(path)), (j, rid2, root2, count2, list(path2))


__all__ = [
    "CLAIM_LAST", "CLAIM_LEAF", "CLAIM_PARENT", "batched_receipt", "field_claim", "malformed_pair",
    "namespace_leaf_at", "report_commitment", "sign_receipt_batch", "window_leaf_claim",
    "window_leaf_claim_from_hashes",
]
