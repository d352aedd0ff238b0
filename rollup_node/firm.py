"""The firm follower: rollup blocks from L1 alone.

Reads the inbox's WindowPosted events in order (window index 0, 1, 2, ...), takes each posting's
batches from its postWindow calldata (decoded with the inbox ABI, each checked against the batch
hash the event recorded) or, for postWindowBlobs, from the transaction's blobs (l1.py), and
decodes this rollup's batch with derivation.decode_window_batch,
carrying the Cursor from window to window. The first window's first rollup block number is the
rollup window of its first header's timestamp (shared block 0), exactly where the soft follower
starts. Rule F is applied by decode_window_batch with the forced queue read from L1 up to the
posting's L1 block (every block's L1 origin is at or before it). Blocks are executed in order;
any gap, overlap or decode failure stops the node.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread

from rollup_adapters.derivation import Cursor, decode_window_batch
from sequencer.core.signing import block_hash
from sequencer.core.types import ZERO_HASH
from sequencer.errors import DecodeError

from .errors import VerificationError
from .l1 import ForcedQueue, InboxReader, PostedWindow, read_rollup_spec
from .node import RollupNode

log = logging.getLogger("sharedseq.rollup_node.firm")


class FirmFollower:
    def __init__(self, node: RollupNode) -> None:
        self.node = node
        self.rid = node.rollup_id
        assert node.config.l1_rpc and node.config.inbox
        self.reader = InboxReader(node.config.l1_rpc, node.config.inbox)
        self.forced = ForcedQueue(self.reader, self.rid)
        self.scanned = -1
        self.next_window = 0
        self.prev_last_hash = ZERO_HASH
        self.cursor: Cursor | None = None

    async def run(self) -> None:
        if self.node.timing is None:
            fmt, bt, genesis = await anyio.to_thread.run_sync(read_rollup_spec, self.reader, self.rid)
            self.node.configure(fmt, bt, genesis)
        poll = self.node.config.poll_ms / 1000
        while True:
            head = await anyio.to_thread.run_sync(self.reader.head)
            if head > self.scanned:
                windows = await anyio.to_thread.run_sync(self.reader.windows, self.scanned + 1, head)
                for w in windows:
                    await self.on_window(w)
                self.scanned = head
            await anyio.sleep(poll)

    async def on_window(self, w: PostedWindow) -> None:
        assert self.node.fmt is not None and self.node.timing is not None
        if w.index != self.next_window:
            raise VerificationError(f"expected window {self.next_window}, L1 has {w.index}")
        if w.first.parent_hash != self.prev_last_hash:
            raise VerificationError(f"window {w.index}: first block's parent is not the previous window's last")
        if self.cursor is None:
            if w.first.height != 0:
                raise VerificationError(f"window 0 starts at height {w.first.height}, not 0")
            self.cursor = Cursor(self.node.timing.window_of(w.first.timestamp_ms))
            await self.node.start_engine(self.cursor.next_number)
        data = w.batch_of(self.rid)
        self.next_window += 1
        self.prev_last_hash = block_hash(w.last)
        if data is None:
            return
        queue = await anyio.to_thread.run_sync(self.forced.read_to, w.l1_block)
        bt = self.node.timing.block_time_ms
        try:
            blocks = decode_window_batch(self.node.fmt, self.rid, bt, data, self.cursor, list(queue))
        except (DecodeError, ValueError) as exc:
            raise VerificationError(f"window {w.index}: batch of rollup {self.rid} does not decode: {exc}") from exc
        for i, b in enumerate(blocks):
            if b.number != self.cursor.next_number + i:
                raise VerificationError(f"window {w.index}: rollup block {b.number} where "
                                        f"{self.cursor.next_number + i} was due")
        for b in blocks:
            await self.node.execute(b)
        self.cursor = self.cursor.after(blocks)
