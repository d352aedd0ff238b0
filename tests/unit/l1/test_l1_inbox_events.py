"""The event decoders of sequencer/l1/inbox.py (`decode_event`, `posted_window`, `decode_forced`), with
no chain: every event of the project's L1 contracts, encoded here straight from its ABI with eth_abi
the way the EVM lays out a log, must decode back to its fields by name; and what a lying L1 node can
hand a reader instead (another event, missing or extra topics, truncated or junk data, arrays of
different lengths, a forced entry whose bytes do not match its hash) must be refused with a
DecodeError or L1DataError naming the event, never a bare exception (docs/architecture.md section 4.6)."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup_adapters.derivation import ForcedTx
from sequencer.core.window import WindowCommitment
from sequencer.errors import DecodeError
from sequencer.l1.inbox import (
    L1DataError,
    abi_type,
    contract_abi,
    decode_event,
    decode_forced,
    event_topic,
    posted_window,
    window_from_abi,
    window_tuple,
)

CONTRACTS = ("SequencerInbox", "SequencerKeys", "SequencerBond", "RollupRegistry")
EVENTS = [(c, i) for c in CONTRACTS for i in contract_abi(c) if i["type"] == "event"]


def random_value(item: dict[str, Any], rng: random.Random) -> tuple[Any, Any]:
    """(the value eth_abi encodes, the value decode_event must give back) for one ABI input."""
    t = str(item["type"])
    if t.endswith("[]"):
        inner = dict(item, type=t[:-2])
        pairs = [random_value(inner, rng) for _ in range(rng.randint(0, 4))]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if t == "tuple":
        pairs = [random_value(c, rng) for c in item["components"]]
        return tuple(p[0] for p in pairs), {c["name"]: p[1] for c, p in zip(item["components"], pairs, strict=True)}
    if t.startswith("uint"):
        v = rng.getrandbits(int(t[4:] or 256))
        return v, v
    if t == "bool":
        v = rng.random() < 0.5
        return v, v
    if t == "address":
        a = to_checksum_address(rng.randbytes(20))
        return a, a
    if t.startswith("bytes") and t != "bytes":
        v = rng.randbytes(int(t[5:]))
        return v, v
    if t == "bytes":
        v = rng.randbytes(rng.randint(0, 70))
        return v, v
    if t == "string":
        v = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30)))
        return v, v
    raise AssertionError(f"no generator for ABI type {t}")  # a new type in an event: teach this test


def make_log(contract: str, item: dict[str, Any], encoded: dict[str, Any], block: int = 0x1234,
             tx: str = "0x" + "ab" * 32) -> dict[str, Any]:
    """An eth_getLogs entry as a node returns it: indexed inputs as 32-byte topics after the event's
    topic, the others ABI-encoded together as the data."""
    indexed = [i for i in item["inputs"] if i["indexed"]]
    plain = [i for i in item["inputs"] if not i["indexed"]]
    topics = [event_topic(item["name"], contract)] + [encode([abi_type(i)], [encoded[i["name"]]]) for i in indexed]
    data = encode([abi_type(i) for i in plain], [encoded[i["name"]] for i in plain])
    return {"topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex(), "blockNumber": hex(block),
            "logIndex": "0x0", "transactionHash": tx}


def random_event(contract: str, item: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    encoded, expected = {}, {}
    for i in item["inputs"]:
        encoded[i["name"]], expected[i["name"]] = random_value(i, rng)
    return make_log(contract, item, encoded), expected


def test_the_table_covers_the_events_the_readers_use() -> None:
    names = {(c, i["name"]) for c, i in EVENTS}
    assert {("SequencerInbox", "WindowPosted"), ("SequencerInbox", "ForcedTxEnqueued"),
            ("SequencerKeys", "KeyAdded"), ("SequencerKeys", "KeyRetired"), ("RollupRegistry", "RollupPaused"),
            ("SequencerBond", "Slashed")} <= names


@pytest.mark.parametrize("contract, item", EVENTS, ids=[f"{c}.{i['name']}" for c, i in EVENTS])
def test_every_event_decodes_back_to_its_fields_by_name(contract: str, item: dict[str, Any]) -> None:
    rng = random.Random(f"{contract}.{item['name']}")
    for _ in range(5):
        log, expected = random_event(contract, item, rng)
        assert decode_event(item["name"], log, contract) == expected
        # a node may hand the topics and data as bytes instead of hex strings
        raw = dict(log, topics=[bytes.fromhex(t[2:]) for t in log["topics"]], data=bytes.fromhex(log["data"][2:]))
        assert decode_event(item["name"], raw, contract) == expected


def _inbox_event(name: str) -> dict[str, Any]:
    return next(i for c, i in EVENTS if c == "SequencerInbox" and i["name"] == name)


W = WindowCommitment(4, 9, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1_764_000_000_000, 1_764_000_001_900, 77,
                     b"\x04" * 32, b"\x05" * 32, b"\x06" * 32)
SIGNER = to_checksum_address(b"\x33" * 20)


def window_log(ids: list[int], hashes: list[bytes], forced_to: list[int], index: int = 2) -> dict[str, Any]:
    return make_log("SequencerInbox", _inbox_event("WindowPosted"),
                    {"windowIndex": index, "windowHash": b"\x09" * 32, "window": window_tuple(W), "signer": SIGNER,
                     "rollupIds": ids, "batchHashes": hashes, "forcedTo": forced_to},
                    block=0x99, tx="0x" + "cd" * 32)


def test_a_window_posted_log_is_the_posted_window_it_records() -> None:
    hashes = [keccak(b"a"), keccak(b"bb")]
    w = posted_window(window_log([901, 903], hashes, [0, 5]))
    assert (w.index, w.window, w.signer, w.l1_block, w.tx_hash) == (2, W, SIGNER, 0x99, "0x" + "cd" * 32)
    assert (w.rollup_ids, w.batch_hashes, w.forced_to) == ((901, 903), tuple(hashes), (0, 5))
    assert (w.first_height, w.last_height, w.last_block_hash) == (4, 9, W.last_block_hash)
    # only the event was read: no batch, signature or witness is made up
    assert (w.batches, w.signature, w.witness) == (None, None, None)
    assert w.batch_of(901) is None and w.forced_to_of(903) == 5 and w.forced_to_of(902) is None


def test_the_window_struct_round_trips_through_its_abi_form() -> None:
    fields = [c["name"] for c in next(i for i in _inbox_event("WindowPosted")["inputs"]
                                      if i["name"] == "window")["components"]]
    assert window_from_abi(dict(zip(fields, window_tuple(W), strict=True))) == W


@pytest.mark.parametrize("ids, hashes, forced", [
    ([901, 902], [keccak(b"a")], [0, 0]),
    ([901], [keccak(b"a")], []),
    ([], [keccak(b"a")], [1]),
], ids=["fewer-hashes", "no-forced", "no-ids"])
def test_a_window_whose_arrays_differ_in_length_is_refused(ids: list[int], hashes: list[bytes],
                                                           forced: list[int]) -> None:
    """The contract emits the three arrays of one length; a log that pairs them otherwise cannot be
    read without guessing which rollup a batch hash belongs to."""
    with pytest.raises(DecodeError, match="WindowPosted 2: rollupIds, batchHashes and forcedTo differ in length"):
        posted_window(window_log(ids, hashes, forced))


def test_another_event_or_a_wrong_topic_count_is_refused_naming_the_event() -> None:
    log = window_log([901], [keccak(b"a")], [0])
    forced = make_log("SequencerInbox", _inbox_event("ForcedTxEnqueued"),
                      {"rollupId": 901, "seq": 0, "txHash": keccak(b"\x02"), "l1Block": 1, "deadline": 2,
                       "data": b"\x02"})
    with pytest.raises(DecodeError, match="log is not a SequencerInbox.WindowPosted event"):
        posted_window(forced)
    with pytest.raises(DecodeError, match="log is not a SequencerInbox.ForcedTxEnqueued event"):
        decode_forced(log)
    with pytest.raises(DecodeError, match="log is not a"):
        posted_window(dict(log, topics=[]))
    with pytest.raises(DecodeError, match="WindowPosted: 1 indexed topics, expected 2"):
        posted_window(dict(log, topics=log["topics"][:2]))
    with pytest.raises(DecodeError, match="WindowPosted: 3 indexed topics, expected 2"):
        posted_window(dict(log, topics=log["topics"] + ["0x" + "00" * 32]))


def test_truncated_or_junk_log_data_is_a_decode_error_naming_the_event() -> None:
    log = window_log([901], [keccak(b"a")], [0])
    data = bytes.fromhex(log["data"][2:])
    for bad in (data[:-1], data[: len(data) // 2], b"", b"\xff" * len(data)):
        with pytest.raises(DecodeError, match="WindowPosted: log data does not decode"):
            posted_window(dict(log, data="0x" + bad.hex()))


def test_a_forced_entry_decodes_and_its_bytes_must_match_the_logged_hash() -> None:
    item = _inbox_event("ForcedTxEnqueued")
    entry = {"rollupId": 902, "seq": 17, "txHash": keccak(b"\x02\xf8\x01"), "l1Block": 300, "deadline": 310,
             "data": b"\x02\xf8\x01"}
    assert decode_forced(make_log("SequencerInbox", item, entry)) == ForcedTx(902, 17, b"\x02\xf8\x01", 300, 310)
    # a node that swaps in other bytes under the logged hash (or another hash over the bytes)
    for lie in (dict(entry, data=b"\x02\xf8\x02"), dict(entry, txHash=keccak(b"other"))):
        with pytest.raises(L1DataError, match="forced tx 17 of rollup 902: data does not match txHash"):
            decode_forced(make_log("SequencerInbox", item, lie))


@settings(max_examples=200, deadline=None)
@given(topics=st.lists(st.binary(min_size=0, max_size=40), max_size=4), data=st.binary(max_size=600),
       which=st.sampled_from(["WindowPosted", "ForcedTxEnqueued"]))
def test_any_log_a_node_makes_up_is_decoded_or_refused_never_a_crash(topics: list[bytes], data: bytes,
                                                                     which: str) -> None:
    """Only DecodeError (bad shape) or L1DataError (a hash that lies) may come out: the readers turn
    those into a stop naming the window, anything else would be an unexplained crash."""
    log = {"topics": ["0x" + t.hex() for t in [event_topic(which), *topics]], "data": "0x" + data.hex(),
           "blockNumber": "0x1", "logIndex": "0x0", "transactionHash": "0x" + "ab" * 32}
    try:
        posted_window(log) if which == "WindowPosted" else decode_forced(log)
    except (DecodeError, L1DataError):
        pass
