"""A disk that fills up (issue 9, finding 7): health turns NOT_SERVING first, the log names the
real cause in one line, `serve` exits with its own code (74), a restart on the still-full disk
refuses to serve with that reason, and once space is freed every receipt given is honoured.

The real-disk test mounts a small tmpfs (root only: skipped otherwise, with the reason); the
in-process test fills SQLite's page budget instead (the same SQLITE_FULL), so it runs anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import anyio
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from seq_helpers import config_doc, make_config
from torture import KILLED, A, Checker, Held, free_port, start_server, wait_healthy, write_config

from sequencer.config import parse_config
from sequencer.core.signing import Domain
from sequencer.errors import StorageFault, leaf_exceptions
from sequencer.exitcodes import EXIT_STORAGE_FAULT
from sequencer.server import build_node, running
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING


def _watch(address: str, seen: list[int]) -> threading.Thread:
    """Record every health status the server announces until the stream ends."""
    def watch() -> None:
        with grpc.insecure_channel(address) as ch:
            try:
                for resp in health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=600):
                    seen.append(resp.status)
            except grpc.RpcError:
                pass
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the in-process test covers the same path)")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the file system to the last byte; return the filler."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_stops_the_server_cleanly_and_loses_nothing(small_disk: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = write_config(small_disk, port)
    log_path = small_disk.parent / "server.log"
    proc = start_server(config, log_path)
    held = Held()
    seen: list[int] = []
    try:
        wait_healthy(address, proc, 90.0)
        watcher = _watch(address, seen)
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            for i in range(50):
                r = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=A, payload=f"before-{i}".encode() + bytes(2000))), timeout=30)
                held.add([r.receipt])
            filler = _fill(small_disk)
            deadline = time.monotonic() + 180
            i = 0
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    r = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=A, payload=f"full-{i}".encode() + bytes(20_000))),
                        timeout=10)
                    held.add([r.receipt])  # durable before it was sent: it must survive
                except grpc.RpcError as exc:
                    # The server stopping under the call (or too busy to answer in time): never a wrong answer.
                    assert exc.code() in KILLED | {grpc.StatusCode.RESOURCE_EXHAUSTED}, exc
                i += 1
        code = proc.wait(timeout=60)
        watcher.join(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = log_path.read_text()
    assert code == EXIT_STORAGE_FAULT, stderr[-2000:]
    assert seen[:1] == [SERVING] and NOT_SERVING in seen, seen  # told before it stopped
    assert "database or disk is full" in stderr
    assert "cannot rollback" not in stderr and "Traceback" not in stderr and "ExceptionGroup" not in stderr
    cause_lines = [line for line in stderr.splitlines() if "database or disk is full" in line]
    assert any(line.startswith("error: storage fault: ") for line in cause_lines), cause_lines

    # Restart on the still-full disk: refused at once, with the reason, never SERVING.
    proc = start_server(config, log_path)
    code = proc.wait(timeout=90)
    tail = log_path.read_text()[len(stderr):]
    assert code == EXIT_STORAGE_FAULT, tail
    assert "disk is full" in tail or "no room" in tail, tail
    assert "Traceback" not in tail

    # Space freed: every receipt given is honoured.
    filler.unlink()
    proc = start_server(config, log_path)
    try:
        wait_healthy(address, proc, 90.0)
        Checker(Domain(31337, bytes.fromhex("ab" * 20))).check(address, held)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert len(held.receipts) >= 50


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # through the gRPC edge (grpc.aio): asyncio only
async def test_health_turns_not_serving_before_the_node_stops(tmp_path: Path) -> None:
    """In-process: SQLite's page budget runs out (SQLITE_FULL, as on a full disk). The health
    service announces NOT_SERVING before the server stops, the waiting client gets UNAVAILABLE,
    and the error that ends the server is the StorageFault naming the cause."""
    make_config(tmp_path)  # the key
    doc = config_doc(tmp_path, client_share=0)  # 60 kB transactions, one client: not a fairness test
    doc["rollups"] = [*doc["rollups"], {"id": A, "name": "raw", "policy": "opaque"}]
    cfg = parse_config(doc, tmp_path)
    node = build_node(cfg)
    seen: list[int] = []
    calls: list[str] = []
    watcher = None
    with pytest.raises(BaseException) as err:  # the task group's exception group
        async with running(cfg, node) as srv:
            told = node.on_fatal
            assert told is not None

            async def spy(fault: BaseException) -> None:
                calls.append(f"on_fatal: {fault}")
                await told(fault)
            node.on_fatal = spy
            watcher = _watch(srv.address, seen)  # a thread: the node's failure cannot cancel it
            while not seen:
                await anyio.sleep(0.01)
            pages = node.log._w.execute("PRAGMA page_count").fetchone()[0]
            node.log._w.execute(f"PRAGMA max_page_count = {pages + 50}")
            async with grpc.aio.insecure_channel(srv.address) as ch:
                stub = pb_grpc.SequencerServiceStub(ch)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    for i in range(10_000):
                        await stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=pb.Transaction(
                            rollup_id=A, payload=i.to_bytes(4, "big") + bytes(60_000))), timeout=60)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
                await anyio.sleep(120)  # the node's failure cancels this (at once; the bound is for a hang)
    assert watcher is not None
    watcher.join(timeout=30)
    assert calls and "database or disk is full" in calls[0]
    faults = [e for e in leaf_exceptions(err.value) if isinstance(e, StorageFault)]
    assert faults and "database or disk is full" in str(faults[0]), err.value
    assert seen[0] == SERVING and NOT_SERVING in seen
