"""Span batches, batch_version 1 (delta/span-batches.md "Span batch format";
op-node/rollup/derive/span_batch.go).

    span_batch      = prefix ++ payload                       (after the 0x01 batch_version)
    prefix          = rel_timestamp ++ l1_origin_num ++ parent_check ++ l1_origin_check
    rel_timestamp   = uvarint     span_start.timestamp - L2 genesis timestamp
    l1_origin_num   = uvarint     span_end.l1_origin.number
    parent_check    = bytes20     span_start.parent_hash[:20]
    l1_origin_check = bytes20     span_end.l1_origin.hash[:20]
    payload         = block_count ++ origin_bits ++ block_tx_counts ++ txs
    block_count     = uvarint, 1 <= block_count <= MAX_SPAN_BATCH_ELEMENT_COUNT
    origin_bits     = bitlist(block_count)      bit i = block i changed L1 origin
    block_tx_counts = uvarint * block_count     sum <= MAX_SPAN_BATCH_ELEMENT_COUNT
    txs             = see span_txs.py

`decode_span_batch` is strict: trailing bytes after the txs are rejected and every tx_data is
checked field by field. Inside a channel op-node is looser, and `lenient=True` follows it:
RawSpanBatch.decode reads the prefix and payload from a bytes.Reader and never looks at what
is left, and span_batch_txs.go decodeTxDatas only frames each tx_data as an RLP list (its
fields are checked when the batch is derived, spanBatchTxs.fullTxs).
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import DecodeError

from .span_txs import SpanBatchTxs, decode_span_txs, encode_span_txs
from .wire import Reader, encode_bits, encode_uvarint

MAX_SPAN_BATCH_ELEMENT_COUNT = 10_000_000
"""Bound on block_count, on each block's tx count and on their sum (derivation.md
"Protocol Parameters"; span-batches.md "Span Batch Size Limits")."""


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """A run of consecutive L2 blocks in one batch, in its wire form (RawSpanBatch).

    `origin_bits` is the bitlist as an integer: bit i belongs to block i.
    """

    rel_timestamp: int
    l1_origin_num: int
    parent_check: bytes
    l1_origin_check: bytes
    origin_bits: int
    block_tx_counts: tuple[int, ...]
    txs: SpanBatchTxs

    @property
    def block_count(self) -> int:
        return len(self.block_tx_counts)

    def origin_numbers(self) -> list[int]:
        """Each block's L1 origin number, counted back from l1_origin_num (span_batch.go derive);
        bit 0 says whether the first block changed origin, so it does not move the count."""
        nums = [0] * self.block_count
        num = self.l1_origin_num
        for i in range(self.block_count - 1, -1, -1):
            nums[i] = num
            if i > 0 and (self.origin_bits >> i) & 1:
                num -= 1
        return nums


def encode_span_batch(batch: SpanBatch) -> bytes:
    """prefix ++ payload, without the batch_version byte."""
    if batch.block_count == 0:
        raise ValueError("span batch must hold at least one block")
    if sum(batch.block_tx_counts) != batch.txs.count:
        raise ValueError("block_tx_counts do not add up to the number of transactions")
    if len(batch.parent_check) != 20 or len(batch.l1_origin_check) != 20:
        raise ValueError("parent_check and l1_origin_check are 20 bytes")
    return b"".join([
        encode_uvarint(batch.rel_timestamp),
        encode_uvarint(batch.l1_origin_num),
        batch.parent_check,
        batch.l1_origin_check,
        encode_uvarint(batch.block_count),
        encode_bits(batch.origin_bits, batch.block_count),
        b"".join(encode_uvarint(c) for c in batch.block_tx_counts),
        encode_span_txs(batch.txs),
    ])


def decode_span_batch(data: bytes, base: int = 0, *, lenient: bool = False) -> SpanBatch:
    """prefix ++ payload -> SpanBatch; every count is capped before anything is read for it.

    `lenient`: trailing bytes ignored and tx_data fields left unchecked, as in a channel (above).
    """
    batch, end = read_span_batch(data, base, lenient=lenient)
    if not lenient and end != len(data):
        raise DecodeError(f"span_batch: {len(data) - end} leftover bytes at offset {base + end}")
    return batch


def read_span_batch(data: bytes, base: int = 0, *, lenient: bool = False) -> tuple[SpanBatch, int]:
    """Read one span batch from the start of `data`; returns it and how many bytes it took."""
    r = Reader(data, base)
    rel_timestamp = r.uvarint("rel_timestamp")
    l1_origin_num = r.uvarint("l1_origin_num")
    parent_check = r.take(20, "parent_check")
    l1_origin_check = r.take(20, "l1_origin_check")
    at = r.offset
    block_count = r.uvarint("block_count")
    if block_count == 0:
        raise DecodeError(f"block_count: empty span batch at offset {at}")
    if block_count > MAX_SPAN_BATCH_ELEMENT_COUNT:
        raise DecodeError(f"block_count: {block_count} exceeds MAX_SPAN_BATCH_ELEMENT_COUNT at offset {at}")
    origin_bits = r.bits(block_count, "origin_bits")
    counts = []
    total = 0
    for _ in range(block_count):
        at = r.offset
        c = r.uvarint("block_tx_counts")
        total += c
        if c > MAX_SPAN_BATCH_ELEMENT_COUNT or total > MAX_SPAN_BATCH_ELEMENT_COUNT:
            raise DecodeError(f"block_tx_counts: too many transactions at offset {at}")
        counts.append(c)
    txs = decode_span_txs(r, total, check_tx_data=not lenient)
    batch = SpanBatch(rel_timestamp, l1_origin_num, parent_check, l1_origin_check, origin_bits, tuple(counts), txs)
    return batch, r.pos
