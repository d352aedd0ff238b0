"""Shared helpers for the SequencerCore and BlockLog unit tests."""

from __future__ import annotations

from sequencer.core.config import CoreConfig, Limits, RollupInfo
from sequencer.core.policy import OpaquePolicy
from sequencer.core.sequencer import SequencerCore
from sequencer.core.signing import Domain, Signer

SECRET = b"\x11" * 32
DOMAIN = Domain(chain_id=31337, verifying_contract=b"\x5f" * 20)
ROLLUPS = (1, 2, 3)


def make_signer() -> Signer:
    return Signer(SECRET, DOMAIN)


def make_config(rollups=ROLLUPS, slot_ms: int = 100, **limits) -> CoreConfig:
    infos = tuple(RollupInfo(r, f"rollup-{r}", OpaquePolicy()) for r in rollups)
    return CoreConfig(infos, Limits(**limits), slot_ms=slot_ms)


def make_core(rollups=ROLLUPS, slot_ms: int = 100, **limits) -> SequencerCore:
    return SequencerCore(make_config(rollups, slot_ms, **limits), make_signer())
