"""The firm follower: rollup blocks from L1 alone, and only what the sequencer signed
(docs/settlement.md section 5).

Reads the postings in order (window index 0, 1, 2, ...; rollup_node/l1.py over the L1 layer, which
takes each posting's calldata or blobs, from a contract poster's call trace too, and checks every
batch against its recorded hash). For each window:

1. heights and parents: it starts at the height after the previous window's last (0 first) and
   its parent is the previous window's last block hash;
2. the window signature: it recovers (EIP-712, domain = L1 chain id and inbox) to the signer the
   event names, and that key could sign the window when it landed (SequencerKeys record,
   l1.may_sign_window); the node checks this itself rather than trusting the inbox;
3. the witness: sequencer.core.window.verify_witness (hash, heights, parent chain, origins, blocks
   root, every block's leaves strictly sorted and rebuilding its namespaces root and count);
4. the rollup's batch: decoded and checked against the witness block by block
   (derivation.check_batch_against_witness: each rollup block's transactions split over its shared
   blocks by the tx counts of the rollup's leaves, each share rebuilding its leaf's tx root, no
   transaction where the rollup has no leaf), with the signed headers' L1 origins;
5. rule F from those origins (forced queue read up to the window's origin), and the window's
   forcedTo must equal the entries rule F applied;
6. a window that does not list the rollup (paused on L1, or left out by the batcher) gives it no
   block and does not move its firm chain: the node keeps that window's verified witness blocks
   and waits; the next window that lists it must carry its batch over all of them and its own
   (derivation rule 6: checked as in step 4 against the joined witness, rule F over all of them,
   forcedTo as in step 5). At most `NodeConfig.max_kept_witness_blocks` shared blocks are kept;
   past that the node stops (VerificationError naming the limit).
Any failure raises VerificationError naming the window (and the rollup block) and stops the node:
nothing the sequencer did not sign is executed. An L1 that cannot be reached at start stops the node
(a configuration problem); once running, a failed L1 read is retried with backoff.

Asyncio only (issue 10 item 5): L1 is read through L1Client (aiohttp).
"""

from __future__ import annotations

import logging

import anyio

from rollup_adapters.derivation import Cursor, DerivationError, decode_window_batch, join_witnesses
from sequencer.core.signing import Domain, recover_signer
from sequencer.core.types import ZERO_HASH
from sequencer.core.window import WitnessBlock, verify_witness, window_struct_hash
from sequencer.errors import DecodeError, Temporary

from .errors import VerificationError
from .host import NodeHost
from .l1 import ForcedQueue, KeyBook, NodeL1, PostedWindow, may_sign_window

log = logging.getLogger("sharedseq.rollup_node.firm")

BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0


class FirmFollower:
    def __init__(self, node: NodeHost) -> None:
        self.node = node
        self.rid = node.rollup_id
        assert node.config.l1_rpc and node.config.inbox
        self.l1 = NodeL1(node.config.l1_rpc, node.config.inbox)
        self.keys = KeyBook(self.l1)
        self.forced = ForcedQueue(self.l1, self.rid)
        self.domain: Domain | None = None
        self.scanned = -1
        self.next_window = 0
        self.next_height = 0
        self.prev_last_hash = ZERO_HASH
        self.cursor: Cursor | None = None
        self.kept: tuple[WitnessBlock, ...] = ()
        """Verified witness blocks of the windows since the last one that listed the rollup (step 6)."""

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            with anyio.CancelScope(shield=True):
                await self.l1.close()

    async def _run(self) -> None:
        if self.node.timing is None:
            fmt, bt, genesis = await self.l1.rollup_spec(self.rid)
            self.node.configure(fmt, bt, genesis)
        self.domain = Domain(await self.l1.client.chain_id(), bytes.fromhex(self.l1.address[2:]))
        poll = self.node.config.poll_ms / 1000
        backoff = BACKOFF_MIN
        while True:
            try:
                head = await self.l1.head()
                if head > self.scanned:
                    for w in await self.l1.windows(self.scanned + 1, head):
                        if w.index >= self.next_window:  # a retry re-reads windows already applied
                            await self.on_window(w)
                    self.scanned = head
                backoff = BACKOFF_MIN
            except Temporary as exc:
                # The L1 RPC is down or slow: windows are read again from the last scanned block. Every
                # L1 read of on_window comes before its first change of state, so a retry is exact.
                log.warning("rollup %d: L1 read failed (%s); retrying in %.2fs", self.rid, exc, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            await anyio.sleep(poll)

    async def check_signature(self, w: PostedWindow) -> None:
        """Step 2: the window's signature is by a key that could sign it when it landed."""
        assert self.domain is not None
        if w.signature is None:
            raise VerificationError(f"window {w.index}: the posting carries no window signature")
        try:
            signer = recover_signer(self.domain, window_struct_hash(w.window), w.signature)
        except ValueError as exc:
            raise VerificationError(f"window {w.index}: bad window signature ({exc})") from exc
        if "0x" + signer.hex() != w.signer.lower():
            raise VerificationError(f"window {w.index}: signature recovers to 0x{signer.hex()}, the inbox "
                                    f"recorded {w.signer}")
        rec = await self.keys.record(signer)
        if not may_sign_window(rec, w.first_height, w.last_height, w.l1_block):
            rec = await self.keys.record(signer, fresh=True)
        if not may_sign_window(rec, w.first_height, w.last_height, w.l1_block):
            raise VerificationError(f"window {w.index}: signer 0x{signer.hex()} could not sign heights "
                                    f"{w.first_height}..{w.last_height} at L1 block {w.l1_block} ({rec})")

    def check_witness(self, w: PostedWindow) -> tuple[WitnessBlock, ...]:
        """Step 3."""
        if w.witness is None:
            raise VerificationError(f"window {w.index}: the posting carries no witness")
        try:
            return verify_witness(w.window, w.witness)
        except DecodeError as exc:
            raise VerificationError(f"window {w.index}: {exc}") from exc

    async def on_window(self, w: PostedWindow) -> None:
        assert self.node.fmt is not None and self.node.timing is not None
        if w.index != self.next_window:
            raise VerificationError(f"expected window {self.next_window}, L1 has {w.index}")
        if w.first_height != self.next_height:
            raise VerificationError(f"window {w.index}: starts at height {w.first_height}, not {self.next_height}")
        if w.window.parent_hash != self.prev_last_hash:
            raise VerificationError(f"window {w.index}: first block's parent is not the previous window's last")
        await self.check_signature(w)
        witness = self.check_witness(w)
        if self.cursor is None:
            self.cursor = Cursor(self.node.timing.window_of(w.window.first_timestamp_ms))
            await self.node.start_engine(self.cursor.next_number)
        data = w.batch_of(self.rid)
        if data is None:
            if self.rid in w.rollup_ids:
                raise VerificationError(f"window {w.index}: its batches were not read from L1")
            limit = self.node.config.max_kept_witness_blocks
            if len(self.kept) + len(witness) > limit:
                raise VerificationError(f"window {w.index} leaves out rollup {self.rid} again: the shared blocks "
                                        f"since its last listed window would be {len(self.kept) + len(witness)}, "
                                        f"over max_kept_witness_blocks {limit}")
            # Step 6: the blocks wait for the next window that lists the rollup; its cursor stays.
            self.kept = (*self.kept, *witness)
            self._advance(w)
            return
        queue = await self.forced.read_to(w.window.l1_origin_number)
        try:
            covered = join_witnesses([self.kept, witness])
            blocks = decode_window_batch(self.node.fmt, self.rid, self.node.timing.block_time_ms, data, self.cursor,
                                         list(queue), covered)
        except (DecodeError, DerivationError, ValueError) as exc:
            raise VerificationError(f"window {w.index}: batch of rollup {self.rid} refused: {exc}") from exc
        after = self.cursor.after(blocks)
        forced_to = w.forced_to_of(self.rid)
        if after.forced_applied != forced_to:
            raise VerificationError(f"window {w.index}: forcedTo {forced_to} for rollup {self.rid}, rule F applies "
                                    f"entries {self.cursor.forced_applied}..{after.forced_applied}")
        self._advance(w)
        self.kept = ()
        for b in blocks:
            await self.node.execute(b)
        self.cursor = after

    def _advance(self, w: PostedWindow) -> None:
        self.next_window += 1
        self.next_height = w.last_height + 1
        self.prev_last_hash = w.last_block_hash
