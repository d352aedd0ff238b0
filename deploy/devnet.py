"""The local devnet: L1, contracts, sequencer, batcher and three rollup nodes, in one process.

`sharedseq devnet --config deploy/devnet.toml` (what `make run` does) starts, in order, an anvil
L1, the contracts (deploy_all), the sequencer (signing for the deployed inbox, following the L1),
the batcher, and a soft node per rollup (plus a firm node per rollup when `firm_nodes`). It prints
progress while starting, one line `devnet ready: ...` with the endpoints, then a live view of
heights, firm/soft lag and latency. Ctrl-C (or SIGTERM) stops everything: every anvil runs in its
own process group and is killed on the way out.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
from web3 import Web3

from deploy.deployer import deploy_all
from deploy.liveview import LiveStatus, LiveView, Probe, RollupRow, ScrapedMetrics, replica_row
from rollup_node.node import NodeConfig, RollupNode
from sequencer.config import parse_config
from sequencer.configfile import load_table, read_toml, refuse_unknown
from sequencer.devtools.anvil import AnvilError, dev_accounts, free_port, port_is_free, start_anvil
from sequencer.errors import ConfigError, SharedSeqError, leaf_exceptions
from sequencer.keys import read_key, write_key
from sequencer.l1.batcher import Batcher, BatcherConfig
from sequencer.logs import setup_logging
from sequencer.server import RunningServer, running

log = logging.getLogger("sharedseq.devnet")
DEPLOYER, BATCHER = 0, 2
"""anvil dev accounts: 0 deploys, 2 posts windows; the others are left for users and the demo."""


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    workdir: Path
    rollups: tuple[dict[str, Any], ...]
    l1_chain_id: int = 31337
    l1_port: int = 8545
    l1_block_time: float = 1
    sequencer_port: int = 50051
    metrics_port: int = 9464
    console_port: int = 9465
    """The web console (sequencer/console); -1 turns it off."""
    slot_ms: int = 100
    window_ms: int = 2000
    force_inclusion_delay: int = 10
    node_api_port: int = 8601
    firm_nodes: bool = True
    replicas: int = 1
    """Sequencer replicas (issue 12, docs/replication.md): 1 runs the sequencer in this process on
    SQLite; more start a 3-node JetStream cluster and that many `sharedseq serve` processes on it
    (deploy/replicas/launch.py), with the first at `sequencer_port` and the next ports after it."""

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> DevnetConfig:
        """The file's [devnet] table through the one loader (sequencer/configfile.py: unknown options
        refused, every error naming `devnet.key`), each override that is not None (a command-line flag)
        over it; the [[rollups]] tables as they are (the sequencer and deploy check them). A relative
        workdir, from the file or --workdir, is relative to the file's folder."""
        p = Path(path)
        doc = read_toml(p)
        table = doc.get("devnet", {})
        if isinstance(table, dict) and "rollups" in table:
            raise ConfigError("devnet.rollups", "the rollups are the file's [[rollups]] tables, not a [devnet] option")
        rollups = doc.get("rollups", [])
        if not isinstance(rollups, list) or not all(isinstance(r, dict) for r in rollups):
            raise ConfigError("rollups", f"expected an array of tables ([[rollups]]), got {rollups!r}")
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        refuse_unknown(cls, table, "devnet")
        d = {"workdir": DEFAULT_WORKDIR, **table, **given, "rollups": rollups}
        cfg = load_table(cls, d, "devnet", base=p.parent)
        return cfg if Path(d["workdir"]).is_absolute() else replace(cfg, workdir=cfg.workdir.resolve())


DEFAULT_WORKDIR = "var/devnet"
"""The devnet's scratch folder when neither the file nor --workdir names one (relative to the file)."""


def _port(p: int) -> int:
    return p if p else free_port()


@dataclass
class Devnet:
    """The running devnet (handed to `on_ready`)."""

    config: DevnetConfig
    l1_url: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    server: RunningServer | None = None
    batcher: Batcher | None = None
    soft: dict[int, RollupNode] = field(default_factory=dict)
    firm: dict[int, RollupNode] = field(default_factory=dict)
    margin: dict[str, Any] = field(default_factory=dict)
    """The cross-rollup margin deployment (deploy/margin.py), also in the manifest's extra.margin."""
    replica_set: Any = None
    """With `replicas` > 1: the running deploy.replicas.launch.ReplicaSet (then `server` is None)."""
    replica_console: Any = None
    """With `replicas` > 1 and the console on: the console this process serves for the set
    (deploy/replicas/console.py: the leader, the lease, each replica's lag)."""
    _leader_probe: tuple[str, Probe] | None = None

    @property
    def inbox(self) -> str:
        return str(self.manifest["contracts"]["SequencerInbox"]["address"])

    @property
    def sequencer(self) -> str:
        """The sequencer's gRPC address; with replicas every replica's, comma separated (what the
        batcher and the rollup nodes take)."""
        if self.replica_set is not None:
            return ",".join(self.replica_set.addresses)
        assert self.server is not None
        return self.server.address

    @property
    def console(self) -> tuple[int, Any] | None:
        """(port, Sampler) of the web console, in the sequencer or (replicas) in this process; None: off."""
        if self.server is not None and self.server.console is not None and self.server.console_port is not None:
            return self.server.console_port, self.server.console
        if self.replica_console is not None:
            return self.replica_console.port, self.replica_console.sampler
        return None

    def endpoints(self) -> dict[str, Any]:
        replicated = self.replica_set.endpoints() if self.replica_set is not None else {}
        lead = self.replica_set.leader() if self.replica_set is not None else None
        return {
            "l1_rpc": self.l1_url,
            # One address for clients that take one (the demo): with replicas the leader's at start;
            # `replicas` lists them all (a client given every address follows the leader).
            "sequencer": lead.address if lead is not None else self.sequencer,
            **replicated,
            "metrics": f"http://127.0.0.1:{self.server.metrics_port}/metrics" if self.server else
            (replicated["replicas"][0]["metrics"] if replicated else None),
            "console": f"http://127.0.0.1:{c[0]}/" if (c := self.console) is not None else None,
            "inbox": self.inbox,
            "nodes": {str(rid): f"http://127.0.0.1:{n.api_port}" for rid, n in self.soft.items()},
            "firm_nodes": {str(rid): f"http://127.0.0.1:{n.api_port}" for rid, n in self.firm.items()},
            "engines": {str(rid): n.engine.url for rid, n in self.soft.items() if n.engine is not None},
            "margin": self.margin or None,
        }

    def console_view(self) -> dict[str, Any]:
        """What the console shows beyond the sequencer: each rollup's soft and firm node heads, the
        batcher's postings with their L1 status, the forced queues."""
        from sequencer.console.snapshot import batcher_view

        rollups = {}
        for rid, n in self.soft.items():
            f = self.firm.get(rid)
            rollups[str(rid)] = {"soft_block": n.head.engine_number if n.head else None,
                                 "firm_block": f.head.engine_number if f is not None and f.head else None}
        view: dict[str, Any] = {"rollups": rollups}
        if self.batcher is not None:
            view |= batcher_view(self.batcher, force_inclusion_delay=self.config.force_inclusion_delay)
        return view

    def live_status(self, probe: Probe) -> LiveStatus:
        """This interval's figures for the terminal live view (deploy/liveview.py). With replicas:
        each replica's row from its metrics endpoint, the shared figures from the leader's."""
        if self.replica_set is not None:
            return self._replicated_status()
        assert self.server is not None
        node = self.server.node
        p50, p99, total, per = probe.read(time.monotonic())
        return LiveStatus(time.strftime("%H:%M:%S"), node.durable_height, node.firm_height, p50, p99, total,
                          self._rollup_rows(per))

    def _rollup_rows(self, per: dict[str, float | None]) -> tuple[RollupRow, ...]:
        rows = []
        for r in self.config.rollups:
            rid = int(r["id"])
            soft, firm = self.soft.get(rid), self.firm.get(rid)
            rows.append(RollupRow(rid, str(r.get("name", rid)),
                                  soft.head.engine_number if soft is not None and soft.head else None,
                                  firm.head.engine_number if firm is not None and firm.head else None,
                                  per.get(str(rid))))
        return tuple(rows)

    def _replicated_status(self) -> LiveStatus:
        """Blocking HTTP reads of each replica's metrics (the live view runs them on a thread)."""
        rs = self.replica_set
        scraped: dict[str, ScrapedMetrics | None] = {}
        for r in rs.replicas:
            try:
                scraped[r.address] = ScrapedMetrics(r.metrics(timeout=1.0))
            except OSError:
                scraped[r.address] = None
        rows = tuple(replica_row(r.address, r.pid, scraped[r.address]) for r in rs.replicas)
        leader = next((r for r in rows if r.leading), None)
        m = scraped[leader.address] if leader is not None else None
        p50 = p99 = total = None
        per: dict[str, float | None] = {}
        if leader is not None and m is not None:
            # Latency and tx/s are the leader's (followers admit nothing); a new leader has counters
            # of its own, so its windows start afresh.
            if self._leader_probe is None or self._leader_probe[0] != leader.address:
                self._leader_probe = (leader.address, Probe(m))
            self._leader_probe[1].metrics = m
            p50, p99, total, per = self._leader_probe[1].read(time.monotonic())
        firm = m.value("sharedseq_firm_height") if m is not None else None
        height = max((r.height for r in rows if r.height is not None), default=-1)
        return LiveStatus(time.strftime("%H:%M:%S"), height, int(firm) if firm is not None else -1, p50, p99,
                          total, self._rollup_rows(per), rows)


def _say(line: str) -> None:
    print(line, flush=True)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


MARKER = ".sharedseq-devnet"
"""Written in the work folder, so a later start wipes only folders a devnet made."""


class DevnetError(SharedSeqError):
    """The devnet cannot start as configured (busy port, foreign work folder)."""


def prepare_workdir(workdir: Path) -> None:
    """Empty the work folder, refusing any non-empty folder this devnet did not create."""
    if workdir.exists():
        if not workdir.is_dir():
            raise DevnetError(f"workdir {workdir} is not a folder")
        if any(workdir.iterdir()) and not (workdir / MARKER).exists():
            raise DevnetError(f"refusing to wipe {workdir}: it is not empty and was not made by a devnet "
                              f"(no {MARKER}); choose another --workdir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("made by `sharedseq devnet`; wiped at each start\n")


def check_ports(cfg: DevnetConfig) -> None:
    """Fail before starting anything if a configured port is taken."""
    ports = {"l1_port": cfg.l1_port, "sequencer_port": cfg.sequencer_port, "metrics_port": cfg.metrics_port,
             "console_port": max(cfg.console_port, 0)}
    if cfg.node_api_port:
        ports |= {f"node_api_port+{i}": cfg.node_api_port + i for i in range(len(cfg.rollups))}
    if cfg.sequencer_port and cfg.replicas > 1:
        ports |= {f"sequencer_port+{i}": cfg.sequencer_port + i for i in range(1, cfg.replicas)}
    busy = [f"{name} {p}" for name, p in ports.items() if p and not port_is_free(p)]
    if busy:
        raise DevnetError(f"port(s) in use on 127.0.0.1: {', '.join(busy)} (another devnet?); "
                          "stop it or run with --free-ports")


async def run_devnet(cfg: DevnetConfig, *, say: Callable[[str], None] = _say,
                     on_ready: Callable[[Devnet], Any] | None = None, live_every_s: float = 2.0) -> None:
    """Start everything, call `on_ready`, print the live view until cancelled."""
    net = Devnet(cfg)
    prepare_workdir(cfg.workdir)
    check_ports(cfg)
    accounts = dev_accounts()
    say(f"[1/6] starting the L1 (anvil, chain {cfg.l1_chain_id}) ...")
    with start_anvil(chain_id=cfg.l1_chain_id, port=_port(cfg.l1_port), block_time=cfg.l1_block_time) as l1:
        net.l1_url = l1.url
        say(f"      L1 on {l1.url}")
        say("[2/6] deploying the contracts ...")
        seq_key_file = cfg.workdir / "sequencer.key"
        seq_address = "0x" + write_key(seq_key_file).hex()
        deploy_doc = {
            # A window older than this catches up instead of waiting for an origin the lag allows; the
            # sequencer stops sealing at half of it (sequencer drift), so keep it well above one L1 poll.
            "l1": {"force_inclusion_delay": cfg.force_inclusion_delay,
                   "catch_up_after_ms": max(30_000, int(cfg.force_inclusion_delay * cfg.l1_block_time * 3000))},
            "sequencer": {"address": Web3.to_checksum_address(seq_address)},
            "batcher": {"address": accounts[BATCHER].address},
            "rollups": list(cfg.rollups),
        }
        w3 = Web3(Web3.HTTPProvider(l1.url))
        manifest = await anyio.to_thread.run_sync(
            lambda: deploy_all(w3, accounts[DEPLOYER].key, deploy_doc, log=lambda m: say(f"      {m}")))
        manifest.save(cfg.workdir / "manifest.json")
        net.manifest = json.loads((cfg.workdir / "manifest.json").read_text())
        say(f"      SequencerInbox at {net.inbox}")
        say("[3/6] starting the sequencer ...")
        seq_doc = {
            "sequencer": {"listen": f"127.0.0.1:{_port(cfg.sequencer_port)}", "data_dir": "sequencer",
                          "key_file": str(seq_key_file), "slot_ms": cfg.slot_ms,
                          "metrics_listen": f"127.0.0.1:{_port(cfg.metrics_port)}", "log_format": "text"},
            "domain": {"chain_id": cfg.l1_chain_id, "verifying_contract": net.inbox},
            "l1": {"rpc_url": l1.url, "inbox": net.inbox, "poll_ms": 500},
            "rollups": list(cfg.rollups),
        }
        if cfg.console_port >= 0 and cfg.replicas == 1:  # the console reads the node in this process
            seq_doc["console"] = {"listen": f"127.0.0.1:{_port(cfg.console_port)}"}
        seq_cfg = parse_config(seq_doc, cfg.workdir)  # checked here, whether it runs here or in replicas
        async with _sequencer(cfg, seq_cfg, seq_doc, net, say) as server, anyio.create_task_group() as tg:
            net.server = server
            say("[4/6] starting the batcher ...")
            # The batcher signs each window with the sequencer's own key file (docs/settlement.md 1).
            net.batcher = Batcher(BatcherConfig(sequencer=net.sequencer, l1_rpc_url=l1.url, inbox=net.inbox,
                                                key=accounts[BATCHER].key, signer_key=read_key(seq_key_file),
                                                window_ms=cfg.window_ms, poll_ms=250),
                                  # its metrics on the sequencer's endpoint (replicas: its own registry)
                                  registry=server.node.metrics.registry if server is not None else None)
            await tg.start(net.batcher.run)
            say(f"[5/6] starting {len(cfg.rollups)} rollup nodes ...")
            for i, r in enumerate(cfg.rollups):
                rid = int(r["id"])
                api = cfg.node_api_port + i if cfg.node_api_port else 0
                node = await tg.start(RollupNode(NodeConfig(rid, "soft", sequencer=net.sequencer, l1_rpc=l1.url,
                                                            inbox=net.inbox, api_port=api)).run)
                net.soft[rid] = node
                say(f"      {r['name']} ({r['format']}, chain {rid}): soft node API http://127.0.0.1:{node.api_port}")
                if cfg.firm_nodes:
                    net.firm[rid] = await tg.start(RollupNode(NodeConfig(rid, "firm", l1_rpc=l1.url,
                                                                         inbox=net.inbox, api_port=0)).run)
            if net.console is not None:
                net.console[1].sources.append(net.console_view)
                say(f"      console on http://127.0.0.1:{net.console[0]}/")
            say("[6/6] waiting for the first rollup blocks ...")
            with anyio.fail_after(60):
                while not all(n.head for n in net.soft.values()):
                    await anyio.sleep(0.1)
            if len(cfg.rollups) >= 3:
                from deploy.margin import start_devnet_margin

                say("      deploying the cross-rollup margin contracts through the sequencer ...")
                engines = {rid: n.engine.url for rid, n in net.soft.items() if n.engine is not None}
                ids = tuple(int(r["id"]) for r in cfg.rollups[:3])
                lead = server.address if server is not None else net.replica_set.leader().address
                net.margin = await start_devnet_margin(
                    tg, workdir=cfg.workdir, sequencer=lead, engines=engines, l1_chain_id=cfg.l1_chain_id,
                    inbox=net.inbox, sequencer_key=read_key(seq_key_file), rollups=(ids[0], ids[1], ids[2]),
                    say=lambda m: say(f"      {m}"), console=net.console[1] if net.console is not None else None)
            # Written whole, then renamed: a reader polling for the file (the demo, the tests)
            # never sees it empty or half-written.
            tmp = cfg.workdir / "endpoints.json.tmp"
            tmp.write_text(json.dumps(net.endpoints(), indent=2))
            tmp.replace(cfg.workdir / "endpoints.json")
            say("devnet ready: " + json.dumps(net.endpoints()))
            say(f"      try: sharedseq demo --endpoints {cfg.workdir / 'endpoints.json'}")
            if on_ready is not None:
                on_ready(net)
            # On a terminal, a table redrawn in place; into a file or a pipe, one line per interval.
            tty = say is _say and sys.stdout.isatty()
            view = LiveView(_write if say is _say else (lambda text: say(text.rstrip("\n"))), tty=tty)
            probe = Probe(server.node.metrics if server is not None else None)
            try:
                while True:
                    await anyio.sleep(live_every_s)
                    # Replicas: HTTP reads of each one's metrics, on a thread.
                    view.show(await anyio.to_thread.run_sync(net.live_status, probe) if server is None
                              else net.live_status(probe))
            finally:
                (cfg.workdir / "endpoints.json").unlink(missing_ok=True)


@asynccontextmanager
async def _sequencer(cfg: DevnetConfig, seq_cfg: Any, seq_doc: dict[str, Any], net: Devnet,
                     say: Callable[[str], None]) -> AsyncIterator[RunningServer | None]:
    """The sequencer in this process (replicas = 1), or a replica set in processes of their own
    (None: `net.replica_set` is set)."""
    if cfg.replicas == 1:
        async with running(seq_cfg) as server:
            say(f"      sequencer on {server.address}, slot {cfg.slot_ms} ms")
            yield server
        return
    from deploy.replicas.launch import ReplicaSet

    if not 2 <= cfg.replicas <= 5:
        raise ConfigError("devnet.replicas", f"must be 1 (no replication) or 2 to 5, got {cfg.replicas}")
    rs = ReplicaSet(cfg.workdir, {k: v for k, v in seq_doc.items() if k != "console"}, cfg.replicas,
                    cfg.sequencer_port)
    say(f"      {cfg.replicas} replicas on a 3-node JetStream cluster (logs: {cfg.workdir}/replica-*.log) ...")
    try:
        await anyio.to_thread.run_sync(rs.start)
        net.replica_set = rs
        lead = rs.leader()
        say(f"      replicas {', '.join(rs.addresses)}; leader {lead.address if lead else '?'} "
            f"(pid {lead.pid if lead else '?'}), slot {cfg.slot_ms} ms")
        if cfg.console_port < 0:
            yield None
            return
        from deploy.replicas.console import members_of, serve_console

        # The replicas' nodes are in processes of their own: this process serves their console,
        # reading each one's metrics and the leader's blocks as an operator's tools would.
        async with serve_console(members_of(rs), f"127.0.0.1:{_port(cfg.console_port)}", seq_doc["rollups"],
                                 cfg.slot_ms) as console:
            net.replica_console = console
            yield None
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(rs.stop)


async def _main(cfg: DevnetConfig) -> None:
    # SIGHUP too: closing the terminal must stop the chains, not orphan them.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_devnet, cfg)
            async for sig in signals:
                print(f"\n{signal.Signals(sig).name}: stopping the devnet ...", flush=True)
                tg.cancel_scope.cancel()
                break
    print("devnet stopped", flush=True)


def main_devnet(config: str, overrides: dict[str, Any]) -> int:
    setup_logging("text", "warning")
    cfg = DevnetConfig.load(config, overrides)  # a config error: one line and exit code 78 (sequencer/cli.py)
    try:
        anyio.run(_main, cfg, backend="asyncio")
    except BaseException as exc:  # one line for the operator, not a traceback
        leaf = leaf_exceptions(exc)[0]
        if isinstance(leaf, SharedSeqError | AnvilError | OSError | TimeoutError):
            print(f"devnet: {leaf}", file=sys.stderr, flush=True)
            return 1
        raise
    return 0
