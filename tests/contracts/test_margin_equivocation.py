"""OutcomeEquivocation on the L1 (contracts/margin/OutcomeEquivocation.sol, docs/margin.md):
a commit and an abort signed for one bundle id by an accountable sequencer key are proven and
recorded once; anything less is refused."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts.margin import load_margin_artifact
from sequencer.core.signing import Domain, Signer
from sharedseq.margin import outcome_struct_hash

ART = load_margin_artifact("OutcomeEquivocation")
ERRORS = {"0x" + keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4].hex(): e["name"]
          for e in ART["abi"] if e["type"] == "error"}


def _revert(fn: Any, sender: str) -> str | None:
    try:
        fn.call({"from": sender})
    except (ContractCustomError, ContractLogicError) as exc:
        data = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
        return ERRORS.get((data or "")[:10], f"unknown {data!r}")
    return None


def test_outcome_equivocation_is_proven_only_with_both_outcomes_by_an_accountable_key(l1: Any) -> None:
    """`l1`: tests/contracts/conftest.py's deployed L1."""
    factory = l1.w3.eth.contract(abi=ART["abi"], bytecode=ART["bytecode"])
    receipt = l1.transact(factory.constructor(l1.keys.address, l1.inbox.address), l1.owner)
    proof = l1.w3.eth.contract(address=receipt["contractAddress"], abi=ART["abi"]).functions
    bid = keccak(b"a cross-rollup bundle")
    seq = l1.sequencer
    commit = seq.sign_struct(outcome_struct_hash(bid, True))
    abort = seq.sign_struct(outcome_struct_hash(bid, False))
    reporter = l1.outsider.address
    # Not equivocation: one outcome twice, or the two signatures swapped.
    assert _revert(proof.prove(bid, commit, commit), reporter) == "NotAccountable"
    assert _revert(proof.prove(bid, abort, commit), reporter) == "NotAccountable"
    # Signed for another bundle id.
    other = keccak(b"another bundle")
    assert _revert(proof.prove(bid, commit, seq.sign_struct(outcome_struct_hash(other, False))),
                   reporter) == "NotAccountable"
    # Signed by a key SequencerKeys does not know, or under another domain.
    stranger = Signer(bytes(Account.create().key), seq.domain)
    assert _revert(proof.prove(bid, commit, stranger.sign_struct(outcome_struct_hash(bid, False))),
                   reporter) == "NotAccountable"
    elsewhere = Signer(bytes(l1.anvil.accounts[1].key), Domain(1, seq.domain.verifying_contract))
    assert _revert(proof.prove(bid, commit, elsewhere.sign_struct(outcome_struct_hash(bid, False))),
                   reporter) == "NotAccountable"
    # The real thing: proven, recorded with its reporter, once.
    assert _revert(proof.prove(bid, commit, abort), reporter) is None
    receipt = l1.transact(proof.prove(bid, commit, abort), l1.outsider)
    assert receipt["status"] == 1
    assert proof.provenBy(bid).call() == reporter
    assert _revert(proof.prove(bid, commit, abort), reporter) == "AlreadyProven"
