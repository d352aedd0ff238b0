"""StreamSubmit: every request answered, in order, exactly once, within bounded memory (issue 9).

A reader admits requests in arrival order and queues what each is owed; a writer answers them in
the same order once each is durable. What is owed is bounded by the stream's window (count and
bytes, `limits.StreamWindow`) and the server-wide answer pool; a full window stops the reader, so
HTTP/2 flow control slows the client. Nothing a request contains ends the stream: bytes that do
not decode, an unknown item, a list that admits nothing, a refused bundle each get their own
answer in their place. The stream ends early only when the client takes no answer for
`stream_stall_timeout_s` (RESOURCE_EXHAUSTED, after every answer already written); a new stream
starts afresh.

Asyncio only (issue 10 item 5): the request iterator and the context are grpc.aio's (the rest is anyio).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import grpc

from sequencer.core.types import Receipt
from sequencer.errors import BadInput, Overloaded, SharedSeqError, TooLarge, leaf_exceptions
from sharedseq.v1 import sequencer_pb2 as pb

from . import convert
from .errors import Refusal
from .limits import (
    HEAD_BOUND,
    ApiLimits,
    BytePool,
    StreamWindow,
    answer_bound,
    list_answer_bound,
    receipts_answer_bound,
)
from .node import OFFLOAD_MIN_ITEMS, SequencerNode, Ticket
from .security import FloodPacer, InFlight, RateLimiter, client_identity
from .wire import Held, Refused

log = logging.getLogger("sharedseq.api")

READ_AHEAD = 16
READ_AHEAD_BYTES = 1024 * 1024
"""A stream reads at most this many requests (request bytes) ahead of the one being placed: enough to
keep a check worker busy on a stream of small requests, not enough to let one stream of 4 MB
lists hold many of them at once."""


def _transactions(req: pb.StreamSubmitRequest) -> int:
    """Transactions a request asks to admit, from its counts (what the InFlight cap holds)."""
    which = req.WhichOneof("item")
    if which == "transactions":
        return len(req.transactions.transactions)
    if which == "bundle":
        return len(req.bundle.legs)
    return 1 if which == "transaction" else 0


def _client_gone(exc: BaseException) -> bool:
    """A write to, or a hand-off within, a call the client already left (cancelled, disconnected)."""
    return isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError) or type(exc).__name__ in (
        "ExecuteBatchError", "UsageError", "InvalidStateError")


@dataclass(slots=True)
class ListTicket:
    """A TransactionList's admission: one durability ticket, one result per item."""

    ticket: Ticket
    results: list[int | Refusal]


@dataclass(slots=True)
class _Started:
    """A request whose admission is under way: `place` finishes it, in request order."""

    place: Callable[[], Awaitable[Ticket | ListTicket]]
    request: Held | None = None
    """Its bytes, held in the request pool until it is placed."""


@dataclass(slots=True)
class _Owed:
    """What the writer owes one request: its id, what to answer with, and the bytes reserved for it."""

    request_id: int
    item: Ticket | ListTicket | Refusal | _Started
    reserved: int
    inflight: int = 0
    """Transactions held in the client's InFlight cap until this answer's records are durable."""


class SubmitStreams:
    """Serves every StreamSubmit call of one server; `answers` is shared by all of them."""

    def __init__(self, node: SequencerNode, limiter: RateLimiter, limits: ApiLimits, answers: BytePool,
                 inflight: InFlight | None = None, pacer: FloodPacer | None = None) -> None:
        self.node = node
        self.pacer = pacer or FloodPacer(lambda: False, enabled=False)
        self.limiter = limiter
        self.inflight = inflight or InFlight(0)
        self.limits = limits
        self.answers = answers
        self.max_legs = min(node.core.config.limits.max_bundle_legs, node.core.config.limits.max_block_txs)
        self.largest = min(limits.max_answer_bytes, max(list_answer_bound(limits.max_list_items),
                                                        receipts_answer_bound(self.max_legs)))
        """The largest answer bound a request can be given (larger ones are refused whole)."""
        self.cut_off = 0
        self.windows: set[StreamWindow] = set()
        """The open streams' windows (what each owes: metrics and tests read them)."""
        """Streams ended because their client took no answers for stream_stall_timeout_s."""

    def _refuse(self, exc: SharedSeqError) -> Refusal:
        self.node.metrics.rejected.labels(Refusal.of(exc).reason).inc()
        return Refusal.of(exc)

    async def serve(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        client = client_identity(context)
        window = StreamWindow(self.limits.stream_window, self.limits.stream_window_bytes)
        self.windows.add(window)
        # Unbounded as a queue: the window above is the bound, in bytes as well as in count. An
        # asyncio queue, not an anyio memory stream: a tenth of the cost per message (this module
        # is asyncio-only anyway); None after the last request.
        owed_queue: asyncio.Queue[_Owed | None] = asyncio.Queue()
        end: list[Refusal] = []
        held = [0]  # InFlight transactions taken by this stream and not given back yet

        pacer = self.pacer

        # Read, then placed in the same order by `placer` (a request's checks may still be under
        # way in a check worker when the next one is read), then answered by `writer`.
        placing: asyncio.Queue[_Owed | None] = asyncio.Queue()
        ahead = [0, 0]  # requests read and not placed yet, and their bytes
        caught_up: list[anyio.Event | None] = [None]  # set by the placer when the reader waits on `ahead`

        async def reader() -> None:
            try:
                await read_all()
            finally:
                placing.put_nowait(None)

        async def placer() -> None:
            try:
                while (owed := await placing.get()) is not None:
                    if isinstance(owed.item, _Started):
                        request = owed.item.request
                        held[0] -= await self._place(owed, client)
                        if request is not None:  # counted in `ahead` when read
                            ahead[0] -= 1
                            ahead[1] -= request.nbytes
                        if (ev := caught_up[0]) is not None:
                            caught_up[0] = None
                            ev.set()
                    owed_queue.put_nowait(owed)
            finally:
                owed_queue.put_nowait(None)

        async def read_all() -> None:
            stream = aiter(requests)
            while True:
                # A client holding most of the admissions while the loop lags waits before
                # its next request is read (security.FloodPacer): flow control slows it.
                if pause := pacer.delay(client):
                    self.node.metrics.client_limited.labels("paced").inc()
                    await anyio.sleep(pause)
                # Room for the largest answer first, then read: a request is never held (its
                # bytes in the request pool) while its stream waits on a client that does not read.
                await window.wait_room(self.largest)
                # And at most READ_AHEAD requests (READ_AHEAD_BYTES) ahead of their placement: the
                # next one is read while this one's checks run, not while a hundred do.
                while ahead[0] >= READ_AHEAD or ahead[1] >= READ_AHEAD_BYTES:
                    caught_up[0] = ev = anyio.Event()
                    await ev.wait()
                try:
                    request = await anext(stream)
                except StopAsyncIteration:
                    return
                owed: _Owed | None = None
                try:
                    owed = await self._take(request, client, window)
                finally:
                    if isinstance(request, Held):
                        if owed is not None and isinstance(owed.item, _Started):
                            owed.item.request = request  # its bytes stay held until it is placed (_place)
                            ahead[0] += 1
                            ahead[1] += request.nbytes
                        else:
                            request.release()
                held[0] += owed.inflight
                placing.put_nowait(owed)

        writing: list[float | None] = [None]  # when the write in progress began (loop time)

        async def writer() -> None:
            while (owed := await owed_queue.get()) is not None:
                resp = await self._answer(owed)
                # Durable (or failed) now: the client may admit more, even before it reads this.
                self.inflight.release(client, owed.inflight)
                held[0] -= owed.inflight
                size = resp.ByteSize()
                # From here the answer itself is what is held: count its real size.
                window.resize(size - owed.reserved)
                self.answers.used += size - owed.reserved
                owed.reserved = size
                writing[0] = anyio.current_time()
                await context.write(resp)
                writing[0] = None
                window.release(owed.reserved)
                self.answers.release(owed.reserved)

        async def watchdog(cancel: anyio.CancelScope) -> None:
            """Cut the stream off once one write has waited stream_stall_timeout_s for the client
            (a timer per stream, not a cancel scope per write: one of those cost the loop about a
            tenth of a single-transaction message, issue 13). What the stalled write held is
            given back with the rest of the window when the stream ends."""
            stall_s = self.limits.stream_stall_timeout_s
            while True:
                await anyio.sleep(stall_s / 10)
                began = writing[0]
                if began is not None and anyio.current_time() - began >= stall_s:
                    break
            self.cut_off += 1
            log.warning("StreamSubmit from %s cut off: no answer taken for %g s, %d owed", client, stall_s,
                        window.items)
            end.append(Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, (
                f"stream closed: the client took no answer for {stall_s:g} s with {window.items} owed "
                "(stream_stall_timeout_s); resubmit what is unanswered on a new stream")))
            cancel.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                tg.start_soon(placer)

                async def answer_all() -> None:
                    await writer()
                    tg.cancel_scope.cancel()  # every answer written: the watchdog has nothing to watch

                tg.start_soon(answer_all)
                tg.start_soon(watchdog, tg.cancel_scope)
        except Exception as exc:  # one boundary: log the real error, answer a status
            if context.cancelled() or context.done() or all(_client_gone(leaf) for leaf in leaf_exceptions(exc)):
                log.debug("StreamSubmit from %s ended by the client: %s", client, leaf_exceptions(exc)[0])
                return
            for leaf in leaf_exceptions(exc):
                if isinstance(leaf, SharedSeqError):
                    end.append(Refusal.of(leaf))
                else:
                    log.error("StreamSubmit failed: %s: %s", type(leaf).__name__, leaf, exc_info=leaf)
                    end.append(Refusal(grpc.StatusCode.INTERNAL, "internal error"))
        finally:
            while not placing.empty():  # read and never placed (the stream ended first)
                left = placing.get_nowait()
                if left is not None and isinstance(left.item, _Started) and left.item.request is not None:
                    left.item.request.release()
            self.inflight.release(client, held[0])  # owed answers never reached (cut off, client gone)
            self.windows.discard(window)
            self.answers.release(window.bytes)  # what was reserved for answers never written
        if end and not context.done():
            await context.abort(end[0].code, end[0].message)

    async def _take(self, held: Held | Refused, client: str, window: StreamWindow) -> _Owed:
        """Bound, reserve, then admit: the limits are checked before any work on the request."""
        if isinstance(held, Refused):
            self.node.metrics.rejected.labels(held.refusal.reason).inc()
            await window.reserve(HEAD_BOUND)
            self.answers.used += HEAD_BOUND
            return _Owed(held.request_id, held.refusal, HEAD_BOUND)
        req: pb.StreamSubmitRequest = held.message
        bound = answer_bound(req)
        refusal: Refusal | None = None
        if bound > self.limits.max_answer_bytes:
            refusal = self._refuse(TooLarge(f"request: its answer could be {bound} bytes, over the "
                                            f"{self.limits.max_answer_bytes}-byte limit (max_answer_bytes)"))
        else:
            await window.reserve(bound)
            if self.answers.try_take(bound):
                txs = await self.inflight.acquire(client, _transactions(req))
                try:
                    started = self._start(req, client)
                except SharedSeqError as exc:
                    self.inflight.release(client, txs)
                    return _Owed(req.request_id, self._refuse(exc), bound)
                except BaseException:
                    self.inflight.release(client, txs)
                    raise
                return _Owed(req.request_id, started, bound, txs)
            window.release(bound)
            refusal = self._refuse(Overloaded(
                "server busy: answers owed on all streams are at total_answer_bytes; retry shortly"))
        await window.reserve(HEAD_BOUND)
        self.answers.used += HEAD_BOUND
        return _Owed(req.request_id, refusal, HEAD_BOUND)

    def _start(self, req: pb.StreamSubmitRequest, client: str) -> _Started:
        """Start admitting the request's transactions (their checks may go to a check worker); the
        placer finishes it in request order."""
        which = req.WhichOneof("item")
        if which == "transaction":
            self.limiter.take(client)
            return _Started(self.node.start_transaction(convert.transaction_from_proto(req.transaction)))
        if which == "bundle":
            self.limiter.take(client, max(1, len(req.bundle.legs)))
            bundle = convert.bundle_from_proto(req.bundle, self.max_legs)

            async def place_bundle() -> Ticket:
                return self.node.admit_bundle(bundle)
            return _Started(place_bundle)
        if which == "transactions":
            items = req.transactions.transactions
            if len(items) > self.limits.max_list_items:
                raise TooLarge(f"transactions: {len(items)} items, over the limit of {self.limits.max_list_items}")
            self.limiter.take(client, max(1, len(items)))
            check = self.node.check_list(items, convert.list_item_from_proto)

            async def place_list() -> ListTicket:
                return ListTicket(*await self.node.admit_checked(check, part=self.limits.client_inflight_txs))
            return _Started(place_list)
        raise BadInput("item: neither a transaction, a bundle nor a transaction list")

    async def _place(self, owed: _Owed, client: str) -> int:
        """Finish a started admission (its ticket; the receipts come once durable). Returns the
        InFlight transactions given back: only what was admitted now waits for a commit, refused
        items and resubmissions are given back at once."""
        started = owed.item
        assert isinstance(started, _Started)
        txs = owed.inflight
        try:
            item = await started.place()
        except SharedSeqError as exc:
            self.inflight.release(client, txs)
            owed.item, owed.inflight = self._refuse(exc), 0
            return txs
        finally:
            if started.request is not None:
                started.request.release()
        admitted = len(item.records if isinstance(item, Ticket) else item.ticket.records)
        self.pacer.admitted(client, admitted)
        keep = min(txs, admitted)
        self.inflight.release(client, txs - keep)
        owed.item, owed.inflight = item, keep
        return txs - keep

    async def _answer(self, owed: _Owed) -> pb.StreamSubmitResponse:
        resp = pb.StreamSubmitResponse(request_id=owed.request_id)
        item = owed.item
        if isinstance(item, Refusal):
            resp.error.CopyFrom(item.to_proto())
            return resp
        assert not isinstance(item, _Started)  # the placer finished it
        try:
            receipts = await (item.wait() if isinstance(item, Ticket) else item.ticket.wait())
        except SharedSeqError as exc:  # the log could not persist them: nothing was admitted
            resp.error.CopyFrom(Refusal.of(exc).to_proto())
            return resp
        if isinstance(item, Ticket):
            resp.receipts.extend(convert.receipts_to_proto(receipts))
            resp.already_admitted = item.already_admitted
            return resp
        if len(item.results) >= OFFLOAD_MIN_ITEMS:  # a few ms for a long list: not one step of the loop
            return await self.node.off_loop(self._list_answer, resp, item, receipts)
        return self._list_answer(resp, item, receipts)

    def _list_answer(self, resp: pb.StreamSubmitResponse, item: ListTicket, receipts: tuple[Receipt, ...]
                     ) -> pb.StreamSubmitResponse:
        """A list's answer: one result per item, in order (any thread)."""
        new = len(item.ticket.records)  # results past the new receipts are resubmissions (node.admit_list)
        for r in item.results:
            if isinstance(r, Refusal):
                self.node.metrics.rejected.labels(r.reason).inc()
                resp.results.add().error.CopyFrom(r.to_proto())
            else:
                result = resp.results.add(already_admitted=r >= new)
                result.receipt.CopyFrom(convert.receipt_to_proto(receipts[r]))
        return resp
