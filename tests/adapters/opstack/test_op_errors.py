"""OP Stack error semantics: what op-node keeps from broken data (channel_in_reader.go NextBatch,
batch.go decodeTyped, span_batch.go RawSpanBatch.decode, frame_queue.go loadNextFrames)."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import CHAIN_ID, signed_tx

from rollup_adapters.base import RollupBlock
from rollup_adapters.opstack import FORMAT
from rollup_adapters.opstack.batches import SingularBatch, decode_channel_batch, encode_batch
from rollup_adapters.opstack.chain_spec import OP_MAINNET, OP_SEPOLIA
from rollup_adapters.opstack.channel import encode_batch_stream
from rollup_adapters.opstack.frames import Frame, encode_batcher_tx
from rollup_adapters.opstack.pipeline import DEFAULT_CONTEXT, ForkContext, derive_batches
from rollup_adapters.opstack.span_batch import decode_span_batch
from rollup_adapters.opstack.wire import encode_rlp
from sequencer.errors import DecodeError

CID = b"\x07" * 16
KEY = b"\x09" * 32


def singular(ts: int) -> bytes:
    return encode_batch(SingularBatch(b"\x01" * 32, 3, b"\x02" * 32, ts, (b"\xc0",)))


def channel_of(items: list[bytes]) -> bytes:
    """A zlib channel whose stream holds `items` as RLP strings, whatever they contain."""
    return zlib.compress(encode_batch_stream(items))


def payload(channel: bytes) -> bytes:
    return encode_batcher_tx([Frame(CID, 0, channel, True)])


def span_body() -> bytes:
    """batch_version 1 ++ a real span batch of one block with one transaction."""
    blocks = [RollupBlock(0, 0, 1, b"\x01" * 32, (signed_tx(KEY, 2, 0),))]
    doc = FORMAT.decode_json(FORMAT.encode_blocks(blocks, {"chain_id": CHAIN_ID})[0], None)
    from rollup_adapters.opstack.json_view import batch_from_json

    return encode_batch(batch_from_json(doc["batches"][0]))


# (name, stream items, timestamps kept, skip stages): channel_in_reader.go NextBatch.
CASES = [
    ("all good", [singular(1), singular(3)], [1, 3], []),
    ("bad type in the middle skips the rest", [singular(1), b"\x07abc", singular(3)], [1], ["channel"]),
    ("empty batch skips the rest", [singular(1), b"", singular(3)], [1], ["channel"]),
    ("malformed singular skips the rest", [singular(1), b"\x00\xc3\x80\x80\x80", singular(3)], [1], ["channel"]),
    ("bad first batch keeps nothing", [b"\x00\xff", singular(3)], [], ["channel"]),
    ("trailing bytes after a singular batch are not read", [singular(1) + b"\xde\xad", singular(3)], [1, 3],
     ["batch"]),
]


@pytest.mark.parametrize(("name", "items", "kept", "stages"), CASES, ids=[c[0] for c in CASES])
def test_bad_batch_keeps_earlier_batches_skips_rest_of_channel(name, items, kept, stages):
    derived = derive_batches([payload(channel_of(items))])
    assert [k.batch.timestamp for k in derived.batches] == kept
    assert [s.stage for s in derived.skipped] == stages


def test_rest_of_channel_skipped_other_channels_read():
    other = encode_batcher_tx([Frame(b"\x08" * 16, 0, channel_of([singular(9)]), True)])
    derived = derive_batches([payload(channel_of([singular(1), b"\x05", singular(3)])), other])
    assert [k.batch.timestamp for k in derived.batches] == [1, 9]
    (skip,) = derived.skipped
    assert skip.where == "channel 0x" + "07" * 16 + " batch 1"
    assert "rest of the channel skipped (2 batches): batch_version: unknown batch type 5" in skip.reason


def test_trailing_bytes_after_a_span_batch_are_ignored():
    """RawSpanBatch.decode stops after the txs; strict decode_span_batch still refuses them."""
    span = span_body()
    batch, trailing = decode_channel_batch(span + b"\x00\x01\x02")
    assert trailing == 3 and batch == decode_channel_batch(span)[0]
    with pytest.raises(DecodeError, match="3 leftover bytes"):
        decode_span_batch(span[1:] + b"\x00\x01\x02")
    derived = derive_batches([payload(channel_of([span + b"\xff" * 5, singular(9)]))])
    assert len(derived.batches) == 2
    assert derived.skipped[0].reason == "5 trailing bytes after the batch ignored (batch.go decodeTyped)"
    doc = FORMAT.decode_json(span[1:] + b"\xaa", "span-batch")
    assert doc["batches"][0]["type"] == "span" and "1 trailing bytes" in doc["skipped"][0]["reason"]


def test_span_batch_whose_txs_do_not_derive_is_dropped_alone():
    """ReadTxData only frames tx_data; its fields fail in DeriveSpanBatch, which drops just that batch."""
    span = span_body()
    at = span.index(bytes([0x02, 0xF8])) if bytes([0x02, 0xF8]) in span else span.index(b"\x02", 1 + 42 + 3 + 64 + 20)
    bad = span[:at] + b"\x03" + span[at + 1 :]  # type 3 (blob) cannot be in a span batch
    derived = derive_batches([payload(channel_of([bad, singular(9)]))])
    assert [k.batch.timestamp for k in derived.batches if isinstance(k.batch, SingularBatch)] == [9]
    assert len(derived.batches) == 1
    assert derived.skipped[0].stage == "batch" and "do not derive" in derived.skipped[0].reason


def test_json_says_what_was_skipped_and_why(tmp_path, capsys):
    from rollup_adapters.cli import main

    path = tmp_path / "tx.bin"
    path.write_bytes(payload(channel_of([singular(1), b"\x00\x80", singular(3)])))
    assert main(["batch", "decode", "--format", "opstack", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [b["timestamp"] for b in doc["batches"]] == [1]
    assert doc["skipped"] == [{"stage": "channel", "where": "channel 0x" + "07" * 16 + " batch 1",
                               "reason": "rest of the channel skipped (2 batches): singular_batch: expected an "
                                         "RLP list, got a byte string"}]


def test_unparsable_payload_skipped_whole_by_the_frame_queue():
    good = payload(channel_of([singular(1)]))
    derived = derive_batches([good[:-1] + b"\x02", good])
    assert len(derived.batches) == 1 and derived.skipped[0].stage == "batcher-tx"
    with pytest.raises(DecodeError, match="is_last"):
        derive_batches([good[:-1] + b"\x02"], strict_payloads=True)


def test_truncated_stream_between_batches_is_not_reported_as_a_skip():
    stream = encode_batch_stream([singular(1), singular(3)])
    cut = zlib.compressobj()
    data = cut.compress(stream) + cut.flush(zlib.Z_SYNC_FLUSH)  # no end marker
    derived = derive_batches([payload(data)])
    assert len(derived.batches) == 2 and derived.skipped == ()
    part = encode_rlp(singular(5))[:-3]
    derived = derive_batches([payload(zlib.compress(stream + part)[:-6])])
    assert len(derived.batches) == 2


CONTEXTS = [DEFAULT_CONTEXT, ForkContext(OP_MAINNET, OP_MAINNET.activation("canyon")),
            ForkContext(OP_MAINNET, OP_MAINNET.activation("fjord") - 1), ForkContext(OP_SEPOLIA, 1732633200)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=4), st.sampled_from(CONTEXTS))
def test_fuzz_derive_never_raises(payloads, ctx):
    """Every drop is a Skip: derive_batches never raises on hostile batcher data."""
    derived = derive_batches(payloads, ctx)
    assert all(s.reason for s in derived.skipped)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=5), st.sampled_from(CONTEXTS))
def test_fuzz_channel_items_only_skips(items, ctx):
    """Arbitrary RLP strings in a valid channel: batches kept or skipped, never an exception."""
    items = [bytes([b[0] % 3]) + b[1:] if b else b for b in items]
    derived = derive_batches([payload(channel_of(items))], ctx)
    assert len(derived.batches) <= len(items)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["batcher-tx", "frame", "channel", "span-batch"]),
       st.sampled_from(CONTEXTS))
def test_fuzz_decode_json_with_forks(data, layer, ctx):
    try:
        json.dumps(FORMAT.decode_json(data, layer, {"rollup_config": ctx.config, "l1_timestamp": ctx.l1_time}))
    except DecodeError:
        pass
