"""The `[console]` table of the service config (deploy/sequencer.sample.toml documents it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sequencer.configfile import POSITIVE, at_least, load_table, option
from sequencer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Where the console listens, and who may read it; the [console] table's schema (sequencer/configfile.py).

    `listen`: "" (the default) turns the console off. `admin_password_file`: HTTP Basic credentials
    (user `admin`) every request must carry. Required when the gRPC port uses TLS: the console then
    serves HTTPS with the same certificate (and asks for a client certificate from `client_ca_file`
    when mutual TLS is on), so it is never a plaintext side door to a service its operator chose to
    protect."""

    listen: str = ""
    admin_password_file: Path | None = None
    interval_ms: int = option(500, rule=at_least(100))
    max_clients: int = option(32, rule=POSITIVE)



def parse_console(table: dict[str, Any], base: Path, *, tls: bool) -> ConsoleConfig | None:
    """None when the table is absent or `listen` is empty (off: the production default)."""
    cfg = load_table(ConsoleConfig, table, "console")
    if not cfg.listen:
        return None
    host, sep, port = cfg.listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError("console.listen", f"expected host:port, got {cfg.listen!r}")
    if tls and cfg.admin_password_file is None:
        raise ConfigError("console.admin_password_file",
                          "the gRPC port uses TLS, so the console needs admin credentials: set "
                          "console.admin_password_file (or leave console.listen empty)")
    if cfg.admin_password_file is not None:
        cfg = replace(cfg, admin_password_file=base / cfg.admin_password_file)
    return cfg
