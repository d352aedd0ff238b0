"""The local rollup node (docs/architecture.md section 4.5): one program per rollup, parametrised by its
batch format, that executes the rollup's blocks on its own engine (an anvil), either soft (from the
sequencer stream) or firm (from L1 alone). Both paths give the same state."""

from __future__ import annotations

from .engine import Engine, ExecutedBlock, check_block_time
from .errors import EngineError, NodeConfigError, VerificationError

__all__ = ["Engine", "ExecutedBlock", "check_block_time", "EngineError", "NodeConfigError", "VerificationError"]
