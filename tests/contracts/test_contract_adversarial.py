"""Issue 8, findings 1, 2 (bond) and 6, and the malformed-tree / window / batch-receipt gaps, played by
the attacker against a real anvil. Each test runs the attack that succeeded on the old contracts and
asserts the named revert (or the slash) that stops it now. The protection each depends on is named in
the test's docstring: remove it and the attack goes through again."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import to_checksum_address

from sequencer.core.commitments import namespaces_root, prove_namespace
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof
from sequencer.core.signing import Signer
from sequencer.core.types import Namespace
from sequencer.l1.bond import malformed_pair, report_commitment, sign_receipt_batch, window_leaf_claim
from sequencer.l1.inbox import absence_neighbours, namespace_leaf_tuple, window_tuple

BOND = 10**18


@pytest.fixture(autouse=True)
def fresh_chain(l1):
    snap = l1.snapshot()
    yield
    l1.revert_to(snap)


def fund(l1, amount=BOND):
    l1.ok(l1.bond.functions.deposit(), l1.owner, value=amount)


def balance(l1, who):
    return l1.w3.eth.get_balance(who.address)


def fee(receipt):
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def equivocation(l1, height, signer=None):
    """The proveEquivocation call for two different headers signed at `height`."""
    s = signer or l1.sequencer
    a, _ = l1.make_headers(height, b"\x01" * 32, 1)[0]
    b = replace(a, timestamp_ms=a.timestamp_ms + 1)
    return l1.bond.functions.proveEquivocation(l1.htuple(a), s.sign_header(a), l1.htuple(b), s.sign_header(b))


def offence_of(l1, receipt):
    return l1.bond.events.Slashed().process_receipt(receipt)[0]["args"]["offence"]


def test_retiring_the_key_after_equivocating_does_not_escape(l1):
    """Finding 1a: the old bond judged signatures by the inbox's *current* key set, so removing the key
    made the proof revert. Now: SequencerKeys never deletes a key, accountable() holds for the whole
    challenge period after retirement."""
    fund(l1)
    proof = equivocation(l1, 7000)
    l1.ok(l1.keys.functions.retireKey(to_checksum_address(l1.sequencer.address)), l1.owner)
    l1.mine(l1.keys.functions.challengePeriod().call() - 5)  # late, but within the period
    l1.report(proof, l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_fresh_key_self_slash_loses_money(l1):
    """Finding 1b: add a fresh key, sign two headers, report them and pocket bond + share. Now: the
    reward is <= 20% and capped, the rest is burnt; the operator (owner and reporter at once) ends up
    poorer by at least 80% of the bond. And the fresh key cannot claim heights already firm."""
    l1.ok(l1.post(l1.build(2)), l1.poster)
    fund(l1)
    fresh = Signer(b"\x51" * 32, l1.sequencer.domain)
    k = l1.keys.functions
    assert l1.revert(k.addKey(to_checksum_address(fresh.address), 0), l1.owner.address) == "FirstHeightBelowFirm"
    staked = l1.bond.functions.bond().call()
    before = balance(l1, l1.owner)
    spent = fee(l1.ok(k.addKey(to_checksum_address(fresh.address), 2), l1.owner))
    proof = equivocation(l1, 1, fresh)
    assert l1.report_revert(proof, l1.owner) == "NotAccountable"  # below its first height: not the sequencer's
    proof = equivocation(l1, 9000, fresh)
    data = proof._encode_transaction_data()
    spent += fee(l1.ok(l1.bond.functions.commitReport(report_commitment(l1.owner.address, data)), l1.owner))
    l1.mine(1)
    r = l1.ok(proof, l1.owner)
    spent += fee(r)
    l1.mine(l1.bond.functions.claimDelay().call())
    spent += fee(l1.ok(l1.bond.functions.claimReward(offence_of(l1, r)), l1.owner))
    got = balance(l1, l1.owner) - before + spent
    assert got <= staked * 2000 // 10000
    assert l1.bond.functions.burnt().call() >= staked * 8000 // 10000
    # The operator's wealth was its balance plus the bond it could withdraw; the attack costs >= 80% of it.
    assert before + staked - balance(l1, l1.owner) >= staked * 8 // 10


def test_withdraw_ahead_of_the_reporter_fails(l1):
    """Finding 2: request a withdrawal once, wait out the delay, offend, then withdraw() ahead of the
    proof. Now: the bond leaves only while every key is settled (retired and past its challenge
    period), and a request expires."""
    fund(l1)
    bond = l1.bond.functions
    l1.ok(bond.requestWithdrawal(bond.bond().call()), l1.owner)
    l1.mine(bond.withdrawalDelay().call())
    proof = equivocation(l1, 7100)  # offend now
    assert l1.revert(bond.withdraw(), l1.owner.address) == "KeysNotSettled"
    # Retiring the key does not help: it stays accountable (and the bond locked) for the challenge period.
    l1.ok(l1.keys.functions.retireKey(to_checksum_address(l1.sequencer.address)), l1.owner)
    assert l1.revert(bond.withdraw(), l1.owner.address) == "KeysNotSettled"
    l1.mine(l1.keys.functions.challengePeriod().call() - 10)
    assert l1.revert(bond.withdraw(), l1.owner.address) == "KeysNotSettled"
    # The reporter had the whole period; the slash also cancels the pending request.
    l1.report(proof, l1.outsider)
    assert bond.bond().call() == 0 and bond.withdrawalAmount().call() == 0
    assert l1.revert(bond.withdraw(), l1.owner.address) == "NoWithdrawalPending"


def test_an_old_withdrawal_request_expires(l1):
    """Finding 2 (the request part): a request made long ago cannot be kept in reserve for the day of the
    offence; even with every key settled it must be made again and wait the full delay."""
    bond = l1.bond.functions
    l1.ok(bond.requestWithdrawal(1), l1.owner)
    l1.ok(l1.keys.functions.retireKey(to_checksum_address(l1.sequencer.address)), l1.owner)
    l1.mine(bond.withdrawalDelay().call() + bond.withdrawalWindow().call() + 1)
    assert l1.keys.functions.settled().call()
    assert l1.revert(bond.withdraw(), l1.owner.address) == "WithdrawalExpired"


def test_windows_refused_below_the_minimum_bond(l1):
    """Finding 2b: windows were accepted with a bond of zero. Now isSufficient() gates postWindow: after a
    slash (bond 0) or with a withdrawal pending that would take the bond below the minimum."""
    l1.ok(l1.post(l1.build(1)), l1.poster)
    bond = l1.bond.functions
    l1.ok(bond.requestWithdrawal(1), l1.owner)
    assert l1.revert(l1.post(l1.build(1)), l1.poster.address) == "BondInsufficient"
    fund(l1, 1)
    l1.ok(l1.post(l1.build(1)), l1.poster)
    l1.report(equivocation(l1, 7200), l1.outsider)
    assert l1.revert(l1.post(l1.build(1)), l1.poster.address) == "BondInsufficient"


def test_front_running_a_reporter_earns_nothing(l1):
    """Finding 6b: a proof seen in the mempool was copied and sent first. Now: a reveal needs an earlier
    commitment bound to the sender; a copier who commits after seeing the proof and reveals first still
    loses the reward to the earliest committer."""
    fund(l1)
    proof = equivocation(l1, 7300)
    honest, thief = l1.outsider, l1.poster
    data = l1.commit(proof, honest)  # honest reporter commits (hidden: a hash bound to its address)
    assert l1.revert(proof, thief.address) == "NotCommitted"  # a plain copy of the call fails
    # The thief sees the honest reveal in the mempool, commits to it, and gets its reveal in first.
    l1.ok(l1.bond.functions.commitReport(report_commitment(thief.address, data)), thief)
    l1.mine(1)
    r = l1.ok(proof, thief)
    offence = offence_of(l1, r)
    assert l1.bond.functions.report(offence).call()[0] == thief.address
    r2 = l1.ok(proof, honest)  # the honest reveal lands after: its earlier commitment wins
    ev = l1.bond.events.ReporterReplaced().process_receipt(r2)[0]["args"]
    assert (ev["previous"], ev["reporter"]) == (thief.address, honest.address)
    # Copying again, even with another commitment, cannot take it back.
    assert l1.revert(proof, thief.address) == "AlreadyPunished"
    l1.mine(l1.bond.functions.claimDelay().call())
    assert l1.revert(l1.bond.functions.claimReward(offence), thief.address) == "NoClaim"
    reward = l1.bond.functions.report(offence).call()[3]
    before = balance(l1, honest)
    rc = l1.ok(l1.bond.functions.claimReward(offence), honest)
    assert balance(l1, honest) - before + fee(rc) == reward > 0


def test_reporter_share_of_100_percent_cannot_be_deployed(l1):
    """Finding 6c: reporterShareBps = 10000 made the penalty zero. Now the constructor caps it at 20%."""
    params = (10**17, 10_000, 10**18, 100, 100, 10)
    assert l1.deploy_revert("SequencerBond", l1.owner.address, l1.keys.address, l1.inbox.address, params) == \
        "ReporterShareOutOfRange"
    params = (10**17, 2001, 10**18, 100, 100, 10)
    assert l1.deploy_revert("SequencerBond", l1.owner.address, l1.keys.address, l1.inbox.address, params) == \
        "ReporterShareOutOfRange"
    assert l1.bond.functions.MAX_REPORTER_SHARE_BPS().call() == 2000


def test_offender_reporting_itself_gains_nothing(l1):
    """Finding 6a: the offender reported itself and got 50% back. Now at most 20% (and maxReward) comes
    back: reporting itself is a loss, never a gain, whatever the bond."""
    fund(l1, 50 * BOND)
    staked = l1.bond.functions.bond().call()
    seq_account = l1.owner  # the operator holds the bond; it reports its own key's equivocation
    r = l1.report(equivocation(l1, 7400), seq_account)
    l1.mine(l1.bond.functions.claimDelay().call())
    before = balance(l1, seq_account)
    rc = l1.ok(l1.bond.functions.claimReward(offence_of(l1, r)), seq_account)
    back = balance(l1, seq_account) - before + fee(rc)
    assert back == min(staked * l1.bond.functions.reporterShareBps().call() // 10000,
                       l1.bond.functions.maxReward().call())
    assert back < staked // 5 and l1.bond.functions.burnt().call() == staked - back


def test_malformed_tree_is_slashable(l1):
    """Core review: a sequencer signed [(20, ...), (10, ...)] to show rollup 20 an 'absence' (or split a
    rollup into two leaves), and nothing slashed it. Now proveMalformedTree does, with two leaves."""
    bad = (Namespace(20, (b"tx-for-20",)), Namespace(10, (b"tx-for-10",)))
    h, _ = l1.make_headers(7500, b"\x01" * 32, 1, rollups=())[0]
    h = replace(h, namespaces_root=namespaces_root(bad), namespace_count=2)
    sig = l1.sequencer.sign_header(h)
    left, right = malformed_pair(bad)
    l1.report(l1.bond.functions.proveMalformedTree(l1.htuple(h), sig, left, right), l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_soft_header_contradicting_a_posted_window_is_slashable(l1):
    """Finding 3 (accountability side): the sequencer shows rollup nodes one block and makes another firm.
    The posted (signed) Window's blocksRoot holds the firm hash; the soft header is signed too."""
    p = l1.build(4)
    l1.ok(l1.post(p), l1.poster)
    headers = [b.header for b in p.blocks]
    soft = replace(headers[2], bundles_root=b"\x0c" * 32)  # what subscribers were shown at that height
    fn = l1.bond.functions.proveWindowHeaderConflict(window_tuple(p.window), p.signature,
                                                     window_leaf_claim(headers, headers[2].height),
                                                     l1.htuple(soft), l1.sequencer.sign_header(soft))
    # Before the fix nothing made the middle of a window signed; the honest header is no offence.
    honest = l1.bond.functions.proveWindowHeaderConflict(window_tuple(p.window), p.signature,
                                                         window_leaf_claim(headers, headers[2].height),
                                                         l1.htuple(headers[2]), p.blocks[2].signature)
    assert l1.report_revert(honest, l1.outsider) == "SameHeader"
    l1.report(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_broken_batch_receipt_against_a_posted_block_is_slashable(l1):
    """Item 5: receipts are signed per group commit. A receipt promised at (height, index) and a firm block
    holding another transaction there: the batch signature, the receipt's path, the header and the tx
    path slash the bond. A receipt for a rollup the block lacks is slashable through the absence proof."""
    p = l1.build(1, leaves=(901, 903))
    l1.ok(l1.post(p), l1.poster)
    blk = p.blocks[0]
    ns = blk.namespaces[0]
    hashes = [keccak(t) for t in ns.transactions]
    receipt = (901, keccak(b"the user's tx"), blk.header.height, 0)
    batch = sign_receipt_batch(l1.sequencer, [(901, keccak(b"other"), blk.header.height, 1), receipt])
    snap = l1.snapshot()
    fn = l1.bond.functions.proveBrokenReceipt(batch[1], l1.htuple(blk.header), blk.signature,
                                              namespace_leaf_tuple(prove_namespace(blk.namespaces, 901)),
                                              hashes[0], list(inclusion_proof(hashes, 0)))
    l1.report(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0
    l1.revert_to(snap)
    absent = (902, keccak(b"tx for 902"), blk.header.height, 0)
    batch = sign_receipt_batch(l1.sequencer, [absent])
    fn = l1.bond.functions.proveReceiptNamespaceAbsent(batch[0], l1.htuple(blk.header), blk.signature,
                                                       absence_neighbours(prove_namespace(blk.namespaces, 902)))
    l1.report(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_two_posted_windows_cannot_disagree_unpunished(l1):
    """A sequencer that signs two windows over one height (one posted, one shown elsewhere) is slashed."""
    p = l1.build(3)
    l1.ok(l1.post(p), l1.poster)
    headers = [b.header for b in p.blocks]
    alt = l1.build(3, start=headers[0].height, parent=headers[0].parent_hash)
    alt_headers = [b.header for b in alt.blocks]
    h = headers[1].height
    fn = l1.bond.functions.proveWindowsConflict(window_tuple(p.window), p.signature, window_leaf_claim(headers, h),
                                                window_tuple(alt.window), alt.signature,
                                                window_leaf_claim(alt_headers, h), h)
    l1.report(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0
