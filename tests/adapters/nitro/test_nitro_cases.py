"""Table-driven cases shared by the Nitro encoders and decoders (conventions: "Tests", h11 SIMPLE_CASES)."""

from __future__ import annotations

import struct

import pytest
from nitro_testkit import TX1, TX2, signed_pool

from rollup_adapters.base import RollupBlock
from rollup_adapters.nitro import (
    FORMAT,
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    BatchPayload,
    DelayedMessageSegment,
    L2Batch,
    L2MessageSegment,
    OpaqueL2Message,
    SequencerHeader,
    SignedTx,
    UnsignedTx,
    decode_l2_message,
    decode_payload,
    decode_segments,
    decode_sequencer_message,
    encode_l2_message,
    encode_payload,
    encode_segments,
    encode_sequencer_message,
)
from rollup_adapters.nitro.blocks import _largest_fit
from rollup_adapters.nitro.compression import compress
from rollup_adapters.nitro.rlp_bytes import decode_rlp_uint, encode_rlp_uint
from sequencer.errors import BadInput, DecodeError, TooLarge


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


# (name, segment, RLP-wrapped bytes of the segment stream)
SEGMENT_CASES = [
    ("advance_ts_small", AdvanceTimestampSegment(2), bytes.fromhex("820302")),
    ("advance_ts_zero", AdvanceTimestampSegment(0), bytes.fromhex("820380")),
    ("advance_ts_u64max", AdvanceTimestampSegment(2**64 - 1), bytes.fromhex("8a0388ffffffffffffffff")),
    ("advance_ts_a2", AdvanceTimestampSegment(1700000000), bytes.fromhex("8603846553f100")),
    ("advance_l1_a2", AdvanceL1BlockSegment(19000000), bytes.fromhex("8604840121eac0")),
    ("delayed", DelayedMessageSegment(), bytes.fromhex("02")),
    ("l2_empty_batch", L2MessageSegment(b"\x03"), bytes.fromhex("820003")),
    ("l2_signed", L2MessageSegment(b"\x04" + TX1), bytes.fromhex("b865") + b"\x00\x04" + TX1),
]

# (name, L2 message, encoded bytes)
L2_CASES = [
    ("signed_tx", SignedTx(TX1), b"\x04" + TX1),
    ("empty_batch", L2Batch(()), b"\x03"),
    (
        "batch_two",
        L2Batch((SignedTx(TX1), SignedTx(TX2))),
        b"\x03" + u64(100) + b"\x04" + TX1 + u64(100) + b"\x04" + TX2,
    ),
    (
        "nested_batch",
        L2Batch((L2Batch((SignedTx(TX1),)),)),
        b"\x03" + u64(109) + b"\x03" + u64(100) + b"\x04" + TX1,
    ),
    (
        "unsigned_user_tx",
        UnsignedTx(21000, 10**9, 5, b"\x11" * 20, 7, b"\xca\xfe"),
        b"\x00"
        + (21000).to_bytes(32, "big")
        + (10**9).to_bytes(32, "big")
        + (5).to_bytes(32, "big")
        + b"\x00" * 12
        + b"\x11" * 20
        + (7).to_bytes(32, "big")
        + b"\xca\xfe",
    ),
    (
        "contract_tx_create",
        UnsignedTx(1, 2, None, None, 3, b""),
        b"\x01" + (1).to_bytes(32, "big") + (2).to_bytes(32, "big") + b"\x00" * 32 + (3).to_bytes(32, "big"),
    ),
    ("heartbeat", OpaqueL2Message(6, b""), b"\x06"),
    ("signed_compressed", OpaqueL2Message(7, b"\x01\x02"), b"\x07\x01\x02"),
    ("nonmutating_call", OpaqueL2Message(2, b"\xff"), b"\x02\xff"),
]


@pytest.mark.parametrize(("name", "segment", "wire"), SEGMENT_CASES, ids=[c[0] for c in SEGMENT_CASES])
def test_segment_case_encodes_and_decodes(name: str, segment, wire: bytes) -> None:
    assert encode_segments([segment]) == wire
    assert decode_segments(wire) == (segment,)


def test_brotli_l2_segment_keeps_its_compressed_bytes() -> None:
    message = b"\x04" + TX1
    compressed = compress(message)
    segment = L2MessageSegment(message, compressed)
    wire = encode_segments([segment])
    assert wire[wire.index(b"\x01") :][1:] == compressed
    assert decode_segments(wire) == (segment,)


@pytest.mark.parametrize(("name", "message", "wire"), L2_CASES, ids=[c[0] for c in L2_CASES])
def test_l2_case_encodes_and_decodes(name: str, message, wire: bytes) -> None:
    assert encode_l2_message(message) == wire
    assert decode_l2_message(wire) == message


RLP_UINT_CASES = [
    (0, "80"),
    (1, "01"),
    (0x7F, "7f"),
    (0x80, "8180"),
    (0x0100, "820100"),
    (2**64 - 1, "88ffffffffffffffff"),
]


@pytest.mark.parametrize(("value", "wire"), RLP_UINT_CASES)
def test_rlp_uint_case(value: int, wire: str) -> None:
    assert encode_rlp_uint(value).hex() == wire
    assert decode_rlp_uint(bytes.fromhex(wire), "v") == value


HEADER = SequencerHeader(1, 2, 3, 4, 5)


def test_header_case() -> None:
    wire = u64(1) + u64(2) + u64(3) + u64(4) + u64(5) + b"\x07"
    assert encode_sequencer_message(HEADER, b"\x07") == wire
    msg = decode_sequencer_message(wire)
    assert msg.header == HEADER
    assert msg.payload.warnings  # 0x07 is an unknown header byte: empty batch, with a warning


# A3: header-byte handling without DA readers (arbstate/inbox_test.go via vectors README).
# (name, payload, expected needs_reader, expect empty-batch warning)
HEADER_BYTE_CASES = [
    ("anytrust_len1", b"\x80", None, True),
    ("anytrust_len2", b"\x80\x00", None, True),
    ("anytrust_len32", b"\x80" + b"\x00" * 31, None, True),
    ("anytrust_len33", b"\x80" + b"\x00" * 32, "anytrust", False),
    ("tree_anytrust_len1", b"\x88", None, True),
    ("tree_anytrust_len32", b"\x88" + b"\x00" * 31, None, True),
    ("tree_anytrust_len33", b"\x88" + b"\x00" * 32, "anytrust", False),
    ("da_certificate", b"\x01" + b"\x00" * 64, "da_certificate", False),
    ("blob_hashes", b"\x50" + b"\x01" * 64, "blobs", False),
    ("zeroheavy", b"\x20\x00", "zeroheavy", False),
    ("unknown_0x02", b"\x02\x00\x00", None, True),
    ("unknown_0x04", b"\x04", None, True),
    ("l1_auth_known_bits_only", b"\x40", None, True),
    ("empty", b"", None, True),
]


@pytest.mark.parametrize(
    ("name", "payload", "needs", "empty"), HEADER_BYTE_CASES, ids=[c[0] for c in HEADER_BYTE_CASES]
)
def test_header_byte_case(name: str, payload: bytes, needs: str | None, empty: bool) -> None:
    batch = decode_payload(payload)
    assert batch.segments == ()
    assert batch.needs_reader == needs
    assert bool(batch.warnings) == empty
    assert encode_payload(batch) == payload


@pytest.mark.parametrize("header_byte", [0x41, 0x42, 0x44, 0x47, 0x51, 0xC1, 0x43])
def test_authenticated_unknown_header_byte_is_fatal(header_byte: int) -> None:
    with pytest.raises(DecodeError, match="node out of date"):
        decode_payload(bytes([header_byte]) + b"\x00" * 40)


def test_brotli_payload_case() -> None:
    segments = (AdvanceTimestampSegment(5), L2MessageSegment(b"\x03"))
    wire = encode_payload(BatchPayload(0, segments))
    assert wire[0] == 0
    assert decode_payload(wire) == BatchPayload(0, segments)


def test_blob_hashes_must_be_whole_hashes() -> None:
    with pytest.raises(DecodeError, match="blob_hashes"):
        decode_payload(b"\x50" + b"\x01" * 33)


# Malformed inputs each decoder must refuse with a DecodeError naming the field.
SEGMENT_ERRORS = [
    ("empty_segment", "80", "empty segment"),
    ("unknown_kind", "05", "unknown segment kind"),
    ("delayed_with_body", "820201", "delayed-message"),
    ("advance_noncanonical", "83038100", "advance_timestamp"),
    ("advance_leading_zero", "8403820001", "leading zero"),
    ("advance_too_big", "8b038901" + "00" * 8, "advance_timestamp"),
    ("advance_trailing", "83030101", "trailing"),
    ("list", "c0", "list"),
    ("truncated", "8500", "truncated"),
    ("noncanonical_single", "8101", "non-canonical"),
    ("long_form_short", "b80102", "long form"),
]


@pytest.mark.parametrize(("name", "wire", "match"), SEGMENT_ERRORS, ids=[c[0] for c in SEGMENT_ERRORS])
def test_segment_errors(name: str, wire: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_segments(bytes.fromhex(wire))


L2_ERRORS = [
    ("empty", b"", "kind"),
    ("reserved_5", b"\x05", "unknown L2 message kind"),
    ("reserved_8", b"\x08", "unknown L2 message kind"),
    ("batch_short_length", b"\x03\x00\x00", "length: truncated"),
    ("batch_truncated_body", b"\x03" + u64(5) + b"\x04", "truncated"),
    ("batch_over_limit", b"\x03" + u64(256 * 1024 + 1), "over the"),
    ("batch_empty_sub", b"\x03" + u64(0), "kind"),
    ("bad_signed_tx", b"\x04\x02\xc0", "signed_tx"),
    ("unsigned_truncated", b"\x00" + b"\x00" * 40, "truncated"),
    ("unsigned_gas_over_u64", b"\x00" + b"\x01" * 160, "gas_limit"),
    ("contract_high_to", b"\x01" + b"\x00" * 64 + b"\x01" * 32 + b"\x00" * 32, "to"),
]


@pytest.mark.parametrize(("name", "wire", "match"), L2_ERRORS, ids=[c[0] for c in L2_ERRORS])
def test_l2_errors(name: str, wire: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_l2_message(wire)


def _nested(depth: int) -> bytes:
    msg = b"\x04" + TX1
    for _ in range(depth):
        msg = b"\x03" + u64(len(msg)) + msg
    return msg


def test_batch_depth_limit() -> None:
    assert isinstance(decode_l2_message(_nested(16)), L2Batch)  # batches at depths 0..15
    with pytest.raises(DecodeError, match="max depth of 16"):
        decode_l2_message(_nested(17))


# Rollup blocks: inputs the encoder refuses, payloads decode_blocks refuses.
def _block(number: int, seconds: int, l1: int, txs=(), forced=()) -> RollupBlock:
    return RollupBlock(number, seconds * 1000, l1, b"\x00" * 32, tuple(txs), tuple(forced))


BLOCK_ENCODE_ERRORS = [
    ("time_backwards", [_block(0, 10, 1), _block(1, 9, 1)], BadInput, "timestamp goes backwards"),
    ("l1_backwards", [_block(0, 10, 2), _block(1, 10, 1)], BadInput, "L1 origin goes backwards"),
    ("not_a_signed_tx", [_block(0, 10, 1, [b"\x02\xc0"])], BadInput, "not a signed EVM transaction"),
    ("block_over_budget", [_block(0, 10, 1, signed_pool()[:4])], TooLarge, "does not fit"),
    ("l2_message_over_limit", [_block(0, 10, 1, [TX1] * 2700)], TooLarge, "L2 message"),
]


@pytest.mark.parametrize(
    ("name", "blocks", "error", "match"), BLOCK_ENCODE_ERRORS, ids=[c[0] for c in BLOCK_ENCODE_ERRORS]
)
def test_encode_blocks_errors(name: str, blocks, error, match: str) -> None:
    with pytest.raises(error, match=match):
        FORMAT.encode_blocks(blocks, {"max_tx_bytes": 200})


def _payload(*segments) -> bytes:
    return encode_payload(BatchPayload(0, segments))


BLOCK_DECODE_ERRORS = [
    ("no_delayed_inbox", [_payload(DelayedMessageSegment(), L2MessageSegment(b"\x03"))], "delayed_inbox"),
    ("trailing_delayed", [_payload(L2MessageSegment(b"\x03"), DelayedMessageSegment())], "delayed"),
    ("needs_anytrust", [b"\x80" + b"\x00" * 40], "needs a anytrust reader"),
    (
        "unsigned_tx_block",
        [_payload(L2MessageSegment(encode_l2_message(UnsignedTx(1, 1, 1, None, 0, b""))))],
        "no signed transaction",
    ),
    ("bad_l2_message", [_payload(L2MessageSegment(b"\x05"))], "unknown L2 message kind"),
]


@pytest.mark.parametrize(
    ("name", "payloads", "match"), BLOCK_DECODE_ERRORS, ids=[c[0] for c in BLOCK_DECODE_ERRORS]
)
def test_decode_blocks_errors(name: str, payloads, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        FORMAT.decode_blocks(payloads, {})


def test_decode_blocks_skips_empty_batches_like_the_reference() -> None:
    assert FORMAT.decode_blocks([b"", b"\x80", b"\x07\x07"], {}) == []


@pytest.mark.parametrize(
    ("name", "payload", "needs", "empty"), HEADER_BYTE_CASES, ids=[c[0] for c in HEADER_BYTE_CASES]
)
def test_header_byte_case_json_view(name: str, payload: bytes, needs: str | None, empty: bool) -> None:
    doc = FORMAT.decode_json(payload, "payload")
    assert doc["segments"] == [] and doc.get("needs_reader") == needs and bool(doc.get("warnings")) == empty
    assert FORMAT.encode_json(doc, "payload") == payload


@pytest.mark.parametrize("count", range(1, 12))
def test_largest_fit_finds_the_largest_fitting_prefix(count: int) -> None:
    for cap in range(1, count + 2):
        k, _ = _largest_fit(count, lambda k, cap=cap: b"x" if k <= cap else None)
        assert k == min(cap, count)
