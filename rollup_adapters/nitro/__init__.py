"""Arbitrum Nitro batches (OffchainLabs/nitro: arbstate/inbox.go, arbos/parse_l2.go, arbnode/batch_poster.go).

Stages, outermost first: sequencer_message (40-byte header, header byte, brotli) -> segments ->
l2_message (batch, signed tx, ...); blocks maps rollup blocks onto them, json_view is the operator's view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollup_adapters.base import RollupBlock

from .blocks import SequencerBatch, decode_blocks, encode_batches, encode_blocks
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


class NitroFormat:
    """The registry entry "nitro" (rollup_adapters/base.py, BatchFormat). Stateless: every setting comes
    in through `config`."""

    name: str = "nitro"
    layers: tuple[str, ...] = LAYERS

    def encode_blocks(self, blocks: Sequence[RollupBlock], config: dict[str, Any]) -> list[bytes]:
        return encode_blocks(blocks, config)

    def decode_blocks(self, payloads: Sequence[bytes], config: dict[str, Any]) -> list[RollupBlock]:
        return decode_blocks(payloads, config)

    def decode_json(self, data: bytes, layer: str | None) -> dict[str, Any]:
        return decode_json(data, layer)

    def encode_json(self, doc: dict[str, Any], layer: str | None) -> bytes:
        return encode_json(doc, layer)


FORMAT = NitroFormat()

__all__ = [
    "FORMAT",
    "AdvanceL1BlockSegment",
    "AdvanceTimestampSegment",
    "BatchPayload",
    "DelayedMessageSegment",
    "L2Batch",
    "L2Message",
    "L2MessageSegment",
    "NitroFormat",
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
