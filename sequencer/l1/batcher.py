"""The batcher: makes shared blocks firm by posting windows to the SequencerInbox on L1
(docs/architecture.md section 4.4; docs/settlement.md section 3).

The I/O shell around two pure planners: windows.py (which blocks a posting covers and its bytes)
and txlife.py (the posting transaction's nonce, fees, replacements, drops and reorgs). Each round it

1. reads the L1 head and the inbox's nextHeight / lastBlockHash / windowCount (L1 is the source of
   truth: the next window starts at nextHeight);
2. if that is not where it left off (first start, a restart, another poster, an L1 reorg), rebuilds
   its per-rollup cursors by re-deriving from height 0: every WindowPosted event's blocks are read
   from the sequencer, their last block hash checked against L1, and the cut replayed until the
   batches of the rollups the window lists hash to what L1 recorded (windows.replay_window). With
   `state_file` set, an SQLite cache of the cursors after each window (state.py) lets it start from
   the latest window whose cached row equals what L1 recorded, and re-derive only the windows after it;
3. reads new ForcedTxEnqueued events, which of its rollups the registry has active, and the L1
   hashes of the origins its blocks name;
4. reads sealed blocks from nextHeight over gRPC (GetBlock) and asks the planner for a window: only
   served, active rollups are listed, each with forcedTo by rule F, and the window ends at a block
   whose L1 origin the inbox accepts (windows.py). A rollup whose batch cannot be encoded is left
   out and logged (`batcher.rollup_left_out`, ERROR): one rollup never stops the others. A rollup
   left out (paused) keeps its cursor, and the first window that lists it again carries its batch
   over every shared block since its last listed window (`_Synced.covered_to`, `_pending`; the firm
   node checks it against those windows' witness blocks, derivation rule 6);
5. builds the witness and the Window commitment (windows.commit_window), signs it with the
   sequencer's key (`signer_key_file`) and posts postWindow(w, sig, rollupIds, batches, forcedTo,
   witness): preflight with eth_estimateGas (a revert WrongFirstHeight / WrongParent means someone
   else posted: re-read and continue), pending nonce, EIP-1559 fees from the L1, then the txlife
   machine until mined. With `use_blobs`, the batches go in EIP-4844 blobs instead
   (postWindowBlobs, a type-3 transaction; sequencer/l1/blobs.py has the layout):
   max_fee_per_blob_gas is eth_blobBaseFee x blob_fee_margin. A posting that would need more than
   MAX_BLOBS_PER_TX blobs goes as calldata.

`firm_height` is nextHeight - 1 read at L1 block head - confirmations. A posted window whose receipt
disappears before it has `confirmations` blocks on top triggers a re-read (step 2). L1 or sequencer
trouble is logged as one structured line and retried with exponential backoff; no block is
skipped or posted twice because every posting starts from what the inbox says.

When the sequencer's L1 origin is too old for the inbox (its L1 RPC was down longer than
maxOriginLag L1 blocks) the planner waits for a block with a fresh origin and posts the stale ones
in the window that ends there (`batcher.origin_unpostable`, WARNING, says why it waits); see
docs/operator-guide.md, "L1 outages".

Asyncio only (issue 10 item 5): it reads the sequencer over grpc.aio and posts through L1Client (aiohttp).
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import grpc
from eth_account import Account
from eth_utils import to_checksum_address

from rollup_adapters.derivation import Cursor, ForcedTx
from sequencer.configfile import NON_NEGATIVE, POSITIVE, defaults_of, load_table, option, read_toml
from sequencer.core.hashing import keccak
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import BlockHeader, Hash32, RollupId, SharedBlock
from sequencer.core.window import WindowCommitment, window_struct_hash
from sequencer.errors import BadInput, ConfigError, Critical, Temporary
from sequencer.keys import address_of, read_key
from sequencer.service.convert import block_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from . import blobs as blob_codec
from . import txlife
from .client import L1Client, L1Unavailable, RpcError
from .inbox import calldata, describe_revert, window_tuple
from .reader import InboxReader
from .state import CursorCache
from .windows import (
    DEFAULT_CATCH_UP_PERIODS,
    DEFAULT_MAX_ORIGIN_LAG,
    DEFAULT_MAX_WINDOW_BLOCKS,
    DEFAULT_MAX_WINDOW_BYTES,
    DEFAULT_WINDOW_MS,
    L1View,
    PostedRollup,
    WindowParams,
    WindowPlan,
    candidate_cuts,
    commit_window,
    genesis_cursors,
    max_window_end,
    origin_problem,
    plan_window,
    replay_window,
)

log = logging.getLogger("sharedseq.batcher")

KEY_ENV = "SHAREDSEQ_BATCHER_KEY"
MAX_FETCH = DEFAULT_MAX_WINDOW_BLOCKS + 1
"""Most sealed blocks read ahead for one window (one more than a window may hold, to see its cut final)."""
ORIGIN_REFUSALS = frozenset({"OriginNotInPast", "OriginTooOld", "WrongOriginHash", "OriginBackwards"})
"""Inbox reverts that mean the L1 moved between planning and posting: plan again next round."""


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
    signer_key: bytes | None = field(default=None, repr=False)
    """The sequencer's signing key (`signer_key_file`, the key file `sharedseq serve` uses): it signs
    each window commitment (docs/settlement.md section 1). `key` is the poster's, which only pays gas."""
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
        """Resolve a parsed file's `[batcher]` table (or a document that is the table): the manifest to
        the inbox address, the key files to keys. Every error is a ConfigError naming `batcher.key`."""
        t = load_table(BatcherFile, doc.get("batcher", doc), "batcher", base=base)
        inbox, from_block = t.inbox, t.from_block
        if not inbox and t.manifest is not None:
            try:
                record = json.loads(t.manifest.read_text())["contracts"]["SequencerInbox"]
                inbox = str(record["address"])
                from_block = record.get("block", 0) if from_block is None else from_block
                from_block = int(from_block)
            except OSError as exc:
                raise ConfigError("batcher.manifest", "", f"batcher.manifest {t.manifest}: cannot read it "
                                                          f"({exc.strerror or exc})") from exc
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError("batcher.manifest", "", f"batcher.manifest {t.manifest}: no SequencerInbox "
                                                          f"address ({exc})") from exc
        if not inbox:
            raise ConfigError("batcher.inbox", "give `inbox` (address) or `manifest` (deploy manifest JSON)")
        key_text = os.environ.get(KEY_ENV)
        if t.key_file is not None:
            try:
                key_text = t.key_file.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise ConfigError("batcher.key_file", "", f"batcher.key_file {t.key_file}: cannot read the poster "
                                                          f"key ({reason})") from exc
        if not key_text:
            raise ConfigError("batcher.key_file", f"give `key_file` or set ${KEY_ENV}")
        try:
            key = bytes.fromhex(key_text.strip().removeprefix("0x"))
        except ValueError:
            raise ConfigError("batcher.key_file", "the poster key is not hex") from None
        if len(key) != 32:
            raise ConfigError("batcher.key_file", "the poster key must be 32 bytes")
        if t.signer_key_file is None:
            raise ConfigError("batcher.signer_key_file", "`signer_key_file` is required: the sequencer's key file "
                                                         "(the one `sharedseq serve` uses), which signs every posted "
                                                         "window")
        try:
            signer_key = read_key(t.signer_key_file)
            inbox_address = to_checksum_address(inbox)
        except BadInput as exc:
            raise ConfigError("batcher.signer_key_file", str(exc)) from None
        except (ValueError, TypeError) as exc:
            raise ConfigError("batcher.inbox", f"{inbox!r} is not an address") from exc
        return cls(t.sequencer, t.l1_rpc_url, inbox_address, key, signer_key, window_ms=t.window_ms,
                   max_window_bytes=t.max_window_bytes, catch_up_periods=t.catch_up_periods,
                   confirmations=t.confirmations, bump_after_s=t.bump_after_s, poll_ms=t.poll_ms,
                   max_backoff_s=t.max_backoff_s, rpc_timeout_s=t.rpc_timeout_s, gas_margin=t.gas_margin,
                   state_file=str(t.state_file) if t.state_file is not None else None,
                   from_block=from_block or 0, log_chunk_blocks=t.log_chunk_blocks, use_blobs=t.use_blobs,
                   blob_fee_margin=t.blob_fee_margin)


_DEFAULTS = defaults_of(BatcherConfig)
"""BatcherConfig's defaults: the file's options fall back to them (one set of defaults)."""


@dataclass(frozen=True, slots=True)
class BatcherFile:
    """The `[batcher]` table as the file writes it (deploy/batcher.sample.toml documents each option);
    `BatcherConfig.from_dict` resolves it (manifest -> inbox, key files -> keys)."""

    sequencer: str
    l1_rpc_url: str
    inbox: str | None = None
    manifest: Path | None = None
    key_file: Path | None = None
    signer_key_file: Path | None = None
    window_ms: int = option(_DEFAULTS["window_ms"], rule=POSITIVE)
    max_window_bytes: int = option(_DEFAULTS["max_window_bytes"], rule=POSITIVE)
    catch_up_periods: int = option(_DEFAULTS["catch_up_periods"], rule=POSITIVE)
    confirmations: int = option(_DEFAULTS["confirmations"], rule=NON_NEGATIVE)
    bump_after_s: float = option(_DEFAULTS["bump_after_s"], rule=POSITIVE)
    poll_ms: int = option(_DEFAULTS["poll_ms"], rule=POSITIVE)
    max_backoff_s: float = option(_DEFAULTS["max_backoff_s"], rule=POSITIVE)
    rpc_timeout_s: float = option(_DEFAULTS["rpc_timeout_s"], rule=POSITIVE)
    gas_margin: float = option(_DEFAULTS["gas_margin"], rule=POSITIVE)
    state_file: Path | None = None
    from_block: int | None = option(None, rule=NON_NEGATIVE)
    """None: the manifest's deployment block, else 0."""
    log_chunk_blocks: int = option(_DEFAULTS["log_chunk_blocks"], rule=POSITIVE)
    use_blobs: bool = _DEFAULTS["use_blobs"]
    blob_fee_margin: float = option(_DEFAULTS["blob_fee_margin"], rule=POSITIVE)


def load_batcher_config(path: str | Path) -> BatcherConfig:
    path = Path(path)
    return BatcherConfig.from_dict(read_toml(path), path.parent)


@dataclass(slots=True)
class _Synced:
    """Where the inbox stands and each rollup's derivation cursor after its last window."""

    window_count: int
    next_height: int
    last_hash: bytes
    cursors: dict[RollupId, Cursor] | None  # None until block 0 is sealed
    covered_to: dict[RollupId, int] = field(default_factory=dict)
    """Per rollup, the height after its last listed window (0: never listed): a rollup left out of the
    windows since (paused on L1) gets a batch over their blocks too when it is listed again."""


@dataclass(slots=True)
class _InFlight:
    """Our posting transaction not yet mined: the plan, the signed window, the tx fields without
    nonce and fees (`template`), and the lifecycle state (nonce, fees, every hash sent)."""

    plan: WindowPlan
    window: WindowCommitment
    template: dict[str, Any]
    life: txlife.InFlight
    window_index: int
    calldata_bytes: int
    batch_hashes: list[Hash32]
    blobs: list[bytes] = field(default_factory=list)
    commitments: list[bytes] = field(default_factory=list)


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
    rollup_ids: tuple[RollupId, ...] = ()
    forced_to: tuple[int, ...] = ()


def sequencer_addresses(cfg: BatcherConfig) -> list[str]:
    """`sequencer`: one gRPC address, or a replica set's, comma separated (docs/replication.md)."""
    found = [a.strip() for a in cfg.sequencer.split(",") if a.strip()]
    if not found:
        raise ConfigError("batcher.sequencer", "no sequencer address given")
    return found


class Batcher:
    """Posts posting windows of the sequencer's sealed blocks to the inbox; run with `await batcher.run()`."""

    def __init__(self, cfg: BatcherConfig, registry: Any = None) -> None:
        """`registry`: a prometheus_client CollectorRegistry to put the batcher's metrics in
        (sequencer/l1/batcher_metrics.py; None: their own, `self.metrics.registry`)."""
        from .batcher_metrics import BatcherMetrics

        self.metrics = BatcherMetrics(registry)
        self._balance_at: int | None = None
        if not cfg.signer_key:
            raise BadInput("batcher: no sequencer signing key (signer_key_file): every window must be signed")
        self.cfg = cfg
        self.account = Account.from_key(cfg.key)
        self.address = self.account.address
        self.firm_height = -1
        """Height of the last block in a window with `confirmations` L1 blocks on top (-1: none)."""
        self.posted: list[PostResult] = []
        """Windows this instance got mined, in order (for tests and the benchmark)."""
        self.params: WindowParams | None = None
        self.rules = txlife.Rules(cfg.bump_after_s, cfg.rpc_timeout_s, cfg.blob_fee_margin)
        self.max_origin_lag = DEFAULT_MAX_ORIGIN_LAG
        self.catch_up_after_ms: int | None = None
        self._head_time: tuple[int, int | None] = (-1, None)
        self.max_window_blocks = DEFAULT_MAX_WINDOW_BLOCKS
        self._signer: Signer | None = None
        self._state: _Synced | None = None
        self._blocks: dict[int, SharedBlock] = {}
        self._forced: dict[RollupId, list[ForcedTx]] = {}
        self._forced_scanned = -1
        self._unconfirmed: tuple[txlife.Unconfirmed, ...] = ()
        self._chain_id = 0
        self._rpc: L1Client | None = None
        self._reader: InboxReader | None = None
        self._stub: Any = None
        self._stubs: list[Any] = []
        self._cache: CursorCache | None = None
        self._inflight: _InFlight | None = None
        self._waiting: str | None = None
        self._left_out: dict[RollupId, str] = {}
        self._origin_hashes: dict[tuple[int, int], bytes | None] = {}  # (L1 head, number) -> the L1's hash

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Post windows until cancelled. Signals started once it knows the rollups and the L1."""
        async with L1Client(self.cfg.l1_rpc_url, self.cfg.rpc_timeout_s) as rpc, AsyncExitStack() as channels:
            self._rpc = rpc
            self._reader = InboxReader(rpc, self.cfg.inbox, self.cfg.log_chunk_blocks)
            self._stubs = [pb_grpc.SequencerServiceStub(await channels.enter_async_context(grpc.aio.insecure_channel(
                a, options=[("grpc.max_receive_message_length", 64 << 20)]))) for a in sequencer_addresses(self.cfg)]
            self._stub = self._stubs[0]
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
               signer="0x" + address_of(self.cfg.signer_key or b"").hex(),
               rollups=[r.rollup_id for r in self.params.rollups] if self.params else [],
               max_origin_lag=self.max_origin_lag, max_window_blocks=self.max_window_blocks)
        task_status.started()
        failures = 0
        while True:
            try:
                posted = await self._round()
                failures = 0
            except (Temporary, grpc.aio.AioRpcError) as exc:
                failures += 1
                delay = self._backoff(failures)
                self.metrics.retries.inc()
                _event(logging.WARNING, "batcher.retry", error=_describe(exc), attempt=failures,
                       retry_in_s=round(delay, 2))
                await anyio.sleep(delay)
                await self.follow_leader()
                continue
            if not posted:
                await anyio.sleep(self.cfg.poll_ms / 1000)

    def forced_backlog(self) -> dict[RollupId, tuple[ForcedTx, ...]]:
        """Forced entries seen on L1 that no window on L1 has applied yet, per rollup (the console's
        forced-queue depth): the queue past each rollup's cursor after the last synced window."""
        cursors = self._state.cursors if self._state is not None and self._state.cursors is not None else {}
        return {rid: tuple(q[cursors[rid].forced_applied if rid in cursors else 0:]) for rid, q in self._forced.items()}

    def _backoff(self, failures: int) -> float:
        return min(self.cfg.poll_ms / 1000 * 2 ** min(failures, 20), self.cfg.max_backoff_s)

    async def follow_leader(self) -> None:
        """Replicas (issue 12): read from the replica furthest ahead, which is the leader (it seals;
        followers apply its blocks milliseconds later) or a follower level with it. Every replica
        serves the same blocks, so this only keeps the batcher from trailing a follower's copy, and
        after a failover moves it off a replica that is gone. With one address: nothing to choose."""
        if len(self._stubs) < 2:
            return
        best, best_height = self._stub, -2
        for stub in self._stubs:
            try:
                info = await stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=self.cfg.rpc_timeout_s)
            except grpc.aio.AioRpcError:
                continue  # down or unreachable: not a candidate this time
            if info.sealed_height > best_height:
                best, best_height = stub, info.sealed_height
        self._stub = best

    async def _retrying(self, fn: Any) -> Any:
        failures = 0
        while True:
            try:
                await self.follow_leader()
                return await fn()
            except (Temporary, grpc.aio.AioRpcError) as exc:
                failures += 1
                delay = self._backoff(failures)
                _event(logging.WARNING, "batcher.retry", step=fn.__name__, error=_describe(exc), attempt=failures,
                       retry_in_s=round(delay, 2))
                await anyio.sleep(delay)

    async def _connect(self) -> None:
        assert self._rpc is not None and self._reader is not None and self.cfg.signer_key
        self._chain_id = await self._rpc.chain_id()
        info = await self._stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=self.cfg.rpc_timeout_s)
        inbox = bytes.fromhex(self.cfg.inbox[2:])
        if info.domain_chain_id != self._chain_id or bytes(info.domain_verifying_contract) != inbox:
            raise Critical(f"the sequencer signs for chain {info.domain_chain_id} / "
                           f"0x{bytes(info.domain_verifying_contract).hex()}, but the inbox is "
                           f"{self.cfg.inbox} on chain {self._chain_id}")
        signer = address_of(self.cfg.signer_key)
        if bytes(info.sequencer_address) != signer:
            raise Critical(f"signer_key_file holds key 0x{signer.hex()}, but the sequencer signs with "
                           f"0x{bytes(info.sequencer_address).hex()}: give the batcher the key file of "
                           f"`sharedseq serve`")
        self._signer = Signer(self.cfg.signer_key, Domain(self._chain_id, inbox))
        resp = await self._stub.ListRollups(pb.ListRollupsRequest(), timeout=self.cfg.rpc_timeout_s)
        rollups = tuple(sorted((PostedRollup(r.rollup_id, r.batch_format, r.block_time_ms) for r in resp.rollups),
                               key=lambda r: r.rollup_id))
        self.params = WindowParams(rollups, self.cfg.window_ms, self.cfg.max_window_bytes, self.cfg.catch_up_periods)
        if await self._reader.has_view("maxOriginLag"):
            self.max_origin_lag = int(await self._reader.view("maxOriginLag"))
        if await self._reader.has_view("maxWindowBlocks"):
            self.max_window_blocks = int(await self._reader.view("maxWindowBlocks"))
        if await self._reader.has_view("catchUpAfterMs"):
            self.catch_up_after_ms = int(await self._reader.view("catchUpAfterMs"))

    # ------------------------------------------------------------------ one round

    async def _round(self) -> bool:
        """Read L1, sync, plan, and post at most one window. True if a window was posted."""
        rpc = self._rpc
        assert rpc is not None and self.params is not None
        if self._inflight is not None:  # an L1 failure interrupted the wait for our last posting
            _event(logging.INFO, "batcher.resume_wait", nonce=self._inflight.life.nonce,
                   first=self._inflight.plan.first_height)
            await self._await_inflight()
            return True
        head = await rpc.block_number()
        self._origin_hashes = {k: v for k, v in self._origin_hashes.items() if k[0] == head}  # per L1 head
        chain = await self._read_inbox(head)
        await self._check_unconfirmed(head)
        await self._update_firm(head, chain)
        await self._observe(head)
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
        blocks = await self._read_ahead(st.next_height, head)
        view = await self._l1_view(head, blocks)
        pending = await self._pending(st, view.active)
        plan = plan_window(self.params, blocks, st.cursors, view, pending)
        if plan is None:
            self._log_waiting(view, blocks)
            return False
        self._waiting = None
        self._log_left_out(plan)
        await self._post(plan)
        return True

    async def _pending(self, st: _Synced, active: frozenset[RollupId] | None) -> dict[RollupId, list[SharedBlock]]:
        """The shared blocks before nextHeight each active rollup's batch has not covered yet: those of
        the windows that left it out since its last listed one (derivation rule 6; the firm node
        checks its next batch against all of them)."""
        assert self.params is not None
        out: dict[RollupId, list[SharedBlock]] = {}
        for r in self.params.rollups:
            start = st.covered_to.get(r.rollup_id, 0)
            if (active is None or r.rollup_id in active) and start < st.next_height:
                out[r.rollup_id] = await self._read_range(start, st.next_height - 1)
        return out

    async def _l1_view(self, head: int, blocks: list[SharedBlock]) -> L1View:
        """The L1 as the planner needs it: forced queues, active served rollups, canonical origin hashes."""
        assert self._reader is not None and self._rpc is not None and self.params is not None
        served = [r.rollup_id for r in self.params.rollups]
        active = frozenset(await self._reader.active_rollups(served, head))
        # Hashes of the origins the inbox could still check (blockhash covers the last 256 blocks; an
        # origin older than maxOriginLag is checked only for a catch-up window).
        lowest = head + 1 - 256
        hashes: dict[int, Hash32] = {}
        for number in sorted({b.header.l1_origin_number for b in blocks}):
            if lowest <= number <= head:
                if (head, number) not in self._origin_hashes:
                    self._origin_hashes[(head, number)] = await self._rpc.block_hash(number)
                h = self._origin_hashes[(head, number)]
                if h is not None:
                    hashes[number] = h
        return L1View(head, self._forced, active, self.max_origin_lag, self.max_window_blocks, hashes,
                      await self._head_time_ms(head), self.catch_up_after_ms)

    async def _head_time_ms(self, head: int) -> int | None:
        """The head block's timestamp in ms (what SequencerInbox.isLive compares with, at the latest)."""
        assert self._rpc is not None
        if self.catch_up_after_ms is None:
            return None
        if self._head_time[0] != head:
            block = await self._rpc.get_block(head)
            self._head_time = (head, None if block is None else int(block["timestamp"], 16) * 1000)
        return self._head_time[1]

    def _log_waiting(self, view: L1View, blocks: list[SharedBlock]) -> None:
        """Say once (per reason) why a closed window cannot be posted yet: its L1 origin."""
        assert self.params is not None
        cuts = candidate_cuts(self.params, blocks)
        if not cuts:
            return
        last = [b for b in blocks if b.header.timestamp_ms < cuts[0]][-1]
        why = origin_problem(view, last.header)
        if why is not None and why != self._waiting:
            _event(logging.WARNING, "batcher.origin_unpostable", first=blocks[0].height, at=last.height,
                   l1_head=view.head, reason=why)
        self._waiting = why

    def _log_left_out(self, plan: WindowPlan) -> None:
        for rid, why in plan.left_out.items():
            _event(logging.ERROR, "batcher.rollup_left_out", rollup=rid, first=plan.first_height, reason=why)
        for rid in set(self._left_out) - set(plan.left_out):
            _event(logging.INFO, "batcher.rollup_back", rollup=rid, first=plan.first_height)
        self._left_out = dict(plan.left_out)

    async def _read_inbox(self, block: int) -> tuple[int, int, bytes]:
        assert self._reader is not None
        count = int(await self._reader.view("windowCount", block=block))
        nxt = int(await self._reader.view("nextHeight", block=block))
        last = bytes(await self._reader.view("lastBlockHash", block=block))
        return count, nxt, last

    async def _update_firm(self, head: int, chain: tuple[int, int, bytes]) -> None:
        at = head - self.cfg.confirmations
        if at < 0:
            return
        nxt = chain[1] if at == head else (await self._read_inbox(at))[1]
        if nxt - 1 != self.firm_height:
            self.firm_height = nxt - 1
            _event(logging.INFO, "batcher.firm", firm_height=self.firm_height, l1_block=at)

    async def _observe(self, head: int) -> None:
        """The round's metrics: L1 head, firm height, the poster's balance (read once per new L1
        block), the forced queues and their deadlines."""
        assert self._rpc is not None
        balance = None
        if head != self._balance_at:
            balance = int(await self._rpc.call("eth_getBalance", [self.address, "latest"]), 16)
            self._balance_at = head
        self.metrics.observe(l1_block=head, firm_height=self.firm_height, balance_wei=balance,
                             forced=self.forced_backlog())

    async def _check_unconfirmed(self, head: int) -> None:
        """A reorg that drops one of our postings: forget the sync state so the next step re-reads L1."""
        assert self._rpc is not None
        mined_in: dict[str, int | None] = {}
        for p in self._unconfirmed:
            receipt = await self._rpc.get_receipt(p.tx_hash)
            mined_in[p.tx_hash] = int(receipt["blockNumber"], 16) if receipt is not None else None
        keep, reorged = txlife.check_confirmations(self._unconfirmed, mined_in, head, self.cfg.confirmations)
        if reorged:
            gone = next(p for p in self._unconfirmed if mined_in.get(p.tx_hash) != p.block)
            _event(logging.WARNING, "batcher.reorged", tx=gone.tx_hash, was_in=gone.block)
            self._state = None
        self._unconfirmed = keep

    # ------------------------------------------------------------------ re-deriving from L1

    async def _resync(self, head: int) -> None:
        """Rebuild the cursors from height 0, window by window, as L1 recorded them at `head`."""
        assert self._reader is not None and self.params is not None
        count, next_height, last_hash = await self._read_inbox(head)
        windows = sorted(await self._reader.window_events(self.cfg.from_block, head), key=lambda w: w.index)
        if [w.index for w in windows] != list(range(count)):
            raise L1Unavailable(f"WindowPosted logs ({len(windows)}) do not match windowCount {count}")
        self._forced_scanned = -1
        self._forced = {}
        await self._scan_forced(head)
        cursors: dict[RollupId, Cursor] | None = None
        expected = 0
        cached = 0
        covered_to: dict[RollupId, int] = {}
        if self._cache is not None:
            for w in reversed(windows):
                hit = self._cache.matching(w.index, w.first_height, w.last_height, w.last_block_hash, w.batch_hashes)
                if hit is not None:
                    cursors, expected, cached = hit, w.last_height + 1, w.index + 1
                    break
        for w in windows[:cached]:
            covered_to.update(dict.fromkeys(w.rollup_ids, w.last_height + 1))
        for w in windows[cached:]:
            if w.first_height != expected:
                raise Critical(f"inbox window {w.index} starts at {w.first_height}, expected {expected}")
            blocks = await self._read_range(w.first_height, w.last_height)
            if block_hash(blocks[-1].header) != w.last_block_hash:
                raise Critical(f"inbox window {w.index}: block {w.last_height} on L1 is not the sequencer's")
            if cursors is None:
                cursors = genesis_cursors(self.params, blocks[0])
            pending = {rid: await self._read_range(covered_to.get(rid, 0), w.first_height - 1)
                       for rid in w.rollup_ids if covered_to.get(rid, 0) < w.first_height}
            replayed = replay_window(self.params, blocks, cursors, self._forced, w.rollup_ids, w.batch_hashes, keccak,
                                     pending)
            if replayed is None:  # posted with postWindowBlobs: the hashes are the blobs' versioned hashes
                replayed = await anyio.to_thread.run_sync(replay_window, self.params, blocks, cursors, self._forced,
                                                          w.rollup_ids, w.batch_hashes, blob_codec.batch_blob_hash,
                                                          pending)
            if replayed is None:
                raise Critical(f"inbox window {w.index} (heights {w.first_height}..{w.last_height}, rollups "
                               f"{list(w.rollup_ids)}) cannot be reproduced with window_ms={self.params.window_ms} "
                               f"and the rollups {[r.rollup_id for r in self.params.rollups]}")
            cursors = replayed
            expected = w.last_height + 1
            covered_to.update(dict.fromkeys(w.rollup_ids, w.last_height + 1))
            if self._cache is not None:
                self._cache.put(w.index, w.first_height, w.last_height, w.last_block_hash, w.batch_hashes, cursors)
        if expected != next_height:
            raise L1Unavailable(f"inbox nextHeight {next_height} does not follow its windows ({expected})")
        self._state = _Synced(count, next_height, last_hash, cursors, covered_to)
        for h in [h for h in self._blocks if h < next_height]:
            del self._blocks[h]
        _event(logging.INFO, "batcher.synced", windows=count, from_cache=cached, replayed=count - cached,
               next_height=next_height, l1_block=head)

    async def _scan_forced(self, head: int) -> None:
        assert self._reader is not None
        if head <= self._forced_scanned:
            return
        start = max(self._forced_scanned + 1, self.cfg.from_block)
        for f in sorted(await self._reader.forced_txs(None, start, head), key=lambda f: (f.rollup_id, f.seq)):
            q = self._forced.setdefault(f.rollup_id, [])
            if f.seq == len(q):
                q.append(f)
                _event(logging.INFO, "batcher.forced_seen", rollup=f.rollup_id, seq=f.seq, l1_block=f.l1_block,
                       bytes=len(f.data))
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

    async def _read_ahead(self, start: int, head: int) -> list[SharedBlock]:
        """Sealed blocks from `start` until one at or past the window boundary (or none sealed yet).

        The window would end at the block before that one; if the inbox would refuse that block's
        L1 origin (too old, or not the L1's block: `_origin_ok`), reading goes on (up to a window's
        block cap) to the first boundary whose last block has a postable origin, where the planner
        extends the window to (windows.py)."""
        assert self.params is not None
        out: list[SharedBlock] = []
        end = None
        limit = min(MAX_FETCH, self.max_window_blocks + 1)
        w = self.params.window_ms
        for h in range(start, start + limit):
            b = await self._get_block(h)
            if b is None:
                break
            out.append(b)
            if end is None:
                end = max_window_end(self.params, b)
            if len(out) < 2 or b.header.timestamp_ms < end:
                continue
            prev = out[-2].header
            if b.header.timestamp_ms >= (prev.timestamp_ms // w + 1) * w and await self._origin_ok(prev, head):
                break
        return out

    async def _origin_ok(self, header: BlockHeader, head: int) -> bool:
        """Whether the inbox would take a window ending at `header` in L1 block head + 1 (cached hashes)."""
        assert self._rpc is not None
        n = header.l1_origin_number
        if n > head:
            return False
        head_ms = await self._head_time_ms(head)
        catch_up = (head_ms is not None and self.catch_up_after_ms is not None
                    and header.timestamp_ms + self.catch_up_after_ms < head_ms)
        if head + 1 - n > self.max_origin_lag and not catch_up:
            return False
        if catch_up and head + 1 - n > 256:
            return True
        if (head, n) not in self._origin_hashes:
            self._origin_hashes[(head, n)] = await self._rpc.block_hash(n)
        return self._origin_hashes[(head, n)] == header.l1_origin_hash

    # ------------------------------------------------------------------ posting

    async def _market(self, blobs: bool) -> txlife.Market:
        assert self._rpc is not None
        base = await self._rpc.base_fee()
        tip = await self._rpc.max_priority_fee()
        blob_base = await self._rpc.blob_base_fee() if blobs else 0
        return txlife.Market(base, tip, blob_base)

    async def _post(self, plan: WindowPlan) -> None:
        rpc = self._rpc
        assert rpc is not None and self._state is not None and self._signer is not None
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
            batch_hashes, off = [], 0
            for n in counts:
                batch_hashes.append(blob_codec.batch_hash(versioned[off:off + n]))
                off += n
        else:
            batch_hashes = [keccak(b) for b in plan.batches]
        window, witness = commit_window(plan, batch_hashes)
        sig = self._signer.sign_struct(window_struct_hash(window))
        if blobs:
            data = calldata("postWindowBlobs", window_tuple(window), sig, list(plan.rollup_ids), counts,
                            list(plan.forced_to), witness)
        else:
            data = calldata("postWindow", window_tuple(window), sig, list(plan.rollup_ids), list(plan.batches),
                            list(plan.forced_to), witness)
        call: dict[str, Any] = {"from": self.address, "to": self.cfg.inbox, "data": data}
        if blobs:
            market = await self._market(True)
            call.update(blobVersionedHashes=["0x" + h.hex() for h in versioned],
                        maxFeePerBlobGas=hex(txlife.fees_for(market, True, self.cfg.blob_fee_margin).blob_fee or 1))
        try:
            gas = int(await rpc.estimate_gas(call) * self.cfg.gas_margin) + 20_000
        except RpcError as exc:
            self._on_revert(exc, plan)
            raise
        nonce = await rpc.nonce(self.address, "pending")
        market = await self._market(bool(blobs))
        life = txlife.start(nonce, txlife.fees_for(market, bool(blobs), self.cfg.blob_fee_margin), time.monotonic(),
                            bool(blobs))
        template: dict[str, Any] = {"type": 3 if blobs else 2, "chainId": self._chain_id, "to": self.cfg.inbox,
                                    "data": data, "value": 0, "gas": gas}
        if blobs:
            template["blobVersionedHashes"] = versioned
        if plan.batch_bytes > self.cfg.max_window_bytes:
            _event(logging.WARNING, "batcher.oversized_window", first=plan.first_height, batch_bytes=plan.batch_bytes,
                   max_window_bytes=self.cfg.max_window_bytes, extended=plan.extended)
        _event(logging.INFO, "batcher.posting", first=plan.first_height, last=plan.last_height,
               rollups=list(plan.rollup_ids), batch_bytes=plan.batch_bytes, calldata_bytes=len(data) // 2 - 1,
               blobs=len(blobs), nonce=nonce, gas=gas, forced_to=list(plan.forced_to),
               l1_origin=window.l1_origin_number, extended=plan.extended)
        fl = _InFlight(plan, window, template, life, self._state.window_count, len(data) // 2 - 1, batch_hashes,
                       blobs, commitments)
        try:
            outcome = await self._send_and_record(fl, life.fees)
        except L1Unavailable:
            self._inflight = fl  # maybe sent: the next round resumes waiting for its hash (rebroadcast if unknown)
            raise
        if outcome is not txlife.SendOutcome.ACCEPTED:
            raise RpcError("eth_sendRawTransaction", 0, f"first send of nonce {nonce}: {outcome.value}", None)
        self._inflight = fl
        await self._await_inflight()

    async def _await_inflight(self) -> None:
        """Run the txlife machine for our posting until it is mined; then advance the state.

        An L1 failure while waiting leaves the posting in flight: the next round resumes waiting on the
        same nonce instead of posting the window again."""
        rpc = self._rpc
        fl = self._inflight
        assert rpc is not None and fl is not None
        market = txlife.Market(0, 0, 0)
        raw: dict[str, Any] = {}
        while True:
            found = await self._find_receipt(fl.life.sent)
            receipt = found[0] if found is not None else None
            raw = found[1] if found is not None else raw
            mined_nonce = await rpc.nonce(self.address, "latest") if receipt is None else 0
            known = receipt is not None or await self._any_known(fl.life.sent)
            now = time.monotonic()
            self.metrics.waiting(now)
            if fl.life.bump_now or now - fl.life.last_sent_at >= self.rules.bump_after_s:
                market = await self._market(fl.life.blobs)  # only a bump reads the market
            action, fl.life = txlife.step(fl.life, txlife.Observation(now, receipt, mined_nonce, known, market),
                                          self.rules)
            kind = action.kind
            if kind is txlife.Kind.MINED or kind is txlife.Kind.REVERTED:
                break
            if kind is txlife.Kind.NONCE_TAKEN:
                _event(logging.WARNING, "batcher.nonce_taken", nonce=fl.life.nonce)
                self._inflight = None
                self._state = None
                raise PostingStale(f"nonce {fl.life.nonce} was used by another transaction")
            if kind is txlife.Kind.BUMP:
                assert action.fees is not None
                if await self._send_and_record(fl, action.fees) is txlife.SendOutcome.ACCEPTED:
                    self.metrics.bumps.inc()
                    _event(logging.INFO, "batcher.bump", nonce=fl.life.nonce, max_fee=action.fees.max_fee,
                           tip=action.fees.tip, max_blob_fee=action.fees.blob_fee)
            elif kind is txlife.Kind.REBROADCAST:
                self.metrics.failures.labels("dropped").inc()
                _event(logging.WARNING, "batcher.dropped", nonce=fl.life.nonce, resending=fl.life.sent[-1])
                await self._send_and_record(fl, fl.life.fees)
            await anyio.sleep(self.cfg.poll_ms / 1000 / 4)
        assert action.receipt is not None
        self._inflight = None
        self._finish(fl, action.receipt, raw)

    def _finish(self, fl: _InFlight, r: txlife.Receipt, receipt: dict[str, Any]) -> None:
        plan = fl.plan
        if r.status != 1:
            self.metrics.on_failure("reverted")
            _event(logging.WARNING, "batcher.reverted", tx=r.tx_hash, l1_block=r.block)
            self._state = None
            raise PostingStale(f"{'postWindowBlobs' if fl.blobs else 'postWindow'} {r.tx_hash} reverted in block "
                               f"{r.block}")
        index = fl.window_index
        covered_to = dict(self._state.covered_to) if self._state is not None else {}
        covered_to.update(dict.fromkeys(plan.rollup_ids, plan.last_height + 1))
        self._state = _Synced(index + 1, plan.last_height + 1, plan.last_block_hash, dict(plan.cursors), covered_to)
        # Blocks a left-out rollup's next batch covers are read again then (_pending), not kept here.
        for h in [h for h in self._blocks if h <= plan.last_height]:
            del self._blocks[h]
        self._unconfirmed = (*self._unconfirmed, txlife.Unconfirmed(r.tx_hash, r.block))
        if self._cache is not None:
            self._cache.put(index, plan.first_height, plan.last_height, plan.last_block_hash, fl.batch_hashes,
                            plan.cursors)
        result = PostResult(index, plan.first_height, plan.last_height, r.tx_hash, r.block,
                            int(receipt.get("gasUsed") or "0x0", 16), fl.calldata_bytes, plan.batch_bytes,
                            len(fl.blobs), int(receipt.get("blobGasUsed") or "0x0", 16), plan.rollup_ids,
                            plan.forced_to)
        self.posted.append(result)
        self.metrics.on_posted(plan.last_height)
        _event(logging.INFO, "batcher.posted", window=index, first=plan.first_height, last=plan.last_height,
               tx=result.tx_hash, l1_block=r.block, gas=result.gas_used, batch_bytes=plan.batch_bytes,
               blobs=result.blob_count, blob_gas=result.blob_gas_used, rollups=list(plan.rollup_ids),
               forced_to=list(plan.forced_to))

    def _on_revert(self, exc: RpcError, plan: WindowPlan) -> None:
        if exc.revert in ("WrongFirstHeight", "WrongParent"):
            _event(logging.INFO, "batcher.someone_else_posted", first=plan.first_height, revert=exc.revert)
            self._state = None
        elif exc.revert in ORIGIN_REFUSALS:
            self.metrics.failures.labels("origin_refused").inc()
            _event(logging.WARNING, "batcher.origin_refused", first=plan.first_height, detail=_describe_revert(exc))
        elif exc.revert == "WrongForcedTo":
            # Our view of the forced queues is behind the inbox's (a lagging log index): read them again.
            self.metrics.failures.labels("forced_to_refused").inc()
            _event(logging.WARNING, "batcher.forced_to_refused", first=plan.first_height, detail=_describe_revert(exc))
            self._forced_scanned = -1
            self._forced = {}
        elif exc.revert is not None:
            self.metrics.failures.labels("would_revert").inc()
            _event(logging.ERROR, "batcher.would_revert", first=plan.first_height, revert=exc.revert,
                   detail=_describe_revert(exc))

    async def _send(self, fl: _InFlight, fees: txlife.Fees) -> tuple[txlife.SendOutcome, str]:
        """Sign the posting with `fees` and send it; the outcome (txlife.classify_send_error) and its hash.

        A send that fails on the connection (L1Unavailable) may still have reached the node, so its
        hash is recorded as sent before the error goes up: txlife then finds its receipt, or
        rebroadcasts it once the node answers and does not know it."""
        assert self._rpc is not None
        tx = dict(fl.template, nonce=fl.life.nonce, maxFeePerGas=fees.max_fee, maxPriorityFeePerGas=fees.tip)
        if fees.blob_fee is not None:
            tx["maxFeePerBlobGas"] = fees.blob_fee
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        h = "0x" + keccak(raw).hex()
        if fl.blobs:  # the network form carries the blobs, commitments and proofs
            raw, _ = await anyio.to_thread.run_sync(blob_codec.blob_tx_network_form, raw, fl.blobs, fl.commitments)
        try:
            await self._rpc.send_raw(raw)
        except L1Unavailable:
            fl.life = txlife.after_send(fl.life, txlife.SendOutcome.ACCEPTED, h, fees, time.monotonic())
            raise
        except RpcError as exc:
            outcome = txlife.classify_send_error(exc.message)
            if outcome is txlife.SendOutcome.INSUFFICIENT_FUNDS:
                raise OutOfFunds(f"poster {self.address}: {exc.message}") from exc
            if outcome is txlife.SendOutcome.NONCE_TOO_LOW:
                self._inflight = None
                self._state = None
                raise PostingStale(f"nonce {fl.life.nonce}: {exc.message}") from exc
            if outcome is txlife.SendOutcome.OTHER:
                raise
            if outcome is txlife.SendOutcome.UNDERPRICED:
                _event(logging.WARNING, "batcher.underpriced", nonce=fl.life.nonce, max_fee=fees.max_fee,
                       detail=exc.message)
            return outcome, h
        return txlife.SendOutcome.ACCEPTED, h

    async def _send_and_record(self, fl: _InFlight, fees: txlife.Fees) -> txlife.SendOutcome:
        outcome, h = await self._send(fl, fees)
        fl.life = txlife.after_send(fl.life, outcome, h, fees, time.monotonic())
        return outcome

    async def _find_receipt(self, sent: tuple[str, ...]) -> tuple[txlife.Receipt, dict[str, Any]] | None:
        """A receipt of any hash sent for our nonce (the latest first): as txlife sees it, and the raw one."""
        assert self._rpc is not None
        for h in reversed(sent):
            receipt = await self._rpc.get_receipt(h)
            if receipt is not None:
                return txlife.Receipt(str(receipt["transactionHash"]), int(receipt["blockNumber"], 16),
                                      int(receipt["status"], 16)), receipt
        return None

    async def _any_known(self, sent: tuple[str, ...]) -> bool:
        assert self._rpc is not None
        for h in sent:
            if await self._rpc.get_transaction(h) is not None:
                return True
        return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"sequencer {exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _describe_revert(exc: RpcError) -> str:
    return describe_revert(exc.data) or exc.revert or exc.message
