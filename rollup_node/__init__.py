"""The local rollup node (docs/architecture.md section 4.5): one program per rollup, parametrised by its
batch format, that executes the rollup's blocks on its own engine (an anvil), either soft (from the
sequencer stream) or firm (from L1 alone). Both paths give the same state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import EngineError, NodeConfigError, VerificationError

if TYPE_CHECKING:
    from .engine import Engine, ExecutedBlock, check_block_time

__all__ = ["Engine", "ExecutedBlock", "check_block_time", "EngineError", "NodeConfigError", "VerificationError"]

_ENGINE = frozenset({"Engine", "ExecutedBlock", "check_block_time"})


def __getattr__(name: str) -> Any:
    """The engine's names on first use (PEP 562): `sharedseq serve` loads this package for the
    `rollup-node` subcommand's parser, and the engine brings the anvil driver (urllib, http.client,
    ssl) that a sequencer never needs (issue 13, "restart")."""
    if name in _ENGINE:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
