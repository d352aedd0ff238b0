"""Start a replicated sequencer on one host (issue 12): a 3-node NATS JetStream cluster and N
`sharedseq serve` processes on it, one sequencer key, one log, one leader at a time.

What `sharedseq devnet --replicas 3` runs (deploy/devnet.py); the same layout as the sample files
of this folder (nats-*.conf, replica-*.toml), with ports picked free and everything under the
devnet's work folder. Each process runs in its own process group and `stop()` kills them all.
The leader is found from each replica's metrics (`sharedseq_leading`, docs/metrics.md): asking
by submitting would put a transaction on a rollup. The JetStream cluster is started by
sequencer.devtools.jetstream, which the benchmark's JetStream phase uses too; the devnet's console
for the set is console.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sequencer.devtools.anvil import free_port
from sequencer.devtools.jetstream import JetStreamCluster, NatsNode, start_cluster
from sequencer.devtools.processes import ChildProcess
from sequencer.errors import SharedSeqError


class ReplicaSetError(SharedSeqError):
    """The replica set could not start (a replica that exited, nobody leading; a JetStream cluster
    that could not start raises sequencer.devtools.jetstream.JetStreamError)."""


def toml_value(v: Any) -> str:
    """A TOML value for the scalars and lists a sequencer config holds (json's string escapes are
    TOML's basic-string escapes)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r} here")


def to_toml(doc: dict[str, Any]) -> str:
    """Tables of scalars and arrays of tables (the [[rollups]]), which is all a config here has."""
    out: list[str] = []
    for name, body in doc.items():
        for table in body if isinstance(body, list) else [body]:
            out.append(f"[[{name}]]" if isinstance(body, list) else f"[{name}]")
            out.extend(f"{k} = {toml_value(v)}" for k, v in table.items())
            out.append("")
    return "\n".join(out)


@dataclass
class Replica(ChildProcess):
    address: str = ""
    metrics_port: int = 0
    config: Path = Path()

    def metrics(self, timeout: float = 2.0) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=timeout) as r:
            return str(r.read().decode())

    def leading(self) -> bool:
        try:
            return any(line == "sharedseq_leading 1.0" for line in self.metrics().splitlines())
        except OSError:
            return False


class _Watched(Protocol):
    name: str
    proc: subprocess.Popen[bytes] | None


def _wait(what: str, ok: Any, procs: list[_Watched], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        for p in procs:
            if p.proc is not None and p.proc.poll() is not None:
                raise ReplicaSetError(f"{p.name} exited with {p.proc.returncode} while {what}")
        if time.monotonic() > deadline:
            raise ReplicaSetError(f"timed out after {timeout:g} s {what}")
        time.sleep(0.1)


def _healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as ch:
        try:
            return bool(health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING)
        except grpc.RpcError:
            return False


@dataclass
class ReplicaSet:
    """`seq_doc`: the sequencer config every replica shares ([sequencer] without listen, data_dir and
    metrics_listen, which are per replica, plus [domain], [l1], [[rollups]]). `ports`: the first
    replica's gRPC port (0: free ones), the next ones follow it."""

    workdir: Path
    seq_doc: dict[str, Any]
    size: int = 3
    first_port: int = 0
    jetstream: JetStreamCluster | None = None
    replicas: list[Replica] = field(default_factory=list)

    @property
    def nats(self) -> list[NatsNode]:
        return self.jetstream.nodes if self.jetstream is not None else []

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.replicas]

    def start(self, timeout: float = 60.0) -> None:
        self.jetstream = start_cluster(self.workdir / "jetstream", timeout=timeout)
        nodes = self.jetstream.nodes
        for i in range(self.size):
            port = self.first_port + i if self.first_port else free_port()
            r = Replica(f"replica-{i}", address=f"127.0.0.1:{port}", metrics_port=free_port(),
                        config=self.workdir / f"replica-{i}.toml")
            doc = json.loads(json.dumps(self.seq_doc))  # a deep copy
            doc["sequencer"] = {**doc["sequencer"], "listen": r.address, "data_dir": f"replica-{i}",
                                "metrics_listen": f"127.0.0.1:{r.metrics_port}", "store": "jetstream"}
            doc["jetstream"] = {"servers": [n.url for n in nodes], "stream": "sharedseq", "replicas": 3,
                                "lease_bucket": "sharedseq_lease", "advertise": r.address}
            r.config.write_text(f"# replica {i} of {self.size} (sharedseq devnet --replicas)\n" + to_toml(doc))
            with open(self.workdir / f"replica-{i}.log", "ab") as log:
                r.proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config", str(r.config)],
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.replicas.append(r)
        procs: list[_Watched] = [*self.nats, *self.replicas]
        _wait("starting the sequencer replicas", lambda: all(_healthy(r.address) for r in self.replicas), procs,
              timeout)
        _wait("waiting for a replica to lead", lambda: self.leader() is not None, procs, timeout)

    def leader(self) -> Replica | None:
        return next((r for r in self.replicas if r.leading()), None)

    def endpoints(self) -> dict[str, Any]:
        """endpoints.json's replica part: every replica (address, pid, metrics), the leader's pid now."""
        lead = self.leader()
        return {
            "replicas": [{"address": r.address, "pid": r.pid, "metrics": f"http://127.0.0.1:{r.metrics_port}/metrics"}
                         for r in self.replicas],
            "leader_pid": lead.pid if lead is not None else None,
            "jetstream": [n.url for n in self.nats],
        }

    def stop(self) -> None:
        for r in self.replicas:
            r.kill()
        if self.jetstream is not None:
            self.jetstream.stop()
