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
`ecrecover` and eth-account both recover it. A block's hash is the
domain-free `hashStruct(BlockHeader)`: the parent-hash chain does not change
when the inbox moves. contracts/SharedSeqLib.sol computes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from .hashing import keccak
from .types import BlockHeader, Hash32

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

    def sign_receipt(self, rollup_id: int, tx_hash: Hash32, height: int, index: int) -> bytes:
        return self.sign_struct(receipt_struct_hash(rollup_id, tx_hash, height, index))


def recover_signer(domain: Domain, struct_hash: Hash32, signature: bytes) -> bytes:
    """The 20-byte address that produced `signature` over the struct's typed digest."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise ValueError("signature must be 65 bytes r ++ s ++ v with v in {27, 28}")
    sig = signature[:64] + bytes([signature[64] - 27])
    pub = PublicKey.from_signature_and_message(sig, typed_digest(domain, struct_hash), hasher=None)
    return keccak(pub.format(compressed=False)[1:])[12:]
