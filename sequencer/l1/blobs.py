"""EIP-4844 blob postings (SequencerInbox.postWindowBlobs): packing batches into blobs and back.

    blobs, counts = pack_batches(batches)          # batcher: rollup i's batch in blobs counts[i]
    raw, tx_hash = blob_tx_network_form(signed_raw, blobs)   # add the sidecar to a signed type-3 tx
    batch = unpack_batch(blobs)                    # follower: the blobs of one rollup -> its batch

Layout: each rollup's batch (the per-rollup window container) is cut into pieces of at most
MAX_BLOB_DATA_SIZE (130,044) bytes, each piece encoded with the version-0 OP Stack blob encoding
(rollup_adapters/opstack/blob.py); an empty batch takes one blob. Rollup 0's blobs come first.
The inbox records per rollup `batch_hash(versioned hashes)`: the blob's versioned hash when it has
one blob, else keccak256 of its versioned hashes concatenated.

KZG uses the Ethereum trusted setup bundled with eth_account (loaded once, about 1.5 s).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import ckzg
from eth_utils import keccak

from rollup_adapters.opstack.blob import BLOB_SIZE, MAX_BLOB_DATA_SIZE, decode_blob, encode_blob
from sequencer.core import rlp_codec

VERSIONED_HASH_VERSION_KZG = 0x01
MAX_BLOBS_PER_TX = 6
"""EIP-7594 (Osaka) per-transaction blob limit; a posting needing more goes as calldata."""
GAS_PER_BLOB = 1 << 17
"""Blob gas per blob (EIP-4844)."""


@cache
def trusted_setup() -> Any:
    from eth_account.typed_transactions.base import TRUSTED_SETUP

    return ckzg.load_trusted_setup(TRUSTED_SETUP, 0)


def commitment(blob: bytes) -> bytes:
    return bytes(ckzg.blob_to_kzg_commitment(blob, trusted_setup()))


def proof(blob: bytes, kzg_commitment: bytes) -> bytes:
    return bytes(ckzg.compute_blob_kzg_proof(blob, kzg_commitment, trusted_setup()))


def versioned_hash(kzg_commitment: bytes) -> bytes:
    """EIP-4844 kzg_to_versioned_hash: 0x01 ++ sha256(commitment)[1:]."""
    return bytes([VERSIONED_HASH_VERSION_KZG]) + hashlib.sha256(kzg_commitment).digest()[1:]


def blob_versioned_hash(blob: bytes) -> bytes:
    return versioned_hash(commitment(blob))


def batch_hash(versioned_hashes: Sequence[bytes]) -> bytes:
    """What postWindowBlobs records for one rollup's blobs."""
    if not versioned_hashes:
        raise ValueError("a rollup's batch takes at least one blob")
    if len(versioned_hashes) == 1:
        return bytes(versioned_hashes[0])
    return keccak(b"".join(versioned_hashes))


def batch_blobs(batch: bytes) -> list[bytes]:
    """One rollup's batch as version-0 blobs (at least one)."""
    pieces = [batch[i:i + MAX_BLOB_DATA_SIZE] for i in range(0, len(batch), MAX_BLOB_DATA_SIZE)] or [b""]
    return [encode_blob(p) for p in pieces]


def blob_count(batch: bytes) -> int:
    return max(1, -(-len(batch) // MAX_BLOB_DATA_SIZE))


def pack_batches(batches: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """Every rollup's blobs in order and the per-rollup blob counts (postWindowBlobs' blobCounts)."""
    blobs: list[bytes] = []
    counts = []
    for b in batches:
        bs = batch_blobs(b)
        blobs.extend(bs)
        counts.append(len(bs))
    return blobs, counts


def batch_blob_hash(batch: bytes) -> bytes:
    """The batch hash postWindowBlobs records for `batch` (computes the KZG commitments)."""
    return batch_hash([blob_versioned_hash(b) for b in batch_blobs(batch)])


def unpack_batch(blobs: Sequence[bytes]) -> bytes:
    """One rollup's batch from its blobs (strict version-0 decoding; raises DecodeError)."""
    return b"".join(decode_blob(b) for b in blobs)


def blob_tx_network_form(signed_raw: bytes, blobs: Sequence[bytes],
                         commitments: Sequence[bytes] | None = None) -> tuple[bytes, bytes]:
    """The EIP-4844 network form of a signed type-3 transaction (signed with its blobVersionedHashes
    and no blobs): 0x03 ++ rlp([tx_payload_body, blobs, commitments, proofs]); and its tx hash."""
    if not signed_raw or signed_raw[0] != 3:
        raise ValueError("not a type-3 transaction")
    if any(len(b) != BLOB_SIZE for b in blobs):
        raise ValueError("a blob is 131072 bytes")
    cs = list(commitments) if commitments is not None else [commitment(b) for b in blobs]
    proofs = [proof(b, c) for b, c in zip(blobs, cs, strict=True)]
    body = rlp_codec.decode(signed_raw[1:])
    wrapped = b"\x03" + rlp_codec.encode([body, list(blobs), cs, proofs])
    return wrapped, keccak(signed_raw)
