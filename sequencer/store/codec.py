"""Storage encoding of sealed blocks (RLP, so the log is compact and any
Ethereum toolchain can read it):

    block     = rlp([header, signature, namespaces, bundles])
    header    = [height, parent_hash, timestamp_ms, l1_origin_number, l1_origin_hash,
                 namespaces_root, namespace_count, bundles_root]
    namespace = [rollup_id, [payload, ...]]
    bundle    = [bundle_hash, [[rollup_id, index], ...]]
"""

from __future__ import annotations

import rlp

from sequencer.core.types import BlockHeader, BundlePlacement, Namespace, SharedBlock
from sequencer.errors import Critical


def _u(b: bytes) -> int:
    return int.from_bytes(b, "big")


def encode_block(b: SharedBlock) -> bytes:
    h = b.header
    header = [h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash,
              h.namespaces_root, h.namespace_count, h.bundles_root]
    namespaces = [[ns.rollup_id, list(ns.transactions)] for ns in b.namespaces]
    bundles = [[p.bundle_hash, [[r, i] for r, i in p.legs]] for p in b.bundles]
    return rlp.encode([header, b.signature, namespaces, bundles])


def decode_block(data: bytes) -> SharedBlock:
    try:
        header, signature, namespaces, bundles = rlp.decode(data)
        h = BlockHeader(_u(header[0]), header[1], _u(header[2]), _u(header[3]), header[4], header[5],
                        _u(header[6]), header[7])
        return SharedBlock(
            h,
            signature,
            tuple(Namespace(_u(rid), tuple(txs)) for rid, txs in namespaces),
            tuple(BundlePlacement(bh, tuple((_u(r), _u(i)) for r, i in legs)) for bh, legs in bundles),
        )
    except (rlp.exceptions.DecodingError, ValueError, IndexError, TypeError) as exc:
        raise Critical(f"block log is corrupt: {exc}") from exc
