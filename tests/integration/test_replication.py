"""Three sequencer replicas on a 3-node JetStream cluster (issue 12): the leader SIGKILLed under
streaming load, a new one seals within 2 s with every receipt kept (torture.py's checks: each block
signed, linked and unchanged across replicas, each receipt where it promised, bundles whole); the old
leader restarted follows; followers refuse submissions naming the leader; one JetStream node down
changes nothing; the quorum down refuses with UNAVAILABLE and receipts nothing."""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from nats_cluster import NatsCluster, free_port, nats_cluster  # noqa: F401  (the fixture)
from torture import A, Checker, Held, _tx, start_server, stream_load, unary_load, wait_healthy, write_config

from sequencer.core.signing import Domain
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
FAILOVER_BOUND_S = 2.0
"""The issue's bound from SIGKILL to the first block sealed by the next leader (goal: 1 s). Checked on
the median of the seeded kills: one failover on a loaded machine (several test workers on 2 cores)
can be late because a process was not scheduled, which says nothing about the protocol."""
LIVENESS_S = 20.0
"""How long any single failover may take before the test calls it stuck (a poll deadline, not a
figure: the figures are printed and kept in docs/replication.md)."""
WAIT_S = 60.0
"""Generous poll deadlines for starts, leader searches and load shutdown on a loaded machine."""
TRIALS = int(os.environ.get("SHAREDSEQ_REPLICA_TRIALS", "3"))
"""Leader kills of the torture run; the long run: SHAREDSEQ_REPLICA_TRIALS=100."""
SEED = int(os.environ.get("SHAREDSEQ_REPLICA_SEED", "12"))


@dataclass
class Replica:
    address: str
    config: Path
    log: Path
    metrics_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_server(self.config, self.log)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def write_replicas(root: Path, urls: list[str], stream: str, n: int = 3) -> list[Replica]:
    out = []
    for i in range(n):
        work = root / f"r{i}"
        work.mkdir()
        if i:
            shutil.copy(root / "r0" / "seq.key", work / "seq.key")  # one sequencer, one key: replicas of it
        port = free_port()  # reserved for this process: a killed replica restarts on it
        cfg = write_config(work, port)
        metrics = free_port()
        text = cfg.read_text().replace("[sequencer]\n", '[sequencer]\nstore = "jetstream"\n', 1)
        text = text.replace('metrics_listen = ""', f'metrics_listen = "127.0.0.1:{metrics}"', 1)
        servers = ", ".join(f'"{u}"' for u in urls)
        text += (f'\n[jetstream]\nservers = [{servers}]\nstream = "{stream}"\nlease_bucket = "{stream}_lease"\n'
                 f'advertise = "127.0.0.1:{port}"\ntimeout_ms = 1000\n')
        cfg.write_text(text)
        out.append(Replica(f"127.0.0.1:{port}", cfg, work / "server.log", metrics))
    return out


def probe(address: str, timeout: float = 10.0) -> tuple[bool, str]:
    """(leads, message): a submission of a fresh transaction; a follower answers UNAVAILABLE. (A
    generous timeout: on a loaded machine a leader's answer can take seconds, and a timeout would
    read as "does not lead".)"""
    with grpc.insecure_channel(address) as ch:
        try:
            pb_grpc.SequencerServiceStub(ch).SubmitTransaction(pb.SubmitTransactionRequest(
                transaction=_tx(A, f"probe-{time.monotonic_ns()}")), timeout=timeout)
            return True, ""
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]


def find_leader(replicas: list[Replica], deadline_s: float = WAIT_S) -> Replica:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for r in replicas:
            if r.proc is not None and probe(r.address)[0]:
                return r
        time.sleep(0.05)
    raise TimeoutError("no replica leads")


def sealed(address: str) -> int:
    with grpc.insecure_channel(address) as ch:
        return pb_grpc.SequencerServiceStub(ch).GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=10).sealed_height


def start(r: Replica) -> None:
    r.start()
    assert r.proc is not None
    try:
        # It replays the whole stream first (no snapshots): on the long run's log, a minute or more.
        wait_healthy(r.address, r.proc, 5 * WAIT_S)
    except AssertionError as exc:  # TortureFailure: say why, from its own log
        raise AssertionError(f"{exc}; its log ends: {r.log.read_text()[-2000:]}") from exc


STREAM = "replication"


@pytest.fixture(scope="module")
def replicas(nats_cluster: NatsCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:  # noqa: F811
    """One replica set for the module: each test leaves all three running."""
    rs = write_replicas(tmp_path_factory.mktemp("replicas"), nats_cluster.urls, STREAM)
    try:
        for r in rs:
            r.start()
        for r in rs:
            assert r.proc is not None
            wait_healthy(r.address, r.proc, WAIT_S)
        yield rs
    finally:
        for r in rs:
            r.kill()


def load(address: str, tag: str, held: Held, stop: threading.Event) -> list[threading.Thread]:
    ts = [threading.Thread(target=f, args=(address, f"{tag}{f.__name__[0]}", held, stop), daemon=True)
          for f in (stream_load, unary_load)]
    for t in ts:
        t.start()
    return ts


def end_load(threads: list[threading.Thread], stop: threading.Event) -> None:
    """Stop the load and wait until every client has returned: a client still running would add
    receipts while the checker reads them (receipts past the sealed height it fetched), an artefact
    seen under pytest -n 3 when a join gave up after 10 s."""
    stop.set()
    deadline = time.monotonic() + WAIT_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a load client did not return after the stop"


def test_leader_killed_under_load(replicas: list[Replica]) -> None:
    leader = find_leader(replicas)
    others = [r for r in replicas if r is not leader]
    # A follower refuses submissions, naming the leader once it has read the lease (just after a start
    # it may not have yet, and says so: still UNAVAILABLE, never accepted).
    deadline = time.monotonic() + WAIT_S
    while True:
        leads, msg = probe(others[0].address)
        assert not leads and msg.startswith("UNAVAILABLE"), msg
        if leader.address in msg or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert leader.address in msg, msg
    held, stop = Held(), threading.Event()
    threads = load(leader.address, "a", held, stop)
    # Killed under load with plenty receipted (polled, not slept: a loaded machine receipts less a second).
    deadline = time.monotonic() + WAIT_S
    while len(held.receipts) <= 100:
        assert time.monotonic() < deadline and not held.failures, (len(held.receipts), held.failures[:3])
        time.sleep(0.05)
    time.sleep(0.2)
    killed_at = time.monotonic()
    leader.kill()
    failover_s = resumed_after(others, killed_at, LIVENESS_S)
    print(f"failover: {failover_s * 1000:.0f} ms from SIGKILL to the next leader's first block")
    end_load(threads, stop)
    new = find_leader(others)
    stop2 = threading.Event()
    threads = load(new.address, "b", held, stop2)
    time.sleep(0.5)
    end_load(threads, stop2)
    assert not held.failures, held.failures[:3]
    assert len(held.receipts) > 100
    checker = Checker(Domain(31337, b"\xab" * 20))
    checker.check(new.address, held)  # every receipt at its promised place, bundles whole
    follower = next(r for r in others if r is not new)
    checker.check(follower.address, held)  # a follower's copy: the same block at every height
    # The old leader comes back while the new one leads: it follows, naming the leader (once it has
    # read the lease; until then it is UNAVAILABLE without a name, never accepting).
    start(leader)
    deadline = time.monotonic() + WAIT_S
    while True:
        leads, msg = probe(leader.address)
        assert not leads and msg.startswith("UNAVAILABLE"), msg
        if new.address in msg or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert new.address in msg, msg
    assert probe(new.address)[0]


def top_sealed(replicas: list[Replica]) -> int:
    heights = []
    for r in replicas:
        if r.proc is not None:
            try:
                heights.append(sealed(r.address))
            except grpc.RpcError:
                pass
    return max(heights, default=-2)


def resumed_after(replicas: list[Replica], killed_at: float, within_s: float) -> float:
    """Seconds from `killed_at` until a replica seals a block past those in flight at the kill
    (what any replica holds 0.3 s after it)."""
    time.sleep(max(0.0, killed_at + 0.3 - time.monotonic()))
    base = top_sealed(replicas)
    while top_sealed(replicas) <= base:
        assert time.monotonic() - killed_at < within_s, f"no block sealed for {within_s} s after the kill"
        time.sleep(0.02)
    return time.monotonic() - killed_at


def scrape(r: Replica) -> dict[str, float]:
    """The replica's metrics endpoint: series (name with its labels, as exported) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{r.metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("sharedseq_")}


def test_metrics_show_the_leader_the_lease_and_each_replicas_lag(replicas: list[Replica]) -> None:
    """docs/metrics.md: every replica names the leader's address in sharedseq_leader, only the
    leader leads and holds time on its lease, and each replica's copy is caught up with the stream
    (its lag in entries is read each second, so it is polled)."""
    leader = find_leader(replicas)
    deadline = time.monotonic() + WAIT_S
    while True:
        seen = {r.address: scrape(r) for r in replicas}
        named = all(m.get(f'sharedseq_leader{{address="{leader.address}"}}') == 1.0 for m in seen.values())
        settled = all(m.get("sharedseq_replica_lag_entries", -1) < 50 for m in seen.values())
        if named and settled or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for r in replicas:
        m = seen[r.address]
        series = f'sharedseq_leader{{address="{leader.address}"}}'
        assert [k for k in m if k.startswith("sharedseq_leader{")] == [series] and m[series] == 1.0, (r.address, m)
        assert m["sharedseq_leading"] == (1.0 if r is leader else 0.0)
        assert (m["sharedseq_lease_remaining_seconds"] > 0) == (r is leader), (r.address, m)
        assert m["sharedseq_lease_revision"] >= (1 if r is leader else 0)
        assert 0 <= m["sharedseq_replica_lag_entries"] < 50, (r.address, m)  # 10 blocks a second: caught up


def test_a_paused_leader_is_fenced(replicas: list[Replica]) -> None:
    """SIGSTOP the leader past its lease: another takes over; on SIGCONT the old one still has
    commits in flight and may still believe it leads. Whatever it answers, nothing it receipts is
    missing from the log, no height gets a second block, and it ends up following."""
    old = find_leader(replicas)
    held, stop = Held(), threading.Event()
    threads = load(old.address, "p", held, stop)
    # Paused with receipted work behind it and more in flight (polled: on a loaded machine 0.5 s of
    # load may hold only a few receipts).
    deadline = time.monotonic() + WAIT_S
    while len(held.receipts) <= 20:
        assert time.monotonic() < deadline and not held.failures, (len(held.receipts), held.failures[:3])
        time.sleep(0.05)
    time.sleep(0.1)
    assert old.proc is not None
    os.killpg(old.proc.pid, signal.SIGSTOP)
    try:
        new = find_leader([r for r in replicas if r is not old])
        time.sleep(0.3)
    finally:
        os.killpg(old.proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + WAIT_S
    while True:
        leads, msg = probe(old.address)
        if not leads and new.address in msg:
            break
        assert time.monotonic() < deadline, f"the resumed old leader still does not follow: {msg or 'it leads'}"
        time.sleep(0.05)
    end_load(threads, stop)
    assert len(held.receipts) > 20
    checker = Checker(Domain(31337, b"\xab" * 20))
    checker.check(new.address, held)  # every receipt the old leader gave, before or after the pause
    checker.check(old.address, held)  # and its own copy agrees, block for block


@pytest.mark.timeout(180 + 60 * TRIALS)  # generous: a restarted replica replays the whole stream (no snapshots)
def test_leader_kills_at_random_moments(replicas: list[Replica]) -> None:
    """torture.py against the replica set: seeded random kill moments under load; after each, every
    receipt so far is checked on the new leader against the verified blocks, and the blocks sealed
    since that replica was last checked are verified (and compared with what other replicas served).
    At the end every block of every replica is read once more. A progress line per trial (-s)."""
    rng = random.Random(SEED)
    held, checker, failovers = Held(), Checker(Domain(31337, b"\xab" * 20)), []
    began = time.monotonic()
    for trial in range(TRIALS):
        leader = find_leader(replicas)
        stop = threading.Event()
        threads = load(leader.address, f"t{trial}-", held, stop)
        time.sleep(rng.uniform(0.05, 1.2))
        killed = time.monotonic()
        leader.kill()
        others = [r for r in replicas if r is not leader]
        failovers.append(resumed_after(others, killed, LIVENESS_S))
        end_load(threads, stop)
        stats = checker.check(find_leader(others).address, held)
        print(f"trial {trial + 1}/{TRIALS}: {stats['receipts']} receipts so far, "
              f"failover {failovers[-1] * 1000:.0f} ms, "
              f"sealed height {stats['sealed_height']}, {stats['blocks_read']} blocks read, "
              f"{time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
        start(leader)
    assert not held.failures, held.failures[:3]
    for r in replicas:  # the restarted replicas' copies too, every height: one block per height everywhere
        checker.check(r.address, held, final=True)
    q = statistics.quantiles(failovers, n=100, method="inclusive") if len(failovers) > 1 else failovers * 99
    print(f"replica torture: {TRIALS} trials (seed {SEED}), {checker.verified_receipts} receipts checked "
          f"({len(held.bundles)} bundles), {len(checker.hashes)} blocks verified, {checker.blocks_read} blocks read, "
          f"failover p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {max(failovers) * 1000:.0f} ms, "
          f"{time.monotonic() - began:.0f} s, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
          flush=True)
    assert statistics.median(failovers) < FAILOVER_BOUND_S, failovers


def test_a_client_with_every_address_rides_through_a_failover(replicas: list[Replica]) -> None:
    """sharedseq.replicas.ReplicaClient: submissions follow the leader across a SIGKILL, a resubmitted
    transaction gets its original receipt (no second placement), and a subscription moves to another
    replica with no block missed or repeated."""
    from sharedseq.replicas import ReplicaClient

    leader = find_leader(replicas)
    follower = next(r for r in replicas if r is not leader)
    addresses = [follower.address] + [r.address for r in replicas if r is not follower]  # a follower first
    blocks: list[int] = []
    with ReplicaClient(addresses) as client:
        first = client.submit_transaction(A, b"client-0")
        assert client.leader == leader.address  # found through the follower's answer
        first_height = first.height

        def follow() -> None:
            with ReplicaClient([follower.address] + [r.address for r in replicas if r is not follower]) as sub:
                for b in sub.subscribe(A, first_height):
                    blocks.append(b.height)
                    if len(blocks) >= 40:
                        return
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        receipts = [first]
        for i in range(1, 30):
            if i == 10:
                leader.kill()
            if i == 20 and client.leader != follower.address:
                follower.kill()  # the subscription's replica: it moves on to another
            receipts.append(client.submit_transaction(A, f"client-{i}".encode()))
        again = client.submit_transaction(A, b"client-0")
        assert (again.height, again.index, again.tx_hash) == (first.height, first.index, first.tx_hash)
        assert client.leader != leader.address
        assert len({(r.height, r.index) for r in receipts}) == 30
        t.join(WAIT_S)
        assert not t.is_alive(), f"the subscription got {len(blocks)} of 40 blocks"
    assert blocks == list(range(first_height, first_height + 40)), "the subscription skipped or repeated a block"
    for r in (leader, follower):
        if r.proc is None:
            start(r)


def test_jetstream_node_down_then_quorum_down(replicas: list[Replica], nats_cluster: NatsCluster) -> None:  # noqa: F811
    stream = STREAM
    leader = find_leader(replicas)
    held, stop = Held(), threading.Event()
    threads = load(leader.address, "c", held, stop)
    try:
        time.sleep(0.3)
        # A JetStream node that leads neither the log's nor the lease bucket's Raft group (with two
        # groups on three nodes there is one): not a block is missed.
        busy = {nats_cluster.stream_leader(stream), nats_cluster.stream_leader(f"KV_{stream}_lease")}
        other = next(i for i in range(3) if i not in busy)
        nats_cluster.kill(other)
        pause = resumed_after(replicas, time.monotonic(), LIVENESS_S)
        print(f"a JetStream node (no Raft leader) killed: sealing past the kill after {pause * 1000:.0f} ms")
        end_load(threads, stop)
        nats_cluster.start(other)
        # The node leading the log's Raft group: JetStream elects another among the two left (its own
        # election timeouts, seconds); the sequencer resumes on it without a restart.
        stop = threading.Event()
        threads = load(find_leader(replicas).address, "d", held, stop)
        nats_cluster.kill(nats_cluster.stream_leader(stream))
        pause = resumed_after(replicas, time.monotonic(), WAIT_S)
        print(f"the log's Raft leader killed: sealing past the kill after {pause * 1000:.0f} ms")
        end_load(threads, stop)
        nats_cluster.start()
        # Unary load across the loss of the quorum: each call either gets a receipt that survives it
        # or UNAVAILABLE (a write JetStream did not confirm is never receipted).
        leader = find_leader(replicas)
        stop = threading.Event()
        during = threading.Thread(target=unary_load, args=(leader.address, "q", held, stop), daemon=True)
        during.start()
        time.sleep(0.2)
        nats_cluster.kill(0)
        nats_cluster.kill(1)  # two of three: no quorum
        during.join(WAIT_S)  # each call has a 10 s deadline; an append without quorum gives up in 1 s
        assert not during.is_alive(), "a submission neither receipted nor refused with the quorum gone"
        time.sleep(1.0)  # past the lease's TTL: no replica can still believe it leads
        for r in replicas:
            leads, msg = probe(r.address)
            assert not leads and msg.startswith("UNAVAILABLE"), msg
    finally:
        stop.set()
        nats_cluster.start()
    # A refused request is fine here (a replica that lost the log answers UNAVAILABLE or names the
    # leader); what is checked is that every receipt anyone got is kept.
    # The quorum is back: a leader again, and every receipt given before is kept.
    leader = find_leader(replicas)
    Checker(Domain(31337, b"\xab" * 20)).check(leader.address, held)
