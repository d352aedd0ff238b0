"""A toy fourth batch format, only for tests/adapters/test_registry.py: everything a format is, in one
module, to show that registering it (one line, `registry.register`) is all derivation, the service
config and the batch tool need. Not a real rollup's format.

    payload = rlp([number, timestamp_ms, l1_origin_number, [tx...], [forced...]])   one per rollup block

It carries every forced entry rule F applies (ForcedCarriage.EVERY_APPLIED), takes block times in
half seconds, and forced entries of at most 1,000 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollup_adapters.base import Codec, Cursor, RollupBlock
from rollup_adapters.spec import BlockTimeRule, ForcedCarriage, FormatLimits, FormatSpec, config_of
from sequencer.core import rlp_codec
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError

LAYERS = ("block",)


@dataclass(frozen=True, slots=True)
class ToyConfig:
    first_number: int = 0


def encode_blocks(blocks: Sequence[RollupBlock], config: ToyConfig | Mapping[str, Any] | None) -> list[bytes]:
    config_of(ToyConfig, config)
    return [rlp_codec.encode([b.number, b.timestamp_ms, b.l1_origin_number, list(b.transactions), list(b.forced)])
            for b in blocks]


def _block(payload: bytes) -> RollupBlock:
    item = rlp_codec.decode(payload)
    if not isinstance(item, list) or len(item) != 5 or not all(isinstance(x, bytes) for x in item[:3]):
        raise DecodeError("toy block: expected rlp([number, timestamp_ms, l1_origin, txs, forced])")
    number, ts, origin = (int.from_bytes(x, "big") for x in item[:3])
    txs, forced = item[3], item[4]
    if not isinstance(txs, list) or not isinstance(forced, list):
        raise DecodeError("toy block: txs and forced are lists")
    if not all(isinstance(t, bytes) for t in (*txs, *forced)):
        raise DecodeError("toy block: a transaction is a byte string")
    return RollupBlock(number, ts, origin, ZERO_HASH, tuple(bytes(t) for t in txs),  # type: ignore[arg-type]
                       tuple(bytes(f) for f in forced))  # type: ignore[arg-type]


def decode_blocks(payloads: Sequence[bytes], config: ToyConfig | Mapping[str, Any] | None) -> list[RollupBlock]:
    cfg = config_of(ToyConfig, config)
    out = [_block(p) for p in payloads]
    for i, b in enumerate(out):
        if b.number != cfg.first_number + i:
            raise DecodeError(f"toy block {i}: number {b.number}, expected {cfg.first_number + i}")
    return out


def decode_json(data: bytes, layer: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    b = _block(data)
    return {"number": b.number, "timestamp_ms": b.timestamp_ms, "txs": ["0x" + t.hex() for t in b.transactions]}


def encode_json(doc: dict[str, Any], layer: str | None, options: dict[str, Any] | None = None) -> bytes:
    try:
        block = RollupBlock(int(doc["number"]), int(doc["timestamp_ms"]), 0, ZERO_HASH,
                            tuple(bytes.fromhex(t.removeprefix("0x")) for t in doc["txs"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"toy block json: {exc}") from exc
    return encode_blocks([block], None)[0]


def window_config(rollup_id: int, block_time_ms: int, cursor: Cursor, pending_forced: Sequence[bytes]) -> ToyConfig:
    return ToyConfig(first_number=cursor.next_number)


FORMAT = Codec("toy", LAYERS, encode_blocks, decode_blocks, decode_json, encode_json)

SPEC = FormatSpec(
    name="toy", version=1, codec=FORMAT, config_type=ToyConfig, window_config=window_config,
    default_policy="evm", forced=ForcedCarriage.EVERY_APPLIED, limits=FormatLimits(max_forced_tx_bytes=1_000),
    posted_layer="block", block_time=BlockTimeRule(500, "toy block times are half seconds"),
)
