"""What a rollup node is told to do (NodeConfig): its rollup, its mode and where to read from.

Its own module, below the node (node.py) and its followers (soft.py, firm.py), so that both import it
and neither imports the other's module for it (tests/unit/test_package_imports.py refuses cycles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sequencer.configfile import NON_NEGATIVE, POSITIVE, one_of, option

from .errors import NodeConfigError

MODES = ("soft", "firm")
DEFAULT_KEEP_BLOCKS = 10_000
DEFAULT_MAX_KEPT_WITNESS_BLOCKS = 100_000


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """What a node needs. `sequencer` is the gRPC address (soft mode; replicas: several, comma
    separated, tried in turn after a lost stream); `l1_rpc` and `inbox` locate the
    inbox (firm mode, and the forced queue in soft mode). `api_port=None` runs no HTTP API, 0 picks a
    free port. `keep_blocks` is how many of the most recent executed blocks stay in memory (and on the API)."""

    rollup_id: int
    mode: str
    sequencer: str | None = None
    l1_rpc: str | None = None
    inbox: str | None = None
    api_port: int | None = 0
    poll_ms: int = 100
    keep_blocks: int = DEFAULT_KEEP_BLOCKS
    max_kept_witness_blocks: int = DEFAULT_MAX_KEPT_WITNESS_BLOCKS
    """Firm mode: most shared blocks of windows that leave the rollup out (paused on L1) kept until a
    window lists it again (rollup_node/firm.py step 6); past it the node stops."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise NodeConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "soft" and not self.sequencer:
            raise NodeConfigError("soft mode needs the sequencer's gRPC address")
        if self.mode == "firm" and not (self.l1_rpc and self.inbox):
            raise NodeConfigError("firm mode needs the L1 RPC URL and the inbox address")
        if self.inbox is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", self.inbox):
            raise NodeConfigError(f"inbox {self.inbox!r} is not an address (0x and 40 hex digits)")
        if self.max_kept_witness_blocks < 1:
            raise NodeConfigError(f"max_kept_witness_blocks must be at least 1, got {self.max_kept_witness_blocks}")
        if self.keep_blocks < 1:
            raise NodeConfigError(f"keep_blocks must be at least 1, got {self.keep_blocks}")


@dataclass(frozen=True, slots=True)
class NodeFile:
    """The [rollup_node] table of `sharedseq rollup-node --config FILE` (read by sequencer/configfile.py):
    NodeConfig's options, each None when the file leaves it out (then the flag, else NodeConfig's
    default applies: one set of defaults)."""

    rollup_id: int | None = None
    mode: str | None = option(None, rule=one_of(*MODES))
    sequencer: str | None = None
    l1_rpc: str | None = None
    inbox: str | None = None
    api_port: int | None = option(None, rule=NON_NEGATIVE)
    poll_ms: int | None = option(None, rule=POSITIVE)
    keep_blocks: int | None = option(None, rule=POSITIVE)
    max_kept_witness_blocks: int | None = option(None, rule=POSITIVE)
