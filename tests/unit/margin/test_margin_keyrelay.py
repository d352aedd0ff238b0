"""The key relay's rule (sequencer/margin/keyrelay.py): the mirrors follow L1's SequencerKeys."""

from __future__ import annotations

import pytest

from sequencer.margin.keyrelay import KeyChanges, KeyMirrorMismatch, L1Key, plan_key_changes

A, B, C = ("0x" + c * 40 for c in ("a", "b", "c"))
CA = "0x" + "A" * 40  # A in other case: addresses compare case-insensitively


def test_new_l1_key_is_added_and_retired_one_retired() -> None:
    plan = plan_key_changes([L1Key(A, retired=True), L1Key(B, retired=False)], {A: False})
    assert plan == KeyChanges(add=(plan.add[0],), retire=(plan.retire[0],))
    assert plan.add[0].lower() == B and plan.retire[0].lower() == A


def test_in_sync_mirror_needs_nothing() -> None:
    assert not plan_key_changes([L1Key(A, retired=True), L1Key(B, retired=False)], {A: True, B: False})
    assert not plan_key_changes([L1Key(A, retired=False)], {CA: False})


def test_a_key_retired_on_l1_before_it_was_mirrored_is_never_added() -> None:
    assert not plan_key_changes([L1Key(A, retired=False), L1Key(B, retired=True)], {A: False})


def test_a_mirrored_key_l1_never_registered_is_an_error_naming_it() -> None:
    with pytest.raises(KeyMirrorMismatch, match="rollup 902") as exc:
        plan_key_changes([L1Key(A, retired=False)], {A: False, C: False}, rollup_id=902)
    assert C[2:] in str(exc.value).lower()
