"""The console's margin view: one word for a bundle from its legs (sequencer/console/margin.py)."""

from __future__ import annotations

from sequencer.console.margin import bundle_outcome


def test_legs_that_ran_decide_the_word() -> None:
    assert bundle_outcome({1: "committed", 2: "committed", 4: "committed"}) == "committed"
    assert bundle_outcome({1: "none", 2: "aborted", 4: "aborted"}) == "aborted"  # a leg that reverted: none
    assert bundle_outcome({1: "pending", 2: "committed"}) == "pending"
    assert bundle_outcome({1: "none", 2: "none"}) == "none"


def test_legs_that_disagree_are_shown_as_mixed_not_hidden() -> None:
    assert bundle_outcome({1: "committed", 2: "aborted"}) == "mixed"
