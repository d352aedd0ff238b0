"""Singular (v0) and span (v1) batches: table, upstream vectors V2 and V7, round trips, fuzz."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import CHAIN_ID, read_hex, signed_tx

from rollup_adapters.opstack.batches import (
    SingularBatch,
    decode_batch,
    decode_singular_batch,
    encode_batch,
    encode_singular_batch,
)
from rollup_adapters.opstack.span_batch import SpanBatch, decode_span_batch, encode_span_batch
from rollup_adapters.opstack.span_txs import (
    EMPTY_TXS,
    SpanTxData,
    decode_span_tx_data,
    encode_span_tx_data,
    span_txs_from_transactions,
    transactions_from_span_txs,
)
from sequencer.core.evm_tx import EvmTransaction, decode_transaction, encode_transaction
from sequencer.errors import BadInput, DecodeError

Z32 = b"\x00" * 32

# (name, batch, encoded `batch_version ++ content` hex): shared by encoder and decoder.
CASES = [
    ("singular, no txs", SingularBatch(Z32, 1, Z32, 1, ()), "00" + "f845a0" + "00" * 32 + "01a0" + "00" * 32 + "01c0"),
    ("singular, one tx", SingularBatch(b"\x11" * 32, 0, b"\x22" * 32, 0x100, (b"\x02\xc0",)),
     "00" + "f84aa0" + "11" * 32 + "80a0" + "22" * 32 + "820100c3" + "8202c0"),
    ("span, one empty block",
     SpanBatch(5, 7, b"\x01" * 20, b"\x02" * 20, 1, (0,), EMPTY_TXS),
     "01" + "0507" + "01" * 20 + "02" * 20 + "01" + "01" + "00"),
    ("span, three blocks, origin bits 0b110",
     SpanBatch(300, 2**63, b"\x00" * 20, b"\xff" * 20, 0b110, (0, 0, 0), EMPTY_TXS),
     "01" + "ac02" + "80808080808080808001" + "00" * 20 + "ff" * 20 + "03" + "06" + "000000"),
]


@pytest.mark.parametrize(("name", "batch", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_table_encode(name, batch, hex_):
    assert encode_batch(batch).hex() == hex_


@pytest.mark.parametrize(("name", "batch", "hex_"), CASES, ids=[c[0] for c in CASES])
def test_table_decode(name, batch, hex_):
    assert decode_batch(bytes.fromhex(hex_)) == batch


def test_v2_singular_batch_body():
    data = read_hex("v2_singular_batch.hex")
    batch = decode_batch(data)
    assert isinstance(batch, SingularBatch)
    assert (batch.parent_hash, batch.epoch_number, batch.epoch_hash, batch.timestamp) == (Z32, 1, Z32, 1)
    assert len(batch.transactions) == 2
    for tx_raw, to_last in zip(batch.transactions, (6, 7), strict=True):
        tx = decode_transaction(tx_raw)
        assert (tx.tx_type, tx.chain_id, tx.nonce, tx.max_fee, tx.max_priority_fee, tx.gas) == (2, 10, 2, 3, 4, 5)
        assert tx.to == bytes(19) + bytes([to_last]) and tx.value == 7 and tx.data == b"\x08"
    assert encode_batch(batch) == data


def test_v7_raw_span_batch_decodes_and_reencodes():
    data = read_hex("raw_span_batch.hex")
    assert len(data) == 23_886 and data[:5].hex() == "8d9ef88d06"
    batch = decode_span_batch(data)
    assert batch.rel_timestamp == 1639845645
    assert batch.l1_origin_num == 16988980031808077784
    assert batch.parent_check.hex() == "01ddf682e2f8a6f10c2207e02322897e65317196"
    assert batch.l1_origin_check.hex() == "8527cdb6f601acf9b483817abd1da92790c92b19"
    assert batch.block_count == 4
    assert [(batch.origin_bits >> i) & 1 for i in range(4)] == [0, 0, 1, 1]
    assert batch.block_tx_counts == (8, 15, 15, 1) and batch.txs.count == 39
    assert encode_span_batch(batch) == data
    # The random upstream data still rebuilds into typed transactions of the right types.
    txs = transactions_from_span_txs(batch.txs, CHAIN_ID)
    assert [t[0] if t[0] <= 0x7F else 0 for t in txs] == list(batch.txs.tx_types)


def test_origin_numbers_count_back_from_last():
    b = SpanBatch(0, 10, bytes(20), bytes(20), 0b1011, (0, 0, 0, 0), EMPTY_TXS)
    assert b.origin_numbers() == [8, 9, 9, 10]


KEY = b"\x42" * 32


def _txs_all_kinds() -> list[bytes]:
    return [
        signed_tx(KEY, 0, 0),
        signed_tx(KEY, 0, 1, chain_id=None),
        signed_tx(KEY, 1, 2),
        signed_tx(KEY, 2, 3),
        signed_tx(KEY, 2, 4, to=None, data=b"\x60\x00\x60\x00"),
        signed_tx(KEY, 0, 5, to=None, data=b"\x00"),
        _set_code_tx(6),
    ]


def _set_code_tx(nonce: int) -> bytes:
    """An EIP-7702 transaction (Isthmus); fields only, so a fixed valid-range signature will do."""
    return encode_transaction(EvmTransaction(
        tx_type=4, chain_id=CHAIN_ID, nonce=nonce, gas_price=0, max_priority_fee=1, max_fee=2, gas=90_000,
        to=b"\x33" * 20, value=0, data=b"\xab", access_list=((b"\x44" * 20, (b"\x01" * 32,)),), y_parity=1,
        r=12345, s=67890, v=1, authorization_list=((CHAIN_ID, b"\x55" * 20, 3, 0, 111, 222),),
    ))


def test_span_txs_round_trip_every_type():
    raws = _txs_all_kinds()
    cols = span_txs_from_transactions(raws, CHAIN_ID)
    assert cols.tx_types == (0, 0, 1, 2, 2, 0, 4)
    assert cols.contract_creation_bits == 0b110000
    assert cols.protected_bits == 0b101  # legacy txs #0 and #2 (the creation) are EIP-155, #1 is not
    assert transactions_from_span_txs(cols, CHAIN_ID) == raws
    batch = SpanBatch(1, 2, bytes(20), bytes(20), 0, (3, 0, 4), cols)
    assert decode_batch(encode_batch(batch)) == batch


def test_protected_legacy_creation_bit():
    raws = [signed_tx(KEY, 0, 0, to=None, data=b"\x00")]
    cols = span_txs_from_transactions(raws, CHAIN_ID)
    assert cols.protected_bits == 1 and cols.contract_creation_bits == 1 and cols.tx_tos == ()


def test_wrong_chain_id_rejected():
    with pytest.raises(BadInput, match="chain id"):
        span_txs_from_transactions([signed_tx(KEY, 2, 0, chain_id=5)], CHAIN_ID)


SPAN_TX_DATAS = [
    ("legacy", SpanTxData(0, 1, gas_price=2, data=b"\x03"), "c3010203"),
    ("2930", SpanTxData(1, 0, gas_price=1, data=b"", access_list=()), "01c48001" + "80c0"),
    ("1559", SpanTxData(2, 5, max_priority_fee=1, max_fee=2, data=b"\xff"), "02c605010281ffc0"),
    ("7702", SpanTxData(4, 0, max_priority_fee=0, max_fee=0, authorization_list=((1, b"\x11" * 20, 0, 1, 2, 3),)),
     "04e1808080" + "80" + "c0" + "db" + "da" + "01" + "94" + "11" * 20 + "80010203"),
]


@pytest.mark.parametrize(("name", "tx", "hex_"), SPAN_TX_DATAS, ids=[c[0] for c in SPAN_TX_DATAS])
def test_span_tx_data_table(name, tx, hex_):
    assert encode_span_tx_data(tx).hex() == hex_
    assert decode_span_tx_data(bytes.fromhex(hex_)) == tx


SPAN_PREFIX = "00" + "00" + "00" * 40  # rel_timestamp 0, l1_origin_num 0, checks
SPAN_ERRORS = [
    ("", "rel_timestamp: truncated uvarint at offset 0"),
    ("ffffffffffffffffff7f", "rel_timestamp: uvarint overflows uint64 at offset 0"),
    ("00" + "00" + "00" * 10, "parent_check: truncated at offset 2"),
    (SPAN_PREFIX + "00", "block_count: empty span batch at offset 42"),
    (SPAN_PREFIX + "81ade204", "block_count: 10000001 exceeds MAX_SPAN_BATCH_ELEMENT_COUNT at offset 42"),
    (SPAN_PREFIX + "01" + "02", "origin_bits: bitlist has more than 1 bits at offset 43"),
    (SPAN_PREFIX + "02" + "00" + "81ade204", "block_tx_counts: too many transactions at offset 44"),
    (SPAN_PREFIX + "01" + "00" + "01" + "00" + "00", "tx_sigs.r: truncated at offset 47"),
    (SPAN_PREFIX + "01" + "00" + "00" + "ff", "span_batch: 1 leftover bytes at offset 45"),
    (SPAN_PREFIX + "01" + "00" + "01" + "00" + "00" + "00" * 64 + "00" * 20 + "03c0",
     "tx_data: unsupported transaction type 3"),
    (SPAN_PREFIX + "01" + "00" + "01" + "00" + "00" + "00" * 64 + "00" * 20 + "80",
     "tx_datas: transaction payload must be an RLP list at offset 131"),
]


@pytest.mark.parametrize(("hex_", "message"), SPAN_ERRORS)
def test_span_decode_errors(hex_, message):
    with pytest.raises(DecodeError) as exc:
        decode_span_batch(bytes.fromhex(hex_))
    assert message in str(exc.value)


SINGULAR_ERRORS = [
    ("", "batch_version: empty batch at offset 0"),
    ("02", "batch_version: unknown batch type 2 at offset 0"),
    ("00c0", "singular_batch: expected 5 fields, got 0 at offset 1"),
    ("00c580808080c0", "parent_hash: expected 32 bytes"),
    ("00" + "f845a0" + "00" * 32 + "00a0" + "00" * 32 + "01c0", "epoch_number: non-canonical integer"),
    ("00" + "f845a0" + "00" * 32 + "01a0" + "00" * 32 + "01c0" + "00", "leftover bytes"),
    ("00" + "f846a0" + "00" * 32 + "8101a0" + "00" * 32 + "01c0", "non-canonical RLP single byte"),
]


@pytest.mark.parametrize(("hex_", "message"), SINGULAR_ERRORS)
def test_singular_decode_errors(hex_, message):
    with pytest.raises(DecodeError) as exc:
        decode_batch(bytes.fromhex(hex_))
    assert message in str(exc.value)


singular_st = st.builds(
    SingularBatch, st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
    st.lists(st.binary(max_size=80), max_size=5).map(tuple),
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(singular_st)
def test_singular_round_trip(batch):
    assert decode_singular_batch(encode_singular_batch(batch)) == batch
    assert decode_batch(encode_batch(batch)) == batch


ACCOUNTS = [Account.from_key(bytes([i + 1]) * 32) for i in range(3)]


@st.composite
def span_batches(draw):
    counts = draw(st.lists(st.integers(0, 3), min_size=1, max_size=5))
    raws = []
    for i in range(sum(counts)):
        key = ACCOUNTS[draw(st.integers(0, 2))].key
        kind = draw(st.sampled_from(["l155", "l", 1, 2, "create"]))
        value = draw(st.integers(0, 10**20))
        data = draw(st.binary(max_size=40))
        if kind == "l155":
            raws.append(signed_tx(key, 0, i, value=value, data=data))
        elif kind == "l":
            raws.append(signed_tx(key, 0, i, value=value, data=data, chain_id=None))
        elif kind == "create":
            raws.append(signed_tx(key, 2, i, to=None, value=value, data=data))
        else:
            raws.append(signed_tx(key, kind, i, value=value, data=data))
    txs = span_txs_from_transactions(raws, CHAIN_ID) if raws else EMPTY_TXS
    batch = SpanBatch(
        draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**64 - 1)), draw(st.binary(min_size=20, max_size=20)),
        draw(st.binary(min_size=20, max_size=20)), draw(st.integers(0, 2 ** len(counts) - 1)), tuple(counts), txs,
    )
    return batch, raws


@settings(max_examples=25, deadline=None, derandomize=True)
@given(span_batches())
def test_span_round_trip(case):
    batch, raws = case
    data = encode_span_batch(batch)
    assert decode_span_batch(data) == batch
    assert decode_batch(encode_batch(batch)) == batch
    assert transactions_from_span_txs(decode_span_batch(data).txs, CHAIN_ID) == raws


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    for decode in (decode_batch, decode_span_batch, lambda d: decode_batch(b"\x01" + d)):
        try:
            decode(data)
        except DecodeError:
            pass


V7 = read_hex("raw_span_batch.hex")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, len(V7) - 1), st.integers(0, 255), st.booleans())
def test_fuzz_mutated_v7(where, value, cut):
    data = bytearray(V7)
    if cut:
        del data[where:]
    else:
        data[where] = value
    try:
        batch = decode_span_batch(bytes(data))
    except DecodeError:
        return
    try:
        transactions_from_span_txs(batch.txs, CHAIN_ID)
    except DecodeError:
        pass


def test_huge_declared_counts_fail_fast():
    """Counts at the cap with no data behind them fail at the first missing field, allocating nothing."""
    from rollup_adapters.opstack.wire import encode_uvarint

    cap = 10_000_000
    head = bytes.fromhex(SPAN_PREFIX) + encode_uvarint(cap)
    with pytest.raises(DecodeError, match="origin_bits: truncated at offset 46"):
        decode_span_batch(head)
    with_bits = head + bytes((cap + 7) // 8)
    with pytest.raises(DecodeError, match="block_tx_counts: truncated uvarint"):
        decode_span_batch(with_bits + b"\x00" * 1000)
    one_block = bytes.fromhex(SPAN_PREFIX) + b"\x01\x00" + encode_uvarint(cap)
    with pytest.raises(DecodeError, match="contract_creation_bits: truncated"):
        decode_span_batch(one_block)
