"""sequencer/l1/inbox.py: the one ABI home. Encodings are checked against eth_abi / keccak directly,
so a drift between the artifact and what the Python side sends would fail here."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from sequencer.errors import DecodeError
from sequencer.l1.inbox import (
    L1DataError,
    calldata,
    decode_call,
    decode_event,
    decode_forced,
    describe_revert,
    event_topic,
    function_selector,
    posted_window,
    revert_name,
    signature,
)


def _log(topics: list[bytes], data: bytes, block: int = 7) -> dict:
    return {"topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex(), "blockNumber": hex(block),
            "logIndex": "0x0", "transactionHash": "0x" + "ab" * 32}


def test_calldata_is_selector_and_abi_encoding_and_decodes_back() -> None:
    enq = calldata("enqueueForced", 903, b"\x02")
    assert enq == "0x" + (keccak(text="enqueueForced(uint64,bytes)")[:4] + encode(["uint64", "bytes"],
                                                                                   [903, b"\x02"])).hex()
    assert function_selector("enqueueForced") == keccak(text="enqueueForced(uint64,bytes)")[:4]
    assert decode_call(bytes.fromhex(enq[2:])) == ("enqueueForced", {"rollupId": 903, "data": b"\x02"})


def test_unknown_or_truncated_input_is_a_named_decode_error() -> None:
    with pytest.raises(DecodeError, match="not a SequencerInbox function"):
        decode_call(b"\xde\xad\xbe\xef")
    enq = bytes.fromhex(calldata("enqueueForced", 903, b"\x02")[2:])
    with pytest.raises(DecodeError, match="enqueueForced: input does not decode"):
        decode_call(enq[:40])


def test_revert_names_and_arguments() -> None:
    # A custom error of the inbox ABI, found by selector, its arguments decoded by name.
    item = next(i for i in _errors_with_args())
    sel = keccak(text=signature(item))[:4]
    args = [0 if i["type"].startswith("uint") else (b"\x11" * 32 if i["type"] == "bytes32" else
                                                    "0x" + "00" * 20) for i in item["inputs"]]
    data = "0x" + (sel + encode([i["type"] for i in item["inputs"]], args)).hex()
    assert revert_name(data) == item["name"]
    assert describe_revert(data).startswith(item["name"] + "(" + item["inputs"][0]["name"] + "=")
    assert revert_name("0x08c379a0") is None  # Error(string): not a custom error
    assert revert_name(None) is None and revert_name("0x12") is None


def _errors_with_args() -> list[dict]:
    from sequencer.l1.inbox import contract_abi

    return [i for i in contract_abi("SequencerInbox") if i["type"] == "error" and i["inputs"]
            and all(x["type"] in ("uint64", "uint256", "bytes32", "address") for x in i["inputs"])]


def test_forced_event_decodes_and_a_lying_hash_is_refused() -> None:
    from sequencer.l1.inbox import contract_abi

    item = next(i for i in contract_abi("SequencerInbox") if i["type"] == "event" and i["name"] == "ForcedTxEnqueued")
    plain = [i for i in item["inputs"] if not i["indexed"]]
    values = {"txHash": keccak(b"\x02"), "l1Block": 12, "deadline": 17, "data": b"\x02", "l1BlockNumber": 12}
    data = encode([i["type"] for i in plain], [values.get(i["name"], 0) for i in plain])
    topics = [event_topic("ForcedTxEnqueued"), (903).to_bytes(32, "big"), (4).to_bytes(32, "big")]
    f = decode_forced(_log(topics, data))
    assert (f.rollup_id, f.seq, f.data, f.l1_block) == (903, 4, b"\x02", 12)
    if "txHash" in values and any(i["name"] == "txHash" for i in plain):
        bad = encode([i["type"] for i in plain],
                     [(b"\x00" * 32 if i["name"] == "txHash" else values.get(i["name"], 0)) for i in plain])
        with pytest.raises(L1DataError, match="data does not match txHash"):
            decode_forced(_log(topics, bad))


def test_event_with_the_wrong_topic_or_data_is_refused() -> None:
    with pytest.raises(DecodeError, match="not a SequencerInbox.WindowPosted event"):
        decode_event("WindowPosted", _log([event_topic("ForcedTxEnqueued")], b""))
    with pytest.raises(DecodeError, match="WindowPosted"):
        posted_window(_log([event_topic("WindowPosted"), (0).to_bytes(32, "big")], b"\x00" * 31))
