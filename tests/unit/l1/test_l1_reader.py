"""sequencer/l1/reader.py against a scripted L1 node (no anvil): what a lying node or a hostile poster
can hand the reader, and that each is refused with L1DataError naming the window.

The logs and inputs are encoded with the real ABI (inbox.py), so the reader decodes exactly what the
inbox would have emitted; only the node's answers are forged."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from sequencer.core.window import WindowCommitment
from sequencer.l1 import blobs as blob_codec
from sequencer.l1.inbox import L1DataError, abi_type, calldata, contract_abi, event_topic, window_tuple
from sequencer.l1.reader import InboxReader

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Backend-neutral code (issue 10 item 5): run on both anyio backends."""
    return str(request.param)


INBOX = "0x" + "11" * 20
OTHER = "0x" + "22" * 20
W = WindowCommitment(0, 3, b"\x00" * 32, b"\x01" * 32, b"\x02" * 32, 10, 20, 5, b"\x03" * 32, b"\x04" * 32,
                     b"\x05" * 32)


class FakeL1:
    """Answers the reader's calls from a script: logs, transactions, traces, blobs."""

    def __init__(self, logs: list[dict], txs: dict[str, dict], traces: dict[str, Any] | None = None,
                 blobs: dict[bytes, bytes] | None = None) -> None:
        self.logs, self.txs, self.traces, self.blobs = logs, txs, traces or {}, blobs or {}

    async def get_logs(self, address: str, topics: list, lo: int, hi: int, chunk: int = 0) -> list[dict]:
        return [lg for lg in self.logs if lg["topics"][0] == "0x" + topics[0].hex()]

    async def get_transaction(self, h: str) -> dict | None:
        return self.txs.get(h)

    async def call(self, method: str, params: list) -> Any:
        assert method == "debug_traceTransaction"
        return self.traces[params[0]]

    async def blob(self, vh: bytes) -> bytes | None:
        return self.blobs.get(vh)


def window_log(index: int, tx: str, ids: list[int], hashes: list[bytes], forced_to: list[int]) -> dict:
    item = next(i for i in contract_abi("SequencerInbox") if i["type"] == "event" and i["name"] == "WindowPosted")
    plain = [i for i in item["inputs"] if not i["indexed"]]
    values = {"window": window_tuple(W), "signer": "0x" + "33" * 20, "rollupIds": ids, "batchHashes": hashes,
              "forcedTo": forced_to}
    data = encode([abi_type(i) for i in plain], [values[i["name"]] for i in plain])
    topics = [event_topic("WindowPosted"), index.to_bytes(32, "big"), b"\x09" * 32][: 1 + sum(
        1 for i in item["inputs"] if i["indexed"])]
    return {"topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex(), "blockNumber": "0x7",
            "logIndex": "0x0", "transactionHash": tx}


def post_input(ids: list[int], batches: list[bytes]) -> str:
    return calldata("postWindow", window_tuple(W), b"\x07" * 65, ids, batches, [0] * len(ids), b"witness")


async def test_a_direct_posting_is_read_with_its_batches_signature_and_witness() -> None:
    batches = [b"a", b"bb"]
    l1 = FakeL1([window_log(0, "0xt0", [901, 902], [keccak(b) for b in batches], [0, 1])],
                {"0xt0": {"to": INBOX, "input": post_input([901, 902], batches)}})
    (w,) = await InboxReader(l1, INBOX).windows(0, 10)  # type: ignore[arg-type]
    assert (w.index, w.window, w.rollup_ids, w.forced_to) == (0, W, (901, 902), (0, 1))
    assert w.batches == (b"a", b"bb") and w.signature == b"\x07" * 65 and w.witness == b"witness"
    assert w.batch_of(902) == b"bb" and w.batch_of(903) is None and w.forced_to_of(902) == 1


async def test_a_batch_that_does_not_match_its_recorded_hash_is_refused() -> None:
    l1 = FakeL1([window_log(0, "0xt0", [901], [keccak(b"the real batch")], [0])],
                {"0xt0": {"to": INBOX, "input": post_input([901], [b"a forged batch"])}})
    with pytest.raises(L1DataError, match="window 0: batch of rollup 901 does not hash"):
        await InboxReader(l1, INBOX).windows(0, 10)  # type: ignore[arg-type]


async def test_calldata_listing_other_rollups_than_the_event_is_refused() -> None:
    l1 = FakeL1([window_log(0, "0xt0", [901], [keccak(b"a")], [0])],
                {"0xt0": {"to": INBOX, "input": post_input([902], [b"a"])}})
    with pytest.raises(L1DataError, match="calldata rollup ids"):
        await InboxReader(l1, INBOX).windows(0, 10)  # type: ignore[arg-type]


async def test_a_contract_poster_is_read_from_the_call_trace_skipping_reverted_frames() -> None:
    """A multisig posts: the inbox call is inside the trace. A reverted inner call (its events rolled back)
    with other batches must not be taken for the posting."""
    real, decoy = [b"real"], [b"decoy"]
    trace = {"type": "CALL", "to": OTHER, "input": "0x", "calls": [
        {"type": "CALL", "to": INBOX, "input": post_input([901], decoy), "error": "execution reverted"},
        {"type": "CALL", "to": INBOX, "input": post_input([901], real)},
    ]}
    l1 = FakeL1([window_log(0, "0xt0", [901], [keccak(b"real")], [0])],
                {"0xt0": {"to": OTHER, "input": "0x"}}, {"0xt0": trace})
    (w,) = await InboxReader(l1, INBOX).windows(0, 10)  # type: ignore[arg-type]
    assert w.batches == (b"real",)


async def test_a_transaction_without_a_posting_call_is_refused() -> None:
    l1 = FakeL1([window_log(0, "0xt0", [901], [keccak(b"a")], [0])], {"0xt0": {"to": OTHER, "input": "0x"}},
                {"0xt0": {"type": "CALL", "to": OTHER, "input": "0x"}})
    with pytest.raises(L1DataError, match="no postWindow / postWindowBlobs call"):
        await InboxReader(l1, INBOX).windows(0, 10)  # type: ignore[arg-type]


async def test_a_blob_that_does_not_match_its_versioned_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # KZG commitments cost seconds on a busy machine: a stand-in hash keeps this a unit test (the real
    # KZG path is what the firm nodes of tests/integration/test_batcher_blobs.py run).
    monkeypatch.setattr(blob_codec, "blob_versioned_hash", lambda b: b"\x01" + hashlib.sha256(b).digest()[1:])
    blob = blob_codec.batch_blobs(b"batch")[0]
    vh = blob_codec.blob_versioned_hash(blob)
    other = blob_codec.batch_blobs(b"other")[0]
    inp = calldata("postWindowBlobs", window_tuple(W), b"\x07" * 65, [901], [1], [0], b"witness")
    tx = {"to": INBOX, "input": inp, "blobVersionedHashes": ["0x" + vh.hex()]}
    good = FakeL1([window_log(0, "0xt0", [901], [vh], [0])], {"0xt0": tx}, blobs={vh: blob})
    (w,) = await InboxReader(good, INBOX).windows(0, 10)  # type: ignore[arg-type]
    assert w.batches == (b"batch",) and w.blobs
    lying = FakeL1([window_log(0, "0xt0", [901], [vh], [0])], {"0xt0": tx}, blobs={vh: other})
    with pytest.raises(L1DataError, match="content does not match its versioned hash"):
        await InboxReader(lying, INBOX).windows(0, 10)  # type: ignore[arg-type]
