"""What every rollup adapter shares: rollup blocks, the grouping of shared
blocks into them, and the adapter interface the registry holds.

A rollup has its own block time. Rollup block k of a rollup covers the time
window [genesis_ms + k * block_time_ms, genesis_ms + (k + 1) * block_time_ms)
and holds, in order, that rollup's transactions from every shared block whose
timestamp falls in the window (docs/architecture.md section 4.4). Windows with no
shared block still give an (empty) rollup block, so each rollup's timeline has
no holes. A bundle's legs share one shared block, hence one instant, hence the
rollup blocks covering that instant on every rollup, and stay contiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sequencer.core.types import ZERO_HASH, Hash32, RollupId, SharedBlock
from sequencer.errors import BadInput


@dataclass(frozen=True, slots=True)
class RollupBlock:
    """One block of one rollup, as its batch format carries it.

    `number` is the window index k (0 at the rollup's genesis), `timestamp_ms`
    the window's start. The L1 origin is that of the last shared block in the
    window (the previous window's origin for an empty window). `forced` holds
    forced-inclusion transactions placed in this block, ahead of the rest,
    where the format has a place for them.
    """

    number: int
    timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: Hash32
    transactions: tuple[bytes, ...]
    forced: tuple[bytes, ...] = ()
    shared_heights: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class RollupTiming:
    """A rollup's clock: its genesis time and block time, in milliseconds."""

    genesis_ms: int
    block_time_ms: int

    def __post_init__(self) -> None:
        if self.block_time_ms <= 0:
            raise BadInput(f"block_time_ms must be positive, got {self.block_time_ms}")

    def window_of(self, timestamp_ms: int) -> int:
        """The index of the rollup block whose window holds `timestamp_ms`."""
        if timestamp_ms < self.genesis_ms:
            raise BadInput(f"timestamp {timestamp_ms} is before rollup genesis {self.genesis_ms}")
        return (timestamp_ms - self.genesis_ms) // self.block_time_ms

    def window_start(self, number: int) -> int:
        return self.genesis_ms + number * self.block_time_ms


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where one rollup's derivation stands between two posting windows. `forced_applied` is the
    number of forced entries rule F has applied (skipped ones included): the previous forcedTo."""

    next_number: int
    prev_timestamp_ms: int | None = None
    prev_l1_origin: tuple[int, Hash32] = (0, ZERO_HASH)
    forced_applied: int = 0

    def after(self, blocks: Sequence[RollupBlock]) -> Cursor:
        if not blocks:
            return self
        last = blocks[-1]
        return Cursor(last.number + 1, last.timestamp_ms, (last.l1_origin_number, last.l1_origin_hash),
                      self.forced_applied + sum(len(b.forced) for b in blocks))


def group_rollup_blocks(
    blocks: Sequence[SharedBlock],
    rollup_id: RollupId,
    timing: RollupTiming,
    *,
    first_number: int | None = None,
    last_number: int | None = None,
    prev_origin: tuple[int, Hash32] = (0, ZERO_HASH),
) -> list[RollupBlock]:
    """Group consecutive shared blocks into the rollup's blocks, in order.

    Covers windows `first_number..last_number` (default: the windows of the
    first and last shared block). Shared blocks must be in height order.
    """
    if not blocks and (first_number is None or last_number is None):
        return []
    first = first_number if first_number is not None else timing.window_of(blocks[0].header.timestamp_ms)
    last = last_number if last_number is not None else timing.window_of(blocks[-1].header.timestamp_ms)
    by_window: dict[int, list[SharedBlock]] = {}
    for b in blocks:
        k = timing.window_of(b.header.timestamp_ms)
        if not first <= k <= last:
            raise BadInput(f"shared block {b.height} falls outside rollup windows {first}..{last}")
        by_window.setdefault(k, []).append(b)
    out: list[RollupBlock] = []
    origin = prev_origin
    for k in range(first, last + 1):
        members = by_window.get(k, [])
        txs: list[bytes] = []
        for b in members:
            txs.extend(b.namespace(rollup_id).transactions)
            origin = (b.header.l1_origin_number, b.header.l1_origin_hash)
        out.append(
            RollupBlock(
                number=k,
                timestamp_ms=timing.window_start(k),
                l1_origin_number=origin[0],
                l1_origin_hash=origin[1],
                transactions=tuple(txs),
                shared_heights=tuple(b.height for b in members),
            )
        )
    return out


class ForcedPayload(bytes):
    """A payload `encode_blocks` returns that L1 must carry as a forced batch, not a sequenced one
    (zkEVM: `forceBatch` rather than `sequenceBatches`); the posting container lists its index
    (rollup_adapters/derivation.py rule 4). Formats without forced batches never return one."""

    __slots__ = ()


class BatchFormat(Protocol):
    """A registered batch format (rollup_adapters/registry.py).

    `encode_blocks` turns rollup blocks into the L1 payloads that carry them
    (each one L1 transaction's data, split at the format's size limits);
    `decode_blocks` is its inverse. Their `config` is the format's typed
    configuration (its `SPEC.config_type`, a frozen dataclass), or a mapping of
    that dataclass's field names, refused if a key is unknown (spec.config_of). `decode_json` / `encode_json` are the
    operator's view used by `sharedseq batch decode|encode`; a format may take
    `options` (OP Stack: the rollup config and L1 time that pick the fork), and
    is called without them when the operator gives none.
    """

    @property
    def name(self) -> str: ...

    @property
    def layers(self) -> tuple[str, ...]: ...

    def encode_blocks(self, blocks: Sequence[RollupBlock], config: Any) -> list[bytes]:
        ...

    def decode_blocks(self, payloads: Sequence[bytes], config: Any) -> list[RollupBlock]:
        ...

    def decode_json(self, data: bytes, layer: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        ...

    def encode_json(self, doc: dict[str, Any], layer: str | None, options: dict[str, Any] | None = None) -> bytes:
        ...


@dataclass(frozen=True, slots=True)
class Codec:
    """A batch format assembled from its pure stage functions: the usual registry entry."""

    name: str
    layers: tuple[str, ...]
    encode_blocks: Callable[[Sequence[RollupBlock], Any], list[bytes]]
    decode_blocks: Callable[[Sequence[bytes], Any], list[RollupBlock]]
    decode_json: Callable[..., dict[str, Any]]
    encode_json: Callable[..., bytes]
