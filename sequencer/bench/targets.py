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


_RETRY_OFTEN = [("grpc.initial_reconnect_backoff_ms", 20), ("grpc.min_reconnect_backoff_ms", 20),
                ("grpc.max_reconnect_backoff_ms", 20)]
"""gRPC's default reconnect backoff retries about 1 s after the first refusal, then 1.6 s later:
waiting for a starting server with it would time the client's backoff, not the server (a server
listening at 0.5 s read as 1.3 s, one at 1.3 s as 2.7 s)."""


def wait_ready(address: str, timeout: float = 60.0) -> None:
    import grpc

    with grpc.insecure_channel(address, options=_RETRY_OFTEN) as ch:
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
    """`sharedseq serve` on a free port over a fresh data folder, with `rollups` EVM rollups.

    `jetstream`: the NATS URLs of a JetStream cluster (sequencer.devtools.jetstream): the log is then
    the replicated one (store = "jetstream", a stream of 3 replicas named `stream`, its lease in the
    bucket `<stream>_lease`), and the sequencer is ready once it holds the lease and leads, which
    its metrics say (`sharedseq_leading`); before that it refuses submissions."""

    def __init__(self, workdir: Path, rollups: list[int], slot_ms: int = 100, *, check_workers: int = 1,
                 jetstream: list[str] | None = None, stream: str = "sharedseq", lease_ttl_ms: int = 1000) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        if not (workdir / "seq.key").exists():
            write_key(workdir / "seq.key")
        self.address = f"127.0.0.1:{port}"
        spec = "".join(f'\n[[rollups]]\nid = {r}\nname = "r{r}"\n' for r in rollups)
        self.metrics_port = free_port() if jetstream else 0
        metrics = f"127.0.0.1:{self.metrics_port}" if jetstream else ""
        store = replicated = ""
        if jetstream:
            store = 'store = "jetstream"\n'
            servers = ", ".join(f'"{u}"' for u in jetstream)
            replicated = (f'[jetstream]\nservers = [{servers}]\nstream = "{stream}"\nreplicas = 3\n'
                          f'lease_bucket = "{stream}_lease"\nlease_ttl_ms = {lease_ttl_ms}\n'
                          f'advertise = "{self.address}"\n')
        (workdir / "seq.toml").write_text(
            f'[sequencer]\nlisten = "{self.address}"\ndata_dir = "data"\nkey_file = "seq.key"\n'
            f'slot_ms = {slot_ms}\nmetrics_listen = "{metrics}"\n{store}'
            # The load generator is one client measuring the whole service: per-client limits off.
            'rate_limit_tx_per_s = 0\nrate_limit_bytes_per_s = 0\nmax_streams_per_client = 0\nclient_share = 0\n'
            f'client_inflight_txs = 0\ncheck_workers = {check_workers}\n'
            f'{replicated}[limits]\nmax_pending_blocks = 4096\n{spec}')
        self.workdir = workdir
        self.started = time.perf_counter()
        # A replicated sequencer's warnings (a lease lost under load) go to a file, counted by lease_losses.
        self.log = workdir / "serve.log" if jetstream else None
        out = open(self.log, "ab") if self.log is not None else None  # noqa: SIM115 - the child holds it
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config",
                                          str(workdir / "seq.toml"), "--log-level", "WARNING"], stderr=out)
        finally:
            if out is not None:
                out.close()
        try:
            wait_ready(self.address)
            if jetstream:
                self._wait_leading()
        except BaseException:
            self.close()
            raise
        self.ready_s = time.perf_counter() - self.started

    def _wait_leading(self, timeout: float = 60.0) -> None:
        """Polled with a generous bound: taking the lease and claiming the log is a few JetStream
        round trips, seconds on a busy 2-core machine."""
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                    if "sharedseq_leading 1.0" in r.read().decode().splitlines():
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the JetStream sequencer exited with {self.proc.returncode} before leading")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the JetStream sequencer did not lead within {timeout:g} s")
            time.sleep(0.1)

    def lease_losses(self) -> int:
        """Times the replicated sequencer stopped leading so far (its log's warnings; 0 on SQLite): a
        figure measured across a lost lease includes a takeover, so the table says how many there were."""
        if self.log is None or not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if "stopped leading" in line)

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
