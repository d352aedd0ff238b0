"""Hostile clients against a real grpc.aio server on 127.0.0.1 (issue 9, findings 1, 2 and 4).

Each test plays the attacker the issue describes and asserts the protection: every StreamSubmit
request answered, in order, exactly once; malformed bytes answered INVALID_ARGUMENT; oversized
requests refused before any work; a client that stops reading cut off with RESOURCE_EXHAUSTED.
The memory bounds themselves are measured on a server subprocess in test_hostile_memory.py."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import grpc
import pytest
from seq_helpers import make_config

from sequencer.core.hashing import keccak
from sequencer.server import running
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(240)]

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
ANSWER_DEADLINE_S = 30.0
"""A stream that has not answered by then has lost an answer (the bug answered never)."""


def tx(rid: int, payload: bytes) -> pb.Transaction:
    return pb.Transaction(rollup_id=rid, payload=payload)


async def answers(stub: pb_grpc.SequencerServiceStub, requests: list[pb.StreamSubmitRequest]
                  ) -> list[pb.StreamSubmitResponse]:
    """Send `requests` on one stream; every answer, or fail if the stream stops answering."""

    async def gen() -> AsyncIterator[pb.StreamSubmitRequest]:
        for r in requests:
            yield r

    out: list[pb.StreamSubmitResponse] = []
    with anyio.fail_after(ANSWER_DEADLINE_S):
        async for resp in stub.StreamSubmit(gen()):
            out.append(resp)
    return out


@pytest.fixture
async def stub(tmp_path):
    async with running(make_config(tmp_path)) as srv:
        channel = grpc.aio.insecure_channel(srv.address)
        yield pb_grpc.SequencerServiceStub(channel)
        await channel.close()


# -- finding 1: a list that admits nothing is answered, and so is everything after it ----------------


async def test_lists_that_admit_nothing_are_answered_in_order(stub, tx_for: Callable[[int], bytes]) -> None:
    dup = tx_for(901)
    first = await answers(stub, [pb.StreamSubmitRequest(request_id=1, transaction=tx(901, dup))])
    assert first[0].receipts and first[0].receipts[0].tx_hash == keccak(dup)
    nothing = [
        pb.TransactionList(),  # empty
        pb.TransactionList(transactions=[tx(901, dup), tx(901, dup)]),  # all resubmissions: the original receipt
        pb.TransactionList(transactions=[tx(901, b"\x02junk"), tx(902, b"")]),  # all invalid
        pb.TransactionList(transactions=[tx(4242, tx_for(901)), tx(4243, tx_for(901))]),  # all unknown rollup
    ]
    requests = []
    for i, tl in enumerate(nothing):
        requests.append(pb.StreamSubmitRequest(request_id=10 + 2 * i, transactions=tl))
        # A valid transaction after each: admitted and sealed, so its answer must arrive too.
        requests.append(pb.StreamSubmitRequest(request_id=11 + 2 * i, transaction=tx(902, tx_for(902))))
    requests.append(pb.StreamSubmitRequest(request_id=99))  # no item at all
    got = await answers(stub, requests)
    assert [r.request_id for r in got] == [r.request_id for r in requests]
    assert got[-1].error.code == INVALID and "neither a transaction" in got[-1].error.message
    for resp, req in zip(got[:-1], requests[:-1], strict=True):
        if req.WhichOneof("item") == "transactions" and req.request_id == 12:
            assert [(res.already_admitted, res.receipt) for res in resp.results] == [(True, first[0].receipts[0])] * 2
        elif req.WhichOneof("item") == "transactions":
            assert len(resp.results) == len(req.transactions.transactions)
            assert all(res.HasField("error") and not res.HasField("receipt") for res in resp.results)
        else:
            assert len(resp.receipts) == 1 and resp.receipts[0].tx_hash == keccak(req.transaction.payload)


async def test_empty_list_is_answered_while_the_writer_is_busy(stub, tx_for: Callable[[int], bytes]) -> None:
    requests = []
    for i in range(45):
        if i % 3 == 0:
            requests.append(pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList()))
        else:
            txs = [tx(901, tx_for(901)) for _ in range(8)]
            requests.append(pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=txs)))
    got = await answers(stub, requests)
    assert [r.request_id for r in got] == list(range(45))
    assert all(len(r.results) == (0 if r.request_id % 3 == 0 else 8) for r in got)


# -- finding 4: malformed input --------------------------------------------------------------------

SERVICE = "/sharedseq.v1.SequencerService/"
GARBAGE = b"\xff\xff\xff"  # a truncated varint key: not protobuf at all


async def raw_unary(channel: grpc.aio.Channel, method: str, raw: bytes) -> grpc.aio.AioRpcError:
    call = channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        with anyio.fail_after(ANSWER_DEADLINE_S):
            await call(raw)
    return info.value


@pytest.fixture
async def srv(tmp_path):
    # Every client here is 127.0.0.1: per-client limits off, so what is tested is the API's own bounds.
    cfg = make_config(tmp_path, max_list_items=256, max_answer_bytes=1 << 20, stream_window_bytes=1 << 20,
                      stream_stall_timeout_s=1.0, rate_limit_tx_per_s=0, rate_limit_bytes_per_s=0,
                      max_streams_per_client=0, client_share=0)
    async with running(cfg) as server:
        yield server


async def test_undecodable_requests_get_invalid_argument_not_unknown(srv) -> None:
    async with grpc.aio.insecure_channel(srv.address) as channel:
        for method in ("SubmitTransaction", "SubmitBundle", "GetBlock", "GetTransaction", "SubscribeBlocks"):
            if method == "SubscribeBlocks":
                call = channel.unary_stream(SERVICE + method, request_serializer=None, response_deserializer=None)
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    with anyio.fail_after(ANSWER_DEADLINE_S):
                        async for _ in call(GARBAGE):
                            pass
                err = info.value
            else:
                err = await raw_unary(channel, method, GARBAGE)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err)
            assert "not valid protobuf" in (err.details() or "") and "class" not in (err.details() or "")


async def test_health_and_reflection_answer_garbage_with_invalid_argument(srv) -> None:  # noqa: ANN001
    """Health and reflection use the generated deserializers, which raise: grpc.aio answered that
    UNKNOWN ("Unexpected error ... DecodeError"). Each call now gets INVALID_ARGUMENT naming the
    message type; a reflection stream answers what came before the garbage, then ends so."""
    from grpc_health.v1 import health_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    async with grpc.aio.insecure_channel(srv.address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None,
                                    response_deserializer=health_pb2.HealthCheckResponse.FromString)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            with anyio.fail_after(ANSWER_DEADLINE_S):
                await check(GARBAGE)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
        assert "not valid protobuf for grpc.health.v1.HealthCheckRequest" in (info.value.details() or "")
        ok = await check(health_pb2.HealthCheckRequest(service="").SerializeToString())
        assert ok.status == health_pb2.HealthCheckResponse.SERVING  # a valid request is served as before
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=None,
                                     response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            with anyio.fail_after(ANSWER_DEADLINE_S):
                async for _ in watch(GARBAGE):
                    pass
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
        for version in ("v1alpha", "v1"):
            call = channel.stream_stream(f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                                         request_serializer=None,
                                         response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)

            async def gen() -> AsyncIterator[bytes]:
                yield reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
                yield GARBAGE

            got = []
            with pytest.raises(grpc.aio.AioRpcError) as info:
                with anyio.fail_after(ANSWER_DEADLINE_S):
                    async for resp in call(gen()):
                        got.append(resp)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (version, info.value)
            assert "not valid protobuf" in (info.value.details() or "") and "class" not in info.value.details()
            names = [s.name for s in got[0].list_services_response.service]  # answered before the garbage
            assert "sharedseq.v1.SequencerService" in names and "grpc.health.v1.Health" in names


async def test_garbage_mid_stream_is_answered_in_its_place(srv, tx_for: Callable[[int], bytes]) -> None:
    valid = [tx_for(901), tx_for(902), tx_for(903)]
    messages = [
        pb.StreamSubmitRequest(request_id=1, transaction=tx(901, valid[0])).SerializeToString(),
        GARBAGE,
        pb.StreamSubmitRequest(request_id=3, transactions=pb.TransactionList(transactions=[tx(902, valid[1])]))
        .SerializeToString(),
        b"\x08\x04\x12\x03\x08\xff\xff",  # request_id 4, then a Transaction cut short
        pb.StreamSubmitRequest(request_id=5, bundle=pb.Bundle(legs=[tx(903, valid[2])])).SerializeToString(),
    ]
    async with grpc.aio.insecure_channel(srv.address) as channel:
        call = channel.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                                     response_deserializer=pb.StreamSubmitResponse.FromString)

        async def gen() -> AsyncIterator[bytes]:
            for m in messages:
                yield m

        got = []
        with anyio.fail_after(ANSWER_DEADLINE_S):
            async for resp in call(gen()):
                got.append(resp)
    assert [r.request_id for r in got] == [1, 0, 3, 4, 5]  # the garbage has no readable id: 0
    assert got[0].receipts[0].tx_hash == keccak(valid[0])  # sealed before the garbage, and answered
    assert got[2].results[0].receipt.tx_hash == keccak(valid[1])
    assert got[4].receipts[0].tx_hash == keccak(valid[2])
    for bad in (got[1], got[3]):
        assert bad.error.code == INVALID
        assert not bad.receipts and not bad.results


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts transactions converted from protobuf: a request refused before any work converts none."""
    from sequencer.service import convert

    calls: list[int] = []
    real = convert.transaction_from_proto

    def counting(msg: pb.Transaction, what: str = "transaction") -> object:
        calls.append(1)
        return real(msg, what)

    monkeypatch.setattr(convert, "transaction_from_proto", counting)
    return calls


async def test_a_400000_leg_bundle_is_refused_before_any_work(srv, conversions: list[int]) -> None:
    legs = [pb.Transaction(rollup_id=901, payload=b"\x01")] * 400_000
    bundle = pb.Bundle(legs=legs)
    async with grpc.aio.insecure_channel(srv.address) as channel:
        stub = pb_grpc.SequencerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=bundle))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_bundle_legs" in (info.value.details() or "")
        got = await answers(stub, [pb.StreamSubmitRequest(request_id=9, bundle=bundle)])
    assert got[0].request_id == 9 and got[0].error.code == EXHAUSTED and "max_bundle_legs" in got[0].error.message
    assert conversions == []  # not one leg was converted (the bug hashed all 400,000 first)
    assert srv.servicer.requests.used == 0


def empty_items_list(request_id: int, n: int) -> bytes:
    """A StreamSubmitRequest, serialized by hand: a TransactionList of `n` empty items (2 bytes each)."""
    body = b"\x0a\x00" * n
    length = bytearray()
    m = len(body)
    while True:
        length.append((m & 0x7F) | (0x80 if m > 0x7F else 0))
        m >>= 7
        if not m:
            break
    return pb.StreamSubmitRequest(request_id=request_id).SerializeToString() + b"\x22" + bytes(length) + body


async def test_a_4mb_list_of_garbage_is_refused_whole_and_the_stream_goes_on(
        srv, conversions: list[int], tx_for: Callable[[int], bytes]) -> None:
    garbage = empty_items_list(1, 1_900_000)  # ~3.8 MB: the list that took the server to 1.2 GB
    assert pb.StreamSubmitRequest.FromString(garbage).transactions.transactions[0] == pb.Transaction()
    payload = tx_for(901)
    async with grpc.aio.insecure_channel(srv.address) as channel:
        call = channel.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                                     response_deserializer=pb.StreamSubmitResponse.FromString)

        async def gen() -> AsyncIterator[bytes]:
            yield garbage
            yield pb.StreamSubmitRequest(request_id=2, transaction=tx(901, payload)).SerializeToString()

        got = []
        with anyio.fail_after(ANSWER_DEADLINE_S):
            async for resp in call(gen()):
                got.append(resp)
    assert got[0].request_id == 1 and got[0].error.code == EXHAUSTED and "max_list_items" in got[0].error.message
    assert not got[0].results  # one small error, not 1.9 million (the bug's answer killed the stream)
    assert got[1].receipts[0].tx_hash == keccak(payload)
    assert conversions == [1]  # only the valid transaction
    assert srv.servicer.requests.used == 0 and srv.servicer.answers.used == 0


async def test_a_full_list_of_refused_items_gets_an_answer_that_fits(srv, tx_for: Callable[[int], bytes]) -> None:
    n = srv.servicer.limits.max_list_items
    # Each item refused with the longest message a refusal can carry (an unknown rollup names them all).
    items = [tx(4242 + i, b"\x02" + b"\xee" * 200) for i in range(n)]
    payload = tx_for(902)
    async with grpc.aio.insecure_channel(srv.address) as channel:
        got = await answers(pb_grpc.SequencerServiceStub(channel), [
            pb.StreamSubmitRequest(request_id=1, transactions=pb.TransactionList(transactions=items)),
            pb.StreamSubmitRequest(request_id=2, transaction=tx(902, payload)),
        ])
    assert len(got[0].results) == n and all(r.error.code for r in got[0].results)
    assert got[0].ByteSize() <= srv.servicer.limits.max_answer_bytes
    assert got[1].receipts[0].tx_hash == keccak(payload)


async def test_subscribing_far_past_the_head_is_refused_at_once(srv) -> None:
    async with grpc.aio.insecure_channel(srv.address) as channel:
        stub = pb_grpc.SequencerServiceStub(channel)
        # 100 past the limit: the head moves on while the request travels (a slot is 50 ms here).
        for start in (2**64 - 1, srv.node.durable_height + 101 + srv.servicer.limits.subscribe_max_ahead):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                with anyio.fail_after(ANSWER_DEADLINE_S):  # the bug waited here, silently, for ever
                    async for _ in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=901, from_height=start)):
                        pass
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "subscribe_max_ahead" in (info.value.details() or "")
        with anyio.fail_after(ANSWER_DEADLINE_S):  # the next height is fine: it arrives within a slot
            start = srv.node.durable_height + 1
            async for resp in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=901, from_height=start)):
                assert resp.block.signed_header.header.height == start
                break


# -- finding 2: a client that stops reading ----------------------------------------------------------


@pytest.fixture
async def small_window(tmp_path):
    """A server whose streams may owe 4 answers: a client that stops reading fills its window at once."""
    cfg = make_config(tmp_path, max_list_items=256, max_answer_bytes=1 << 20, stream_window_bytes=4 << 20,
                      stream_window=4, stream_stall_timeout_s=2.5, rate_limit_tx_per_s=0,
                      rate_limit_bytes_per_s=0, max_streams_per_client=0, client_share=0)
    async with running(cfg) as server:
        yield server


async def test_a_client_that_stops_reading_is_cut_off_and_can_resume(
        small_window, tx_for: Callable[[int], bytes]) -> None:
    srv = small_window
    limits = srv.servicer.limits
    # 256 refused items, ~230 KB a request: the "240 KB lists", sent without reading answers.
    junk = pb.TransactionList(transactions=[tx(901, b"\x02" + bytes([i]) * 900) for i in range(256)])
    read_now = threading.Event()

    def hostile() -> tuple[list[int], grpc.StatusCode, str]:
        # The blocking client: its request thread keeps writing while nobody reads (grpc.aio's client
        # would report its own failed write as INTERNAL instead of the server's status).
        # A small receive window (no bandwidth probing): the server's writes block after a few answers.
        with grpc.insecure_channel(srv.address, options=[("grpc.http2.bdp_probe", 0)]) as channel:
            def flood() -> Iterator[pb.StreamSubmitRequest]:
                for i in itertools.count():
                    if read_now.is_set():  # the test is done watching (or failed): end the stream
                        return
                    yield pb.StreamSubmitRequest(request_id=i, transactions=junk)

            answers_ = pb_grpc.SequencerServiceStub(channel).StreamSubmit(flood())
            read_now.wait(60)
            ids = []
            try:
                for resp in answers_:
                    ids.append(resp.request_id)
            except grpc.RpcError as exc:
                return ids, exc.code(), exc.details() or ""
            return ids, grpc.StatusCode.OK, ""

    peak = 0
    async with anyio.create_task_group() as tg:
        result: list[tuple[list[int], grpc.StatusCode, str]] = []

        async def run_hostile() -> None:
            result.append(await anyio.to_thread.run_sync(hostile))

        tg.start_soon(run_hostile)
        try:
            # Read nothing; watch what the server holds for the stream until it gives up on it.
            stalled_checked = False
            with anyio.fail_after(limits.stream_stall_timeout_s + 20):
                while srv.servicer.streams.cut_off == 0:
                    used = srv.servicer.answers.used
                    peak = max(peak, used)
                    assert used <= limits.stream_window_bytes
                    full = any(w.items == limits.stream_window for w in srv.servicer.streams.windows)
                    if full and not stalled_checked:
                        # Stalled on the client: the stream holds answers, never a request (whose bytes
                        # would count against every client's total_request_bytes), and others are served.
                        # The window may have filled with the request being admitted (its items are
                        # converted in a worker thread, slow on a loaded machine): wait until the
                        # reader is parked, which must happen before the stall cuts the stream off.
                        while srv.servicer.requests.used and not srv.servicer.streams.cut_off:
                            await anyio.sleep(0.01)
                        assert srv.servicer.streams.cut_off == 0, "a request was held until the cut-off"
                        assert srv.servicer.requests.used == 0
                        async with grpc.aio.insecure_channel(srv.address) as other:
                            payload = tx_for(903)
                            r = await pb_grpc.SequencerServiceStub(other).SubmitTransaction(
                                pb.SubmitTransactionRequest(transaction=tx(903, payload)))
                            assert r.receipt.tx_hash == keccak(payload)
                        stalled_checked = True
                    await anyio.sleep(0.01)
            assert stalled_checked
            # Everything the server held for the stream is given back at once, not when the client
            # reads: while the client still reads nothing. `cut_off` counts the stall as the writer
            # sees it, before the stream's task group has ended and its reservations are returned
            # (a few event-loop turns later, longer on a loaded machine: asserting right away
            # flaked under pytest -n 3), so wait for that, with a generous deadline.
            with anyio.fail_after(60):
                while srv.servicer.answers.used or srv.servicer.requests.used or srv.servicer.streams.windows:
                    await anyio.sleep(0.01)
        finally:
            read_now.set()
        assert srv.servicer.answers.used == 0 and srv.servicer.requests.used == 0
    ids, code, details = result[0]
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "stream_stall_timeout_s" in details
    assert ids == list(range(len(ids))) and len(ids) > 0  # what was written came in order, no gaps
    assert peak > 0
    # Cut off is not banned: the same client resumes on a new stream.
    async with grpc.aio.insecure_channel(srv.address) as channel:
        payload = tx_for(901)
        got = await answers(pb_grpc.SequencerServiceStub(channel),
                            [pb.StreamSubmitRequest(request_id=77, transaction=tx(901, payload))])
    assert got[0].receipts[0].tx_hash == keccak(payload)
