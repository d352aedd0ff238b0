# Mapping (rollup blocks <-> L1 payloads, in L1 order):
#   RollupBlock k        -> one L2 block: changeL2Block(delta seconds since block k-1, indexL1InfoTree)
#                           ++ one tx entry per transaction; blocks fill batches of <= max_batch_bytes
#   RollupBlock k.forced -> forced batches (<= max_forced_batch_bytes each), placed just before the
#                           batch that holds block k; returned as ForcedBatchPayload (a tagged bytes)
"""The zkEVM (Etrog) batch format as the registry sees it.

`encode_blocks` returns every payload in the order L1 must see it. Forced
batches travel by a different contract call (`forceBatch`, then
`sequenceForceBatches`) than sequenced batches (`sequenceBatches`), so they
come back as `ForcedBatchPayload`, a bytes subclass the caller can tell apart
with `is_forced`; `decode_blocks` reads that tag, or the payload indices in
`config.forced` when the payloads were stored as plain bytes. Forced txs
read from a forced batch belong to the next L2 block decoded.

The format carries neither the rollup block number nor the L1 origin hash,
and keeps time in whole seconds: decoded blocks are numbered from
`config.first_number` (0), timed from `config.prev_timestamp_ms` (0)
plus the deltas. The L1 origin number rides in indexL1InfoTree: our
sequencer's L1 info tree has one leaf per L1 block, so a block's leaf index
is its L1 origin's number (the hash comes back as zero).

Config (config.py ZkEvmConfig, or a mapping of its field names; unknown keys
refused): max_batch_bytes (120000), max_forced_batch_bytes (5000),
prev_timestamp_ms (the time of the L2 block before the first; default the
first block's own second, so its delta is 0), index_l1_info_tree (an int, or
a mapping from block number to index; default each block's L1 origin number), effective_percentage (255),
first_number, forced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rollup_adapters.base import ForcedPayload, RollupBlock
from rollup_adapters.spec import config_of
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError, TooLarge

from .batch_v2 import (
    L2Block,
    decode_batch_v2,
    decode_forced_batch,
    encode_batch_v2,
    encode_forced_batch,
    encode_l2_block,
)
from .config import ZkEvmConfig
from .json_view import batch_from_json, forced_batch_from_json, node_batch_to_json, node_forced_batch_to_json
from .l2_block_change import L2BlockChange
from .node_read import read_batch_v2, read_forced_batch
from .tx_entry import BatchTx, RawTxEntry, batch_tx_from_raw, encode_tx_entry

BATCH_LAYER = "batch"
FORCED_BATCH_LAYER = "forced-batch"


class ForcedBatchPayload(ForcedPayload):
    """The data of a forced batch (for `forceBatch`), as opposed to a sequenced batch."""

    __slots__ = ()


def is_forced(payload: bytes) -> bool:
    return isinstance(payload, ForcedBatchPayload)


class ZkEvmFormat:
    """Polygon CDK / zkEVM Etrog (fork 7+) batch v2, registered as "cdk" and, by its older name,
    "zkevm". Polygon zkEVM mainnet reaches end of life in 2026; chains built with Polygon's CDK
    (cdk-erigon) keep this batch format. `name` stays "zkevm" for the configs that use it.

    `decode_json` reads as the node does (node_read.py: no size cap, lenient entries);
    `decode_blocks` holds a batch of our rollups to the strict codec and its caps."""

    name = "zkevm"
    layers = (BATCH_LAYER, FORCED_BATCH_LAYER)

    def encode_blocks(self, blocks: Sequence[RollupBlock],
                      config: ZkEvmConfig | Mapping[str, Any] | None) -> list[bytes]:
        return list(encode_payloads(blocks, config_of(ZkEvmConfig, config)))

    def decode_blocks(self, payloads: Sequence[bytes],
                      config: ZkEvmConfig | Mapping[str, Any] | None) -> list[RollupBlock]:
        return decode_payloads(payloads, config_of(ZkEvmConfig, config))

    def decode_json(self, data: bytes, layer: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        if check_layer(layer) == FORCED_BATCH_LAYER:
            return node_forced_batch_to_json(read_forced_batch(data))
        return node_batch_to_json(read_batch_v2(data))

    def encode_json(self, doc: dict[str, Any], layer: str | None, options: dict[str, Any] | None = None) -> bytes:
        if check_layer(layer) == FORCED_BATCH_LAYER:
            return encode_forced_batch(forced_batch_from_json(doc))
        return encode_batch_v2(batch_from_json(doc))


def check_layer(layer: str | None) -> str:
    if layer is None:
        return BATCH_LAYER
    if layer not in ZkEvmFormat.layers:
        raise BadInput(f"unknown layer {layer!r}; zkevm layers: {', '.join(ZkEvmFormat.layers)}")
    return layer


def encode_payloads(blocks: Sequence[RollupBlock], config: ZkEvmConfig) -> Iterator[bytes]:
    """Sequenced batches filled block by block, each forced batch just before
    the batch holding its block."""
    max_bytes = config.max_batch_bytes
    ep = config.effective_percentage
    pending = b""
    for block, change in zip(blocks, block_changes(blocks, config), strict=True):
        txs = tuple(batch_tx_from_raw(raw, ep) for raw in block.transactions)
        data = encode_l2_block(L2Block(change, txs))
        if len(data) > max_bytes:
            raise TooLarge(f"block {block.number}: {len(data)} bytes do not fit in a {max_bytes}-byte batch")
        if block.forced or len(pending) + len(data) > max_bytes:
            if pending:
                yield pending
            pending = b""
        yield from encode_forced_payloads(block, config)
        pending += data
    if pending:
        yield pending


def encode_forced_payloads(block: RollupBlock, config: ZkEvmConfig) -> Iterator[ForcedBatchPayload]:
    """The block's forced txs in as few forced batches as the limit allows."""
    max_bytes = config.max_forced_batch_bytes
    ep = config.effective_percentage
    pending = b""
    for raw in block.forced:
        entry = encode_tx_entry(batch_tx_from_raw(raw, ep))
        if len(entry) > max_bytes:
            raise TooLarge(f"block {block.number}: a forced tx of {len(entry)} bytes exceeds {max_bytes}")
        if len(pending) + len(entry) > max_bytes:
            yield ForcedBatchPayload(pending)
            pending = b""
        pending += entry
    if pending:
        yield ForcedBatchPayload(pending)


def block_changes(blocks: Sequence[RollupBlock], config: ZkEvmConfig) -> Iterator[L2BlockChange]:
    """changeL2Block per block: whole seconds since the previous L2 block."""
    if not blocks:
        return
    prev_ms = blocks[0].timestamp_ms if config.prev_timestamp_ms is None else config.prev_timestamp_ms
    prev = prev_ms // 1000
    index = config.index_l1_info_tree
    for block in blocks:
        second = block.timestamp_ms // 1000
        if second < prev:
            raise BadInput(f"block {block.number}: timestamp {block.timestamp_ms} ms is before the previous block")
        if index is None:
            leaf = block.l1_origin_number
        else:
            leaf = index.get(block.number, 0) if isinstance(index, Mapping) else index
        yield L2BlockChange(second - prev, leaf)
        prev = second


def decode_payloads(payloads: Sequence[bytes], config: ZkEvmConfig) -> list[RollupBlock]:
    forced_at = set(config.forced)
    max_bytes = config.max_batch_bytes
    max_forced = config.max_forced_batch_bytes
    number = config.first_number
    second = (config.prev_timestamp_ms or 0) // 1000
    forced: list[bytes] = []
    out: list[RollupBlock] = []
    for i, payload in enumerate(payloads):
        if is_forced(payload) or i in forced_at:
            forced.extend(raw_txs(decode_forced_batch(payload, max_forced).txs))
            continue
        for block in decode_batch_v2(payload, max_bytes).blocks:
            second += block.change.delta_timestamp
            out.append(rollup_block(number, second, raw_txs(block.txs), tuple(forced), block.change.index_l1_info_tree))
            number, forced = number + 1, []
    if forced:
        raise DecodeError(f"forced-batch: {len(forced)} forced txs with no later L2 block to hold them")
    return out


def raw_txs(txs: Sequence[BatchTx | RawTxEntry]) -> tuple[bytes, ...]:
    return tuple(tx.raw for tx in txs if isinstance(tx, BatchTx))  # the strict decoder makes no RawTxEntry


def rollup_block(
    number: int, second: int, txs: tuple[bytes, ...], forced: tuple[bytes, ...], l1_origin: int = 0
) -> RollupBlock:
    return RollupBlock(
        number=number,
        timestamp_ms=second * 1000,
        l1_origin_number=l1_origin,
        l1_origin_hash=ZERO_HASH,
        transactions=txs,
        forced=forced,
    )
