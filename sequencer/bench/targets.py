"""What the load generator drives: a sequencer process, the echo process; and the raw ceilings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sequencer.keys import write_key


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(address: str, timeout: float = 60.0) -> None:
    import grpc

    with grpc.insecure_channel(address) as ch:
        grpc.channel_ready_future(ch).result(timeout=timeout)


class Process:
    """A server process of the benchmark's own; `close` ends it (and only it)."""

    proc: subprocess.Popen[bytes]
    address: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sequencer(Process):
    """`sharedseq serve` on a free port over a fresh data folder, with `rollups` EVM rollups."""

    def __init__(self, workdir: Path, rollups: list[int], slot_ms: int = 100) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        if not (workdir / "seq.key").exists():
            write_key(workdir / "seq.key")
        spec = "".join(f'\n[[rollups]]\nid = {r}\nname = "r{r}"\n' for r in rollups)
        (workdir / "seq.toml").write_text(
            f'[sequencer]\nlisten = "127.0.0.1:{port}"\ndata_dir = "data"\nkey_file = "seq.key"\n'
            f'slot_ms = {slot_ms}\nmetrics_listen = ""\n'
            # The load generator is one client measuring the whole service: per-client limits off.
            'rate_limit_tx_per_s = 0\nrate_limit_bytes_per_s = 0\nmax_streams_per_client = 0\nclient_share = 0\n'
            f'[limits]\nmax_pending_blocks = 4096\n{spec}')
        self.workdir = workdir
        self.address = f"127.0.0.1:{port}"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config",
                                      str(workdir / "seq.toml"), "--log-level", "WARNING"])
        try:
            wait_ready(self.address)
        except BaseException:
            self.close()
            raise
        self.ready_s = time.perf_counter() - self.started

    def sealed_height(self) -> int:
        import grpc

        from sharedseq.v1 import sequencer_pb2 as pb
        from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

        with grpc.insecure_channel(self.address) as ch:
            info = pb_grpc.SequencerServiceStub(ch).GetSequencerInfo(pb.GetSequencerInfoRequest())
            return int(info.sealed_height)


class Echo(Process):
    """The bare grpc.aio echo (echo.py) in a process of its own."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sequencer.bench.echo"], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"the echo server did not start: {line!r}")
        self.address = f"127.0.0.1:{line}"
        wait_ready(self.address)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- raw ceilings -------------------------------------------------------------------------

def secp256k1_recover_per_s(seconds: float = 1.0) -> float:
    """Public-key recoveries per second on one core (what admission does per transaction)."""
    from coincurve import PrivateKey, PublicKey

    key = PrivateKey(os.urandom(32))
    msg = os.urandom(32)
    sig = key.sign_recoverable(msg, hasher=None)
    n, t = 0, time.perf_counter()
    while (took := time.perf_counter() - t) < seconds:
        for _ in range(200):
            PublicKey.from_signature_and_message(sig, msg, hasher=None)
        n += 200
    return n / took


def sqlite_commit_ms(folder: Path, commits: int = 100) -> float:
    """Median time of one small fsync'd commit (WAL, synchronous=FULL, as the block log runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    c = sqlite3.connect(folder / "commit.db", isolation_level=None)
    try:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
        took = []
        for _ in range(commits):
            t = time.perf_counter()
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(200),))
            c.execute("COMMIT")
            took.append(time.perf_counter() - t)
    finally:
        c.close()
    took.sort()
    return took[len(took) // 2] * 1000


# -- restart ------------------------------------------------------------------------------

def build_log(workdir: Path, rollups: list[int], blocks: int, txs_every: int = 100) -> None:
    """A block log of `blocks` sealed blocks (a transaction in every `txs_every`-th), written by the
    real core and log, in commits of 1,000 blocks, so a restart reads what a long run leaves."""
    from sequencer.bench.txgen import sign_many
    from sequencer.config import parse_config
    from sequencer.core.sequencer import AdmittedTx, SequencerCore
    from sequencer.core.signing import Signer
    from sequencer.core.types import SharedBlock, Transaction
    from sequencer.keys import read_key
    from sequencer.store.sqlite_log import BlockLog

    workdir = workdir.resolve()  # the config's relative paths would be taken from the config's folder
    workdir.mkdir(parents=True, exist_ok=True)
    write_key(workdir / "seq.key")
    cfg = parse_config({"sequencer": {"data_dir": str(workdir / "data"), "key_file": str(workdir / "seq.key")},
                        "rollups": [{"id": r, "name": str(r)} for r in rollups]}, workdir)
    core = SequencerCore(cfg.core, Signer(read_key(cfg.key_file), cfg.domain))
    log = BlockLog(cfg.log_path)
    payloads = sign_many(blocks // txs_every + 1, rollups[0])
    now = 1_700_000_000_000
    slot = cfg.core.slot_ms
    try:
        records: list[AdmittedTx] = []
        sealed: list[SharedBlock] = []
        for h in range(blocks):
            if h % txs_every == 0:
                records.extend(core.admit(Transaction(rollups[0], payloads[h // txs_every])))
            now += slot
            sealed.append(core.seal(now))
            if len(sealed) == 1000 or h == blocks - 1:
                signed, _ = core.sign_receipt_batch(records) if records else (None, ())
                log.append(records, sealed, receipts=signed)
                records, sealed = [], []
    finally:
        log.close()


def restart_s(workdir: Path, rollups: list[int]) -> tuple[float, float]:
    """(seconds from a cold process start until the sequencer over that log answers on gRPC,
    seconds of that a fresh process spends opening the log and resuming from it, imports excluded)."""
    seq = Sequencer(workdir, rollups)
    seq.close()
    code = ("import sys, time\n"
            "from sequencer.config import load_config\n"
            "from sequencer.server import build_node\n"
            "cfg = load_config(sys.argv[1])\n"
            "t = time.perf_counter()\n"
            "node = build_node(cfg)\n"
            "print(time.perf_counter() - t)\n"
            "node.close()\n")
    out = subprocess.run([sys.executable, "-c", code, str(workdir / "seq.toml")], capture_output=True, check=True)
    return seq.ready_s, float(out.stdout.decode().split()[-1])
