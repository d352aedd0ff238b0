"""Cross-implementation checks: SharedSeqLib (through the inbox's pure views) against sequencer.core."""

from __future__ import annotations

import random

from coincurve import PrivateKey

from sequencer.core.commitments import namespace_leaf
from sequencer.core.merkle import inclusion_proof, merkle_root, verify_inclusion
from sequencer.core.signing import (
    DOMAIN_TYPEHASH,
    HEADER_TYPEHASH,
    RECEIPT_TYPEHASH,
    Domain,
    block_hash,
    receipt_struct_hash,
    typed_digest,
)
from sequencer.core.types import BlockHeader

SECP_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def random_header(rng: random.Random) -> BlockHeader:
    return BlockHeader(
        height=rng.getrandbits(64), parent_hash=rng.randbytes(32), timestamp_ms=rng.getrandbits(64),
        l1_origin_number=rng.getrandbits(64), l1_origin_hash=rng.randbytes(32), namespaces_root=rng.randbytes(32),
        namespace_count=rng.getrandbits(32), bundles_root=rng.randbytes(32),
    )


def test_typehashes_match_python(l1):
    # The constants are private to the library; the header of all zeros hashes to keccak(typehash ++ zeros).
    zero = BlockHeader(0, b"\0" * 32, 0, 0, b"\0" * 32, b"\0" * 32, 0, b"\0" * 32)
    assert bytes(l1.inbox.functions.hashHeader(l1.htuple(zero)).call()) == block_hash(zero)
    assert HEADER_TYPEHASH != RECEIPT_TYPEHASH != DOMAIN_TYPEHASH


def test_domain_separator_matches_python(l1):
    domain = Domain(l1.w3.eth.chain_id, bytes.fromhex(l1.inbox.address[2:]))
    assert bytes(l1.inbox.functions.domainSeparator().call()) == domain.separator()
    assert l1.sequencer.domain.separator() == domain.separator()


def test_hash_header_and_receipt_random(l1):
    rng = random.Random(7)
    for _ in range(25):
        h = random_header(rng)
        assert bytes(l1.inbox.functions.hashHeader(l1.htuple(h)).call()) == block_hash(h)
        r = (rng.getrandbits(64), rng.randbytes(32), rng.getrandbits(64), rng.getrandbits(32))
        assert bytes(l1.inbox.functions.hashReceipt(r).call()) == receipt_struct_hash(*r)
        sh = rng.randbytes(32)
        assert bytes(l1.inbox.functions.typedDigest(sh).call()) == typed_digest(l1.sequencer.domain, sh)


def test_verify_inclusion_random_trees(l1):
    rng = random.Random(11)
    verify = l1.inbox.functions.verifyInclusion
    for size in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 33, 100):
        leaves = [rng.randbytes(rng.choice((32, 48, 5))) for _ in range(size)]
        root = merkle_root(leaves)
        for index in {size - 1, rng.randrange(size)}:
            proof = list(inclusion_proof(leaves, index))
            cases = [
                (leaves[index], index, size, proof, root),  # valid
                (leaves[index], index, size + 1, proof, root),  # wrong size
                (leaves[index], (index + 1) % (size + 1), size, proof, root),  # wrong index
                (leaves[index] + b"x", index, size, proof, root),  # wrong leaf
                (leaves[index], index, size, proof + [rng.randbytes(32)], root),  # extra step
                (leaves[index], index, size, proof[:-1], root),  # missing step
                (leaves[index], size, size, proof, root),  # index out of range
            ]
            if proof:
                bad = list(proof)
                bad[rng.randrange(len(bad))] = rng.randbytes(32)
                cases.append((leaves[index], index, size, bad, root))
            for leaf, i, n, p, r in cases:
                expected = verify_inclusion(leaf, i, n, p, r)
                assert verify(leaf, i, n, p, r).call() is expected, (size, index, i, n, len(p))
            assert verify(leaves[index], index, size, proof, root).call() is True


def test_verify_inclusion_random_garbage_agrees(l1):
    rng = random.Random(13)
    for _ in range(40):
        size = rng.randint(0, 12)
        index = rng.randint(0, 12)
        proof = [rng.randbytes(32) for _ in range(rng.randint(0, 5))]
        leaf, root = rng.randbytes(48), rng.randbytes(32)
        assert l1.inbox.functions.verifyInclusion(leaf, index, size, proof, root).call() is verify_inclusion(
            leaf, index, size, proof, root)


def test_namespace_leaf_layout_is_abi_packed():
    # uint64 ++ bytes32 ++ uint64: the layout the bond contract rebuilds with abi.encodePacked.
    leaf = namespace_leaf(0x0102030405060708, b"\xaa" * 32, 3)
    assert leaf == bytes.fromhex("0102030405060708") + b"\xaa" * 32 + (3).to_bytes(8, "big")


def test_recover_accepts_python_signature_rejects_high_s_and_bad_v(l1):
    rng = random.Random(17)
    recover = l1.inbox.functions.recoverSigner
    zero = "0x0000000000000000000000000000000000000000"
    for _ in range(5):
        h = random_header(rng)
        sig = l1.sequencer.sign_header(h)
        digest = l1.sequencer.digest(block_hash(h))
        assert recover(digest, sig).call().lower() == "0x" + l1.sequencer.address.hex()
        r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
        high = r + (SECP_N - s).to_bytes(32, "big") + bytes([55 - v])  # the malleable twin (v flipped)
        assert recover(digest, high).call() == zero
        assert recover(digest, sig[:64] + bytes([v - 27])).call() == zero  # v in {0, 1}
        assert recover(digest, sig[:64]).call() == zero  # short
    other = PrivateKey(b"\x05" * 32)
    sig = other.sign_recoverable(b"\x11" * 32, hasher=None)
    assert recover(b"\x11" * 32, sig[:64] + bytes([sig[64] + 27])).call() != "0x" + l1.sequencer.address.hex()
