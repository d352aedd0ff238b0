"""The service configuration file (TOML). deploy/sequencer.sample.toml documents every option."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sequencer.configfile import (
    NON_NEGATIVE,
    POSITIVE,
    between,
    defaults_of,
    load_table,
    one_of,
    option,
    read_toml,
    refuse_unknown,
)
from sequencer.console.settings import ConsoleConfig, parse_console
from sequencer.core.config import CoreConfig, Limits, RollupInfo
from sequencer.core.policy import make_policy
from sequencer.core.signing import Domain
from sequencer.errors import BadInput, ConfigError
from sequencer.l1.settings import L1Config
from sequencer.logs import FORMATS as LOG_FORMATS
from sequencer.service.limits import ApiLimits
from sequencer.service.security import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_RATE_TX_PER_S,
    DEFAULT_SHARE,
    TlsConfig,
)
from sequencer.service.views import ViewLimits


@dataclass(frozen=True, slots=True)
class JetStreamConfig:
    """[jetstream]: the replicated log and the leader lease (issue 12, docs/replication.md).
    `advertise`: this replica's gRPC address as clients reach it (what followers name).
    `connect_timeout_ms`: how long `serve` keeps trying to reach JetStream and open the stream at
    start-up (no server answering, no quorum) before it exits with code 69 (EX_UNAVAILABLE)."""

    servers: tuple[str, ...]
    stream: str = "sharedseq"
    replicas: int = 3
    timeout_ms: int = 2000
    lease_bucket: str = "sharedseq_lease"
    lease_ttl_ms: int = 1000
    advertise: str = ""
    connect_timeout_ms: int = 30000


@dataclass(frozen=True, slots=True)
class SequencerTable:
    """[sequencer]: the service's own options, with their only defaults (deploy/sequencer.sample.toml
    documents each; `ServiceConfig` takes its defaults from here). Paths are relative to the file."""

    listen: str = "127.0.0.1:50051"
    data_dir: Path = Path("var/sequencer")
    key_file: Path = Path("var/sequencer.key")
    slot_ms: int = option(defaults_of(CoreConfig)["slot_ms"], rule=POSITIVE)
    store: str = option("sqlite", rule=one_of("sqlite", "jetstream"))
    """"sqlite" (one machine) or "jetstream" (replicas: the [jetstream] table is then read)."""
    metrics_listen: str = "127.0.0.1:9464"
    max_message_bytes: int = option(4 * 1024 * 1024, rule=POSITIVE)
    log_format: str = option("json", rule=one_of(*LOG_FORMATS))
    rate_limit_tx_per_s: float = option(DEFAULT_RATE_TX_PER_S, rule=NON_NEGATIVE)
    rate_limit_burst: float | None = option(None, rule=NON_NEGATIVE)
    """None: the rate."""
    max_streams_per_client: int = option(DEFAULT_MAX_STREAMS, rule=NON_NEGATIVE)
    client_share: float = option(DEFAULT_SHARE, rule=between(0, 1))
    """A fraction of a block between 0 (no cap) and 1."""
    max_clients: int = option(100_000, rule=POSITIVE)
    check_workers: int = option(1, rule=NON_NEGATIVE)
    """Processes that run the admission policy checks under load (sequencer/service/checkers.py); 0: in the server."""
    api: ApiLimits = option(inline=True, default_factory=ApiLimits)
    """The API's memory bounds (sequencer/service/limits.py), options of this same table."""


@dataclass(frozen=True, slots=True)
class DomainTable:
    """[domain]: the EIP-712 domain of every signature (the L1 chain id and the SequencerInbox)."""

    chain_id: int = option(31337, rule=NON_NEGATIVE)
    verifying_contract: str = "0x" + "00" * 20


@dataclass(frozen=True, slots=True)
class RollupTable:
    """One [[rollups]] entry. `operator` and `genesis_time_ms` are accepted so one file can also feed
    `sharedseq deploy` (the registry entry); the sequencer does not read them."""

    id: int = option(rule=NON_NEGATIVE)
    name: str = option()
    format: str = "opstack"
    policy: str | None = None
    """None: the format's default admission policy."""
    block_time_ms: int = option(1000, rule=POSITIVE)
    operator: str | None = None
    genesis_time_ms: int = option(0, rule=NON_NEGATIVE)


_SEQ = SequencerTable()


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything `sharedseq serve` needs (defaults: SequencerTable's)."""

    core: CoreConfig
    domain: Domain
    listen: str = _SEQ.listen
    data_dir: Path = _SEQ.data_dir
    key_file: Path = _SEQ.key_file
    metrics_listen: str = _SEQ.metrics_listen
    max_message_bytes: int = _SEQ.max_message_bytes
    log_format: str = _SEQ.log_format
    l1: L1Config | None = None
    tls: TlsConfig | None = None
    rate_limit_tx_per_s: float = _SEQ.rate_limit_tx_per_s
    rate_limit_burst: float = _SEQ.rate_limit_tx_per_s
    max_streams_per_client: int = _SEQ.max_streams_per_client
    client_share: float = _SEQ.client_share
    max_clients: int = _SEQ.max_clients
    check_workers: int = _SEQ.check_workers
    subscribers: ViewLimits = field(default_factory=ViewLimits)
    api: ApiLimits = field(default_factory=ApiLimits)
    extra: dict[str, Any] = field(default_factory=dict)
    store: str = _SEQ.store
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
        raise ConfigError(key, f"expected a 20-byte hex address, got {value!r}")
    return raw


SCHEMA: dict[str, type] = {
    "sequencer": SequencerTable,
    "subscribers": ViewLimits,
    "domain": DomainTable,
    "limits": Limits,
    "l1": L1Config,
    "tls": TlsConfig,
    "rollups": RollupTable,
    "jetstream": JetStreamConfig,
    "console": ConsoleConfig,
}
"""The dataclass that is the schema of each table `sharedseq serve` reads (sequencer/configfile.py;
docs/config-reference.md is generated against it). Other top-level tables (e.g. [batcher] or
[devnet] sharing the file) are left to their readers; a typo in one of these is an error, never a
silently ignored setting."""


def parse_config(doc: dict[str, Any], base: Path = Path(".")) -> ServiceConfig:
    """Build the configuration from a parsed TOML document; paths relative to `base`. Every error is a
    ConfigError naming `table.key`."""
    try:
        return _parse_config(doc, base)
    except ConfigError:
        raise
    except BadInput as exc:  # a check of a table's own type (ApiLimits.check, parse_console): name its place
        found = re.match(r"^\[?([a-z_]+(?:\.[a-z_]+)?)\]?: ", str(exc))
        raise ConfigError(found[1] if found else "config", str(exc)[found.end():] if found else str(exc),
                          str(exc)) from None


def _parse_config(doc: dict[str, Any], base: Path) -> ServiceConfig:
    from rollup_adapters.registry import get_spec, names

    seq = load_table(SequencerTable, doc.get("sequencer", {}), "sequencer")
    dom = load_table(DomainTable, doc.get("domain", {}), "domain")
    lim = load_table(Limits, doc.get("limits", {}), "limits")
    rollups = []
    entries = doc.get("rollups", [])
    if not isinstance(entries, list):
        raise ConfigError("rollups", f"expected an array of tables ([[rollups]]), got {entries!r}")
    for i, entry in enumerate(entries):
        r = load_table(RollupTable, entry, f"rollups[{i}]", table="rollups")
        rid, name, fmt = r.id, r.name, r.format
        if fmt not in names():  # registry names only: the batch tool's aliases (cdk) are not config names
            raise ConfigError(f"rollups[{i}].format", f"unknown batch format {fmt!r}; known: {', '.join(names())}")
        spec = get_spec(fmt)  # everything format-specific (rollup_adapters/spec.py FormatSpec)
        if (why := spec.block_time.refusal(r.block_time_ms)) is not None:
            raise ConfigError(f"rollups[{i}].block_time_ms", why)
        try:
            policy = make_policy(r.policy or spec.default_policy, rid)
        except BadInput as exc:
            raise ConfigError(f"rollups[{i}].policy", str(exc)) from None
        rollups.append(RollupInfo(rid, name, policy, fmt, r.block_time_ms))
    if not rollups:
        raise ConfigError("rollups", "at least one [[rollups]] table is needed")
    core = CoreConfig(tuple(rollups), lim, seq.slot_ms)  # its checks raise ConfigError naming table.key
    l1 = doc.get("l1", {})
    l1_cfg = None
    if isinstance(l1, dict) and l1.get("rpc_url"):
        l1_cfg = load_table(L1Config, l1, "l1")
        l1_cfg = replace(l1_cfg, inbox=l1_cfg.inbox or None)
        if l1_cfg.poll_ms < 1 or l1_cfg.lag < 0:
            raise ConfigError("l1.poll_ms" if l1_cfg.poll_ms < 1 else "l1.lag",
                              "poll_ms is positive and lag not negative")
    else:
        refuse_unknown(L1Config, l1, "l1")  # off without rpc_url, still checked for typos
    tls = doc.get("tls", {})
    tls_cfg = None
    if isinstance(tls, dict) and tls.get("cert_file"):
        if not tls.get("key_file"):
            raise ConfigError("tls.key_file", "cert_file needs key_file")
        tls_cfg = load_table(TlsConfig, tls, "tls", base=base)
    else:
        refuse_unknown(TlsConfig, tls, "tls")
    rate = seq.rate_limit_tx_per_s
    burst = rate if seq.rate_limit_burst is None else seq.rate_limit_burst
    subscribers = load_table(ViewLimits, doc.get("subscribers", {}), "subscribers")
    if subscribers.chunk_bytes < 1 or subscribers.replay_bytes < subscribers.chunk_bytes:
        raise ConfigError("subscribers.chunk_bytes", "chunk_bytes must be positive and replay_bytes at least "
                                                     "chunk_bytes")
    if rate > 0 and burst < 1:
        raise ConfigError("sequencer.rate_limit_burst", "must be at least 1 (and at least the largest bundle or "
                          "transaction list a client sends) when rate_limit_tx_per_s is set")
    js_cfg = _jetstream(seq.store, doc.get("jetstream", {}))
    seq.api.check(seq.max_message_bytes, min(core.limits.max_bundle_legs, core.limits.max_block_txs))
    return ServiceConfig(
        console=parse_console(doc.get("console", {}), base, tls=tls_cfg is not None),
        store=seq.store,
        jetstream=js_cfg,
        api=seq.api,
        l1=l1_cfg,
        tls=tls_cfg,
        rate_limit_tx_per_s=rate,
        rate_limit_burst=burst,
        max_streams_per_client=seq.max_streams_per_client,
        client_share=seq.client_share,
        max_clients=seq.max_clients,
        check_workers=seq.check_workers,
        subscribers=subscribers,
        core=core,
        domain=Domain(dom.chain_id, _address(dom.verifying_contract, "domain.verifying_contract")),
        listen=seq.listen,
        data_dir=base / seq.data_dir,
        key_file=base / seq.key_file,
        metrics_listen=seq.metrics_listen,
        max_message_bytes=seq.max_message_bytes,
        log_format=seq.log_format,
        extra={k: v for k, v in doc.items() if k not in SCHEMA},
    )


def _jetstream(store: str, js: Any) -> JetStreamConfig | None:
    """The [jetstream] table, read when the store is "jetstream" (and checked for typos otherwise)."""
    if store == "sqlite":
        refuse_unknown(JetStreamConfig, js, "jetstream")
        return None
    servers = js.get("servers") if isinstance(js, dict) else None
    if not isinstance(servers, list) or not servers or not all(isinstance(u, str) for u in servers):
        raise ConfigError("jetstream.servers", 'store = "jetstream" needs a list of NATS URLs, e.g. '
                                               '["nats://127.0.0.1:4222"]')
    cfg = load_table(JetStreamConfig, js, "jetstream")
    if cfg.replicas not in (1, 3, 5):
        raise ConfigError("jetstream.replicas", f"must be 1, 3 or 5, got {cfg.replicas}")
    if cfg.lease_ttl_ms < 500:
        raise ConfigError("jetstream.lease_ttl_ms", f"must be at least 500, got {cfg.lease_ttl_ms}")
    if cfg.timeout_ms < 100:
        raise ConfigError("jetstream.timeout_ms", f"must be at least 100, got {cfg.timeout_ms}")
    if cfg.connect_timeout_ms < 100:
        raise ConfigError("jetstream.connect_timeout_ms", f"must be at least 100, got {cfg.connect_timeout_ms}")
    return cfg


def load_config(path: str | Path) -> ServiceConfig:
    p = Path(path)
    return parse_config(read_toml(p), p.parent)
