"""OP Stack batch format: batcher transactions, frames, channels, singular and span batches,
and the version-0 blob encoding (ethereum-optimism/specs protocol/derivation.md,
delta/span-batches.md, ecotone/derivation.md, fjord/derivation.md).

Stages, outermost first: blob.py -> frames.py -> channel.py -> batches.py -> span_batch.py ->
span_txs.py; chain_spec.py holds the forks and their limits (op-node rollup configs),
pipeline.py runs the stages with op-node's rules for broken data, blocks.py turns blocks into
payloads and back, and json_view.py is the operator's view.
"""

from __future__ import annotations

from rollup_adapters.base import Codec
from rollup_adapters.spec import BlockTimeRule, ForcedCarriage, FormatLimits, FormatSpec

from .batches import SingularBatch, decode_batch, decode_singular_batch, encode_batch, encode_singular_batch
from .blob import BLOB_SIZE, MAX_BLOB_DATA_SIZE, decode_blob, encode_blob
from .blocks import channel_id_for, decode_blocks, encode_blocks
from .chain_spec import OP_MAINNET, OP_SEPOLIA, RollupConfig, load_rollup_config, parse_rollup_config
from .channel import (
    MAX_RLP_BYTES_PER_CHANNEL,
    Channel,
    ChannelRead,
    assemble_channels,
    decode_channel,
    decompress_channel,
    encode_channel,
)
from .config import OpStackConfig, window_config
from .frames import (
    MAX_FRAME_LEN,
    Frame,
    decode_batcher_tx,
    decode_frames,
    encode_batcher_tx,
    encode_frames,
    force_close_tx_data,
)
from .json_view import LAYERS, decode_json, encode_json
from .pipeline import Derived, ForkContext, Skip, derive_batches
from .span_batch import MAX_SPAN_BATCH_ELEMENT_COUNT, SpanBatch, decode_span_batch, encode_span_batch
from .span_txs import SpanBatchTxs, SpanTxData

__all__ = [
    "BLOB_SIZE", "FORMAT", "SPEC", "OpStackConfig",
    "OP_MAINNET", "OP_SEPOLIA", "Derived", "ForkContext", "RollupConfig", "Skip",
    "derive_batches", "load_rollup_config", "parse_rollup_config",
    "LAYERS", "MAX_BLOB_DATA_SIZE", "MAX_FRAME_LEN", "MAX_RLP_BYTES_PER_CHANNEL",
    "MAX_SPAN_BATCH_ELEMENT_COUNT", "Channel", "ChannelRead", "Frame", "SingularBatch",
    "SpanBatch", "SpanBatchTxs", "SpanTxData", "assemble_channels", "channel_id_for", "decode_batch",
    "decode_batcher_tx", "decode_blob", "decode_blocks", "decode_channel", "decode_frames", "decode_json",
    "decode_singular_batch", "decode_span_batch", "decompress_channel", "encode_batch", "encode_batcher_tx",
    "encode_blob", "encode_blocks", "encode_channel", "encode_frames", "encode_json", "encode_singular_batch",
    "encode_span_batch", "force_close_tx_data",
]


FORMAT = Codec("opstack", LAYERS, encode_blocks, decode_blocks, decode_json, encode_json)

SPEC = FormatSpec(
    name="opstack", version=0, codec=FORMAT, config_type=OpStackConfig, window_config=window_config,
    default_policy="evm",  # any EIP-2718 envelope op-geth executes
    forced=ForcedCarriage.NONE,  # forced transactions reach an OP node from L1 (deposits), not in batches
    # OptimismPortal's large-calldata bound on an L1-forced (deposit) transaction (`LargeCalldata`)
    limits=FormatLimits(max_forced_tx_bytes=120_000),
    posted_layer="batcher-tx",
    block_time=BlockTimeRule(1000, "OP Stack block times are whole seconds"),
    cli_options=frozenset({"fork"}),
)
"""The registry's entry (rollup_adapters/registry.py, spec.py)."""
