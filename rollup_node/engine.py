"""The execution engine: one anvil per rollup node, driven block by block.

Each rollup block mines exactly one engine block (empty or not), so

    engine block number = rollup block number - first rollup block number + 1

and its timestamp is the rollup block's window start in whole seconds. The
block's forced transactions go first, then its transactions, each sent with
eth_sendRawTransaction in order; anvil runs with `--no-mining --order fifo`
so it mines them in that order. A transaction anvil refuses (bad nonce, no
funds, fee under the base fee, duplicate) is skipped and logged; whatever is
left in the pool after mining (e.g. a nonce gap) is dropped, so it never
lands in a later block. Every node sees the same refusals, so all engines
fed the same rollup blocks stay equal (same state root, same block hash).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rollup_adapters.base import RollupBlock
from sequencer.devtools.anvil import Anvil, AnvilError, start_anvil

from .errors import EngineError, NodeConfigError

log = logging.getLogger("sharedseq.rollup_node.engine")


def check_block_time(block_time_ms: int) -> None:
    """Engine timestamps are whole seconds and must strictly increase: two rollup blocks in one
    second cannot be mined. floor(k * bt / 1000) is strictly increasing in k iff bt >= 1000."""
    if block_time_ms < 1000:
        raise NodeConfigError(
            f"rollup block time {block_time_ms} ms: the execution engine has whole-second timestamps, so "
            f"two rollup blocks would share a second; use a block time of at least 1000 ms")


def block_timestamp_s(block: RollupBlock) -> int:
    """The engine timestamp of a rollup block: its window start, in whole seconds."""
    return block.timestamp_ms // 1000


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    """What executing one rollup block gave on the engine."""

    number: int
    timestamp_ms: int
    engine_number: int
    engine_block_hash: str
    state_root: str
    tx_count: int
    """Receipts in the engine block (forced and ordinary transactions anvil accepted)."""
    forced_count: int
    refused: int
    shared_heights: tuple[int, ...]
    l1_origin_number: int
    forced_skipped: int = 0
    """Forced entries rule F applied here that the skip rule skipped (no effect; rollup_adapters/derivation.py)."""


class Engine:
    """An anvil for one rollup. `first_number` is the first rollup block the engine will see; the
    genesis timestamp is one second before that block's, so every rollup block mines after it."""

    def __init__(self, chain_id: int, block_time_ms: int, first_number: int, *, genesis_ms: int = 0) -> None:
        check_block_time(block_time_ms)
        self.chain_id = chain_id
        self.block_time_ms = block_time_ms
        self.first_number = first_number
        first_ts = (genesis_ms + first_number * block_time_ms) // 1000
        self.genesis_timestamp = max(first_ts - 1, 0)
        self.anvil: Anvil | None = None
        self.last_timestamp = self.genesis_timestamp
        self.next_number = first_number

    @property
    def url(self) -> str:
        if self.anvil is None:
            raise EngineError("engine not started")
        return self.anvil.url

    def start(self) -> Engine:
        self.anvil = start_anvil(
            chain_id=self.chain_id, automine=False,
            extra_args=("--order", "fifo", "--timestamp", str(self.genesis_timestamp), "--silent"))
        log.info("engine for rollup %d on %s (genesis timestamp %d, first rollup block %d)", self.chain_id,
                 self.anvil.url, self.genesis_timestamp, self.first_number)
        return self

    def stop(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()

    def rpc(self, method: str, params: list | None = None):
        if self.anvil is None:
            raise EngineError("engine not started")
        return self.anvil.rpc(method, params)

    def engine_number(self, rollup_number: int) -> int:
        return rollup_number - self.first_number + 1

    def apply_block(self, block: RollupBlock) -> ExecutedBlock:
        """Send the block's forced txs then its txs, mine one engine block at its timestamp."""
        if block.number != self.next_number:
            raise EngineError(f"rollup {self.chain_id}: expected rollup block {self.next_number}, got {block.number}")
        ts = block_timestamp_s(block)
        if ts <= self.last_timestamp:
            raise EngineError(f"rollup {self.chain_id}: block {block.number} timestamp {ts}s is not after the "
                              f"previous engine block's {self.last_timestamp}s")
        refused = 0
        for kind, payloads in (("forced", block.forced), ("tx", block.transactions)):
            for i, raw in enumerate(payloads):
                try:
                    self.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
                except AnvilError as exc:
                    refused += 1
                    log.warning("rollup %d block %d: %s %d refused by the engine, skipped: %s", self.chain_id,
                                block.number, kind, i, exc)
        self.rpc("evm_mine", [ts])
        self.rpc("anvil_dropAllTransactions")
        head = self.rpc("eth_getBlockByNumber", ["latest", False])
        want = self.engine_number(block.number)
        if int(head["number"], 16) != want or int(head["timestamp"], 16) != ts:
            raise EngineError(f"rollup {self.chain_id}: mined engine block {int(head['number'], 16)} at "
                              f"{int(head['timestamp'], 16)}, expected {want} at {ts}")
        self.last_timestamp = ts
        self.next_number = block.number + 1
        return ExecutedBlock(
            number=block.number, timestamp_ms=block.timestamp_ms, engine_number=want,
            engine_block_hash=head["hash"], state_root=head["stateRoot"], tx_count=len(head["transactions"]),
            forced_count=len(block.forced), refused=refused, shared_heights=tuple(block.shared_heights),
            l1_origin_number=block.l1_origin_number)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
