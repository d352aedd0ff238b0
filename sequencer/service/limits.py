"""Bounds on what the API holds for clients, in bytes: set by configuration, never by what clients send.

Every StreamSubmit request is given, before any work on it, an upper bound on the size of its
answer (from its item or leg count). That bound is reserved from the stream's window and from the
server-wide answer pool, and given back when the answer has been handed to gRPC; the raw size of
every request being worked on is held from a server-wide request pool the same way. A request over
a per-request bound is refused whole, a stream over its window stops reading (HTTP/2 pushes back),
and a full server pool refuses new requests with RESOURCE_EXHAUSTED (issue 9, finding 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from google.protobuf.message import Message

from sequencer.errors import BadInput
from sharedseq.v1 import sequencer_pb2 as pb

from .errors import MAX_ERROR_MESSAGE_BYTES


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """The API's memory and answer bounds ([sequencer] options, documented in
    deploy/sequencer.sample.toml and docs/operator-guide.md)."""

    max_list_items: int = 1024
    """Transactions in one TransactionList; counted on the wire, before parsing."""
    max_answer_bytes: int = 3 * 1024 * 1024
    """Upper bound of one request's answer; a request whose answer could be larger is refused whole."""
    stream_window: int = 512
    """Answers a stream may owe before the server stops reading it."""
    stream_window_bytes: int = 8 * 1024 * 1024
    """Bytes of answers a stream may owe before the server stops reading it."""
    stream_stall_timeout_s: float = 10.0
    """A client that takes none of its answers for this long is cut off (RESOURCE_EXHAUSTED)."""
    total_answer_bytes: int = 64 * 1024 * 1024
    """Bytes of answers owed on all streams together."""
    total_request_bytes: int = 64 * 1024 * 1024
    """Raw bytes of all requests being worked on together (all calls)."""
    subscribe_max_ahead: int = 1000
    """How far past the sealed height a subscription may start (INVALID_ARGUMENT beyond)."""
    read_ahead_bytes: int = 1024 * 1024
    """HTTP/2 receive window of each call: what a client may send before the server reads it."""
    rate_limit_bytes_per_s: int = 4 * 1024 * 1024
    """Request bytes a second per client (security.ByteRate), 0 for none: what one client's traffic
    may cost the server to receive, decode and refuse, whatever it contains. On by default: a client
    streaming garbage at 330 MB/s took an honest client's p99 from 3-6 ms to 1.1-1.9 s (issue 9,
    finding 2); at this rate it costs the server a few percent of a core."""
    rate_limit_bytes_burst: int = 8 * 1024 * 1024
    """Request bytes a client may send at once (the bucket): at least max_message_bytes, so the
    largest request the server accepts can always pass."""
    client_inflight_txs: int = 128
    """Transactions one client may have admitted and not yet durable (security.InFlight), 0 for
    no cap; past it its next request waits for its own group commits, and a longer list is placed
    in parts of this size, each once the one before is durable (SequencerNode.admit_checked). At 128
    a client still gets 12,800 tx/s through 10 ms commits, more than the default rate limit; at 256
    an honest receipt behind a flood's part waited 8-15 ms for its commit, at 128 4-6 ms
    (tests/integration/fairness_bench.py, docs/fairness.md)."""

    def check(self, max_message_bytes: int, max_bundle_legs: int) -> None:
        """Refuse settings that contradict each other (or that an honest maximal request would break)."""
        for name in ("max_list_items", "max_answer_bytes", "stream_window", "stream_window_bytes",
                     "total_answer_bytes", "total_request_bytes", "read_ahead_bytes"):
            if getattr(self, name) < 1:
                raise BadInput(f"sequencer.{name}: must be at least 1")
        if self.stream_stall_timeout_s <= 0:
            raise BadInput("sequencer.stream_stall_timeout_s: must be positive")
        if self.client_inflight_txs < 0:
            raise BadInput("sequencer.client_inflight_txs: must not be negative (0 turns it off)")
        if self.rate_limit_bytes_per_s < 0:
            raise BadInput("sequencer.rate_limit_bytes_per_s: must not be negative (0 turns it off)")
        if self.rate_limit_bytes_per_s and self.rate_limit_bytes_burst < max_message_bytes:
            raise BadInput(f"sequencer.rate_limit_bytes_burst ({self.rate_limit_bytes_burst}) must be at least "
                           f"max_message_bytes ({max_message_bytes}): a request that large could never pass")
        if self.subscribe_max_ahead < 0:
            raise BadInput("sequencer.subscribe_max_ahead: must not be negative")
        if self.max_answer_bytes > max_message_bytes:
            raise BadInput(f"sequencer.max_answer_bytes ({self.max_answer_bytes}) must not exceed "
                           f"max_message_bytes ({max_message_bytes}): such an answer could not be sent")
        if self.max_answer_bytes > self.stream_window_bytes or self.stream_window_bytes > self.total_answer_bytes:
            raise BadInput("sequencer: need max_answer_bytes <= stream_window_bytes <= total_answer_bytes")
        if max_message_bytes > self.total_request_bytes:
            raise BadInput(f"sequencer.total_request_bytes ({self.total_request_bytes}) must be at least "
                           f"max_message_bytes ({max_message_bytes})")
        if list_answer_bound(self.max_list_items) > self.max_answer_bytes:
            raise BadInput(f"sequencer.max_list_items ({self.max_list_items}): a full list's answer "
                           f"({list_answer_bound(self.max_list_items)} bytes) is over max_answer_bytes "
                           f"({self.max_answer_bytes})")
        if receipts_answer_bound(max_bundle_legs) > self.max_answer_bytes:
            raise BadInput("sequencer.max_answer_bytes: too small for a bundle of max_bundle_legs receipts")


MAX_RECEIPT_PATH = 32
"""Entries of a repeated field of a receipt (its Merkle path to the group commit's root) in the
bound: a path of 32 hashes covers a group commit of 2**32 receipts, more than any mempool holds."""


def _widest(descriptor: Any) -> Message:
    """The largest message of a type with scalar and bytes fields: every varint at its widest,
    every bytes field 65 bytes (a signature; hashes are 32), every repeated field MAX_RECEIPT_PATH long.
    Built from the descriptor, so a field added to Receipt is counted without touching this."""
    msg = getattr(pb, descriptor.name)()
    for f in descriptor.fields:
        if f.type == f.TYPE_BYTES:
            value: Any = b"\xff" * 65
        elif f.type == f.TYPE_BOOL:
            value = True
        elif f.type in (f.TYPE_UINT32, f.TYPE_FIXED32):
            value = 2**32 - 1
        elif f.type in (f.TYPE_INT32, f.TYPE_INT64, f.TYPE_ENUM):
            value = -1  # negative varints take the full 10 bytes
        else:
            value = 2**64 - 1
        if f.is_repeated:
            getattr(msg, f.name).extend([value] * MAX_RECEIPT_PATH)
        else:
            setattr(msg, f.name, value)
    return msg


FIELD_OVERHEAD = 6
"""Key and length prefix of one embedded message (1-byte key, up to 5-byte length)."""
RECEIPT_BOUND = _widest(pb.Receipt.DESCRIPTOR).ByteSize() + FIELD_OVERHEAD
"""One receipt inside an answer, at its largest."""
ERROR_BOUND = pb.Error(code=2**31 - 1, message="x" * MAX_ERROR_MESSAGE_BYTES).ByteSize() + FIELD_OVERHEAD
"""One error inside an answer, at its largest (messages are clipped, errors.MAX_ERROR_MESSAGE_BYTES)."""
ITEM_BOUND = max(RECEIPT_BOUND, ERROR_BOUND) + FIELD_OVERHEAD
"""One TransactionList item's result (an ItemResult holding either)."""
HEAD_BOUND = 11 + ERROR_BOUND
"""An answer's request_id, and its error when the whole request is refused."""


def receipts_answer_bound(n: int) -> int:
    return HEAD_BOUND + n * RECEIPT_BOUND


def list_answer_bound(n: int) -> int:
    return HEAD_BOUND + n * ITEM_BOUND


def answer_bound(req: pb.StreamSubmitRequest) -> int:
    """The largest answer `req` can get, from counts alone (no conversion, no parsing of items)."""
    which = req.WhichOneof("item")
    if which == "transactions":
        return list_answer_bound(len(req.transactions.transactions))
    if which == "bundle":
        return receipts_answer_bound(len(req.bundle.legs))
    return receipts_answer_bound(1)


class BytePool:
    """Bytes shared by every call: taken without waiting, or refused (the caller answers
    RESOURCE_EXHAUSTED). Single-threaded: used from the event loop only."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def try_take(self, n: int) -> bool:
        if self.used + n > self.capacity:
            return False
        self.used += n
        return True

    def release(self, n: int) -> None:
        self.used -= n


class StreamWindow:
    """One stream's owed answers, by count and by bytes. `reserve` waits while the window is full:
    the stream's reader stops, so HTTP/2 flow control slows the client instead of memory growing."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self.items = self.bytes = 0
        self._freed: anyio.Event | None = None
        """Set when room is freed; made only while the reader waits (an event a message cost the
        loop a few percent of each single-transaction message, issue 13)."""

    def _fits(self, n: int) -> bool:
        return self.items < self.max_items and self.bytes + n <= self.max_bytes

    def _wake(self) -> None:
        if self._freed is not None:
            self._freed.set()
            self._freed = None

    async def wait_room(self, n: int) -> None:
        """Wait until an answer of `n` bytes would fit (the reader does, before it reads)."""
        while not self._fits(n):
            if self._freed is None:
                self._freed = anyio.Event()
            await self._freed.wait()

    async def reserve(self, n: int) -> None:
        await self.wait_room(n)
        self.items += 1
        self.bytes += n

    def resize(self, delta: int) -> None:
        """Correct an owed answer's bytes to its real size, once built (bounds are upper bounds)."""
        self.bytes += delta
        if delta < 0:
            self._wake()

    def release(self, n: int) -> None:
        self.items -= 1
        self.bytes -= n
        self._wake()
