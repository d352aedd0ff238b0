"""The key relay: mirror the L1 SequencerKeys history onto every rollup's SequencerKeyMirror
(docs/margin.md, "Key rotation").

The margin contracts accept a BundleOutcome only when a key their rollup's mirror holds current
signed it. The rollups cannot read L1, so the sequencer's key manager - the owner of SequencerKeys
on L1, who is trusted for it (docs/margin.md, trust model) - runs this relay with the mirrors'
relayer key. `plan_key_changes` is the pure rule; `relay_keys` reads L1 and the mirrors and submits
one bundle with a leg per change per rollup, so every rollup switches at the same shared height.

    plan   add     every key registered on L1, not retired there, not on the mirror yet;
           retire  every key on the mirror that L1 has retired (at once: a leaked key must stop);
           error   a mirrored key L1 never registered (the mirror disagrees with L1 - nothing to do
                   automatically: the relayer key itself is suspect).

A key retired on L1 before it was ever mirrored is never added (a mirror key is registered once,
like an L1 key, so adding it only to retire it would change nothing but the history).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from sequencer.errors import SharedSeqError
from sharedseq.margin import MarginDesk, RollupAccount


class KeyMirrorMismatch(SharedSeqError):
    """A rollup's key mirror holds a key that L1's SequencerKeys never registered."""


@dataclass(frozen=True, slots=True)
class L1Key:
    """One key of SequencerKeys' history (SequencerKeys.keys() and keyInfo)."""

    address: str
    retired: bool


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """What one rollup's mirror needs to match L1."""

    add: tuple[str, ...] = ()
    retire: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.retire)


def plan_key_changes(l1_keys: Iterable[L1Key], mirrored: Mapping[str, bool], *, rollup_id: int = 0) -> KeyChanges:
    """The changes that make a mirror holding `mirrored` ({key: retired there}) follow `l1_keys`."""
    l1 = {to_checksum_address(k.address): k.retired for k in l1_keys}
    mine = {to_checksum_address(k): r for k, r in mirrored.items()}
    unknown = sorted(set(mine) - set(l1))
    if unknown:
        raise KeyMirrorMismatch(f"rollup {rollup_id}: key mirror holds {', '.join(unknown)}, "
                                "which SequencerKeys on L1 never registered")
    add = tuple(k for k, retired in l1.items() if not retired and k not in mine)
    retire = tuple(k for k, retired in l1.items() if retired and k in mine and not mine[k])
    return KeyChanges(add, retire)


def read_l1_keys(keys_contract: Any) -> list[L1Key]:
    """SequencerKeys' whole history (a web3 contract object), in registration order."""
    out = []
    for k in keys_contract.functions.keys().call():
        info = keys_contract.functions.keyInfo(k).call()
        out.append(L1Key(to_checksum_address(k), retired=int(info[4]) != 0))  # Key.retiredAt
    return out


def relay_keys(desk: MarginDesk, l1_keys: Iterable[L1Key], relayer: RollupAccount,
               submit_bundle: Callable[[list[tuple[int, bytes]]], Any], *,
               delay_blocks: int = 0) -> dict[int, KeyChanges]:
    """Bring every rollup's mirror in line with `l1_keys`; returns the changes sent per rollup (one
    bundle for all of them, nothing sent when every mirror already matches)."""
    history = list(l1_keys)
    plans: dict[int, KeyChanges] = {}
    legs: list[tuple[int, bytes]] = []
    for rid in sorted(desk.d.key_mirrors):
        mirrored = {k: retired_at != 0 for k, (_active, retired_at) in desk.mirrored_keys(rid).items()}
        plan = plan_key_changes(history, mirrored, rollup_id=rid)
        if not plan:
            continue
        plans[rid] = plan
        legs += desk.key_change_legs(relayer, add=plan.add, retire=plan.retire, delay_blocks=delay_blocks,
                                     rollups=(rid,))
    if legs:
        submit_bundle(legs)
    return plans


__all__ = ["KeyChanges", "KeyMirrorMismatch", "L1Key", "plan_key_changes", "read_l1_keys", "relay_keys"]
