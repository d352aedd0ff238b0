"""The sequencer's data model (docs/architecture.md section 3).

Plain frozen values: the core builds them, the shells store and serve them,
the rollup adapters read them. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .hashing import keccak

RollupId = int
"""A rollup's chain id, uint64."""

Hash32 = bytes
"""A 32-byte keccak256 digest."""

U64_MAX = 2**64 - 1
ZERO_HASH: Hash32 = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class Transaction:
    """One rollup transaction: opaque payload bytes tagged with its rollup.

    `tx_hash` is keccak256(payload), which for EVM rollups is the usual
    transaction hash of a raw signed transaction.
    """

    rollup_id: RollupId
    payload: bytes
    tx_hash: Hash32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tx_hash", keccak(self.payload))


@dataclass(frozen=True, slots=True)
class Bundle:
    """Legs included all-or-nothing, in one block, contiguous per rollup.

    `bundle_hash` = keccak256 over `uint64 rollup_id ++ bytes32 tx_hash` of each
    leg, in leg order. The rollup ids are in it because a transaction is the pair
    (rollup, hash): without them, the same payloads on swapped rollups would be
    another bundle with the same hash.
    """

    legs: tuple[Transaction, ...]
    bundle_hash: Hash32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bundle_hash",
                           keccak(b"".join(t.rollup_id.to_bytes(8, "big") + t.tx_hash for t in self.legs)))


@dataclass(frozen=True, slots=True)
class Namespace:
    """A rollup's ordered transactions (payloads) in one shared block."""

    rollup_id: RollupId
    transactions: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class BundlePlacement:
    """Where a bundle landed: each leg as (rollup_id, index in that namespace)."""

    bundle_hash: Hash32
    legs: tuple[tuple[RollupId, int], ...]


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The signed part of a shared block (EIP-712 struct `BlockHeader`).

    `namespaces_root` is the Merkle root (see merkle.py) over one leaf per
    namespace with data, `(rollup_id, tx_root, tx_count)`, sorted by rollup id;
    `namespace_count` is that number of leaves, so proofs are bound to a size.
    `bundles_root` is the Merkle root over the bundle placements in order.
    `timestamp_ms` is the slot's start time in Unix milliseconds.
    """

    height: int
    parent_hash: Hash32
    timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: Hash32
    namespaces_root: Hash32
    namespace_count: int
    bundles_root: Hash32


@dataclass(frozen=True, slots=True)
class SharedBlock:
    """A sealed shared block: header, the sequencer's signature, and the data.

    `signature` is 65 bytes r ++ s ++ v (v in {27, 28}) over the header's
    EIP-712 digest. `namespaces` is sorted by rollup id and holds only rollups
    with data; `bundles` lists bundle placements in inclusion order.
    """

    header: BlockHeader
    signature: bytes
    namespaces: tuple[Namespace, ...]
    bundles: tuple[BundlePlacement, ...] = ()
    tx_roots: tuple[Hash32, ...] | None = field(default=None, compare=False, repr=False)
    """Each namespace's transaction root, in `namespaces` order, when the sealer already has them
    (the core keeps them as a block fills): the block log stores them instead of hashing every
    payload again. None: compute them (commitments.tx_root). Not part of the block's identity; a
    copy with other namespaces (dataclasses.replace) must set it to None."""

    @property
    def height(self) -> int:
        return self.header.height

    def namespace(self, rollup_id: RollupId) -> Namespace:
        """The rollup's namespace; empty when the rollup had no data."""
        for ns in self.namespaces:
            if ns.rollup_id == rollup_id:
                return ns
        return Namespace(rollup_id, ())


@dataclass(frozen=True, slots=True)
class Receipt:
    """A signed preconfirmation: tx `tx_hash` of `rollup_id` will be at
    `index` in that rollup's namespace of the block at `height`
    (EIP-712 struct `Preconfirmation`).

    Signed per group commit (docs/settlement.md section 1): the receipt is leaf
    `leaf_index` of the commit's `batch_count` receipts, `path` its RFC 9162
    audit path to the batch's receiptsRoot, and `batch_signature` (65 bytes
    r ++ s ++ v) the sequencer's signature over PreconfirmationBatch(receiptsRoot,
    batch_count). `signing.verify_receipt` checks all of it.
    """

    rollup_id: RollupId
    tx_hash: Hash32
    height: int
    index: int
    leaf_index: int
    batch_count: int
    path: tuple[Hash32, ...]
    batch_signature: bytes
