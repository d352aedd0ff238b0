"""Rollup-side contracts of cross-rollup margin (docs/margin.md, docs/architecture.md section 4.7).

Sources: MarginCore.sol (MarginLib: EIP-712 BundleOutcome and the bundle-id intents;
SequencerKeyMirror: the rollup's copy of the L1 key history whose current keys may sign outcomes;
Conditional: the pending/commit/abort/timeout state machine; PriceOracle; CollateralToken), MarginAccount.sol
(the margin rollup), Venues.sol (PerpMarket, OptionsMarket on the venue rollups). Compiled as their
own unit by `make contracts` into contracts/margin/artifacts/.
"""

from __future__ import annotations

from pathlib import Path

from contracts import load_artifact

MARGIN_ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


def load_margin_artifact(name: str) -> dict:
    """The compiled artifact of margin contract `name`: abi, bytecode, deployedBytecode, sourceHash, ..."""
    return load_artifact(name, MARGIN_ARTIFACTS_DIR)


__all__ = ["load_margin_artifact", "MARGIN_ARTIFACTS_DIR"]
