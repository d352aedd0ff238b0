"""Crash torture: SIGKILL the sequencer at seeded random moments under mixed load, then check,
from outside the process and through its public API only, every promise it made.

Each trial starts `sharedseq serve` on the same block log, checks everything held so far, puts
it under load from five clients at once - unary SubmitTransaction, unary SubmitBundle, a
StreamSubmit mixing single transactions, transaction lists and bundles, and a subscriber
following a rollup's namespace - and kills the process with SIGKILL after a random delay
(sometimes before the load has started). After every restart, and once more at the end:

- every block up to the sealed height, each verified once (`Checker`, incremental): the header
  signature recovers the sequencer's address, `parent_hash` is the previous block's hash, the
  namespaces and bundles roots are what the block's data gives; each check reads the blocks new
  to that server (and the last one compared, and 16 random earlier ones), a block seen before must
  be unchanged (same hash), and the last check reads every block again;
- every receipt any client ever held: its signature verifies (`signing.verify_receipt`) to the
  sequencer's address, and the transaction is at its height and index, with its hash;
- every bundle: all legs at one height, and the block lists the bundle with exactly those legs;
- every view the subscriber got: consecutive heights, a valid namespace proof under a header
  the sequencer signed, and the same transactions as the block.

Any refused request (a status other than the kill's UNAVAILABLE / CANCELLED) fails the run: the
load is valid and the per-client limits are off (one client, the whole service).

    python -m tests.integration.torture --trials 100 --seed 1     # the long run (figures: docs/torture.md)
    SHAREDSEQ_TORTURE_TRIALS=100 pytest tests/integration/test_torture.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sequencer.core import commitments, signing
from sequencer.core.hashing import keccak
from sequencer.core.types import BundlePlacement, Namespace
from sequencer.keys import write_key
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

A, B = 904, 905
"""Two opaque rollups (no admission policy: the load is cheap to make, so it is heavy)."""
KILLED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}
"""What a call sees when the server is killed under it."""


class TortureFailure(AssertionError):
    """A promise broken, or a request refused that should not have been."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, port: int, slot_ms: int = 100) -> Path:
    key = workdir / "seq.key"
    if not key.exists():
        write_key(key)
    path = workdir / "torture.toml"
    path.write_text(f"""
[sequencer]
listen = "127.0.0.1:{port}"
data_dir = "data"
key_file = "seq.key"
slot_ms = {slot_ms}
metrics_listen = ""
log_format = "json"
rate_limit_tx_per_s = 0
rate_limit_bytes_per_s = 0
max_streams_per_client = 0
client_share = 0

[domain]
chain_id = 31337
verifying_contract = "0x{"ab" * 20}"

[[rollups]]
id = {A}
name = "a"
policy = "opaque"

[[rollups]]
id = {B}
name = "b"
policy = "opaque"
""")
    return path


def start_server(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sequencer.cli", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"), start_new_session=True,
    )


def wait_healthy(address: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TortureFailure(f"server exited with {proc.returncode} during start-up")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.05)
    raise TortureFailure(f"server on {address} not healthy after {deadline_s}s")


# -- what the clients hold -------------------------------------------------------------------------

@dataclass
class Held:
    """Everything the sequencer promised, as the clients got it."""

    receipts: list[pb.Receipt] = field(default_factory=list)
    bundles: list[tuple[bytes, list[pb.Receipt]]] = field(default_factory=list)
    views: list[pb.RollupBlock] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, receipts: list[pb.Receipt], bundle_hash: bytes | None = None) -> None:
        with self.lock:
            self.receipts.extend(receipts)
            if bundle_hash is not None:
                self.bundles.append((bundle_hash, list(receipts)))

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def _rpc_failed(held: Held, who: str, exc: grpc.RpcError) -> None:
    if exc.code() not in KILLED:  # type: ignore[attr-defined]
        held.fail(f"{who}: {exc.code().name}: {exc.details()}")  # type: ignore[attr-defined]


def _tx(rollup: int, payload: str) -> pb.Transaction:
    return pb.Transaction(rollup_id=rollup, payload=payload.encode())


def _bundle(tag: str) -> pb.Bundle:
    return pb.Bundle(legs=[_tx(A, f"{tag}-0"), _tx(B, f"{tag}-1"), _tx(A, f"{tag}-2")])


def unary_load(address: str, tag: str, held: Held, stop: threading.Event) -> None:
    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        i = 0
        while not stop.is_set():
            try:
                if i % 5 == 4:
                    b = _bundle(f"{tag}-ub{i}")
                    resp = stub.SubmitBundle(pb.SubmitBundleRequest(bundle=b), timeout=10)
                    held.add(list(resp.receipts), bytes(resp.bundle_hash))
                else:
                    r = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=_tx(A if i % 2 else B, f"{tag}-u{i}")), timeout=10)
                    held.add([r.receipt])
            except grpc.RpcError as exc:
                _rpc_failed(held, "unary", exc)
                return
            i += 1


def stream_load(address: str, tag: str, held: Held, stop: threading.Event) -> None:
    sent: dict[int, pb.StreamSubmitRequest] = {}

    def requests() -> Iterator[pb.StreamSubmitRequest]:
        i = 0
        while not stop.is_set():
            kind = i % 7
            if kind == 3:
                req = pb.StreamSubmitRequest(request_id=i, bundle=_bundle(f"{tag}-sb{i}"))
            elif kind in (1, 5):
                items = [_tx(A if j % 2 else B, f"{tag}-sl{i}-{j}") for j in range(4)]
                req = pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=items))
            else:
                req = pb.StreamSubmitRequest(request_id=i, transaction=_tx(A, f"{tag}-s{i}"))
            sent[i] = req
            yield req
            i += 1

    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        expect = 0
        try:
            for resp in stub.StreamSubmit(requests()):
                if resp.request_id != expect:
                    held.fail(f"stream: answer {resp.request_id} where {expect} was due")
                    return
                req = sent.pop(expect)
                expect += 1
                if resp.error.message:
                    held.fail(f"stream: request {resp.request_id} refused: {resp.error.message}")
                    return
                which = req.WhichOneof("item")
                if which == "transactions":
                    bad = [r.error.message for r in resp.results if not r.HasField("receipt")]
                    if bad or len(resp.results) != len(req.transactions.transactions):
                        held.fail(f"stream: list {resp.request_id} not all admitted: {bad[:1]}")
                        return
                    held.add([r.receipt for r in resp.results])
                elif which == "bundle":
                    held.add(list(resp.receipts), convert.bundle_from_proto(req.bundle).bundle_hash)
                else:
                    held.add(list(resp.receipts))
        except grpc.RpcError as exc:
            _rpc_failed(held, "stream", exc)


def subscriber(address: str, from_height: int, held: Held, stop: threading.Event) -> None:
    with grpc.insecure_channel(address) as ch:
        call = pb_grpc.SequencerServiceStub(ch).SubscribeBlocks(
            pb.SubscribeBlocksRequest(rollup_id=A, from_height=from_height))
        stop_watch = threading.Thread(target=lambda: (stop.wait(), call.cancel()), daemon=True)
        stop_watch.start()
        expect = from_height
        try:
            for resp in call:
                h = resp.block.signed_header.header.height
                if h != expect:
                    held.fail(f"subscriber: block {h} where {expect} was due")
                    return
                expect += 1
                with held.lock:
                    held.views.append(resp.block)
        except grpc.RpcError as exc:
            _rpc_failed(held, "subscriber", exc)


# -- the checks ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VerifiedBlock:
    """What the checks keep of a block once it passed `Checker._check_block` (a sealed block never
    changes, so receipts, bundles and views are checked against this instead of re-reading it):
    its hash, each namespace's transaction hashes in order, and its bundle placements."""

    block_hash: bytes
    tx_hashes: dict[int, tuple[bytes, ...]]
    bundles: dict[bytes, tuple[tuple[int, int], ...]]


class BlockSource(Protocol):
    """Where the checker reads a replica's log: the public API (`GrpcSource`), or a forged history in
    the checker's own tests."""

    def info(self) -> pb.GetSequencerInfoResponse: ...

    def block(self, height: int) -> pb.Block: ...


@dataclass(frozen=True, slots=True)
class GrpcSource:
    """A sequencer's log through GetSequencerInfo and GetBlock."""

    stub: pb_grpc.SequencerServiceStub

    def info(self) -> pb.GetSequencerInfoResponse:
        return self.stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=10)

    def block(self, height: int) -> pb.Block:
        return self.stub.GetBlock(pb.GetBlockRequest(height=height), timeout=30).block


@dataclass
class Checker:
    """Verifies the log through the API, incrementally: each block is verified once (header
    signature, parent link, the roots its data gives) and kept as a `VerifiedBlock`; every check
    then reads, from the replica it is given, only the blocks past those it already compared on that
    replica (plus the last one again, and `spot_checks` random earlier heights), and compares each
    height verified before by hash, so two different blocks at one height on any two replicas fail.
    Every receipt given so far is re-checked on every check against the verified blocks (dictionary
    lookups); signatures and subscriber views, which cannot change, are verified once.
    `check(..., final=True)` re-reads every block of that replica from height 0."""

    domain: signing.Domain
    address: bytes = b""
    hashes: dict[int, bytes] = field(default_factory=dict)
    verified_receipts: int = 0
    checks: int = 0
    blocks: dict[int, VerifiedBlock] = field(default_factory=dict)
    compared: dict[str, int] = field(default_factory=dict)
    """Per replica (its address): the highest height whose block was read there and compared."""
    verified_views: int = 0
    blocks_read: int = 0
    spot_checks: int = 16
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    sealed_wait_s: float = 60.0

    def receipt_signer(self, r: pb.Receipt) -> bytes:
        verify = getattr(signing, "verify_receipt", None)
        if verify is not None:
            return bytes(verify(self.domain, convert.receipt_from_proto(r)))
        # Older receipts carried one signature each (before batch signatures).
        return signing.recover_signer(self.domain, signing.receipt_struct_hash(
            r.rollup_id, bytes(r.tx_hash), r.height, r.index), bytes(r.signature))  # type: ignore[attr-defined]

    def check(self, address: str, held: Held, *, final: bool = False) -> dict[str, int]:
        with grpc.insecure_channel(address) as ch:
            return self.check_source(address, GrpcSource(pb_grpc.SequencerServiceStub(ch)), held, final=final)

    def check_source(self, name: str, source: BlockSource, held: Held, *, final: bool = False) -> dict[str, int]:
        """Check replica `name` (read through `source`) and everything `held` so far. Raises TortureFailure."""
        with held.lock:  # a snapshot: a client still running must not change the lists under the checks
            receipts, bundles, views = list(held.receipts), list(held.bundles), list(held.views)
        info = source.info()
        if not self.address:
            self.address = bytes(info.sequencer_address)
        if bytes(info.sequencer_address) != self.address:
            raise TortureFailure("the sequencer's address changed")
        done = self.compared.get(name, -1)
        # Every receipt's and view's block, and every block this replica served before, must be sealed
        # here (restored placements seal in the next slots; a replica never un-seals).
        top = max([done, *(r.height for r in receipts), *(v.signed_header.header.height for v in views)])
        deadline = time.monotonic() + self.sealed_wait_s
        while info.sealed_height < top:
            if time.monotonic() > deadline:
                raise TortureFailure(f"{name}: needs height {top} sealed (receipts, or blocks it served before), "
                                     f"but its sealed height stays {info.sealed_height}")
            time.sleep(0.02)
            info = source.info()
        sealed = info.sealed_height
        start = 0 if final else max(0, done)  # the last compared block again: a fork at the boundary shows
        spots = sorted(self.rng.sample(range(start), min(self.spot_checks, start))) if start else []
        heights = [*spots, *range(start, sealed + 1)]
        with ThreadPoolExecutor(4) as pool:  # in order, four in flight: the log grows by 10 blocks a second
            for h, blk in zip(heights, pool.map(source.block, heights), strict=True):
                self._check_block(name, h, blk)
        self.blocks_read += len(heights)
        self.compared[name] = max(done, sealed)
        self._check_receipts(receipts, bundles)
        self._check_views(views)
        self.checks += 1
        return {"sealed_height": sealed, "receipts": len(receipts), "bundles": len(bundles), "views": len(views),
                "blocks_read": len(heights)}

    def _check_block(self, name: str, h: int, blk: pb.Block) -> None:
        sh = blk.signed_header
        header = convert.header_from_proto(sh.header)
        digest = signing.block_hash(header)
        if header.height != h or bytes(sh.block_hash) != digest:
            raise TortureFailure(f"block {h}: height or block hash does not match its header")
        if h in self.hashes:
            if self.hashes[h] != digest:
                raise TortureFailure(f"block {h} on {name} is not the block verified before at that height "
                                     f"(two blocks at one height, or a block changed after a restart)")
            return
        if signing.recover_signer(self.domain, signing.header_struct_hash(header), bytes(sh.signature)) != self.address:
            raise TortureFailure(f"block {h}: header not signed by the sequencer")
        if h > 0 and header.parent_hash != self.hashes.get(h - 1):
            raise TortureFailure(f"block {h}: parent_hash is not block {h - 1}'s hash")
        namespaces = tuple(Namespace(ns.rollup_id, tuple(bytes(t) for t in ns.transactions)) for ns in blk.namespaces)
        if (commitments.namespaces_root(namespaces), len(namespaces)) != (header.namespaces_root,
                                                                          header.namespace_count):
            raise TortureFailure(f"block {h}: namespaces do not give the header's namespaces_root")
        placements = tuple(BundlePlacement(bytes(p.bundle_hash), tuple((leg.rollup_id, leg.index) for leg in p.legs))
                           for p in blk.bundles)
        if commitments.bundles_root(placements) != header.bundles_root:
            raise TortureFailure(f"block {h}: bundles do not give the header's bundles_root")
        self.hashes[h] = digest
        self.blocks[h] = VerifiedBlock(digest, {ns.rollup_id: tuple(keccak(t) for t in ns.transactions)
                                                for ns in namespaces},
                                       {p.bundle_hash: p.legs for p in placements})

    def _check_receipts(self, receipts: list[pb.Receipt], bundles: list[tuple[bytes, list[pb.Receipt]]]) -> None:
        seen: set[tuple[int, int, int]] = set()
        for n, r in enumerate(receipts):
            if n >= self.verified_receipts and self.receipt_signer(r) != self.address:
                raise TortureFailure(f"receipt {r.height}/{r.rollup_id}/{r.index}: signature is not the sequencer's")
            block = self.blocks.get(r.height)
            txs = block.tx_hashes.get(r.rollup_id, ()) if block is not None else ()
            if r.index >= len(txs) or txs[r.index] != bytes(r.tx_hash):
                raise TortureFailure(f"receipt {r.height}/{r.rollup_id}/{r.index}: the block does not hold it")
            spot = (r.height, r.rollup_id, r.index)
            if spot in seen:
                raise TortureFailure(f"two receipts promise the same place {spot}")
            seen.add(spot)
        self.verified_receipts = max(self.verified_receipts, len(receipts))
        for bundle_hash, legs in bundles:
            heights = {r.height for r in legs}
            if len(heights) != 1:
                raise TortureFailure(f"bundle 0x{bundle_hash.hex()[:12]}: legs at heights {sorted(heights)}")
            block = self.blocks.get(legs[0].height)
            placed = block.bundles.get(bundle_hash) if block is not None else None
            if placed != tuple((r.rollup_id, r.index) for r in legs):
                raise TortureFailure(f"bundle 0x{bundle_hash.hex()[:12]}: not placed as its receipts say")

    def _check_views(self, views: list[pb.RollupBlock]) -> None:
        for v in views[self.verified_views:]:
            sh = v.signed_header
            header = convert.header_from_proto(sh.header)
            block = self.blocks.get(header.height)
            if block is None or block.block_hash != signing.block_hash(header):
                raise TortureFailure(f"view of block {header.height}: not the block the log holds")
            txs = [bytes(t) for t in v.transactions]
            if tuple(keccak(t) for t in txs) != block.tx_hashes.get(A, ()):
                raise TortureFailure(f"view of block {header.height}: transactions differ from the block's")
            proof = convert.proof_from_proto(v.proof)
            if not commitments.verify_namespace(proof, txs, header.namespaces_root, header.namespace_count,
                                                rollup_id=A):
                raise TortureFailure(f"view of block {header.height}: namespace proof does not verify")
        self.verified_views = max(self.verified_views, len(views))


# -- the run ---------------------------------------------------------------------------------------

@dataclass
class Figures:
    trials: int = 0
    kills: int = 0
    receipts: int = 0
    bundles: int = 0
    views: int = 0
    blocks: int = 0
    seconds: float = 0.0
    per_trial_receipts: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        lo = min(self.per_trial_receipts, default=0)
        hi = max(self.per_trial_receipts, default=0)
        return {"trials": self.trials, "kills": self.kills, "receipts_checked": self.receipts,
                "bundles_checked": self.bundles, "subscriber_views_checked": self.views,
                "blocks_checked": self.blocks, "receipts_per_trial_min": lo, "receipts_per_trial_max": hi,
                "seconds": round(self.seconds, 1)}


def run(workdir: Path, trials: int, seed: int, max_delay_s: float = 1.5, log: bool = False) -> Figures:
    """`trials` kills under load, each followed by a restart and a full check. Raises TortureFailure."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = write_config(workdir, port)
    server_log = workdir / "server.log"
    rng = random.Random(seed)
    held = Held()
    checker = Checker(signing.Domain(31337, bytes.fromhex("ab" * 20)))
    figures = Figures()
    started = time.monotonic()
    salt = f"{seed}-{rng.getrandbits(32):08x}"
    for trial in range(trials):
        proc = start_server(config, server_log)
        try:
            wait_healthy(address, proc)
            stats = checker.check(address, held)
            before = len(held.receipts)
            stop = threading.Event()
            tag = f"{salt}-t{trial}"
            sub_from = max(0, stats["sealed_height"] - rng.randint(0, 40))
            threads = [threading.Thread(target=f, args=(address, tag, held, stop), daemon=True)
                       for f in (unary_load, stream_load)]
            threads.append(threading.Thread(target=subscriber, args=(address, sub_from, held, stop), daemon=True))
            delay = 0.0 if rng.random() < 0.1 else rng.uniform(0.05, max_delay_s)
            for t in threads:
                t.start()
            time.sleep(delay)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        figures.kills += 1
        stop.set()
        for t in threads:
            t.join(timeout=30)
            if t.is_alive():
                raise TortureFailure(f"trial {trial}: a client did not notice the kill within 30 s")
        if held.failures:
            raise TortureFailure(f"trial {trial}: {held.failures[:3]}")
        figures.per_trial_receipts.append(len(held.receipts) - before)
        if log:
            print(f"trial {trial}: killed after {delay:.2f}s with {len(held.receipts) - before} new receipts "
                  f"(sealed height {stats['sealed_height']})", file=sys.stderr, flush=True)
    # A last start: everything checked once more, then a clean stop.
    proc = start_server(config, server_log)
    try:
        wait_healthy(address, proc)
        stats = checker.check(address, held, final=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    if code != 0:
        raise TortureFailure(f"clean shutdown exited with {code}")
    figures.trials = trials
    figures.receipts, figures.bundles, figures.views = len(held.receipts), len(held.bundles), len(held.views)
    figures.blocks = stats["sealed_height"] + 1
    figures.seconds = time.monotonic() - started
    return figures


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-delay", type=float, default=1.5, help="longest run before a kill, seconds")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sharedseq-torture-"))
    figures = run(workdir, args.trials, args.seed, args.max_delay, log=True)
    print(json.dumps({"seed": args.seed, **figures.as_dict()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
