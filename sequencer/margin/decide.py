"""The coordinator's rule, sans-IO (docs/margin.md, "Deciding").

Every leg of a margin bundle that executed emitted Pending(bundleId, legs) on its rollup; a leg
that reverted left nothing. A bundle is included atomically (all legs in one shared block), so
once every rollup that misses a leg has executed past that shared time, the leg will never come.

    commit  every leg in `legs` is pending, and each has at least `safety_blocks` rollup blocks
            left before its contract's timeout (so the commit lands before any abortExpired can);
    abort   a leg is missing and every rollup missing one is `grace_s` seconds (engine time) past
            the first pending leg; or all legs are there but too close to the timeout to commit;
    wait    otherwise.

A decision once taken is never changed (the shell passes it back as `decided`): signing both a
commit and an abort for one bundle id is equivocation. Only legs still pending are finalised.
A decided commit that could not be included before the legs' timeout (the sequencer was down)
is refused by every contract (CommitExpired); once every pending leg is past its timeout the
coordinator sends the unsigned abortExpired instead (`expired`), which needs no signature and so
contradicts nothing it signed. While only some legs are past it, it waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LEG_BITS = (1, 2, 4)
"""MarginLib.LEG_MARGIN, LEG_PERP, LEG_OPTION."""


@dataclass(frozen=True, slots=True)
class LegRecord:
    """A Pending event seen on a rollup's engine."""

    bit: int
    rollup_id: int
    block: int
    timestamp_s: int


@dataclass(frozen=True, slots=True)
class BundleState:
    """What the engines show about one bundle id."""

    bundle_id: bytes
    legs: int
    pending: Mapping[int, LegRecord] = field(default_factory=dict)
    """Leg bit -> its Pending event."""
    finalized: frozenset[int] = frozenset()
    """Leg bits whose contract already emitted Finalized (by us, or abortExpired)."""


@dataclass(frozen=True, slots=True)
class Decision:
    bundle_id: bytes
    commit: bool
    bits: tuple[int, ...]
    """Legs to send finalize to: pending and not yet finalised."""
    expired: bool = False
    """Send abortExpired (no signature) instead of finalize: every leg is past its timeout."""


def decide(bundle: BundleState, *, head_block: Mapping[int, int], head_ts: Mapping[int, int],
           rollup_of: Mapping[int, int], timeout_blocks: int, grace_s: int = 2, safety_blocks: int = 3,
           decided: bool | None = None) -> Decision | None:
    """The outcome to submit for `bundle` now, or None to wait (see the module docstring)."""
    todo = tuple(b for b in LEG_BITS if b in bundle.pending and b not in bundle.finalized)
    if not todo:
        return None
    expired = [head_block[bundle.pending[b].rollup_id] > bundle.pending[b].block + timeout_blocks for b in todo]
    if all(expired):
        return Decision(bundle.bundle_id, False, todo, expired=True)
    if decided is not None:
        if decided and any(expired):
            return None  # a commit would land on some legs only; wait until all can be aborted
        return Decision(bundle.bundle_id, decided, todo)
    wanted = [b for b in LEG_BITS if bundle.legs & b]
    missing = [b for b in wanted if b not in bundle.pending]
    if not missing:
        if bundle.finalized:
            # Some leg was finalised without our word (abortExpired): only an abort stays consistent.
            return Decision(bundle.bundle_id, False, todo)
        late = any(head_block[r.rollup_id] + safety_blocks > r.block + timeout_blocks
                   for r in bundle.pending.values())
        return Decision(bundle.bundle_id, not late, todo)
    first_ts = min(r.timestamp_s for r in bundle.pending.values())
    if all(head_ts.get(rollup_of[b], -1) >= first_ts + grace_s for b in missing):
        return Decision(bundle.bundle_id, False, todo)
    return None
