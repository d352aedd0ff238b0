# Wire grammar (Etrog batches, raw ABI `bytes` in L1 calldata, no compression or framing):
#   batch        = ( changeL2Block txEntry* )*        a non-empty batch starts with 0x0b
#   forced_batch = txEntry*                           changeL2Block is forbidden
#   changeL2Block, txEntry: see l2_block_change.py, tx_entry.py
#   len(batch) <= 120000 (sequenceBatches), len(forced_batch) <= 5000 (forceBatch)
"""Etrog batch v2 and forced batches: blocks of tx entries.

Follows `EncodeBatchV2` / `DecodeBatchV2` / `DecodeForcedBatchV2` in
0xPolygonHermez/zkevm-node state/encoding_batch_v2.go; the size limits are
`_MAX_TRANSACTIONS_BYTE_LENGTH` and `_MAX_FORCE_BATCH_BYTE_LENGTH` of
0xPolygonHermez/zkevm-contracts PolygonRollupBaseEtrog.sol (the node's
`MaxBatchBytesSize` default is the same 120000). The caps bind what we encode
and what a batch of our rollups may be (`decode_blocks`); DecodeBatchV2 itself
has none, and node_read.py, which the operator's JSON view uses, applies none.
The format is Polygon CDK's as well (cdk-erigon keeps Etrog batch v2).
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import DecodeError, TooLarge

from .l2_block_change import CHANGE_L2_BLOCK, L2BlockChange, decode_l2_block_change, encode_l2_block_change
from .tx_entry import BatchTx, RawTxEntry, decode_tx_entry, encode_tx_entry

MAX_BATCH_BYTES = 120_000
"""PolygonRollupBaseEtrog `_MAX_TRANSACTIONS_BYTE_LENGTH`: a sequenced batch's data at most."""

MAX_FORCED_BATCH_BYTES = 5_000
"""PolygonRollupBaseEtrog `_MAX_FORCE_BATCH_BYTE_LENGTH`: a forced batch's data at most."""


@dataclass(frozen=True, slots=True)
class L2Block:
    """One L2 block of a batch: its changeL2Block and its transactions
    (encoding_batch_v2.go `L2BlockRaw`)."""

    change: L2BlockChange
    txs: tuple[BatchTx | RawTxEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchV2:
    """A sequenced Etrog batch (encoding_batch_v2.go `BatchRawV2`)."""

    blocks: tuple[L2Block, ...]


@dataclass(frozen=True, slots=True)
class ForcedBatchV2:
    """A forced Etrog batch: transactions only (`ForcedBatchRawV2`)."""

    txs: tuple[BatchTx | RawTxEntry, ...]


def encode_l2_block(block: L2Block) -> bytes:
    return encode_l2_block_change(block.change) + b"".join(encode_tx_entry(tx) for tx in block.txs)


def encode_batch_v2(batch: BatchV2, max_bytes: int = MAX_BATCH_BYTES) -> bytes:
    data = b"".join(encode_l2_block(block) for block in batch.blocks)
    check_size("batch", data, max_bytes)
    return data


def encode_forced_batch(batch: ForcedBatchV2, max_bytes: int = MAX_FORCED_BATCH_BYTES) -> bytes:
    data = b"".join(encode_tx_entry(tx) for tx in batch.txs)
    check_size("forced batch", data, max_bytes)
    return data


def check_size(what: str, data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise TooLarge(f"{what}: {len(data)} bytes, over the {max_bytes}-byte limit")


def next_batch_item(data: bytes, offset: int) -> tuple[L2BlockChange | BatchTx, int]:
    """Pull stage: the changeL2Block or tx entry at `offset`, and the next offset.

    One byte decides: 0x0b opens a block, anything else must be an RLP list.
    """
    if data[offset] == CHANGE_L2_BLOCK:
        return decode_l2_block_change(data, offset)
    return decode_tx_entry(data, offset)


def decode_batch_v2(data: bytes, max_bytes: int = MAX_BATCH_BYTES) -> BatchV2:
    """Blocks in order; empty data is a batch of no blocks, as in the reference."""
    check_decode_size("batch", data, max_bytes)
    blocks: list[L2Block] = []
    change: L2BlockChange | None = None
    txs: list[BatchTx] = []
    offset = 0
    if data and data[0] != CHANGE_L2_BLOCK:
        # A tx list without a block marker is a forced or a pre-Etrog batch (zkevm-node state/encoding_batch_v2.go
        # ErrBatchV2DontStartWithChangeL2Block). Forks 5-6 have the forced-batch layout; say so to the operator.
        hint = " (a forced or pre-Etrog batch? try --layer forced-batch)" if data[0] >= 0xC0 else ""
        raise DecodeError(f"changeL2Block: batch v2 must start with 0x0b, found 0x{data[0]:02x} at 0{hint}")
    while offset < len(data):
        item, offset = next_batch_item(data, offset)
        if isinstance(item, L2BlockChange):
            if change is not None:
                blocks.append(L2Block(change, tuple(txs)))
            change, txs = item, []
        else:
            txs.append(item)
    if change is not None:
        blocks.append(L2Block(change, tuple(txs)))
    return BatchV2(tuple(blocks))


def decode_forced_batch(data: bytes, max_bytes: int = MAX_FORCED_BATCH_BYTES) -> ForcedBatchV2:
    check_decode_size("forced batch", data, max_bytes)
    txs: list[BatchTx] = []
    offset = 0
    while offset < len(data):
        if data[offset] == CHANGE_L2_BLOCK:
            raise DecodeError(f"changeL2Block: not allowed in a forced batch, at {offset}")
        tx, offset = decode_tx_entry(data, offset)
        txs.append(tx)
    return ForcedBatchV2(tuple(txs))


def check_decode_size(what: str, data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise DecodeError(f"{what}: {len(data)} bytes, over the {max_bytes}-byte limit, at {max_bytes}")
