"""SequencerInbox.postWindowBlobs: batches in EIP-4844 blobs (type-3 transactions on anvil)."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from sequencer.core.signing import block_hash
from sequencer.l1 import blobs as B
from sequencer.l1.inbox import revert_name

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
    return l1.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


def _forced(l1, ids):
    return [l1.inbox.functions.forcedRead(r).call() for r in ids]


def test_blob_window_records_versioned_hashes(l1):
    headers = l1.next_headers(3)
    batches = [b"op batch in a blob", b"", b"z" * (B.MAX_BLOB_DATA_SIZE + 10)]  # the last takes two blobs
    blobs, counts = B.pack_batches(batches)
    assert counts == [1, 1, 2]
    ids = [901, 902, 903]
    fn = l1.inbox.functions.postWindowBlobs(l1.window(headers), ids, counts, _forced(l1, ids))
    assert blob_revert(l1, fn, blobs) is None
    receipt = send_blobs(l1, fn, blobs)
    assert receipt["status"] == 1
    GAS["postWindowBlobs(3 blocks, 3 rollups, 4 blobs)"] = (receipt["gasUsed"], receipt["blobGasUsed"])
    assert receipt["blobGasUsed"] == 4 * B.GAS_PER_BLOB
    ev = l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]
    vh = [bytes(h) for h in l1.w3.eth.get_transaction(receipt["transactionHash"])["blobVersionedHashes"]]
    assert [bytes(h) for h in ev["batchHashes"]] == [vh[0], vh[1], keccak(vh[2] + vh[3])]
    assert [bytes(h) for h in ev["batchHashes"]] == [B.batch_blob_hash(b) for b in batches]
    assert bytes(ev["window"]["lastBlockHash"]) == block_hash(headers[-1])
    assert l1.inbox.functions.nextHeight().call() == headers[-1].height + 1
    # The blobs are served back by anvil and decode to the batches.
    for rid, (lo, n), batch in zip(ids, [(0, 1), (1, 1), (2, 2)], batches, strict=True):
        got = [bytes.fromhex(l1.anvil.rpc("anvil_getBlobByHash", ["0x" + h.hex()])[2:]) for h in vh[lo:lo + n]]
        assert all(B.blob_versioned_hash(b) == h for b, h in zip(got, vh[lo:lo + n], strict=True)), rid
        assert B.unpack_batch(got) == batch


def test_blob_and_calldata_windows_chain(l1):
    l1.ok(l1.post(l1.next_headers(2), (901,), (b"calldata",)), l1.poster)
    headers = l1.next_headers(2)
    blobs, counts = B.pack_batches([b"a" * 1000, b"b" * 1000])
    receipt = send_blobs(l1, l1.inbox.functions.postWindowBlobs(l1.window(headers), [901, 902], counts,
                                                                 _forced(l1, [901, 902])), blobs)
    assert receipt["status"] == 1
    GAS["postWindowBlobs(2 blocks, 2 x 1000 B in 2 blobs)"] = (receipt["gasUsed"], receipt["blobGasUsed"])
    l1.ok(l1.post(l1.next_headers(1), (901,), (b"calldata again",)), l1.poster)
    print("\npostWindowBlobs (gas, blob gas):", GAS)


def test_wrong_blob_count_rejected(l1):
    headers = l1.next_headers(1)
    w = l1.window(headers)
    inbox = l1.inbox.functions
    blobs, _ = B.pack_batches([b"one", b"two"])
    # Fewer blobs than blobCounts need, more than they need, none at all, and a rollup given zero blobs.
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901, 902], [1, 2], [0, 0]), blobs) == "WrongBlobCount"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901], [1], [0]), blobs) == "WrongBlobCount"
    assert l1.revert(inbox.postWindowBlobs(w, [901], [1], [0]), l1.poster.address) == "WrongBlobCount"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901, 902], [0, 2], [0, 0]), blobs) == "WrongBlobCount"
    receipt = send_blobs(l1, inbox.postWindowBlobs(w, [901, 902], [1, 2], [0, 0]), blobs, gas=500_000)
    assert receipt["status"] == 0
    assert l1.inbox.functions.nextHeight().call() == headers[0].height


def test_blob_window_reverts_as_post_window(l1):
    inbox, poster = l1.inbox.functions, l1.poster.address
    headers = l1.next_headers(2)
    w = l1.window(headers)
    one, _ = B.pack_batches([b"x"])
    two, _ = B.pack_batches([b"x", b"y"])
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901, 902], [1], [0, 0]), one) == "LengthMismatch"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [902, 901], [1, 1], [0, 0]), two) == "RollupIdsNotSorted"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [777], [1], [0]), one) == "RollupNotActive"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901], [1], [99]), one) == "ForcedReadBeyondQueue"
    # Window checks: a gap, a wrong signer, an unauthorised poster.
    gap = [h for h, _ in l1.make_headers(headers[0].height + 1, block_hash(headers[0]), 1)]
    assert blob_revert(l1, inbox.postWindowBlobs(l1.window(gap), [901], [1], [0]), one) == "WrongFirstHeight"
    from sequencer.core.signing import Domain, Signer

    stranger = Signer(b"\x42" * 32, Domain(l1.w3.eth.chain_id, bytes.fromhex(l1.inbox.address[2:])))
    bad = l1.window(headers, signer=stranger)
    assert blob_revert(l1, inbox.postWindowBlobs(bad, [901], [1], [0]), one) == "UnknownSigner"
    call, _, _ = _blob_call(l1, inbox.postWindowBlobs(w, [901], [1], [0]), one)
    call["from"] = l1.outsider.address
    reply = l1.w3.provider.make_request("eth_call", [call, "latest"])
    assert revert_name(reply["error"]["data"]) == "NotPoster"
    assert blob_revert(l1, inbox.postWindowBlobs(w, [901], [1], [0]), one) is None
    assert l1.revert(inbox.postWindowBlobs(w, [901], [1], [0]), poster) == "WrongBlobCount"  # no blobs sent
