"""Arbitrum Nitro batches (OffchainLabs/nitro: arbstate/inbox.go, arbos/parse_l2.go, arbnode/batch_poster.go).

Stages, outermost first: sequencer_message (40-byte header, header byte, brotli) -> segments ->
l2_message (batch, signed tx, ...); blocks maps rollup blocks onto them, json_view is the operator's view.
"""

from __future__ import annotations

from rollup_adapters.base import Codec
from rollup_adapters.spec import ForcedCarriage, FormatLimits, FormatSpec

from .blocks import SequencerBatch, decode_blocks, encode_batches, encode_blocks
from .config import NitroConfig, window_config
from .json_view import LAYERS, decode_json, encode_json
from .l2_message import (
    L2Batch,
    L2Message,
    OpaqueL2Message,
    SignedTx,
    UnsignedTx,
    decode_l2_message,
    encode_l2_message,
)
from .segments import (
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    DelayedMessageSegment,
    L2MessageSegment,
    Segment,
    decode_segments,
    encode_segments,
)
from .sequencer_message import (
    BatchPayload,
    SequencerHeader,
    SequencerMessage,
    decode_payload,
    decode_sequencer_message,
    encode_payload,
    encode_sequencer_message,
)

FORMAT = Codec("nitro", LAYERS, encode_blocks, decode_blocks, decode_json, encode_json)

SPEC = FormatSpec(
    name="nitro", version=1, codec=FORMAT, config_type=NitroConfig, window_config=window_config,
    default_policy="evm",  # any EIP-2718 envelope Nitro executes
    forced=ForcedCarriage.EVERY_APPLIED,  # one delayed read per applied entry, as Nitro accounts them
    # the Arbitrum One Inbox's maxDataSize for an L2 message through the delayed inbox (`DataTooLarge`)
    limits=FormatLimits(max_forced_tx_bytes=117_964),
    posted_layer="payload",
    cli_options=frozenset({"delayed"}),
)
"""The registry's entry (rollup_adapters/registry.py, spec.py)."""

__all__ = [
    "FORMAT",
    "SPEC",
    "NitroConfig",
    "AdvanceL1BlockSegment",
    "AdvanceTimestampSegment",
    "BatchPayload",
    "DelayedMessageSegment",
    "L2Batch",
    "L2Message",
    "L2MessageSegment",
    "OpaqueL2Message",
    "Segment",
    "SequencerBatch",
    "SequencerHeader",
    "SequencerMessage",
    "SignedTx",
    "UnsignedTx",
    "decode_blocks",
    "decode_l2_message",
    "decode_payload",
    "decode_segments",
    "decode_sequencer_message",
    "encode_batches",
    "encode_blocks",
    "encode_l2_message",
    "encode_payload",
    "encode_segments",
    "encode_sequencer_message",
]
