"""Binary Merkle trees over keccak256, as RFC 9162 section 2.1 defines them
(the Certificate Transparency v2 tree), with keccak256 for SHA-256:

    leaf_hash(d)   = keccak256(0x00 ++ d)
    node_hash(l,r) = keccak256(0x01 ++ l ++ r)
    MTH(D[n])      = node_hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

The empty tree's root is 32 zero bytes (RFC 9162 uses the hash of nothing;
zero is cheaper to check on-chain and no non-empty tree can produce it).
An inclusion proof is the RFC's audit path; verifying it needs the leaf's
index and the tree size, which our headers and namespace leaves commit to,
so a proof can never be replayed at another position.
The same verifier is written in Solidity (contracts/SharedSeqLib.sol).
"""

from __future__ import annotations

from collections.abc import Sequence

from .hashing import keccak
from .types import ZERO_HASH

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return keccak(LEAF_PREFIX + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return keccak(NODE_PREFIX + left + right)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    # Bottom-up: pair neighbours, carry an odd last node up unchanged. This
    # gives the same tree as the RFC's recursive split for every size.
    level = list(hashes)
    while len(level) > 1:
        nxt = [keccak(NODE_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over the leaf data items (not yet hashed)."""
    if not leaves:
        return ZERO_HASH
    return _root_of_hashes([leaf_hash(d) for d in leaves])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """The RFC 9162 audit path PATH(index, D[n]) for leaf `index`."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} not in a tree of {len(leaves)}")
    hashes = [leaf_hash(d) for d in leaves]
    path: list[bytes] = []
    _path(hashes, index, path)
    return tuple(path)


def _path(hashes: list[bytes], m: int, out: list[bytes]) -> None:
    n = len(hashes)
    if n <= 1:
        return
    k = _split(n)
    if m < k:
        _path(hashes[:k], m, out)
        out.append(_root_of_hashes(hashes[k:]))
    else:
        _path(hashes[k:], m - k, out)
        out.append(_root_of_hashes(hashes[:k]))


class MerkleFrontier:
    """MTH of a list of leaves that grows one leaf at a time, kept as it grows.

    The RFC 9162 tree of n = 2^k1 + 2^k2 + ... leaves (k1 > k2 > ...) is
    node_hash(P1, node_hash(P2, ...)), Pi the root of the i-th perfect subtree
    from the left; the frontier holds those roots, so each append costs one
    leaf hash and on average one node hash, and `root` costs at most log2(n)
    more. Why (issue 13): a pending block's transaction roots were computed
    when it was sealed, 3 hashes a transaction in one go on the event loop
    (13% of the loop under a flood, in chunks of milliseconds that every other
    client waited behind); built at admission, the seal hashes almost nothing.
    `root` equals `merkle_root` of the same leaves (tests/unit/core/test_core_merkle.py)."""

    __slots__ = ("_nodes", "count")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []
        """The perfect subtrees' roots, largest first: one per set bit of `count`."""
        self.count = 0

    def append(self, data: bytes) -> None:
        """Add the leaf with data `data` (hashed here, as `merkle_root` hashes its leaves)."""
        # Leaf n joins the subtrees of its trailing one bits (a binary counter's carries). The
        # hashes are written out, not called through leaf_hash / node_hash: this runs once per
        # admitted transaction on the event loop.
        h = keccak(LEAF_PREFIX + data)
        n, nodes = self.count, self._nodes
        while n & 1:
            h = keccak(NODE_PREFIX + nodes.pop() + h)
            n >>= 1
        nodes.append(h)
        self.count += 1

    def root(self) -> bytes:
        """MTH of the leaves so far (32 zero bytes for none, as `merkle_root`)."""
        nodes = self._nodes
        if not nodes:
            return ZERO_HASH
        r = nodes[-1]
        for left in reversed(nodes[:-1]):
            r = node_hash(left, r)
        return r


def tree_levels(leaves: Sequence[bytes]) -> tuple[tuple[bytes, ...], ...]:
    """Every level of the tree, leaf hashes first, the root's level last (one node).

    Built bottom-up like `_root_of_hashes`: at each level a node's sibling is
    its pair partner; the odd last node is carried up unchanged, which is
    exactly where RFC 9162's path skips a level (`path_from_levels`). Needs
    at least one leaf (the empty tree has a root, 32 zero bytes, but no levels)."""
    if not leaves:
        raise ValueError("an empty tree has no levels")
    levels = [[keccak(LEAF_PREFIX + d) for d in leaves]]  # leaf_hash and node_hash, inlined: one call a hash
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = [keccak(NODE_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
    return tuple(tuple(level) for level in levels)


def path_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> tuple[bytes, ...]:
    """The audit path of leaf `index` from `tree_levels`: O(log n), no hashing."""
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"leaf {index} not in a tree of {len(levels[0])}")
    path: list[bytes] = []
    i = index
    for level in levels[:-1]:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        i >>= 1
    return tuple(path)


def inclusion_proofs(leaves: Sequence[bytes]) -> tuple[bytes, tuple[tuple[bytes, ...], ...]]:
    """The root and every leaf's audit path at once (n calls of `inclusion_proof` would rehash the
    tree n times). Built top-down: a node's path is its sibling, if it has one, followed by its
    parent's path, so each node costs one tuple and the two children of a node share the rest;
    the same paths as `path_from_levels` for every leaf (a test compares them), in 2n steps
    rather than n log n (a group commit's receipts are built on the writer's thread)."""
    if not leaves:
        return ZERO_HASH, ()
    levels = tree_levels(leaves)
    paths: Sequence[tuple[bytes, ...]] = ((),)
    for level in reversed(levels[:-1]):
        last = len(level) - 1
        paths = [(level[j ^ 1], *paths[j >> 1]) if j ^ 1 <= last else paths[j >> 1] for j in range(last + 1)]
    return levels[-1][0], tuple(paths)


def root_from_path(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root that `proof` gives for `leaf` at `index`
    of a `size`-leaf tree, or None when the proof cannot belong to such a tree
    (index out of range, a path of the wrong length)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `leaf` sit at `index` of a `size`-leaf tree with `root`?"""
    return root_from_path(leaf, index, size, proof) == root
