"""The registered OP Stack FORMAT: blocks <-> payloads, and the JSON view by layer."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import CHAIN_ID, read_hex, signed_tx

from rollup_adapters.base import RollupBlock
from rollup_adapters.opstack import FORMAT, channel_id_for, decode_batcher_tx, decode_blob, encode_blob
from rollup_adapters.registry import get_format
from sequencer.errors import BadInput, DecodeError

GENESIS = 1_700_000_000
CONFIG = {"chain_id": CHAIN_ID, "genesis_timestamp": GENESIS, "block_time": 2}
KEYS = [bytes([i + 7]) * 32 for i in range(4)]


def block(n: int, origin: int, txs: tuple[bytes, ...] = (), forced: tuple[bytes, ...] = ()) -> RollupBlock:
    return RollupBlock(n, (GENESIS + 2 * n) * 1000, origin, origin.to_bytes(32, "big"), txs, forced)


def test_registered():
    assert get_format("opstack") is FORMAT
    assert FORMAT.name == "opstack"
    assert FORMAT.layers == ("batcher-tx", "frame", "channel", "span-batch", "singular-batch", "blob")


def test_encode_blocks_shape_and_determinism():
    blocks = [block(5, 100, (signed_tx(KEYS[0], 2, 0),)), block(6, 100), block(7, 101, (signed_tx(KEYS[1], 0, 0),))]
    payloads = FORMAT.encode_blocks(blocks, CONFIG)
    assert payloads == FORMAT.encode_blocks(blocks, CONFIG)
    frames = [f for p in payloads for f in decode_batcher_tx(p)]
    assert all(f.channel_id == channel_id_for(5, b"") for f in frames)
    assert frames[-1].is_last and [f.frame_number for f in frames] == list(range(len(frames)))
    doc = FORMAT.decode_json(payloads[0], None)
    (span,) = doc["batches"]
    assert span["type"] == "span" and span["rel_timestamp"] == 10 and span["l1_origin_num"] == 101
    assert span["block_count"] == 3 and span["block_tx_counts"] == [1, 0, 1] and span["tx_count"] == 2
    assert span["origin_bits"] == [0, 0, 1] and span["parent_check"] == "0x" + "00" * 20
    assert span["l1_origin_check"] == "0x" + (101).to_bytes(32, "big")[:20].hex()


def test_round_trip_keeps_order_timestamps_origins():
    txs = [signed_tx(KEYS[i % 4], i % 3, i // 4) for i in range(12)]
    blocks = [block(0, 7, tuple(txs[:5]), forced=(txs[5],)), block(1, 7), block(2, 8, tuple(txs[6:])),
              block(3, 12, ()), block(4, 12, (txs[0],))]
    out = FORMAT.decode_blocks(FORMAT.encode_blocks(blocks, CONFIG), CONFIG)
    assert [b.number for b in out] == [0, 1, 2, 3, 4]
    assert [b.timestamp_ms for b in out] == [b.timestamp_ms for b in blocks]
    assert [b.l1_origin_number for b in out] == [7, 7, 8, 12, 12]
    assert out[0].transactions == (txs[5], *txs[:5])  # forced first, as ordinary transactions
    assert [b.transactions for b in out[1:]] == [b.transactions for b in blocks[1:]]


@pytest.mark.parametrize("extra", [{"compression": "zlib"}, {"batch_type": "singular"},
                                   {"max_tx_bytes": 200}, {"channel_seed": "x", "parent_hash": b"\x09" * 32}])
def test_round_trip_config_variants(extra):
    txs = tuple(signed_tx(KEYS[0], 2, i, data=bytes(range(i * 10))) for i in range(6))
    blocks = [block(10, 3, txs[:3]), block(11, 4, txs[3:])]
    config = {**CONFIG, **extra}
    payloads = FORMAT.encode_blocks(blocks, config)
    assert all(len(p) <= config.get("max_tx_bytes", 120_000) for p in payloads)
    out = FORMAT.decode_blocks(payloads, config)
    assert [b.transactions for b in out] == [b.transactions for b in blocks]
    if extra.get("batch_type") == "singular":
        assert out == blocks  # singular batches carry full L1 origin hashes
        assert FORMAT.decode_json(payloads[0], None)["batches"][0]["type"] == "singular"


def test_l1_origin_hashes_from_config():
    blocks = [block(0, 1), block(1, 2)]
    config = {**CONFIG, "l1_origin_hashes": {b.l1_origin_number: b.l1_origin_hash for b in blocks}}
    assert FORMAT.decode_blocks(FORMAT.encode_blocks(blocks, config), config) == blocks


def test_origin_jump_starts_new_span_batch():
    blocks = [block(0, 1), block(1, 5), block(2, 4)]
    doc = FORMAT.decode_json(FORMAT.encode_blocks(blocks, CONFIG)[0], None)
    assert [b["block_count"] for b in doc["batches"]] == [1, 1, 1]
    assert [b["origin_bits"] for b in doc["batches"]] == [[0], [1], [1]]


@pytest.mark.parametrize(("blocks", "message"), [
    ([block(0, 1), block(2, 1)], "consecutive"),
    ([RollupBlock(0, GENESIS * 1000 + 500, 1, b"\x00" * 32, ())], "whole seconds"),
    ([RollupBlock(0, (GENESIS + 1) * 1000, 1, b"\x00" * 32, ())], "genesis_timestamp"),
    ([block(0, 1, (b"\x02\xc0",))], "block 0..0"),
])
def test_encode_rejects(blocks, message):
    with pytest.raises(BadInput, match=message):
        FORMAT.encode_blocks(blocks, CONFIG)


def test_decode_blocks_needs_chain_id_for_span_txs():
    payloads = FORMAT.encode_blocks([block(0, 1, (signed_tx(KEYS[0], 2, 0),))], CONFIG)
    with pytest.raises(BadInput, match="chain_id"):
        FORMAT.decode_blocks(payloads, {"genesis_timestamp": GENESIS})


def test_json_layers_v7_and_v2():
    v7 = read_hex("raw_span_batch.hex")
    doc = FORMAT.decode_json(v7, "span-batch")
    assert set(doc) == {"batches"}
    b = doc["batches"][0]
    assert {k: b[k] for k in ("rel_timestamp", "l1_origin_num", "block_count", "block_tx_counts", "tx_count")} == {
        "rel_timestamp": 1639845645, "l1_origin_num": 16988980031808077784, "block_count": 4,
        "block_tx_counts": [8, 15, 15, 1], "tx_count": 39}
    assert FORMAT.encode_json(json.loads(json.dumps(doc)), "span-batch") == v7
    v2 = read_hex("v2_singular_batch.hex")
    doc = FORMAT.decode_json(v2, "singular-batch")
    assert doc["batches"][0] | {"transactions": None} == {
        "type": "singular", "parent_hash": "0x" + "00" * 32, "epoch_number": 1, "epoch_hash": "0x" + "00" * 32,
        "timestamp": 1, "tx_count": 2, "transactions": None}
    assert FORMAT.encode_json(doc, "singular-batch") == v2[1:]
    frames = FORMAT.decode_json(read_hex("v2_frame0.hex"), "frame")
    assert frames["frames"][0] | {"data": None} == {
        "channel_id": "0x60d54f49b71978b1b09288af847b11d2", "frame_number": 0, "data_length": 77, "is_last": False,
        "data": None}


def test_json_every_layer_round_trips():
    blocks = [block(0, 1, (signed_tx(KEYS[0], 1, 0), signed_tx(KEYS[1], 0, 0, chain_id=None))), block(1, 2)]
    (payload,) = FORMAT.encode_blocks(blocks, CONFIG)
    doc = json.loads(json.dumps(FORMAT.decode_json(payload, "batcher-tx")))
    assert FORMAT.encode_json(doc, "batcher-tx") == payload
    assert FORMAT.encode_json(doc, "frame") == payload[1:]
    blob = encode_blob(payload)
    assert FORMAT.decode_json(blob, "blob") == doc
    assert decode_blob(FORMAT.encode_json(doc, "blob")) == payload
    channel = FORMAT.encode_json(doc, "channel")
    assert FORMAT.decode_json(channel, "channel") == {"batches": doc["batches"]}
    span = FORMAT.encode_json(doc, "span-batch")
    assert FORMAT.decode_json(span, "span-batch") == {"batches": doc["batches"]}


def test_json_errors_are_decode_errors():
    with pytest.raises(DecodeError, match="frame_data_length: truncated at offset 19"):
        FORMAT.decode_json(bytes.fromhex("00" + "ab" * 16 + "0000" + "00"), "batcher-tx")
    with pytest.raises(DecodeError):
        FORMAT.encode_json({"frames": [{"channel_id": "0x12"}]}, "frame")
    with pytest.raises(DecodeError):
        FORMAT.decode_json(b"\x00", "no-such-layer")


tx_kinds = st.sampled_from([(0, CHAIN_ID), (0, None), (1, CHAIN_ID), (2, CHAIN_ID)])


@st.composite
def block_runs(draw):
    start = draw(st.integers(0, 1000))
    origin = draw(st.integers(0, 10**6))
    nonces = [0] * len(KEYS)
    blocks = []
    for n in range(start, start + draw(st.integers(1, 6))):
        origin += draw(st.sampled_from([0, 0, 1, 3]))
        txs = []
        for _ in range(draw(st.integers(0, 3))):
            k = draw(st.integers(0, len(KEYS) - 1))
            tx_type, chain = draw(tx_kinds)
            to = None if draw(st.integers(0, 9)) == 0 else b"\x77" * 20
            txs.append(signed_tx(KEYS[k], tx_type, nonces[k], to=to, value=draw(st.integers(0, 10**18)),
                                 data=draw(st.binary(max_size=30)), chain_id=chain))
            nonces[k] += 1
        blocks.append(block(n, origin, tuple(txs)))
    return blocks


@settings(max_examples=25, deadline=None, derandomize=True)
@given(block_runs(), st.sampled_from(["brotli", "zlib"]), st.sampled_from(["span", "singular"]),
       st.sampled_from([150, 600, 120_000]))
def test_random_blocks_round_trip(blocks, compression, batch_type, max_tx):
    config = {**CONFIG, "compression": compression, "batch_type": batch_type, "max_tx_bytes": max_tx}
    payloads = FORMAT.encode_blocks(blocks, config)
    assert all(len(p) <= max_tx for p in payloads)
    out = FORMAT.decode_blocks(payloads, config)
    assert [(b.number, b.timestamp_ms, b.l1_origin_number, b.transactions) for b in out] == [
        (b.number, b.timestamp_ms, b.l1_origin_number, b.transactions) for b in blocks]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=300), st.sampled_from(FORMAT.layers[:-1]))
def test_fuzz_decode_json(data, layer):
    try:
        json.dumps(FORMAT.decode_json(data, layer))
    except DecodeError:
        pass


PAYLOAD = FORMAT.encode_blocks([block(0, 1, (signed_tx(KEYS[0], 2, 0), signed_tx(KEYS[1], 0, 0)))], CONFIG)[0]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 10**6), st.integers(0, 255))
def test_fuzz_mutated_payload(where, value):
    data = bytearray(PAYLOAD)
    data[where % len(data)] = value
    try:
        FORMAT.decode_blocks([bytes(data)], CONFIG)
    except DecodeError:
        pass


def test_l1_origin_check_mismatch_with_config():
    blocks = [block(0, 1)]
    config = {**CONFIG, "l1_origin_hashes": {1: b"\xee" * 32}}
    with pytest.raises(DecodeError, match="l1_origin_check"):
        FORMAT.decode_blocks(FORMAT.encode_blocks(blocks, CONFIG), config)
