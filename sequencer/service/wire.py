"""Request decoding at the gRPC boundary: a refusal is a value, and repeated fields are counted on
the wire before anything is parsed.

grpc.aio calls a request deserializer before any handler runs; one that raises ends the call with
UNKNOWN and the exception's class name (and, mid-stream, kills the stream and the answers still
owed on it). These decoders never raise: bytes that are not the request, or that carry more list
items or bundle legs than the limits allow, become a `Refused` value the handler answers with
INVALID_ARGUMENT or RESOURCE_EXHAUSTED (issue 9, finding 4).

Counting first matters because parsing is where the memory goes: 4 MB of two-byte empty
`Transaction` items parse into 2 million messages (about 100 MB, 0.12 s on the event loop) and
each Python wrapper then costs ~200 bytes more. The scan below reads the protobuf wire format
(https://protobuf.dev/programming-guides/encoding/) just far enough to count:

    message  = *field
    field    = key value            key = varint (field_number << 3 | wire_type)
    value    = varint (type 0) | 8 bytes (type 1) | varint length ++ bytes (type 2) | 4 bytes (type 5)

Protobuf merges repeated occurrences of a message field, so counts are summed over every
occurrence; it stops one past the limit, so its cost is bounded by the limit, not by the input.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from sharedseq.v1 import sequencer_pb2 as pb

from .errors import Refusal
from .limits import BytePool

MAX_TOP_LEVEL_FIELDS = 64
"""Fields at a request's top level. A serializer writes each of ours once (at most 3 are set);
past this the scan would cost time in proportion to the input, so the request is refused."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A request refused while decoding: its request_id (0 if none could be read), why, and its size
    on the wire (a refused request's bytes count against its client's byte rate all the same)."""

    request_id: int
    refusal: Refusal
    size: int = 0


@dataclass(frozen=True, slots=True)
class Caps:
    """Entries allowed inside nested message fields: field number -> (field path, cap, limit name)."""

    fields: dict[int, tuple[str, int, str]]


class _Malformed(Exception):
    """The wire scan hit something that is not protobuf (internal to this module)."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(f"varint longer than 10 bytes at byte {pos}")


def _skip(buf: bytes, wire_type: int, pos: int, end: int) -> tuple[int, int | None]:
    """Skip one value; returns the new position and, for varints, the value."""
    if wire_type == 0:
        value, pos = _varint(buf, pos, end)
        return pos, value
    if wire_type == 1:
        pos += 8
    elif wire_type == 5:
        pos += 4
    elif wire_type == 2:
        n, pos = _varint(buf, pos, end)
        pos += n
    else:
        raise _Malformed(f"wire type {wire_type} at byte {pos} (groups are not used by this API)")
    if pos > end:
        raise _Malformed(f"field runs past the end of its message at byte {end}")
    return pos, None


def _count_items(buf: bytes, pos: int, end: int, cap: int) -> int:
    """Field-1 entries (the repeated items) in buf[pos:end], one message; stops at cap + 1.
    Other fields are skipped, up to MAX_TOP_LEVEL_FIELDS of them, so the walk stays bounded."""
    items = others = 0
    while pos < end and items <= cap:
        key, pos = _varint(buf, pos, end)
        pos, _ = _skip(buf, key & 7, pos, end)
        if key >> 3 == 1:
            items += 1
        else:
            others += 1
            if others > MAX_TOP_LEVEL_FIELDS:
                raise _Malformed(f"more than {MAX_TOP_LEVEL_FIELDS} unexpected fields in one list")
    return items


def scan(buf: bytes, caps: Caps) -> tuple[int, Refusal | None]:
    """The request_id (field 1, if a varint) and the refusal, if the counts or the wire format say no."""
    request_id = 0
    counts: dict[int, int] = {}
    pos, end, fields = 0, len(buf), 0
    try:
        while pos < end:
            fields += 1
            if fields > MAX_TOP_LEVEL_FIELDS:
                return request_id, Refusal(grpc.StatusCode.INVALID_ARGUMENT,
                                           f"request: more than {MAX_TOP_LEVEL_FIELDS} top-level fields")
            key, pos = _varint(buf, pos, end)
            number, wire_type = key >> 3, key & 7
            counted = caps.fields.get(number)
            if counted is not None and wire_type == 2:
                length, start = _varint(buf, pos, end)
                pos = start + length
                if pos > end:
                    raise _Malformed(f"field {number} runs past the end of the request")
                path, cap, limit = counted
                counts[number] = counts.get(number, 0) + _count_items(buf, start, pos, cap - counts.get(number, 0))
                if counts[number] > cap:
                    return request_id, Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                               f"{path}: more than {cap} in one request (limit {limit})")
                continue
            pos, value = _skip(buf, wire_type, pos, end)
            if number == 1 and value is not None:
                request_id = value & 0xFFFF_FFFF_FFFF_FFFF
    except _Malformed as exc:
        return request_id, Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"request: not valid protobuf ({exc})")
    return request_id, None


class Held:
    """A decoded request and the bytes it holds in the server-wide request pool, given back by
    `release` when the handler is done with it (or, failing that, when the object is dropped)."""

    __slots__ = ("message", "nbytes", "_pool", "_size")

    def __init__(self, message: Any, pool: BytePool, size: int) -> None:
        self.message, self._pool, self._size = message, pool, size
        self.nbytes = size
        """The request's size on the wire (kept after `release`: the client's byte rate reads it)."""

    def release(self) -> None:
        self._pool.release(self._size)
        self._size = 0

    def __del__(self) -> None:
        if self._size:
            self.release()


def decoder(message: type[Any], pool: BytePool, caps: Caps | None = None) -> Callable[[bytes], Held | Refused]:
    """A request deserializer for grpc.aio: a `Held` message or a `Refused`, never an exception.

    Order is the point: count (bounded work), then take the request's bytes from the pool, then
    parse; a refused request costs its scan and nothing else."""
    name = message.DESCRIPTOR.full_name

    def decode(raw: bytes) -> Held | Refused:
        request_id = 0
        if caps is not None:
            request_id, refusal = scan(raw, caps)
            if refusal is not None:
                return Refused(request_id, refusal, len(raw))
        if not pool.try_take(len(raw)):
            return Refused(request_id, Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, (
                f"server busy: requests being worked on hold {pool.used} of {pool.capacity} bytes "
                "(total_request_bytes); retry shortly")), len(raw))
        try:
            return Held(message.FromString(raw), pool, len(raw))
        except Exception:  # protobuf's DecodeError (or a recursion limit): the bytes are not `message`
            pool.release(len(raw))
            return Refused(request_id, Refusal(grpc.StatusCode.INVALID_ARGUMENT,
                                               f"request: not valid protobuf for {name}"), len(raw))

    return decode


def request_caps(max_list_items: int, max_bundle_legs: int) -> dict[type[Any], Caps]:
    """The counted fields of the requests that carry lists (field numbers from sequencer.proto)."""
    legs = ("bundle.legs", max_bundle_legs, "max_bundle_legs")
    return {
        pb.SubmitBundleRequest: Caps({1: legs}),
        pb.StreamSubmitRequest: Caps({3: legs, 4: ("transactions.transactions", max_list_items, "max_list_items")}),
    }


class _Undecodable:
    """What a guarded deserializer returns for bytes that are not its message (never raised)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _CheckedRequests:
    """A request stream that ends the call with INVALID_ARGUMENT at the first undecodable message
    (after everything answered before it), instead of gRPC's UNKNOWN."""

    def __init__(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        self._requests, self._context = aiter(requests), context

    def __aiter__(self) -> _CheckedRequests:
        return self

    async def __anext__(self) -> Any:
        item = await anext(self._requests)
        if isinstance(item, _Undecodable):
            await self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, item.message)
        return item


def guarded(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that never raises: bytes that do not decode are answered
    INVALID_ARGUMENT naming the message type, for any service (health and reflection use the
    generated deserializers, which raise, and grpc.aio turns that into UNKNOWN with the
    exception's class name; issue 9, finding 4)."""
    deserialize = handler.request_deserializer
    if deserialize is None:
        return handler
    name = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)
    what = f"request: not valid protobuf for {name.full_name if name is not None else method}"

    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception:  # protobuf's DecodeError (or a recursion limit): the bytes are not the message
            return _Undecodable(what)

    def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):
            async def each(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if isinstance(request, _Undecodable):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                async for resp in behavior(request, context):
                    yield resp
            return each

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return await behavior(request, context)
        return call

    def streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):
            async def each(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                async for resp in behavior(_CheckedRequests(requests, context), context):
                    yield resp
            return each

        async def call(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(_CheckedRequests(requests, context), context)
        return call

    changes: dict[str, Any] = {"request_deserializer": decode}
    for kind, wrap in (("unary_unary", unary), ("unary_stream", unary), ("stream_unary", streaming),
                       ("stream_stream", streaming)):
        behavior = getattr(handler, kind)
        if behavior is not None:
            changes[kind] = wrap(behavior)
    return handler._replace(**changes)  # type: ignore[attr-defined,no-any-return]


class GuardedDecoding(grpc.aio.ServerInterceptor):
    """Applies `guarded` to every method not registered through `decoder` (this project's own
    service already decodes without raising, and counts before parsing)."""

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith("/sharedseq."):
            return handler
        return guarded(handler, details.method)
