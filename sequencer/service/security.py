"""Transport security and per-client rate limits.

TLS: the server presents `cert_file`/`key_file`; with `client_ca_file` it
requires client certificates signed by that CA (mutual TLS for operators).
`generate_dev_pki` makes a throwaway CA, server and client certificates for
the devnet and tests (`sharedseq tls-gen`).

Per-client limits, on by default (docs/architecture.md section 6: "rate limits per
client"), each answering RESOURCE_EXHAUSTED for the request it refuses:
- a token bucket per client: each transaction costs one token (a bundle one
  per leg, a list one per item);
- a byte rate per client (`ByteRate`): every request's bytes on the wire, whatever
  they contain (garbage included), at most `rate_limit_bytes_per_s`. A unary call
  past it is refused; a stream past it is paced: the server stops reading it until
  the client is back under its rate, so HTTP/2 flow control slows the sender and
  its traffic costs the server no more than the rate (issue 9, findings 2 and 6);
- at most `max_streams` open streams (StreamSubmit, SubscribeBlocks) per client;
- at most `client_inflight_txs` transactions admitted and not yet durable per client
  (`InFlight`): past it the client's next request waits for its own group commits, so no
  client can make every commit long;
- at most a `share` of one block's capacity (transactions and bytes) admitted
  and not sealed yet per client (`ClientShares`), so a client flooding valid
  transactions from fresh keys gets its share of each block and of the
  pending blocks, never all of them.
A client is its certificate's common name under mutual TLS, else its IPv4
address or its IPv6 /64 (one host holds a whole /64 and can rotate through
it). The bucket map is bounded (`max_clients`): past it the least recently
seen client's bucket is dropped, in constant time.
"""

from __future__ import annotations

import contextvars
import datetime
import inspect
import ipaddress
import math
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import grpc

if TYPE_CHECKING:  # imported where used: cryptography's x509 is a tenth of a cold `sharedseq serve` (issue 13)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

from sequencer.errors import BadInput, Overloaded, TooLarge


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    try:
        key, cert = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
        ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    except OSError as exc:
        raise BadInput(f"tls: cannot read {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def client_credentials(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
                       ) -> grpc.ChannelCredentials:
    cert = cert_file.read_bytes() if cert_file else None
    key = key_file.read_bytes() if key_file else None
    return grpc.ssl_channel_credentials(root_certificates=ca_file.read_bytes(), private_key=key,
                                        certificate_chain=cert)


DEFAULT_RATE_TX_PER_S = 10_000.0
"""Per-client rate when the config sets none: half of what the whole service ingests on 2 cores
(docs/architecture.md section 8), so one client alone cannot take all of it. 0 in the config turns it off."""
DEFAULT_MAX_STREAMS = 16
"""Open streams per client when the config sets none."""
DEFAULT_SHARE = 0.25
"""Share of one block's capacity a client may hold admitted and unsealed, by default."""
IPV6_PREFIX = 64
KEYED_BY = f"x509 common name under mutual TLS, else IPv4 address or IPv6 /{IPV6_PREFIX}"

CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("sharedseq_client", default=None)
"""The calling client's identity, set for each call by `ClientInterceptor` (the node reads it to
count each client's share of the pending blocks)."""


def peer_identity(peer: str) -> str:
    """A gRPC peer string as a client key: "ipv4:1.2.3.4:5555" -> "ipv4:1.2.3.4",
    "ipv6:[2001:db8:1:2::9]:5555" -> "ipv6:2001:db8:1:2::/64" (an IPv4-mapped IPv6 address counts
    as its IPv4 address). The port changes per connection, the client does not."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer or "unknown"
    rest = urllib.parse.unquote(rest)  # grpc writes "ipv6:%5B::1%5D:5555"
    host = rest[1:rest.index("]")] if rest.startswith("[") and "]" in rest else rest.rsplit(":", 1)[0]
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        return f"ipv4:{addr}"
    return f"ipv6:{ipaddress.ip_network(f'{addr}/{IPV6_PREFIX}', strict=False)}"


def client_identity(context: grpc.aio.ServicerContext) -> str:
    """The client's certificate common name under mutual TLS, else its IPv4 address or IPv6 /64.
    Within a call `ClientInterceptor` has already worked it out: `CLIENT` holds it (reading the
    auth context and parsing the peer again cost a unary call a few percent of its loop time)."""
    known = CLIENT.get()
    return known if known is not None else _identity_of(context)


def _identity_of(context: grpc.aio.ServicerContext) -> str:
    auth = context.auth_context() or {}
    names = auth.get("x509_common_name")
    if names:
        return "cn:" + names[0].decode(errors="replace")
    return peer_identity(context.peer() or "unknown")


class RateLimiter:
    """Per-client limits: token buckets (`rate` tokens a second, up to `burst`) and open streams
    (`max_streams`, 0 for no cap). Bounded in memory: at most `max_clients` buckets, the least
    recently used dropped first (a dropped client starts again with a full bucket, which costs it
    nothing it could not have had by waiting)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000, max_streams: int = 0) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.clock = clock
        self.max_clients = max_clients
        self.max_streams = max_streams
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._streams: dict[str, int] = {}

    @property
    def clients(self) -> int:
        """Buckets held (a property, not __len__: an empty limiter must still be truthy)."""
        return len(self._buckets)

    @contextmanager
    def stream(self, client: str) -> Iterator[None]:
        """Hold one of the client's stream slots for the stream's life, or raise Overloaded."""
        open_now = self._streams.get(client, 0)
        if self.max_streams and open_now >= self.max_streams:
            raise Overloaded(f"client {client} has {open_now} streams open, the most a client may "
                             f"(max_streams_per_client {self.max_streams}); close one first")
        self._streams[client] = open_now + 1
        try:
            yield
        finally:
            left = self._streams[client] - 1
            if left:
                self._streams[client] = left
            else:
                del self._streams[client]

    def take(self, client: str, cost: int = 1) -> None:
        """Spend `cost` tokens or raise Overloaded."""
        if self.rate <= 0:
            return
        if cost > self.burst:
            raise TooLarge(f"rate limit: a request of {cost} transactions is over the burst of {self.burst:g} "
                           "a client may send at once; split it")
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= cost
        self._buckets[client] = (tokens - cost if ok else tokens, now)  # re-inserted: most recent
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if not ok:
            raise Overloaded(f"rate limit: client {client} is over {self.rate:g} transactions/s "
                             f"(burst {self.burst:g}); slow down")


class ByteRate:
    """Request bytes per client: a bucket of `burst` bytes refilled at `rate` a second (0: no
    limit), bounded to `max_clients` buckets as `RateLimiter`'s.

    Bytes are counted after gRPC has received them (it assembles a message before any handler
    sees it), so the limit cannot refuse them; what it bounds is how fast a client may go on.
    `take` (unary calls) refuses a request the bucket cannot pay for and empties the bucket - the
    bytes were received and cost what they cost - so a client that keeps hammering stays refused
    until it slows down. `charge` (streams) always pays, into debt if need be, and `delay` says how
    long the stream must then go unread for the client to be back at zero."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def clients(self) -> int:
        return len(self._buckets)

    def _level(self, client: str) -> tuple[float, float]:
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate), now

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)  # re-inserted: most recent
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def take(self, client: str, nbytes: int) -> None:
        """Pay for a unary request of `nbytes`, or raise Overloaded naming the limit."""
        if self.rate <= 0:
            return
        tokens, now = self._level(client)
        if tokens >= nbytes:
            self._store(client, tokens - nbytes, now)
            return
        self._store(client, 0.0, now)
        raise Overloaded(f"rate limit: client {client} is over {self.rate:g} request bytes/s "
                         f"(rate_limit_bytes_per_s, burst {self.burst:g}); a {nbytes}-byte request needs "
                         f"{math.ceil(nbytes / self.rate * 10) / 10:g} s of its rate; slow down")

    def charge(self, client: str, nbytes: int, max_debt: float | None = None) -> None:
        """Pay for a message read from a stream, into debt: at most `max_debt` of it (one burst
        unless told), so a client is never owed for ever."""
        if self.rate <= 0:
            return
        tokens, now = self._level(client)
        self._store(client, max(tokens - nbytes, -(self.burst if max_debt is None else max_debt)), now)

    def delay(self, client: str) -> float:
        """Seconds until the client's bucket is back at zero (0 when it is not in debt)."""
        if self.rate <= 0 or client not in self._buckets:
            return 0.0
        tokens, now = self._level(client)
        self._store(client, tokens, now)
        return -tokens / self.rate if tokens < 0 else 0.0


class _Paced:
    """A stream's request iterator, read no faster than its client's byte rate: before each read,
    wait until the client is out of debt (its other streams share the bucket)."""

    def __init__(self, requests: Any, rate: ByteRate, client: str) -> None:
        self._requests, self._rate, self._client = aiter(requests), rate, client
        self.waited_s = 0.0

    def __aiter__(self) -> _Paced:
        return self

    async def __anext__(self) -> Any:
        while (wait := self._rate.delay(self._client)) > 0:
            self.waited_s += wait
            await anyio.sleep(wait)
        item = await anext(self._requests)
        self._rate.charge(self._client, _wire_size(item))
        return item


def _wire_size(request: Any) -> int:
    """A decoded request's size on the wire (wire.Held / wire.Refused); 0 for anything else."""
    return int(getattr(request, "nbytes", None) or getattr(request, "size", 0) or 0)


class InFlight:
    """Transactions each client has admitted that are not durable yet, held to `max_txs` (0: no
    cap): a client past it waits for its own group commits before it may admit more.

    Why: every group commit takes what was admitted since the last one, and an honest client's
    receipt waits for the commit in progress and then its own. A client flooding admissible
    transactions within its rate made every commit thousands of records long (an honest p99 of
    0.6-1.1 s, 7-12x idle); with this cap a commit holds at most `max_txs` of any one client, so
    an honest receipt waits for at most a few such commits. A request larger than the cap passes
    when the client has nothing in flight, so no request can wait for ever. Single-threaded
    (the event loop); calls without a client (in-process callers) are not counted."""

    def __init__(self, max_txs: int) -> None:
        self.max_txs = max_txs
        self._held: dict[str, int] = {}
        self._freed: dict[str, anyio.Event] = {}
        self.waits = 0
        """Times a client had to wait (metrics and tests read it)."""

    def held(self, client: str) -> int:
        return self._held.get(client, 0)

    async def acquire(self, client: str | None, txs: int) -> int:
        """Wait until `txs` more fit in the client's cap; returns what to `release` later."""
        if client is None or not self.max_txs or txs <= 0:
            return 0
        waited = False
        while (held := self._held.get(client, 0)) and held + txs > self.max_txs:
            if not waited:
                self.waits += 1
                waited = True
            await self._freed.setdefault(client, anyio.Event()).wait()
        self._held[client] = self._held.get(client, 0) + txs
        return txs

    def release(self, client: str | None, txs: int) -> None:
        if client is None or txs <= 0:
            return
        left = self._held.get(client, 0) - txs
        if left > 0:
            self._held[client] = left
        else:
            self._held.pop(client, None)
        event = self._freed.pop(client, None)
        if event is not None:
            event.set()


FLOOD_LAG_S = 0.003
"""Event-loop lag (its moving average, sampled every few ms by the node) past which the node counts
as saturated for `FloodPacer`. Idle, the loop answers a timer within about a millisecond; under a
flood of admissible transactions it lagged 5-30 ms, and an honest receipt waits for each lag twice
(read, answer) besides its group commits."""
FLOOD_WRITER_BUSY = 0.3
"""The writer's utilisation past which the node counts as saturated for `FloodPacer`: commits are
in admission order, so a receipt waits for the commit in progress, then for its own; under a flood
the writer was busy all the time with commits of 200-500 of the flood's records. At 0.5 the honest
p50 under the fairness bench's flood was 11-23 ms (idle 5-7); at 0.3, 6-11 ms."""


class FloodPacer:
    """Under saturation, slows the client that holds most of the recent admissions (issue 9 item 5,
    "a client flooding admissible transactions can take at most its share"; issue 13 step 3).

    The other limits bound what one client may hold (InFlight, ClientShares) and how fast it may go
    (RateLimiter), but a flood within all of them still took most of the event loop and of every
    group commit: an honest client's p99 was 6-20x its idle figure. Here each client's admissions
    are counted with a `half_life_s` decay; a client is dominant when it has more than half of the
    recent admissions while others are admitting too (a lone client is never paced: there is no one
    to be fair to). While the node is `saturated`, a dominant client waits before each next
    request, for a delay that grows (doubling, up to `max_delay_s`) as long as both hold and
    shrinks (by a tenth a request) once either stops; so the flood settles at what leaves the
    loop and the writer responsive instead of all of them. Placement and order are untouched: the wait is before the
    request is read (streams) or admitted (unary calls). Single-threaded (the event loop); calls
    without a client are not counted. Bounded: at most `max_clients` clients remembered."""

    MIN_DELAY_S = 0.001

    def __init__(self, saturated: Callable[[], bool], half_life_s: float = 1.0, max_delay_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 100_000,
                 enabled: bool = True) -> None:
        self.saturated = saturated
        """Whether the node is saturated now (the servicer's: loop lag over FLOOD_LAG_S, or the
        writer busy over FLOOD_WRITER_BUSY of the time)."""
        self.half_life_s, self.max_delay_s = half_life_s, max_delay_s
        self.clock = clock
        self.max_clients = max_clients
        self.enabled = enabled
        self._counts: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._total = (0.0, clock())
        self._delays: dict[str, float] = {}
        self.paced = 0
        """Requests made to wait (metrics and tests read it)."""

    def _decayed(self, value: tuple[float, float], now: float) -> float:
        count, at = value
        return count * 0.5 ** ((now - at) / self.half_life_s) if now > at else count

    def admitted(self, client: str | None, txs: int) -> None:
        """Count `txs` transactions admitted for `client`."""
        if client is None or not self.enabled or txs <= 0:
            return
        now = self.clock()
        own = self._decayed(self._counts.pop(client, (0.0, now)), now) + txs
        self._counts[client] = (own, now)  # re-inserted: most recent
        if len(self._counts) > self.max_clients:
            gone, _ = self._counts.popitem(last=False)
            self._delays.pop(gone, None)
        self._total = (self._decayed(self._total, now) + txs, now)

    def dominant(self, client: str) -> bool:
        """More than half of the recent admissions, while others admit too (at least one
        transaction's worth within the half-life)."""
        now = self.clock()
        own = self._decayed(self._counts.get(client, (0.0, now)), now)
        total = self._decayed(self._total, now)
        return own > total / 2 and total - own >= 1.0

    def delay(self, client: str | None) -> float:
        """Seconds `client` should wait before its next request (0: none); each call is one request."""
        if client is None or not self.enabled:
            return 0.0
        d = self._delays.get(client, 0.0)
        if self.dominant(client) and self.saturated():
            d = min(self.max_delay_s, 2 * d + self.MIN_DELAY_S)
        else:  # eased off more slowly than it grew: the flood's own pause is what made the node responsive
            d = d * 0.9 if d >= 2 * self.MIN_DELAY_S else 0.0
        if d:
            self._delays[client] = d
            self.paced += 1
        else:
            self._delays.pop(client, None)
        return d


class ClientShares:
    """How much each client holds admitted and not sealed yet, by height, against its share of a
    block: `max_txs` transactions and `max_bytes` payload bytes (0 for no cap). Calls without a
    client (in-process callers) are not counted."""

    def __init__(self, max_txs: int, max_bytes: int) -> None:
        self.max_txs, self.max_bytes = max_txs, max_bytes
        self._held: dict[str, list[int]] = {}
        self._by_height: dict[int, dict[str, list[int]]] = {}

    def held(self, client: str) -> tuple[int, int]:
        txs, nbytes = self._held.get(client, (0, 0))
        return txs, nbytes

    def check(self, client: str | None, txs: int, nbytes: int) -> None:
        """Raise Overloaded if admitting `txs` transactions of `nbytes` would take the client past
        its share."""
        if client is None:
            return
        held_txs, held_bytes = self.held(client)
        over_txs = self.max_txs and held_txs + txs > self.max_txs
        if over_txs or (self.max_bytes and held_bytes + nbytes > self.max_bytes):
            raise Overloaded(
                f"client share: client {client} already has {held_txs} transactions ({held_bytes} bytes) waiting "
                f"to be sealed; its share is {self.max_txs} transactions and {self.max_bytes} bytes "
                "(client_share of a block); retry after the next block")

    def add(self, client: str | None, height: int, txs: int, nbytes: int) -> None:
        if client is None:
            return
        total = self._held.setdefault(client, [0, 0])
        total[0] += txs
        total[1] += nbytes
        at = self._by_height.setdefault(height, {}).setdefault(client, [0, 0])
        at[0] += txs
        at[1] += nbytes

    def sealed(self, height: int) -> None:
        """Release what was placed at heights up to `height`."""
        for h in [h for h in self._by_height if h <= height]:
            for client, (txs, nbytes) in self._by_height.pop(h).items():
                total = self._held[client]
                total[0] -= txs
                total[1] -= nbytes
                if total[0] <= 0:
                    del self._held[client]


class ClientInterceptor(grpc.aio.ServerInterceptor):
    """Names the client of every call (`CLIENT`), holds a stream slot (`RateLimiter.stream`) for
    each streaming call, refusing one past `max_streams` with RESOURCE_EXHAUSTED, and holds every
    call's request bytes to the client's `ByteRate` (unary calls refused past it, streams paced).
    `on_refused(limit)` counts each refusal ("streams", "bytes")."""

    STREAMING = ("/StreamSubmit", "/SubscribeBlocks")

    def __init__(self, limiter: RateLimiter, on_refused: Callable[[str], None] | None = None,
                 byte_rate: ByteRate | None = None) -> None:
        self.limiter = limiter
        self.on_refused = on_refused
        self.byte_rate = byte_rate or ByteRate(0, 0)

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not details.method.startswith("/sharedseq."):
            return handler  # health and reflection: no client accounting
        streaming = details.method.endswith(self.STREAMING)
        limiter, on_refused, byte_rate = self.limiter, self.on_refused, self.byte_rate

        async def refuse(context: grpc.aio.ServicerContext, limit: str, exc: Overloaded) -> None:
            if on_refused is not None:
                on_refused(limit)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

        def wrap(behavior: Callable[..., Any], stream_request: bool) -> Callable[..., Any]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                client = _identity_of(context)
                token = CLIENT.set(client)
                try:
                    if stream_request:
                        request = _Paced(request, byte_rate, client)
                    else:
                        try:
                            byte_rate.take(client, _wire_size(request))
                        except Overloaded as exc:
                            getattr(request, "release", lambda: None)()  # its bytes leave the request pool now
                            await refuse(context, "bytes", exc)
                    if not streaming:
                        return await behavior(request, context)
                    try:
                        slot = limiter.stream(client)
                        slot.__enter__()
                    except Overloaded as exc:
                        await refuse(context, "streams", exc)
                    try:
                        return await behavior(request, context)
                    finally:
                        slot.__exit__(None, None, None)
                finally:
                    CLIENT.reset(token)

            return call

        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None and not inspect.isasyncgenfunction(behavior):
                return handler._replace(  # type: ignore[attr-defined,no-any-return]
                    **{kind: wrap(behavior, kind.startswith("stream_"))})
        return handler


def _name(cn: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def generate_dev_pki(out: Path, client_names: tuple[str, ...] = ("operator",), days: int = 30) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost, and client certificates, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("sharedseq dev CA")).issuer_name(_name("sharedseq dev CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    files = {"ca": out / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def issue(cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName] | None) -> tuple[bytes, object]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM), key

    cert, key = issue("localhost", ExtendedKeyUsageOID.SERVER_AUTH,
                      [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    files["server_cert"], files["server_key"] = out / "server.pem", out / "server.key"
    files["server_cert"].write_bytes(cert)
    _write_key(files["server_key"], key)  # type: ignore[arg-type]
    for name in client_names:
        cert, key = issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, None)
        files[f"{name}_cert"], files[f"{name}_key"] = out / f"{name}.pem", out / f"{name}.key"
        files[f"{name}_cert"].write_bytes(cert)
        _write_key(files[f"{name}_key"], key)  # type: ignore[arg-type]
    return files
