"""The gRPC floor: a bare grpc.aio server with the sequencer's method names and message shapes.

It parses each request as the sequencer would and answers with a response of the same shape (one
receipt per transaction, with an audit path and a 65-byte signature of the sizes the sequencer's
receipts carry), and nothing else: no admission, no log, no signing. Run by the benchmark as a
process of its own: `python -m sequencer.bench.echo` prints its port, serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sharedseq.v1 import sequencer_pb2 as pb

RECEIPT = pb.Receipt(rollup_id=901, tx_hash=b"\x11" * 32, height=12345, index=17, leaf_index=17, batch_count=64,
                     path=[b"\x22" * 32] * 6, batch_signature=b"\x33" * 65)
"""A receipt as large as one from a group commit of 64."""


def answer(req: pb.StreamSubmitRequest) -> pb.StreamSubmitResponse:
    resp = pb.StreamSubmitResponse(request_id=req.request_id)
    which = req.WhichOneof("item")
    if which == "transaction":
        resp.receipts.append(RECEIPT)
    elif which == "bundle":
        resp.receipts.extend([RECEIPT] * len(req.bundle.legs))
    elif which == "transactions":
        for _ in req.transactions.transactions:
            resp.results.add().receipt.CopyFrom(RECEIPT)
    return resp


async def stream_submit(requests: AsyncIterator[pb.StreamSubmitRequest], context: Any) -> AsyncIterator[Any]:
    async for req in requests:
        yield answer(req)


async def submit_transaction(req: pb.SubmitTransactionRequest, context: Any) -> pb.SubmitTransactionResponse:
    return pb.SubmitTransactionResponse(receipt=RECEIPT)


async def serve() -> None:
    handler = grpc.method_handlers_generic_handler("sharedseq.v1.SequencerService", {
        "StreamSubmit": grpc.stream_stream_rpc_method_handler(
            stream_submit, request_deserializer=pb.StreamSubmitRequest.FromString,
            response_serializer=pb.StreamSubmitResponse.SerializeToString),
        "SubmitTransaction": grpc.unary_unary_rpc_method_handler(
            submit_transaction, request_deserializer=pb.SubmitTransactionRequest.FromString,
            response_serializer=pb.SubmitTransactionResponse.SerializeToString),
    })
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
