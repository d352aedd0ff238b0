"""`make bench`: throughput and latency figures against ceilings measured in the same run.

Figures (design.md section 8):
- ceilings: secp256k1 recoveries/s (coincurve, one core) and raw gRPC streaming of empty messages;
- ingest: signed EIP-1559 transactions/s through StreamSubmit, durable receipts included, client included;
- preconfirmation latency at a fixed offered rate (default 5,000 tx/s): p50 / p99;
- block delivery: three subscribers, receive time minus the block's slot time, p50 / p99;
- restart: time to reopen a log holding many transactions.
The sequencer runs as a separate process (as in production), the client in this one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import rlp
from coincurve import PrivateKey, PublicKey

from sequencer.core.hashing import keccak
from sequencer.keys import write_key
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

ROLLUPS = (901, 902, 903)


def sign_eip1559(key: PrivateKey, chain_id: int, nonce: int) -> bytes:
    fields = [chain_id, nonce, 1, 2 * 10**9, 21000, b"\x22" * 20, 1, b"", []]
    digest = keccak(b"\x02" + rlp.encode(fields))
    sig = key.sign_recoverable(digest, hasher=None)
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return b"\x02" + rlp.encode(fields + [v, r, s])


def make_txs(n: int, chain_id: int = 901) -> list[bytes]:
    key = PrivateKey(os.urandom(32))
    return [sign_eip1559(key, chain_id, i) for i in range(n)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


# -- ceilings ---------------------------------------------------------------

def recover_ceiling(n: int = 20_000) -> float:
    key = PrivateKey(os.urandom(32))
    msg = os.urandom(32)
    sig = key.sign_recoverable(msg, hasher=None)
    t = time.perf_counter()
    for _ in range(n):
        PublicKey.from_signature_and_message(sig, msg, hasher=None)
    return n / (time.perf_counter() - t)


def _echo_server() -> tuple[grpc.Server, int]:
    def echo(request_iterator, context):  # noqa: ANN001, ANN202
        for _ in request_iterator:
            yield pb.StreamSubmitResponse()

    handler = grpc.method_handlers_generic_handler("bench.Echo", {
        "Stream": grpc.stream_stream_rpc_method_handler(
            echo, request_deserializer=pb.StreamSubmitRequest.FromString,
            response_serializer=pb.StreamSubmitResponse.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def grpc_ceiling(n: int = 50_000) -> float:
    server, port = _echo_server()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = ch.stream_stream("/bench.Echo/Stream", request_serializer=pb.StreamSubmitRequest.SerializeToString,
                                    response_deserializer=pb.StreamSubmitResponse.FromString)
            t = time.perf_counter()
            count = sum(1 for _ in call(pb.StreamSubmitRequest() for _ in range(n)))
            return count / (time.perf_counter() - t)
    finally:
        server.stop(0)


# -- the sequencer under load ---------------------------------------------

class Sequencer:
    """A sequencer process on a free port with three EVM rollups."""

    def __init__(self, workdir: Path, slot_ms: int = 100) -> None:
        from deploy.anvil import free_port

        self.port = free_port()
        write_key(workdir / "seq.key")
        rollups = "".join(f'\n[[rollups]]\nid = {r}\nname = "r{r}"\n' for r in ROLLUPS)
        (workdir / "seq.toml").write_text(
            f'[sequencer]\nlisten = "127.0.0.1:{self.port}"\ndata_dir = "data"\nkey_file = "seq.key"\n'
            f'slot_ms = {slot_ms}\nmetrics_listen = ""\n'
            # One client measures the whole service's capacity: the per-client limits (on by default) off.
            'rate_limit_tx_per_s = 0\nmax_streams_per_client = 0\nclient_share = 0\n'
            f'[limits]\nmax_pending_blocks = 4096\n{rollups}')
        self.proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config",
                                      str(workdir / "seq.toml"), "--log-level", "WARNING"], start_new_session=True)
        self.address = f"127.0.0.1:{self.port}"
        self.channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = pb_grpc.SequencerServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)


def ingest(seq: Sequencer, txs: list[bytes], per_message: int) -> tuple[float, int]:
    """Sustained submission over one stream, `per_message` transactions a message."""
    def requests():  # noqa: ANN202
        for i in range(0, len(txs), per_message):
            chunk = [pb.Transaction(rollup_id=901, payload=p) for p in txs[i:i + per_message]]
            if per_message == 1:
                yield pb.StreamSubmitRequest(request_id=i, transaction=chunk[0])
            else:
                yield pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=chunk))

    t = time.perf_counter()
    ok = 0
    for r in seq.stub.StreamSubmit(requests()):
        ok += len(r.receipts) + sum(1 for x in r.results if x.HasField("receipt"))
    return ok / (time.perf_counter() - t), ok


def latency_at_rate(seq: Sequencer, txs: list[bytes], rate: float, per_message: int = 1) -> list[float]:
    """Offer `rate` tx/s on one stream, `per_message` a message; latency = receipt time - send time."""
    sent: dict[int, float] = {}
    lat: list[float] = []

    def requests():  # noqa: ANN202
        start = time.perf_counter()
        for n, i in enumerate(range(0, len(txs), per_message)):
            due = start + n * per_message / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.0005, due - now))
            sent[i] = time.perf_counter()
            chunk = [pb.Transaction(rollup_id=902, payload=p) for p in txs[i:i + per_message]]
            if per_message == 1:
                yield pb.StreamSubmitRequest(request_id=i, transaction=chunk[0])
            else:
                yield pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=chunk))

    for r in seq.stub.StreamSubmit(requests()):
        took = time.perf_counter() - sent[r.request_id]
        lat.extend([took] * max(1, len(r.results)))
    return lat


def delivery(seq: Sequencer, seconds: float = 5.0) -> list[float]:
    """Three subscribers; per block, receive wall time minus the block's slot time."""
    lags: list[float] = []
    lock = threading.Lock()
    info = seq.stub.GetSequencerInfo(pb.GetSequencerInfoRequest())
    start = info.sealed_height + 1
    stop_at = time.time() + seconds

    def sub(rid: int) -> None:
        with grpc.insecure_channel(seq.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            for resp in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=rid, from_height=start)):
                now = time.time()
                with lock:
                    lags.append(now - resp.block.signed_header.header.timestamp_ms / 1000)
                if now > stop_at:
                    break

    threads = [threading.Thread(target=sub, args=(r,)) for r in ROLLUPS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A block is sealed at the slot boundary its timestamp names, so the lag is delivery after sealing.
    return lags


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(seq: Sequencer, seconds: float, rate: float = 3000.0) -> list[float]:
    """Offer `rate` tx/s in lists of 50 for `seconds`; sample the server's RSS (MB) every 5 s."""
    samples: list[float] = []
    key = PrivateKey(os.urandom(32))
    stop_at = time.monotonic() + seconds

    def requests():  # noqa: ANN202
        nonce = 0
        start = time.perf_counter()
        next_sample = time.monotonic()
        while time.monotonic() < stop_at:
            if time.monotonic() >= next_sample:
                samples.append(rss_mb(seq.proc.pid))
                next_sample += 5
            due = start + nonce / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.002, due - now))
            rid = ROLLUPS[(nonce // 50) % 3]
            chunk = [pb.Transaction(rollup_id=rid, payload=sign_eip1559(key, rid, nonce + i)) for i in range(50)]
            yield pb.StreamSubmitRequest(request_id=nonce, transactions=pb.TransactionList(transactions=chunk))
            nonce += 50

    for _ in seq.stub.StreamSubmit(requests()):
        pass
    samples.append(rss_mb(seq.proc.pid))
    return samples


def restart_time(workdir: Path, n_txs: int) -> float:
    from sequencer.config import parse_config
    from sequencer.service.server import build_node

    doc = {"sequencer": {"data_dir": str(workdir / "data"), "key_file": str(workdir / "seq.key")},
           "rollups": [{"id": r, "name": str(r)} for r in ROLLUPS]}
    cfg = parse_config(doc, workdir)
    t = time.perf_counter()
    node = build_node(cfg)
    took = time.perf_counter() - t
    node.log.close()
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--txs", type=int, default=30_000, help="transactions for the ingest run")
    ap.add_argument("--rate", type=float, default=5000.0, help="offered rate for the latency run")
    ap.add_argument("--soak", type=float, default=60.0, help="seconds of sustained load while sampling memory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    out: dict[str, float | int] = {}
    print("measuring ceilings ...", file=sys.stderr)
    out["ceiling_secp256k1_recover_per_s"] = round(recover_ceiling())
    out["ceiling_grpc_stream_empty_msgs_per_s"] = round(grpc_ceiling())
    print(f"signing {args.txs + int(args.rate * 4)} transactions ...", file=sys.stderr)
    txs = make_txs(args.txs)
    lat_txs = make_txs(int(args.rate * 4), 902)
    workdir = Path(tempfile.mkdtemp(prefix="sharedseq-bench-"))
    try:
        seq = Sequencer(workdir)
        try:
            print("ingest, one transaction a message ...", file=sys.stderr)
            half = len(txs) // 3
            tps1, _ = ingest(seq, txs[:half], 1)
            out["ingest_single_tx_messages_per_s"] = round(tps1)
            print("ingest, lists of 200 transactions ...", file=sys.stderr)
            tps, ok = ingest(seq, txs[half:], 200)
            out["ingest_signed_evm_tx_per_s"] = round(tps)
            out["ingest_receipts"] = ok
            out["ingest_vs_recover_ceiling"] = round(tps / out["ceiling_secp256k1_recover_per_s"], 3)
            out["ingest_vs_grpc_ceiling"] = round(tps / out["ceiling_grpc_stream_empty_msgs_per_s"], 3)
            single_rate = min(args.rate, 2000.0)
            print(f"latency at {single_rate:.0f} tx/s, one transaction a message ...", file=sys.stderr)
            lat = latency_at_rate(seq, lat_txs[:int(single_rate * 3)], single_rate)
            out["preconf_latency_single_at_rate"] = single_rate
            out["preconf_latency_single_p50_ms"] = round(statistics.median(lat) * 1000, 2)
            out["preconf_latency_single_p99_ms"] = round(pct(lat, 0.99) * 1000, 2)
            print(f"latency at {args.rate:.0f} tx/s, 5 transactions a message ...", file=sys.stderr)
            lat = latency_at_rate(seq, make_txs(int(args.rate * 4), 902), args.rate, 5)
            out["preconf_latency_at_rate"] = args.rate
            out["preconf_latency_p50_ms"] = round(statistics.median(lat) * 1000, 2)
            out["preconf_latency_p99_ms"] = round(pct(lat, 0.99) * 1000, 2)
            print("block delivery to three subscribers ...", file=sys.stderr)
            lags = delivery(seq)
            out["delivery_after_seal_p50_ms"] = round(statistics.median(lags) * 1000, 2)
            out["delivery_after_seal_p99_ms"] = round(pct(lags, 0.99) * 1000, 2)
            if args.soak > 0:
                print(f"soak: {args.soak:.0f} s at 3000 tx/s, sampling memory ...", file=sys.stderr)
                rss = soak(seq, args.soak)
                third = max(1, len(rss) // 3)
                out["soak_seconds"] = args.soak
                out["soak_rss_first_third_mb"] = round(max(rss[:third]), 1)
                out["soak_rss_last_third_mb"] = round(max(rss[-third:]), 1)
                out["soak_rss_max_mb"] = round(max(rss), 1)
        finally:
            seq.close()
        out["restart_seconds"] = round(restart_time(workdir, args.txs), 3)
        out["restart_log_txs"] = args.txs + len(lat_txs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:45s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
