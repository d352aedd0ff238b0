"""Fixed bytes: vector A2 (a constructed batch with every segment kind, checked by an independent decoder;
see testdata/ and the shared vectors README, "Arbitrum Nitro")."""

from __future__ import annotations

from nitro_testkit import TX1, TX2, read_hex

from rollup_adapters.nitro import (
    FORMAT,
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    DelayedMessageSegment,
    L2Batch,
    L2MessageSegment,
    SequencerHeader,
    SignedTx,
    decode_l2_message,
    decode_segments,
    decode_sequencer_message,
    encode_segments,
    encode_sequencer_message,
)
from rollup_adapters.nitro.sequencer_message import encode_brotli_payload

A2 = read_hex("nitro_a2_seqmsg.hex")
A2_SEGMENTS = read_hex("nitro_a2_segments.hex")
A2_HEADER = SequencerHeader(1699990000, 1700003600, 18999900, 19000064, 7)
A2_BATCH = b"\x03" + (100).to_bytes(8, "big") + b"\x04" + TX1 + (100).to_bytes(8, "big") + b"\x04" + TX2
A2_EXPECTED = (
    AdvanceTimestampSegment(1700000000),
    AdvanceL1BlockSegment(19000000),
    DelayedMessageSegment(),
    L2MessageSegment(A2_BATCH),
    AdvanceTimestampSegment(2),
    L2MessageSegment(b"\x04" + TX1),
)


def test_a2_decodes_to_stated_header_and_segments() -> None:
    msg = decode_sequencer_message(A2)
    assert msg.header == A2_HEADER
    assert msg.payload.header_byte == 0
    assert msg.payload.segments == A2_EXPECTED
    assert msg.payload.warnings == () and msg.payload.needs_reader is None
    assert decode_l2_message(A2_BATCH) == L2Batch((SignedTx(TX1), SignedTx(TX2)))


def test_a2_segment_stream_reencodes_byte_exactly() -> None:
    assert decode_segments(A2_SEGMENTS) == A2_EXPECTED
    assert encode_segments(A2_EXPECTED) == A2_SEGMENTS


def test_a2_full_message_reencodes_byte_exactly_with_q11_lgwin22() -> None:
    # Same brotli library and settings as the vector's generator, so even the compressed bytes match.
    payload = encode_brotli_payload(A2_EXPECTED, 11, 22)
    assert encode_sequencer_message(A2_HEADER, payload) == A2


def test_a2_json_view() -> None:
    doc = FORMAT.decode_json(A2, "sequencer-message")
    assert doc["header"] == {
        "min_timestamp": 1699990000,
        "max_timestamp": 1700003600,
        "min_l1_block": 18999900,
        "max_l1_block": 19000064,
        "after_delayed_messages": 7,
    }
    kinds = [s["kind"] for s in doc["segments"]]
    assert kinds == [
        "advance_timestamp",
        "advance_l1_block",
        "delayed_message",
        "l2_message",
        "advance_timestamp",
        "l2_message",
    ]
    assert doc["segments"][0]["delta"] == 1700000000 and doc["segments"][4]["delta"] == 2
    batch = doc["segments"][3]
    assert batch["l2_kind"] == "batch" and [m["l2_kind"] for m in batch["messages"]] == ["signed_tx"] * 2
    tx = batch["messages"][1]["tx"]
    assert (tx["chain_id"], tx["nonce"], tx["value"]) == (10, 2, 7)
    assert tx["to"] == "0x" + "00" * 19 + "07"
    assert doc["segments"][5]["l2_kind"] == "signed_tx"
    assert FORMAT.encode_json(doc, "sequencer-message") == A2
    assert FORMAT.encode_json(FORMAT.decode_json(A2[40:], "payload"), "payload") == A2[40:]
    assert "header" not in FORMAT.decode_json(A2[40:], "payload")
    assert FORMAT.encode_json(FORMAT.decode_json(A2_SEGMENTS, "segments"), "segments") == A2_SEGMENTS


def test_a2_decodes_to_rollup_blocks_with_the_delayed_inbox() -> None:
    forced = b"\x04" + TX2  # stands in for delayed message #6
    blocks = FORMAT.decode_blocks([A2[40:]], {"delayed_inbox": [forced], "first_block_number": 9})
    assert [(b.number, b.timestamp_ms, b.l1_origin_number) for b in blocks] == [
        (9, 1700000000000, 19000000),
        (10, 1700000002000, 19000000),
    ]
    assert blocks[0].transactions == (TX1, TX2) and blocks[0].forced == (forced,)
    assert blocks[1].transactions == (TX1,) and blocks[1].forced == ()
