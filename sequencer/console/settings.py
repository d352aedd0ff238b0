"""The `[console]` table of the service config (deploy/sequencer.sample.toml documents it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sequencer.errors import BadInput

KNOWN = {"listen", "admin_password_file", "interval_ms", "max_clients"}


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Where the console listens, and who may read it.

    `admin_password_file`: HTTP Basic credentials (user `admin`) every request must carry. Required
    when the gRPC port uses TLS: the console then serves HTTPS with the same certificate (and asks for
    a client certificate from `client_ca_file` when mutual TLS is on), so it is never a plaintext
    side door to a service its operator chose to protect."""

    listen: str
    admin_password_file: Path | None = None
    interval_ms: int = 500
    max_clients: int = 32


def parse_console(table: dict[str, Any], base: Path, *, tls: bool) -> ConsoleConfig | None:
    """None when the table is absent or `listen` is empty (off: the production default)."""
    unknown = set(table) - KNOWN
    if unknown:
        raise BadInput(f"[console]: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN))}")
    listen = str(table.get("listen", ""))
    if not listen:
        return None
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BadInput(f"console.listen: expected host:port, got {listen!r}")
    pw = table.get("admin_password_file")
    if tls and not pw:
        raise BadInput("console: the gRPC port uses TLS, so the console needs admin credentials: set "
                       "console.admin_password_file (or leave console.listen empty)")
    interval = int(table.get("interval_ms", 500))
    clients = int(table.get("max_clients", 32))
    if interval < 100 or clients < 1:
        raise BadInput("console: interval_ms is at least 100 and max_clients at least 1")
    return ConsoleConfig(listen, base / pw if pw else None, interval, clients)
