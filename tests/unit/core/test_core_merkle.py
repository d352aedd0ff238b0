"""sequencer/core/merkle.py against a plain recursive RFC 9162 (section 2.1)
tree written here, with keccak256 and the project's zero empty root."""

from __future__ import annotations

import functools

import pytest

from sequencer.core.hashing import keccak
from sequencer.core.merkle import (
    MerkleFrontier,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    merkle_root,
    node_hash,
    path_from_levels,
    root_from_path,
    tree_levels,
    verify_inclusion,
)
from sequencer.core.types import ZERO_HASH

MAX_SIZE = 70


@functools.cache
def ref_mth(d: tuple[bytes, ...]) -> bytes:
    """MTH(D[n]) as RFC 9162 writes it (memoized: the proofs below reuse subtrees)."""
    n = len(d)
    if n == 0:
        return ZERO_HASH
    if n == 1:
        return keccak(b"\x00" + d[0])
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return keccak(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: tuple[bytes, ...]) -> list[tuple[str, bytes]]:
    """PATH(m, D[n]) as RFC 9162 writes it, each sibling tagged with its side."""
    n = len(d)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return ref_path(m, d[:k]) + [("R", ref_mth(d[k:]))]
    return ref_path(m - k, d[k:]) + [("L", ref_mth(d[:k]))]


def shape(m: int, n: int) -> list[str]:
    """The sides of PATH(m, D[n]) (the same recursion without hashing): all a
    verifier can learn of the position from a proof."""
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    return shape(m, k) + ["R"] if m < k else shape(m - k, n - k) + ["L"]


def leaves(n: int) -> tuple[bytes, ...]:
    return tuple(b"leaf-%d" % i for i in range(n))


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_hash_prefixes_are_rfc9162() -> None:
    assert leaf_hash(b"x") == keccak(b"\x00x")
    assert node_hash(b"a" * 32, b"b" * 32) == keccak(b"\x01" + b"a" * 32 + b"b" * 32)


def test_empty_tree_root_is_zero() -> None:
    assert merkle_root([]) == ZERO_HASH == ref_mth(())
    assert not verify_inclusion(b"x", 0, 0, (), ZERO_HASH)


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_root_and_proofs_match_the_rfc(n: int) -> None:
    d = leaves(n)
    root = merkle_root(d)
    assert root == ref_mth(d)
    for m in range(n):
        proof = inclusion_proof(d, m)
        path = ref_path(m, d)
        assert list(proof) == [h for _, h in path]
        assert shape(m, n) == [side for side, _ in path]
        assert verify_inclusion(d[m], m, n, proof, root)


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_tampered_proofs_fail(n: int) -> None:
    d = leaves(n)
    root = merkle_root(d)
    for m in range(n):
        proof = inclusion_proof(d, m)
        assert not verify_inclusion(d[m] + b"!", m, n, proof, root)
        assert not verify_inclusion(d[(m + 1) % n] if n > 1 else b"other", m, n, proof, root)
        assert not verify_inclusion(d[m], m, n, proof, flip(root))
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = flip(bad[i])
            assert not verify_inclusion(d[m], m, n, bad, root)
        if proof:
            assert not verify_inclusion(d[m], m, n, proof[:-1], root)
            assert not verify_inclusion(d[m], m, n, proof[::-1], root) or len(set(proof)) == 1
        assert not verify_inclusion(d[m], m, n, proof + (root,), root)
        # another index: the proof is bound to the position
        others = range(n) if n <= 16 else {0, m - 1, m + 1, n - 1 - m, n - 1}
        for j in others:
            if j != m and 0 <= j < n:
                assert not verify_inclusion(d[m], j, n, proof, root)
        assert not verify_inclusion(d[m], n, n, proof, root)
        assert not verify_inclusion(d[m], -1, n, proof, root)
        # another size: fails unless the path has the same shape in a tree of that size, where the
        # RFC's algorithm cannot tell (index 0 of 3 and of 4 both read "right, right"); the
        # header binds the real size
        sizes = range(m + 1, n + 9) if n <= 16 else {m + 1, n - 2, n - 1, n + 1, n + 2, 2 * n}
        for size in sizes:
            if size != n and size > m:
                ok = verify_inclusion(d[m], m, size, proof, root)
                assert ok == (shape(m, size) == shape(m, n)), (m, n, size)
        assert not verify_inclusion(d[m], m, 0, proof, root)
        # the next larger power of two always changes a proof's length
        assert not verify_inclusion(d[m], m, 2 * n, proof, root)


def test_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(leaves(3), 3)
    with pytest.raises(IndexError):
        inclusion_proof(leaves(3), -1)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)


def test_frontier_root_is_the_merkle_root_at_every_size() -> None:
    """MerkleFrontier, grown one leaf at a time, gives RFC 9162's MTH of every prefix (the core seals a
    pending block's transaction roots from it); a frontier that merged or carried a node wrongly
    would differ from the reference at some size below 70."""
    leaves = tuple(keccak(i.to_bytes(2, "big")) for i in range(MAX_SIZE))
    frontier = MerkleFrontier()
    assert frontier.root() == ZERO_HASH == merkle_root([])
    for n in range(1, MAX_SIZE + 1):
        frontier.append(leaves[n - 1])
        assert frontier.count == n
        assert frontier.root() == ref_mth(leaves[:n]) == merkle_root(leaves[:n])


def test_every_leafs_path_at_once_is_its_rfc_path() -> None:
    """inclusion_proofs builds the paths top-down (a node's sibling, then its parent's path): for
    every size up to 300 and around powers of two, each is exactly path_from_levels's (the RFC 9162
    path, odd nodes carried up) and rebuilds the root."""
    for n in [*range(1, 300), 511, 512, 513, 1023, 1024, 1025]:
        leaves = [f"leaf {i}".encode() for i in range(n)]
        root, paths = inclusion_proofs(leaves)
        levels = tree_levels(leaves)
        assert root == levels[-1][0] == merkle_root(leaves)
        assert paths == tuple(path_from_levels(levels, i) for i in range(n)), n
        assert all(root_from_path(leaves[i], i, n, paths[i]) == root for i in range(0, n, 7))
