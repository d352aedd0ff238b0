"""kill -9 under load: every receipt a client holds is kept after restart."""

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

from sequencer.core.hashing import keccak
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

OPAQUE = 904


def start_server(config: Path, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sequencer.cli", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"), start_new_session=True,
    )


def wait_healthy(address: str, proc: subprocess.Popen, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited during start-up"
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
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
        self.payloads: dict[bytes, bytes] = {}

    def requests(self):  # noqa: ANN201
        i = self.start_at
        while True:
            if i % 10 == 3:  # a bundle now and then
                legs = [pb.Transaction(rollup_id=OPAQUE, payload=f"b{i}-{j}".encode()) for j in range(3)]
                yield pb.StreamSubmitRequest(request_id=i, bundle=pb.Bundle(legs=legs))
            else:
                yield pb.StreamSubmitRequest(
                    request_id=i, transaction=pb.Transaction(rollup_id=OPAQUE, payload=f"tx{i}".encode()))
            i += 1

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            try:
                for resp in stub.StreamSubmit(self.requests()):
                    assert not resp.error.message, resp.error.message
                    self.receipts.extend(resp.receipts)
            except grpc.RpcError:
                pass  # the server was killed


def check_receipts(address: str, receipts: list[pb.Receipt]) -> None:
    top = max(r.height for r in receipts)
    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        for _ in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=OPAQUE, from_height=top), timeout=30):
            break
        blocks: dict[int, pb.Block] = {}
        for r in receipts:
            if r.height not in blocks:
                blocks[r.height] = stub.GetBlock(pb.GetBlockRequest(height=r.height)).block
            ns = {n.rollup_id: list(n.transactions) for n in blocks[r.height].namespaces}
            txs = ns.get(r.rollup_id, [])
            assert r.index < len(txs), f"receipt {r.height}/{r.index} points past the namespace"
            assert keccak(txs[r.index]) == r.tx_hash, f"receipt {r.height}/{r.index} broken"


def test_kill_9_under_load_keeps_every_receipt(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = write_config_toml(tmp_path, port, f'\n[[rollups]]\nid = {OPAQUE}\nname = "raw"\npolicy = "opaque"\n')
    log_path = tmp_path / "server.log"
    rng = random.Random(7)
    held: list[pb.Receipt] = []
    next_id = 0
    for _round in range(3):
        proc = start_server(config, log_path)
        try:
            wait_healthy(address, proc)
            if held:
                check_receipts(address, held)
            sub = Submitter(address, next_id)
            sub.start()
            deadline = time.monotonic() + 20
            target = len(held) + rng.randint(300, 1500)
            while len(held) + len(sub.receipts) < target and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        sub.join(timeout=10)
        assert len(sub.receipts) > 100, "the submitter made no progress"
        held.extend(sub.receipts)
        print(f"round {_round}: {len(sub.receipts)} receipts before kill -9")
        next_id += 100_000
    proc = start_server(config, log_path)
    try:
        wait_healthy(address, proc)
        check_receipts(address, held)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, "clean shutdown failed"
