"""EIP-712 typed-data hashing and secp256k1 signing of headers and receipts.

Domain: EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
        with name "sharedseq", version "1", the L1 chain id and the SequencerInbox address.
Structs (EIP-712 `encodeType`):
    BlockHeader(uint64 height,bytes32 parentHash,uint64 timestamp,uint64 l1OriginNumber,
                bytes32 l1OriginHash,bytes32 namespacesRoot,uint32 namespaceCount,bytes32 bundlesRoot)
    Preconfirmation(uint64 rollupId,bytes32 txHash,uint64 height,uint32 index)
    PreconfirmationBatch(bytes32 receiptsRoot,uint32 count)
    Window(uint64 firstHeight,uint64 lastHeight,bytes32 parentHash,bytes32 lastBlockHash,
           bytes32 blocksRoot,uint64 firstTimestamp,uint64 lastTimestamp,uint64 l1OriginNumber,
           bytes32 l1OriginHash,bytes32 rollupsHash,bytes32 witnessHash)
digest = keccak256(0x1901 ++ domainSeparator ++ hashStruct(message)); the
signature is r ++ s ++ v, v in {27, 28}, s low (EIP-2), so Solidity's
`ecrecover` and eth-account both recover it, and `recover_signer` refuses
exactly what SharedSeqLib.recover refuses (v outside {27, 28}, s > n/2).
A block's hash is the domain-free `hashStruct(BlockHeader)`: the parent-hash
chain does not change when the inbox moves. contracts/SharedSeqLib.sol
computes the same bytes.

Preconfirmations are signed once per group commit (docs/settlement.md
section 1): leaf i = hashStruct(Preconfirmation) of the commit's receipt i,
receiptsRoot = the RFC 9162 root (merkle.py) over those 32-byte leaves, and
the one signature is over hashStruct(PreconfirmationBatch(receiptsRoot,
count)). A receipt carries its leaf index, the count, its audit path and
that signature; `verify_receipt` rebuilds the root and recovers the signer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from sequencer.errors import BadInput

from .hashing import keccak
from .merkle import inclusion_proofs, path_from_levels, root_from_path, tree_levels
from .types import BlockHeader, Hash32, Receipt, RollupId

DOMAIN_NAME = "sharedseq"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
HEADER_TYPE = (
    b"BlockHeader(uint64 height,bytes32 parentHash,uint64 timestamp,uint64 l1OriginNumber,"
    b"bytes32 l1OriginHash,bytes32 namespacesRoot,uint32 namespaceCount,bytes32 bundlesRoot)"
)
RECEIPT_TYPE = b"Preconfirmation(uint64 rollupId,bytes32 txHash,uint64 height,uint32 index)"
RECEIPT_BATCH_TYPE = b"PreconfirmationBatch(bytes32 receiptsRoot,uint32 count)"
WINDOW_TYPE = (
    b"Window(uint64 firstHeight,uint64 lastHeight,bytes32 parentHash,bytes32 lastBlockHash,bytes32 blocksRoot,"
    b"uint64 firstTimestamp,uint64 lastTimestamp,uint64 l1OriginNumber,bytes32 l1OriginHash,bytes32 rollupsHash,"
    b"bytes32 witnessHash)"
)
DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE)
RECEIPT_BATCH_TYPEHASH = keccak(RECEIPT_BATCH_TYPE)
WINDOW_TYPEHASH = keccak(WINDOW_TYPE)
HEADER_TYPEHASH = keccak(HEADER_TYPE)
RECEIPT_TYPEHASH = keccak(RECEIPT_TYPE)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
"""EIP-2: a signature with s > n/2 is the malleable twin of one with n - s; SharedSeqLib refuses it."""

MAX_RECEIPT_BATCH = 2**32 - 1
"""`count` is a uint32 in the signed struct."""


class InvalidSignature(BadInput, ValueError):
    """A signature that is malformed or that no EIP-712 verifier in this system accepts.

    Also a ValueError, which is what callers of `recover_signer` caught before."""


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain: the L1 chain and the inbox contract that checks signatures."""

    chain_id: int
    verifying_contract: bytes  # 20 bytes

    def separator(self) -> Hash32:
        return keccak(
            DOMAIN_TYPEHASH
            + keccak(DOMAIN_NAME.encode())
            + keccak(DOMAIN_VERSION.encode())
            + _word(self.chain_id)
            + self.verifying_contract.rjust(32, b"\x00")
        )


def header_struct_hash(h: BlockHeader) -> Hash32:
    """hashStruct(BlockHeader): the block hash."""
    return keccak(
        HEADER_TYPEHASH
        + _word(h.height)
        + h.parent_hash
        + _word(h.timestamp_ms)
        + _word(h.l1_origin_number)
        + h.l1_origin_hash
        + h.namespaces_root
        + _word(h.namespace_count)
        + h.bundles_root
    )


block_hash = header_struct_hash


def receipt_struct_hash(rollup_id: int, tx_hash: Hash32, height: int, index: int) -> Hash32:
    return keccak(RECEIPT_TYPEHASH + _word(rollup_id) + tx_hash + _word(height) + _word(index))


def receipt_batch_struct_hash(receipts_root: Hash32, count: int) -> Hash32:
    """hashStruct(PreconfirmationBatch): what one group commit's signature covers."""
    return keccak(RECEIPT_BATCH_TYPEHASH + receipts_root + _word(count))


def typed_digest(domain: Domain, struct_hash: Hash32) -> Hash32:
    return keccak(b"\x19\x01" + domain.separator() + struct_hash)


class Signer:
    """A secp256k1 key that signs EIP-712 digests. The key never appears in repr or logs."""

    __slots__ = ("_key", "address", "domain", "_separator")

    def __init__(self, secret: bytes, domain: Domain) -> None:
        self._key = PrivateKey(secret)
        self.address = keccak(self._key.public_key.format(compressed=False)[1:])[12:]
        self.domain = domain
        self._separator = domain.separator()

    def __repr__(self) -> str:
        return f"Signer(address=0x{self.address.hex()})"

    def digest(self, struct_hash: Hash32) -> Hash32:
        return keccak(b"\x19\x01" + self._separator + struct_hash)

    def sign_struct(self, struct_hash: Hash32) -> bytes:
        sig = self._key.sign_recoverable(self.digest(struct_hash), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def sign_header(self, h: BlockHeader) -> bytes:
        return self.sign_struct(header_struct_hash(h))

    def sign_receipt_batch(
        self, items: Sequence[tuple[RollupId, Hash32, int, int]]
    ) -> tuple[ReceiptBatch, tuple[Receipt, ...]]:
        """Sign one group commit's preconfirmations with one signature.

        `items` are (rollup_id, tx_hash, height, index) in commit order; receipt i
        is leaf i. Costs one ECDSA signature plus about 2n keccaks, instead of n
        signatures (see the module docstring)."""
        if not 0 < len(items) <= MAX_RECEIPT_BATCH:
            raise ValueError(f"a receipt batch holds 1..{MAX_RECEIPT_BATCH} receipts, not {len(items)}")
        leaves = tuple(receipt_struct_hash(*it) for it in items)
        root, paths = inclusion_proofs(leaves)
        count = len(leaves)
        sig = self.sign_struct(receipt_batch_struct_hash(root, count))
        receipts = tuple(Receipt(rid, th, h, i, n, count, path, sig)
                         for n, ((rid, th, h, i), path) in enumerate(zip(items, paths, strict=True)))
        return ReceiptBatch(root, count, sig, leaves), receipts


@dataclass(frozen=True, slots=True)
class ReceiptBatch:
    """One signed group commit of receipts: what the block log keeps to rebuild
    any of its receipts later (`receipt_from_batch`).

    `leaves` are the hashStruct(Preconfirmation) of each receipt, in order;
    `receipts_root` their RFC 9162 root; `signature` over
    hashStruct(PreconfirmationBatch(receipts_root, count))."""

    receipts_root: Hash32
    count: int
    signature: bytes
    leaves: tuple[Hash32, ...]


def receipt_from_batch(batch: ReceiptBatch, leaf_index: int, rollup_id: RollupId, tx_hash: Hash32, height: int,
                       index: int, levels: Sequence[Sequence[Hash32]] | None = None) -> Receipt:
    """Rebuild receipt `leaf_index` of a stored batch (its audit path), checking
    that the stored leaf is this transaction's preconfirmation. `levels`
    (merkle.tree_levels of the leaves) saves rehashing the batch when the
    caller keeps them (the block log caches them per batch)."""
    if not 0 <= leaf_index < batch.count or len(batch.leaves) != batch.count:
        raise ValueError(f"leaf {leaf_index} is not in a batch of {batch.count}")
    if batch.leaves[leaf_index] != receipt_struct_hash(rollup_id, tx_hash, height, index):
        raise ValueError(f"batch leaf {leaf_index} is not the preconfirmation of 0x{tx_hash.hex()}")
    levels = levels if levels is not None else tree_levels(batch.leaves)
    if levels[-1][0] != batch.receipts_root:
        raise ValueError("stored receipt batch does not rebuild its root")
    return Receipt(rollup_id, tx_hash, height, index, leaf_index, batch.count, path_from_levels(levels, leaf_index),
                   batch.signature)


def recover_signer(domain: Domain, struct_hash: Hash32, signature: bytes) -> bytes:
    """The 20-byte address that produced `signature` over the struct's typed digest.

    Refuses (InvalidSignature) what SharedSeqLib.recover refuses, so Python
    and Solidity agree on every signature: length other than 65, v outside
    {27, 28}, r or s zero or not below n, and high s (EIP-2)."""
    if len(signature) != 65:
        raise InvalidSignature(f"signature must be 65 bytes r ++ s ++ v, got {len(signature)}")
    if signature[64] not in (27, 28):
        raise InvalidSignature(f"signature v must be 27 or 28, got {signature[64]}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise InvalidSignature("signature r must be in 1..n-1")
    if not 0 < s <= HALF_N:
        raise InvalidSignature("signature s must be in 1..n/2 (low s, EIP-2)")
    sig = signature[:64] + bytes([signature[64] - 27])
    try:
        pub = PublicKey.from_signature_and_message(sig, typed_digest(domain, struct_hash), hasher=None)
    except Exception as exc:  # coincurve raises plain Exception when no key recovers
        raise InvalidSignature(f"signature does not recover a key: {exc}") from None
    return keccak(pub.format(compressed=False)[1:])[12:]


def receipt_batch_root(receipt: Receipt) -> Hash32:
    """The receiptsRoot that `receipt`'s audit path leads to (InvalidSignature if it cannot)."""
    if not 0 < receipt.batch_count <= MAX_RECEIPT_BATCH:
        raise InvalidSignature(f"receipt batch_count {receipt.batch_count} is not in 1..{MAX_RECEIPT_BATCH}")
    if len(receipt.path) > 32:
        raise InvalidSignature(f"receipt path of {len(receipt.path)} hashes is longer than any uint32-sized tree")
    if any(len(p) != 32 for p in receipt.path):
        raise InvalidSignature("receipt path entries must be 32 bytes")
    leaf = receipt_struct_hash(receipt.rollup_id, receipt.tx_hash, receipt.height, receipt.index)
    root = root_from_path(leaf, receipt.leaf_index, receipt.batch_count, receipt.path)
    if root is None:
        raise InvalidSignature(f"receipt path does not fit leaf {receipt.leaf_index} of a batch of "
                               f"{receipt.batch_count}")
    return root


def verify_receipt(domain: Domain, receipt: Receipt) -> bytes:
    """The 20-byte address that signed `receipt` (docs/api.md, "Verifying a receipt").

    leaf = hashStruct(Preconfirmation(rollupId, txHash, height, index));
    root = the RFC 9162 root from leaf, leaf_index, batch_count and path;
    signer = ecrecover of the EIP-712 digest of PreconfirmationBatch(root, batch_count).
    Raises InvalidSignature when the receipt cannot be checked (bad path, bad
    signature). The caller compares the address with the sequencer's key: a
    changed field, index or path gives another root, so another address."""
    if not (0 <= receipt.rollup_id < 2**64 and 0 <= receipt.height < 2**64 and 0 <= receipt.index < 2**32
            and len(receipt.tx_hash) == 32):
        raise InvalidSignature("receipt fields out of range (rollup_id/height uint64, index uint32, tx_hash 32 bytes)")
    root = receipt_batch_root(receipt)
    return recover_signer(domain, receipt_batch_struct_hash(root, receipt.batch_count), receipt.batch_signature)
