"""What a registered batch format is, beyond its codec: everything derivation, the service
config, the batch tool and the deployer need to know about a format, in one typed entry.

Each format package exports `SPEC`, a `FormatSpec`; rollup_adapters/registry.py maps
(name, version) to the package. Nothing outside a format's package branches on its name: a
fourth format is its own package plus one registry line (docs/batch-tool.md, "Adding a
format"; tests/adapters/test_registry.py registers a toy one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from sequencer.errors import BadInput

if TYPE_CHECKING:
    from .base import BatchFormat, Cursor


class ForcedCarriage(Enum):
    """How a format's batches carry the forced entries rule F applies (rollup_adapters/derivation.py,
    rule 3). Derivation checks a decoded batch against exactly this."""

    NONE = "none"
    """The batch carries nothing of them (OP Stack: forced transactions reach an OP node from L1 as
    deposits); rule F alone places them."""
    EVERY_APPLIED = "every-applied"
    """One entry per applied forced entry, skipped ones included (Nitro: one delayed-message read
    each, so `after_delayed_messages` counts exactly the entries applied)."""
    ADMITTED = "admitted"
    """Only the entries the skip rule admits (zkEVM: a skipped entry cannot be put in a forced batch)."""


@dataclass(frozen=True, slots=True)
class BlockTimeRule:
    """The block times a format can express: a multiple of `unit_ms` (`why` says why, for the error)."""

    unit_ms: int = 1
    why: str = ""

    def refusal(self, block_time_ms: int) -> str | None:
        """Why `block_time_ms` is not a block time of this format, or None."""
        if block_time_ms % self.unit_ms:
            return self.why or f"block times are multiples of {self.unit_ms} ms"
        return None


@dataclass(frozen=True, slots=True)
class FormatLimits:
    """The format's own bounds. `max_forced_tx_bytes` is the largest forced entry it can carry: derivation
    skips longer ones, and the deployer registers it as the rollup's maxForcedTxBytes (enforced at
    enqueue), so the inbox never queues an entry the rollup would skip for its size."""

    max_forced_tx_bytes: int


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One registry entry. `window_config(rollup_id, block_time_ms, cursor, pending_forced)` is the
    format's typed encode/decode configuration for the next posting window of a rollup (`pending_forced`:
    the forced entries not yet applied, in queue order); `forced_check(data)` is the format's own reason
    to skip an entry the admission policy accepts, or None. `default_policy` names the admission policy
    (sequencer/core/policy.py make_policy) a rollup of this format gets when its config names none; it is
    also what a forced entry must pass. `posted_layer` / `forced_layer` are the batch tool's layers of the
    payloads encode_blocks returns (plain and forced). `cli_options` names the `sharedseq batch` options
    the format takes ("fork": --rollup-config/--l1-timestamp/--l1-block and batcher-tx lists,
    "delayed": --delayed-messages-read)."""

    name: str
    version: int
    codec: BatchFormat
    config_type: type
    window_config: Callable[[int, int, Cursor, Sequence[bytes]], Any]
    default_policy: str
    forced: ForcedCarriage
    limits: FormatLimits
    posted_layer: str
    block_time: BlockTimeRule = field(default_factory=BlockTimeRule)
    forced_check: Callable[[bytes], str | None] | None = None
    forced_layer: str | None = None
    cli_options: frozenset[str] = frozenset()


C = TypeVar("C")


def config_of(cls: type[C], config: C | Mapping[str, Any] | None) -> C:
    """`config` as the format's typed configuration `cls` (a frozen dataclass): itself, or built from a
    mapping of its field names (the form tests and the batch tool write by hand). An unknown key is
    refused, naming it and the known ones, never silently ignored."""
    if isinstance(config, cls):
        return config
    if config is None:
        return cls()
    if not isinstance(config, Mapping):
        raise BadInput(f"{cls.__name__}: expected a {cls.__name__} or a mapping, got {type(config).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(config) - known
    if unknown:
        raise BadInput(f"{cls.__name__}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                       f"known: {', '.join(sorted(known))}")
    return cls(**config)
