"""The rollup node: heads, executed blocks, and the run loop (its configuration: config.py).

    node = RollupNode(NodeConfig(sequencer="127.0.0.1:50051", l1_rpc=url, inbox=addr, rollup_id=901, mode="soft"))
    async with anyio.create_task_group() as tg:
        await tg.start(node.run)

`mode="soft"` follows the sequencer stream (soft.py), `mode="firm"` reads L1 alone (firm.py). Both
execute rollup blocks on the node's own engine (engine.py) and record one ExecutedBlock per rollup
block; the HTTP API (api.py) serves the heads and those records.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread

from rollup_adapters.base import RollupBlock, RollupTiming
from rollup_adapters.derivation import admitted_forced

from .api import start_api
from .config import NodeConfig
from .engine import Engine, ExecutedBlock, check_block_time
from .errors import NodeConfigError, NodeStopped, describe_error, leaf_exceptions
from .firm import FirmFollower
from .soft import SoftFollower

log = logging.getLogger("sharedseq.rollup_node")



class RollupNode:
    """One rollup's node. The follower sets `fmt` and `timing` before the first block, then calls
    `execute` for each rollup block in order."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.rollup_id = config.rollup_id
        self.fmt: str | None = None
        self.timing: RollupTiming | None = None
        self.engine: Engine | None = None
        self.blocks: dict[int, ExecutedBlock] = {}
        """The most recent `config.keep_blocks` executed blocks by rollup number (older ones are dropped)."""
        self.oldest_kept: int | None = None
        """Lowest rollup block number still in `blocks` once some were dropped (None: none dropped)."""
        self.head: ExecutedBlock | None = None
        self.soft_head: int | None = None
        self.firm_head: int | None = None
        self.error: str | None = None
        self.api_port: int | None = None
        self.follower: Any = None
        self._lock = threading.Lock()
        self._changed = anyio.Event()

    # ---------------------------------------------------------------- set-up by the follower

    def configure(self, fmt: str, block_time_ms: int, genesis_ms: int = 0) -> None:
        """The rollup's batch format and clock (from ListRollups or the L1 registry)."""
        check_block_time(block_time_ms)
        if genesis_ms != 0:
            raise NodeConfigError(f"rollup {self.rollup_id}: genesis {genesis_ms} ms; derivation uses genesis 0")
        if self.timing is not None and (self.fmt, self.timing.block_time_ms) != (fmt, block_time_ms):
            raise NodeConfigError(f"rollup {self.rollup_id}: format/block time changed to {fmt}/{block_time_ms}")
        self.fmt = fmt
        self.timing = RollupTiming(0, block_time_ms)

    async def start_engine(self, first_number: int) -> None:
        if self.engine is not None:
            return
        assert self.timing is not None
        engine = Engine(self.rollup_id, self.timing.block_time_ms, first_number)
        await anyio.to_thread.run_sync(engine.start)
        self.engine = engine

    # ---------------------------------------------------------------- execution

    async def execute(self, block: RollupBlock) -> ExecutedBlock:
        """Execute one rollup block on the engine and record it as the new head.

        `block.forced` holds every forced entry rule F applies here; only those the skip rule admits
        (derivation.admitted_forced) reach the engine, the others count as applied with no effect."""
        assert self.engine is not None and self.fmt is not None
        admitted = admitted_forced(self.fmt, self.rollup_id, block.forced)
        done = await anyio.to_thread.run_sync(self.engine.apply_block, replace(block, forced=admitted))
        done = replace(done, forced_skipped=len(block.forced) - len(admitted))
        with self._lock:
            self.blocks[done.number] = done
            while len(self.blocks) > self.config.keep_blocks:
                del self.blocks[next(iter(self.blocks))]  # insertion order is number order
                self.oldest_kept = next(iter(self.blocks))
            self.head = done
            if self.config.mode == "soft":
                self.soft_head = done.number
            else:
                self.firm_head = done.number
        log.info("rollup %d %s block %d: %d txs (%d forced, %d forced skipped), state root %s", self.rollup_id,
                 self.config.mode, done.number, done.tx_count, done.forced_count, done.forced_skipped, done.state_root)
        self._changed.set()
        self._changed = anyio.Event()
        return done

    async def wait_for(self, number: int, timeout: float) -> ExecutedBlock:
        """Wait until rollup block `number` is executed (for tests and tools)."""
        with anyio.fail_after(timeout):
            while number not in self.blocks:
                if self.is_evicted(number):
                    raise KeyError(f"rollup block {number} is older than the retained window")
                if self.error:
                    raise NodeStopped(f"rollup node {self.rollup_id} stopped: {self.error}")
                await self._changed.wait()
        return self.blocks[number]

    # ---------------------------------------------------------------- views (API)

    def is_evicted(self, number: int) -> bool:
        """Whether rollup block `number` was executed but dropped from memory (older than the kept window)."""
        return self.oldest_kept is not None and number < self.oldest_kept

    def _engine_offset(self) -> int | None:
        """rollup number - engine number (constant: one engine block per rollup block); None before a block."""
        head = self.head
        return None if head is None else head.number - head.engine_number

    def engine_to_rollup(self, engine_number: int) -> int | None:
        """The rollup block number of engine block `engine_number` (None before the first block)."""
        with self._lock:
            offset = self._engine_offset()
        return None if offset is None else engine_number + offset

    def status(self) -> dict[str, Any]:
        with self._lock:
            head = self.head
            offset = self._engine_offset()

            def engine_of(n: int | None) -> int | None:
                return None if n is None or offset is None else n - offset

            return {
                "rollup_id": self.rollup_id, "format": self.fmt, "mode": self.config.mode,
                "head": None if head is None else {"number": head.number, "engine_number": head.engine_number,
                                                   "timestamp": head.timestamp_ms // 1000,
                                                   "state_root": head.state_root,
                                                   "engine_block_hash": head.engine_block_hash},
                "firm_head": self.firm_head, "soft_head": self.soft_head,
                "firm_head_engine_number": engine_of(self.firm_head),
                "soft_head_engine_number": engine_of(self.soft_head),
                "oldest_kept": self.oldest_kept if self.oldest_kept is not None else next(iter(self.blocks), None),
                "keep_blocks": self.config.keep_blocks,
                "engine_url": None if self.engine is None or self.engine.anvil is None else self.engine.url,
                "error": self.error,
            }

    def block_view(self, number: int) -> dict[str, Any] | None:
        with self._lock:
            b = self.blocks.get(number)
        if b is None:
            return None
        return {"number": b.number, "timestamp": b.timestamp_ms // 1000, "state_root": b.state_root,
                "engine_block_hash": b.engine_block_hash, "engine_number": b.engine_number, "tx_count": b.tx_count,
                "forced_count": b.forced_count, "forced_skipped": b.forced_skipped,
                "shared_heights": list(b.shared_heights), "l1_origin_number": b.l1_origin_number}

    # ---------------------------------------------------------------- run

    async def run(self, *, task_status: anyio.abc.TaskStatus[RollupNode] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled or until a check fails (then raise: the node stops loudly)."""
        try:
            if self.config.api_port is not None:
                try:
                    api = start_api(self, self.config.api_port)
                except OSError as exc:
                    raise NodeConfigError(f"cannot serve the HTTP API on 127.0.0.1:{self.config.api_port}: "
                                          f"{exc.strerror or exc}") from exc
                self.api_port = api.server_port
            else:
                api = None
        except BaseException as exc:
            self._stopped(exc)
            raise
        try:
            async with anyio.create_task_group() as tg:
                self.follower = SoftFollower(self) if self.config.mode == "soft" else FirmFollower(self)
                tg.start_soon(self.follower.run)
                task_status.started(self)
        except BaseException as exc:
            self._stopped(exc)
            raise
        finally:
            if api is not None:
                api.shutdown()
                api.server_close()
            if self.engine is not None:
                self.engine.stop()

    def _stopped(self, exc: BaseException) -> None:
        """Record why the node stopped (the leaf errors, not their exception group) unless it was cancelled."""
        cancelled = anyio.get_cancelled_exc_class()
        if all(isinstance(leaf, cancelled) for leaf in leaf_exceptions(exc)):
            return
        self.error = describe_error(exc, self.config.l1_rpc)
        log.error("rollup node %d (%s) stopped: %s", self.rollup_id, self.config.mode, self.error)
        self._changed.set()
