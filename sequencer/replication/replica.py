"""The thin NATS shell around the lease machine (lease.py): one task per replica (issue 12).

It does the KV calls the machine asks for, and turns role changes into node calls: on winning the
lease it claims the log (catch up, then an entry expecting the stream's end: every earlier leader is
fenced from there on) and has the node rebuild its core and lead; on losing it, or when the node
resigned because the log refused a write, it makes the node follow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
import nats
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from sequencer.core.types import SharedBlock
from sequencer.errors import Fenced, LogUnavailable
from sequencer.service.metrics import Metrics
from sequencer.service.node import SequencerNode
from sequencer.store.jetstream_log import ConnectionErrors, JetStreamLog, describe

from . import lease as lm

log = logging.getLogger("sharedseq.replica")
LEASE_KEY = "leader"
LAG_EVERY_S = 1.0
"""How often a replica asks JetStream for the stream's end, for its lag metric."""


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


async def _bucket(nc: Any, bucket: str, cfg: lm.LeaseConfig, replicas: int, timeout_s: float = 30.0) -> Any:
    """The lease bucket, made by whichever replica comes first (the same config from each: JetStream
    takes an identical create as a no-op), retried while the cluster is still electing."""
    js = nc.jetstream(timeout=cfg.ttl_ms / 4000)
    setup = nc.jetstream(timeout=5)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            try:
                await setup.key_value(bucket)
            except BucketNotFoundError:
                await setup.create_key_value(KeyValueConfig(bucket=bucket, ttl=cfg.ttl_ms / 1000, history=1,
                                                            replicas=replicas, storage=StorageType.FILE))
            return await js.key_value(bucket)  # the lease calls' own short timeout
        except (TimeoutError, nats.errors.Error) as exc:
            if time.monotonic() > deadline:
                raise LogUnavailable(f"JetStream lease bucket {bucket} did not answer in {timeout_s:g} s "
                                     f"({describe(exc)}): is a quorum of the cluster's nodes up?") from exc
            await anyio.sleep(0.2)


def show_lease(metrics: Metrics, state: lm.Lease, leader: str | None, shown: str | None, now_ms: int) -> str | None:
    """The lease as the metrics show it (docs/metrics.md): the key's revision, on the leader the time
    left before it must stop leading, and one `sharedseq_leader` series naming the address this
    replica takes as the leader (`shown`: the one named so far; returned: the one named now)."""
    metrics.lease_revision.set(state.revision)
    metrics.lease_remaining.set(max(0, state.valid_until_ms - now_ms) / 1000 if state.role is lm.Role.LEADER else 0)
    if leader != shown:
        metrics.leader.clear()
        if leader:
            metrics.leader.labels(leader).set(1)
    return leader


async def _watch_lag(nc: Any, block_log: JetStreamLog, node: SequencerNode) -> None:
    """Each LAG_EVERY_S: the stream's last sequence (JetStream's answer) minus the last one this
    replica applied. A leader's own lag is ~0; a follower's grows if it cannot keep up."""
    js = nc.jetstream(timeout=2)
    while True:
        try:
            info = await js.stream_info(block_log.stream)
            node.metrics.replica_lag.set(max(0, int(info.state.last_seq) - block_log.applied))
        except (TimeoutError, nats.errors.Error) as exc:
            log.debug("lag: stream info failed: %s", exc)
        await anyio.sleep(LAG_EVERY_S)


async def run_replica(node: SequencerNode, servers: Sequence[str], bucket: str, me: str,
                      cfg: lm.LeaseConfig | None = None, replicas: int = 3, connect_timeout_s: float = 30.0) -> None:
    """Follow, lead when the lease is ours, until cancelled. `me`: this replica's gRPC address.
    `connect_timeout_s` bounds the start (the connection, the lease bucket): past it, LogUnavailable
    (`serve` exits with code 69, like a log that cannot be opened)."""
    cfg = cfg or lm.LeaseConfig()
    block_log = node.log
    if not isinstance(block_log, JetStreamLog):
        raise TypeError("replicas need store = \"jetstream\"")
    loop = asyncio.get_running_loop()

    def on_block(block: SharedBlock) -> None:  # on the log's NATS thread: hop to the node's loop
        loop.call_soon_threadsafe(node.follow_block, block)

    block_log.on_block = on_block
    block_log.write_check = node.check_term
    node.step_down(None)
    errors = ConnectionErrors("JetStream (lease)")
    try:
        nc = await asyncio.wait_for(nats.connect(
            servers=list(servers), max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=errors.error,
            disconnected_cb=errors.disconnected, reconnected_cb=errors.reconnected), connect_timeout_s)
    except TimeoutError:
        raise LogUnavailable(f"cannot reach JetStream at {', '.join(servers)} for the lease: no server accepted a "
                             f"connection in {connect_timeout_s:g} s (last error: {errors.last or 'none'})") from None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_lag, nc, block_log, node)
            await _lease_loop(node, block_log, await _bucket(nc, bucket, cfg, replicas, connect_timeout_s), me, cfg)
    finally:
        node.on_resign = None
        block_log.on_block = None
        block_log.write_check = None
        with anyio.CancelScope(shield=True):
            await nc.close()


async def _lease_loop(node: SequencerNode, block_log: JetStreamLog, kv: Any, me: str, cfg: lm.LeaseConfig) -> None:
    """The KV calls the lease machine asks for, and its role changes turned into node calls."""
    state = lm.Lease(me)
    resigned = anyio.Event()

    def on_resign(exc: BaseException) -> None:
        resigned.set()

    node.on_resign = on_resign
    call_s = cfg.ttl_ms / 4000
    shown: str | None = None
    while True:
        if resigned.is_set():
            resigned = anyio.Event()
            state = lm.resigned(state, _now_ms(), cfg)
        state, action = lm.tick(state, _now_ms(), cfg)
        sent = _now_ms()
        try:
            with anyio.fail_after(call_s):
                if action is lm.Action.OBSERVE:
                    try:
                        entry = await kv.get(LEASE_KEY)
                        holder, revision = (entry.value.decode() if entry.value else None), entry.revision
                    except KeyNotFoundError:
                        holder, revision = None, 0
                    state, action = lm.observed(state, holder, revision or 0, _now_ms(), cfg)
                if action is lm.Action.ACQUIRE:
                    rev = await kv.create(LEASE_KEY, me.encode())
                    state = lm.written(state, rev, sent, _now_ms(), cfg)
                elif action is lm.Action.RENEW:
                    rev = await kv.update(LEASE_KEY, me.encode(), last=state.revision)
                    state = lm.written(state, rev, sent, _now_ms(), cfg)
        except KeyWrongLastSequenceError:
            state = lm.refused(state, _now_ms(), cfg)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            log.debug("lease call failed: %s", exc)
            state = lm.failed(state, _now_ms(), cfg)
        if state.role is lm.Role.LEADER and not node.leading:
            try:
                await anyio.to_thread.run_sync(block_log.claim, {"leader": me.encode()})
            except (Fenced, LogUnavailable) as exc:  # a write landed meanwhile (claim again), or no quorum
                log.warning("could not claim the log: %s", exc)
                state = lm.failed(state, _now_ms(), cfg)
                continue
            node.lead()
            node.leader_address = me
            log.info("leading as %s (lease revision %d)", me, state.revision)
        elif state.role is lm.Role.FOLLOWER and (node.leading or node.leader_address != state.leader):
            node.step_down(state.leader)
        shown = show_lease(node.metrics, state, node.leader_address, shown, _now_ms())
        await anyio.sleep(max(0, state.next_ms - _now_ms()) / 1000 or cfg.poll_ms / 1000)
