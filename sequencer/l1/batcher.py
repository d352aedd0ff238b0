"""The batcher: makes shared blocks firm by posting windows to the SequencerInbox on L1 (design.md 4, flow 4).

The I/O shell around the pure planner (windows.py). Each round it

1. reads the L1 head and the inbox's nextHeight / lastBlockHash / windowCount (L1 is the source of
   truth: the next window starts at nextHeight);
2. if that is not where it left off (first start, a restart, another poster, an L1 reorg), rebuilds
   its per-rollup cursors by re-deriving from height 0: every WindowPosted event's blocks are read
   from the sequencer, their last block hash checked against L1, and the cut replayed until the
   batches hash to what L1 recorded (windows.replay_window). With `state_file` set, an SQLite
   cache of the cursors after each window (state.py) lets it start from the latest window whose
   cached row equals what L1 recorded, and re-derive only the windows after it;
3. reads new ForcedTxEnqueued events and the inbox's forcedRead;
4. reads sealed blocks from nextHeight over gRPC (GetBlock) and asks the planner for a window;
5. posts it (calldata): preflight with eth_estimateGas (a revert WrongFirstHeight / WrongParent means
   someone else posted: re-read and continue), pending nonce, EIP-1559 fees from the L1, fee bump
   (+12.5% and at least the market) when not mined after `bump_after_s`, resend when dropped.
   With `use_blobs`, the batches go in EIP-4844 blobs instead (postWindowBlobs, a type-3 transaction;
   sequencer/l1/blobs.py has the layout): max_fee_per_blob_gas is eth_blobBaseFee x blob_fee_margin,
   and a resubmission doubles all three fees (geth's blob pool wants +100%). A posting that would
   need more than MAX_BLOBS_PER_TX blobs goes as calldata.

`firm_height` is nextHeight - 1 read at L1 block head - confirmations. A posted window whose receipt
disappears before it has `confirmations` blocks on top triggers a re-read (step 2). L1 or sequencer
trouble is logged as one structured line and retried with exponential backoff; no block is
skipped or posted twice because every posting starts from what the inbox says.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import grpc
from eth_account import Account
from eth_utils import to_checksum_address

from rollup_adapters.derivation import Cursor, ForcedTx
from sequencer.core.hashing import keccak
from sequencer.core.signing import block_hash
from sequencer.core.types import RollupId, SharedBlock
from sequencer.errors import BadInput, Critical, Temporary
from sequencer.service.convert import block_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from . import blobs as blob_codec
from .client import L1Client, L1Unavailable, RpcError
from .inbox import calldata, decode_forced, describe_revert, event_topic, posted_window
from .state import CursorCache
from .windows import (
    DEFAULT_CATCH_UP_PERIODS,
    DEFAULT_MAX_WINDOW_BYTES,
    DEFAULT_WINDOW_MS,
    L1View,
    PostedRollup,
    WindowParams,
    WindowPlan,
    genesis_cursors,
    max_window_end,
    plan_window,
    replay_window,
)

log = logging.getLogger("sharedseq.batcher")

KEY_ENV = "SHAREDSEQ_BATCHER_KEY"
BUMP_NUM, BUMP_DEN = 9, 8
"""Fee bump factor 1.125 (geth's txpool wants +10%; we give +12.5%)."""
MAX_FETCH = 5000
"""Most sealed blocks read ahead for one window."""


def _event(level: int, event: str, **fields: Any) -> None:
    log.log(level, "%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()),
            extra={"fields": {"event": event, **fields}})


class PostingStale(Temporary):
    """The inbox moved under us (someone else posted, or a reorg): re-read L1 and continue."""


class OutOfFunds(Temporary):
    """The poster cannot pay for the posting; retried until it is funded."""


@dataclass(frozen=True, slots=True)
class BatcherConfig:
    """The `[batcher]` table (see deploy/batcher.sample.toml)."""

    sequencer: str
    l1_rpc_url: str
    inbox: str
    key: bytes = field(repr=False)
    window_ms: int = DEFAULT_WINDOW_MS
    max_window_bytes: int = DEFAULT_MAX_WINDOW_BYTES
    catch_up_periods: int = DEFAULT_CATCH_UP_PERIODS
    confirmations: int = 0
    bump_after_s: float = 30.0
    poll_ms: int = 500
    max_backoff_s: float = 30.0
    rpc_timeout_s: float = 5.0
    gas_margin: float = 1.2
    state_file: str | None = None
    from_block: int = 0
    log_chunk_blocks: int = 10_000
    use_blobs: bool = False
    blob_fee_margin: float = 2.0

    @classmethod
    def from_dict(cls, doc: dict[str, Any], base: Path = Path(".")) -> BatcherConfig:
        t = doc.get("batcher", doc)
        known = {"sequencer", "l1_rpc_url", "inbox", "manifest", "key_file", "window_ms", "max_window_bytes",
                 "catch_up_periods",
                 "confirmations", "bump_after_s", "poll_ms", "max_backoff_s", "rpc_timeout_s", "gas_margin",
                 "state_file", "from_block", "log_chunk_blocks", "use_blobs", "blob_fee_margin"}
        unknown = set(t) - known
        if unknown:
            raise BadInput(f"[batcher]: unknown option(s) {', '.join(sorted(unknown))}")
        inbox = t.get("inbox")
        from_block = int(t.get("from_block", 0))
        if not inbox and t.get("manifest"):
            path = base / t["manifest"]
            try:
                record = json.loads(path.read_text())["contracts"]["SequencerInbox"]
                inbox = record["address"]
                from_block = int(t.get("from_block", record.get("block", 0)))
            except OSError as exc:
                raise BadInput(f"[batcher] manifest {path}: cannot read it ({exc.strerror or exc})") from exc
            except (ValueError, KeyError, TypeError) as exc:
                raise BadInput(f"[batcher] manifest {path}: no SequencerInbox address ({exc})") from exc
        if not inbox:
            raise BadInput("[batcher]: give `inbox` (address) or `manifest` (deploy manifest JSON)")
        key_text = os.environ.get(KEY_ENV)
        if t.get("key_file"):
            key_path = base / str(t["key_file"])
            try:
                key_text = key_path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise BadInput(f"[batcher] key_file {key_path}: cannot read the poster key ({reason})") from exc
        if not key_text:
            raise BadInput(f"[batcher]: give `key_file` or set ${KEY_ENV}")
        try:
            key = bytes.fromhex(key_text.strip().removeprefix("0x"))
        except ValueError:
            raise BadInput("[batcher]: the poster key is not hex") from None
        if len(key) != 32:
            raise BadInput("[batcher]: the poster key must be 32 bytes")
        for k in ("sequencer", "l1_rpc_url"):
            if not t.get(k):
                raise BadInput(f"[batcher]: `{k}` is required")
        opts = {k: t[k] for k in ("window_ms", "max_window_bytes", "catch_up_periods", "confirmations", "poll_ms",
                                  "log_chunk_blocks") if k in t}
        state_file = str(base / t["state_file"]) if t.get("state_file") else None
        fopts = {k: float(t[k]) for k in ("bump_after_s", "max_backoff_s", "rpc_timeout_s", "gas_margin",
                                          "blob_fee_margin") if k in t}
        kwargs: dict[str, Any] = {k: int(v) for k, v in opts.items()}
        kwargs.update(fopts)
        if "use_blobs" in t:
            if not isinstance(t["use_blobs"], bool):
                raise BadInput("[batcher]: `use_blobs` must be true or false")
            kwargs["use_blobs"] = t["use_blobs"]
        try:
            inbox_address = to_checksum_address(inbox)
        except (ValueError, TypeError) as exc:
            raise BadInput(f"[batcher]: inbox {inbox!r} is not an address") from exc
        return cls(str(t["sequencer"]), str(t["l1_rpc_url"]), inbox_address, key,
                   **kwargs, state_file=state_file, from_block=from_block)


def load_batcher_config(path: str | Path) -> BatcherConfig:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path}: {exc}") from exc
    return BatcherConfig.from_dict(doc, path.parent)


@dataclass(slots=True)
class _Synced:
    """Where the inbox stands and each rollup's derivation cursor after its last window."""

    window_count: int
    next_height: int
    last_hash: bytes
    cursors: dict[RollupId, Cursor] | None  # None until block 0 is sealed


@dataclass(slots=True)
class _InFlight:
    """Our posting transaction not yet mined: the plan, the tx fields, every hash sent for its nonce."""

    plan: WindowPlan
    tx: dict[str, Any]
    sent: list[str]
    sent_at: float
    window_index: int
    calldata_bytes: int
    blobs: list[bytes] = field(default_factory=list)
    commitments: list[bytes] = field(default_factory=list)
    batch_hashes: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PostResult:
    """A window this batcher got mined."""

    window_index: int
    first_height: int
    last_height: int
    tx_hash: str
    l1_block: int
    gas_used: int
    calldata_bytes: int
    batch_bytes: int
    blob_count: int = 0
    blob_gas_used: int = 0


class Batcher:
    """Posts posting windows of the sequencer's sealed blocks to the inbox; run with `await batcher.run()`."""

    def __init__(self, cfg: BatcherConfig) -> None:
        self.cfg = cfg
        self.account = Account.from_key(cfg.key)
        self.address = self.account.address
        self.firm_height = -1
        """Height of the last block in a window with `confirmations` L1 blocks on top (-1: none)."""
        self.posted: list[PostResult] = []
        """Windows this instance got mined, in order (for tests and the benchmark)."""
        self.params: WindowParams | None = None
        self._state: _Synced | None = None
        self._blocks: dict[int, SharedBlock] = {}
        self._forced: dict[RollupId, list[ForcedTx]] = {}
        self._forced_scanned = -1
        self._unconfirmed: list[tuple[str, int]] = []  # (tx hash, L1 block) of our recent postings
        self._chain_id = 0
        self._rpc: L1Client | None = None
        self._stub: Any = None
        self._cache: CursorCache | None = None
        self._inflight: _InFlight | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Post windows until cancelled. Signals started once it knows the rollups and the L1."""
        async with L1Client(self.cfg.l1_rpc_url, self.cfg.rpc_timeout_s) as rpc, \
                grpc.aio.insecure_channel(self.cfg.sequencer,
                                          options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
            self._rpc = rpc
            self._stub = pb_grpc.SequencerServiceStub(channel)
            if self.cfg.state_file:
                self._cache = CursorCache(self.cfg.state_file)
            try:
                await self._serve(task_status)
            finally:
                if self._cache is not None:
                    self._cache.close()

    async def _serve(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        await self._retrying(self._connect)
        _event(logging.INFO, "batcher.started", poster=self.address, inbox=self.cfg.inbox,
               rollups=[r.rollup_id for r in self.params.rollups] if self.params else [])
        task_status.started()
        failures = 0
        while True:
            try:
                posted = await self._round()
                failures = 0
            except (Temporary, grpc.aio.AioRpcError) as exc:
                failures += 1
                delay = self._backoff(failures)
                _event(logging.WARNING, "batcher.retry", error=_describe(exc), attempt=failures,
                       retry_in_s=round(delay, 2))
                await anyio.sleep(delay)
                continue
            if not posted:
                await anyio.sleep(self.cfg.poll_ms / 1000)

    def _backoff(self, failures: int) -> float:
        return min(self.cfg.poll_ms / 1000 * 2 ** min(failures, 20), self.cfg.max_backoff_s)

    async def _retrying(self, fn: Any) -> Any:
        failures = 0
        while True:
            try:
                return await fn()
            except (Temporary, grpc.aio.AioRpcError) as exc:
                failures += 1
                delay = self._backoff(failures)
                _event(logging.WARNING, "batcher.retry", step=fn.__name__, error=_describe(exc), attempt=failures,
                       retry_in_s=round(delay, 2))
                await anyio.sleep(delay)

    async def _connect(self) -> None:
        assert self._rpc is not None
        self._chain_id = int(await self._rpc.call("eth_chainId"), 16)
        info = await self._stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=self.cfg.rpc_timeout_s)
        if (info.domain_chain_id != self._chain_id
                or bytes(info.domain_verifying_contract) != bytes.fromhex(self.cfg.inbox[2:])):
            raise Critical(f"the sequencer signs for chain {info.domain_chain_id} / "
                           f"0x{bytes(info.domain_verifying_contract).hex()}, but the inbox is "
                           f"{self.cfg.inbox} on chain {self._chain_id}")
        resp = await self._stub.ListRollups(pb.ListRollupsRequest(), timeout=self.cfg.rpc_timeout_s)
        rollups = tuple(sorted((PostedRollup(r.rollup_id, r.batch_format, r.block_time_ms) for r in resp.rollups),
                               key=lambda r: r.rollup_id))
        self.params = WindowParams(rollups, self.cfg.window_ms, self.cfg.max_window_bytes, self.cfg.catch_up_periods)

    # ------------------------------------------------------------------ one round

    async def _round(self) -> bool:
        """Read L1, sync, plan, and post at most one window. True if a window was posted."""
        rpc = self._rpc
        assert rpc is not None and self.params is not None
        if self._inflight is not None:  # an L1 failure interrupted the wait for our last posting
            _event(logging.INFO, "batcher.resume_wait", nonce=self._inflight.tx["nonce"],
                   first=self._inflight.plan.first_height)
            await self._await_inflight()
            return True
        head = await rpc.block_number()
        chain = await self._read_inbox(head)
        await self._check_unconfirmed(head)
        await self._update_firm(head, chain)
        st = self._state
        if st is None or (st.window_count, st.next_height, st.last_hash) != chain:
            await self._resync(head)
        st = self._state
        assert st is not None
        if st.cursors is None:
            block0 = await self._get_block(0)
            if block0 is None:
                return False
            st.cursors = genesis_cursors(self.params, block0)
        await self._scan_forced(head)
        blocks = await self._read_ahead(st.next_height)
        forced_read = {r.rollup_id: await self._forced_read(r.rollup_id, head) for r in self.params.rollups}
        plan = plan_window(self.params, blocks, st.cursors, L1View(head, self._forced, forced_read))
        if plan is None:
            return False
        await self._post(plan, head)
        return True

    async def _read_inbox(self, block: int) -> tuple[int, int, bytes]:
        assert self._rpc is not None
        to = self.cfg.inbox
        count = int.from_bytes(await self._rpc.eth_call(to, calldata("windowCount"), block), "big")
        nxt = int.from_bytes(await self._rpc.eth_call(to, calldata("nextHeight"), block), "big")
        last = await self._rpc.eth_call(to, calldata("lastBlockHash"), block)
        return count, nxt, last

    async def _forced_read(self, rollup_id: int, block: int) -> int:
        assert self._rpc is not None
        return int.from_bytes(await self._rpc.eth_call(self.cfg.inbox, calldata("forcedRead", rollup_id), block), "big")

    async def _update_firm(self, head: int, chain: tuple[int, int, bytes]) -> None:
        at = head - self.cfg.confirmations
        if at < 0:
            return
        nxt = chain[1] if at == head else (await self._read_inbox(at))[1]
        if nxt - 1 != self.firm_height:
            self.firm_height = nxt - 1
            _event(logging.INFO, "batcher.firm", firm_height=self.firm_height, l1_block=at)

    async def _check_unconfirmed(self, head: int) -> None:
        """A reorg that drops one of our postings: forget the sync state so the next step re-reads L1."""
        assert self._rpc is not None
        keep = []
        for tx_hash, mined_in in self._unconfirmed:
            receipt = await self._rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is None or int(receipt["blockNumber"], 16) != mined_in:
                _event(logging.WARNING, "batcher.reorged", tx=tx_hash, was_in=mined_in)
                self._state = None
                self._unconfirmed = []
                return
            if head - mined_in < self.cfg.confirmations:
                keep.append((tx_hash, mined_in))
        self._unconfirmed = keep

    # ------------------------------------------------------------------ re-deriving from L1

    async def _resync(self, head: int) -> None:
        """Rebuild the cursors from height 0, window by window, as L1 recorded them at `head`."""
        assert self._rpc is not None and self.params is not None
        count, next_height, last_hash = await self._read_inbox(head)
        logs = await self._rpc.get_logs(self.cfg.inbox, [event_topic("WindowPosted")], self.cfg.from_block, head,
                                        self.cfg.log_chunk_blocks)
        windows = sorted((posted_window(x) for x in logs), key=lambda w: w.index)
        if [w.index for w in windows] != list(range(count)):
            raise L1Unavailable(f"WindowPosted logs ({len(windows)}) do not match windowCount {count}")
        self._forced_scanned = -1
        self._forced = {}
        await self._scan_forced(head)
        cursors: dict[RollupId, Cursor] | None = None
        expected = 0
        cached = 0
        if self._cache is not None:
            for w in reversed(windows):
                hit = self._cache.matching(w.index, w.first_height, w.last_height, w.last_block_hash, w.batch_hashes)
                if hit is not None:
                    cursors, expected, cached = hit, w.last_height + 1, w.index + 1
                    break
        for w in windows[cached:]:
            if w.first_height != expected:
                raise Critical(f"inbox window {w.index} starts at {w.first_height}, expected {expected}")
            blocks = await self._read_range(w.first_height, w.last_height)
            if block_hash(blocks[-1].header) != w.last_block_hash:
                raise Critical(f"inbox window {w.index}: block {w.last_height} on L1 is not the sequencer's")
            if cursors is None:
                cursors = genesis_cursors(self.params, blocks[0])
            ids = tuple(r.rollup_id for r in self.params.rollups)
            if w.rollup_ids != ids:
                raise Critical(f"inbox window {w.index} posts rollups {w.rollup_ids}, the sequencer has {ids}")
            replayed = replay_window(self.params, blocks, cursors, self._forced, w.batch_hashes, keccak)
            if replayed is None:  # posted with postWindowBlobs: the hashes are the blobs' versioned hashes
                replayed = await anyio.to_thread.run_sync(replay_window, self.params, blocks, cursors, self._forced,
                                                          w.batch_hashes, blob_codec.batch_blob_hash)
            if replayed is None:
                raise Critical(f"inbox window {w.index} (heights {w.first_height}..{w.last_height}) cannot be "
                               f"reproduced with window_ms={self.params.window_ms}")
            cursors = replayed
            expected = w.last_height + 1
            if self._cache is not None:
                self._cache.put(w.index, w.first_height, w.last_height, w.last_block_hash, w.batch_hashes, cursors)
        if expected != next_height:
            raise L1Unavailable(f"inbox nextHeight {next_height} does not follow its windows ({expected})")
        self._state = _Synced(count, next_height, last_hash, cursors)
        for h in [h for h in self._blocks if h < next_height]:
            del self._blocks[h]
        _event(logging.INFO, "batcher.synced", windows=count, from_cache=cached, replayed=count - cached,
               next_height=next_height, l1_block=head)

    async def _scan_forced(self, head: int) -> None:
        assert self._rpc is not None
        if head <= self._forced_scanned:
            return
        start = max(self._forced_scanned + 1, self.cfg.from_block)
        logs = await self._rpc.get_logs(self.cfg.inbox, [event_topic("ForcedTxEnqueued")], start, head,
                                        self.cfg.log_chunk_blocks)
        for f in sorted((decode_forced(x) for x in logs), key=lambda f: (f.rollup_id, f.seq)):
            q = self._forced.setdefault(f.rollup_id, [])
            if f.seq == len(q):
                q.append(f)
                _event(logging.INFO, "batcher.forced_seen", rollup=f.rollup_id, seq=f.seq, deadline=f.deadline)
            elif f.seq > len(q):
                raise L1Unavailable(f"forced queue of rollup {f.rollup_id}: seq {f.seq} after {len(q)}")
        self._forced_scanned = head

    # ------------------------------------------------------------------ the sequencer

    async def _get_block(self, height: int) -> SharedBlock | None:
        if height in self._blocks:
            return self._blocks[height]
        try:
            resp = await self._stub.GetBlock(pb.GetBlockRequest(height=height), timeout=self.cfg.rpc_timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        block = block_from_proto(resp.block)
        self._blocks[height] = block
        return block

    async def _read_range(self, first: int, last: int) -> list[SharedBlock]:
        out = []
        for h in range(first, last + 1):
            b = await self._get_block(h)
            if b is None:
                raise Critical(f"block {h} is firm on L1 but the sequencer does not have it")
            out.append(b)
        return out

    async def _read_ahead(self, start: int) -> list[SharedBlock]:
        """Sealed blocks from `start` until one at or past the window boundary (or none sealed yet)."""
        assert self.params is not None
        out: list[SharedBlock] = []
        end = None
        for h in range(start, start + MAX_FETCH):
            b = await self._get_block(h)
            if b is None:
                break
            out.append(b)
            if end is None:
                end = max_window_end(self.params, b)
            if b.header.timestamp_ms >= end:
                break
        return out

    # ------------------------------------------------------------------ posting

    async def _fees(self) -> tuple[int, int]:
        assert self._rpc is not None
        block = await self._rpc.call("eth_getBlockByNumber", ["latest", False])
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        try:
            tip = int(await self._rpc.call("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            tip = 10**9
        tip = max(tip, 1)
        return 2 * base + tip, tip

    async def _blob_fee(self) -> int:
        assert self._rpc is not None
        return max(1, math.ceil(int(await self._rpc.call("eth_blobBaseFee"), 16) * self.cfg.blob_fee_margin))

    async def _post(self, plan: WindowPlan, head: int) -> None:
        rpc = self._rpc
        assert rpc is not None and self._state is not None
        blobs: list[bytes] = []
        commitments: list[bytes] = []
        versioned: list[bytes] = []
        counts: list[int] = []
        if self.cfg.use_blobs:
            counts = [blob_codec.blob_count(b) for b in plan.batches]
            if sum(counts) > blob_codec.MAX_BLOBS_PER_TX:
                _event(logging.WARNING, "batcher.too_many_blobs", first=plan.first_height, blobs=sum(counts),
                       max_blobs=blob_codec.MAX_BLOBS_PER_TX, fallback="calldata")
                counts = []
        if counts:
            blobs, counts = blob_codec.pack_batches(plan.batches)
            commitments = await anyio.to_thread.run_sync(lambda: [blob_codec.commitment(b) for b in blobs])
            versioned = [blob_codec.versioned_hash(c) for c in commitments]
            data = calldata("postWindowBlobs", plan.proof, list(plan.rollup_ids), counts, list(plan.forced_read))
            blob_fee = await self._blob_fee()
            call: dict[str, Any] = {"from": self.address, "to": self.cfg.inbox, "data": data,
                                    "blobVersionedHashes": ["0x" + h.hex() for h in versioned],
                                    "maxFeePerBlobGas": hex(blob_fee)}
        else:
            data = calldata("postWindow", plan.proof, list(plan.rollup_ids), list(plan.batches),
                            list(plan.forced_read))
            call = {"from": self.address, "to": self.cfg.inbox, "data": data}
        try:
            gas = int(int(await rpc.call("eth_estimateGas", [call]), 16) * self.cfg.gas_margin) + 20_000
        except RpcError as exc:
            self._on_revert(exc, plan)
            raise
        nonce = int(await rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16)
        max_fee, tip = await self._fees()
        tx = {"type": 2, "chainId": self._chain_id, "nonce": nonce, "to": self.cfg.inbox, "data": data, "value": 0,
              "gas": gas, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}
        batch_hashes = [keccak(b) for b in plan.batches]
        if blobs:
            tx.update(type=3, maxFeePerBlobGas=blob_fee, blobVersionedHashes=versioned)
            off = 0
            batch_hashes = []
            for n in counts:
                batch_hashes.append(blob_codec.batch_hash(versioned[off:off + n]))
                off += n
        if plan.batch_bytes > self.cfg.max_window_bytes:
            _event(logging.WARNING, "batcher.oversized_window", first=plan.first_height, batch_bytes=plan.batch_bytes,
                   max_window_bytes=self.cfg.max_window_bytes)
        _event(logging.INFO, "batcher.posting", first=plan.first_height, last=plan.last_height,
               batch_bytes=plan.batch_bytes, calldata_bytes=len(data) // 2 - 1, blobs=len(blobs), nonce=nonce,
               gas=gas, forced_read=list(plan.forced_read))
        fl = _InFlight(plan, tx, [], time.monotonic(), self._state.window_count, len(data) // 2 - 1, blobs,
                       commitments, batch_hashes)
        await self._send(tx, fl.sent, fl)
        self._inflight = fl
        await self._await_inflight()

    async def _await_inflight(self) -> None:
        """Wait for our posting to be mined, bumping fees and resending as needed; then advance the state.

        An L1 failure while waiting leaves the posting in flight: the next round resumes waiting on the
        same nonce instead of posting the window again."""
        rpc = self._rpc
        fl = self._inflight
        assert rpc is not None and fl is not None
        tx, sent, nonce = fl.tx, fl.sent, fl.tx["nonce"]
        receipt = None
        while receipt is None:
            receipt = await self._find_receipt(sent)
            if receipt is not None:
                break
            mined_nonce = int(await rpc.call("eth_getTransactionCount", [self.address, "latest"]), 16)
            if mined_nonce > nonce:
                # Mined between the two reads, or the node counts the nonce before it serves the
                # receipt (anvil under load does): look again for a while before calling it taken.
                deadline = time.monotonic() + self.cfg.rpc_timeout_s
                receipt = await self._find_receipt(sent)
                while receipt is None and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                    receipt = await self._find_receipt(sent)
                if receipt is None:
                    _event(logging.WARNING, "batcher.nonce_taken", nonce=nonce)
                    self._inflight = None
                    self._state = None
                    raise PostingStale(f"nonce {nonce} was used by another transaction")
                break
            if time.monotonic() - fl.sent_at >= self.cfg.bump_after_s:
                market_fee, market_tip = await self._fees()
                num, den = (2, 1) if fl.blobs else (BUMP_NUM, BUMP_DEN)
                tx["maxPriorityFeePerGas"] = max(math.ceil(tx["maxPriorityFeePerGas"] * num / den) + 1, market_tip)
                tx["maxFeePerGas"] = max(math.ceil(tx["maxFeePerGas"] * num / den) + 1, market_fee,
                                         2 * tx["maxPriorityFeePerGas"])
                if fl.blobs:
                    tx["maxFeePerBlobGas"] = max(2 * tx["maxFeePerBlobGas"] + 1, await self._blob_fee())
                _event(logging.INFO, "batcher.bump", nonce=nonce, max_fee=tx["maxFeePerGas"],
                       tip=tx["maxPriorityFeePerGas"], max_blob_fee=tx.get("maxFeePerBlobGas"))
                await self._send(tx, sent, fl)
                fl.sent_at = time.monotonic()
            elif not await self._any_known(sent):
                _event(logging.WARNING, "batcher.dropped", nonce=nonce, resending=sent[-1])
                await self._send(tx, sent, fl)
            await anyio.sleep(self.cfg.poll_ms / 1000 / 4)
        self._inflight = None
        plan = fl.plan
        status = int(receipt["status"], 16)
        mined_in = int(receipt["blockNumber"], 16)
        if status != 1:
            _event(logging.WARNING, "batcher.reverted", tx=receipt["transactionHash"], l1_block=mined_in)
            self._state = None
            raise PostingStale(f"postWindow {receipt['transactionHash']} reverted in block {mined_in}")
        index = fl.window_index
        self._state = _Synced(index + 1, plan.last_height + 1, plan.headers_hash, dict(plan.cursors))
        for h in [h for h in self._blocks if h <= plan.last_height]:
            del self._blocks[h]
        self._unconfirmed.append((receipt["transactionHash"], mined_in))
        if self._cache is not None:
            self._cache.put(index, plan.first_height, plan.last_height, plan.headers_hash, fl.batch_hashes,
                            plan.cursors)
        result = PostResult(index, plan.first_height, plan.last_height, receipt["transactionHash"], mined_in,
                            int(receipt["gasUsed"], 16), fl.calldata_bytes, plan.batch_bytes, len(fl.blobs),
                            int(receipt.get("blobGasUsed") or "0x0", 16))
        self.posted.append(result)
        _event(logging.INFO, "batcher.posted", window=index, first=plan.first_height, last=plan.last_height,
               tx=result.tx_hash, l1_block=mined_in, gas=result.gas_used, batch_bytes=plan.batch_bytes,
               blobs=result.blob_count, blob_gas=result.blob_gas_used)

    def _on_revert(self, exc: RpcError, plan: WindowPlan) -> None:
        if exc.revert in ("WrongFirstHeight", "WrongParent"):
            _event(logging.INFO, "batcher.someone_else_posted", first=plan.first_height, revert=exc.revert)
            self._state = None
        elif exc.revert == "ForcedTxOverdue":
            _event(logging.WARNING, "batcher.forced_overdue", first=plan.first_height)
        elif exc.revert is not None:
            _event(logging.ERROR, "batcher.would_revert", first=plan.first_height, revert=exc.revert,
                   detail=_describe_revert(exc))

    async def _send(self, tx: dict[str, Any], sent: list[str], fl: _InFlight | None = None) -> None:
        assert self._rpc is not None
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        h = "0x" + keccak(raw).hex()
        if fl is not None and fl.blobs:  # the network form carries the blobs, commitments and proofs
            raw, _ = await anyio.to_thread.run_sync(blob_codec.blob_tx_network_form, raw, fl.blobs, fl.commitments)
        try:
            await self._rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcError as exc:
            msg = exc.message.lower()
            if "insufficient funds" in msg:
                raise OutOfFunds(f"poster {self.address}: {exc.message}") from exc
            if "nonce too low" in msg:
                self._state = None
                raise PostingStale(f"nonce {tx['nonce']}: {exc.message}") from exc
            if "already known" not in msg:
                raise
        if h not in sent:
            sent.append(h)

    async def _find_receipt(self, sent: list[str]) -> dict[str, Any] | None:
        assert self._rpc is not None
        for h in reversed(sent):
            receipt = await self._rpc.call("eth_getTransactionReceipt", [h])
            if receipt is not None:
                return receipt
        return None

    async def _any_known(self, sent: list[str]) -> bool:
        assert self._rpc is not None
        for h in sent:
            if await self._rpc.call("eth_getTransactionByHash", [h]) is not None:
                return True
        return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"sequencer {exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _describe_revert(exc: RpcError) -> str:
    return describe_revert(exc.data) or exc.revert or exc.message
