"""The request decoders (sequencer/service/wire.py) and answer bounds (limits.py): a refusal is a
value, counts are checked on the wire before parsing, and the work done is bounded by the limit."""

from __future__ import annotations

import time

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.errors import BadInput
from sequencer.service.errors import MAX_ERROR_MESSAGE_BYTES, Refusal
from sequencer.service.limits import (
    ERROR_BOUND,
    ITEM_BOUND,
    RECEIPT_BOUND,
    BytePool,
    _widest,
    answer_bound,
    list_answer_bound,
)
from sequencer.service.wire import Held, Refused, decoder, request_caps
from sharedseq.v1 import sequencer_pb2 as pb

CAPS = request_caps(max_list_items=100, max_bundle_legs=16)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, body: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(body)) + body


def decode(raw: bytes, kind: type = pb.StreamSubmitRequest, pool: BytePool | None = None) -> Held | Refused:
    return decoder(kind, pool or BytePool(1 << 30), CAPS.get(kind))(raw)


def empty_items(n: int) -> bytes:
    """A StreamSubmitRequest whose list holds `n` empty Transaction messages (2 bytes each)."""
    return b"\x08\x07" + field(4, b"\x0a\x00" * n)


def test_a_list_at_the_cap_parses_and_one_over_is_refused_with_its_request_id() -> None:
    ok = decode(empty_items(100))
    assert isinstance(ok, Held) and len(ok.message.transactions.transactions) == 100
    over = decode(empty_items(101))
    assert isinstance(over, Refused) and over.request_id == 7
    assert over.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_list_items" in over.refusal.message


def test_counts_add_up_over_repeated_occurrences_of_the_field() -> None:
    # Protobuf merges the two lists into one of 120 items: the cap applies to the sum.
    raw = field(4, b"\x0a\x00" * 60) + field(4, b"\x0a\x00" * 60)
    assert pb.StreamSubmitRequest.FromString(raw).transactions.transactions.__len__() == 120
    assert isinstance(decode(raw), Refused)


def test_a_huge_list_is_refused_in_time_bounded_by_the_cap_not_the_input() -> None:
    raw = empty_items(2_000_000)  # 4 MB, the "list of garbage items"
    started = time.perf_counter()
    refused = decode(raw)
    took = time.perf_counter() - started
    assert isinstance(refused, Refused) and refused.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert took < 0.05  # parsing it would take ~0.1 s and ~100 MB; the scan stops at item 101


def test_bundle_legs_are_capped_for_both_bundle_requests() -> None:
    legs = b"".join(field(1, b"\x08\x01") for _ in range(400_000))
    unary = decode(field(1, legs), pb.SubmitBundleRequest)
    stream = decode(b"\x08\x09" + field(3, legs))
    for r in (unary, stream):
        assert isinstance(r, Refused) and "max_bundle_legs" in r.refusal.message
    assert isinstance(decode(field(1, legs[: 16 * 4]), pb.SubmitBundleRequest), Held)


def test_other_fields_inside_a_list_are_not_counted_as_items_but_are_bounded() -> None:
    raw = field(4, b"\x0a\x00" * 100 + b"\x10\x01" * 10)  # 100 items and 10 unknown varints
    assert isinstance(decode(raw), Held)
    assert isinstance(decode(field(4, b"\x10\x01" * 1000)), Refused)


ANY = (pb.StreamSubmitRequest, pb.SubmitTransactionRequest, pb.SubscribeBlocksRequest)


@pytest.mark.parametrize(("raw", "kinds"), [
    (b"\xff", ANY),  # truncated varint key
    (b"\x22\x05\x0a", ANY),  # length past the end
    (b"\x0b\x00", ANY),  # a group that never ends
    (b"\x08" + b"\xff" * 11, ANY),  # varint longer than 10 bytes
    (b"\x12\x03\x08\xff\xff", (pb.StreamSubmitRequest,)),  # Transaction with a truncated rollup_id
    (b"\x08\x01" * 65, (pb.StreamSubmitRequest,)),  # more top-level fields than any serializer writes
])
def test_garbage_is_a_refusal_value_with_invalid_argument(raw: bytes, kinds: tuple[type, ...]) -> None:
    for kind in kinds:
        r = decode(raw, kind)
        assert isinstance(r, Refused) and r.refusal.code == grpc.StatusCode.INVALID_ARGUMENT, (kind, raw)
        assert "Error" not in r.refusal.message and "class" not in r.refusal.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_message_or_a_refusal_never_an_exception(raw: bytes) -> None:
    pool = BytePool(1 << 20)
    r = decode(raw, pb.StreamSubmitRequest, pool)
    assert isinstance(r, Held | Refused)
    if isinstance(r, Held):
        # Whatever the scan let through is what protobuf parses, within the caps.
        assert len(r.message.transactions.transactions) <= 100 and len(r.message.bundle.legs) <= 16
        r.release()
    assert pool.used == 0


def test_the_request_pool_bounds_bytes_held_and_is_given_back() -> None:
    pool = BytePool(100)
    raw = pb.SubmitTransactionRequest(transaction=pb.Transaction(rollup_id=1, payload=b"x" * 60)).SerializeToString()
    first = decode(raw, pb.SubmitTransactionRequest, pool)
    assert isinstance(first, Held) and pool.used == len(raw)
    second = decode(raw, pb.SubmitTransactionRequest, pool)
    assert isinstance(second, Refused) and second.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "total_request_bytes" in second.refusal.message
    first.release()
    first.release()  # idempotent
    assert pool.used == 0
    third = decode(raw, pb.SubmitTransactionRequest, pool)
    assert isinstance(third, Held)
    del third  # dropped without release: given back all the same
    assert pool.used == 0


def test_answer_bounds_hold_for_the_largest_receipts_and_errors() -> None:
    widest = _widest(pb.Receipt.DESCRIPTOR)  # every field of the proto at its widest
    assert widest.ByteSize() + 6 <= RECEIPT_BOUND
    assert {f.name for f, _ in widest.ListFields()} == {f.name for f in pb.Receipt.DESCRIPTOR.fields}
    item = pb.ItemResult(receipt=widest)
    assert item.ByteSize() <= ITEM_BOUND
    refusal = Refusal.of(BadInput("é" * 1000))  # clipped on a character boundary
    assert len(refusal.message.encode()) <= MAX_ERROR_MESSAGE_BYTES
    assert pb.ItemResult(error=refusal.to_proto()).ByteSize() <= min(ITEM_BOUND, ERROR_BOUND + 6)
    n = 1000
    resp = pb.StreamSubmitResponse(request_id=2**64 - 1, results=[item] * n)
    assert resp.ByteSize() <= list_answer_bound(n)
    req = pb.StreamSubmitRequest(transactions=pb.TransactionList(transactions=[pb.Transaction()] * n))
    assert answer_bound(req) == list_answer_bound(n)
