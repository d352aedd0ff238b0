"""SequencerInbox.postWindowBlobs: batches in EIP-4844 blobs (type-3 transactions on anvil)."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from sequencer.core.signing import Signer, block_hash
from sequencer.l1 import blobs as B
from sequencer.l1.inbox import revert_name, window_tuple

GAS: dict[str, tuple[int, int]] = {}


def _blob_call(l1, fn: Any, blobs: list[bytes]) -> tuple[dict, list[bytes], list[bytes]]:
    commitments = [B.commitment(b) for b in blobs]
    vh = [B.versioned_hash(c) for c in commitments]
    call = {"from": l1.poster.address, "to": l1.inbox.address, "data": fn._encode_transaction_data(),
            "blobVersionedHashes": ["0x" + h.hex() for h in vh], "maxFeePerBlobGas": hex(10**9)}
    return call, vh, commitments


def blob_revert(l1, fn: Any, blobs: list[bytes]) -> str | None:
    """eth_call with the blobs' versioned hashes: the custom error name, None if it succeeds."""
    call, _, _ = _blob_call(l1, fn, blobs)
    reply = l1.w3.provider.make_request("eth_call", [call, "latest"])
    if "error" not in reply:
        return None
    data = reply["error"].get("data")
    data = data.get("data") if isinstance(data, dict) else data
    return revert_name(data) or f"unknown revert {reply['error']}"


def send_blobs(l1, fn: Any, blobs: list[bytes], gas: int = 3_000_000) -> Any:
    """Send `fn` as a type-3 transaction carrying `blobs`; returns the receipt."""
    call, vh, commitments = _blob_call(l1, fn, blobs)
    base = l1.w3.eth.get_block("latest")["baseFeePerGas"]
    blob_fee = int(l1.w3.provider.make_request("eth_blobBaseFee", [])["result"], 16)
    tx = {"type": 3, "chainId": l1.w3.eth.chain_id, "to": l1.inbox.address, "data": call["data"], "value": 0,
          "gas": gas, "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9,
          "maxFeePerBlobGas": 2 * blob_fee + 1, "blobVersionedHashes": vh,
          "nonce": l1.w3.eth.get_transaction_count(l1.poster.address, "pending")}
    raw = bytes(l1.poster.sign_transaction(tx).raw_transaction)
    wrapped, tx_hash = B.blob_tx_network_form(raw, blobs, commitments)
    assert bytes(l1.w3.eth.send_raw_transaction(wrapped)) == tx_hash
    return l1.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


def _blob_posting(l1, n: int, ids: tuple[int, ...], batches: list[bytes]):
    """A signed posting whose batch hashes are the blobs' (postWindowBlobs), with its blobs and counts."""
    blobs, counts = B.pack_batches(batches)
    p = l1.build(n, ids, tuple(batches), batch_hashes=tuple(B.batch_blob_hash(b) for b in batches))
    return p, blobs, counts


def _fn(l1, p, counts, **kw):
    ids = kw.get("ids", list(p.rollup_ids))
    return l1.inbox.functions.postWindowBlobs(window_tuple(p.window), kw.get("sig", p.signature), ids,
                                              kw.get("blob_counts", counts), kw.get("forced", list(p.forced_to)),
                                              p.witness)


def test_blob_window_records_versioned_hashes(l1):
    batches = [b"op batch in a blob", b"", b"z" * (B.MAX_BLOB_DATA_SIZE + 10)]  # the last takes two blobs
    p, blobs, counts = _blob_posting(l1, 3, (901, 902, 903), batches)
    assert counts == [1, 1, 2]
    fn = _fn(l1, p, counts)
    assert blob_revert(l1, fn, blobs) is None
    receipt = send_blobs(l1, fn, blobs)
    assert receipt["status"] == 1
    GAS["postWindowBlobs(3 blocks, 3 rollups, 4 blobs)"] = (receipt["gasUsed"], receipt["blobGasUsed"])
    assert receipt["blobGasUsed"] == 4 * B.GAS_PER_BLOB
    ev = l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]
    vh = [bytes(h) for h in l1.w3.eth.get_transaction(receipt["transactionHash"])["blobVersionedHashes"]]
    assert [bytes(h) for h in ev["batchHashes"]] == [vh[0], vh[1], keccak(vh[2] + vh[3])]
    assert [bytes(h) for h in ev["batchHashes"]] == [B.batch_blob_hash(b) for b in batches]
    assert bytes(ev["window"]["lastBlockHash"]) == block_hash(p.blocks[-1].header)
    assert l1.inbox.functions.nextHeight().call() == p.window.last_height + 1
    # The blobs are served back by anvil and decode to the batches.
    for rid, (lo, n), batch in zip(p.rollup_ids, [(0, 1), (1, 1), (2, 2)], batches, strict=True):
        got = [bytes.fromhex(l1.anvil.rpc("anvil_getBlobByHash", ["0x" + h.hex()])[2:]) for h in vh[lo:lo + n]]
        assert all(B.blob_versioned_hash(b) == h for b, h in zip(got, vh[lo:lo + n], strict=True)), rid
        assert B.unpack_batch(got) == batch


def test_blob_and_calldata_windows_chain(l1):
    l1.ok(l1.post(l1.build(2, (901,), (b"calldata",))), l1.poster)
    p, blobs, counts = _blob_posting(l1, 2, (901, 902), [b"a" * 1000, b"b" * 1000])
    receipt = send_blobs(l1, _fn(l1, p, counts), blobs)
    assert receipt["status"] == 1
    GAS["postWindowBlobs(2 blocks, 2 x 1000 B in 2 blobs)"] = (receipt["gasUsed"], receipt["blobGasUsed"])
    l1.ok(l1.post(l1.build(1, (901,), (b"calldata again",))), l1.poster)
    print("\npostWindowBlobs (gas, blob gas):", GAS)


def test_wrong_blob_count_rejected(l1):
    p, blobs, counts = _blob_posting(l1, 1, (901, 902), [b"one", b"two"])
    # Fewer blobs than blobCounts need, more than they need, none at all, and a rollup given zero blobs.
    assert blob_revert(l1, _fn(l1, p, counts, blob_counts=[1, 2]), blobs) == "WrongBlobCount"
    one, _ = B.pack_batches([b"one"])
    assert blob_revert(l1, _fn(l1, p, counts), one) == "WrongBlobCount"
    assert l1.revert(_fn(l1, p, counts), l1.poster.address) == "WrongBlobCount"
    assert blob_revert(l1, _fn(l1, p, counts, blob_counts=[0, 2]), blobs) == "WrongBlobCount"
    three, _ = B.pack_batches([b"one", b"two", b"three"])
    assert blob_revert(l1, _fn(l1, p, counts), three) == "WrongBlobCount"
    receipt = send_blobs(l1, _fn(l1, p, counts, blob_counts=[1, 2]), blobs, gas=500_000)
    assert receipt["status"] == 0
    assert l1.inbox.functions.nextHeight().call() == p.window.first_height
    assert blob_revert(l1, _fn(l1, p, counts), blobs) is None


def test_blob_window_checks_as_post_window(l1):
    """The same signed-window checks as postWindow: other blobs than the signed ones, a forged
    signature, a wrong forcedTo, an unauthorised poster."""
    p, blobs, counts = _blob_posting(l1, 2, (901, 902), [b"x", b"y"])
    other, _ = B.pack_batches([b"x", b"not what was signed"])
    assert blob_revert(l1, _fn(l1, p, counts), other) == "WrongRollupsHash"
    assert blob_revert(l1, _fn(l1, p, counts, ids=[901]), blobs[:1]) == "LengthMismatch"
    assert blob_revert(l1, _fn(l1, p, counts, forced=[99, 0]), blobs) == "WrongRollupsHash"
    wrong_forced = l1.build(2, (901, 902), batch_hashes=tuple(B.batch_blob_hash(b) for b in (b"x", b"y")),
                            forced_to=(5, 0))
    assert blob_revert(l1, _fn(l1, wrong_forced, counts), blobs) == "WrongForcedTo"
    stranger = Signer(b"\x42" * 32, l1.sequencer.domain)
    assert blob_revert(l1, _fn(l1, l1.resign(p, signer=stranger), counts), blobs) == "UnknownSigner"
    call, _, _ = _blob_call(l1, _fn(l1, p, counts), blobs)
    call["from"] = l1.outsider.address
    reply = l1.w3.provider.make_request("eth_call", [call, "latest"])
    assert revert_name(reply["error"]["data"]) == "NotPoster"
    assert blob_revert(l1, _fn(l1, p, counts), blobs) is None
    assert l1.revert(_fn(l1, p, counts), l1.poster.address) == "WrongBlobCount"  # no blobs sent
