"""The OP Stack format's encode/decode configuration, typed (blocks.py documents each field),
and the configuration derivation gives it for a posting window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rollup_adapters.base import Cursor

    from .chain_spec import RollupConfig


@dataclass(frozen=True, slots=True)
class OpStackConfig:
    """`FORMAT.encode_blocks` / `decode_blocks` configuration (blocks.py module doc: "Config keys").

    `chain_id`, `genesis_timestamp` and `block_time` left None come from `rollup_config` when it is
    given, else are unknown / 0 / 2 (`resolved`)."""

    rollup_config: RollupConfig | Mapping[str, Any] | str | None = None
    l1_timestamp: int | None = None
    chain_id: int | None = None
    genesis_timestamp: int | None = None
    block_time: int | None = None
    parent_hash: bytes | None = None
    batch_type: str | None = None
    compression: str | None = None
    max_tx_bytes: int | None = None
    channel_seed: bytes | str = b""
    prev_l1_origin_number: int | None = None
    l1_origin_hashes: Mapping[int, bytes] | None = None
    l1_blocks: Sequence[int | None] | None = None


def window_config(rollup_id: int, block_time_ms: int, cursor: Cursor, pending_forced: Sequence[bytes]) -> OpStackConfig:
    """Derivation's configuration for one rollup's next window: chain id = rollup id, genesis at Unix time 0,
    a channel seed per rollup, and the previous window's L1 origin so origin bit 0 of the first span
    block is right. Forced entries are not carried (ForcedCarriage.NONE), so `pending_forced` is unused."""
    prev = cursor.prev_l1_origin[0] if cursor.prev_timestamp_ms is not None else None
    return OpStackConfig(chain_id=rollup_id, genesis_timestamp=0, block_time=block_time_ms // 1000,
                         channel_seed=rollup_id.to_bytes(8, "big"), prev_l1_origin_number=prev)
