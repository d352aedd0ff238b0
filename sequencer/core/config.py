"""The core's configuration: registered rollups and limits (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sequencer.errors import ConfigError

from .policy import AdmissionPolicy
from .types import RollupId


@dataclass(frozen=True, slots=True)
class RollupInfo:
    """A registered rollup: its id (= chain id), name, admission policy,
    batch format (rollup_adapters registry name) and block time."""

    rollup_id: RollupId
    name: str
    policy: AdmissionPolicy
    batch_format: str = "opstack"
    block_time_ms: int = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits and backpressure bounds.

    `max_block_bytes` caps the payload bytes of one shared block (Astria
    allows 256,000 B of rollup data a block; we default higher, since calldata
    batches are split by the adapters). Admitted work never exceeds
    `max_pending_blocks` unsealed blocks: past that, submissions get
    RESOURCE_EXHAUSTED instead of growing memory. `dedupe_window_ms` is how
    long, in block time after its block, a sealed (rollup, tx_hash) is
    remembered: within it a resubmission is answered with the original receipt
    (issue 9, "Retries"), after it the same bytes are admitted again (an EVM
    replay then fails on the rollup by nonce). Memory is about 120 bytes per
    transaction remembered, so rate x window: 72 MB at 10,000 tx/s for 60 s.
    """

    max_tx_bytes: int = 128 * 1024
    max_bundle_legs: int = 16
    max_bundle_bytes: int = 512 * 1024
    max_block_bytes: int = 1_000_000
    max_block_txs: int = 20_000
    max_pending_blocks: int = 64
    dedupe_window_ms: int = 60_000


@dataclass(frozen=True, slots=True)
class CoreConfig:
    rollups: tuple[RollupInfo, ...]
    limits: Limits = field(default_factory=Limits)
    slot_ms: int = 100

    def __post_init__(self) -> None:
        # The configuration file's names (`table.key`): these come from `sharedseq serve --config`.
        ids = [r.rollup_id for r in self.rollups]
        if len(set(ids)) != len(ids):
            raise ConfigError("rollups", f"duplicate rollup ids in {ids}")
        if self.limits.max_bundle_bytes > self.limits.max_block_bytes:
            raise ConfigError("limits.max_bundle_bytes", "max_bundle_bytes must not exceed max_block_bytes")
        if self.limits.max_tx_bytes > self.limits.max_block_bytes:
            raise ConfigError("limits.max_tx_bytes", "max_tx_bytes must not exceed max_block_bytes")
        if self.limits.dedupe_window_ms < 0:
            raise ConfigError("limits.dedupe_window_ms", "dedupe_window_ms must not be negative")
        if self.slot_ms <= 0:
            raise ConfigError("sequencer.slot_ms", "slot_ms must be positive")
