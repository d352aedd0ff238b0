"""Run the sequencer: the node, the gRPC server (with health and
reflection), and the metrics endpoint, under one anyio task group.

This is the composition root, one layer above everything it wires: the service (sequencer/service:
the node, the gRPC API), the configuration (sequencer/config.py), the L1 follower (sequencer/l1),
the console and replication. It lives outside sequencer/service so that those packages may use the
service (the L1 follower drives the node, the batcher decodes its blocks) without an import cycle
(tests/unit/test_package_imports.py).

Asyncio only (issue 10 item 5): grpc.aio (the server, its health service) and the console's aiohttp
run on asyncio alone, so `sharedseq serve` runs anyio on asyncio; the node it runs is backend-neutral.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from sequencer.config import ServiceConfig
from sequencer.core.sequencer import SequencerCore
from sequencer.core.signing import Signer
from sequencer.errors import BadInput
from sequencer.keys import read_key
from sequencer.service.checkers import PolicyCheckers
from sequencer.service.grpc_api import SequencerServicer
from sequencer.service.metrics import Metrics
from sequencer.service.node import SequencerNode
from sequencer.service.reflection_v1 import enable_reflection
from sequencer.service.security import ByteRate, ClientInterceptor, ClientShares, RateLimiter, server_credentials
from sequencer.service.views import RollupViews, response_bytes
from sequencer.service.wire import GuardedDecoding, Held, Refused, decoder, request_caps
from sequencer.store.sqlite_log import BlockLog
from sharedseq.v1 import sequencer_pb2 as pb

log = logging.getLogger("sharedseq.server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SequencerService"].full_name


@dataclass(slots=True)
class RunningServer:
    node: SequencerNode
    server: grpc.aio.Server
    port: int
    metrics_port: int | None
    servicer: SequencerServicer
    console_port: int | None = None
    console: Any = None
    """The console's Sampler (sequencer/console) when [console] is on: the devnet adds sources to it."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def build_node(cfg: ServiceConfig, metrics: Metrics | None = None) -> SequencerNode:
    """Open the log (refusing a disk without room for two full blocks, so a restart on a still-full
    disk stops at once with the reason, instead of serving until its first seal fails)."""
    signer = Signer(read_key(cfg.key_file), cfg.domain)
    core = SequencerCore(cfg.core, signer)
    block_log: BlockLog
    if cfg.jetstream is not None:  # store = "jetstream": the replicated log (issue 12)
        from sequencer.store.jetstream_log import JetStreamLog
        js = cfg.jetstream
        block_log = JetStreamLog(js.servers, js.stream, replicas=js.replicas, timeout_s=js.timeout_ms / 1000,
                                 connect_timeout_s=js.connect_timeout_ms / 1000)
    else:
        block_log = BlockLog(cfg.log_path, index_at_seal=False, checkpoint_apart=True)  # see SequencerNode._writer
    try:
        block_log.check_space(2 * cfg.core.limits.max_block_bytes + 1024 * 1024)
        node = SequencerNode.open(core, block_log, metrics=metrics)
        if cfg.jetstream is not None:
            node.step_down(None)  # a replica leads only once it holds the lease and has claimed the log
        return node
    except BaseException:
        block_log.close()
        raise


def _grpc_server(cfg: ServiceConfig, node: SequencerNode
                 ) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer, SequencerServicer]:
    options = [
        ("grpc.max_receive_message_length", cfg.max_message_bytes),
        ("grpc.max_send_message_length", cfg.max_message_bytes),
        ("grpc.so_reuseport", 0),
        # HTTP/2 flow control at fixed windows. With BDP probing (gRPC's default) the windows grow
        # with the client's bandwidth: six clients streaming 4 MB messages made a bare grpc.aio
        # server hold 2.4 GB in its transport, before any handler saw a byte (issue 9, finding 2).
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", cfg.api.read_ahead_bytes),
    ]
    limiter = RateLimiter(cfg.rate_limit_tx_per_s, cfg.rate_limit_burst, max_clients=cfg.max_clients,
                          max_streams=cfg.max_streams_per_client)
    byte_rate = ByteRate(cfg.api.rate_limit_bytes_per_s, cfg.api.rate_limit_bytes_burst, max_clients=cfg.max_clients)

    def refused(limit: str) -> None:
        node.metrics.client_limited.labels(limit).inc()

    # GuardedDecoding: health and reflection answer undecodable bytes INVALID_ARGUMENT, not UNKNOWN.
    server = grpc.aio.server(options=options,
                             interceptors=[ClientInterceptor(limiter, refused, byte_rate), GuardedDecoding()])
    limits = cfg.core.limits
    node.shares = ClientShares(int(cfg.client_share * limits.max_block_txs),
                               int(cfg.client_share * limits.max_block_bytes))
    if cfg.check_workers:
        node.checkers = PolicyCheckers({r.rollup_id: r.policy for r in cfg.core.rollups}, cfg.check_workers)
    servicer = SequencerServicer(node, limiter, limits=cfg.api)
    servicer.views = RollupViews(node, cfg.subscribers)  # the [subscribers] bounds
    add_servicer(server, servicer, cfg)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection((SERVICE_NAME, health.SERVICE_NAME), server)
    try:
        if cfg.tls is not None:
            port = server.add_secure_port(cfg.listen, server_credentials(cfg.tls))
        else:
            port = server.add_insecure_port(cfg.listen)
    except RuntimeError:
        port = 0
    if port == 0:
        raise BadInput(f"cannot listen on {cfg.listen} (address in use or not available)")
    return server, port, health_servicer, servicer


def add_servicer(server: grpc.aio.Server, servicer: SequencerServicer, cfg: ServiceConfig) -> None:
    """Register the service with the decoders of wire.py instead of the generated `FromString`s:
    undecodable bytes and oversized lists are answered (INVALID_ARGUMENT, RESOURCE_EXHAUSTED)
    before any work, not turned into UNKNOWN, and every request's bytes are held in one pool."""
    pool = servicer.requests
    limits = cfg.core.limits
    caps = request_caps(cfg.api.max_list_items, min(limits.max_bundle_legs, limits.max_block_txs))
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in pb.DESCRIPTOR.services_by_name["SequencerService"].methods:
        request_type = getattr(pb, method.input_type.name)
        decode = decoder(request_type, pool, caps.get(request_type))
        serialize = getattr(pb, method.output_type.name).SerializeToString
        if method.name == "SubscribeBlocks":  # each view's bytes, encoded once for all its subscribers
            serialize = response_bytes
        fn = getattr(servicer, method.name)
        if method.client_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                fn, request_deserializer=decode, response_serializer=serialize)
        elif method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _unwrapped(fn, servicer, hold=False), request_deserializer=decode, response_serializer=serialize)
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _unwrapped(fn, servicer, hold=True), request_deserializer=decode, response_serializer=serialize)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


def _unwrapped(fn: Callable[[Any, Any], Awaitable[Any]], servicer: SequencerServicer, *, hold: bool
               ) -> Callable[[Held | Refused, grpc.aio.ServicerContext], Awaitable[Any]]:
    """A unary-request handler that answers a `Refused` with its status and hands `fn` the message.
    A unary call holds its request's bytes until it returns; a subscription (long-lived, a few
    bytes of request) gives them back at once."""
    submission = fn.__name__.startswith("Submit")

    async def handle(request: Held | Refused, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Refused):
            if submission:
                servicer.node.metrics.rejected.labels(request.refusal.reason).inc()
            await context.abort(request.refusal.code, request.refusal.message)
        assert isinstance(request, Held)
        if not hold:
            request.release()
        try:
            return await fn(request.message, context)
        finally:
            request.release()

    return handle


@asynccontextmanager
async def running(cfg: ServiceConfig, node: SequencerNode | None = None) -> AsyncIterator[RunningServer]:
    """Start everything; yield once serving; stop cleanly on exit."""
    node = node or build_node(cfg)
    httpd = None
    try:
        server, port, health_servicer, servicer = _grpc_server(cfg, node)
        metrics_port = None
        if cfg.metrics_listen:
            host, _, mport = cfg.metrics_listen.rpartition(":")
            try:
                httpd, _thread = start_http_server(int(mport), host, registry=node.metrics.registry)
            except OSError as exc:
                raise BadInput(f"cannot listen on {cfg.metrics_listen} for metrics: {exc.strerror}") from None
            metrics_port = httpd.server_port
    except BaseException:
        node.close()
        raise

    async def not_serving(fault: BaseException) -> None:
        # Before the process stops: a load balancer or supervisor reads the state, not the crash.
        node.metrics.storage_faults.inc()
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    node.on_fatal = not_serving
    node.metrics.leading.set_function(lambda: 1.0 if node.leading else 0.0)  # read at each scrape
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            console_port, sampler = None, None
            if cfg.console is not None:  # a task of this group: it stops with the sequencer
                from sequencer.console.server import run_console
                from sequencer.console.snapshot import Sampler
                sampler = Sampler(node)
                console_port = await tg.start(run_console, cfg.console, sampler, cfg.tls)
            if cfg.l1 is not None:  # imported here: the L1 stack (aiohttp, eth_abi) is most of a cold start
                from sequencer.l1.origin import follow_l1
                tg.start_soon(follow_l1, node, cfg.l1)
            if cfg.jetstream is not None:
                from sequencer.replication.lease import LeaseConfig
                from sequencer.replication.replica import run_replica
                js = cfg.jetstream
                ttl = js.lease_ttl_ms
                tg.start_soon(run_replica, node, js.servers, js.lease_bucket,
                              js.advertise or f"{cfg.listen.rpartition(':')[0]}:{port}",
                              LeaseConfig(ttl, ttl // 5, ttl // 5, 50), js.replicas, js.connect_timeout_ms / 1000)
            await server.start()
            for name in ("", SERVICE_NAME):
                await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
            log.info("serving on %s:%d (sequencer 0x%s, sealed height %d)", cfg.listen.rpartition(":")[0], port,
                     node.core.signer.address.hex(), node.durable_height)
            try:
                yield RunningServer(node, server, port, metrics_port, servicer, console_port, sampler)
            finally:
                # Shielded: after a storage fault this runs in a cancelled scope, and an unawaited
                # stop leaves the server to be collected after the loop closes (a traceback at exit).
                with anyio.CancelScope(shield=True):
                    await health_servicer.enter_graceful_shutdown()
                    await server.stop(grace=1.0)
                tg.cancel_scope.cancel()
    finally:
        if httpd is not None:
            httpd.shutdown()
        node.close()
        log.info("stopped at sealed height %d", node.durable_height)


GIL_SWITCH_INTERVAL_S = 0.0005
"""How often a busy thread yields the GIL. The event loop is busy under load, and the writer
thread needs the GIL back between SQLite calls and fsyncs: at Python's default 5 ms, each of
those waits made a group commit take 5-20 ms; at 0.5 ms, about 1 ms (measured with sequencer/bench/)."""


GC_THRESHOLDS = (50_000, 50, 100)
"""Collector thresholds for `sharedseq serve` (Python's are 700, 10, 10). Each submission allocates
dozens of short-lived objects, so at 700 the young generation was collected every few messages,
and the full collections walked the dedupe window and the pending blocks over and over; with
these and `gc.freeze` after start-up, the server's CPU per single-transaction message fell from
0.85-0.89 to 0.56-0.75 ms (docs/fairness.md, "Where the time goes").
Garbage is still collected; only cycles wait longer (50,000 allocations) to be found."""


async def serve_forever(cfg: ServiceConfig) -> None:
    """`sharedseq serve`: run until SIGINT or SIGTERM."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running(cfg):
            # What start-up built (modules, config, the restored state) lives as long as the
            # process: out of the collector's generations, no collection walks it again.
            gc.freeze()
            async for sig in signals:
                log.info("received %s, stopping", signal.Signals(sig).name)
                break
