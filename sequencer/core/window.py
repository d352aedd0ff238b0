"""Posting windows: the commitment the sequencer signs for each L1 posting, and
the header witness that lets a firm node check every batch against the signed
namespace roots (docs/settlement.md; contracts/SharedSeqLib.sol `Window`).

    Window   = (first_height, last_height, parent_hash, last_block_hash, blocks_root,
                first_timestamp_ms, last_timestamp_ms, l1_origin_number, l1_origin_hash,
                rollups_hash, witness_hash)                     EIP-712 struct `Window`
    rollups_hash = keccak256(abi.encode(uint64[] rollup_ids, bytes32[] batch_hashes, uint64[] forced_to))
    witness      = rlp([entry, ...]), one entry per block, heights first..last in order
    entry        = [header, [[rollup_id, tx_root, tx_count], ...]]   every namespace leaf, sorted
    header       = [height, parent_hash, timestamp_ms, l1_origin_number, l1_origin_hash,
                    namespaces_root, namespace_count, bundles_root]   (as sequencer/store/codec.py)
    witness_hash = keccak256(witness)

blocks_root is the RFC 9162 root (merkle.py) over the window's block hashes.
The inbox checks the signature, heights, timestamps, the L1 origin and
rollups_hash/witness_hash against the posting; `verify_witness` is what a firm
node checks off-chain: every header hashes into blocks_root in order, parents
chain, origins and timestamps never decrease and end at the window's, and each block's leaves
are strictly sorted by rollup id and rebuild its namespaces root and count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.errors import DecodeError

from . import rlp_codec
from .commitments import namespace_leaf, tx_root
from .hashing import keccak
from .merkle import merkle_root
from .signing import WINDOW_TYPEHASH, block_hash
from .types import U64_MAX, BlockHeader, Hash32, RollupId, SharedBlock

MAX_WITNESS_BLOCKS = 4096
"""Blocks one witness may describe before decoding allocates for them (the inbox's cap is lower or equal)."""
MAX_WITNESS_NAMESPACES = 1024
"""Namespace leaves one block may list."""


@dataclass(frozen=True, slots=True)
class WindowCommitment:
    """The EIP-712 struct `Window` (see the module docstring)."""

    first_height: int
    last_height: int
    parent_hash: Hash32
    last_block_hash: Hash32
    blocks_root: Hash32
    first_timestamp_ms: int
    last_timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: Hash32
    rollups_hash: Hash32
    witness_hash: Hash32

    @property
    def block_count(self) -> int:
        return self.last_height - self.first_height + 1


@dataclass(frozen=True, slots=True)
class NamespaceLeaf:
    """One `(rollup_id, tx_root, tx_count)` leaf of a block's namespaces tree."""

    rollup_id: RollupId
    tx_root: Hash32
    tx_count: int


@dataclass(frozen=True, slots=True)
class WitnessBlock:
    """One block of a witness: its header and all of its namespace leaves."""

    header: BlockHeader
    leaves: tuple[NamespaceLeaf, ...]

    def leaf(self, rollup_id: RollupId) -> NamespaceLeaf | None:
        for leaf in self.leaves:
            if leaf.rollup_id == rollup_id:
                return leaf
        return None


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _abi_array(words: Sequence[bytes]) -> bytes:
    return _word(len(words)) + b"".join(words)


def rollups_hash(rollup_ids: Sequence[RollupId], batch_hashes: Sequence[Hash32], forced_to: Sequence[int]) -> Hash32:
    """keccak256(abi.encode(uint64[] rollupIds, bytes32[] batchHashes, uint64[] forcedTo))."""
    if not (len(rollup_ids) == len(batch_hashes) == len(forced_to)):
        raise ValueError("rollup_ids, batch_hashes and forced_to differ in length")
    a = _abi_array([_word(r) for r in rollup_ids])
    b = _abi_array(list(batch_hashes))
    c = _abi_array([_word(f) for f in forced_to])
    head = _word(96) + _word(96 + len(a)) + _word(96 + len(a) + len(b))
    return keccak(head + a + b + c)


def window_struct_hash(w: WindowCommitment) -> Hash32:
    """hashStruct(Window): what the sequencer's window signature covers."""
    return keccak(
        WINDOW_TYPEHASH
        + _word(w.first_height)
        + _word(w.last_height)
        + w.parent_hash
        + w.last_block_hash
        + w.blocks_root
        + _word(w.first_timestamp_ms)
        + _word(w.last_timestamp_ms)
        + _word(w.l1_origin_number)
        + w.l1_origin_hash
        + w.rollups_hash
        + w.witness_hash
    )


def blocks_root(headers: Sequence[BlockHeader]) -> Hash32:
    """The window's blocks root: RFC 9162 root over the block hashes in height order."""
    return merkle_root([block_hash(h) for h in headers])


def _header_item(h: BlockHeader) -> list:
    return [h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, h.namespaces_root,
            h.namespace_count, h.bundles_root]


def encode_witness(blocks: Sequence[SharedBlock]) -> bytes:
    """The witness of a window of sealed blocks (see the module docstring)."""
    entries = []
    for b in blocks:
        leaves = [[ns.rollup_id, tx_root(ns.transactions), len(ns.transactions)] for ns in b.namespaces]
        entries.append([_header_item(b.header), leaves])
    return rlp_codec.encode(entries)


def build_window(blocks: Sequence[SharedBlock], rollup_ids: Sequence[RollupId], batch_hashes: Sequence[Hash32],
                 forced_to: Sequence[int], witness: bytes) -> WindowCommitment:
    """The commitment for a posting of `blocks` (consecutive, in height order)."""
    if not blocks:
        raise ValueError("a window holds at least one block")
    first, last = blocks[0].header, blocks[-1].header
    return WindowCommitment(
        first.height, last.height, first.parent_hash, block_hash(last), blocks_root([b.header for b in blocks]),
        first.timestamp_ms, last.timestamp_ms, last.l1_origin_number, last.l1_origin_hash,
        rollups_hash(rollup_ids, batch_hashes, forced_to), keccak(witness),
    )


def _int(item: object, name: str, limit: int = U64_MAX) -> int:
    if not isinstance(item, bytes) or len(item) > 8 or item[:1] == b"\x00":
        raise DecodeError(f"witness: {name}: not a canonical uint64")
    n = int.from_bytes(item, "big")
    if n > limit:
        raise DecodeError(f"witness: {name}: {n} is above {limit}")
    return n


def _hash(item: object, name: str) -> Hash32:
    if not isinstance(item, bytes) or len(item) != 32:
        raise DecodeError(f"witness: {name}: not 32 bytes")
    return item


def _list(item: object, name: str, cap: int) -> list:
    if not isinstance(item, list):
        raise DecodeError(f"witness: {name}: not a list")
    if len(item) > cap:
        raise DecodeError(f"witness: {name}: {len(item)} items, at most {cap}")
    return item


def decode_witness(data: bytes, max_blocks: int = MAX_WITNESS_BLOCKS) -> tuple[WitnessBlock, ...]:
    """Parse a witness; structural checks only (verify_witness checks it against a window)."""
    try:
        root = rlp_codec.decode(data)
    except DecodeError as exc:
        raise DecodeError(f"witness: {exc}") from exc
    out = []
    for n, entry in enumerate(_list(root, "blocks", max_blocks)):
        e = _list(entry, f"block {n}", 2)
        if len(e) != 2:
            raise DecodeError(f"witness: block {n}: expected [header, leaves]")
        h = _list(e[0], f"block {n} header", 8)
        if len(h) != 8:
            raise DecodeError(f"witness: block {n} header: expected 8 fields")
        header = BlockHeader(_int(h[0], f"block {n} height"), _hash(h[1], f"block {n} parent_hash"),
                             _int(h[2], f"block {n} timestamp_ms"), _int(h[3], f"block {n} l1_origin_number"),
                             _hash(h[4], f"block {n} l1_origin_hash"), _hash(h[5], f"block {n} namespaces_root"),
                             _int(h[6], f"block {n} namespace_count", 2**32 - 1),
                             _hash(h[7], f"block {n} bundles_root"))
        leaves = []
        for k, leaf in enumerate(_list(e[1], f"block {n} leaves", MAX_WITNESS_NAMESPACES)):
            fields = _list(leaf, f"block {n} leaf {k}", 3)
            if len(fields) != 3:
                raise DecodeError(f"witness: block {n} leaf {k}: expected [rollup_id, tx_root, tx_count]")
            leaves.append(NamespaceLeaf(_int(fields[0], f"block {n} leaf {k} rollup_id"),
                                        _hash(fields[1], f"block {n} leaf {k} tx_root"),
                                        _int(fields[2], f"block {n} leaf {k} tx_count")))
        out.append(WitnessBlock(header, tuple(leaves)))
    return tuple(out)


def verify_witness(w: WindowCommitment, data: bytes) -> tuple[WitnessBlock, ...]:
    """The witness's blocks, once every check in the module docstring holds; else DecodeError.

    `w` must be a commitment whose signature the caller checked (or that the inbox accepted)."""
    if keccak(data) != w.witness_hash:
        raise DecodeError("witness: keccak256 does not match the window's witness_hash")
    if w.last_height < w.first_height:
        raise DecodeError("witness: window last_height is below first_height")
    blocks = decode_witness(data, min(MAX_WITNESS_BLOCKS, w.block_count))
    if len(blocks) != w.block_count:
        raise DecodeError(f"witness: {len(blocks)} blocks for a window of {w.block_count}")
    parent = w.parent_hash
    origin = 0
    timestamp = 0
    for i, b in enumerate(blocks):
        h = b.header
        if h.height != w.first_height + i:
            raise DecodeError(f"witness: block {i} has height {h.height}, expected {w.first_height + i}")
        if h.parent_hash != parent:
            raise DecodeError(f"witness: block {h.height}: parent hash does not chain")
        if h.l1_origin_number < origin:
            raise DecodeError(f"witness: block {h.height}: L1 origin goes back")
        if h.timestamp_ms < timestamp:
            raise DecodeError(f"witness: block {h.height}: timestamp goes back")
        origin, timestamp = h.l1_origin_number, h.timestamp_ms
        ids = [leaf.rollup_id for leaf in b.leaves]
        if any(a >= c for a, c in zip(ids, ids[1:], strict=False)):
            raise DecodeError(f"witness: block {h.height}: namespace leaves not strictly sorted by rollup id")
        if len(b.leaves) != h.namespace_count:
            raise DecodeError(f"witness: block {h.height}: {len(b.leaves)} leaves, header counts {h.namespace_count}")
        root = merkle_root([namespace_leaf(x.rollup_id, x.tx_root, x.tx_count) for x in b.leaves])
        if root != h.namespaces_root:
            raise DecodeError(f"witness: block {h.height}: leaves do not rebuild the namespaces root")
        parent = block_hash(h)
    last = blocks[-1].header
    if parent != w.last_block_hash:
        raise DecodeError("witness: last block hash differs from the window's")
    if blocks_root([b.header for b in blocks]) != w.blocks_root:
        raise DecodeError("witness: block hashes do not rebuild the window's blocks root")
    if (last.l1_origin_number, last.l1_origin_hash) != (w.l1_origin_number, w.l1_origin_hash):
        raise DecodeError("witness: last block's L1 origin differs from the window's")
    if (blocks[0].header.timestamp_ms, last.timestamp_ms) != (w.first_timestamp_ms, w.last_timestamp_ms):
        raise DecodeError("witness: timestamps differ from the window's")
    return blocks
