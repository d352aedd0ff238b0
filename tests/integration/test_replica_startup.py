"""A replica (`sharedseq serve`, store = "jetstream") started while JetStream is unreachable or has no
quorum (issue 12 leftovers): it retries for `jetstream.connect_timeout_ms`, never reports SERVING
meanwhile, then exits with code 69 (exitcodes.EXIT_UNAVAILABLE) and one `error: ...` line naming the
URLs and what failed, no traceback. A cluster that comes up within the window is waited for."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats_cluster import NatsCluster, free_port
from torture import start_server, wait_healthy, write_config

from sequencer.cli import main
from sequencer.exitcodes import EXIT_CONFIG, EXIT_UNAVAILABLE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
WAIT_S = 120.0
"""Poll deadlines (a loaded machine: several test workers on 2 cores)."""


def replica_config(work: Path, urls: list[str], connect_timeout_ms: int) -> tuple[Path, str]:
    port = free_port()
    cfg = write_config(work, port)
    text = cfg.read_text().replace("[sequencer]\n", '[sequencer]\nstore = "jetstream"\n', 1)
    servers = ", ".join(f'"{u}"' for u in urls)
    text += (f'\n[jetstream]\nservers = [{servers}]\nstream = "startup"\nlease_bucket = "startup_lease"\n'
             f"connect_timeout_ms = {connect_timeout_ms}\n")
    cfg.write_text(text)
    return cfg, f"127.0.0.1:{port}"


def watch_until_exit(proc: subprocess.Popen[bytes], address: str, deadline_s: float = WAIT_S) -> set[int]:
    """Poll the replica's health until it exits; every status it answered (none while it is not
    listening yet)."""
    seen: set[int] = set()
    deadline = time.monotonic() + deadline_s
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the replica neither served nor gave up"
            try:
                seen.add(stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status)
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    return seen


def the_error_line(log: Path) -> str:
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines[-5:]
    return errors[0]


def run_until_exit(cfg: Path, address: str, log: Path) -> tuple[subprocess.Popen[bytes], set[int]]:
    """Start the replica and watch its health until it exits (killed if it outlives the watch)."""
    proc = start_server(cfg, log)
    try:
        return proc, watch_until_exit(proc, address)
    finally:
        proc.kill()
        proc.wait()


def test_unreachable_jetstream_is_retried_then_exit_69_with_one_line(tmp_path: Path) -> None:
    urls = [f"nats://127.0.0.1:{free_port()}", f"nats://127.0.0.1:{free_port()}"]  # nothing listens there
    cfg, address = replica_config(tmp_path, urls, 2000)
    started = time.monotonic()
    proc, seen = run_until_exit(cfg, address, tmp_path / "server.log")
    assert time.monotonic() - started >= 2.0  # it retried for the configured time, it did not give up at once
    assert proc.returncode == EXIT_UNAVAILABLE
    assert health_pb2.HealthCheckResponse.SERVING not in seen
    line = the_error_line(tmp_path / "server.log")
    assert line.startswith(f"error: replicated log unavailable: cannot reach JetStream at {', '.join(urls)}"), line
    assert "no server accepted a connection in 2 s" in line and "Connect call failed" in line, line
    assert line.endswith("(exit code 69)"), line


def start_alone(cluster: NatsCluster, i: int) -> None:
    """Start node i of the cluster without waiting for JetStream (which, alone, has no quorum), only
    for its client port."""
    n = cluster.nodes[i]
    with open(n.config.parent / "server.log", "ab") as log:
        n.proc = subprocess.Popen([cluster.exe, "-c", str(n.config)], stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", n.port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline and n.proc.poll() is None, "nats-server did not listen"
            time.sleep(0.05)


def test_a_cluster_without_quorum_is_retried_then_exit_69_with_one_line(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "nats")
    try:
        start_alone(cluster, 0)  # one node of three: reachable, but JetStream has no quorum
        cfg, address = replica_config(tmp_path, [cluster.nodes[0].url], 2000)
        proc, seen = run_until_exit(cfg, address, tmp_path / "server.log")
    finally:
        cluster.stop()
    assert proc.returncode == EXIT_UNAVAILABLE
    assert health_pb2.HealthCheckResponse.SERVING not in seen
    line = the_error_line(tmp_path / "server.log")
    assert line.startswith(f"error: replicated log unavailable: JetStream at {cluster.nodes[0].url} is reachable, "
                           "but stream startup did not answer in 2 s"), line
    assert "quorum" in line and line.endswith("(exit code 69)"), line


def test_a_cluster_that_comes_up_within_the_window_is_waited_for(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "nats")
    cfg, address = replica_config(tmp_path, cluster.urls, int(WAIT_S * 1000))
    proc = start_server(cfg, tmp_path / "server.log")
    try:
        # Nothing to reach for a while: not serving (not even listening), and still trying.
        deadline = time.monotonic() + 2.0
        with grpc.insecure_channel(address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    assert status != health_pb2.HealthCheckResponse.SERVING
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        cluster.start()
        wait_healthy(address, proc, WAIT_S)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
    finally:
        proc.kill()
        proc.wait()
        cluster.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_connect_timeout_below_100_ms_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = replica_config(tmp_path, ["nats://127.0.0.1:1"], 50)
    assert main(["serve", "--config", str(cfg)]) == EXIT_CONFIG
    assert "jetstream.connect_timeout_ms: must be at least 100, got 50" in capsys.readouterr().err
