"""SequencerBond.proveOutcomeEquivocation (docs/margin.md): a commit and an abort signed for one
cross-rollup bundle id by keys SequencerKeys holds accountable slash the bond, once; anything less
is refused."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import keccak

from sequencer.core.signing import Domain, Signer
from sharedseq.margin import outcome_struct_hash


def test_outcome_equivocation_slashes_only_with_both_outcomes_by_an_accountable_key(l1: Any) -> None:
    """`l1`: tests/contracts/conftest.py's deployed L1."""
    bond = l1.bond.functions
    l1.ok(bond.deposit(), l1.owner, value=bond.minimumBond().call())
    bid = keccak(b"a cross-rollup bundle")
    seq = l1.sequencer
    commit = seq.sign_struct(outcome_struct_hash(bid, True))
    abort = seq.sign_struct(outcome_struct_hash(bid, False))
    other = keccak(b"another bundle")
    stranger = Signer(bytes(Account.create().key), seq.domain)
    elsewhere = Signer(bytes(l1.anvil.accounts[1].key), Domain(1, seq.domain.verifying_contract))
    for c, a in ((commit, commit), (abort, commit), (commit, seq.sign_struct(outcome_struct_hash(other, False))),
                 (commit, stranger.sign_struct(outcome_struct_hash(bid, False))),
                 (commit, elsewhere.sign_struct(outcome_struct_hash(bid, False)))):
        assert l1.report_revert(bond.proveOutcomeEquivocation(bid, c, a), l1.outsider) == "NotAccountable"
    staked = bond.bond().call()
    receipt = l1.report(bond.proveOutcomeEquivocation(bid, commit, abort), l1.outsider)
    ev = l1.bond.events.Slashed().process_receipt(receipt)[0]["args"]
    assert ev["reporter"] == l1.outsider.address and bond.bond().call() == 0 and staked > 0
    assert l1.report_revert(bond.proveOutcomeEquivocation(bid, commit, abort), l1.outsider) == "AlreadyPunished"
