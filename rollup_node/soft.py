"""The soft follower: the sequencer stream, verified, grouped into rollup blocks, executed.

For each shared block of SubscribeBlocks(rollup_id, from_height) (every check but the key's standing on
L1 is the pure rollup_node/stream.py `verify_stream_block`):
1. the header signature (EIP-712, the inbox's domain) recovers to a key that is accountable for the
   block's height in the SequencerKeys contract the inbox names (l1.accountable_for), so a lie in
   the header is slashable; with no L1 configured, to the address GetSequencerInfo reports;
2. heights follow one another and each parent_hash is the previous header's block hash (zero at 0);
3. the namespace proof shows the transactions are exactly the rollup's under namespaces_root
   (verify_namespace: a present namespace's proof carries its neighbours, showing sorted leaves).
Any failure raises VerificationError and stops the node: nothing unverified is executed.

Grouping is base.group_rollup_blocks's, done incrementally: shared blocks wait in `pending` until a
later shared block falls in a later rollup window; then every window from the first pending one up
to (not including) the new block's window is emitted, empty gap windows included, with L1 origin the
last shared block's origin in the window or the previous one. Rule F (derivation.place_forced) fills
each block's forced entries from the inbox queue, read from L1 up to the blocks' signed L1 origins
first; the node executes the admitted ones (node.execute, the skip rule). The firm node derives the
same blocks from the same signed origins, so soft and firm state roots stay equal.

Disconnects and sequencer restarts: reconnect with backoff and resubscribe from the next height; the
pending blocks and the cursor stay in memory, so nothing is missed or applied twice.

Asyncio only (issue 10 item 5): the stream is a grpc.aio call and L1 is read through L1Client (aiohttp).
"""

from __future__ import annotations

import logging

import anyio
import grpc

from rollup_adapters.base import group_rollup_blocks
from rollup_adapters.derivation import ForcedTx, place_forced
from sequencer.core.signing import Domain, block_hash
from sequencer.core.types import ZERO_HASH, Hash32, SharedBlock
from sequencer.errors import Temporary
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from .errors import NodeConfigError, VerificationError
from .host import NodeHost
from .l1 import ForcedQueue, KeyBook, NodeL1, accountable_for
from .stream import StreamPosition, verify_stream_block

log = logging.getLogger("sharedseq.rollup_node.soft")

RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED,
                         grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED})
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0


class SoftFollower:
    def __init__(self, node: NodeHost) -> None:
        self.node = node
        self.rid = node.rollup_id
        cfg = node.config
        self.l1 = NodeL1(cfg.l1_rpc, cfg.inbox) if cfg.l1_rpc and cfg.inbox else None
        self.keys = KeyBook(self.l1) if self.l1 is not None else None
        self.l1_head = 0
        self.forced = ForcedQueue(self.l1, self.rid)
        self.domain: Domain | None = None
        self.sequencer_address: bytes | None = None
        self.next_height = 0
        self.prev_hash: Hash32 = ZERO_HASH
        self.pending: list[SharedBlock] = []
        self.window: int | None = None  # first rollup window not yet emitted
        self.prev_origin: tuple[int, Hash32] = (0, ZERO_HASH)
        self.forced_applied = 0
        self.reconnects = 0

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self.l1 is not None:
                with anyio.CancelScope(shield=True):
                    await self.l1.close()

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        # Replicas (issue 12, docs/replication.md): `sequencer` may list several addresses, comma
        # separated. Every replica serves SubscribeBlocks from its copy of the one log, so after a lost
        # stream the node resubscribes on the next address from the height it needs; the checks of
        # each block (signature, parent link) are the same whichever replica sent it.
        addresses = [a.strip() for a in (self.node.config.sequencer or "").split(",") if a.strip()]
        at = 0
        while True:
            try:
                async with grpc.aio.insecure_channel(addresses[at % len(addresses)]) as channel:
                    stub = pb_grpc.SequencerServiceStub(channel)
                    if self.domain is None:
                        await self._identify(stub)
                    call = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=self.rid,
                                                                          from_height=self.next_height))
                    async for resp in call:
                        await self.on_block(resp.block)
                        backoff = BACKOFF_MIN
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRY_CODES:
                    raise VerificationError(f"sequencer refused the subscription: {exc.code().name}: "
                                            f"{exc.details()}") from exc
                log.warning("rollup %d: sequencer stream lost at height %d (%s); reconnecting in %.2fs", self.rid,
                            self.next_height, exc.code().name, backoff)
            except Temporary as exc:
                # An L1 read (keys, forced queue) failed before the block changed any state: resubscribe
                # from the same height once the L1 answers again.
                log.warning("rollup %d: L1 read failed at height %d (%s); retrying in %.2fs", self.rid,
                            self.next_height, exc, backoff)
            self.reconnects += 1
            at += 1
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _identify(self, stub: pb_grpc.SequencerServiceStub) -> None:
        info = await stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=5)
        rollups = await stub.ListRollups(pb.ListRollupsRequest(), timeout=5)
        mine = [r for r in rollups.rollups if r.rollup_id == self.rid]
        if not mine:
            raise NodeConfigError(f"rollup {self.rid} is not registered with the sequencer")
        self.node.configure(mine[0].batch_format, mine[0].block_time_ms)
        domain = Domain(info.domain_chain_id, bytes(info.domain_verifying_contract))
        inbox = self.node.config.inbox
        if inbox and bytes.fromhex(inbox.removeprefix("0x")) != domain.verifying_contract:
            raise NodeConfigError(f"sequencer signs for inbox 0x{domain.verifying_contract.hex()}, node "
                                  f"configured with {self.node.config.inbox}")
        if self.l1 is not None:
            chain = await self.l1.client.chain_id()
            if chain != domain.chain_id:
                raise NodeConfigError(f"sequencer signs for L1 chain {domain.chain_id}, the L1 RPC is chain {chain}")
        else:
            self.sequencer_address = bytes(info.sequencer_address)  # no L1: the sequencer's word is all there is
        self.domain = domain

    def verify(self, msg: pb.RollupBlock) -> tuple[SharedBlock, bytes]:
        """Check one streamed block (stream.verify_stream_block, checks 1 to 3, at this follower's
        position); return it as a SharedBlock holding only this rollup's namespace, and the address its
        signature recovers to (checked here against `sequencer_address` when set; against the L1 keys by
        `check_key`)."""
        assert self.domain is not None
        verified = verify_stream_block(msg, self.rid, self.domain, StreamPosition(self.next_height, self.prev_hash),
                                       self.sequencer_address)
        return verified.block, verified.signer

    async def check_key(self, signer: bytes, height: int) -> None:
        """Step 1 against L1: the signer is accountable for `height` (re-read once before refusing)."""
        assert self.keys is not None and self.l1 is not None
        rec = await self.keys.record(signer)
        if rec.retired_at:
            self.l1_head = await self.l1.head()
        if accountable_for(rec, height, self.l1_head):
            return
        rec = await self.keys.record(signer, fresh=True)
        self.l1_head = await self.l1.head()
        if not accountable_for(rec, height, self.l1_head):
            raise VerificationError(f"block {height}: signed by 0x{signer.hex()}, which the SequencerKeys contract "
                                    f"does not hold accountable for height {height} ({rec})")

    async def on_block(self, msg: pb.RollupBlock) -> None:
        block, signer = self.verify(msg)
        if self.keys is not None:
            await self.check_key(signer, block.height)
        timing = self.node.timing
        assert timing is not None
        k = timing.window_of(block.header.timestamp_ms)
        if self.window is None:
            self.window = k
            await self.node.start_engine(k)
        if k < self.window:
            raise VerificationError(f"block {block.height}: timestamp {block.header.timestamp_ms} goes back to "
                                    f"rollup window {k} (already at {self.window})")
        if k > self.window:
            await self._emit(k - 1)
            self.window = k
        self.pending.append(block)
        self.next_height = block.height + 1
        self.prev_hash = block_hash(block.header)

    async def _emit(self, last: int) -> None:
        """Emit rollup windows self.window..last from the pending shared blocks, then execute them."""
        assert self.node.timing is not None and self.window is not None
        blocks = group_rollup_blocks(self.pending, self.rid, self.node.timing, first_number=self.window,
                                     last_number=last, prev_origin=self.prev_origin)
        top = max(b.l1_origin_number for b in blocks)
        queue = await self._forced_queue_to(top)
        blocks = place_forced(blocks, queue, self.forced_applied)
        for b in blocks:
            await self.node.execute(b)
            self.forced_applied += len(b.forced)
        self.prev_origin = (blocks[-1].l1_origin_number, blocks[-1].l1_origin_hash)
        self.pending = []

    async def _forced_queue_to(self, l1_block: int) -> list[ForcedTx]:
        """The forced queue with every L1 event up to `l1_block` read (waits for L1 to get there)."""
        if self.l1 is None or l1_block <= self.forced.read_through:
            return self.forced.items
        try:
            with anyio.fail_after(60):
                while await self.l1.head() < l1_block:
                    await anyio.sleep(self.node.config.poll_ms / 1000)
        except TimeoutError as exc:
            raise VerificationError(f"signed L1 origin {l1_block} is not on the L1 after 60 s") from exc
        return await self.forced.read_to(l1_block)
