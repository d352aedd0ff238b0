"""Nitro as the reference node reads it: delay-proof entry points, header bytes, zeroheavy, the
inbox multiplexer's leniency and parse_l2.go's transaction counts (OffchainLabs/nitro
arbstate/inbox.go, arbos/parse_l2.go, zeroheavy/zeroheavy.go, daprovider/util.go;
nitro-contracts src/bridge/SequencerInbox.sol)."""

from __future__ import annotations

import json
import random
import struct

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from nitro_testkit import TESTDATA, TX1, TX2

from rollup_adapters.base import RollupBlock
from rollup_adapters.nitro import FORMAT, decode_payload
from rollup_adapters.nitro.calldata import decode_inbox_call, encode_inbox_call
from rollup_adapters.nitro.compression import compress
from rollup_adapters.nitro.inbox import (
    HEARTBEATS_DISABLED_AT,
    l2_transactions,
    read_messages,
    read_payload,
    read_segment_stream,
)
from rollup_adapters.nitro.rlp_bytes import encode_rlp_bytes
from rollup_adapters.nitro.sequencer_message import SequencerHeader
from rollup_adapters.nitro.signed_tx import decode_nitro_tx
from rollup_adapters.nitro.zeroheavy import decode_zeroheavy, encode_zeroheavy
from sequencer.core.hashing import keccak
from sequencer.errors import DecodeError

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def batch_of(*messages: bytes) -> bytes:
    """A kind-3 L2 message holding `messages`."""
    return b"\x03" + b"".join(u64(len(m)) + m for m in messages)


def stream(*segments: bytes) -> bytes:
    return b"".join(encode_rlp_bytes(s) for s in segments)


def brotli_payload(*segments: bytes) -> bytes:
    return b"\x00" + compress(stream(*segments))


# --- delay-proof entry points (SequencerInbox.sol, arbnode/batch_poster.go encodeAddBatch) ------

PROOF_TYPE = "(bytes32,(uint8,address,uint64,uint64,uint256,uint256,bytes32))"
PROOF = (b"\x11" * 32, (3, "0x" + "22" * 20, 19_000_000, 1_700_000_000, 77, 10**9, b"\x33" * 32))
ENTRY_POINTS = [
    ("addSequencerL2BatchFromOriginDelayProof", True),
    ("addSequencerL2BatchDelayProof", True),
    ("addSequencerL2BatchFromBlobsDelayProof", False),
]


@pytest.mark.parametrize(("name", "with_data"), ENTRY_POINTS)
def test_delay_proof_entry_points_decode_and_reencode(name, with_data):
    payload = brotli_payload(b"\x00" + batch_of(b"\x04" + TX1))
    types = ["uint256", "bytes", "uint256", "address", "uint256", "uint256", PROOF_TYPE]
    args = [5, payload, 9, "0x" + "44" * 20, 100, 101, PROOF]
    if not with_data:
        del types[1], args[1]
    signature = f"{name}({','.join(types)})"
    calldata = keccak(signature.encode())[:4] + abi_encode(types, args)  # an independent ABI encoder
    call = decode_inbox_call(calldata)
    assert call.function.name == name and call.args["after_delayed_messages_read"] == 9
    assert call.data == (payload if with_data else None)
    p = call.delay_proof
    assert p is not None and (p.before_delayed_acc, p.kind, p.sender) == (b"\x11" * 32, 3, b"\x22" * 20)
    assert (p.block_number, p.timestamp, p.inbox_seq_num, p.base_fee_l1) == (19_000_000, 1_700_000_000, 77, 10**9)
    assert encode_inbox_call(call) == calldata
    doc = FORMAT.decode_json(calldata, "calldata")
    assert doc["call"]["delay_proof"]["delayed_message"]["inbox_seq_num"] == 77
    assert FORMAT.encode_json(json.loads(json.dumps(doc)), "calldata") == calldata
    if with_data:
        assert doc["inbox"]["tx_count"] == 1


def test_delay_proof_field_out_of_range_is_named():
    types = ["uint256", "bytes", "uint256", "address", "uint256", "uint256", PROOF_TYPE]
    calldata = bytes.fromhex("69cacded") + abi_encode(types, [1, b"", 0, "0x" + "00" * 20, 0, 0, PROOF])
    bad = bytearray(calldata)
    bad[4 + 7 * 32] = 1  # the high byte of delayedMessage.kind (a uint8)
    with pytest.raises(DecodeError, match="delay_proof.delayed_message.kind"):
        decode_inbox_call(bytes(bad))


# --- header bytes (daprovider/util.go; arbstate/inbox_test.go) ---------------------------------


def fixture_rows(name: str) -> list[list[str]]:
    lines = (TESTDATA / name).read_text().splitlines()
    return [[c.strip() for c in ln.split("|")] for ln in lines if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("row", fixture_rows("nitro_inbox_test_cases.txt"), ids=lambda r: r[0])
def test_parse_sequencer_message_cases_from_nitro(row):
    _, payload_hex, outcome, reader = row
    batch = read_payload(bytes.fromhex(payload_hex))
    assert batch.segments == ()
    assert (batch.needs_reader is not None) == (outcome == "error")
    assert batch.needs_reader == (None if reader == "-" else reader)


@pytest.mark.parametrize("header_byte", [0x41, 0x51, 0xC1])
def test_da_certificate_bit_is_known(header_byte):
    """KnownHeaderBits includes DACertificateMessageHeaderFlag: these are not 'node out of date'."""
    read_payload(bytes([header_byte]) + b"\x00" * 40)
    FORMAT.decode_json(bytes([header_byte]) + b"\x00" * 40, "payload")


@pytest.mark.parametrize("header_byte", [0x42, 0x43, 0x44, 0x47])
def test_unknown_authenticated_bits_still_fatal(header_byte):
    with pytest.raises(DecodeError, match="node out of date"):
        read_payload(bytes([header_byte]) + b"\x00" * 40)


# --- zeroheavy (zeroheavy/zeroheavy.go) ----------------------------------------------------------

# (source bytes, encoded bytes), worked by hand from the table in zeroheavy.py (source bits, then
# the 0 end marker, then 1s): shared by the encoder and the decoder.
ZEROHEAVY = [
    (b"", "7f"),  # marker 0, padding 1 111111 -> 0 1 111111 1 = 0x7f
    (b"\x00", "000000007f"),  # 00 00 00 00 -> four 0x00, then the marker byte
    (b"\xff", "ff7f"),  # 1 1111111 -> 0xff
    (b"\x01", "0000003f"),  # 00 00 00, then 0 1 | 0 (marker) 11111 1 -> 0b0111111
    (b"\x00" * 8, "00" * 32 + "7f"),
]


@pytest.mark.parametrize(("source", "encoded"), ZEROHEAVY)
def test_zeroheavy_table(source, encoded):
    assert decode_zeroheavy(bytes.fromhex(encoded), 1 << 20) == source
    assert encode_zeroheavy(source).hex() == encoded


def test_zeroheavy_round_trip_every_byte_and_random():
    """zeroheavy_test.go TestZeroHeavyOneByte, and random data of random sizes."""
    for b in range(256):
        assert decode_zeroheavy(encode_zeroheavy(bytes([b])), 10) == bytes([b])
    rnd = random.Random(14)
    for _ in range(50):
        data = bytes(rnd.choice([0, 0, 0, rnd.randrange(256)]) for _ in range(rnd.randrange(300)))
        assert decode_zeroheavy(encode_zeroheavy(data), 1 << 20) == data


def test_zeroheavy_output_is_capped():
    assert decode_zeroheavy(encode_zeroheavy(b"\x00" * 10_000), 100) == b"\x00" * 100


def test_zeroheavy_long_runs_of_ones():
    """1 bits after the last 0 are padding (the 0 may be the end marker); 1s before any 0 are data."""
    assert decode_zeroheavy(b"\x00" + b"\xff" * 500_000, 1 << 30) == b""
    assert decode_zeroheavy(b"\xff" * 1000, 1 << 30) == b"\xff" * 1000
    assert decode_zeroheavy(b"\x00" + b"\xff" * 500_000 + b"\x00", 64) == b"\x3f" + b"\xff" * 63  # 0 0 1 1 ..


def test_zeroheavy_payload_is_decoded_before_brotli():
    blocks = [RollupBlock(0, 5_000, 3, b"\x00" * 32, (TX1, TX2))]
    (payload,) = FORMAT.encode_blocks(blocks, {})
    zh = b"\x20" + encode_zeroheavy(payload)
    assert FORMAT.decode_blocks([zh], {}) == FORMAT.decode_blocks([payload], {})
    doc = FORMAT.decode_json(zh, "payload")
    assert doc["needs_reader"] == "zeroheavy"  # the strict view keeps the encoded bytes
    assert doc["inbox"]["tx_count"] == 2 and len(doc["inbox"]["segments"]) == 3
    assert FORMAT.encode_json(doc, "payload") == zh


# --- inbox.go error semantics ---------------------------------------------------------------------

SIGNED = b"\x00" + batch_of(b"\x04" + TX1)
HEADER = SequencerHeader(100, 200, 10, 20, 0)


def messages_of(payload: bytes, header: SequencerHeader = HEADER, delayed: int = 0):
    return read_messages(read_payload(payload), header, delayed)[0]


def test_brotli_failure_is_an_empty_batch():
    bad = brotli_payload(SIGNED)[:-4]
    with pytest.raises(DecodeError):
        decode_payload(bad)  # the strict codec refuses it
    batch = read_payload(bad)
    assert batch.segments == () and "decompression failed" in batch.warnings[0]
    (only,) = messages_of(bad)
    assert only.kind == "invalid" and only.segment is None  # an empty batch still pops one message
    doc = FORMAT.decode_json(bad, "payload")
    assert doc["segments"] == [] and doc["inbox"]["tx_count"] == 0 and doc["warnings"]
    assert FORMAT.encode_json(doc, "payload") == bad
    assert FORMAT.decode_blocks([bad], {"reference": True}) == []


def test_segment_rlp_error_keeps_segments_read_so_far():
    s = stream(SIGNED, b"\x03\x05") + b"\xc0" + stream(SIGNED)
    segments, rest, warning = read_segment_stream(s)
    assert segments == (SIGNED, b"\x03\x05") and rest == b"\xc0" + stream(SIGNED) and "list" in warning
    doc = FORMAT.decode_json(s, "segments")
    assert len(doc["segments"]) == 2 and doc["trailing"] == "0x" + rest.hex()
    assert FORMAT.encode_json(doc, "segments") == s


def test_more_than_100k_segments_keeps_the_first_100k():
    s = b"\x03" * (100 * 1024 + 5)  # one-byte segments: advances with no value
    segments, rest, warning = read_segment_stream(s)
    assert len(segments) == 100 * 1024 and rest == b"\x03" * 5 and "too many segments" in warning


def test_segment_rules_empty_advance_unknown():
    payload = brotli_payload(
        b"",  # empty: skipped
        b"\x03\x81\x96\xff\xff",  # advance 150 s, trailing bytes ignored
        b"\x04\x00",  # 0x00 is not a canonical uint: the segment is skipped
        b"\x04\x05",  # advance 5 L1 blocks
        SIGNED,
        b"\x09zzz",  # unknown kind: one invalid message
        SIGNED,
        b"\x09tail",  # after the last message: never popped
    )
    msgs = messages_of(payload, SequencerHeader(0, 2**64 - 1, 0, 2**64 - 1, 0))
    assert [(m.kind, m.segment, m.timestamp, m.l1_block) for m in msgs] == [
        ("l2_message", 4, 150, 5), ("invalid", 5, 150, 5), ("l2_message", 6, 150, 5)]
    doc = FORMAT.decode_json(payload, "payload")
    kinds = [s["kind"] for s in doc["segments"]]
    assert kinds == ["raw", "raw", "raw", "advance_l1_block", "l2_message", "raw", "l2_message", "raw"]
    assert doc["segments"][1]["delta"] == 150 and "ignores the rest" in doc["segments"][1]["note"]
    assert "invalid" in doc["segments"][5] and doc["inbox"]["tx_count"] == 2
    assert FORMAT.encode_json(doc, "payload") == payload  # the raw segments re-encode byte for byte


def test_header_clamps_time_and_block_and_adds_virtual_delayed_reads():
    """getNextMsg clamps to [min, max] and reads delayed messages up to afterDelayedMessages."""
    payload = brotli_payload(b"\x03\x05", SIGNED, b"\x03\x82\x01\x00", b"\x04\x64", SIGNED)
    header = SequencerHeader(100, 200, 10, 20, 7)
    msgs = messages_of(payload, header, delayed=5)
    assert [(m.kind, m.timestamp, m.l1_block, m.delayed_index) for m in msgs] == [
        ("l2_message", 100, 10, None), ("l2_message", 200, 20, None),
        ("delayed_message", 200, 20, 5), ("delayed_message", 200, 20, 6)]
    wire = struct.pack(">5Q", 100, 200, 10, 20, 7) + payload
    doc = FORMAT.decode_json(wire, "sequencer-message", {"delayed_messages_read": 5})
    assert [m["kind"] for m in doc["inbox"]["messages"]] == ["l2_message", "l2_message", "delayed_message",
                                                            "delayed_message"]
    blocks = FORMAT.decode_blocks([payload], {"headers": [header], "delayed_messages_read": 5, "reference": True,
                                              "delayed_inbox": [TX2, TX2]})
    assert [(b.timestamp_ms, b.l1_origin_number, len(b.transactions), len(b.forced)) for b in blocks] == [
        (100_000, 10, 1, 0), (200_000, 20, 1, 0), (200_000, 20, 0, 1), (200_000, 20, 0, 1)]


def test_delayed_segment_past_the_count_is_invalid():
    payload = brotli_payload(SIGNED, b"\x02")
    msgs = messages_of(payload, SequencerHeader(0, 10, 0, 10, 3), delayed=3)
    assert [m.kind for m in msgs] == ["l2_message", "invalid"]
    with pytest.raises(DecodeError, match="invalid message"):
        FORMAT.decode_blocks([payload], {"headers": [(0, 10, 0, 10, 3)], "delayed_messages_read": 3})


# --- parse_l2.go ----------------------------------------------------------------------------------


def high_s(tx: bytes) -> bytes:
    """TX1 with s -> n - s and the y parity flipped: the same signature in its high-s form."""
    s = int.from_bytes(tx[-32:], "big")
    assert tx[-67] == 0x80  # y parity 0, then a0 ++ r, a0 ++ s
    return tx[:-67] + b"\x01" + tx[-66:-32] + (N - s).to_bytes(32, "big")


def big_tx() -> bytes:
    acct = Account.from_key(b"\x05" * 32)
    tx = {"nonce": 0, "gas": 5_000_000, "to": b"\x01" * 20, "value": 0, "data": b"\x01" * 150_000,
          "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1, "chainId": 42161}
    return bytes(Account.sign_transaction(tx, acct.key).raw_transaction)


T0 = HEARTBEATS_DISABLED_AT
L2_CASES = [
    ("signed tx", b"\x04" + TX1, T0, 1, None),
    ("batch of two", batch_of(b"\x04" + TX1, b"\x04" + TX2), T0, 2, None),
    ("one bad sub-message voids the batch", batch_of(b"\x04" + TX1, b"\x05"), T0, 0, "voids the whole batch"),
    ("unreadable length ends the batch", batch_of(b"\x04" + TX1) + b"\x00\x01", T0, 1, None),
    ("nested batches", batch_of(batch_of(b"\x04" + TX1), b"\x04" + TX2), T0, 2, None),
    ("nonmutating call", b"\x02abc", T0, 0, "NonmutatingCall"),
    ("signed compressed", b"\x07abc", T0, 0, "SignedCompressedTx"),
    ("heartbeat after the cut-off", b"\x06", T0, 0, "heartbeat"),
    ("heartbeat before the cut-off", b"\x06", T0 - 1, 0, None),
    ("type-3 signed tx", b"\x04\x03" + TX1[1:], T0, 0, "type 3"),
    ("high-s signed tx", b"\x04" + high_s(TX1), T0, 1, None),
    ("unsigned user tx", b"\x00" + b"\x00" * 160, T0, 1, None),
    ("contract tx has no request id", b"\x01" + b"\x00" * 128, T0, 0, "request id"),
    ("reserved kind", b"\x08", T0, 0, "unknown L2 message kind 8"),
    ("over 256 KiB", b"\x04" + b"\x00" * (256 * 1024), T0, 0, "too large"),
]


@pytest.mark.parametrize(("name", "message", "ts", "count", "error"), L2_CASES, ids=[c[0] for c in L2_CASES])
def test_parse_l2_transactions(name, message, ts, count, error):
    parsed = l2_transactions(message, ts)
    assert parsed.count == count
    assert (parsed.error is None) if error is None else (error in parsed.error)


def test_high_s_and_large_transactions_decode_as_geth_does():
    tx = decode_nitro_tx(high_s(TX1))
    assert tx.high_s and tx.chain_id == 10
    big = big_tx()
    assert 128 * 1024 < len(big) < 256 * 1024
    assert l2_transactions(b"\x04" + big, T0).count == 1
    doc = FORMAT.decode_json(stream(b"\x00\x04" + high_s(TX1)), "segments")
    assert doc["segments"][0]["tx"]["high_s"] is True and doc["inbox"]["tx_count"] == 1


def test_json_tx_count_is_what_nitro_executes():
    payload = brotli_payload(
        b"\x00" + batch_of(b"\x04" + TX1, b"\x04" + TX2),  # 2
        b"\x00" + batch_of(b"\x04" + TX1, b"\x02"),  # 0: the kind-2 sub-message voids it
        b"\x00\x04" + high_s(TX2),  # 1
        b"\x01" + compress(b"\x04" + TX1),  # 1 (brotli segment)
        b"\x01" + b"\xff\xff",  # 0: invalid (brotli fails)
    )
    doc = FORMAT.decode_json(payload, "payload")
    assert doc["inbox"]["tx_count"] == 4
    assert [m.get("tx_count") for m in doc["inbox"]["messages"]] == [2, 0, 1, 1, None]
    assert "voids the whole batch" in doc["segments"][1]["invalid"]


# --- fuzz: nothing but DecodeError ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 3))
def test_fuzz_inbox_reader(data, delayed):
    try:
        batch = read_payload(data)
    except DecodeError:
        return
    msgs, _ = read_messages(batch, SequencerHeader(0, 50, 0, 50, delayed + 1), delayed)
    for m in msgs:
        if m.l2_message is not None:
            l2_transactions(m.l2_message, m.timestamp)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_fuzz_segments_and_blocks_reference_mode(segments):
    payload = brotli_payload(*segments)
    json.dumps(FORMAT.decode_json(payload, "payload"))
    try:
        FORMAT.decode_blocks([payload], {"reference": True, "delayed_inbox": [TX1] * 8})
    except DecodeError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_l2_messages_and_signed_txs(data):
    l2_transactions(data, T0)
    try:
        decode_nitro_tx(data)
    except DecodeError:
        pass
    assert decode_zeroheavy(encode_zeroheavy(data), 1 << 16) == data


def test_cli_delayed_messages_read(tmp_path, capsys):
    from rollup_adapters.cli import main

    path = tmp_path / "msg.bin"
    path.write_bytes(struct.pack(">5Q", 0, 9, 0, 9, 4) + brotli_payload(SIGNED))
    assert main(["batch", "decode", "--format", "nitro", "--delayed-messages-read", "2", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m.get("delayed_index") for m in doc["inbox"]["messages"]] == [None, 2, 3]
    assert main(["batch", "decode", "--format", "opstack", "--delayed-messages-read", "2", str(path)]) == 1
    assert "nitro only" in capsys.readouterr().err


def test_our_rollups_keep_the_strict_admission_policy_for_blocks():
    """decode_blocks (a batch of ours) refuses the high-s tx nitro's reading accepts."""
    payload = brotli_payload(b"\x00" + batch_of(b"\x04" + high_s(TX1)))
    with pytest.raises(DecodeError, match="not one our rollups admit"):
        FORMAT.decode_blocks([payload], {})
    (block,) = FORMAT.decode_blocks([payload], {"reference": True})
    assert block.transactions == (high_s(TX1),)


@pytest.mark.parametrize("row", fixture_rows("nitro_messages_in_batch_cases.txt"), ids=lambda r: r[0])
def test_messages_in_batch_cases_from_nitro(row):
    from rollup_adapters.nitro.inbox import ReadBatch

    _, segments_text, header_text, delayed, expected = row
    segments = []
    for item in segments_text.split():
        if item == "-":
            segments.append(b"")
        elif item.startswith("brotli:"):
            segments.append(b"\x01" + compress(item[7:].encode()))
        else:
            segments.append(bytes.fromhex(item))
    header = SequencerHeader(*(int(x) for x in header_text.split(",")))
    msgs, _ = read_messages(ReadBatch(0, tuple(segments)), header, int(delayed))
    kinds = {"l2_message": "l2", "delayed_message": "delayed", "invalid": "invalid"}
    got = [f"{kinds[m.kind]}@{m.timestamp}/{m.l1_block}" + (f"={m.l2_message.decode()}" if m.l2_message else "")
           for m in msgs]
    assert got == expected.split()
