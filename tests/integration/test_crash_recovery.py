"""kill -9 under load: every receipt a client holds is kept after restart.

The submitter runs in a thread, so nothing it finds can fail the test from there: it records
every refused request and every unexpected RPC error, and the test asserts on them in its own
thread (issue 9, finding 8: these used to be swallowed). The checks are torture.py's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from seq_helpers import free_port, write_config_toml
from torture import KILLED, Checker, Held

from sequencer.core.signing import Domain
from sequencer.service.convert import bundle_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

OPAQUE = 904


def start_server(config: Path, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sequencer.cli", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"), start_new_session=True,
    )


def wait_healthy(address: str, proc: subprocess.Popen, deadline_s: float = 90.0) -> None:
    deadline = time.monotonic() + deadline_s
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited during start-up"
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.05)
    raise TimeoutError(f"server on {address} not healthy after {deadline_s}s")


class Submitter(threading.Thread):
    """Streams transactions until the server dies; keeps every receipt it got."""

    def __init__(self, address: str, start: int) -> None:
        super().__init__(daemon=True)
        self.address, self.start_at = address, start
        self.receipts: list[pb.Receipt] = []
        self.bundles: list[tuple[bytes, list[pb.Receipt]]] = []
        self.failures: list[str] = []
        self.sent: dict[int, pb.StreamSubmitRequest] = {}

    def requests(self):
        i = self.start_at
        while True:
            if i % 10 == 3:  # a bundle now and then
                legs = [pb.Transaction(rollup_id=OPAQUE, payload=f"b{i}-{j}".encode()) for j in range(3)]
                req = pb.StreamSubmitRequest(request_id=i, bundle=pb.Bundle(legs=legs))
            else:
                req = pb.StreamSubmitRequest(
                    request_id=i, transaction=pb.Transaction(rollup_id=OPAQUE, payload=f"tx{i}".encode()))
            self.sent[i] = req
            yield req
            i += 1

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            try:
                for resp in stub.StreamSubmit(self.requests()):
                    req = self.sent.pop(resp.request_id, None)
                    if req is None or resp.error.message or not resp.receipts:
                        self.failures.append(f"request {resp.request_id}: {resp.error.message or 'no receipt'}")
                        return
                    self.receipts.extend(resp.receipts)
                    if req.WhichOneof("item") == "bundle":
                        self.bundles.append((bundle_from_proto(req.bundle).bundle_hash, list(resp.receipts)))
            except grpc.RpcError as exc:
                if exc.code() not in KILLED:  # type: ignore[attr-defined]
                    self.failures.append(f"{exc.code().name}: {exc.details()}")  # type: ignore[attr-defined]


def check_receipts(address: str, receipts: list[pb.Receipt], bundles: list) -> None:
    """Every block, receipt and bundle (torture.Checker): raises TortureFailure on a broken one."""
    Checker(Domain(31337, bytes.fromhex("ab" * 20))).check(address, Held(receipts=receipts, bundles=bundles))


def test_kill_9_under_load_keeps_every_receipt(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = write_config_toml(tmp_path, port, f'\n[[rollups]]\nid = {OPAQUE}\nname = "raw"\npolicy = "opaque"\n')
    # One client at full speed: the per-client limits (on by default) would refuse it, by design.
    config.write_text(config.read_text().replace("[sequencer]\n", "[sequencer]\nrate_limit_tx_per_s = 0\n"
                                                 "rate_limit_bytes_per_s = 0\nclient_share = 0\n", 1))
    log_path = tmp_path / "server.log"
    rng = random.Random(7)
    held: list[pb.Receipt] = []
    bundles: list = []
    next_id = 0
    for _round in range(3):
        proc = start_server(config, log_path)
        try:
            wait_healthy(address, proc)
            if held:
                check_receipts(address, held, bundles)
            sub = Submitter(address, next_id)
            sub.start()
            # The kill comes after a seeded number of receipts (at least 300), however long they take.
            deadline = time.monotonic() + 120
            target = len(held) + rng.randint(300, 1500)
            while len(held) + len(sub.receipts) < target and sub.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        sub.join(timeout=30)
        assert not sub.is_alive(), "the submitter did not notice the kill"
        assert not sub.failures, sub.failures[:3]
        assert len(sub.receipts) > 100, "the submitter made no progress"
        held.extend(sub.receipts)
        bundles.extend(sub.bundles)
        print(f"round {_round}: {len(sub.receipts)} receipts before kill -9")
        next_id += 100_000
    proc = start_server(config, log_path)
    try:
        wait_healthy(address, proc)
        check_receipts(address, held, bundles)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "clean shutdown failed"
