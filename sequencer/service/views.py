"""Rollup views: what SubscribeBlocks streams and GetRollupBlock answers (docs/architecture.md section
4.3: "the stream replays from the log, then follows live, with backpressure").

A view is one block as one rollup sees it: the signed header, its own
transactions, their namespace proof, and its bundles. Memory and threads are
bounded by configuration, never by what subscribers do:

- every view is read and built on the node's read pool (`SequencerNode.read`):
  the log returns only the rollup's own payloads and the block's namespace
  leaves (`BlockLog.read_rollup`), and the proof is built from the leaves
  (`core.views`), so neither SQLite nor hashing runs on the event loop;
- a replay reads chunks of at most `chunk_bytes`, and at most
  `replay_bytes // chunk_bytes` chunks are held at once by all replays
  together: a replay that would need more waits for a slot; at most
  `replay_threads` of the read pool's threads read for replays at once, so
  however many replay, a core is left for the event loop and the writer
  (live views, GetBlock and GetTransaction use the rest of the pool);
- views of the newest `live_heights` blocks are kept in an LRU cache bounded
  by `cache_bytes` and built once for every live subscriber of the rollup
  (concurrent requests for one view share one build). Replays read around
  the cache and never insert into it, so they cannot evict the live views;
- a view is encoded once, on the read thread that built it, as the bytes of
  its `SubscribeBlocksResponse` (`EncodedView`), and those bytes are what
  every subscriber's stream writes (the method's serializer passes bytes
  through: `response_bytes`, server.py): a hundred subscribers of a rollup
  cost the event loop a hundred writes, not a hundred copies and encodings.
  A new block's live views, for every rollup with a subscriber at the head,
  are built in one read (one thread hop per block, not one per rollup), by
  the one subscriber that waits for the block on the others' behalf: the
  others wake once, to a cached view;
- a subscriber holds at most one chunk in the server plus what HTTP/2 flow
  control lets in flight; one that leaves a write unsent for `stall_s` (it
  stopped reading) is cut off with RESOURCE_EXHAUSTED naming the height to
  resume from, and frees its chunk;
- at most `max_subscribers` subscriptions are open at once;
- a client that leaves while a block is being written to it (grpc.aio's write raises
  ExecuteBatchError) is normal: one debug line, never an ERROR with a traceback.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import grpc
from grpc._cython.cygrpc import ExecuteBatchError  # what a write raises once the client has gone

from sequencer.core.types import Namespace, SharedBlock
from sequencer.core.views import prove_namespace_from_leaves
from sequencer.errors import Overloaded
from sequencer.store.sqlite_log import RollupSlice
from sharedseq.v1 import sequencer_pb2 as pb

from . import convert
from .node import SequencerNode
from .security import ByteRate

log = logging.getLogger("sharedseq.views")

_BLOCK_FIELD = b"\x0a"
"""The key of `SubscribeBlocksResponse.block`: field 1, wire type 2 (length-delimited)
(https://protobuf.dev/programming-guides/encoding/)."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_response(view: pb.RollupBlock) -> bytes:
    """The bytes of `SubscribeBlocksResponse(block=view)`, byte for byte what protobuf writes for it
    (the message has that one field), without copying the view into a new message first."""
    body = view.SerializeToString()
    return _BLOCK_FIELD + _varint(len(body)) + body


def response_bytes(message: bytes | pb.SubscribeBlocksResponse) -> bytes:
    """SubscribeBlocks' response serializer (server.py): the views' bytes, encoded once for all
    their subscribers, are sent as they are; a message is encoded as usual."""
    return message if isinstance(message, bytes) else message.SerializeToString()


@dataclass(frozen=True, slots=True)
class EncodedView:
    """One rollup's view of one block, as every subscriber is sent it: the bytes of its
    `SubscribeBlocksResponse` (immutable, so shared by every stream and by the cache)."""

    height: int
    response: bytes

    @property
    def size(self) -> int:
        """Bytes held: what the cache, the replay budget and the replay rate count."""
        return len(self.response)

    def view(self) -> pb.RollupBlock:
        """The view as a message (GetRollupBlock): decoded from the bytes, a new message each call."""
        return pb.SubscribeBlocksResponse.FromString(self.response).block


@dataclass(frozen=True, slots=True)
class ViewLimits:
    """Bounds of the subscription service (see the module docstring); [subscribers] in the config."""

    cache_bytes: int = 32 * 1024 * 1024
    live_heights: int = 64
    chunk_bytes: int = 512 * 1024
    replay_bytes: int = 64 * 1024 * 1024
    stall_s: float = 10.0
    max_subscribers: int = 1024
    replay_threads: int = 1
    replay_bytes_per_s: int = 32 * 1024 * 1024
    """Bytes a second all replays together may read from the log, 0 for no cap (security.ByteRate,
    one bucket for the server). Replays need no credentials, so a per-client limit cannot bound
    them: 50 replaying subscribers, each from its own address, replaying as fast as they could,
    took an honest client's p99 from 27 to 373 ms (80-135 ms with this rate). A live subscriber
    (at the head) is never paced."""


@dataclass(slots=True)
class _Build:
    """One view being built: its waiters wait on `done`, then take `view` or re-raise `error` (an
    anyio event, not an asyncio future: the subscription service is backend-neutral, issue 10)."""

    done: anyio.Event = field(default_factory=anyio.Event)
    view: EncodedView | None = None
    error: BaseException | None = None


class ViewCache:
    """An LRU map (height, rollup_id) -> encoded view, bounded by the views' encoded bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._views: OrderedDict[tuple[int, int], tuple[EncodedView, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self._views

    def get(self, key: tuple[int, int]) -> EncodedView | None:
        hit = self._views.get(key)
        if hit is None:
            return None
        self._views.move_to_end(key)
        return hit[0]

    def put(self, key: tuple[int, int], view: EncodedView, size: int) -> None:
        if key in self._views:
            return
        self._views[key] = (view, size)
        self.bytes += size
        while len(self._views) > 1 and self.bytes > self.max_bytes:
            _, (_, old) = self._views.popitem(last=False)
            self.bytes -= old


def build_views(slices: list[RollupSlice], rollup_id: int) -> list[EncodedView]:
    """Read-pool thread: each slice's view, encoded (off the event loop, once for every subscriber)."""
    out = []
    for s in slices:
        proof = prove_namespace_from_leaves(s.row.leaves, rollup_id)
        namespaces = (Namespace(rollup_id, s.transactions),) if s.transactions else ()
        block = SharedBlock(s.row.header, s.row.signature, namespaces, s.row.bundles)
        view = convert.rollup_block_to_proto(block, rollup_id, proof, s.bundle_proofs)
        out.append(EncodedView(s.row.header.height, encode_response(view)))
    return out


class RollupViews:
    """See the module docstring."""

    def __init__(self, node: SequencerNode, limits: ViewLimits | None = None) -> None:
        self.node = node
        self.limits = limits or ViewLimits()
        self.cache = ViewCache(self.limits.cache_bytes)
        self._building: dict[tuple[int, int], _Build] = {}
        self._replay_slots = anyio.Semaphore(max(1, self.limits.replay_bytes // self.limits.chunk_bytes))
        self._replay_reads = anyio.CapacityLimiter(max(1, self.limits.replay_threads))
        rate = self.limits.replay_bytes_per_s
        self._replay_rate = ByteRate(rate, max(rate, self.limits.chunk_bytes))
        self._subscribers = 0
        self._sealing: dict[int, anyio.Event] = {}
        """Heights a subscriber waits for on the node's behalf (`_live`); the others wait on it."""
        self._following: Counter[int] = Counter()
        """Subscribers at the head, by rollup: whose views a new block's first read builds."""

    def _read(self, rollup_id: int, first: int, last: int) -> list[EncodedView]:
        return build_views(self.node.log.read_rollup(rollup_id, first, last, self.limits.chunk_bytes), rollup_id)

    def _read_height(self, height: int, rollup_ids: Iterable[int]) -> list[EncodedView]:
        """Read-pool thread: one block's views for several rollups, in one hop."""
        return [self._read(rid, height, height)[0] for rid in rollup_ids]

    def _live_from(self) -> int:
        return self.node.durable_height - self.limits.live_heights + 1

    async def view(self, height: int, rollup_id: int) -> pb.RollupBlock | None:
        """The rollup's view of a sealed block as a message (GetRollupBlock), or None if not sealed yet."""
        encoded = await self.encoded(height, rollup_id)
        return None if encoded is None else encoded.view()

    async def encoded(self, height: int, rollup_id: int) -> EncodedView | None:
        """The rollup's view of a sealed block, encoded, or None if not sealed yet. A live one is
        built once (the first caller builds; the others wait for it) and cached; building it also
        builds, in the same read, the views of that block for every other rollup with a subscriber
        at the head that are neither cached nor being built."""
        if height > self.node.durable_height:
            return None
        key = (height, rollup_id)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if height < self._live_from():  # an old block: built for this caller alone
            return (await self.node.read(self._read, rollup_id, height, height))[0]
        while (pending := self._building.get(key)) is not None:
            await pending.done.wait()  # a waiter that is cancelled leaves the build to the others
            if pending.view is not None:
                return pending.view
            if pending.error is not None:
                raise pending.error
            # The builder was cancelled (its caller left): no error to share; build it here.
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        rollups = [rollup_id] + sorted(r for r in self._following if r != rollup_id and (height, r) not in self.cache
                                       and (height, r) not in self._building)
        builds = {r: _Build() for r in rollups}
        for r, b in builds.items():
            self._building[(height, r)] = b
        try:
            views = await self.node.read(self._read_height, height, rollups)
            for r, v in zip(rollups, views, strict=True):
                self.cache.put((height, r), v, v.size)
                builds[r].view = v
        except anyio.get_cancelled_exc_class():
            raise  # this caller's own cancellation: never handed to the waiters (trio forbids it)
        except BaseException as exc:
            for b in builds.values():
                b.error = exc
            raise
        finally:
            for r, b in builds.items():
                del self._building[(height, r)]
                b.done.set()
        view = builds[rollup_id].view
        assert view is not None
        return view

    async def follow(self, rollup_id: int, from_height: int) -> AsyncIterator[EncodedView]:
        """Every view from `from_height` on, each once, in order, forever: replayed from the log in
        byte-bounded chunks, then live from the cache."""
        h = from_height
        live = False
        try:
            while True:
                live_from = self._live_from()
                if h >= live_from:
                    if not live:  # at the head: this rollup's views are built with each new block's
                        live = True
                        self._following[rollup_id] += 1
                    yield await self._live(h, rollup_id)
                    h += 1
                    continue
                if live:  # fell behind the live window (a slow reader): a replay again
                    live = False
                    self._unfollow(rollup_id)
                while (wait := self._replay_rate.delay("replays")) > 0:  # the server's replay rate
                    await anyio.sleep(wait)
                async with self._replay_slots:
                    async with self._replay_reads:
                        chunk = await self.node.read(self._read, rollup_id, h, live_from - 1)
                    # Every byte counted (replays read concurrently: no debt forgiven below the replay budget).
                    self._replay_rate.charge("replays", sum(v.size for v in chunk), self.limits.replay_bytes)
                    for view in chunk:
                        if view.height != h:
                            raise AssertionError(f"log returned height {view.height}, expected {h}")
                        yield view
                        h += 1
                    del chunk
        finally:
            if live:
                self._unfollow(rollup_id)

    async def _live(self, height: int, rollup_id: int) -> EncodedView:
        """A view for a subscriber at the head, once its block is sealed. One subscriber per height
        waits for the node's block and builds the block's views for every rollup followed; the
        others wait for that alone and take theirs from the cache: one wake each per block."""
        while True:
            hit = self.cache.get((height, rollup_id))
            if hit is not None:
                return hit
            if height > self.node.durable_height and (sealing := self._sealing.get(height)) is not None:
                await sealing.wait()  # set once the views are built, or the waiting subscriber left
                continue
            if height <= self.node.durable_height:
                view = await self.encoded(height, rollup_id)
            else:
                sealing = self._sealing[height] = anyio.Event()
                try:
                    await self.node.wait_for_height(height)
                    view = await self.encoded(height, rollup_id)
                finally:
                    del self._sealing[height]
                    sealing.set()
            assert view is not None
            return view

    def _unfollow(self, rollup_id: int) -> None:
        self._following[rollup_id] -= 1
        if self._following[rollup_id] <= 0:
            del self._following[rollup_id]

    async def subscribe(self, rollup_id: int, from_height: int, context: Any) -> None:
        """Serve one SubscribeBlocks call until the client leaves (or stops reading). Writes the
        views' shared bytes: the method's serializer must pass bytes through (`response_bytes`)."""
        if self._subscribers >= self.limits.max_subscribers:
            raise Overloaded(f"subscriptions: the server's limit of {self.limits.max_subscribers} open "
                             "subscriptions is reached; retry later")
        self._subscribers += 1
        self.node.metrics.subscribers.inc()
        height = from_height
        try:
            stream = self.follow(rollup_id, from_height)
            try:
                # One cancel scope for the whole call, armed during each write only: moving its
                # deadline costs the loop about half of entering and leaving a move_on_after per
                # write (16 vs 28 us here), which a hundred subscribers pay every block.
                with anyio.CancelScope() as stalled:
                    async for view in stream:
                        height = view.height
                        stalled.deadline = anyio.current_time() + self.limits.stall_s
                        await context.write(view.response)
                        stalled.deadline = math.inf
                if stalled.cancelled_caught:
                    self.node.metrics.subscribers_cut.inc()
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"subscriber not reading: block {height} waited {self.limits.stall_s:g}s to be sent; "
                        f"resume with from_height={height}")
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
        except ExecuteBatchError:
            # The client went away (cancelled, closed its channel, lost its connection) while a block
            # was being written to it: normal for a subscriber, so one debug line, not grpc's ERROR
            # with a traceback. The call ends CANCELLED; if the client is gone that status cannot be
            # sent either (the same error again), and the call ends as cancelled, which grpc logs at
            # debug (a plain return would have grpc send a status, fail, and log that at ERROR).
            log.debug("subscriber of rollup %d left while block %d was being sent", rollup_id, height)
            try:
                await context.abort(grpc.StatusCode.CANCELLED, f"the subscriber left while block {height} was "
                                    f"being sent; resume with from_height={height}")
            except ExecuteBatchError:
                raise anyio.get_cancelled_exc_class()() from None
        finally:
            self._subscribers -= 1
            self.node.metrics.subscribers.dec()
