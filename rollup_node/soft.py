"""The soft follower: the sequencer stream, verified, grouped into rollup blocks, executed.

For each shared block of SubscribeBlocks(rollup_id, from_height):
1. the header signature recovers to the sequencer address under its EIP-712 domain (GetSequencerInfo);
2. heights follow one another and each parent_hash is the previous header's block hash (zero at 0);
3. the namespace proof shows the transactions are exactly the rollup's under namespaces_root.
Any failure raises VerificationError and stops the node: nothing unverified is executed.

Grouping is base.group_rollup_blocks's, done incrementally: shared blocks wait in `pending` until a
later shared block falls in a later rollup window; then every window from the first pending one up
to (not including) the new block's window is emitted, empty gap windows included, with L1 origin the
last shared block's origin in the window or the previous one. Rule F (derivation.place_forced) fills
each block's forced txs from the inbox queue, read from L1 up to the blocks' L1 origin first.

Disconnects and sequencer restarts: reconnect with backoff and resubscribe from the next height; the
pending blocks and the cursor stay in memory, so nothing is missed or applied twice.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
import grpc

from rollup_adapters.base import group_rollup_blocks
from rollup_adapters.derivation import place_forced
from sequencer.core.commitments import verify_namespace
from sequencer.core.signing import Domain, block_hash, recover_signer
from sequencer.core.types import ZERO_HASH, Hash32, Namespace, SharedBlock
from sequencer.service.convert import header_from_proto, proof_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from .errors import NodeConfigError, VerificationError
from .l1 import ForcedQueue, InboxReader
from .node import RollupNode

log = logging.getLogger("sharedseq.rollup_node.soft")

RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED,
                         grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED})
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0


class SoftFollower:
    def __init__(self, node: RollupNode) -> None:
        self.node = node
        self.rid = node.rollup_id
        cfg = node.config
        self.reader = InboxReader(cfg.l1_rpc, cfg.inbox) if cfg.l1_rpc and cfg.inbox else None
        self.forced = ForcedQueue(self.reader, self.rid)
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
        backoff = BACKOFF_MIN
        while True:
            try:
                async with grpc.aio.insecure_channel(self.node.config.sequencer) as channel:
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
            self.reconnects += 1
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _identify(self, stub: pb_grpc.SequencerServiceStub) -> None:
        info = await stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=5)
        rollups = await stub.ListRollups(pb.ListRollupsRequest(), timeout=5)
        mine = [r for r in rollups.rollups if r.rollup_id == self.rid]
        if not mine:
            raise NodeConfigError(f"rollup {self.rid} is not registered with the sequencer")
        self.node.configure(mine[0].batch_format, mine[0].block_time_ms)
        self.sequencer_address = bytes(info.sequencer_address)
        self.domain = Domain(info.domain_chain_id, bytes(info.domain_verifying_contract))
        inbox = self.node.config.inbox
        if inbox and bytes.fromhex(inbox.removeprefix("0x")) != self.domain.verifying_contract:
            raise NodeConfigError(f"sequencer signs for inbox 0x{self.domain.verifying_contract.hex()}, node "
                                  f"configured with {self.node.config.inbox}")

    def verify(self, msg: pb.RollupBlock) -> SharedBlock:
        """Check one streamed block; return it as a SharedBlock holding only this rollup's namespace."""
        assert self.domain is not None and self.sequencer_address is not None
        header = header_from_proto(msg.signed_header.header)
        sig = bytes(msg.signed_header.signature)
        h = block_hash(header)
        if header.height != self.next_height:
            raise VerificationError(f"expected height {self.next_height}, sequencer sent {header.height}")
        if header.parent_hash != self.prev_hash:
            raise VerificationError(f"block {header.height}: parent hash 0x{header.parent_hash.hex()} is not the "
                                    f"previous block's 0x{self.prev_hash.hex()}")
        try:
            signer = recover_signer(self.domain, h, sig)
        except ValueError as exc:
            raise VerificationError(f"block {header.height}: bad signature ({exc})") from exc
        if signer != self.sequencer_address:
            raise VerificationError(f"block {header.height}: signed by 0x{signer.hex()}, not the sequencer "
                                    f"0x{self.sequencer_address.hex()}")
        if msg.rollup_id != self.rid or msg.proof.rollup_id != self.rid:
            raise VerificationError(f"block {header.height}: namespace of rollup {msg.proof.rollup_id}, not {self.rid}")
        txs = tuple(bytes(t) for t in msg.transactions)
        if not verify_namespace(proof_from_proto(msg.proof), txs, header.namespaces_root, header.namespace_count):
            raise VerificationError(f"block {header.height}: namespace proof does not verify against the header")
        return SharedBlock(header, sig, (Namespace(self.rid, txs),) if txs else ())

    async def on_block(self, msg: pb.RollupBlock) -> None:
        block = self.verify(msg)
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

    async def _forced_queue_to(self, l1_block: int):
        """The forced queue with every L1 event up to `l1_block` read (waits for L1 to get there)."""
        if self.reader is None or l1_block <= self.forced.read_through:
            return self.forced.items
        with anyio.fail_after(60):
            while await anyio.to_thread.run_sync(self.reader.head) < l1_block:
                await anyio.sleep(self.node.config.poll_ms / 1000)
        return await anyio.to_thread.run_sync(self.forced.read_to, l1_block)
