"""SequencerBond: equivocation and broken-receipt proofs built with sequencer.core, false accusations."""

from __future__ import annotations

from dataclasses import replace

from sequencer.core.commitments import namespace_leaves, namespaces_root, prove_namespace, tx_root
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof
from sequencer.core.signing import Signer
from sequencer.core.types import Namespace
from sequencer.l1.inbox import absence_neighbours, namespace_leaf_tuple

BOND = 10**18


def fund(l1, amount=BOND):
    l1.ok(l1.bond.functions.deposit(), l1.owner, value=amount)
    assert l1.bond.functions.bond().call() >= amount


def balance(l1, who):
    return l1.w3.eth.get_balance(who.address)


def fee(receipt):
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def block_at(l1, height, namespaces):
    """A signed header at `height` over `namespaces` (sorted by rollup id)."""
    h, _ = l1.make_headers(height, b"\x01" * 32, 1, rollups=())[0]
    h = replace(h, namespaces_root=namespaces_root(namespaces), namespace_count=len(namespaces))
    return h, l1.sequencer.sign_header(h)


def ns_leaf(namespaces, rollup_id):
    return namespace_leaf_tuple(prove_namespace(namespaces, rollup_id))


def test_equivocation_slashes_and_pays_reporter(l1):
    fund(l1)
    a, _ = l1.make_headers(1000, b"\x01" * 32, 1)[0]
    b = replace(a, timestamp_ms=a.timestamp_ms + 1)
    sig_a, sig_b = l1.sequencer.sign_header(a), l1.sequencer.sign_header(b)
    fn = l1.bond.functions.proveEquivocation(l1.htuple(a), sig_a, l1.htuple(b), sig_b)
    bond_before, bal_before = l1.bond.functions.bond().call(), balance(l1, l1.outsider)
    receipt = l1.ok(fn, l1.outsider)
    reward = bond_before * l1.bond.functions.reporterShareBps().call() // 10000
    assert balance(l1, l1.outsider) == bal_before + reward - fee(receipt)
    assert l1.bond.functions.bond().call() == 0
    assert l1.bond.functions.burnt().call() == bond_before - reward
    ev = l1.bond.events.Slashed().process_receipt(receipt)[0]["args"]
    assert ev["reward"] == reward and ev["reporter"] == l1.outsider.address
    # No double slash: the same height is one offence; another offence finds the bond empty.
    c = replace(a, timestamp_ms=a.timestamp_ms + 2)
    fn2 = l1.bond.functions.proveEquivocation(l1.htuple(a), sig_a, l1.htuple(c), l1.sequencer.sign_header(c))
    assert l1.revert(fn, l1.outsider.address) == "AlreadyPunished"
    assert l1.revert(fn2, l1.outsider.address) == "AlreadyPunished"
    d = replace(a, height=a.height + 1)
    e = replace(d, timestamp_ms=d.timestamp_ms + 1)
    fn3 = l1.bond.functions.proveEquivocation(l1.htuple(d), l1.sequencer.sign_header(d), l1.htuple(e),
                                              l1.sequencer.sign_header(e))
    assert l1.revert(fn3, l1.outsider.address) == "NothingToSlash"
    fund(l1)
    assert l1.revert(fn, l1.outsider.address) == "AlreadyPunished"
    l1.ok(fn3, l1.outsider)


def test_false_equivocation_accusations_rejected(l1):
    fund(l1)
    a, _ = l1.make_headers(2000, b"\x01" * 32, 1)[0]
    b = replace(a, height=2001)
    sig_a = l1.sequencer.sign_header(a)
    prove = l1.bond.functions.proveEquivocation
    who = l1.outsider.address
    assert l1.revert(prove(l1.htuple(a), sig_a, l1.htuple(a), sig_a), who) == "SameHeader"
    assert l1.revert(prove(l1.htuple(a), sig_a, l1.htuple(b), l1.sequencer.sign_header(b)), who) == "HeightsDiffer"
    c = replace(a, bundles_root=b"\x09" * 32)
    stranger = Signer(b"\x33" * 32, l1.sequencer.domain)
    assert l1.revert(prove(l1.htuple(a), sig_a, l1.htuple(c), stranger.sign_header(c)), who) == \
        "NotSequencerSignature"
    assert l1.revert(prove(l1.htuple(a), sig_a, l1.htuple(c), sig_a), who) == "NotSequencerSignature"


def test_broken_receipt_other_tx_at_index(l1):
    fund(l1)
    promised = keccak(b"user tx")
    namespaces = (Namespace(901, (b"a", b"b", b"c")), Namespace(903, (b"z",)))
    h, hsig = block_at(l1, 3000, namespaces)
    receipt = (901, promised, 3000, 1)
    rsig = l1.sequencer.sign_receipt(*receipt)
    hashes = [keccak(p) for p in namespaces[0].transactions]
    fn = l1.bond.functions.proveBrokenReceipt(receipt, rsig, l1.htuple(h), hsig, ns_leaf(namespaces, 901),
                                              hashes[1], list(inclusion_proof(hashes, 1)))
    bal, staked = balance(l1, l1.outsider), l1.bond.functions.bond().call()
    r = l1.ok(fn, l1.outsider)
    assert balance(l1, l1.outsider) == bal + staked // 2 - fee(r)
    assert l1.bond.functions.bond().call() == 0
    fund(l1)
    assert l1.revert(fn, l1.outsider.address) == "AlreadyPunished"


def test_broken_receipt_index_beyond_namespace(l1):
    fund(l1)
    namespaces = (Namespace(901, (b"a", b"b")), Namespace(902, (b"q",)))
    h, hsig = block_at(l1, 3001, namespaces)
    receipt = (902, keccak(b"mine"), 3001, 5)
    fn = l1.bond.functions.proveBrokenReceipt(receipt, l1.sequencer.sign_receipt(*receipt), l1.htuple(h), hsig,
                                              ns_leaf(namespaces, 902), b"\x00" * 32, [])
    l1.ok(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_kept_receipt_and_bad_proofs_rejected(l1):
    fund(l1)
    namespaces = (Namespace(901, (b"a", b"b", b"c")), Namespace(902, (b"x", b"y")))
    h, hsig = block_at(l1, 3002, namespaces)
    hashes = [keccak(p) for p in namespaces[0].transactions]
    receipt = (901, hashes[2], 3002, 2)  # kept: tx c is at index 2
    rsig = l1.sequencer.sign_receipt(*receipt)
    prove = l1.bond.functions.proveBrokenReceipt
    who = l1.outsider.address
    leaf = ns_leaf(namespaces, 901)
    path2 = list(inclusion_proof(hashes, 2))
    assert l1.revert(prove(receipt, rsig, l1.htuple(h), hsig, leaf, hashes[2], path2), who) == "ReceiptKept"
    # Claiming another tx at the index needs a proof that does not exist.
    assert l1.revert(prove(receipt, rsig, l1.htuple(h), hsig, leaf, hashes[0], path2), who) == "InvalidTxProof"
    # A namespace leaf with a fake count/root is not under the header.
    fake = (leaf[0], 901, tx_root([b"a"]), 1, leaf[4])
    assert l1.revert(prove(receipt, rsig, l1.htuple(h), hsig, fake, b"\x00" * 32, []), who) == \
        "InvalidNamespaceProof"
    # Another rollup's (valid) leaf does not speak for this receipt.
    other = ns_leaf(namespaces, 902)
    assert l1.revert(prove(receipt, rsig, l1.htuple(h), hsig, other, b"\x00" * 32, []), who) == \
        "InvalidNamespaceProof"
    # Header at another height, unsigned receipt, unsigned header.
    h2 = replace(h, height=3003)
    assert l1.revert(prove(receipt, rsig, l1.htuple(h2), l1.sequencer.sign_header(h2), leaf, hashes[0], path2),
                     who) == "HeaderHeightMismatch"
    stranger = Signer(b"\x34" * 32, l1.sequencer.domain)
    assert l1.revert(prove(receipt, stranger.sign_receipt(*receipt), l1.htuple(h), hsig, leaf, hashes[0], path2),
                     who) == "NotSequencerSignature"
    assert l1.revert(prove(receipt, rsig, l1.htuple(h), stranger.sign_header(h), leaf, hashes[0], path2),
                     who) == "NotSequencerSignature"
    assert l1.bond.functions.bond().call() > 0


def test_broken_receipt_namespace_absent(l1):
    fund(l1)
    namespaces = (Namespace(901, (b"a",)), Namespace(903, (b"z",)))
    leaves = namespace_leaves(namespaces)
    h, hsig = block_at(l1, 3100, namespaces)
    prove = l1.bond.functions.proveReceiptNamespaceAbsent
    who = l1.outsider.address

    def neighbours(rid):
        p = prove_namespace(namespaces, rid)
        assert not p.present
        return absence_neighbours(p)

    # Present rollup: bracketing cannot be proven.
    r901 = (901, keccak(b"a"), 3100, 0)
    assert l1.revert(prove(r901, l1.sequencer.sign_receipt(*r901), l1.htuple(h), hsig, neighbours(902)), who) == \
        "InvalidAbsenceProof"
    # Wrong neighbour order/gap, and a forged neighbour leaf.
    r902 = (902, keccak(b"mine"), 3100, 0)
    s902 = l1.sequencer.sign_receipt(*r902)
    nb = neighbours(902)
    assert l1.revert(prove(r902, s902, l1.htuple(h), hsig, nb[::-1]), who) == "InvalidAbsenceProof"
    assert l1.revert(prove(r902, s902, l1.htuple(h), hsig, nb[:1]), who) == "InvalidAbsenceProof"
    forged = [(nb[0][0], 901, b"\x00" * 32, 9, nb[0][4]), nb[1]]
    assert l1.revert(prove(r902, s902, l1.htuple(h), hsig, forged), who) == "InvalidAbsenceProof"
    assert len(leaves) == 2
    # Bracketed by 901 and 903: the receipt for 902 was broken.
    l1.ok(prove(r902, s902, l1.htuple(h), hsig, nb), l1.outsider)
    assert l1.bond.functions.bond().call() == 0
    # End leaf: 904 is above the last leaf.
    fund(l1)
    r904 = (904, keccak(b"late"), 3100, 3)
    l1.ok(prove(r904, l1.sequencer.sign_receipt(*r904), l1.htuple(h), hsig, neighbours(904)), l1.outsider)
    # Empty block: no namespaces at all.
    fund(l1)
    empty, esig = block_at(l1, 3101, ())
    r = (901, keccak(b"q"), 3101, 0)
    l1.ok(prove(r, l1.sequencer.sign_receipt(*r), l1.htuple(empty), esig, []), l1.outsider)


def test_withdrawal_waits_and_owner_only(l1):
    fund(l1)
    fn = l1.bond.functions
    assert l1.revert(fn.requestWithdrawal(1), l1.outsider.address) == "NotOwner"
    l1.ok(fn.requestWithdrawal(BOND // 4), l1.owner)
    assert l1.revert(fn.withdraw(), l1.owner.address) == "WithdrawalNotAllowed"
    l1.anvil.mine(fn.withdrawalDelay().call())
    assert l1.revert(fn.withdraw(), l1.outsider.address) == "NotOwner"
    before = fn.bond().call()
    l1.ok(fn.withdraw(), l1.owner)
    assert fn.bond().call() == before - BOND // 4
    assert l1.revert(fn.withdraw(), l1.owner.address) == "WithdrawalNotAllowed"
