"""Three local rollups on one L1, for the rollup-node tests and the devnet.

    async with devnet(tmp_path) as net:           # L1 anvil + contracts + in-process sequencer
        soft = await net.start_node(901, "soft")  # a RollupNode with its own engine
        firm = await net.start_node(901, "firm")
        await net.start_poster()                  # the project's Batcher posts windows to L1
        receipt = await net.submit(901, raw_tx)

Everything binds 127.0.0.1; every anvil runs in its own process group and is stopped on exit.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import grpc
import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from deploy.deployer import Sender, contract_at, deploy_all
from rollup_node.node import NodeConfig, RollupNode
from sequencer.config import ServiceConfig, parse_config
from sequencer.devtools.anvil import REPO_ROOT, Anvil, AnvilError, dev_accounts, free_port, start_anvil
from sequencer.keys import write_key
from sequencer.server import RunningServer, running
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

log = logging.getLogger("sharedseq.testkit")

ROLLUPS = (
    {"id": 901, "name": "op", "format": "opstack", "block_time_ms": 1000},
    {"id": 902, "name": "nitro", "format": "nitro", "block_time_ms": 1000},
    {"id": 903, "name": "zkevm", "format": "zkevm", "block_time_ms": 1000},
)
ROLLUP_IDS = tuple(r["id"] for r in ROLLUPS)
L1_CHAIN_ID = 31337
SLOT_MS = 50
WINDOW_MS = 1000
FORCE_INCLUSION_DELAY = 4
L1_HEARTBEAT_S = 10.0
"""Devnet.keep_l1_moving's period: like a real L1's 12 s, far inside the sequencer's 150 s drift bound."""
DEPLOYER = 0
"""L1 dev account that deploys and posts windows."""
L1_USER = 1
"""L1 dev account that enqueues forced transactions."""

STORE_INIT_CODE = bytes.fromhex("6007600c60003960076000f3" + "60003560005500")
"""A tiny contract: init copies the 7-byte runtime `sstore(0, calldataload(0))` and returns it."""


def rollup_tx(rid: int, key: bytes, nonce: int, *, to: str | None = "0x" + "22" * 20, value: int = 0,
              data: bytes = b"", gas: int = 21_000) -> bytes:
    """A raw signed tx for rollup `rid` (legacy on zkEVM, EIP-1559 elsewhere)."""
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": value, "data": data, "chainId": rid}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    if rid == 903:
        tx["gasPrice"] = 3 * 10**9
    else:
        tx.update(type=2, maxFeePerGas=3 * 10**9, maxPriorityFeePerGas=10**9)
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def create_address(sender: str, nonce: int) -> str:
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


@dataclass
class Devnet:
    """The running pieces; see `devnet()`."""

    tmp: Path
    l1: Anvil
    w3: Web3
    inbox: str
    cfg: ServiceConfig
    tg: Any
    server: RunningServer | None = None
    nodes: list[RollupNode] = field(default_factory=list)
    batcher: Any = None
    process: bool = False
    proc: subprocess.Popen | None = None
    _node_scopes: dict = field(default_factory=dict)
    _poster: tuple[anyio.CancelScope, anyio.Event] | None = None
    _stop: anyio.Event | None = None
    _stopped: anyio.Event | None = None

    @property
    def sequencer_address(self) -> str:
        return f"127.0.0.1:{self.cfg.listen.rpartition(':')[2]}"

    # ---------------------------------------------------------------- sequencer

    async def _serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        self._stop, self._stopped = anyio.Event(), anyio.Event()
        try:
            async with running(self.cfg) as srv:
                self.server = srv
                task_status.started(srv)
                await self._stop.wait()
        except BaseException as exc:
            if not _shutdown_noise(exc):
                raise
            # SequencerNode._writer turns a cancellation during a log write into Critical on shutdown
            # (sequencer/service/node.py); the stop was ours, so that is not a failure of these tests.
            log.warning("sequencer stopped with %r during shutdown", exc)
        finally:
            self.server = None
            self._stopped.set()

    async def start_sequencer(self) -> None:
        """In process (sequencer.server.running), or with `process=True` of devnet() as
        `sharedseq serve` in its own process group."""
        if not self.process:
            await self.tg.start(self._serve)
            return
        config = self.tmp / "sequencer.toml"
        if not config.exists():
            config.write_text(sequencer_toml(self.cfg, self.inbox, self.l1.url))
        log_file = (self.tmp / "sequencer.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "serve", "--config", str(config)],
                                     stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=REPO_ROOT)
        log_file.close()

        async def up() -> bool:
            try:
                await self.sealed_height()
                return True
            except grpc.aio.AioRpcError:
                return False

        with anyio.fail_after(60):  # a fresh interpreter importing web3 and grpc: seconds on a busy machine
            while not await up():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sequencer exited: {(self.tmp / 'sequencer.log').read_text()[-2000:]}")
                await anyio.sleep(0.05)

    async def stop_sequencer(self) -> None:
        """Stop the sequencer (in a subprocess: SIGKILL, a crash)."""
        if not self.process:
            assert self._stop is not None and self._stopped is not None
            self._stop.set()
            await self._stopped.wait()
            return
        kill_group(self.proc)

    async def sealed_height(self) -> int:
        async with grpc.aio.insecure_channel(self.sequencer_address) as ch:
            info = await pb_grpc.SequencerServiceStub(ch).GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=10)
        return int(info.sealed_height)

    async def submit(self, rid: int, payload: bytes) -> pb.Receipt:
        async with grpc.aio.insecure_channel(self.sequencer_address) as ch:
            resp = await pb_grpc.SequencerServiceStub(ch).SubmitTransaction(
                pb.SubmitTransactionRequest(transaction=pb.Transaction(rollup_id=rid, payload=payload)), timeout=30)
        return resp.receipt

    async def submit_bundle(self, legs: Sequence[tuple[int, bytes]]) -> list[pb.Receipt]:
        async with grpc.aio.insecure_channel(self.sequencer_address) as ch:
            resp = await pb_grpc.SequencerServiceStub(ch).SubmitBundle(pb.SubmitBundleRequest(
                bundle=pb.Bundle(legs=[pb.Transaction(rollup_id=r, payload=p) for r, p in legs])), timeout=30)
        return list(resp.receipts)

    # ---------------------------------------------------------------- nodes

    async def start_node(self, rid: int, mode: str) -> RollupNode:
        node = RollupNode(NodeConfig(rollup_id=rid, mode=mode, sequencer=self.sequencer_address,
                                     l1_rpc=self.l1.url, inbox=self.inbox, api_port=0, poll_ms=50))
        self.nodes.append(node)
        scope = anyio.CancelScope()
        self._node_scopes[id(node)] = scope

        async def run_node(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            with scope:
                await node.run(task_status=task_status)

        await self.tg.start(run_node)
        return node

    async def stop_node(self, node: RollupNode) -> None:
        """Stop a node; its engine (anvil) is killed with it, so its state is gone."""
        self._node_scopes.pop(id(node)).cancel()
        await wait_until(lambda: node.engine is None or node.engine.anvil is None
                         or node.engine.anvil.proc.poll() is not None, 30, "the node's engine to stop")

    # ---------------------------------------------------------------- L1

    async def keep_l1_moving(self, every_s: float = L1_HEARTBEAT_S) -> None:
        """Mine an empty L1 block every `every_s` until cancelled (start it in `tg`). anvil mines only
        when a transaction arrives, and the sequencer stops sealing once its L1 origin's timestamp is
        more than max_origin_drift_ms (half the inbox's catchUpAfterMs: 150 s) behind its clock: a
        devnet that lives for minutes without L1 traffic (test_margin's module network on a loaded
        machine: 'sealing stopped: the L1 origin's timestamp is 150935 ms behind the clock') would stop
        sealing mid-test. A real L1 makes a block every 12 s."""
        while True:
            await anyio.sleep(every_s)
            try:
                await anyio.to_thread.run_sync(self.l1.mine, 1)
            except (OSError, AnvilError):  # anvil too busy to answer in time: the next beat mines
                log.warning("L1 heartbeat: anvil did not mine", exc_info=True)

    def enqueue_forced(self, rid: int, data: bytes) -> int:
        """inbox.enqueueForced from L1 dev account L1_USER; returns the deadline."""
        sender = Sender(self.w3, dev_accounts()[L1_USER].key)
        receipt = sender.transact(contract_at(self.w3, "SequencerInbox", self.inbox).functions.enqueueForced(
            rid, data), f"enqueueForced({rid})")
        inbox = contract_at(self.w3, "SequencerInbox", self.inbox)
        ev = inbox.events.ForcedTxEnqueued().process_receipt(receipt)[0]["args"]
        return int(ev["deadline"])

    def batcher_config(self, **kw: Any) -> Any:
        """The project's BatcherConfig for this devnet: poster DEPLOYER, the sequencer's own key file as signer."""
        from sequencer.keys import read_key
        from sequencer.l1.batcher import BatcherConfig

        opts: dict[str, Any] = {"window_ms": WINDOW_MS, "poll_ms": 100, "max_backoff_s": 1.0}
        opts.update(kw)
        return BatcherConfig(sequencer=self.sequencer_address, l1_rpc_url=self.l1.url, inbox=self.inbox,
                             key=dev_accounts()[DEPLOYER].key, signer_key=read_key(self.cfg.key_file), **opts)

    async def start_poster(self, *, use_blobs: bool = False) -> None:
        """Post windows to L1 with the project's Batcher (sequencer/l1/batcher.py); `use_blobs`: as
        EIP-4844 blobs (postWindowBlobs)."""
        from sequencer.l1.batcher import Batcher

        batcher = self.batcher = Batcher(self.batcher_config(use_blobs=use_blobs))
        scope, ended = anyio.CancelScope(), anyio.Event()
        self._poster = (scope, ended)

        async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await batcher.run(task_status=task_status)
            finally:
                ended.set()

        await self.tg.start(run)

    async def stop_poster(self) -> None:
        """Stop the batcher started by start_poster (`self.batcher` keeps what it posted); returns once
        it has stopped. A posting it had sent may still land: the next batcher finds it on L1."""
        assert self._poster is not None, "no poster running"
        scope, ended = self._poster
        self._poster = None
        scope.cancel()
        await ended.wait()


def _shutdown_noise(exc: BaseException) -> bool:
    """Whether `exc` holds only cancellations (possibly wrapped in Critical by the sequencer's writer)."""
    from sequencer.errors import Critical

    cancelled = anyio.get_cancelled_exc_class()
    if isinstance(exc, BaseExceptionGroup):
        return all(_shutdown_noise(e) for e in exc.exceptions)
    return isinstance(exc, cancelled) or (isinstance(exc, Critical) and isinstance(exc.__cause__, cancelled))


def kill_group(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def sequencer_toml(cfg: ServiceConfig, inbox: str, l1_url: str) -> str:
    rollups = "".join(f'\n[[rollups]]\nid = {r["id"]}\nname = "{r["name"]}"\nformat = "{r["format"]}"\n'
                      f'block_time_ms = {r["block_time_ms"]}\n' for r in ROLLUPS)
    return f"""[sequencer]
listen = "{cfg.listen}"
data_dir = "{cfg.data_dir}"
key_file = "{cfg.key_file}"
slot_ms = {SLOT_MS}
metrics_listen = ""
log_format = "text"

[domain]
chain_id = {L1_CHAIN_ID}
verifying_contract = "{inbox}"

[l1]
rpc_url = "{l1_url}"
inbox = "{inbox}"
poll_ms = 100
{rollups}"""


@asynccontextmanager
async def devnet(tmp: Path, *, sequencer: bool = True, process: bool = False,
                 blobs: bool = False) -> AsyncIterator[Devnet]:
    """L1 anvil, contracts (force_inclusion_delay FORCE_INCLUSION_DELAY), sequencer signing for the inbox.
    `blobs`: warm anvil up for blob postings first (warm_up_blobs)."""
    key_path = tmp / "seq.key"
    seq_address = "0x" + write_key(key_path).hex()
    with start_anvil(chain_id=L1_CHAIN_ID, timeout=60) as l1:
        w3 = Web3(Web3.HTTPProvider(l1.url))
        if blobs:
            await anyio.to_thread.run_sync(warm_up_blobs, w3)
        manifest = await anyio.to_thread.run_sync(lambda: deploy_all(w3, dev_accounts()[DEPLOYER].key, {
            "l1": {"force_inclusion_delay": FORCE_INCLUSION_DELAY}, "sequencer": {"address": seq_address},
            "rollups": list(ROLLUPS)}))
        inbox = manifest.address("SequencerInbox")
        cfg = parse_config({
            "sequencer": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp / "data"),
                          "key_file": str(key_path), "metrics_listen": "", "slot_ms": SLOT_MS, "log_format": "text"},
            "domain": {"chain_id": L1_CHAIN_ID, "verifying_contract": inbox},
            "l1": {"rpc_url": l1.url, "inbox": inbox, "poll_ms": 100},
            "rollups": list(ROLLUPS),
        }, tmp)
        async with anyio.create_task_group() as tg:
            net = Devnet(tmp, l1, w3, inbox, cfg, tg, process=process)
            try:
                if sequencer:
                    await net.start_sequencer()
                yield net
            finally:
                tg.cancel_scope.cancel()
                kill_group(net.proc)


BLOB_WARM_UP_ACCOUNT = 9
"""L1 dev account that sends the warm-up blob transaction (used by nothing else)."""


def warm_up_blobs(w3: Web3) -> None:
    """Send one blob transaction and wait for it. anvil prepares its KZG setup on the first blob
    transaction it sees, blocking every RPC meanwhile (measured 15-27 s on a loaded 2-core machine,
    0.4 s for the next one); paying that before any node or batcher runs keeps their RPC timeouts
    meaningful."""
    from sequencer.l1 import blobs as blob_codec

    acct = dev_accounts()[BLOB_WARM_UP_ACCOUNT]
    blob = blob_codec.batch_blobs(b"warm-up")[0]
    c = blob_codec.commitment(blob)
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    tx = {"type": 3, "chainId": int(w3.eth.chain_id), "nonce": w3.eth.get_transaction_count(acct.address),
          "to": "0x" + "22" * 20, "value": 0, "gas": 21_000, "maxFeePerGas": 2 * base + 10**9,
          "maxPriorityFeePerGas": 10**9, "maxFeePerBlobGas": 10**10, "data": b"",
          "blobVersionedHashes": [blob_codec.versioned_hash(c)]}
    raw, tx_hash = blob_codec.blob_tx_network_form(bytes(Account.sign_transaction(tx, acct.key).raw_transaction),
                                                   [blob], [c])
    slow = Web3(Web3.HTTPProvider(w3.provider.endpoint_uri, request_kwargs={"timeout": 120}))  # type: ignore[attr-defined]
    slow.eth.send_raw_transaction(raw)
    assert slow.eth.wait_for_transaction_receipt(tx_hash, timeout=120)["status"] == 1


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate()` until truthy (returned) or fail after `timeout` seconds."""
    with anyio.move_on_after(timeout):
        while True:
            value = predicate()
            if value:
                return value
            await anyio.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


async def block_covering(node: RollupNode, height: int, timeout: float = 60.0):
    """The executed rollup block (soft node) whose window holds shared block `height`."""
    return await wait_until(lambda: next((b for b in node.blocks.values() if height in b.shared_heights), None),
                            timeout, f"rollup {node.rollup_id} to cover shared height {height}")


def engine_w3(node: RollupNode) -> Web3:
    assert node.engine is not None
    return Web3(Web3.HTTPProvider(node.engine.url))


async def check_firm_equals_soft(net: Devnet, key: bytes, *, use_blobs: bool = False) -> None:
    """Derivation equivalence on every rollup: three transfers of 1, 2, 3 wei to 0x22..22 through the
    sequencer, windows posted (as calldata or blobs), and a firm node (L1 only) with the soft node's state
    root, engine block hash and tx count at every rollup block both have executed."""
    soft = {rid: await net.start_node(rid, "soft") for rid in ROLLUP_IDS}
    firm = {rid: await net.start_node(rid, "firm") for rid in ROLLUP_IDS}
    await net.start_poster(use_blobs=use_blobs)
    last: dict[int, int] = {}
    for i in range(3):
        for rid in ROLLUP_IDS:
            last[rid] = (await net.submit(rid, rollup_tx(rid, key, i, value=i + 1))).height
        await wait_until(lambda: all(any(last[r] in b.shared_heights for b in soft[r].blocks.values())
                                     for r in ROLLUP_IDS), 60, "soft nodes")
    for rid in ROLLUP_IDS:
        target = (await block_covering(soft[rid], last[rid])).number
        await firm[rid].wait_for(target, timeout=60)
        assert firm[rid].firm_head >= target
        common = sorted(set(firm[rid].blocks) & set(soft[rid].blocks))
        assert common and common[0] == min(soft[rid].blocks) and common[-1] >= target
        for n in common:
            f, s = firm[rid].blocks[n], soft[rid].blocks[n]
            assert (f.state_root, f.engine_block_hash, f.tx_count) == (s.state_root, s.engine_block_hash,
                                                                      s.tx_count), (rid, n)
        assert engine_w3(firm[rid]).eth.get_balance("0x" + "22" * 20) == 6
