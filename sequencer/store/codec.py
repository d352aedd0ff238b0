"""Storage encoding of sealed blocks (RLP, so the log is compact and any
Ethereum toolchain can read it):

    block     = rlp([header, signature, namespaces, bundles])
    header    = [height, parent_hash, timestamp_ms, l1_origin_number, l1_origin_hash,
                 namespaces_root, namespace_count, bundles_root]
    namespace = [rollup_id, [payload, ...]]
    bundle    = [bundle_hash, [[rollup_id, index], ...]]

Since the namespace split (blocks written by this version), a block is two kinds of rows, so a
rollup's reader fetches its own transactions and never the other rollups':

    block_row     = rlp([header, signature, leaves, bundles])     (table blocks)
    leaf          = [rollup_id, tx_root, tx_count]                (commitments.namespace_leaf's fields)
    namespace_row = rlp([payload, ...])                           (table namespaces, one per rollup with data)

The leaves are what a namespace proof needs from the other rollups (commitments.py), so the proof is
built without their payloads. A `block` row (old layout) is told apart from a `block_row` by its
namespaces: [rollup_id, [payload, ...]] holds a list where a leaf holds bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sequencer.core import rlp_codec
from sequencer.core.commitments import tx_root
from sequencer.core.types import BlockHeader, BundlePlacement, Hash32, Namespace, RollupId, SharedBlock
from sequencer.errors import Critical, DecodeError

Leaf = tuple[RollupId, Hash32, int]
"""A namespace leaf's fields: (rollup_id, tx_root, tx_count)."""


@dataclass(frozen=True, slots=True)
class BlockRow:
    """A block without its payloads: what every rollup's view of it shares.

    `namespaces` is set only for rows in the old layout (whole blocks)."""

    header: BlockHeader
    signature: bytes
    leaves: tuple[Leaf, ...]
    bundles: tuple[BundlePlacement, ...]
    namespaces: tuple[Namespace, ...] | None = None


def _rlp(data: bytes) -> Any:
    """The row's RLP items (bytes and lists), unpacked by shape below; a wrong shape is a TypeError or
    ValueError there, which the decoders report as a corrupt log."""
    return rlp_codec.decode(data)


def _u(b: bytes) -> int:
    return int.from_bytes(b, "big")


def encode_block(b: SharedBlock) -> bytes:
    h = b.header
    header = [h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash,
              h.namespaces_root, h.namespace_count, h.bundles_root]
    namespaces = [[ns.rollup_id, list(ns.transactions)] for ns in b.namespaces]
    bundles = [[p.bundle_hash, [[r, i] for r, i in p.legs]] for p in b.bundles]
    return rlp_codec.encode([header, b.signature, namespaces, bundles])


def _header(h: BlockHeader) -> list[object]:
    return [h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash,
            h.namespaces_root, h.namespace_count, h.bundles_root]


def encode_block_row(b: SharedBlock) -> bytes:
    """The block's row without payloads: each namespace's transaction root (the sealer's, else every
    payload hashed once here, at write time), so no reader ever hashes another rollup's transactions
    to prove its own."""
    roots = b.tx_roots if b.tx_roots is not None else [tx_root(ns.transactions) for ns in b.namespaces]
    leaves = [[ns.rollup_id, root, len(ns.transactions)] for ns, root in zip(b.namespaces, roots, strict=True)]
    bundles = [[p.bundle_hash, [[r, i] for r, i in p.legs]] for p in b.bundles]
    return rlp_codec.encode([_header(b.header), b.signature, leaves, bundles])


def encode_namespace_row(ns: Namespace) -> bytes:
    return rlp_codec.encode(list(ns.transactions))


def decode_namespace_row(data: bytes) -> tuple[bytes, ...]:
    try:
        txs = _rlp(data)
        if not isinstance(txs, list) or not all(isinstance(t, bytes) for t in txs):
            raise ValueError("not a list of payloads")
        return tuple(txs)
    except (DecodeError, ValueError) as exc:
        raise Critical(f"block log is corrupt: namespace row: {exc}") from exc


def decode_block_row(data: bytes) -> BlockRow:
    """Either layout; an old whole-block row comes back with its namespaces (and leaves computed)."""
    try:
        header, signature, namespaces, bundles = _rlp(data)
        h = BlockHeader(_u(header[0]), header[1], _u(header[2]), _u(header[3]), header[4], header[5],
                        _u(header[6]), header[7])
        placements = tuple(BundlePlacement(bh, tuple((_u(r), _u(i)) for r, i in legs)) for bh, legs in bundles)
        if namespaces and isinstance(namespaces[0][1], list):  # old layout: [rollup_id, [payload, ...]]
            full = tuple(Namespace(_u(rid), tuple(txs)) for rid, txs in namespaces)
            leaves = tuple((ns.rollup_id, tx_root(ns.transactions), len(ns.transactions)) for ns in full)
            return BlockRow(h, signature, leaves, placements, full)
        leaves = tuple((_u(rid), root, _u(count)) for rid, root, count in namespaces)
        return BlockRow(h, signature, leaves, placements)
    except (DecodeError, ValueError, IndexError, TypeError) as exc:
        raise Critical(f"block log is corrupt: {exc}") from exc


def decode_block(data: bytes) -> SharedBlock:
    try:
        header, signature, namespaces, bundles = _rlp(data)
        h = BlockHeader(_u(header[0]), header[1], _u(header[2]), _u(header[3]), header[4], header[5],
                        _u(header[6]), header[7])
        return SharedBlock(
            h,
            signature,
            tuple(Namespace(_u(rid), tuple(txs)) for rid, txs in namespaces),
            tuple(BundlePlacement(bh, tuple((_u(r), _u(i)) for r, i in legs)) for bh, legs in bundles),
        )
    except (DecodeError, ValueError, IndexError, TypeError) as exc:
        raise Critical(f"block log is corrupt: {exc}") from exc
