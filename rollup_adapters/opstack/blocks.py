"""Rollup blocks <-> batcher transaction payloads: the whole OP Stack pipeline.

    encode: RollupBlocks -> span batches (or singular batches) -> channel(s), brotli or zlib
            -> frames -> batcher tx data (0x00 ++ frame), one frame per payload
    decode: payloads -> frames -> channels (op-node assembly rules) -> batches -> RollupBlocks

Config (config.py OpStackConfig; a mapping of its field names is taken too, unknown keys refused):
    rollup_config     chain_spec.RollupConfig, an op-node rollup.json dict, or a built-in name
                      (op-mainnet, op-sepolia): the forks, and the defaults of the next three
                      keys; without it every fork is active from genesis (chain_spec.py)
    l1_timestamp      L1 inclusion time (seconds) that picks the fork; decode default: every
                      fork of the config active; encode default: the last block's timestamp
                      (a batch is posted after its blocks, so that fork is active when it lands)
    chain_id          L2 chain id; needed to rebuild span-batch transactions (decode) and
                      checked against protected transactions (encode; inferred if absent)
    genesis_timestamp L2 genesis time in seconds (default 0); rel_timestamp counts from it
    block_time        L2 block time in seconds (default 2)
    parent_hash       32 bytes (default zero): the L2 parent hash written to parent_check /
                      parent_hash. Our sequencer orders transactions but does not execute
                      them, so it never knows an L2 block hash; the batch carries this value.
    batch_type        "span" (default from Delta) or "singular" (default before Delta)
    compression       "brotli" (default from Fjord, channel version 0x01) or "zlib" (before)
    max_tx_bytes      upper bound on one payload (default 120,000; calldata)
    channel_seed      bytes or str mixed into channel ids (default empty)
    prev_l1_origin_number  origin of the block before the first one, to set origin bit 0
    l1_origin_hashes  {number: hash32} used on decode to restore full L1 origin hashes of
                      span-batch blocks (a span batch carries only 20 bytes of the last one)
    l1_blocks         decode: each payload's L1 inclusion block number, in order; channels
                      then time out as op-node times them out (pipeline.py); default: unknown,
                      no channel times out

OP Stack block time is whole seconds and every slot has a block, so the blocks given must be
consecutive windows with timestamps on whole seconds. Forced transactions have no separate
place in OP batcher data (OP forced inclusion is deposits, derived from L1), so they are
written first in their block's list and decode back as ordinary transactions.

The encoder refuses what the target fork does not allow (pipeline.check_encodable). The
decoder keeps what op-node keeps (pipeline.py): a bad batch keeps the batches before it and
skips the rest of its channel; `decode_blocks` raises only for a payload whose frames do
not parse and for configuration problems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from rollup_adapters.base import RollupBlock
from rollup_adapters.spec import config_of
from sequencer.core import evm_tx
from sequencer.core.hashing import keccak
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError, TooLarge

from .batches import SingularBatch, encode_batch
from .chain_spec import LATEST, RollupConfig, all_forks_at_genesis, load_rollup_config, parse_rollup_config
from .channel import encode_channel, split_into_frames
from .config import OpStackConfig
from .frames import FRAME_OVERHEAD, MAX_FRAME_LEN, encode_batcher_tx
from .pipeline import ForkContext, NotAllowed, check_encodable, derive_batches
from .span_batch import MAX_SPAN_BATCH_ELEMENT_COUNT, SpanBatch
from .span_txs import EMPTY_TXS, span_txs_from_transactions, transactions_from_span_txs

DEFAULT_MAX_TX_BYTES = 120_000
CHANNEL_ID_DOMAIN = b"sharedseq/opstack/channel/v1"


def channel_id_for(first_block: int, seed: bytes) -> bytes:
    """Deterministic channel id: keccak(domain ++ seed ++ first block number u64)[:16]."""
    return keccak(CHANNEL_ID_DOMAIN + seed + first_block.to_bytes(8, "big"))[:16]


def _seed(config: OpStackConfig) -> bytes:
    seed = config.channel_seed
    return seed.encode() if isinstance(seed, str) else bytes(seed)


def rollup_config_of(config: OpStackConfig) -> RollupConfig:
    """config.rollup_config as a RollupConfig (module doc); all forks at genesis without it."""
    rc = config.rollup_config
    if rc is None:
        return all_forks_at_genesis(l2_chain_id=int(config.chain_id or 0),
                                    genesis_l2_time=int(config.genesis_timestamp or 0),
                                    block_time=int(2 if config.block_time is None else config.block_time))
    if isinstance(rc, RollupConfig):
        return rc
    if isinstance(rc, str):
        return load_rollup_config(rc)
    if not isinstance(rc, Mapping):
        raise BadInput(f"rollup_config: expected a RollupConfig, a rollup.json mapping or a built-in name, "
                       f"got {type(rc).__name__}")
    return parse_rollup_config(dict(rc))


def _with_rollup_defaults(config: OpStackConfig | Mapping[str, Any] | None) -> OpStackConfig:
    """The typed config, with chain_id, genesis_timestamp and block_time from the rollup config where
    not given."""
    config = config_of(OpStackConfig, config)
    if config.rollup_config is None:
        return config
    rc = rollup_config_of(config)
    genesis = rc.genesis_l2_time if config.genesis_timestamp is None else config.genesis_timestamp
    return replace(config, rollup_config=rc, genesis_timestamp=genesis,
                   chain_id=rc.l2_chain_id if config.chain_id is None else config.chain_id,
                   block_time=rc.block_time if config.block_time is None else config.block_time)


def _timing(config: OpStackConfig) -> tuple[int, int]:
    genesis = int(config.genesis_timestamp or 0)
    block_time = int(2 if config.block_time is None else config.block_time)
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


def _chain_id(blocks: Sequence[RollupBlock], config: OpStackConfig) -> int:
    if config.chain_id is not None:
        return int(config.chain_id)
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


def encode_context(blocks: Sequence[RollupBlock], config: OpStackConfig) -> ForkContext:
    """The fork the batches are encoded for (module doc: l1_timestamp)."""
    t = config.l1_timestamp
    if t is None:
        t = max(b.timestamp_ms // 1000 for b in blocks) if blocks else LATEST
    return ForkContext(rollup_config_of(config), int(t))


def encode_batches(blocks: Sequence[RollupBlock],
                   config: OpStackConfig | Mapping[str, Any] | None) -> list[tuple[int, bytes]]:
    """Blocks -> encoded batches (`batch_version ++ content`), each with its first block number."""
    config = _with_rollup_defaults(config)
    ctx = encode_context(blocks, config)
    batch_type = ("span" if ctx.active("delta") else "singular") if config.batch_type is None else config.batch_type
    genesis, block_time = _timing(config)
    _check_blocks(blocks, genesis, block_time)
    parent = bytes(ZERO_HASH if config.parent_hash is None else config.parent_hash)
    if len(parent) != 32:
        raise BadInput("parent_hash must be 32 bytes")
    typed: list[tuple[int, SingularBatch | SpanBatch]] = []
    if batch_type == "singular":
        typed = [(b.number, SingularBatch(parent, b.l1_origin_number, b.l1_origin_hash, b.timestamp_ms // 1000,
                                          tuple(_block_txs(b)))) for b in blocks]
    elif batch_type == "span":
        chain_id = _chain_id(blocks, config)
        prev: int | None = config.prev_l1_origin_number
        for run in _span_runs(blocks):
            try:
                typed.append((run[0].number, _span_batch(run, prev, parent, genesis, chain_id)))
            except DecodeError as exc:
                raise BadInput(f"block {run[0].number}..{run[-1].number}: {exc}") from exc
            prev = run[-1].l1_origin_number
    else:
        raise BadInput(f"batch_type must be 'span' or 'singular', got {batch_type!r}")
    try:
        check_encodable([b for _, b in typed], [], None, ctx)
    except NotAllowed as exc:
        raise BadInput(f"rollup config {ctx.config.name}: {exc}") from exc
    return [(first, encode_batch(b)) for first, b in typed]


def encode_blocks(blocks: Sequence[RollupBlock], config: OpStackConfig | Mapping[str, Any] | None) -> list[bytes]:
    """RollupBlocks -> batcher transaction payloads (calldata), at most max_tx_bytes each."""
    if not blocks:
        return []
    config = _with_rollup_defaults(config)
    max_tx = int(DEFAULT_MAX_TX_BYTES if config.max_tx_bytes is None else config.max_tx_bytes)
    frame_data = min(max_tx - 1 - FRAME_OVERHEAD, MAX_FRAME_LEN)
    if frame_data < 1:
        raise BadInput(f"max_tx_bytes {max_tx} leaves no room for frame data")
    ctx = encode_context(blocks, config)
    compression = ("brotli" if ctx.active("fjord") else "zlib") if config.compression is None else config.compression
    if compression not in ("brotli", "zlib"):
        raise BadInput(f"compression must be 'brotli' or 'zlib', got {compression!r}")
    if compression == "brotli" and not ctx.active("fjord"):
        raise BadInput(f"rollup config {ctx.config.name}: compression brotli needs Fjord; the fork at "
                       f"{ctx.l1_time} is {ctx.fork} (use zlib)")
    payloads: list[bytes] = []
    for first, group in _channel_groups(encode_batches(blocks, config), ctx.max_rlp_bytes):
        data = encode_channel(group, compression, limit=ctx.max_rlp_bytes)
        for frame in split_into_frames(channel_id_for(first, _seed(config)), data, frame_data):
            payloads.append(encode_batcher_tx([frame]))
    return payloads


def _channel_groups(batches: list[tuple[int, bytes]], limit: int) -> list[tuple[int, list[bytes]]]:
    """Pack batches into channels under the fork's MaxRLPBytesPerChannel `limit` (RLP header
    allowance 9 bytes)."""
    groups: list[tuple[int, list[bytes]]] = []
    size = 0
    for first, batch in batches:
        cost = len(batch) + 9
        if cost > limit:
            raise TooLarge(f"batch starting at block {first} is {len(batch)} bytes, over the channel limit {limit}")
        if not groups or size + cost > limit:
            groups.append((first, []))
            size = 0
        groups[-1][1].append(batch)
        size += cost
    return groups


def decode_context(config: OpStackConfig) -> ForkContext:
    t = config.l1_timestamp
    return ForkContext(rollup_config_of(config), LATEST if t is None else int(t))


def decode_blocks(payloads: Sequence[bytes], config: OpStackConfig | Mapping[str, Any] | None) -> list[RollupBlock]:
    """Batcher payloads -> RollupBlocks, transactions in order, timestamps back in ms.

    A payload whose frames do not parse raises DecodeError; a channel whose stream breaks or
    holds a bad batch keeps the batches read before it (op-node ChannelInReader), and batches
    op-node drops alone are left out (pipeline.py). Span-batch blocks get full L1 origin
    hashes only from config.l1_origin_hashes; otherwise ZERO_HASH (see module doc).
    """
    config = _with_rollup_defaults(config)
    genesis, block_time = _timing(config)
    hashes: dict[int, bytes] = {int(k): bytes(v) for k, v in (config.l1_origin_hashes or {}).items()}
    blocks: list[RollupBlock] = []
    derived = derive_batches(payloads, decode_context(config), strict_payloads=True,
                             l1_blocks=config.l1_blocks)
    for kept in derived.batches:
        batch = kept.batch
        if isinstance(batch, SingularBatch):
            blocks.append(_block(batch.timestamp, genesis, block_time, batch.epoch_number,
                                 batch.epoch_hash, batch.transactions))
            continue
        if config.chain_id is None and batch.txs.count:
            raise BadInput("config chain_id is needed to rebuild span-batch transactions")
        txs = transactions_from_span_txs(batch.txs, int(config.chain_id or 0))
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
