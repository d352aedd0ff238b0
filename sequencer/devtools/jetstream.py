"""A local NATS JetStream cluster on 127.0.0.1 (issue 12): what the replicated devnet
(deploy/replicas/launch.py) and the benchmark's JetStream phase (sequencer/bench) run their
sequencers on.

    cluster = start_cluster(workdir / "jetstream")   # 3 nodes, each healthy on return
    try:
        urls = cluster.urls                          # for [jetstream] servers
    finally:
        cluster.stop()

Each node is a `nats-server` process (the Debian package `make install` installs) with its own
client, route and monitoring ports (free ones) and its own store under `root`; each runs in its own
process group, killed by `stop()`. The test suite's cluster (tests/integration/nats_cluster.py)
has more (nodes killed and restarted on the same ports); this one only starts and stops.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sequencer.devtools.anvil import free_port
from sequencer.devtools.processes import ChildProcess
from sequencer.errors import SharedSeqError

MAX_PAYLOAD = 8 * 1024 * 1024
"""A group commit with a sealed block is one NATS message: above the 1 MB default."""
MISSING = "nats-server is not installed: run `make install` (apt-get install nats-server)"


class JetStreamError(SharedSeqError):
    """The JetStream cluster could not start (no nats-server, a node that exited or never got healthy)."""


@dataclass(kw_only=True)
class NatsNode(ChildProcess):
    """One nats-server: `proc` is None until started and after `kill`."""

    port: int
    http_port: int
    route_port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """/healthz answers 200: JetStream is current with its meta leader and its streams."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False


@dataclass
class JetStreamCluster:
    root: Path
    nodes: list[NatsNode] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()


def available() -> str | None:
    """None when nats-server is on the PATH, else why not (what a caller reports instead of crashing)."""
    return None if shutil.which("nats-server") else MISSING


def start_cluster(root: Path, size: int = 3, timeout: float = 60.0) -> JetStreamCluster:
    """`size` nodes routed to each other, each healthy on return; on any failure the nodes started
    are killed and JetStreamError says which one and why (its log is `root/<name>.log`)."""
    exe = shutil.which("nats-server")
    if exe is None:
        raise JetStreamError(MISSING)
    cluster = JetStreamCluster(root)
    nodes = [NatsNode(name=f"nats-{i}", port=free_port(), http_port=free_port(), route_port=free_port())
             for i in range(size)]
    route_list = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in nodes)
    try:
        for i, n in enumerate(nodes):
            (root / n.name).mkdir(parents=True, exist_ok=True)
            conf = root / f"{n.name}.conf"
            conf.write_text(f'server_name: n{i}\nlisten: "127.0.0.1:{n.port}"\nhttp: "127.0.0.1:{n.http_port}"\n'
                            f"max_payload: {MAX_PAYLOAD}\n"
                            f'jetstream {{ store_dir: "{root / n.name}" }}\n'
                            f'cluster {{ name: sharedseq, listen: "127.0.0.1:{n.route_port}", '
                            f"routes: [{route_list}] }}\n")
            with open(root / f"{n.name}.log", "ab") as log:
                n.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            cluster.nodes.append(n)
        # Polled with a generous bound: a Raft meta election on a loaded 2-core machine takes seconds.
        deadline = time.monotonic() + timeout
        while not all(n.healthy() for n in nodes):
            for n in nodes:
                if n.proc is not None and n.proc.poll() is not None:
                    raise JetStreamError(f"nats-server {n.name} exited with {n.proc.returncode} while starting "
                                         f"(log: {root / (n.name + '.log')})")
            if time.monotonic() > deadline:
                raise JetStreamError(f"JetStream not healthy after {timeout:g} s (logs: {root}/nats-*.log)")
            time.sleep(0.1)
    except BaseException:
        cluster.stop()
        raise
    return cluster
