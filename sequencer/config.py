"""The service configuration file (TOML). deploy/sequencer.sample.toml documents every option."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sequencer.console.settings import ConsoleConfig, parse_console
from sequencer.core.config import CoreConfig, Limits, RollupInfo
from sequencer.core.policy import make_policy
from sequencer.core.signing import Domain
from sequencer.errors import BadInput
from sequencer.l1.origin import L1Config
from sequencer.service.limits import ApiLimits
from sequencer.service.security import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_RATE_TX_PER_S,
    DEFAULT_SHARE,
    TlsConfig,
)
from sequencer.service.views import ViewLimits

FORMAT_POLICIES = {"opstack": "evm", "nitro": "evm", "zkevm": "evm-legacy"}
"""Default admission policy per batch format: zkEVM batches carry only legacy transactions."""


@dataclass(frozen=True, slots=True)
class JetStreamConfig:
    """[jetstream]: the replicated log and the leader lease (issue 12, docs/replication.md).
    `advertise`: this replica's gRPC address as clients reach it (what followers name)."""

    servers: tuple[str, ...]
    stream: str = "sharedseq"
    replicas: int = 3
    timeout_ms: int = 2000
    lease_bucket: str = "sharedseq_lease"
    lease_ttl_ms: int = 1000
    advertise: str = ""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything `sharedseq serve` needs."""

    core: CoreConfig
    domain: Domain
    listen: str = "127.0.0.1:50051"
    data_dir: Path = Path("var/sequencer")
    key_file: Path = Path("var/sequencer.key")
    metrics_listen: str = "127.0.0.1:9464"
    max_message_bytes: int = 4 * 1024 * 1024
    log_format: str = "json"
    l1: L1Config | None = None
    tls: TlsConfig | None = None
    rate_limit_tx_per_s: float = DEFAULT_RATE_TX_PER_S
    rate_limit_burst: float = DEFAULT_RATE_TX_PER_S
    max_streams_per_client: int = DEFAULT_MAX_STREAMS
    client_share: float = DEFAULT_SHARE
    max_clients: int = 100_000
    subscribers: ViewLimits = field(default_factory=ViewLimits)
    api: ApiLimits = field(default_factory=ApiLimits)
    extra: dict[str, Any] = field(default_factory=dict)
    store: str = "sqlite"
    """"sqlite" (one machine) or "jetstream" (replicas: `jetstream` is then set)."""
    jetstream: JetStreamConfig | None = None
    console: ConsoleConfig | None = None
    """[console]: the read-only web console (off unless `listen` is set; sequencer/console)."""

    @property
    def log_path(self) -> Path:
        return self.data_dir / "log.sqlite3"


def _address(value: str, key: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise BadInput(f"{key}: expected a 20-byte hex address, got {value!r}")
    return raw


API_LIMITS = {name: type(getattr(ApiLimits(), name)) for name in ApiLimits.__dataclass_fields__}
"""[sequencer] options that bound the API's memory (sequencer/service/limits.py), with their types."""

KNOWN = {
    "sequencer": {"listen", "data_dir", "key_file", "slot_ms", "store",
                  "metrics_listen", "max_message_bytes", "log_format",
                  "rate_limit_tx_per_s", "rate_limit_burst", "max_streams_per_client", "client_share",
                  "max_clients", *API_LIMITS},
    "subscribers": set(ViewLimits.__dataclass_fields__),
    "domain": {"chain_id", "verifying_contract"},
    "limits": set(Limits.__dataclass_fields__),
    "l1": {"rpc_url", "inbox", "poll_ms", "lag"},
    "tls": {"cert_file", "key_file", "client_ca_file"},
    "rollups": {"id", "name", "format", "policy", "block_time_ms", "operator", "genesis_time_ms"},
    "jetstream": set(JetStreamConfig.__dataclass_fields__),
}
"""Options of each table; a typo is an error, not a silently ignored setting. Other top-level
tables (e.g. [batcher] or [devnet] sharing the file) are left to their readers."""


def _check_known(table: str, values: dict[str, Any]) -> None:
    unknown = set(values) - KNOWN[table]
    if unknown:
        raise BadInput(f"[{table}]: unknown option(s) {', '.join(sorted(unknown))}; "
                       f"known: {', '.join(sorted(KNOWN[table]))}")


def _api_limits(seq: dict[str, Any]) -> ApiLimits:
    values: dict[str, Any] = {}
    for name, kind in API_LIMITS.items():
        if name in seq:
            value = seq[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
                raise BadInput(f"sequencer.{name}: expected {'an integer' if kind is int else 'a number'}, "
                               f"got {value!r}")
            values[name] = kind(value)
    return ApiLimits(**values)


def parse_config(doc: dict[str, Any], base: Path = Path(".")) -> ServiceConfig:
    """Build the configuration from a parsed TOML document; paths relative to `base`."""
    from rollup_adapters.registry import NAMES as FORMATS

    seq = doc.get("sequencer", {})
    dom = doc.get("domain", {})
    lim = doc.get("limits", {})
    for table in ("sequencer", "domain", "limits", "l1", "tls", "subscribers", "jetstream"):
        _check_known(table, doc.get(table, {}))
    rollups = []
    for i, r in enumerate(doc.get("rollups", [])):
        _check_known("rollups", r)
        try:
            rid, name = int(r["id"]), str(r["name"])
        except KeyError as exc:
            raise BadInput(f"rollups[{i}]: missing {exc.args[0]!r}") from None
        fmt = r.get("format", "opstack")
        if fmt not in FORMATS:
            raise BadInput(f"rollups[{i}].format: unknown batch format {fmt!r}; known: {', '.join(FORMATS)}")
        if fmt == "opstack" and int(r.get("block_time_ms", 1000)) % 1000:
            raise BadInput(f"rollups[{i}].block_time_ms: OP Stack block times are whole seconds")
        policy = make_policy(r.get("policy", FORMAT_POLICIES.get(fmt, "evm")), rid)
        rollups.append(RollupInfo(rid, name, policy, fmt, int(r.get("block_time_ms", 1000))))
    if not rollups:
        raise BadInput("rollups: at least one [[rollups]] table is needed")
    try:
        core = CoreConfig(tuple(rollups), Limits(**lim), int(seq.get("slot_ms", 100)))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    l1 = doc.get("l1", {})
    l1_cfg = None
    if l1.get("rpc_url"):
        l1_cfg = L1Config(str(l1["rpc_url"]), l1.get("inbox") or None, int(l1.get("poll_ms", 1000)),
                          int(l1.get("lag", 0)))
    tls = doc.get("tls", {})
    tls_cfg = None
    if tls.get("cert_file"):
        if not tls.get("key_file"):
            raise BadInput("tls: cert_file needs key_file")
        tls_cfg = TlsConfig(base / tls["cert_file"], base / tls["key_file"],
                            base / tls["client_ca_file"] if tls.get("client_ca_file") else None)
    rate = float(seq.get("rate_limit_tx_per_s", DEFAULT_RATE_TX_PER_S))
    burst = float(seq.get("rate_limit_burst", rate))
    share = float(seq.get("client_share", DEFAULT_SHARE))
    if not 0 <= share <= 1:
        raise BadInput(f"sequencer.client_share: a fraction of a block between 0 (no cap) and 1, got {share:g}")
    sub = doc.get("subscribers", {})
    try:
        subscribers = ViewLimits(**{k: type(getattr(ViewLimits(), k))(v) for k, v in sub.items()})
    except (TypeError, ValueError) as exc:
        raise BadInput(f"[subscribers]: {exc}") from None
    if subscribers.chunk_bytes < 1 or subscribers.replay_bytes < subscribers.chunk_bytes:
        raise BadInput("[subscribers]: chunk_bytes must be positive and replay_bytes at least chunk_bytes")
    if rate > 0 and burst < 1:
        raise BadInput("sequencer.rate_limit_burst: must be at least 1 (and at least the largest bundle or "
                       "transaction list a client sends) when rate_limit_tx_per_s is set")
    api = _api_limits(seq)
    store, js_cfg = _store(seq, doc.get("jetstream", {}))
    max_message_bytes = int(seq.get("max_message_bytes", 4 * 1024 * 1024))
    api.check(max_message_bytes, min(core.limits.max_bundle_legs, core.limits.max_block_txs))
    return ServiceConfig(
        console=parse_console(doc.get("console", {}), base, tls=tls_cfg is not None),
        store=store,
        jetstream=js_cfg,
        api=api,
        l1=l1_cfg,
        tls=tls_cfg,
        rate_limit_tx_per_s=rate,
        rate_limit_burst=burst,
        max_streams_per_client=int(seq.get("max_streams_per_client", DEFAULT_MAX_STREAMS)),
        client_share=share,
        max_clients=int(seq.get("max_clients", 100_000)),
        subscribers=subscribers,
        core=core,
        domain=Domain(int(dom.get("chain_id", 31337)),
                      _address(dom.get("verifying_contract", "0x" + "00" * 20), "domain.verifying_contract")),
        listen=seq.get("listen", "127.0.0.1:50051"),
        data_dir=base / seq.get("data_dir", "var/sequencer"),
        key_file=base / seq.get("key_file", "var/sequencer.key"),
        metrics_listen=seq.get("metrics_listen", "127.0.0.1:9464"),
        max_message_bytes=max_message_bytes,
        log_format=seq.get("log_format", "json"),
        extra={k: v for k, v in doc.items()
               if k not in ("sequencer", "domain", "limits", "rollups", "l1", "tls", "subscribers", "jetstream",
                            "console")},
    )


def _store(seq: dict[str, Any], js: dict[str, Any]) -> tuple[str, JetStreamConfig | None]:
    store = seq.get("store", "sqlite")
    if store not in ("sqlite", "jetstream"):
        raise BadInput(f"sequencer.store: {store!r} is not a log; known: sqlite, jetstream")
    if store == "sqlite":
        return store, None
    servers = js.get("servers")
    if not isinstance(servers, list) or not servers or not all(isinstance(u, str) for u in servers):
        raise BadInput('jetstream.servers: store = "jetstream" needs a list of NATS URLs, e.g. '
                       '["nats://127.0.0.1:4222"]')
    try:
        cfg = JetStreamConfig(tuple(servers), **{k: type(getattr(JetStreamConfig(()), k))(v)
                                                for k, v in js.items() if k != "servers"})
    except (TypeError, ValueError) as exc:
        raise BadInput(f"[jetstream]: {exc}") from None
    if cfg.replicas not in (1, 3, 5) or cfg.lease_ttl_ms < 500 or cfg.timeout_ms < 100:
        raise BadInput("[jetstream]: replicas is 1, 3 or 5; lease_ttl_ms at least 500; timeout_ms at least 100")
    return store, cfg


def load_config(path: str | Path) -> ServiceConfig:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise BadInput(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"config file {p}: {exc}") from exc
    return parse_config(doc, p.parent)
