"""A real SequencerInbox call through `sharedseq batch decode --format nitro` (source: testdata/README.md),
and real-data cases the operator's view must survive (arbos/parse_l2.go)."""

from __future__ import annotations

import json

import pytest
from realworld_helpers import cli_decode, vector

from rollup_adapters.cli import main, payload_bytes
from rollup_adapters.nitro import decode_json, encode_json
from rollup_adapters.nitro.calldata import decode_inbox_call

CALLDATA = vector("nitro_orbit_calldata_seq456.hex")


def test_calldata_layer_reads_the_call_and_its_payload(capsys: pytest.CaptureFixture[str]) -> None:
    doc = cli_decode(capsys, "nitro", "calldata", CALLDATA)
    assert doc["call"] == {
        "function": "addSequencerL2BatchFromOrigin", "selector": "0x8f111f3c", "sequence_number": 456,
        "after_delayed_messages_read": 468, "gas_refunder": "0x" + "00" * 20,
        "prev_message_count": 3953, "new_message_count": 3955,
    }
    kinds = [s["kind"] for s in doc["segments"]]
    assert kinds == ["delayed_message", "advance_timestamp", "advance_l1_block", "l2_message"]
    assert doc["segments"][1]["delta"] == 1700162685 and doc["segments"][2]["delta"] == 10055244
    # newMessageCount - prevMessageCount = messages in the batch: one delayed + one L2 message.
    assert sum(k in ("delayed_message", "l2_message") for k in kinds) == 3955 - 3953
    tx = doc["segments"][3]
    assert tx["l2_kind"] == "signed_tx"
    assert tx["tx"] == {
        "type": 2, "chain_id": 27733066280, "nonce": 3423, "to": "0x050a59d93bb742d3e136036abb3dd04d62d0d843",
        "value": 0, "hash": "0x45b363b1d4dd2843fd519e04d6ec163894b111899cce00ce9a5ed9903a9e0f46",
    }


def test_calldata_round_trips_byte_for_byte(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    doc = cli_decode(capsys, "nitro", "calldata", CALLDATA)
    (tmp_path / "call.json").write_text(json.dumps(doc))
    assert main(["batch", "encode", "--format", "nitro", "--layer", "calldata", str(tmp_path / "call.json")]) == 0
    assert capsys.readouterr().out.strip() == CALLDATA.read_text().strip()


def test_payload_layer_on_the_data_argument(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    data = decode_inbox_call(payload_bytes(CALLDATA.read_bytes())).data
    assert data is not None and len(data) == 512 and data[0] == 0x00  # brotli header byte
    (tmp_path / "payload.bin").write_bytes(data)
    by_call = cli_decode(capsys, "nitro", "calldata", CALLDATA)
    del by_call["call"]
    assert cli_decode(capsys, "nitro", "payload", tmp_path / "payload.bin") == by_call


def test_blob_call_has_no_payload_in_calldata() -> None:
    words = [934316, 2032069, 0, 332968910, 332969371]  # l2beat/native-rollups orbit_stack.md example 1
    calldata = bytes.fromhex("3e5aa082") + b"".join(w.to_bytes(32, "big") for w in words)
    doc = decode_json(calldata, "calldata")
    assert doc["call"]["function"] == "addSequencerL2BatchFromBlobs"
    assert doc["call"]["sequence_number"] == 934316 and doc["call"]["new_message_count"] == 332969371
    assert doc["segments"] == [] and doc["data_in_blobs"] is True
    assert encode_json(doc, "calldata") == calldata


def _segments_with(l2_message: bytes) -> bytes:
    segment = b"\x00" + l2_message
    assert len(segment) < 56
    return bytes([0x80 + len(segment)]) + segment


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (bytes([9]) + b"future", 9),  # unknown kind: parse_l2.go returns an error, ProduceBlock an empty block
        (bytes([4]) + b"\x7fnot-a-tx", 4),  # a signed tx UnmarshalBinary would refuse
    ],
)
def test_an_unparsable_l2_message_is_reported_and_the_batch_goes_on(message: bytes, kind: int) -> None:
    stream = _segments_with(message) + b"\x02"  # ... then a delayed-message segment (RLP of one byte < 0x80)
    doc = decode_json(stream, "segments")
    first, second = doc["segments"]
    assert first["l2_kind"] == "undecoded" and first["message_kind"] == kind and first["raw"] == "0x" + message.hex()
    assert first["error"]
    assert second == {"kind": "delayed_message"}
    assert encode_json(doc, "segments") == stream


def test_an_undecodable_sub_message_and_trailing_bytes_inside_an_l2_batch() -> None:
    good = bytes.fromhex("04") + bytes.fromhex(
        "02f8600a020403059400000000000000000000000000000000000000060708c080a0840cfc572845f5786e702984c2a582528c"
        "ad4b49b2a10b9db1be7fca90058565a025e7109ceb98168d95b09b18bbf6b685130e0562f233877d492b94eee0c5b6d1"
    )
    bad = bytes([0x05, 0xAA])  # kind 5 is reserved
    batch = b"\x03" + len(good).to_bytes(8, "big") + good + len(bad).to_bytes(8, "big") + bad + b"\x00\x01"
    stream = bytes([0xB8, len(batch) + 1]) + b"\x00" + batch
    doc = decode_json(stream, "segments")
    [segment] = doc["segments"]
    assert [m["l2_kind"] for m in segment["messages"]] == ["signed_tx", "undecoded"]
    assert segment["messages"][0]["tx"]["chain_id"] == 10
    # BytestringFromReader cannot read a length from 2 bytes: the reference ends the batch there.
    assert segment["trailing"] == "0x0001"
    assert encode_json(doc, "segments") == stream
