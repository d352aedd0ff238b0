"""Rollup blocks <-> batcher transaction payloads: the whole OP Stack pipeline.

    encode: RollupBlocks -> span batches (or singular batches) -> channel(s), brotli or zlib
            -> frames -> batcher tx data (0x00 ++ frame), one frame per payload
    decode: payloads -> frames -> channels (op-node assembly rules) -> batches -> RollupBlocks

Config keys (all optional unless noted):
    chain_id          L2 chain id; needed to rebuild span-batch transactions (decode) and
                      checked against protected transactions (encode; inferred if absent)
    genesis_timestamp L2 genesis time in seconds (default 0); rel_timestamp counts from it
    block_time        L2 block time in seconds (default 2)
    parent_hash       32 bytes (default zero): the L2 parent hash written to parent_check /
                      parent_hash. Our sequencer orders transactions but does not execute
                      them, so it never knows an L2 block hash; the batch carries this value.
    batch_type        "span" (default) or "singular"
    compression       "brotli" (default, Fjord channel version 0x01) or "zlib"
    max_tx_bytes      upper bound on one payload (default 120,000; calldata)
    channel_seed      bytes or str mixed into channel ids (default empty)
    prev_l1_origin_number  origin of the block before the first one, to set origin bit 0
    l1_origin_hashes  {number: hash32} used on decode to restore full L1 origin hashes of
                      span-batch blocks (a span batch carries only 20 bytes of the last one)

OP Stack block time is whole seconds and every slot has a block, so the blocks given must be
consecutive windows with timestamps on whole seconds. Forced transactions have no separate
place in OP batcher data (OP forced inclusion is deposits, derived from L1), so they are
written first in their block's list and decode back as ordinary transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollup_adapters.base import RollupBlock
from sequencer.core import evm_tx
from sequencer.core.hashing import keccak
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError, TooLarge

from .batches import SingularBatch, decode_batch, encode_batch
from .channel import MAX_RLP_BYTES_PER_CHANNEL, assemble_channels, decode_channel, encode_channel, split_into_frames
from .frames import FRAME_OVERHEAD, MAX_FRAME_LEN, decode_batcher_tx, encode_batcher_tx
from .span_batch import MAX_SPAN_BATCH_ELEMENT_COUNT, SpanBatch
from .span_txs import EMPTY_TXS, span_txs_from_transactions, transactions_from_span_txs

DEFAULT_MAX_TX_BYTES = 120_000
CHANNEL_ID_DOMAIN = b"sharedseq/opstack/channel/v1"


def channel_id_for(first_block: int, seed: bytes) -> bytes:
    """Deterministic channel id: keccak(domain ++ seed ++ first block number u64)[:16]."""
    return keccak(CHANNEL_ID_DOMAIN + seed + first_block.to_bytes(8, "big"))[:16]


def _seed(config: dict[str, Any]) -> bytes:
    seed = config.get("channel_seed", b"")
    return seed.encode() if isinstance(seed, str) else bytes(seed)


def _timing(config: dict[str, Any]) -> tuple[int, int]:
    genesis, block_time = int(config.get("genesis_timestamp", 0)), int(config.get("block_time", 2))
    if block_time <= 0 or genesis < 0:
        raise BadInput("block_time must be positive and genesis_timestamp non-negative")
    return genesis, block_time


def _block_txs(block: RollupBlock) -> list[bytes]:
    return [*block.forced, *block.transactions]


def _check_blocks(blocks: Sequence[RollupBlock], genesis: int, block_time: int) -> None:
    for prev, b in zip(blocks, blocks[1:], strict=False):
        if b.number != prev.number + 1:
            raise BadInput(f"blocks must be consecutive: {prev.number} then {b.number}")
    for b in blocks:
        if b.timestamp_ms % 1000:
            raise BadInput(f"block {b.number}: OP Stack timestamps are whole seconds ({b.timestamp_ms} ms)")
        if b.timestamp_ms // 1000 != genesis + b.number * block_time:
            raise BadInput(
                f"block {b.number}: timestamp {b.timestamp_ms // 1000} s is not genesis_timestamp + "
                f"number * block_time ({genesis} + {b.number} * {block_time})"
            )


def _chain_id(blocks: Sequence[RollupBlock], config: dict[str, Any]) -> int:
    if config.get("chain_id") is not None:
        return int(config["chain_id"])
    for b in blocks:
        for raw in _block_txs(b):
            tx = evm_tx.decode_transaction(raw)
            if tx.protected and tx.chain_id is not None:
                return tx.chain_id
    return 0


def _span_runs(blocks: Sequence[RollupBlock]) -> list[list[RollupBlock]]:
    """Cut blocks where a span batch cannot follow: the L1 origin must stay or step by one."""
    runs: list[list[RollupBlock]] = []
    txs_in_run = 0
    for b in blocks:
        n = len(_block_txs(b))
        if runs:
            last = runs[-1][-1]
            step = b.l1_origin_number - last.l1_origin_number
            fits = len(runs[-1]) < MAX_SPAN_BATCH_ELEMENT_COUNT and txs_in_run + n <= MAX_SPAN_BATCH_ELEMENT_COUNT
            if step in (0, 1) and fits:
                runs[-1].append(b)
                txs_in_run += n
                continue
        runs.append([b])
        txs_in_run = n
    return runs


def _span_batch(run: list[RollupBlock], prev_origin: int | None, parent: bytes, genesis: int,
                chain_id: int) -> SpanBatch:
    bits = 0
    for i, b in enumerate(run):
        before = prev_origin if i == 0 else run[i - 1].l1_origin_number
        if before is not None and b.l1_origin_number != before:
            bits |= 1 << i
    txs = [tx for b in run for tx in _block_txs(b)]
    return SpanBatch(
        rel_timestamp=run[0].timestamp_ms // 1000 - genesis,
        l1_origin_num=run[-1].l1_origin_number,
        parent_check=parent[:20],
        l1_origin_check=run[-1].l1_origin_hash[:20],
        origin_bits=bits,
        block_tx_counts=tuple(len(_block_txs(b)) for b in run),
        txs=span_txs_from_transactions(txs, chain_id) if txs else EMPTY_TXS,
    )


def encode_batches(blocks: Sequence[RollupBlock], config: dict[str, Any]) -> list[tuple[int, bytes]]:
    """Blocks -> encoded batches (`batch_version ++ content`), each with its first block number."""
    genesis, block_time = _timing(config)
    _check_blocks(blocks, genesis, block_time)
    parent = bytes(config.get("parent_hash", ZERO_HASH))
    if len(parent) != 32:
        raise BadInput("parent_hash must be 32 bytes")
    if config.get("batch_type", "span") == "singular":
        return [
            (b.number, encode_batch(SingularBatch(parent, b.l1_origin_number, b.l1_origin_hash,
                                                  b.timestamp_ms // 1000, tuple(_block_txs(b)))))
            for b in blocks
        ]
    if config.get("batch_type", "span") != "span":
        raise BadInput(f"batch_type must be 'span' or 'singular', got {config.get('batch_type')!r}")
    chain_id = _chain_id(blocks, config)
    out = []
    prev: int | None = config.get("prev_l1_origin_number")
    for run in _span_runs(blocks):
        try:
            batch = _span_batch(run, prev, parent, genesis, chain_id)
        except DecodeError as exc:
            raise BadInput(f"block {run[0].number}..{run[-1].number}: {exc}") from exc
        out.append((run[0].number, encode_batch(batch)))
        prev = run[-1].l1_origin_number
    return out


def encode_blocks(blocks: Sequence[RollupBlock], config: dict[str, Any]) -> list[bytes]:
    """RollupBlocks -> batcher transaction payloads (calldata), at most max_tx_bytes each."""
    if not blocks:
        return []
    max_tx = int(config.get("max_tx_bytes", DEFAULT_MAX_TX_BYTES))
    frame_data = min(max_tx - 1 - FRAME_OVERHEAD, MAX_FRAME_LEN)
    if frame_data < 1:
        raise BadInput(f"max_tx_bytes {max_tx} leaves no room for frame data")
    compression = config.get("compression", "brotli")
    if compression not in ("brotli", "zlib"):
        raise BadInput(f"compression must be 'brotli' or 'zlib', got {compression!r}")
    payloads: list[bytes] = []
    for first, group in _channel_groups(encode_batches(blocks, config)):
        data = encode_channel(group, compression)
        for frame in split_into_frames(channel_id_for(first, _seed(config)), data, frame_data):
            payloads.append(encode_batcher_tx([frame]))
    return payloads


def _channel_groups(batches: list[tuple[int, bytes]]) -> list[tuple[int, list[bytes]]]:
    """Pack batches into channels under MAX_RLP_BYTES_PER_CHANNEL (RLP header allowance 9 bytes)."""
    groups: list[tuple[int, list[bytes]]] = []
    size = 0
    for first, batch in batches:
        cost = len(batch) + 9
        if cost > MAX_RLP_BYTES_PER_CHANNEL:
            raise TooLarge(f"batch starting at block {first} is {len(batch)} bytes, over the channel limit")
        if not groups or size + cost > MAX_RLP_BYTES_PER_CHANNEL:
            groups.append((first, []))
            size = 0
        groups[-1][1].append(batch)
        size += cost
    return groups


def decode_payload_batches(payloads: Sequence[bytes]) -> list[bytes]:
    """Payloads -> the encoded batches of every complete channel, in completion order."""
    frames = [f for p in payloads for f in decode_batcher_tx(p)]
    ready, _incomplete = assemble_channels(frames)
    out: list[bytes] = []
    for ch in ready:
        out.extend(decode_channel(ch.data).batches)
    return out


def decode_blocks(payloads: Sequence[bytes], config: dict[str, Any]) -> list[RollupBlock]:
    """Batcher payloads -> RollupBlocks, transactions in order, timestamps back in ms.

    A malformed payload raises DecodeError; a channel whose stream breaks keeps the batches
    read before the break (op-node ChannelInReader). Span-batch blocks get full L1 origin
    hashes only from config["l1_origin_hashes"]; otherwise ZERO_HASH (see module doc).
    """
    genesis, block_time = _timing(config)
    hashes: dict[int, bytes] = {int(k): bytes(v) for k, v in config.get("l1_origin_hashes", {}).items()}
    blocks: list[RollupBlock] = []
    for raw in decode_payload_batches(payloads):
        batch = decode_batch(raw)
        if isinstance(batch, SingularBatch):
            blocks.append(_block(batch.timestamp, genesis, block_time, batch.epoch_number,
                                 batch.epoch_hash, batch.transactions))
            continue
        if "chain_id" not in config and batch.txs.count:
            raise BadInput("config chain_id is needed to rebuild span-batch transactions")
        txs = transactions_from_span_txs(batch.txs, int(config.get("chain_id", 0)))
        origins = batch.origin_numbers()
        known_last = hashes.get(origins[-1])
        if known_last is not None and known_last[:20] != batch.l1_origin_check:
            raise DecodeError(
                f"l1_origin_check: {batch.l1_origin_check.hex()} does not match the configured hash of "
                f"L1 block {origins[-1]}"
            )
        pos = 0
        for i, count in enumerate(batch.block_tx_counts):
            ts = genesis + batch.rel_timestamp + i * block_time
            origin_hash = hashes.get(origins[i], ZERO_HASH)
            blocks.append(_block(ts, genesis, block_time, origins[i], origin_hash, tuple(txs[pos : pos + count])))
            pos += count
    return blocks


def _block(ts: int, genesis: int, block_time: int, origin: int, origin_hash: bytes,
           txs: Sequence[bytes]) -> RollupBlock:
    if ts < genesis or (ts - genesis) % block_time:
        raise DecodeError(f"timestamp: {ts} is not on the L2 block grid (genesis {genesis}, block time {block_time})")
    return RollupBlock(
        number=(ts - genesis) // block_time, timestamp_ms=ts * 1000, l1_origin_number=origin,
        l1_origin_hash=origin_hash, transactions=tuple(txs),
    )
