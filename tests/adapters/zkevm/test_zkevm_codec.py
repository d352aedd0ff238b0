"""One table of cases, read by both the encoders and the decoders, plus the
decoders' error table (each error names its field)."""

from __future__ import annotations

import pytest
import rlp

from rollup_adapters.zkevm import (
    MAX_BATCH_BYTES,
    BatchTx,
    BatchV2,
    ForcedBatchV2,
    L2Block,
    L2BlockChange,
    SignedLegacyTx,
    batch_tx_from_raw,
    decode_batch_v2,
    decode_forced_batch,
    decode_l2_block_change,
    decode_tx_entry,
    encode_batch_v2,
    encode_forced_batch,
    encode_l2_block_change,
    encode_tx_entry,
)
from sequencer.errors import BadInput, DecodeError, TooLarge

R = bytes(range(1, 33))
S = bytes(range(33, 65))
SIG = R.hex() + S.hex()
TO = b"\x11" * 20


def legacy(chain_id: int | None = None, to: bytes | None = TO, data: bytes = b"", parity: int = 1) -> SignedLegacyTx:
    return SignedLegacyTx(0, 1, 21000, to, 0, data, chain_id, parity, R, S)


def wire(*fields: str) -> str:
    """Hex of the fields in order; one argument per wire field keeps the tables readable."""
    return "".join(fields)


TO_HEX = "94" + "11" * 20
# (name, value, wire hex): encode(value) == bytes and decode(bytes) == value.
BLOCK_CHANGE_CASES = [
    ("zero", L2BlockChange(0, 0), wire("0b", "00000000", "00000000")),
    ("z1 first", L2BlockChange(123, 456), wire("0b", "0000007b", "000001c8")),
    ("max", L2BlockChange(2**32 - 1, 2**32 - 1), wire("0b", "ffffffff", "ffffffff")),
]

TX_ENTRY_CASES = [
    (
        "pre-EIP-155: 6 fields",
        BatchTx(legacy(), 0x00),
        wire("dc", "80", "01", "825208", TO_HEX, "80", "80", SIG, "1c", "00"),
    ),
    (
        "EIP-155 chain 1001: chainId, 0, 0 appended",
        BatchTx(legacy(chain_id=1001, parity=0)),
        wire("e1", "80", "01", "825208", TO_HEX, "80", "80", "8203e9", "80", "80", SIG, "1b", "ff"),
    ),
    (
        "EIP-155 chain 0 keeps 9 fields (IsPreEIP155Tx looks at v)",
        BatchTx(legacy(chain_id=0, parity=0), 0x7F),
        wire("df", "80", "01", "825208", TO_HEX, "80", "80", "80", "80", "80", SIG, "1b", "7f"),
    ),
    (
        "contract creation: empty to",
        BatchTx(legacy(chain_id=1001, to=None, data=b"\x60\x00")),
        wire("cf", "80", "01", "825208", "80", "80", "826000", "8203e9", "80", "80", SIG, "1c", "ff"),
    ),
]

BATCH_CASES = [
    ("empty", BatchV2(()), ""),
    ("one empty block", BatchV2((L2Block(L2BlockChange(1, 2)),)), wire("0b", "00000001", "00000002")),
    (
        "block, tx, empty block",
        BatchV2((L2Block(L2BlockChange(0, 0), (TX_ENTRY_CASES[1][1],)), L2Block(L2BlockChange(2, 0)))),
        wire("0b", "00000000", "00000000", TX_ENTRY_CASES[1][2], "0b", "00000002", "00000000"),
    ),
]

FORCED_CASES = [
    ("empty", ForcedBatchV2(()), ""),
    (
        "two txs",
        ForcedBatchV2((TX_ENTRY_CASES[0][1], TX_ENTRY_CASES[3][1])),
        TX_ENTRY_CASES[0][2] + TX_ENTRY_CASES[3][2],
    ),
]


def ids(cases: list) -> list[str]:
    return [case[0] for case in cases]


@pytest.mark.parametrize(("name", "value", "wire"), BLOCK_CHANGE_CASES, ids=ids(BLOCK_CHANGE_CASES))
def test_l2_block_change(name: str, value: L2BlockChange, wire: str) -> None:
    assert encode_l2_block_change(value).hex() == wire
    assert decode_l2_block_change(bytes.fromhex(wire), 0) == (value, 9)


@pytest.mark.parametrize(("name", "value", "wire"), TX_ENTRY_CASES, ids=ids(TX_ENTRY_CASES))
def test_tx_entry(name: str, value: BatchTx, wire: str) -> None:
    assert encode_tx_entry(value).hex() == wire
    assert decode_tx_entry(bytes.fromhex(wire), 0) == (value, len(wire) // 2)


@pytest.mark.parametrize(("name", "value", "wire"), BATCH_CASES, ids=ids(BATCH_CASES))
def test_batch_v2(name: str, value: BatchV2, wire: str) -> None:
    assert encode_batch_v2(value).hex() == wire
    assert decode_batch_v2(bytes.fromhex(wire)) == value


@pytest.mark.parametrize(("name", "value", "wire"), FORCED_CASES, ids=ids(FORCED_CASES))
def test_forced_batch(name: str, value: ForcedBatchV2, wire: str) -> None:
    assert encode_forced_batch(value).hex() == wire
    assert decode_forced_batch(bytes.fromhex(wire)) == value


def test_raw_legacy_tx_and_entry_convert_exactly() -> None:
    """EIP-155 v = chainId * 2 + 35 + parity becomes 27 + parity and back."""
    fields = [5, 7, 21000, TO, 9, b"\xab", 1001 * 2 + 36, 0x1234, 0x5678]
    raw = rlp.encode(fields)
    entry = batch_tx_from_raw(raw)
    assert entry.tx.chain_id == 1001 and entry.tx.y_parity == 1
    assert entry.raw == raw
    assert decode_tx_entry(encode_tx_entry(entry), 0)[0].raw == raw


def test_pre_eip155_raw_tx_keeps_v_27() -> None:
    raw = rlp.encode([0, 1, 21000, TO, 0, b"", 27, 1, 1])
    entry = batch_tx_from_raw(raw)
    assert entry.tx.chain_id is None and entry.raw == raw
    assert encode_tx_entry(entry)[0] == 0xDC  # the 6-field form


@pytest.mark.parametrize("tx_type", [0x01, 0x02, 0x03, 0x04, 0x7F])
def test_typed_transactions_are_refused(tx_type: int) -> None:
    raw = bytes([tx_type]) + rlp.encode([1, 0, 1, 1, 21000, TO, 0, b"", [], 0, 1, 1])
    with pytest.raises(DecodeError, match="zkEVM batches carry only legacy transactions"):
        batch_tx_from_raw(raw)


ENTRY = TX_ENTRY_CASES[1][2]
TAIL = wire(SIG, "1b", "ff")
BODY = wire("80", "01", "825208", TO_HEX, "80", "80")

# (name, batch hex after one block header, error message prefix)
ERROR_CASES = [
    ("not an rlp list", "7f", "tx.rlp: first byte 0x7f"),
    ("list runs past the end", wire("e1", "80"), "tx.rlp: list of 34 bytes truncated at 9"),
    ("non-canonical long header (f801)", wire("f801", "80", TAIL), "tx.rlp: Long list prefix"),
    ("7 fields", wire("dd", BODY, "80", TAIL), "tx.rlp: 7 fields"),
    ("nested list field", wire("dc", BODY[:-2], "c0", TAIL), "tx.rlp: expected a list of byte strings"),
    ("nonzero after chainId", wire("e1", BODY, "8203e9", "01", "80", TAIL), "tx.rlp: the two fields after chainId"),
    ("leading zero nonce", wire("dc", "00", BODY[2:], TAIL), "tx.nonce: integer has a leading zero"),
    ("9-byte chainId", wire("e8", BODY, "89", "01" * 9, "80", "80", TAIL), "tx.chainId: 9 bytes"),
    ("19-byte to", wire("db", "80", "01", "825208", "93", "11" * 19, "80", "80", TAIL), "tx.to: 19 bytes"),
    ("v not 27/28", wire(ENTRY[:-4], "25", "ff"), "tx.v: 0x25"),
    ("r truncated", ENTRY[: 2 * 34 + 20], "tx.r: truncated at 43"),
    ("s truncated", ENTRY[: 2 * (34 + 32) + 2], "tx.s: truncated at 75"),
    ("v missing", ENTRY[:-4], "tx.v: truncated at 107"),
    ("effectivePercentage missing", ENTRY[:-2], "tx.effectivePercentage: truncated at 108"),
]


@pytest.mark.parametrize(("name", "body", "message"), ERROR_CASES, ids=ids(ERROR_CASES))
def test_decode_errors_name_the_field(name: str, body: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_batch_v2(bytes.fromhex("0b" + "00" * 8 + body))
    assert str(info.value).startswith(message)


def test_size_limits() -> None:
    big = BatchV2((L2Block(L2BlockChange(0, 0), (BatchTx(legacy(data=b"\x00" * MAX_BATCH_BYTES)),)),))
    with pytest.raises(TooLarge, match="over the 120000-byte limit"):
        encode_batch_v2(big)
    with pytest.raises(DecodeError, match="batch: 120001 bytes"):
        decode_batch_v2(b"\x0b" + b"\x00" * MAX_BATCH_BYTES)
    with pytest.raises(DecodeError, match="forced batch: 5001 bytes"):
        decode_forced_batch(b"\xc0" * 5001)


def test_field_ranges_are_checked() -> None:
    with pytest.raises(BadInput, match="delta_timestamp"):
        L2BlockChange(2**32, 0)
    with pytest.raises(BadInput, match="effective_percentage"):
        BatchTx(legacy(), 256)
