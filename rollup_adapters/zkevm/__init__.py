"""Polygon zkEVM (Etrog, batch v2) rollup adapter.

Stages, each a module opening with its wire grammar:
rlp_length (the tx-entry length helper) -> l2_block_change (0x0b marker) ->
tx_entry (legacy tx entries, and raw-tx conversion) -> batch_v2 (batches,
forced batches, size limits) -> adapter (rollup blocks <-> payloads) and
json_view (the operator's JSON). Reference: 0xPolygonHermez/zkevm-node
state/encoding_batch_v2.go and state/helper.go.
"""

from rollup_adapters.spec import ForcedCarriage, FormatLimits, FormatSpec

from .adapter import BATCH_LAYER, FORCED_BATCH_LAYER, ForcedBatchPayload, ZkEvmFormat, is_forced
from .batch_v2 import (
    MAX_BATCH_BYTES,
    MAX_FORCED_BATCH_BYTES,
    BatchV2,
    ForcedBatchV2,
    L2Block,
    decode_batch_v2,
    decode_forced_batch,
    encode_batch_v2,
    encode_forced_batch,
)
from .config import ZkEvmConfig, forced_check, window_config
from .l2_block_change import L2BlockChange, decode_l2_block_change, encode_l2_block_change
from .legacy_tx import SignedLegacyTx, decode_legacy_tx, encode_legacy_tx
from .rlp_length import decode_rlp_list_length
from .tx_entry import BatchTx, batch_tx_from_raw, decode_tx_entry, encode_tx_entry

FORMAT = ZkEvmFormat()
"""The codec (rollup_adapters/base.py BatchFormat)."""

SPEC = FormatSpec(
    name="zkevm", version=2, codec=FORMAT, config_type=ZkEvmConfig, window_config=window_config,
    default_policy="evm-legacy",  # Etrog batches carry legacy transactions only
    forced=ForcedCarriage.ADMITTED, forced_check=forced_check,  # a skipped entry has no forced batch
    # A forced tx becomes a forced batch of at most 5,000 bytes (PolygonRollupBaseEtrog
    # `_MAX_FORCE_BATCH_BYTE_LENGTH`); its entry re-encodes the legacy tx at most 66 bytes longer, so
    # 4,900 always fits (forced_check checks the entry too).
    limits=FormatLimits(max_forced_tx_bytes=4_900),
    posted_layer=BATCH_LAYER, forced_layer=FORCED_BATCH_LAYER,
)
"""The registry's entry (rollup_adapters/registry.py, spec.py)."""

__all__ = [
    "BATCH_LAYER",
    "FORCED_BATCH_LAYER",
    "FORMAT",
    "SPEC",
    "ZkEvmConfig",
    "MAX_BATCH_BYTES",
    "MAX_FORCED_BATCH_BYTES",
    "BatchTx",
    "BatchV2",
    "ForcedBatchPayload",
    "ForcedBatchV2",
    "L2Block",
    "L2BlockChange",
    "SignedLegacyTx",
    "ZkEvmFormat",
    "batch_tx_from_raw",
    "decode_batch_v2",
    "decode_forced_batch",
    "decode_l2_block_change",
    "decode_legacy_tx",
    "decode_rlp_list_length",
    "decode_tx_entry",
    "encode_batch_v2",
    "encode_forced_batch",
    "encode_l2_block_change",
    "encode_legacy_tx",
    "encode_tx_entry",
    "is_forced",
]
