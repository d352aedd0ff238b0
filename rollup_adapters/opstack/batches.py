"""Batches: the items of a channel's decompressed stream (derivation.md "Batch Format";
op-node/rollup/derive/batch.go, singular_batch.go).

    batch           = batch_version ++ content           carried as one RLP byte string
    batch_version 0 : content = rlp([parent_hash, epoch_number, epoch_hash, timestamp, transaction_list])
                      parent_hash, epoch_hash = bytes32; epoch_number, timestamp = uint64;
                      transaction_list = [raw EIP-2718 transaction bytes, ...]
    batch_version 1 : content = span batch (span_batch.py)

`decode_batch` is strict (one canonical item, nothing after it). `decode_channel_batch` reads a
batch as op-node does inside a channel (batch.go BatchData.decodeTyped): singular content is read
with rlp.Decode from a bytes.Reader, which stops after the list and never checks what follows,
and span content as RawSpanBatch.decode, which ignores trailing bytes too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import DecodeError

from .span_batch import SpanBatch, decode_span_batch, encode_span_batch, read_span_batch
from .wire import RlpItem, decode_rlp, decode_rlp_item, encode_rlp, rlp_bytes, rlp_list, rlp_uint

SINGULAR_BATCH_TYPE = 0
SPAN_BATCH_TYPE = 1
"""batch_version values (derivation.md "Batch Format"; span batches since Delta)."""


@dataclass(frozen=True, slots=True)
class SingularBatch:
    """One L2 block's batch, version 0 (derivation.md "Batch Format")."""

    parent_hash: bytes
    epoch_number: int
    epoch_hash: bytes
    timestamp: int
    transactions: tuple[bytes, ...]


Batch = SingularBatch | SpanBatch


def encode_singular_batch(batch: SingularBatch) -> bytes:
    """The version-0 content: the RLP list, without the version byte."""
    return encode_rlp([
        batch.parent_hash, batch.epoch_number, batch.epoch_hash, batch.timestamp, list(batch.transactions),
    ])


def decode_singular_batch(content: bytes, base: int = 0) -> SingularBatch:
    """Version-0 content (the RLP list) -> SingularBatch; strict like geth's rlp.DecodeBytes."""
    return _singular_from_item(decode_rlp(content, "singular_batch", base), base)


def _singular_from_item(item: RlpItem, base: int) -> SingularBatch:
    fields = rlp_list(item, "singular_batch")
    if len(fields) != 5:
        raise DecodeError(f"singular_batch: expected 5 fields, got {len(fields)} at offset {base}")
    txs = rlp_list(fields[4], "transaction_list")
    return SingularBatch(
        parent_hash=rlp_bytes(fields[0], "parent_hash", 32),
        epoch_number=rlp_uint(fields[1], "epoch_number", 64),
        epoch_hash=rlp_bytes(fields[2], "epoch_hash", 32),
        timestamp=rlp_uint(fields[3], "timestamp", 64),
        transactions=tuple(rlp_bytes(t, f"transaction_list[{i}]") for i, t in enumerate(txs)),
    )


def encode_batch(batch: Batch) -> bytes:
    """batch_version ++ content (the payload of one RLP string in the channel)."""
    if isinstance(batch, SingularBatch):
        return bytes([SINGULAR_BATCH_TYPE]) + encode_singular_batch(batch)
    return bytes([SPAN_BATCH_TYPE]) + encode_span_batch(batch)


def decode_batch(data: bytes) -> Batch:
    """batch_version ++ content -> a typed batch (batch.go decodeTyped)."""
    if not data:
        raise DecodeError("batch_version: empty batch at offset 0")
    if data[0] == SINGULAR_BATCH_TYPE:
        return decode_singular_batch(data[1:], base=1)
    if data[0] == SPAN_BATCH_TYPE:
        return decode_span_batch(data[1:], base=1)
    raise DecodeError(f"batch_version: unknown batch type {data[0]} at offset 0")


def decode_channel_batch(data: bytes) -> tuple[Batch, int]:
    """One RLP string of a channel -> (typed batch, trailing bytes not read), as op-node's
    BatchData.decodeTyped reads it: span tx_data fields left to derivation (see module doc)."""
    if not data:
        raise DecodeError("batch_version: empty batch at offset 0")
    if data[0] == SINGULAR_BATCH_TYPE:
        item, end = decode_rlp_item(data, 1, "singular_batch")
        return _singular_from_item(item, 1), len(data) - end
    if data[0] == SPAN_BATCH_TYPE:
        span, used = read_span_batch(data[1:], base=1, lenient=True)
        return span, len(data) - 1 - used
    raise DecodeError(f"batch_version: unknown batch type {data[0]} at offset 0")
