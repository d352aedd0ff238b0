"""What the followers (soft.py, firm.py) and the HTTP API (api.py) use of the node that runs them.

The node (node.py) starts a follower and the API, so it imports them; they see the node only through
this protocol, so none of them imports node.py back (tests/unit/test_package_imports.py refuses the
cycle). RollupNode is the one implementation.
"""

from __future__ import annotations

from typing import Any, Protocol

from rollup_adapters.base import RollupBlock, RollupTiming

from .config import NodeConfig
from .engine import ExecutedBlock


class NodeHost(Protocol):
    """The node as its follower and its API see it (RollupNode)."""

    config: NodeConfig
    rollup_id: int
    fmt: str | None
    """The batch format, set by `configure` before the first block."""
    timing: RollupTiming | None
    oldest_kept: int | None

    def configure(self, fmt: str, block_time_ms: int, genesis_ms: int = 0) -> None:
        """The rollup's batch format and clock (from ListRollups or the L1 registry)."""
        ...

    async def start_engine(self, first_number: int) -> None: ...

    async def execute(self, block: RollupBlock) -> ExecutedBlock:
        """Execute one rollup block on the engine and record it as the new head."""
        ...

    def status(self) -> dict[str, Any]: ...

    def block_view(self, number: int) -> dict[str, Any] | None: ...

    def is_evicted(self, number: int) -> bool: ...

    def engine_to_rollup(self, engine_number: int) -> int | None: ...
