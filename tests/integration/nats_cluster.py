"""A 3-node NATS JetStream cluster on 127.0.0.1, in a temporary folder (issue 12).

Each node is a `nats-server` process (the Debian package the Makefile installs) with its own client
port, route port, monitoring port and JetStream store; `kill(i)` SIGKILLs one, `start(i)` brings it
back on the same ports and store, `stop()` ends them all. Ports are reserved ones below the ephemeral
range (seq_helpers.free_port, re-exported here for the replication tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from seq_helpers import free_port

__all__ = ["NatsCluster", "NatsNode", "free_port", "nats_cluster"]

MAX_PAYLOAD = 8 * 1024 * 1024
"""A group commit with a sealed block is one message: NATS's default 1 MB cap is below a full block."""


@dataclass
class NatsNode:
    name: str
    port: int
    cluster_port: int
    http_port: int
    store: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@dataclass
class NatsCluster:
    root: Path
    size: int = 3
    nodes: list[NatsNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        exe = shutil.which("nats-server")
        if exe is None:
            raise RuntimeError("nats-server is not installed: run `make install` (apt-get install nats-server)")
        self.exe = exe
        for i in range(self.size):
            name = f"n{i}"
            self.nodes.append(NatsNode(name, free_port(), free_port(), free_port(), self.root / name / "js",
                                       self.root / name / "nats.conf"))
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        for n in self.nodes:
            n.store.mkdir(parents=True, exist_ok=True)
            n.config.write_text(
                f'server_name: {n.name}\nlisten: "127.0.0.1:{n.port}"\nhttp: "127.0.0.1:{n.http_port}"\n'
                f"max_payload: {MAX_PAYLOAD}\n"
                f'jetstream {{ store_dir: "{n.store}" }}\n'
                f'cluster {{ name: sharedseq, listen: "127.0.0.1:{n.cluster_port}", routes: [{routes}] }}\n')

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, i: int | None = None) -> None:
        for n in self.nodes if i is None else [self.nodes[i]]:
            if n.proc is not None and n.proc.poll() is None:
                continue  # already running: a second process would be orphaned (and outlive the fixture)
            log = open(n.config.parent / "server.log", "ab")
            n.proc = subprocess.Popen([self.exe, "-c", str(n.config)], stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
            log.close()
        self.wait_ready(None if i is None else [i])

    def wait_ready(self, which: list[int] | None = None, timeout: float = 120.0) -> None:
        """Until each node answers /healthz (JetStream current with its meta leader and every stream
        it holds). After the quorum was lost that takes a Raft election and a catch-up: 0.3 s on a
        quiet machine, 9.5 s with two cores busy, more under the suite's four workers; the bound only
        turns a node that never recovers into a failure with its name."""
        deadline = time.monotonic() + timeout
        for n in [self.nodes[i] for i in which] if which else self.nodes:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{n.http_port}/healthz",
                                                timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if n.proc is not None and n.proc.poll() is not None:
                    raise RuntimeError(f"nats-server {n.name} exited: {(n.config.parent / 'server.log').read_text()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server {n.name} not ready in {timeout} s")
                time.sleep(0.05)

    def stream_leader(self, stream: str, timeout: float = 120.0) -> int:
        """The index of the node that leads `stream`'s Raft group now, polled while the group has
        none (an election after a node restarted or died: seconds on a loaded machine)."""
        import asyncio

        import nats

        async def ask() -> str | None:
            nc = await nats.connect(servers=[n.url for n in self.nodes if n.proc is not None])
            try:
                info = await nc.jetstream(timeout=5).stream_info(stream)
                return str(info.cluster.leader) if info.cluster and info.cluster.leader else None
            finally:
                await nc.close()
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            try:
                name = asyncio.run(ask())
            except (TimeoutError, nats.errors.Error) as exc:
                name, last = None, exc
            else:
                last = None
            found = [i for i, n in enumerate(self.nodes) if n.name == name and n.proc is not None]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {stream} has no Raft leader after {timeout:g} s ({last!r})")
            time.sleep(0.1)

    def kill(self, i: int) -> None:
        n = self.nodes[i]
        if n.proc is not None and n.proc.poll() is None:
            os.killpg(n.proc.pid, signal.SIGKILL)
            n.proc.wait()
        n.proc = None

    def stop(self) -> None:
        for i in range(self.size):
            self.kill(i)


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three JetStream nodes for the module's tests (each test uses its own stream and bucket names)."""
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
