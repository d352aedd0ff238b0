"""SequencerBond: each proof (equivocation, window conflicts, batch-signed broken receipts, malformed
tree) built with sequencer.core and sequencer.l1.bond, false accusations, commit-reveal, rewards,
withdrawals and constructor bounds. The attacks of issue 8 are in test_contract_adversarial.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import keccak as eth_keccak
from eth_utils import to_checksum_address

from sequencer.core.commitments import namespace_leaves, namespaces_root, prove_namespace, tx_root
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof, merkle_root
from sequencer.core.signing import Signer, block_hash
from sequencer.core.types import Namespace
from sequencer.core.window import WindowCommitment, window_struct_hash
from sequencer.l1.bond import (
    CLAIM_LAST,
    CLAIM_LEAF,
    CLAIM_PARENT,
    field_claim,
    malformed_pair,
    namespace_leaf_at,
    report_commitment,
    sign_receipt_batch,
    window_leaf_claim,
    window_leaf_claim_from_hashes,
)
from sequencer.l1.inbox import absence_neighbours, namespace_leaf_tuple, window_tuple

BOND = 10**18


@pytest.fixture(autouse=True)
def fresh_chain(l1):
    """Every test starts from the deployed state (bond at its minimum, keys as deployed)."""
    snap = l1.snapshot()
    yield
    l1.revert_to(snap)


def fund(l1, amount=BOND):
    l1.ok(l1.bond.functions.deposit(), l1.owner, value=amount)


def balance(l1, who):
    return l1.w3.eth.get_balance(who.address)


def fee(receipt):
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def expected_reward(l1, staked):
    return min(staked * l1.bond.functions.reporterShareBps().call() // 10000, l1.bond.functions.maxReward().call())


def block_at(l1, height, namespaces, signer=None):
    """A signed header at `height` over `namespaces` (in the order given)."""
    h, _ = l1.make_headers(height, b"\x01" * 32, 1, rollups=())[0]
    h = replace(h, namespaces_root=namespaces_root(namespaces), namespace_count=len(namespaces))
    return h, (signer or l1.sequencer).sign_header(h)


def ns_leaf(namespaces, rollup_id):
    return namespace_leaf_tuple(prove_namespace(namespaces, rollup_id))


def window_over(headers, signer):
    """A signed Window whose blocksRoot is over `headers` (its other fields consistent with them)."""
    hashes = [block_hash(h) for h in headers]
    w = WindowCommitment(headers[0].height, headers[-1].height, headers[0].parent_hash, hashes[-1],
                         merkle_root(hashes), headers[0].timestamp_ms, headers[-1].timestamp_ms, 7, b"\x07" * 32,
                         b"\x11" * 32, b"\x22" * 32)
    return w, signer.sign_struct(window_struct_hash(w))


def claim_reward(l1, receipt, account):
    ev = l1.bond.events.Slashed().process_receipt(receipt)[0]["args"]
    l1.mine(l1.bond.functions.claimDelay().call())
    before = balance(l1, account)
    r = l1.ok(l1.bond.functions.claimReward(ev["offence"]), account)
    return balance(l1, account) - before + fee(r), ev


def test_equivocation_slashes_burns_and_pays_capped_reward_after_delay(l1):
    fund(l1)
    a, _ = l1.make_headers(1000, b"\x01" * 32, 1)[0]
    b = replace(a, timestamp_ms=a.timestamp_ms + 1)
    sig_a, sig_b = l1.sequencer.sign_header(a), l1.sequencer.sign_header(b)
    fn = l1.bond.functions.proveEquivocation(l1.htuple(a), sig_a, l1.htuple(b), sig_b)
    staked = l1.bond.functions.bond().call()
    receipt = l1.report(fn, l1.outsider)
    reward = expected_reward(l1, staked)
    assert l1.bond.functions.bond().call() == 0
    assert l1.bond.functions.burnt().call() == staked - reward
    ev = l1.bond.events.Slashed().process_receipt(receipt)[0]["args"]
    assert ev["reward"] == reward and ev["reporter"] == l1.outsider.address
    assert l1.bond.functions.report(ev["offence"]).call()[3] == reward
    # The reward waits claimDelay blocks (an earlier committer may still take it over), then pays once.
    assert l1.revert(l1.bond.functions.claimReward(ev["offence"]), l1.outsider.address) == "ClaimTooEarly"
    paid, _ = claim_reward(l1, receipt, l1.outsider)
    assert paid == reward
    assert l1.revert(l1.bond.functions.claimReward(ev["offence"]), l1.outsider.address) == "NoClaim"
    assert l1.bond.functions.report(ev["offence"]).call()[3] == 0  # paid: nothing left to claim
    # No double punishment: the same height is one offence; another offence finds the bond empty.
    c = replace(a, timestamp_ms=a.timestamp_ms + 2)
    fn2 = l1.bond.functions.proveEquivocation(l1.htuple(a), sig_a, l1.htuple(c), l1.sequencer.sign_header(c))
    assert l1.report_revert(fn2, l1.outsider) == "AlreadyPunished"
    d = replace(a, height=a.height + 1)
    e = replace(d, timestamp_ms=d.timestamp_ms + 1)
    fn3 = l1.bond.functions.proveEquivocation(l1.htuple(d), l1.sequencer.sign_header(d), l1.htuple(e),
                                              l1.sequencer.sign_header(e))
    assert l1.report_revert(fn3, l1.outsider) == "NothingToSlash"
    fund(l1)
    assert l1.revert(fn, l1.outsider.address) == "AlreadyPunished"
    l1.ok(fn3, l1.outsider)  # committed above, still valid


def test_reward_capped_in_absolute_terms(l1):
    cap = l1.bond.functions.maxReward().call()
    fund(l1, 100 * cap)  # 10% of it would be 10 x the cap
    a, _ = l1.make_headers(1100, b"\x01" * 32, 1)[0]
    b = replace(a, bundles_root=b"\x05" * 32)
    staked = l1.bond.functions.bond().call()
    r = l1.report(l1.bond.functions.proveEquivocation(l1.htuple(a), l1.sequencer.sign_header(a), l1.htuple(b),
                                                      l1.sequencer.sign_header(b)), l1.outsider)
    paid, _ = claim_reward(l1, r, l1.outsider)
    assert paid == cap
    assert l1.bond.functions.burnt().call() == staked - cap


def test_false_equivocation_accusations_rejected(l1):
    a, _ = l1.make_headers(2000, b"\x01" * 32, 1)[0]
    b = replace(a, height=2001)
    sig_a = l1.sequencer.sign_header(a)
    prove = l1.bond.functions.proveEquivocation
    o = l1.outsider
    assert l1.report_revert(prove(l1.htuple(a), sig_a, l1.htuple(a), sig_a), o) == "SameHeader"
    assert l1.report_revert(prove(l1.htuple(a), sig_a, l1.htuple(b), l1.sequencer.sign_header(b)), o) == \
        "HeightsDiffer"
    c = replace(a, bundles_root=b"\x09" * 32)
    stranger = Signer(b"\x33" * 32, l1.sequencer.domain)
    assert l1.report_revert(prove(l1.htuple(a), sig_a, l1.htuple(c), stranger.sign_header(c)), o) == \
        "NotAccountable"
    assert l1.report_revert(prove(l1.htuple(a), sig_a, l1.htuple(c), sig_a), o) == "NotAccountable"
    # A high-s copy of a valid signature is refused, as in Python (EIP-2).
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    sig_c = l1.sequencer.sign_header(c)
    s = int.from_bytes(sig_c[32:64], "big")
    high = sig_c[:32] + (n - s).to_bytes(32, "big") + bytes([55 - sig_c[64]])
    assert l1.report_revert(prove(l1.htuple(a), sig_a, l1.htuple(c), high), o) == "NotAccountable"
    assert l1.bond.functions.bond().call() > 0


def test_commit_reveal_rules(l1):
    a, _ = l1.make_headers(2100, b"\x01" * 32, 1)[0]
    b = replace(a, timestamp_ms=a.timestamp_ms + 1)
    fn = l1.bond.functions.proveEquivocation(l1.htuple(a), l1.sequencer.sign_header(a), l1.htuple(b),
                                             l1.sequencer.sign_header(b))
    o = l1.outsider
    assert l1.revert(fn, o.address) == "NotCommitted"
    data = fn._encode_transaction_data()
    # A commitment binds the reporter: the outsider's commitment does not let the owner reveal.
    l1.ok(l1.bond.functions.commitReport(report_commitment(o.address, data)), o)
    assert l1.revert(fn, l1.owner.address) == "NotCommitted"
    # Committing to other calldata (another signature order) does not cover this one.
    other = l1.bond.functions.proveEquivocation(l1.htuple(b), l1.sequencer.sign_header(b), l1.htuple(a),
                                                l1.sequencer.sign_header(a))
    assert l1.revert(other, o.address) == "NotCommitted"
    # Commit and reveal in one block: the reveal reverts.
    l1.anvil.rpc("evm_setAutomine", [False])
    try:
        c2 = report_commitment(l1.poster.address, data)
        commit_tx = l1.bond.functions.commitReport(c2).build_transaction(
            {"from": l1.poster.address, "nonce": l1.w3.eth.get_transaction_count(l1.poster.address), "gas": 100_000,
             "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": l1.w3.eth.chain_id})
        reveal_tx = dict(commit_tx, data=data, nonce=commit_tx["nonce"] + 1, gas=500_000)
        hashes = [l1.w3.eth.send_raw_transaction(l1.poster.sign_transaction(t).raw_transaction)
                  for t in (commit_tx, reveal_tx)]
        l1.mine(1)
    finally:
        l1.anvil.rpc("evm_setAutomine", [True])
    commit_r, reveal_r = (l1.w3.eth.get_transaction_receipt(h) for h in hashes)
    assert commit_r["blockNumber"] == reveal_r["blockNumber"]
    assert commit_r["status"] == 1 and reveal_r["status"] == 0
    assert l1.bond.functions.bond().call() > 0
    # One block later the outsider's reveal works.
    l1.ok(fn, o)
    assert l1.bond.functions.bond().call() == 0


def test_window_header_conflict_leaf(l1):
    fund(l1)
    headers = [h for h, _ in l1.make_headers(4000, b"\x01" * 32, 5)]
    w, wsig = window_over(headers, l1.sequencer)
    forged = replace(headers[2], timestamp_ms=headers[2].timestamp_ms + 7)  # another block at 4002
    fsig = l1.sequencer.sign_header(forged)
    prove = l1.bond.functions.proveWindowHeaderConflict
    o = l1.outsider
    # The honest header at the height agrees with the window: nothing to punish.
    assert l1.report_revert(prove(window_tuple(w), wsig, window_leaf_claim(headers, 4002), l1.htuple(headers[2]),
                                  l1.sequencer.sign_header(headers[2])), o) == "SameHeader"
    # A leaf not in the root, or put at another height, is refused.
    bad = (CLAIM_LEAF, block_hash(headers[1]), list(inclusion_proof([block_hash(h) for h in headers], 1)))
    assert l1.report_revert(prove(window_tuple(w), wsig, bad, l1.htuple(forged), fsig), o) == "InvalidWindowProof"
    out_of = replace(forged, height=4009)
    assert l1.report_revert(prove(window_tuple(w), wsig, window_leaf_claim(headers, 4002), l1.htuple(out_of),
                                  l1.sequencer.sign_header(out_of)), o) == "HeightNotInWindow"
    stranger = Signer(b"\x35" * 32, l1.sequencer.domain)
    assert l1.report_revert(prove(window_tuple(w), stranger.sign_struct(window_struct_hash(w)),
                                  window_leaf_claim(headers, 4002), l1.htuple(forged), fsig), o) == "NotAccountable"
    assert l1.report_revert(prove(window_tuple(w), wsig, (7, b"\x00" * 32, []), l1.htuple(forged), fsig), o) == \
        "InvalidClaimKind"
    staked = l1.bond.functions.bond().call()
    r = l1.report(prove(window_tuple(w), wsig, window_leaf_claim(headers, 4002), l1.htuple(forged), fsig), o)
    assert l1.bond.functions.bond().call() == 0
    assert claim_reward(l1, r, o)[0] == expected_reward(l1, staked)


def test_window_header_conflict_parent_and_last(l1):
    headers = [h for h, _ in l1.make_headers(4100, b"\x01" * 32, 3)]
    w, wsig = window_over(headers, l1.sequencer)
    prove = l1.bond.functions.proveWindowHeaderConflict
    # The window says block 4099 is 0x01..; a signed header at 4099 says otherwise.
    before, _ = l1.make_headers(4099, b"\x02" * 32, 1)[0]
    snap = l1.snapshot()
    l1.report(prove(window_tuple(w), wsig, field_claim(CLAIM_PARENT), l1.htuple(before),
                    l1.sequencer.sign_header(before)), l1.outsider)
    assert l1.bond.functions.bond().call() == 0
    snap = l1.revert_to(snap)
    # lastBlockHash against another header at 4102.
    last2 = replace(headers[-1], bundles_root=b"\x0b" * 32)
    l1.report(prove(window_tuple(w), wsig, field_claim(CLAIM_LAST), l1.htuple(last2), l1.sequencer.sign_header(last2)),
              l1.outsider)
    assert l1.bond.functions.bond().call() == 0
    snap = l1.revert_to(snap)
    assert l1.report_revert(prove(window_tuple(w), wsig, field_claim(CLAIM_LAST), l1.htuple(headers[-1]),
                                  l1.sequencer.sign_header(headers[-1])), l1.outsider) == "SameHeader"
    assert l1.report_revert(prove(window_tuple(w), wsig, field_claim(CLAIM_PARENT), l1.htuple(headers[0]),
                                  l1.sequencer.sign_header(headers[0])), l1.outsider) == "HeightNotInWindow"


def test_two_windows_disagree_on_a_height(l1):
    a_headers = [h for h, _ in l1.make_headers(4200, b"\x01" * 32, 4)]
    b_headers = a_headers[:2] + [h for h, _ in l1.make_headers(4202, block_hash(a_headers[1]), 3)]
    wa, sa = window_over(a_headers, l1.sequencer)
    wb, sb = window_over(b_headers, l1.sequencer)
    prove = l1.bond.functions.proveWindowsConflict
    o = l1.outsider
    # They agree at 4201.
    assert l1.report_revert(prove(window_tuple(wa), sa, window_leaf_claim(a_headers, 4201), window_tuple(wb), sb,
                                  window_leaf_claim(b_headers, 4201), 4201), o) == "SameHeader"
    l1.report(prove(window_tuple(wa), sa, window_leaf_claim(a_headers, 4203), window_tuple(wb), sb,
                    window_leaf_claim(b_headers, 4203), 4203), o)
    assert l1.bond.functions.bond().call() == 0


def test_window_contradicting_itself(l1):
    """A window whose lastBlockHash is not its last leaf is one window disagreeing with itself."""
    headers = [h for h, _ in l1.make_headers(4300, b"\x01" * 32, 3)]
    hashes = [block_hash(h) for h in headers]
    w = WindowCommitment(4300, 4302, b"\x01" * 32, b"\xee" * 32, merkle_root(hashes), 0, 0, 0, b"\x00" * 32,
                         b"\x00" * 32, b"\x00" * 32)
    sig = l1.sequencer.sign_struct(window_struct_hash(w))
    l1.report(l1.bond.functions.proveWindowsConflict(window_tuple(w), sig, window_leaf_claim_from_hashes(hashes, 2),
                                                     window_tuple(w), sig, field_claim(CLAIM_LAST), 4302), l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def _receipts_around(receipt):
    """A group commit of four receipts, `receipt` at index 2."""
    rid, _, height, _ = receipt
    return [(rid, keccak(b"x%d" % i), height, 9 + i) for i in range(2)] + [receipt, (rid, keccak(b"y"), height, 20)]


def test_broken_receipt_other_tx_at_index(l1):
    fund(l1)
    promised = keccak(b"user tx")
    namespaces = (Namespace(901, (b"a", b"b", b"c")), Namespace(903, (b"z",)))
    h, hsig = block_at(l1, 3000, namespaces)
    receipt = (901, promised, 3000, 1)
    batch = sign_receipt_batch(l1.sequencer, _receipts_around(receipt))
    hashes = [keccak(p) for p in namespaces[0].transactions]
    fn = l1.bond.functions.proveBrokenReceipt(batch[2], l1.htuple(h), hsig, ns_leaf(namespaces, 901),
                                              hashes[1], list(inclusion_proof(hashes, 1)))
    staked = l1.bond.functions.bond().call()
    r = l1.report(fn, l1.outsider)
    assert l1.bond.functions.bond().call() == 0
    assert claim_reward(l1, r, l1.outsider)[0] == expected_reward(l1, staked)
    fund(l1)
    assert l1.revert(fn, l1.outsider.address) == "AlreadyPunished"


def test_broken_receipt_index_beyond_namespace(l1):
    namespaces = (Namespace(901, (b"a", b"b")), Namespace(902, (b"q",)))
    h, hsig = block_at(l1, 3001, namespaces)
    receipt = (902, keccak(b"mine"), 3001, 5)
    batch = sign_receipt_batch(l1.sequencer, [receipt])
    l1.report(l1.bond.functions.proveBrokenReceipt(batch[0], l1.htuple(h), hsig, ns_leaf(namespaces, 902),
                                                   b"\x00" * 32, []), l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_kept_receipt_and_bad_proofs_rejected(l1):
    namespaces = (Namespace(901, (b"a", b"b", b"c")), Namespace(902, (b"x", b"y")))
    h, hsig = block_at(l1, 3002, namespaces)
    hashes = [keccak(p) for p in namespaces[0].transactions]
    receipt = (901, hashes[2], 3002, 2)  # kept: tx c is at index 2
    batch = sign_receipt_batch(l1.sequencer, _receipts_around(receipt))
    rp = batch[2]
    prove = l1.bond.functions.proveBrokenReceipt
    o = l1.outsider
    leaf = ns_leaf(namespaces, 901)
    path2 = list(inclusion_proof(hashes, 2))
    assert l1.report_revert(prove(rp, l1.htuple(h), hsig, leaf, hashes[2], path2), o) == "ReceiptKept"
    # Claiming another tx at the index needs a proof that does not exist.
    assert l1.report_revert(prove(rp, l1.htuple(h), hsig, leaf, hashes[0], path2), o) == "InvalidTxProof"
    # A namespace leaf with a fake count/root is not under the header.
    fake = (leaf[0], 901, tx_root([b"a"]), 1, leaf[4])
    assert l1.report_revert(prove(rp, l1.htuple(h), hsig, fake, b"\x00" * 32, []), o) == "InvalidNamespaceProof"
    other = ns_leaf(namespaces, 902)
    assert l1.report_revert(prove(rp, l1.htuple(h), hsig, other, b"\x00" * 32, []), o) == "InvalidNamespaceProof"
    # A receipt that is not in the signed batch (wrong index, path of another leaf, altered fields).
    broken = (901, keccak(b"other"), 3002, 2)
    forged_rp = (broken, *rp[1:])
    assert l1.report_revert(prove(forged_rp, l1.htuple(h), hsig, leaf, hashes[2], path2), o) == "InvalidReceiptProof"
    wrong_index = (rp[0], rp[1], rp[2], 1, rp[4])
    assert l1.report_revert(prove(wrong_index, l1.htuple(h), hsig, leaf, hashes[2], path2), o) == \
        "InvalidReceiptProof"
    # Header at another height; batch or header signed by a stranger.
    h2 = replace(h, height=3003)
    assert l1.report_revert(prove(rp, l1.htuple(h2), l1.sequencer.sign_header(h2), leaf, hashes[0], path2), o) == \
        "HeaderHeightMismatch"
    stranger = Signer(b"\x34" * 32, l1.sequencer.domain)
    s_batch = sign_receipt_batch(stranger, _receipts_around((901, keccak(b"z"), 3002, 2)))
    assert l1.report_revert(prove(s_batch[2], l1.htuple(h), hsig, leaf, hashes[0], path2), o) == \
        "NotAccountable"
    assert l1.report_revert(prove(rp, l1.htuple(h), stranger.sign_header(h), leaf, hashes[0], path2), o) == \
        "NotAccountable"
    assert l1.bond.functions.bond().call() > 0


def test_broken_receipt_namespace_absent(l1):
    namespaces = (Namespace(901, (b"a",)), Namespace(903, (b"z",)))
    h, hsig = block_at(l1, 3100, namespaces)
    prove = l1.bond.functions.proveReceiptNamespaceAbsent
    o = l1.outsider

    def neighbours(rid):
        p = prove_namespace(namespaces, rid)
        assert not p.present
        return absence_neighbours(p)

    def signed(r):
        return sign_receipt_batch(l1.sequencer, _receipts_around(r))[2]

    r901 = (901, keccak(b"a"), 3100, 0)
    assert l1.report_revert(prove(signed(r901), l1.htuple(h), hsig, neighbours(902)), o) == "InvalidAbsenceProof"
    r902 = (902, keccak(b"mine"), 3100, 0)
    s902 = signed(r902)
    nb = neighbours(902)
    assert l1.report_revert(prove(s902, l1.htuple(h), hsig, nb[::-1]), o) == "InvalidAbsenceProof"
    assert l1.report_revert(prove(s902, l1.htuple(h), hsig, nb[:1]), o) == "InvalidAbsenceProof"
    forged = [(nb[0][0], 901, b"\x00" * 32, 9, nb[0][4]), nb[1]]
    assert l1.report_revert(prove(s902, l1.htuple(h), hsig, forged), o) == "InvalidAbsenceProof"
    assert len(namespace_leaves(namespaces)) == 2
    snap = l1.snapshot()
    l1.report(prove(s902, l1.htuple(h), hsig, nb), o)
    assert l1.bond.functions.bond().call() == 0
    snap = l1.revert_to(snap)
    r904 = (904, keccak(b"late"), 3100, 3)
    l1.report(prove(signed(r904), l1.htuple(h), hsig, neighbours(904)), o)
    assert l1.bond.functions.bond().call() == 0
    snap = l1.revert_to(snap)
    empty, esig = block_at(l1, 3101, ())
    r = (901, keccak(b"q"), 3101, 0)
    l1.report(prove(signed(r), l1.htuple(empty), esig, []), o)
    assert l1.bond.functions.bond().call() == 0


def test_malformed_tree(l1):
    # (20, ...) before (10, ...): a reader of rollup 20's "absence" or of a split rollup is lied to.
    bad = (Namespace(20, (b"t1",)), Namespace(10, (b"t2",)))
    h, hsig = block_at(l1, 5000, bad)
    prove = l1.bond.functions.proveMalformedTree
    o = l1.outsider
    left, right = malformed_pair(bad)
    good = (Namespace(10, (b"t2",)), Namespace(20, (b"t1",)))
    gh, gsig = block_at(l1, 5001, good)
    assert l1.report_revert(prove(l1.htuple(gh), gsig, namespace_leaf_at(good, 0), namespace_leaf_at(good, 1)), o) \
        == "TreeWellFormed"
    assert l1.report_revert(prove(l1.htuple(h), hsig, right, left), o) == "LeavesNotAdjacent"
    fake = (left[0], 5, left[2], left[3], left[4])
    assert l1.report_revert(prove(l1.htuple(h), hsig, fake, right), o) == "InvalidNamespaceProof"
    stranger = Signer(b"\x36" * 32, l1.sequencer.domain)
    assert l1.report_revert(prove(l1.htuple(h), stranger.sign_header(h), left, right), o) == "NotAccountable"
    snap = l1.snapshot()
    l1.report(prove(l1.htuple(h), hsig, left, right), o)
    assert l1.bond.functions.bond().call() == 0
    snap = l1.revert_to(snap)
    # A rollup split into two leaves (equal ids) is malformed too.
    dup = (Namespace(7, (b"a",)), Namespace(9, (b"b",)), Namespace(9, (b"c",)))
    dh, dsig = block_at(l1, 5002, dup)
    left, right = malformed_pair(dup)
    assert left[0] == 1
    l1.report(prove(l1.htuple(dh), dsig, left, right), o)
    assert l1.bond.functions.bond().call() == 0


def test_withdrawal_waits_expires_and_owner_only(l1):
    fn = l1.bond.functions
    kf = l1.keys.functions
    assert l1.revert(fn.requestWithdrawal(1), l1.outsider.address) == "NotOwner"
    assert l1.revert(fn.requestWithdrawal(0), l1.owner.address) == "BadWithdrawalAmount"
    assert l1.revert(fn.requestWithdrawal(fn.bond().call() + 1), l1.owner.address) == "BadWithdrawalAmount"
    assert l1.revert(fn.withdraw(), l1.owner.address) == "NoWithdrawalPending"
    staked = fn.bond().call()
    l1.ok(fn.requestWithdrawal(staked // 4), l1.owner)
    assert fn.isSufficient().call() is (staked - staked // 4 >= fn.minimumBond().call())
    assert l1.revert(fn.withdraw(), l1.owner.address) == "WithdrawalNotReady"
    l1.mine(fn.withdrawalDelay().call())
    assert l1.revert(fn.withdraw(), l1.outsider.address) == "NotOwner"
    # The key is live: its signatures are provable, so the bond stays.
    assert l1.revert(fn.withdraw(), l1.owner.address) == "KeysNotSettled"
    # Retired, it stays accountable for the challenge period.
    l1.ok(kf.retireKey(kf.keys().call()[0]), l1.owner)
    assert l1.revert(fn.withdraw(), l1.owner.address) == "KeysNotSettled"
    l1.mine(l1.keys.functions.challengePeriod().call() + 1)
    assert kf.settled().call()
    # The request expired meanwhile (its window is shorter than the challenge period here).
    assert l1.revert(fn.withdraw(), l1.owner.address) == "WithdrawalExpired"
    assert fn.isSufficient().call() is (staked >= fn.minimumBond().call())
    l1.ok(fn.requestWithdrawal(staked // 4), l1.owner)
    l1.mine(fn.withdrawalDelay().call())
    l1.ok(fn.withdraw(), l1.owner)
    assert fn.bond().call() == staked - staked // 4
    assert l1.revert(fn.withdraw(), l1.owner.address) == "NoWithdrawalPending"


def test_is_sufficient(l1):
    fn = l1.bond.functions
    minimum = fn.minimumBond().call()
    assert fn.bond().call() == minimum and fn.isSufficient().call()  # deploy deposits the minimum
    l1.ok(fn.requestWithdrawal(1), l1.owner)
    assert not fn.isSufficient().call()  # a pending withdrawal would take it below
    fund(l1, 1)
    assert fn.isSufficient().call()
    l1.mine(fn.withdrawalDelay().call() + fn.withdrawalWindow().call() + 1)
    fund(l1, 0)
    assert fn.isSufficient().call()  # expired requests do not count


BOND_ERRORS = {
    "minimumBond": (0, "MinimumBondOutOfRange"),
    "reporterShareBps": (2001, "ReporterShareOutOfRange"),
    "maxReward": (0, "MaxRewardOutOfRange"),
    "withdrawalDelay": (0, "WithdrawalDelayOutOfRange"),
    "withdrawalWindow": (50_401, "WithdrawalWindowOutOfRange"),
    "claimDelay": (9, "ClaimDelayOutOfRange"),
}


@pytest.mark.parametrize("field", list(BOND_ERRORS))
def test_bond_constructor_bounds(l1, field):
    names = ["minimumBond", "reporterShareBps", "maxReward", "withdrawalDelay", "withdrawalWindow", "claimDelay"]
    good = [10**17, 1000, 10**18, 100, 100, 10]
    assert l1.deploy_revert("SequencerBond", l1.owner.address, l1.keys.address, l1.inbox.address, tuple(good)) \
        is None
    value, error = BOND_ERRORS[field]
    params = list(good)
    params[names.index(field)] = value
    assert l1.deploy_revert("SequencerBond", l1.owner.address, l1.keys.address, l1.inbox.address,
                          tuple(params)) == error
    # The keys' inbox must be the inbox of the domain, or signatures would be judged under another domain.
    assert l1.deploy_revert("SequencerBond", l1.owner.address, l1.keys.address, l1.outsider.address,
                          tuple(good)) == "KeysInboxMismatch"


def test_offence_ids_are_as_documented(l1):
    a, _ = l1.make_headers(6000, b"\x01" * 32, 1)[0]
    b = replace(a, bundles_root=b"\x06" * 32)
    r = l1.report(l1.bond.functions.proveEquivocation(l1.htuple(a), l1.sequencer.sign_header(a), l1.htuple(b),
                                                      l1.sequencer.sign_header(b)), l1.outsider)
    ev = l1.bond.events.Slashed().process_receipt(r)[0]["args"]
    assert bytes(ev["offence"]) == eth_keccak((1).to_bytes(32, "big") + (6000).to_bytes(32, "big"))
    rep = l1.bond.functions.report(ev["offence"]).call()
    assert rep[0] == l1.outsider.address and rep[2] == r["blockNumber"] + l1.bond.functions.claimDelay().call()
    assert rep[3] == ev["reward"] > 0


def test_parent_claim_of_a_new_keys_first_window_binds_it(l1):
    """A key added from height F is accountable from F, yet its first window also names the block at F - 1
    (parentHash). That claim is judged at F, so a new key cannot lie about its predecessor's last block."""
    fresh = Signer(b"\x37" * 32, l1.sequencer.domain)
    first = 4400
    l1.ok(l1.keys.functions.addKey(to_checksum_address(fresh.address), first), l1.owner)
    headers = [h for h, _ in l1.make_headers(first, b"\x0f" * 32, 2)]
    w, wsig = window_over(headers, fresh)
    before, _ = l1.make_headers(first - 1, b"\x02" * 32, 1)[0]  # the genesis key's real block at F - 1
    assert not l1.keys.functions.accountable(to_checksum_address(fresh.address), first - 1).call()
    l1.report(l1.bond.functions.proveWindowHeaderConflict(window_tuple(w), wsig, field_claim(CLAIM_PARENT),
                                                          l1.htuple(before), l1.sequencer.sign_header(before)),
              l1.outsider)
    assert l1.bond.functions.bond().call() == 0
