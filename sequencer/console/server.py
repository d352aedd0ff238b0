"""The console's HTTP server: the page, `/api/snapshot` (JSON) and `/api/events` (server-sent events).

Runs on the sequencer's own asyncio loop as a task of the server's task group (`run_console`, started
with `tg.start`): it stops with the sequencer and a failure to listen stops the start, like the gRPC
port. Read-only: every route is a GET of the sampler's latest picture or a packaged file; no route
changes the node. With TLS on the gRPC port, the console serves HTTPS with the same certificate and
asks for the admin password (settings.py).

Asyncio only (issue 10 item 5): aiohttp.web serves on asyncio alone.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import ssl
from importlib import resources
from typing import Any

import anyio
from aiohttp import web

from sequencer.errors import BadInput
from sequencer.service.security import TlsConfig

from .settings import ConsoleConfig
from .snapshot import Sampler

log = logging.getLogger("sharedseq.console")
STATIC = resources.files("sequencer.console") / "static"
FILES = {"index.html": "text/html", "console.js": "text/javascript", "console.css": "text/css"}
"""The only files served (no directory listing, no path from the request reaches the filesystem)."""
ADMIN_USER = "admin"


def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _check_auth(password: bytes | None):  # aiohttp middleware
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if password is not None:
            given = request.headers.get("Authorization", "")
            ok = False
            if given.startswith("Basic "):
                try:
                    user, _, pw = base64.b64decode(given[6:], validate=True).partition(b":")
                    ok = hmac.compare_digest(user, ADMIN_USER.encode()) & hmac.compare_digest(pw, password)
                except ValueError:
                    ok = False
            if not ok:
                return web.Response(status=401, text="admin credentials required\n",
                                    headers={"WWW-Authenticate": 'Basic realm="sharedseq console"'})
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="the console is read-only\n", headers={"Allow": "GET, HEAD"})
        resp = await handler(request)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
        return resp
    return auth


class Console:
    """The aiohttp application around one sampler; `clients` counts open event streams."""

    def __init__(self, cfg: ConsoleConfig, sampler: Sampler) -> None:
        self.cfg = cfg
        self.sampler = sampler
        self.clients = 0
        self._tick = anyio.Event()
        password = None
        if cfg.admin_password_file is not None:
            try:
                password = cfg.admin_password_file.read_bytes().strip()
            except OSError as exc:
                raise BadInput(f"console.admin_password_file {cfg.admin_password_file}: {exc.strerror}") from None
            if len(password) < 12:
                raise BadInput("console.admin_password_file: the password must be at least 12 bytes")
        self.app = web.Application(middlewares=[_check_auth(password)])
        self.app.router.add_get("/", self.page)
        self.app.router.add_get("/static/{name}", self.file)
        self.app.router.add_get("/api/snapshot", self.snapshot)
        self.app.router.add_get("/api/events", self.events)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html")

    async def file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=FILES[name])

    async def snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(self.sampler.latest)

    async def events(self, request: web.Request) -> web.StreamResponse:
        # Bounded: each stream holds a socket and a task; a tab left open in many places must not
        # grow the sequencer's memory.
        if self.clients >= self.cfg.max_clients:
            return web.Response(status=503, text="too many console clients\n")
        self.clients += 1
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
            await resp.prepare(request)
            sent = -1
            while True:
                if self.sampler.version != sent:
                    sent = self.sampler.version
                    await resp.write(b"data: " + json.dumps(self.sampler.latest).encode() + b"\n\n")
                await self._tick.wait()
        finally:
            self.clients -= 1

    async def sample_forever(self) -> None:
        while True:
            try:
                await self.sampler.sample()
            except Exception:  # the console must never take the sequencer down
                log.exception("console: sampling failed")
            tick, self._tick = self._tick, anyio.Event()
            tick.set()
            await anyio.sleep(self.cfg.interval_ms / 1000)


def _ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        ctx.load_verify_locations(tls.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def run_console(cfg: ConsoleConfig, sampler: Sampler, tls: TlsConfig | None = None, *,
                      task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; `task_status.started(port)` once listening."""
    console = Console(cfg, sampler)
    await sampler.sample()
    host, _, port = cfg.listen.rpartition(":")
    runner = web.AppRunner(console.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=_ssl_context(tls) if tls else None)
        try:
            await site.start()
        except OSError as exc:
            raise BadInput(f"cannot listen on {cfg.listen} for the console: {exc.strerror}") from None
        bound = int(runner.addresses[0][1]) if runner.addresses else int(port)
        log.info("console on %s://%s:%d/", "https" if tls else "http", host, bound)
        task_status.started(bound)
        await console.sample_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
