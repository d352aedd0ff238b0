"""The batcher against a real anvil L1 (contracts from deploy_all) and a real in-process sequencer.

The sequencer's EIP-712 domain is the deployed inbox, its key the SequencerKeys genesis key (the
batcher signs each Window with the same key file), and it follows the L1 for its blocks' L1 origin,
so the inbox verifies every posted window signature, origin and forcedTo against real L1 blocks.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from eth_utils import to_checksum_address
from seq_helpers import Wallet, config_doc
from web3 import Web3

from deploy.deployer import contract_at, deploy_all
from rollup_adapters.derivation import Cursor, decode_window_batch, forced_to_after
from sequencer.config import parse_config
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import SharedBlock, Transaction
from sequencer.core.window import verify_witness
from sequencer.devtools.anvil import Anvil, start_anvil
from sequencer.errors import SharedSeqError
from sequencer.keys import address_of, write_key
from sequencer.l1.batcher import Batcher, BatcherConfig
from sequencer.l1.client import L1Client
from sequencer.l1.inbox import post_window_args, revert_name
from sequencer.l1.reader import InboxReader
from sequencer.server import RunningServer, running

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(300)]

ROLLUPS = [
    {"id": 901, "name": "op", "format": "opstack", "block_time_ms": 1000},
    {"id": 902, "name": "nitro", "format": "nitro", "block_time_ms": 1000},
    {"id": 903, "name": "zkevm", "format": "zkevm", "block_time_ms": 1000},
]
FORMATS = {r["id"]: r["format"] for r in ROLLUPS}
FORCE_DELAY = 5


async def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `pred` until true or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.02)


@dataclass
class Devnet:
    anvil: Anvil
    w3: Web3
    inbox: Any
    srv: RunningServer
    poster_key: bytes
    seq_key: bytes
    user: Any
    tg: anyio.abc.TaskGroup
    wallets: dict[int, Wallet] = field(default_factory=dict)
    sent: int = 0
    seq_l1: Any = None

    @property
    def sealed(self) -> int:
        return self.srv.node.durable_height

    def batcher_config(self, l1_url: str | None = None, **kw: Any) -> BatcherConfig:
        opts = {"window_ms": 1000, "poll_ms": 50, "bump_after_s": 5.0, "max_backoff_s": 0.4, "rpc_timeout_s": 10.0}
        opts.update(kw)
        return BatcherConfig(self.srv.address, l1_url or self.anvil.url, self.inbox.address, self.poster_key,
                             self.seq_key, **opts)

    async def traffic(self) -> None:
        """Keep submitting transactions to all three rollups until cancelled."""
        while True:
            for rid in FORMATS:
                w = self.wallets.setdefault(rid, Wallet())
                try:
                    await self.srv.node.submit(Transaction(rid, w.transfer(rid, kind=0 if rid == 903 else 2)))
                    self.sent += 1
                except SharedSeqError:
                    pass
            await anyio.sleep(0.01)

    async def block(self, height: int) -> SharedBlock:
        b = await self.srv.node.get_block(height)
        assert b is not None
        return b

    def transact(self, fn: Any, account: Any) -> Any:
        tx = fn.build_transaction({"from": account.address, "gas": 3_000_000, "maxFeePerGas": 0,
                                   "maxPriorityFeePerGas": 0})
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tx.update(nonce=self.w3.eth.get_transaction_count(account.address, "pending"),
                  maxFeePerGas=2 * base + 10**9, maxPriorityFeePerGas=10**9)
        h = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(h, timeout=60)
        assert receipt["status"] == 1
        return receipt


@asynccontextmanager
async def devnet(tmp: Path, slot_ms: int = 20, seq_l1_forwarder: bool = False) -> AsyncIterator[Devnet]:
    """With `seq_l1_forwarder`, the sequencer's L1 origin follower reaches anvil through a Forwarder
    (`net.seq_l1`) that a test can stop: the sequencer's L1 RPC goes down, the batcher's does not."""
    from eth_account import Account

    with start_anvil(timeout=60) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        owner, seq, poster, user = anvil.accounts[:4]
        manifest = deploy_all(w3, owner.key, {
            "l1": {"force_inclusion_delay": FORCE_DELAY},
            "sequencer": {"address": seq.address},
            "batcher": {"address": poster.address},
            "rollups": ROLLUPS,
        })
        inbox = contract_at(w3, "SequencerInbox", manifest.address("SequencerInbox"))
        write_key(tmp / "seq.key", seq.key)
        doc = config_doc(tmp, slot_ms=slot_ms)
        doc["domain"] = {"chain_id": anvil.chain_id, "verifying_contract": inbox.address}
        doc["rollups"] = ROLLUPS
        async with anyio.create_task_group() as fwd_tg:
            fwd = Forwarder(anvil.port) if seq_l1_forwarder else None
            if fwd is not None:
                await fwd_tg.start(fwd.serve)
            url = f"http://127.0.0.1:{fwd.port}" if fwd is not None else anvil.url
            doc["l1"] = {"rpc_url": url, "inbox": inbox.address, "poll_ms": 100}
            async with running(parse_config(doc, tmp)) as srv, anyio.create_task_group() as tg:
                net = Devnet(anvil, w3, inbox, srv, poster.key, seq.key, Account.from_key(user.key), tg, seq_l1=fwd)
                yield net
                tg.cancel_scope.cancel()
            fwd_tg.cancel_scope.cancel()


@asynccontextmanager
async def batcher_running(cfg: BatcherConfig) -> AsyncIterator[Batcher]:
    b = Batcher(cfg)
    async with anyio.create_task_group() as tg:
        await tg.start(b.run)
        yield b
        tg.cancel_scope.cancel()


async def check_l1(net: Devnet) -> dict[int, list[bytes]]:
    """Everything posted on L1 is exactly the sequencer's chain; returns the forced txs each rollup's batches carry.

    Read as a firm node reads it, through the one L1 layer (InboxReader over L1Client: events, the
    posting calldata, batches checked against their recorded hashes). Windows are contiguous from
    height 0, each height once; each is signed by the sequencer's key, its witness verifies against the
    signed window and its forcedTo is rule F's count at the window's origin; every batch decodes (from L1
    alone plus the forced queue) to that rollup's namespace transactions of those heights;
    nextHeight / lastBlockHash are the sequencer's.
    """
    async with L1Client(net.anvil.url) as client:
        reader = InboxReader(client, net.inbox.address)
        head = await reader.head()
        windows = await reader.windows(0, head)
        queues = {rid: await reader.forced_txs(rid, 0, head) for rid in FORMATS}
        next_height = int(await reader.view("nextHeight"))
        last_hash = bytes(await reader.view("lastBlockHash"))
    assert windows, "nothing posted"
    assert [w.index for w in windows] == list(range(len(windows)))
    block0 = await net.block(0)
    cursors = {rid: Cursor(block0.header.timestamp_ms // 1000) for rid in FORMATS}
    carried: dict[int, list[bytes]] = {rid: [] for rid in FORMATS}
    expected_first = 0
    seq_address = to_checksum_address(address_of(net.seq_key))
    for w in windows:
        win = w.window
        assert win.first_height == expected_first, "windows must be contiguous, each height once"
        assert w.signer == seq_address
        blocks = [await net.block(h) for h in range(win.first_height, win.last_height + 1)]
        assert win.last_block_hash == block_hash(blocks[-1].header)
        assert w.witness is not None and w.batches is not None
        assert [b.header for b in verify_witness(win, w.witness)] == [b.header for b in blocks]
        assert list(w.rollup_ids) == sorted(FORMATS)
        for rid, batch, forced_to in zip(w.rollup_ids, w.batches, w.forced_to, strict=True):
            assert forced_to == forced_to_after(queues[rid], win.l1_origin_number)
            decoded = decode_window_batch(FORMATS[rid], rid, 1000, batch, cursors[rid], queues[rid])
            got = [t for b in decoded for t in b.transactions]
            want = [t for b in blocks for t in b.namespace(rid).transactions]
            assert got == want, f"rollup {rid}, window {w.index}"
            carried[rid].extend(t for b in decoded for t in b.forced)
            cursors[rid] = cursors[rid].after(decoded)
            assert cursors[rid].forced_applied == forced_to
        expected_first = win.last_height + 1
    assert next_height == expected_first
    assert last_hash == block_hash((await net.block(expected_first - 1)).header)
    return carried


async def test_posts_every_window_in_order_and_l1_matches(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config()) as b:
            # Six postings too: a batcher behind on a loaded machine merges windows (catch_up_periods), so
            # 300 firm blocks alone may have come in fewer.
            await wait_for(lambda: net.sealed >= 320 and b.firm_height >= 300 and len(b.posted) >= 6, 120,
                           "300 firm blocks in six postings")
        posted = b.posted
        assert len(posted) >= 6
        assert [p.first_height for p in posted[1:]] == [p.last_height + 1 for p in posted[:-1]]
        carried = await check_l1(net)
        assert not any(carried.values())
        assert net.sent > 300


async def test_restart_posts_nothing_twice_and_skips_nothing(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")
    state = str(tmp_path / "batcher-state.sqlite")
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        runs = []
        # Run 0 re-derives from height 0, run 1 too (empty cache, which it fills), run 2 from the cache.
        for i, state_file in enumerate((None, state, state)):
            caplog.clear()
            async with batcher_running(net.batcher_config(state_file=state_file)) as b:
                runs.append(b)
                target = net.sealed + 60
                await wait_for(lambda b=b, t=target: b.firm_height >= t, 60, f"run {i} to post")
                if i == 1:  # cancel in the middle of the next posting, whatever it is doing
                    await wait_for(lambda b=b: len(b.posted) >= 2, 60, "a second posting")
            synced = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "batcher.synced"]
            assert synced[0]["from_cache"] == (synced[0]["windows"] if i == 2 else 0)
            assert i == 0 or synced[0]["windows"] > 0
            # The sequencer keeps sealing while the batcher is down.
            await wait_for(lambda h=net.sealed: net.sealed >= h + 30, 30, "more blocks")
        for prev, nxt in zip(runs, runs[1:], strict=False):
            assert nxt.posted[0].first_height == prev.posted[-1].last_height + 1
        assert runs[0].posted[0].first_height == 0
        await check_l1(net)


class Forwarder:
    """A TCP forwarder 127.0.0.1:port -> anvil that can be stopped (connections refused) and restarted."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._scope: anyio.CancelScope | None = None

    async def _pipe(self, src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await dst.aclose()

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", self.target_port)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(self._pipe, client, upstream)
                tg.start_soon(self._pipe, upstream, client)

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            async with listener:
                await listener.serve(self._handle)

    def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()


async def test_catches_up_after_the_l1_rpc_was_unreachable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        fwd = Forwarder(net.anvil.port)
        await net.tg.start(fwd.serve)
        async with batcher_running(net.batcher_config(f"http://127.0.0.1:{fwd.port}", bump_after_s=60)) as b:
            await wait_for(lambda: len(b.posted) >= 2, 60, "postings through the forwarder")
            # Cut the L1 off while a posting waits in the mempool (automine off).
            net.anvil.rpc("evm_setAutomine", [False])
            await wait_for(lambda: b._inflight is not None, 30, "a posting in flight")
            fwd.stop()
            down_at = net.sealed
            await wait_for(lambda: net.sealed >= down_at + 120, 60, "blocks sealed while L1 is unreachable")
            stuck = len(b.posted)
            await wait_for(lambda: any(getattr(r, "fields", {}).get("event") == "batcher.retry"
                                       for r in caplog.records), 30, "a logged retry")
            await net.tg.start(fwd.serve)  # same port, anvil kept its state
            await wait_for(lambda: any(getattr(r, "fields", {}).get("event") == "batcher.resume_wait"
                                       for r in caplog.records), 30, "the batcher back on its pending posting")
            pending = net.w3.eth.get_block("pending", full_transactions=True)["transactions"]
            assert len([t for t in pending if t["from"] == net.anvil.accounts[2].address]) == 1
            net.anvil.rpc("evm_setAutomine", [True])
            net.anvil.mine(1)
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target, 60, "catching up")
        assert len(b.posted) > stuck
        # It resumed waiting on the same nonce: not one transaction wasted on a duplicate posting.
        poster = net.anvil.accounts[2].address
        assert net.w3.eth.get_transaction_count(poster) == net.inbox.functions.windowCount().call()
        await check_l1(net)


def signed_window(net: Devnet, blocks: list[SharedBlock], forced_to: list[int]) -> tuple:
    """postWindow arguments for `blocks` with empty batches and the given forcedTo, signed with the sequencer's key."""
    signer = Signer(net.seq_key, Domain(net.anvil.chain_id, bytes.fromhex(net.inbox.address[2:])))
    return post_window_args(blocks, sorted(FORMATS), [b""] * len(FORMATS), forced_to, signer)


async def test_a_stale_sequencer_origin_stops_postings_then_rides_in_a_window_that_ends_fresh(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The sequencer's L1 RPC goes down (issue 8, finding 4: an honest sequencer with a dead L1 RPC). Its
    blocks keep the last origin; once that is more than maxOriginLag behind L1 the inbox would refuse a
    window ending on one, so the batcher stops posting and says why, instead of sending reverting
    postings; when the RPC is back, the stale blocks are posted in a window ending at a fresh origin."""
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")

    def logged(event: str) -> list[dict]:
        return [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == event]

    async with devnet(tmp_path, seq_l1_forwarder=True) as net:
        net.tg.start_soon(net.traffic)
        # No merging of windows on catch-up: the window after the outage then closes at its natural end,
        # a block on the stale origin, whatever the timing, so it has to be extended to a fresh one.
        async with batcher_running(net.batcher_config(catch_up_periods=1)) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
            net.seq_l1.stop()
            net.anvil.mine(FORCE_DELAY + 3)  # the sequencer's origin is now older than maxOriginLag allows
            await wait_for(lambda: bool(logged("batcher.origin_unpostable")), 60, "the batcher to say why it waits")
            assert "blocks behind the landing block" in logged("batcher.origin_unpostable")[-1]["reason"]
            # a window sent before the outage may still be landing: let it become firm before freezing
            await wait_for(lambda: b.firm_height >= b.posted[-1].last_height, 60, "the windows sent to land")
            stuck, n, h = b.firm_height, len(b.posted), net.sealed
            await wait_for(lambda: net.sealed >= h + 50, 60, "blocks sealed on the stale origin")
            assert (b.firm_height, len(b.posted)) == (stuck, n)  # nothing posted meanwhile, nothing reverted
            assert not logged("batcher.reverted") and not logged("batcher.would_revert")

            await net.tg.start(net.seq_l1.serve)  # the sequencer's L1 RPC is back
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target, 60, "the stale blocks to become firm")
        assert any(p["extended"] for p in logged("batcher.posting"))
        assert [p.first_height for p in b.posted[1:]] == [p.last_height + 1 for p in b.posted[:-1]]
        await check_l1(net)


async def test_forced_txs_are_applied_by_rule_f_and_a_window_cannot_skip_them(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config()) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
        # Batcher down: a user forces a tx into 902 and 903.
        forced = {902: Wallet().transfer(902), 903: Wallet().transfer(903, kind=0)}
        enqueued = [net.transact(net.inbox.functions.enqueueForced(rid, data), net.user)["blockNumber"]
                    for rid, data in forced.items()]
        net.anvil.mine(2)
        await wait_for(lambda: net.srv.node.l1_origin is not None and net.srv.node.l1_origin[0] >= max(enqueued), 30,
                       "the sequencer to build on the enqueue blocks")
        await wait_for(lambda h=net.sealed: net.sealed >= h + 5, 30, "blocks on the new origin")

        # A window whose origin is past the enqueue blocks must apply both: the inbox counts them itself.
        start = net.inbox.functions.nextHeight().call()
        end = start
        while (await net.block(end)).header.l1_origin_number < max(enqueued):
            end += 1
        blocks = [await net.block(h) for h in range(start, end + 1)]
        net.anvil.mine(1)  # the origin must be before the block the call runs in
        poster = net.anvil.accounts[2].address

        def call(forced_to: list[int]) -> str | None:
            try:
                net.inbox.functions.postWindow(*signed_window(net, blocks, forced_to)).call({"from": poster})
            except Exception as exc:  # the revert's custom error is what we check
                data = getattr(exc, "data", None)
                return revert_name(data if isinstance(data, str) else None) or repr(exc)
            return None

        assert call([0, 0, 0]) == "WrongForcedTo"  # a sequencer that ignores the queue cannot post
        assert call([0, 1, 0]) == "WrongForcedTo"
        assert call([0, 1, 1]) is None

        async with batcher_running(net.batcher_config()) as b:
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target, 60, "posting past the enqueue blocks")
        ids = sorted(FORMATS)
        assert [net.inbox.functions.forcedTo(r).call() for r in ids] == [0, 1, 1]
        carried = await check_l1(net)
        assert carried == {901: [], 902: [forced[902]], 903: [forced[903]]}


async def test_a_junk_forced_entry_does_not_stop_postings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 8, finding 5: enqueueForced(903, 0x02) made the zkEVM encoder raise and the batcher die on every
    round. Now the entry is skipped by rule F's skip rule (counted in forcedTo, no effect), the batcher keeps
    posting every rollup, and a valid forced tx enqueued after it is still carried."""
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config()) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
            good = Wallet().transfer(903, kind=0)
            net.transact(net.inbox.functions.enqueueForced(903, b"\x02"), net.user)
            block = net.transact(net.inbox.functions.enqueueForced(903, good), net.user)["blockNumber"]
            await wait_for(lambda: any(p.forced_to and p.forced_to[-1] == 2 for p in b.posted), 60,
                           "a window applying both entries")
            n = len(b.posted)
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target and len(b.posted) >= n + 2, 60, "postings after the junk")
        after = [p for p in b.posted if p.forced_to and p.forced_to[-1] == 2]
        assert all(p.rollup_ids == (901, 902, 903) for p in b.posted)  # the zkEVM was never left out
        assert len(after) >= 3
        assert net.inbox.functions.forcedTo(903).call() == 2
        events = [getattr(r, "fields", {}).get("event") for r in caplog.records]
        assert "batcher.rollup_left_out" not in events
        assert not any(getattr(r, "fields", {}).get("event") == "batcher.retry" and "903" in str(r.fields)
                       for r in caplog.records)
        carried = await check_l1(net)
        assert carried[903] == [b"\x02", good]  # both applied in queue order; the junk one as a no-op
        assert block <= max(p.l1_block for p in after)


async def test_a_paused_rollup_is_left_out_and_never_blocks_the_others(tmp_path: Path) -> None:
    """Issue 8 (lower findings): a registered rollup that is paused, with a forced entry waiting, must
    not stop postings for the others: the batcher lists only active rollups, and resumes listing it."""
    from eth_account import Account

    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        registry = contract_at(net.w3, "RollupRegistry", net.inbox.functions.registry().call())
        owner = Account.from_key(net.anvil.accounts[0].key)
        async with batcher_running(net.batcher_config()) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
            net.transact(net.inbox.functions.enqueueForced(902, Wallet().transfer(902)), net.user)
            net.transact(registry.functions.setPaused(902, True), owner)
            n = len(b.posted)
            await wait_for(lambda: sum(p.rollup_ids == (901, 903) for p in b.posted[n:]) >= 3, 60,
                           "postings without the paused rollup")
            net.transact(registry.functions.setPaused(902, False), owner)
            m = len(b.posted)
            await wait_for(lambda: any(p.rollup_ids == (901, 902, 903) for p in b.posted[m:]), 60,
                           "the rollup listed again")
        assert all(p.rollup_ids in ((901, 902, 903), (901, 903)) for p in b.posted)
        assert [p.first_height for p in b.posted[1:]] == [p.last_height + 1 for p in b.posted[:-1]]
        events = net.inbox.events.WindowPosted().get_logs(from_block=0)
        assert [tuple(e["args"]["rollupIds"]) for e in events] == [p.rollup_ids for p in b.posted]


async def test_reposts_after_an_l1_reorg_drops_its_windows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config(confirmations=1)) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
            snapshot = net.anvil.rpc("evm_snapshot")
            before = net.inbox.functions.nextHeight().call()
            await wait_for(lambda: len(b.posted) >= 3, 60, "two more postings")
            assert net.anvil.rpc("evm_revert", [snapshot])  # the L1 forgets them: nextHeight goes back
            net.anvil.mine(2)
            assert net.inbox.functions.nextHeight().call() == before
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target, 60, "re-posting after the reorg")
        events = [getattr(r, "fields", {}).get("event") for r in caplog.records]
        assert events.count("batcher.synced") >= 2  # re-derived from L1 after nextHeight went back
        assert len(b.posted) >= 4 and b.posted[3].first_height <= b.posted[2].first_height  # re-posted heights
        await check_l1(net)


async def test_bumps_fees_when_not_mined(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sharedseq.batcher")
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config(bump_after_s=0.3)) as b:
            await wait_for(lambda: len(b.posted) >= 1, 60, "a first posting")
            net.anvil.rpc("evm_setAutomine", [False])
            await wait_for(lambda: sum(1 for r in caplog.records if getattr(r, "fields", {}).get("event")
                                       == "batcher.bump") >= 2, 60, "two fee bumps")
            pending = net.w3.eth.get_block("pending", full_transactions=True)["transactions"]
            ours = [t for t in pending if t["from"] == net.anvil.accounts[2].address]
            assert len(ours) == 1  # the replacement, not a second transaction
            bumps = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "batcher.bump"]
            assert bumps[1]["max_fee"] >= bumps[0]["max_fee"] * 9 // 8
            assert ours[0]["maxFeePerGas"] >= bumps[1]["max_fee"]
            n = len(b.posted)
            net.anvil.rpc("evm_setAutomine", [True])
            net.anvil.mine(1)
            target = net.sealed
            await wait_for(lambda: b.firm_height >= target and len(b.posted) > n, 60, "mined after the bump")
        await check_l1(net)


async def test_two_batchers_racing_never_post_a_height_twice(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        async with batcher_running(net.batcher_config()) as a, batcher_running(net.batcher_config()) as b:
            target = net.sealed + 200
            await wait_for(lambda: min(a.firm_height, b.firm_height) >= target, 60, "both to see the blocks firm")
        # Both sign with the same poster key and plan deterministically, so both may send the byte-identical
        # transaction for a window and both see its receipt: one posting, counted once. Distinct
        # transactions never overlap.
        by_tx = {p.tx_hash: (p.first_height, p.last_height) for p in a.posted + b.posted}
        mine = sorted(by_tx.values())
        assert [f for f, _ in mine[1:]] == [last + 1 for _, last in mine[:-1]]  # the two never overlap
        assert len(set(mine)) == len(mine)
        await check_l1(net)


async def test_cli_posts_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        net.tg.start_soon(net.traffic)
        (tmp_path / "poster.key").write_text("0x" + net.poster_key.hex())
        (tmp_path / "batcher.toml").write_text(
            f'[batcher]\nsequencer = "{net.srv.address}"\nl1_rpc_url = "{net.anvil.url}"\n'
            f'inbox = "{net.inbox.address}"\nkey_file = "poster.key"\nsigner_key_file = "seq.key"\n'
            f'window_ms = 1000\npoll_ms = 50\n')
        proc = subprocess.Popen([sys.executable, "-m", "sequencer.cli", "batcher", "--config",
                                 str(tmp_path / "batcher.toml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=Path(__file__).resolve().parents[2])
        try:
            await wait_for(lambda: net.inbox.functions.windowCount().call() >= 2 or proc.poll() is not None, 60,
                           "the CLI batcher to post")
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            proc.send_signal(signal.SIGTERM)
            await wait_for(lambda: proc.poll() is not None, 30, "the CLI to exit")
        finally:
            if proc.poll() is None:
                proc.kill()
        out, err = proc.communicate()
        assert proc.returncode == 0, err.decode()
        events = [json.loads(line).get("event") for line in err.decode().splitlines() if line.startswith("{")]
        assert "batcher.started" in events and "batcher.posted" in events
        await check_l1(net)
