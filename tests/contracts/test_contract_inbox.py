"""SequencerInbox: posting windows, key set and posters, every revert."""

from __future__ import annotations

from dataclasses import replace

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from sequencer.core.merkle import inclusion_proof, merkle_root
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH

GAS: dict[str, int] = {}


def test_first_window_signed_in_python_is_accepted(l1):
    assert l1.inbox.functions.nextHeight().call() == 0
    headers = l1.next_headers(4)
    assert headers[0].height == 0 and headers[0].parent_hash == ZERO_HASH
    batches = [b"op batch bytes", b"", b"zk batch"]
    receipt = l1.ok(l1.post(headers, (901, 902, 903), batches), l1.poster)
    GAS["postWindow(4 blocks, 3 batches)"] = receipt["gasUsed"]
    ev = l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]
    win = ev["window"]
    assert ev["windowIndex"] == 0 and (win["firstHeight"], win["lastHeight"]) == (0, 3)
    assert bytes(win["lastBlockHash"]) == block_hash(headers[-1])
    assert bytes(win["blocksRoot"]) == merkle_root([block_hash(h) for h in headers])
    assert [bytes(b) for b in ev["batchHashes"]] == [keccak(b) for b in batches]
    assert list(ev["rollupIds"]) == [901, 902, 903]
    assert l1.inbox.functions.nextHeight().call() == 4
    assert l1.inbox.functions.firmHeight().call() == 3
    assert bytes(l1.inbox.functions.lastBlockHash().call()) == block_hash(headers[-1])
    assert l1.inbox.functions.windowCount().call() == 1
    assert ev["signer"].lower() == "0x" + l1.sequencer.address.hex()
    first, last, l1_block, last_hash, root, batches_hash = l1.inbox.functions.getWindow(0).call()
    assert (first, last, l1_block, bytes(last_hash)) == (0, 3, receipt["blockNumber"], block_hash(headers[-1]))
    assert bytes(root) == bytes(win["blocksRoot"]) and bytes(batches_hash) == bytes(win["batchesHash"])
    assert bytes(batches_hash) == keccak(abi_encode(["uint64[]", "bytes32[]"], [[901, 902, 903],
                                                                                [keccak(b) for b in batches]]))
    assert bytes(l1.inbox.functions.batchesCommitment([901, 902, 903], [keccak(b) for b in batches]).call()) == \
        bytes(batches_hash)


def test_windows_chain_one_after_another(l1):
    for n in (1, 2, 7):
        start = l1.inbox.functions.nextHeight().call()
        headers = l1.next_headers(n)
        receipt = l1.ok(l1.post(headers, (901, 902), [b"a" * 1000, b"b" * 1000]), l1.poster)
        GAS[f"postWindow({n} blocks, 2 x 1000 B batches)"] = receipt["gasUsed"]
        assert l1.inbox.functions.nextHeight().call() == start + n
    big = l1.next_headers(64)
    receipt = l1.ok(l1.post(big, (901, 902, 903), [b"x" * 20_000] * 3), l1.poster)
    GAS["postWindow(64 blocks, 3 x 20 kB batches)"] = receipt["gasUsed"]
    print("\npostWindow gas:", GAS)


def test_replayed_window_and_signature_rejected(l1):
    headers = l1.next_headers(2)
    fn = l1.post(headers)
    l1.ok(fn, l1.poster)
    assert l1.revert(fn, l1.poster.address) == "WrongFirstHeight"  # the same window again
    # The same signed last header re-used in a window that starts at the right height.
    nxt = l1.next_headers(1)
    w = list(l1.window(nxt))
    w[2], w[3] = l1.htuple(headers[-1]), l1.sequencer.sign_header(headers[-1])
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) in (
        "WrongLastHeight", "InvalidWindowProof")


def test_height_gap_rejected(l1):
    start = l1.inbox.functions.nextHeight().call()
    parent = bytes(l1.inbox.functions.lastBlockHash().call())
    headers = [h for h, _ in l1.make_headers(start + 1, parent, 2)]
    assert l1.revert(l1.post(headers), l1.poster.address) == "WrongFirstHeight"


def test_wrong_parent_rejected(l1):
    start = l1.inbox.functions.nextHeight().call()
    headers = [h for h, _ in l1.make_headers(start, b"\x13" * 32, 2)]
    assert l1.revert(l1.post(headers), l1.poster.address) == "WrongParent"


def test_wrong_last_height_and_bad_proofs_rejected(l1):
    headers = l1.next_headers(3)
    w = list(l1.window(headers))
    w[5] = 2  # claims 2 blocks, last is first + 2
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == \
        "WrongLastHeight"
    w = list(l1.window(headers))
    w[1] = [b"\x00" * 32] * len(w[1])
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == \
        "InvalidWindowProof"
    w = list(l1.window(headers))
    w[6] = b"\x01" * 32
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == \
        "InvalidWindowProof"
    # A last header that is not the one in the tree (different content, same height), properly signed.
    other = replace(headers[-1], bundles_root=b"\x02" * 32)
    w = list(l1.window(headers))
    w[2], w[3] = l1.htuple(other), l1.sequencer.sign_header(other)
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == \
        "InvalidWindowProof"
    w = list(l1.window(headers))
    w[5] = 0
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == "EmptyWindow"


def test_wrong_signer_rejected(l1):
    headers = l1.next_headers(2)
    stranger = Signer(b"\x42" * 32, l1.sequencer.domain)
    assert l1.revert(l1.post(headers, signer=stranger), l1.poster.address) == "UnknownSigner"
    seq_key = l1.anvil.accounts[1].key  # the sequencer key the fixture registered
    other_chain = Signer(seq_key, Domain(l1.w3.eth.chain_id + 1, l1.sequencer.domain.verifying_contract))
    assert l1.revert(l1.post(headers, signer=other_chain), l1.poster.address) == "UnknownSigner"
    other_contract = Signer(seq_key, Domain(l1.w3.eth.chain_id, b"\x01" * 20))
    assert l1.revert(l1.post(headers, signer=other_contract), l1.poster.address) == "UnknownSigner"
    # High-s twin of a valid signature.
    w = list(l1.window(headers))
    sig = w[3]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    w[3] = sig[:32] + (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + bytes([55 - sig[64]])
    assert l1.revert(l1.inbox.functions.postWindow(tuple(w), [901], [b""], [0]), l1.poster.address) == \
        "UnknownSigner"
    l1.ok(l1.post(headers), l1.poster)


def test_unauthorised_poster_rejected_on_chain(l1):
    headers = l1.next_headers(1)
    fn = l1.post(headers)
    assert l1.revert(fn, l1.outsider.address) == "NotPoster"
    assert l1.revert(fn, l1.owner.address) == "NotPoster"
    receipt = l1.transact(fn, l1.outsider, gas=500_000)
    assert receipt["status"] == 0
    assert l1.inbox.functions.nextHeight().call() == headers[0].height


def test_batch_arguments_checked(l1):
    headers = l1.next_headers(1)
    inbox, poster = l1.inbox.functions, l1.poster.address
    w = l1.window(headers)
    assert l1.revert(inbox.postWindow(w, [901, 902], [b""], [0, 0]), poster) == "LengthMismatch"
    assert l1.revert(inbox.postWindow(w, [902, 901], [b"", b""], [0, 0]), poster) == "RollupIdsNotSorted"
    assert l1.revert(inbox.postWindow(w, [901, 901], [b"", b""], [0, 0]), poster) == "RollupIdsNotSorted"
    assert l1.revert(inbox.postWindow(w, [777], [b""], [0]), poster) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, True), l1.owner)
    assert l1.revert(inbox.postWindow(w, [903], [b""], [0]), poster) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, False), l1.owner)
    l1.ok(inbox.postWindow(w, [903], [b""], [0]), l1.poster)
    # No batches at all is a valid (empty) posting: the window is still made firm.
    l1.ok(l1.post(l1.next_headers(1), (), ()), l1.poster)


def test_key_set_and_posters_managed_by_owner_only(l1):
    new_key = Account.create()
    inbox = l1.inbox.functions
    assert l1.revert(inbox.setSigner(new_key.address, True), l1.outsider.address) == "NotOwner"
    assert l1.revert(inbox.setPoster(l1.outsider.address, True), l1.outsider.address) == "NotOwner"
    assert l1.revert(inbox.transferOwnership(l1.outsider.address), l1.outsider.address) == "NotOwner"
    receipt = l1.ok(inbox.setSigner(new_key.address, True), l1.owner)
    assert l1.inbox.events.SignerSet().process_receipt(receipt)[0]["args"]["allowed"] is True
    assert new_key.address in inbox.signers().call()
    rotated = Signer(bytes(new_key.key), l1.sequencer.domain)
    l1.ok(l1.post(l1.next_headers(2), signer=rotated), l1.poster)
    l1.ok(inbox.setSigner(new_key.address, False), l1.owner)
    assert new_key.address not in inbox.signers().call()
    assert l1.revert(l1.post(l1.next_headers(1), signer=rotated), l1.poster.address) == "UnknownSigner"
    # A new poster can post; a revoked one cannot.
    l1.ok(inbox.setPoster(l1.outsider.address, True), l1.owner)
    l1.ok(l1.post(l1.next_headers(1)), l1.outsider)
    l1.ok(inbox.setPoster(l1.outsider.address, False), l1.owner)
    assert l1.revert(l1.post(l1.next_headers(1)), l1.outsider.address) == "NotPoster"


def test_window_views_and_out_of_range(l1):
    count = l1.inbox.functions.windowCount().call()
    assert count >= 5
    assert l1.revert(l1.inbox.functions.getWindow(count), l1.outsider.address) == "OutOfRange"
    last = l1.inbox.functions.getWindow(count - 1).call()
    assert last[1] == l1.inbox.functions.firmHeight().call()
    assert bytes(last[3]) == bytes(l1.inbox.functions.lastBlockHash().call())
    # A single-block window has an empty proof and its root is the leaf hash of the block hash.
    headers = l1.next_headers(1)
    w = l1.window(headers)
    assert w[1] == [] and w[4] == [] and w[6] == merkle_root([block_hash(headers[0])])
    assert list(inclusion_proof([block_hash(headers[0])], 0)) == []
