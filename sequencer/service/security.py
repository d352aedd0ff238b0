"""Transport security and per-client rate limits.

TLS: the server presents `cert_file`/`key_file`; with `client_ca_file` it
requires client certificates signed by that CA (mutual TLS for operators).
`generate_dev_pki` makes a throwaway CA, server and client certificates for
the devnet and tests (`sharedseq tls-gen`).

Rate limits: a token bucket per client, keyed by the client certificate's
common name under mutual TLS, else by the peer address. Each transaction
costs one token (a bundle one per leg); an empty bucket answers
RESOURCE_EXHAUSTED for that request alone.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def client_identity(context: grpc.aio.ServicerContext) -> str:
    """The client's certificate common name under mutual TLS, else its IP address."""
    auth = context.auth_context() or {}
    names = auth.get("x509_common_name")
    if names:
        return "cn:" + names[0].decode(errors="replace")
    peer = context.peer() or "unknown"
    # "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555": the port changes per connection, the client does not.
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


class RateLimiter:
    """Token buckets per client: `rate` tokens a second, up to `burst`. Bounded in memory:
    buckets idle long enough to be full again are dropped."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, cost: int = 1) -> None:
        """Spend `cost` tokens or raise Overloaded."""
        if self.rate <= 0:
            return
        if cost > self.burst:
            raise TooLarge(f"rate limit: a request of {cost} transactions is over the burst of {self.burst:g} "
                           "a client may send at once; split it")
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self._buckets[client] = (tokens, now)
            raise Overloaded(f"rate limit: client {client} is over {self.rate:g} transactions/s "
                             f"(burst {self.burst:g}); slow down")
        self._buckets[client] = (tokens - cost, now)
        if len(self._buckets) > self.max_clients:
            full_after = self.burst / self.rate
            self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < full_after}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def generate_dev_pki(out: Path, client_names: tuple[str, ...] = ("operator",), days: int = 30) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost, and client certificates, as PEM files."""
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
