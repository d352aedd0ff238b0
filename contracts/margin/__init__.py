"""Rollup-side contracts of cross-rollup margin (docs/margin.md, design.md section 7).

Sources: MarginCore.sol (MarginLib: EIP-712 BundleOutcome and the bundle-id intents; Conditional:
the pending/commit/abort/timeout state machine; PriceOracle; CollateralToken), MarginAccount.sol
(the margin rollup), Venues.sol (PerpMarket, OptionsMarket on the venue rollups). Compiled as their
own unit by `make contracts` into contracts/margin/artifacts/.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

MARGIN_ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@cache
def _load(name: str) -> str:
    path = MARGIN_ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no margin artifact for contract {name!r} at {path}; run `make contracts`")
    return path.read_text()


def load_margin_artifact(name: str) -> dict:
    """The compiled artifact of margin contract `name`: abi, bytecode, deployedBytecode, sourceHash, ..."""
    return json.loads(_load(name))


__all__ = ["load_margin_artifact", "MARGIN_ARTIFACTS_DIR"]
