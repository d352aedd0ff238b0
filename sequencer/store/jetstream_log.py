"""The replicated block log: a NATS JetStream stream with replicas = 3 (issue 12).

Every `append` (one group commit: admitted records with their signed receipt batch, sealed blocks,
meta values) is ONE message on the stream's subject, published with the header
`Nats-Expected-Last-Sequence: <the last sequence this replica knows>`. JetStream accepts it only if
the stream still ends there, and acknowledges it only once its Raft group has it on a quorum of the
three servers; `append` returns after that acknowledgement, so the node's receipts (released after
`append` returns, node.py) are never ahead of a quorum. A deposed leader that still thinks it leads
publishes against an old last sequence and is refused (JetStream error 10071): `Fenced`. A write
JetStream cannot confirm (no quorum, no server) raises `LogUnavailable`; its fate is unknown, so
nothing of it is receipted, and the stream (not this process) says later whether it landed.

    entry   = rlp([records, receipts, blocks, meta])
    records = [[height, rollup_id, index, payload, tx_hash, bundle_hash or b""], ...]
    receipts= [] | [receipts_root, count, signature, leaves (32 bytes each, concatenated)]
    blocks  = [codec.encode_block(block), ...]          (whole blocks: header, signature, namespaces, bundles)
    meta    = [[key, value], ...]

The local copy: the class IS a `BlockLog` on an in-memory SQLite database, and every entry of the
stream, in stream order, is applied to it with `BlockLog.append` (the leader's own entries once
acknowledged, everyone else's as the stream delivers them). So a replica's head, pending placements,
dedupe set and receipts (`load_state`, `find_receipts`, reads) are by construction those the SQLite
log would hold after the same appends, and a restart rebuilds them by replaying the stream.

The NATS client runs on an event loop of its own, in a daemon thread: the node calls `append` from
its writer thread and reads from its read pool, as it does with SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from sequencer.core import rlp_codec
from sequencer.core.sequencer import AdmittedTx
from sequencer.core.signing import ReceiptBatch
from sequencer.core.types import SharedBlock
from sequencer.errors import BadInput, Critical, DecodeError, Fenced, LogUnavailable, connection_reason

from .codec import decode_block, encode_block
from .sqlite_log import BlockLog

log = logging.getLogger("sharedseq.jetstream")
T = TypeVar("T")

WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code when `Nats-Expected-Last-Sequence` does not match the stream's end."""
TRY_TIMEOUT_S = 0.4
"""One try of an append; tries repeat (same message id) until the append's timeout."""
RETRY_PAUSE_S = 0.05
DEFAULT_TIMEOUT_S = 2.0
"""How long an append waits for the quorum's acknowledgement before it counts as not persisted."""


__all__ = ["Fenced", "JetStreamLog", "LogUnavailable", "decode_entry", "encode_entry"]


def describe(exc: BaseException) -> str:
    """One line for a NATS or connection error: its root cause, never a traceback."""
    reason = connection_reason(exc)
    text = str(exc).strip()
    if reason and reason not in text:
        text = f"{text}: {reason}" if text else reason
    return text or type(exc).__name__


class ConnectionErrors:
    """nats-py's error callbacks for a connection of ours. Its default logs every failed connect
    with a traceback (five a second while a server is down): here one warning line per distinct
    error every LOG_EVERY_S, and the last error kept for the message if we give up."""

    LOG_EVERY_S = 10.0

    def __init__(self, what: str) -> None:
        self.what = what
        self.last = ""
        self._shown: dict[str, float] = {}

    async def error(self, exc: Exception) -> None:
        self.last = describe(exc)
        now = time.monotonic()
        if now - self._shown.get(self.last, -self.LOG_EVERY_S) >= self.LOG_EVERY_S:
            self._shown[self.last] = now
            log.warning("%s: %s", self.what, self.last)

    async def disconnected(self) -> None:
        log.info("%s: disconnected", self.what)

    async def reconnected(self) -> None:
        log.info("%s: reconnected", self.what)


def _u(b: bytes) -> int:
    return int.from_bytes(b, "big")


def encode_entry(records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock], meta: Mapping[str, bytes],
                 receipts: ReceiptBatch | None) -> bytes:
    recs = [[r.height, r.rollup_id, r.index, r.payload, r.tx_hash, r.bundle_hash or b""] for r in records]
    batch = [] if receipts is None else [receipts.receipts_root, receipts.count, receipts.signature,
                                         b"".join(receipts.leaves)]
    metas = [[k.encode(), v] for k, v in meta.items()]
    return rlp_codec.encode([recs, batch, [encode_block(b) for b in blocks], metas])


def decode_entry(data: bytes) -> tuple[list[AdmittedTx], list[SharedBlock], dict[str, bytes], ReceiptBatch | None]:
    """Raises Critical: an entry this code did not write means the stream is not a sharedseq log."""
    try:
        items: Any = rlp_codec.decode(data)
        recs, batch, blocks, meta = items
        records = [AdmittedTx(_u(h), _u(rid), _u(i), p, th, bh or None) for h, rid, i, p, th, bh in recs]
        receipts = None
        if batch:
            root, count, sig, leaves = batch
            receipts = ReceiptBatch(root, _u(count), sig, tuple(leaves[i:i + 32] for i in range(0, len(leaves), 32)))
        return records, [decode_block(b) for b in blocks], {k.decode(): v for k, v in meta}, receipts
    except (DecodeError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise Critical(f"replicated log is corrupt: an entry does not decode ({exc})") from exc


class JetStreamLog(BlockLog):
    """See the module docstring. `on_block` is called (from the NATS thread) for each sealed block
    applied from the stream that this replica did not append itself: a follower publishes it."""

    def __init__(self, servers: Sequence[str], stream: str = "sharedseq", *, replicas: int = 3,
                 timeout_s: float = DEFAULT_TIMEOUT_S, connect_timeout_s: float = 10.0) -> None:
        if not servers:
            raise BadInput("store = \"jetstream\" needs at least one server URL (jetstream.servers)")
        super().__init__(":memory:")
        self.servers = list(servers)
        self.stream = stream
        self.subject = f"{stream}.log"
        self.replicas = replicas
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.on_block: Callable[[SharedBlock], None] | None = None
        self.write_check: Callable[[], None] | None = None
        """Called inside the write lock before each group commit's append (not a claim's): raising
        refuses it (the node refuses batches of a leadership term that ended)."""
        self._applied = 0
        """The last stream sequence applied to the local copy (0: none)."""
        self._written = 0
        """The stream's end as this replica last made it (its own last append, or the end it claimed):
        what every append expects. Never the applied sequence: a deposed leader's copy goes on applying
        the new leader's entries, and expecting those would let it write after them."""
        self._apply_lock = threading.Lock()
        self._write_lock = threading.RLock()
        """Held through each append and each claim: a claim never interleaves with an append in
        flight (the append either lands before the claim catches up, or expects the old end)."""
        self._caught_up = threading.Condition(self._apply_lock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sharedseq-nats", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self.fatal: BaseException | None = None
        self._opened_at = 0
        try:
            self._run(self._open(), 2 * connect_timeout_s + 5)  # a backstop: _open keeps its own deadline
            # The end the stream had when the replay began (asked before subscribing): asking again
            # now would queue behind the replay on the NATS thread.
            self._written = self._wait_applied(self._opened_at, connect_timeout_s)
        except BaseException:
            self.close()
            raise

    # -- the NATS side (its own loop) -----------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise LogUnavailable(f"JetStream at {', '.join(self.servers)} did not answer in {timeout:g} s") from None

    async def _open(self) -> None:
        """Connect, find (or make) the stream and subscribe, retrying each until `connect_timeout_s`
        after the start: a replica started before its JetStream cluster, or while the cluster has no
        quorum, waits for it that long, then gives up with one `LogUnavailable` naming the URLs and
        what failed (`sharedseq serve` exits with exitcodes.EXIT_UNAVAILABLE, 69)."""
        urls = ", ".join(self.servers)
        limit = self.connect_timeout_s
        deadline = time.monotonic() + limit
        errors = ConnectionErrors("JetStream (log)")
        try:
            # nats-py retries the servers itself (max_reconnect_attempts=-1 also covers the first
            # connect); the deadline bounds it.
            self._nc = await asyncio.wait_for(nats.connect(
                servers=self.servers, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                allow_reconnect=True, error_cb=errors.error, disconnected_cb=errors.disconnected,
                reconnected_cb=errors.reconnected), limit)
        except TimeoutError:
            raise LogUnavailable(f"cannot reach JetStream at {urls}: no server accepted a connection in "
                                 f"{limit:g} s (last error: {errors.last or 'none'})") from None
        except Exception as exc:  # a URL nats-py refuses, an authorization error
            raise LogUnavailable(f"cannot reach JetStream at {urls}: {describe(exc)}") from exc
        self._js = self._nc.jetstream(timeout=self.timeout_s)
        # Retried until the same deadline: without a quorum (or just after a JetStream node started,
        # while the stream's Raft group elects its leader) the JetStream API does not answer.
        tries = 0
        while True:
            tries += 1
            try:
                try:
                    info = await self._js.stream_info(self.stream)
                except NotFoundError:
                    await self._js.add_stream(StreamConfig(name=self.stream, subjects=[self.subject],
                                                           num_replicas=self.replicas, storage=StorageType.FILE))
                else:
                    if info.config.num_replicas != self.replicas:
                        raise BadInput(f"stream {self.stream} has {info.config.num_replicas} replicas, the config "
                                       f"says {self.replicas}")
                    self._opened_at = int(info.state.last_seq)
                # An ordered consumer: JetStream redelivers from the last sequence seen after any server
                # or connection failure, so the local copy never skips or repeats an entry.
                self._sub = await self._js.subscribe(
                    self.subject, ordered_consumer=True, cb=self._on_msg,
                    config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, flow_control=True, idle_heartbeat=1.0))
                return
            except (TimeoutError, nats.errors.Error, APIError) as exc:  # NotFoundError is handled above
                if time.monotonic() > deadline:
                    attempts = f"{tries} attempt{'s' if tries != 1 else ''}"
                    raise LogUnavailable(
                        f"JetStream at {urls} is reachable, but stream {self.stream} did not answer in {limit:g} s "
                        f"({attempts}, the last: {describe(exc)}): is a quorum of the cluster's nodes up?") from exc
                if tries == 1:
                    log.warning("JetStream stream %s does not answer yet (%s); retrying for up to %g s",
                                self.stream, describe(exc), limit)
                await asyncio.sleep(0.2)

    async def _on_msg(self, msg: Msg) -> None:
        try:
            self._apply(msg.metadata.sequence.stream, msg.data, own=False)
        except BaseException as exc:  # a corrupt stream: stop applying, and say so at the next call
            self.fatal = exc
            log.critical("replicated log: %s", exc)
            await self._sub.unsubscribe()
            return
        # Let the loop run between entries. nats-py hands a backlog to this callback without ever
        # suspending (its queue has the next message ready), so replaying a long stream would starve
        # every other task on the loop: appends' acks, stream info, flow control, heartbeats.
        await asyncio.sleep(0)

    def _apply(self, seq: int, data: bytes, *, own: bool,
               decoded: tuple[list[AdmittedTx], list[SharedBlock], dict[str, bytes], ReceiptBatch | None]
               | None = None) -> None:
        """Apply stream entry `seq` to the local copy, once, in order (either path may get there first)."""
        with self._apply_lock:
            if seq <= self._applied:
                return
            if seq != self._applied + 1:
                raise Critical(f"replicated log: entry {seq} arrived after {self._applied}; a gap")
            records, blocks, meta, receipts = decoded or decode_entry(data)
            super().append(records, blocks, meta, receipts)
            self._applied = seq
            self._caught_up.notify_all()
        if not own and self.on_block is not None:
            for b in blocks:
                self.on_block(b)

    # -- the BlockLog interface ----------------------------------------------------

    @property
    def applied(self) -> int:
        return self._applied

    def stream_last_seq(self, timeout_s: float | None = None) -> int:
        """The stream's last sequence as JetStream's leader for it reports it now."""
        wait = timeout_s or self.timeout_s

        async def last() -> int:
            info = await self._nc.jetstream(timeout=wait).stream_info(self.stream)
            return int(info.state.last_seq)
        try:
            return self._run(last(), wait + 1)
        except LogUnavailable:
            raise
        except Exception as exc:
            raise LogUnavailable(f"JetStream stream {self.stream}: {exc}") from exc

    def catch_up(self, timeout_s: float | None = None) -> int:
        """Wait until every entry the stream holds now is applied locally; the stream's last sequence.
        The timeout is for progress, not for the whole: a replica (re)starting on a long stream
        replays all of it, which takes as long as it takes, and gives up only if nothing arrives for
        `timeout_s` (JetStream or the consumer stalled)."""
        return self._wait_applied(self.stream_last_seq(timeout_s), timeout_s)

    def _wait_applied(self, target: int, timeout_s: float | None = None) -> int:
        stall = timeout_s or self.timeout_s * 5
        with self._caught_up:
            while True:
                before = self._applied
                if self._caught_up.wait_for(lambda: self._applied >= target or self.fatal is not None, stall):
                    break
                if self._applied == before:
                    raise LogUnavailable(f"replicated log: applied {self._applied} of {target} entries, and none "
                                         f"for {stall:g} s")
        if self.fatal is not None:
            raise self.fatal
        return target

    def claim(self, meta: Mapping[str, bytes]) -> int:
        """Become the stream's one writer (a new leader, issue 12): catch up with what the stream
        holds, then append `meta` (who leads) expecting exactly that end. From then on a replica
        that led before is fenced: the stream no longer ends where it last wrote. Raises Fenced if
        someone wrote meanwhile (catch up and claim again), LogUnavailable without a quorum."""
        with self._write_lock:
            self._written = self.catch_up()
            self._append_locked([], [], dict(meta), None, encode_entry([], [], meta, None))
            return self._written

    def check_space(self, headroom: int) -> None:
        """The disks are JetStream's (its own limits apply); the local copy is in memory."""

    def append(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
               meta: Mapping[str, bytes] | None = None, receipts: ReceiptBatch | None = None) -> None:
        """Publish the entry against the last sequence this replica knows; return once a quorum has
        it and the local copy applied it. Raises Fenced (another replica wrote since) or LogUnavailable."""
        if self.fatal is not None:
            raise self.fatal
        if receipts is not None and receipts.count != len(records):
            raise ValueError(f"a receipt batch of {receipts.count} for {len(records)} records")
        meta = dict(meta or {})
        data = encode_entry(records, blocks, meta, receipts)
        with self._write_lock:
            if self.write_check is not None:
                self.write_check()
            self._append_locked(records, blocks, meta, receipts, data)

    def _append_locked(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock], meta: dict[str, bytes],
                       receipts: ReceiptBatch | None, data: bytes) -> None:
        expected = self._written
        # One id for every try of this entry: JetStream answers a repeat of an id it stored with the
        # first one's sequence (duplicate), before it checks the expected sequence. So a try whose
        # answer was lost (the server this client was on died, a reconnect) is retried safely, and a
        # lost answer never makes a stored entry look refused.
        msg_id = os.urandom(16).hex()
        headers = {"Nats-Expected-Last-Sequence": str(expected), "Nats-Msg-Id": msg_id}
        deadline = time.monotonic() + self.timeout_s
        per_try = min(TRY_TIMEOUT_S, self.timeout_s)

        async def publish() -> int:
            ack = await self._js.publish(self.subject, data, timeout=per_try, headers=headers)
            return int(ack.seq)
        while True:
            try:
                seq = self._run(publish(), per_try + 1)
                break
            except APIError as exc:
                if exc.err_code == WRONG_LAST_SEQUENCE:
                    raise Fenced(f"another sequencer replica wrote to the log after entry {expected}: this one "
                                 "is deposed, its write was refused") from None
                if exc.code != 503 or time.monotonic() + per_try > deadline:  # 503: no stream leader yet
                    raise LogUnavailable(f"JetStream refused the write: {exc.description}") from exc
                time.sleep(RETRY_PAUSE_S)
            except Exception as exc:  # timeouts, no responders, a lost connection: not confirmed yet
                if time.monotonic() + per_try > deadline:
                    raise LogUnavailable(f"JetStream did not confirm the write in {self.timeout_s:g} s "
                                         f"({type(exc).__name__}: {exc})") from exc
                time.sleep(RETRY_PAUSE_S)
        self._written = seq
        self._apply(seq, data, own=True, decoded=(list(records), list(blocks), meta, receipts))

    def close(self) -> None:
        async def shut() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(shut(), self._loop).result(3)
            except Exception:  # closing a connection that is already gone
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(3)
        super().close()
