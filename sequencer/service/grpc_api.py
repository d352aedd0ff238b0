"""The gRPC servicer: thin. Convert the request (from_proto), call the node,
convert back (to_proto); errors become statuses in one place (errors.py).

Asyncio only (issue 10 item 5): the handlers run on grpc.aio's loop and answer through its
ServicerContext; the node they call is backend-neutral."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import grpc

from sequencer.core.types import Receipt, SharedBlock
from sequencer.errors import BadInput, NotFound, SharedSeqError
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from . import convert
from .errors import reason_of, status_of
from .limits import ApiLimits, BytePool
from .node import SequencerNode, Ticket
from .security import FLOOD_LAG_S, FLOOD_WRITER_BUSY, KEYED_BY, FloodPacer, InFlight, RateLimiter, client_identity
from .stream_submit import SubmitStreams
from .views import RollupViews

log = logging.getLogger("sharedseq.api")
T = TypeVar("T")



def _unary(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: SequencerServicer, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except SharedSeqError as exc:
            await self._abort(context, exc, submission=fn.__name__.startswith("Submit"))
            raise AssertionError("unreachable") from exc

    return wrapper


class SequencerServicer(pb_grpc.SequencerServiceServicer):
    def __init__(self, node: SequencerNode, limiter: RateLimiter | None = None,
                 views: RollupViews | None = None, limits: ApiLimits | None = None) -> None:
        self.node = node
        self.limiter = limiter or RateLimiter(0, 0)
        self.limits = limits or ApiLimits()
        self.requests = BytePool(self.limits.total_request_bytes)
        """Raw bytes of the requests being worked on (taken by the decoders, wire.py)."""
        self.answers = BytePool(self.limits.total_answer_bytes)
        """Bytes of the answers owed on all StreamSubmit streams."""
        self.inflight = InFlight(self.limits.client_inflight_txs)
        """Each client's admitted, not yet durable transactions (unary and streams together)."""
        self.pacer = FloodPacer(lambda: node.loop_lag_s > FLOOD_LAG_S or node.writer_busy() > FLOOD_WRITER_BUSY,
                                max_clients=self.limiter.max_clients)
        """Slows a client holding most of the admissions while the loop lags (streams and unary calls)."""
        self.streams = SubmitStreams(node, self.limiter, self.limits, self.answers, self.inflight, self.pacer)
        self.views = views or RollupViews(node)

    async def _abort(self, context: grpc.aio.ServicerContext, exc: BaseException, *, submission: bool) -> None:
        """End the call with the error's status; only refused submissions count as rejected
        (a batcher polling GetBlock for the next height is not a rejection)."""
        code, message = status_of(exc)
        if submission:
            self.node.metrics.rejected.labels(reason_of(exc)).inc()
        await context.abort(code, message)

    def _rollup(self, rollup_id: int) -> None:
        if rollup_id not in self.node.core.rollups:
            raise NotFound(f"unknown rollup {rollup_id}; registered: {sorted(self.node.core.rollups)}")

    # -- submission --------------------------------------------------------

    async def _admitted(self, client: str, count: int,
                        admit: Callable[[], Ticket]) -> tuple[Ticket, tuple[Receipt, ...]]:
        """Admit `count` transactions of one unary call under the client's limits, and wait until
        they are durable: paced first if the client dominates a saturated node (FloodPacer), then
        within its in-flight cap, which a resubmission (nothing new admitted) gives back at once."""
        if pause := self.pacer.delay(client):
            self.node.metrics.client_limited.labels("paced").inc()
            await anyio.sleep(pause)
        held = await self.inflight.acquire(client, count)
        try:
            ticket = admit()
            self.pacer.admitted(client, len(ticket.records))
            self.inflight.release(client, held - min(held, len(ticket.records)))
            held = min(held, len(ticket.records))
            return ticket, await ticket.wait()
        finally:
            self.inflight.release(client, held)

    @_unary
    async def SubmitTransaction(self, request: pb.SubmitTransactionRequest, context: Any) -> Any:
        client = client_identity(context)
        self.limiter.take(client)
        tx = convert.transaction_from_proto(request.transaction)
        ticket, receipts = await self._admitted(client, 1, lambda: self.node.admit_transaction(tx))
        return pb.SubmitTransactionResponse(receipt=convert.receipt_to_proto(receipts[0]),
                                            already_admitted=ticket.already_admitted)

    @_unary
    async def SubmitBundle(self, request: pb.SubmitBundleRequest, context: Any) -> Any:
        client = client_identity(context)
        self.limiter.take(client, max(1, len(request.bundle.legs)))
        bundle = convert.bundle_from_proto(request.bundle, self.streams.max_legs)
        ticket, receipts = await self._admitted(client, len(bundle.legs), lambda: self.node.admit_bundle(bundle))
        return pb.SubmitBundleResponse(receipts=convert.receipts_to_proto(receipts), bundle_hash=bundle.bundle_hash,
                                       already_admitted=ticket.already_admitted)

    async def StreamSubmit(self, request_iterator: AsyncIterator[Any], context: Any) -> None:
        await self.streams.serve(request_iterator, context)

    # -- blocks ------------------------------------------------------------

    async def SubscribeBlocks(self, request: pb.SubscribeBlocksRequest, context: Any) -> None:
        try:
            self._rollup(request.rollup_id)
            self._check_start(request.from_height)
        except SharedSeqError as exc:
            await self._abort(context, exc, submission=False)
        try:
            await self.views.subscribe(request.rollup_id, request.from_height, context)
        except SharedSeqError as exc:
            await self._abort(context, exc, submission=False)

    def _check_start(self, from_height: int) -> None:
        """A subscription may start at most `subscribe_max_ahead` blocks past the sealed height:
        one from 2**64-1 would wait, silently, for ever (issue 9, finding 4)."""
        ahead = self.limits.subscribe_max_ahead
        if from_height > self.node.durable_height + 1 + ahead:
            raise BadInput(f"from_height: {from_height} is more than {ahead} blocks past the next height "
                           f"{self.node.durable_height + 1} (subscribe_max_ahead); sealed height is "
                           f"{self.node.durable_height}")

    async def _sealed(self, height: int) -> SharedBlock:
        block = await self.node.get_block(height)
        if block is None:
            raise NotFound(f"block {height} is not sealed yet (sealed height {self.node.durable_height})")
        return block

    @_unary
    async def GetBlock(self, request: pb.GetBlockRequest, context: Any) -> Any:
        return pb.GetBlockResponse(block=convert.block_to_proto(await self._sealed(request.height)))

    @_unary
    async def GetRollupBlock(self, request: pb.GetRollupBlockRequest, context: Any) -> Any:
        self._rollup(request.rollup_id)
        view = await self.views.view(request.height, request.rollup_id)
        if view is None:
            raise NotFound(f"block {request.height} is not sealed yet (sealed height {self.node.durable_height})")
        return pb.GetRollupBlockResponse(block=view)

    @_unary
    async def GetTransaction(self, request: pb.GetTransactionRequest, context: Any) -> Any:
        tx_hash = bytes(request.tx_hash)
        if len(tx_hash) != 32:
            raise BadInput(f"tx_hash: must be 32 bytes, got {len(tx_hash)}")
        if request.rollup_id:
            self._rollup(request.rollup_id)
        found = await self.node.lookup_transaction(tx_hash, request.rollup_id or None)
        if found is None:
            on = f" on rollup {request.rollup_id}" if request.rollup_id else ""
            raise NotFound(f"transaction 0x{tx_hash.hex()} is unknown{on}")
        loc = found.location
        status = {"preconfirmed": pb.TRANSACTION_STATUS_PRECONFIRMED, "sealed": pb.TRANSACTION_STATUS_SEALED,
                  "firm": pb.TRANSACTION_STATUS_FIRM}[found.status]
        resp = pb.GetTransactionResponse(status=status, rollup_id=loc.rollup_id, height=loc.height, index=loc.index,
                                         bundle_hash=loc.bundle_hash or b"")
        if found.receipt is not None:
            resp.receipt.CopyFrom(convert.receipt_to_proto(found.receipt))
        return resp

    @_unary
    async def ListRollups(self, request: pb.ListRollupsRequest, context: Any) -> Any:
        rollups = sorted(self.node.core.rollups.values(), key=lambda r: r.rollup_id)
        return pb.ListRollupsResponse(rollups=[convert.rollup_info_to_proto(r) for r in rollups])

    @_unary
    async def GetSequencerInfo(self, request: pb.GetSequencerInfoRequest, context: Any) -> Any:
        signer = self.node.core.signer
        return pb.GetSequencerInfoResponse(
            sequencer_address=signer.address, domain_chain_id=signer.domain.chain_id,
            domain_verifying_contract=signer.domain.verifying_contract, slot_ms=self.node.core.config.slot_ms,
            sealed_height=self.node.durable_height, firm_height=self.node.firm_height,
            client_limits=pb.ClientLimits(
                keyed_by=KEYED_BY, tx_per_s=self.limiter.rate, burst=self.limiter.burst if self.limiter.rate else 0,
                max_streams=self.limiter.max_streams, max_pending_txs=self.node.shares.max_txs,
                max_pending_bytes=self.node.shares.max_bytes, bytes_per_s=self.limits.rate_limit_bytes_per_s,
                bytes_burst=self.limits.rate_limit_bytes_burst if self.limits.rate_limit_bytes_per_s else 0,
                max_inflight_txs=self.limits.client_inflight_txs),
        )
