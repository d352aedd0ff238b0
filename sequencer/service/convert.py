"""from_proto / to_proto: the only place protobuf messages meet core types."""

from __future__ import annotations

from collections.abc import Sequence

from sequencer.core.commitments import BundleProof, LeafProof, NamespaceProof, prove_bundles
from sequencer.core.config import RollupInfo
from sequencer.core.merkle import merkle_root
from sequencer.core.signing import block_hash
from sequencer.core.types import (
    BlockHeader,
    Bundle,
    BundlePlacement,
    Namespace,
    Receipt,
    SharedBlock,
    Transaction,
)
from sequencer.errors import BadInput, TooLarge
from sharedseq.v1 import sequencer_pb2 as pb


def transaction_from_proto(msg: pb.Transaction, what: str = "transaction") -> Transaction:
    if msg.rollup_id == 0:
        raise BadInput(f"{what}.rollup_id: missing (0 is not a rollup id)")
    if not msg.payload:
        raise BadInput(f"{what}.payload: empty")
    return Transaction(msg.rollup_id, bytes(msg.payload))


def list_item_from_proto(msg: pb.Transaction, i: int) -> Transaction:
    """Item `i` of a TransactionList."""
    return transaction_from_proto(msg, f"transactions[{i}]")


def bundle_from_proto(msg: pb.Bundle, max_legs: int | None = None) -> Bundle:
    """The bundle; with `max_legs`, its leg count is checked before any leg is converted (a
    400,000-leg bundle cost 1.2 s of hashing before the core's limit applied, issue 9)."""
    if not msg.legs:
        raise BadInput("bundle: no legs (a bundle needs at least one transaction)")
    if max_legs is not None and len(msg.legs) > max_legs:
        raise TooLarge(f"bundle: {len(msg.legs)} legs, over the limit of {max_legs}")
    return Bundle(tuple(transaction_from_proto(leg, f"bundle.legs[{i}]") for i, leg in enumerate(msg.legs)))


def receipt_to_proto(r: Receipt) -> pb.Receipt:
    return pb.Receipt(rollup_id=r.rollup_id, tx_hash=r.tx_hash, height=r.height, index=r.index,
                      leaf_index=r.leaf_index, batch_count=r.batch_count, path=r.path,
                      batch_signature=r.batch_signature)


def receipt_from_proto(m: pb.Receipt) -> Receipt:
    """A receipt as a client got it; check it with `signing.verify_receipt`."""
    return Receipt(m.rollup_id, bytes(m.tx_hash), m.height, m.index, m.leaf_index, m.batch_count,
                   tuple(bytes(p) for p in m.path), bytes(m.batch_signature))


def header_to_proto(h: BlockHeader) -> pb.BlockHeader:
    return pb.BlockHeader(
        height=h.height, parent_hash=h.parent_hash, timestamp_ms=h.timestamp_ms,
        l1_origin_number=h.l1_origin_number, l1_origin_hash=h.l1_origin_hash,
        namespaces_root=h.namespaces_root, namespace_count=h.namespace_count, bundles_root=h.bundles_root,
    )


def header_from_proto(m: pb.BlockHeader) -> BlockHeader:
    return BlockHeader(
        m.height, bytes(m.parent_hash), m.timestamp_ms, m.l1_origin_number, bytes(m.l1_origin_hash),
        bytes(m.namespaces_root), m.namespace_count, bytes(m.bundles_root),
    )


def signed_header_to_proto(b: SharedBlock) -> pb.SignedHeader:
    return pb.SignedHeader(header=header_to_proto(b.header), signature=b.signature,
                           block_hash=block_hash(b.header))


def bundle_placement_to_proto(p: BundlePlacement) -> pb.BundlePlacement:
    return pb.BundlePlacement(bundle_hash=p.bundle_hash,
                              legs=[pb.LegPosition(rollup_id=r, index=i) for r, i in p.legs])


def block_to_proto(b: SharedBlock) -> pb.Block:
    return pb.Block(
        signed_header=signed_header_to_proto(b),
        namespaces=[pb.Namespace(rollup_id=ns.rollup_id, transactions=ns.transactions) for ns in b.namespaces],
        bundles=[bundle_placement_to_proto(p) for p in b.bundles],
    )


def block_from_proto(m: pb.Block) -> SharedBlock:
    return SharedBlock(
        header_from_proto(m.signed_header.header),
        bytes(m.signed_header.signature),
        tuple(_namespace(ns) for ns in m.namespaces),
        tuple(BundlePlacement(bytes(p.bundle_hash), tuple((leg.rollup_id, leg.index) for leg in p.legs))
              for p in m.bundles),
    )


def _namespace(ns: pb.Namespace) -> Namespace:
    return Namespace(ns.rollup_id, tuple(bytes(t) for t in ns.transactions))


def proof_to_proto(p: NamespaceProof) -> pb.NamespaceProof:
    msg = pb.NamespaceProof(rollup_id=p.rollup_id, namespace_count=p.namespace_count)
    if p.present:
        msg.leaf.CopyFrom(pb.NamespaceLeafProof(leaf_index=p.leaf_index, rollup_id=p.rollup_id, tx_root=p.tx_root,
                                                tx_count=p.tx_count, path=p.path))
    for i, rid, root, count, path in p.neighbours:
        msg.neighbours.append(pb.NamespaceLeafProof(leaf_index=i, rollup_id=rid, tx_root=root, tx_count=count,
                                                    path=path))
    for i, rid, root, count, path in p.adjacent:
        msg.adjacent.append(pb.NamespaceLeafProof(leaf_index=i, rollup_id=rid, tx_root=root, tx_count=count,
                                                  path=path))
    return msg


def _leaf_proof(n: pb.NamespaceLeafProof) -> LeafProof:
    return (n.leaf_index, n.rollup_id, bytes(n.tx_root), n.tx_count, tuple(bytes(x) for x in n.path))


def proof_from_proto(m: pb.NamespaceProof) -> NamespaceProof:
    neighbours = tuple(_leaf_proof(n) for n in m.neighbours)
    adjacent = tuple(_leaf_proof(n) for n in m.adjacent)
    if m.HasField("leaf"):
        leaf = m.leaf
        return NamespaceProof(m.rollup_id, m.namespace_count, bytes(leaf.tx_root), leaf.tx_count, leaf.leaf_index,
                              tuple(bytes(x) for x in leaf.path), neighbours, adjacent)
    return NamespaceProof(m.rollup_id, m.namespace_count, merkle_root([]), 0, -1, (), neighbours, adjacent)


def bundle_proof_to_proto(p: BundleProof) -> pb.BundleProof:
    return pb.BundleProof(leaf_index=p.leaf_index, bundle_count=p.bundle_count, path=p.path)


def bundle_proof_from_proto(m: pb.BundleProof) -> BundleProof:
    return BundleProof(m.leaf_index, m.bundle_count, tuple(bytes(x) for x in m.path))


def rollup_block_to_proto(b: SharedBlock, rollup_id: int, proof: NamespaceProof,
                          bundle_proofs: Sequence[BundleProof] | None = None) -> pb.RollupBlock:
    """The rollup's view of `b`: its transactions, namespace proof, and the bundles touching it,
    each with its proof against bundles_root. `b.bundles` are all the block's bundles, unless
    `bundle_proofs` is given: then `b.bundles` are just the touching ones, with those proofs."""
    if bundle_proofs is None:
        pairs = [(p, pr) for p, pr in zip(b.bundles, prove_bundles(b.bundles), strict=True)
                 if any(r == rollup_id for r, _ in p.legs)]
    else:
        pairs = list(zip(b.bundles, bundle_proofs, strict=True))
    return pb.RollupBlock(
        signed_header=signed_header_to_proto(b),
        rollup_id=rollup_id,
        transactions=b.namespace(rollup_id).transactions,
        proof=proof_to_proto(proof),
        bundles=[bundle_placement_to_proto(p) for p, _ in pairs],
        bundle_proofs=[bundle_proof_to_proto(pr) for _, pr in pairs],
    )


def rollup_info_to_proto(r: RollupInfo) -> pb.RollupInfo:
    return pb.RollupInfo(rollup_id=r.rollup_id, name=r.name, policy=r.policy.name, batch_format=r.batch_format,
                         block_time_ms=r.block_time_ms)


def receipts_to_proto(receipts: Sequence[Receipt]) -> list[pb.Receipt]:
    return [receipt_to_proto(r) for r in receipts]
