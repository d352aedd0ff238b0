"""Follow the L1: the sequencer's L1 origin and the firm height (over the one L1Client).

Each shared block names the L1 block it builds on (docs/settlement.md section 3: the inbox accepts
a window only if its origin, the last header's, is an L1 block before the posting's, at most
`maxOriginLag` blocks behind it, with the hash the EVM has for it). This shell polls the L1 head
and hands `(number, hash)` of the block `lag` below it to the node: always a block the L1 has (never
ahead of it), and a small lag keeps shallow L1 reorgs out of the origin. The lag is capped at half
the inbox's maxOriginLag (read from the inbox) so a window has the other half, in L1 blocks, to land.
It also reads the inbox's `nextHeight` to learn which shared blocks are firm, and hands the node the
origin's L1 timestamp and its drift limit, half the inbox's `catchUpAfterMs`: the node stops sealing
while its origin is older than that (sequencer drift, as OP Stack's max sequencer drift), so every
block it seals is postable by the inbox's catch-up rule whatever was enqueued meanwhile.
Each poll it also reads which of the node's rollups the registry has paused (registered, not
active) and hands the set to the core, which refuses new submissions for them (FAILED_PRECONDITION
"rollup N is paused on L1"): no window lists a paused rollup, so nothing new should be promised for
it; what was admitted before stays and is posted once it is unpaused (docs/settlement.md section 5).

When the L1 RPC fails, the node keeps sealing with its last origin and this shell logs
`l1.origin_stale` (WARNING) with how long it has been, retrying with backoff. A block sealed on a
stale origin can still be posted, but only inside a window that ends at a block with a postable
origin; so once the origin is more than maxOriginLag L1 blocks old, the batcher waits for the L1 to
come back (`batcher.origin_unpostable`) and firm height stops moving (docs/operator-guide.md,
"L1 outages").

Asyncio only (issue 10 item 5): it polls L1 through L1Client (aiohttp); the node it feeds is backend-neutral.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import anyio

from sequencer.core.types import RollupId
from sequencer.errors import SharedSeqError
from sequencer.service.node import SequencerNode

from .client import L1Client
from .reader import InboxReader
from .settings import L1Config  # here too: where the follower's callers have always found it
from .windows import DEFAULT_MAX_ORIGIN_LAG

log = logging.getLogger("sharedseq.l1")


def origin_number(head: int, lag: int, max_origin_lag: int) -> int:
    """The L1 block to build on: `lag` below the head, the lag capped at half of maxOriginLag (the
    other half is the window's time to land), never below block 0."""
    return max(0, head - min(lag, max_origin_lag // 2))


async def read_origin(client: L1Client, lag: int, max_origin_lag: int = DEFAULT_MAX_ORIGIN_LAG) -> tuple[int, bytes]:
    """(number, hash) of the L1 block to build on now."""
    number = origin_number(await client.block_number(), lag, max_origin_lag)
    h = await client.block_hash(number)
    if h is None:  # the head moved back between the two calls (a reorg): try again next poll
        raise OriginUnavailable(f"L1 block {number} vanished between two reads")
    return number, h


class OriginUnavailable(SharedSeqError):
    """The L1 did not give a usable origin this poll."""


async def paused_rollups(reader: InboxReader, served: Sequence[RollupId]) -> frozenset[RollupId]:
    """Those of `served` the registry has registered but not active: paused by its owner."""
    active = set(await reader.active_rollups(served))
    registry = await reader.registry()
    return frozenset([rid for rid in served if rid not in active
                      and await reader.view("isRegistered", rid, contract="RollupRegistry", address=registry)])


async def update_paused(node: SequencerNode, reader: InboxReader) -> None:
    """Hand the core the paused set read now, logging each change (l1.rollup_paused / l1.rollup_unpaused)."""
    paused = await paused_rollups(reader, sorted(node.core.rollups))
    before = node.core.paused
    for rid in sorted(paused - before):
        log.warning("l1.rollup_paused rollup %d is paused on L1: refusing new submissions for it", rid,
                    extra={"fields": {"event": "l1.rollup_paused", "rollup": rid}})
    for rid in sorted(before - paused):
        log.info("l1.rollup_unpaused rollup %d is active on L1 again: taking submissions", rid,
                 extra={"fields": {"event": "l1.rollup_unpaused", "rollup": rid}})
    node.core.paused = paused


async def follow_l1(node: SequencerNode, cfg: L1Config) -> None:
    """Run until cancelled: keep node.l1_origin and node.firm_height current."""
    poll = cfg.poll_ms / 1000
    backoff = poll
    async with L1Client(cfg.rpc_url, timeout_s=5.0) as client:
        reader = InboxReader(client, cfg.inbox) if cfg.inbox else None
        max_lag: int | None = None
        last_ok = time.monotonic()
        while True:
            try:
                if max_lag is None:
                    read = DEFAULT_MAX_ORIGIN_LAG
                    if reader is not None and await reader.has_view("maxOriginLag"):
                        read = int(await reader.view("maxOriginLag"))
                    max_lag = read
                    if cfg.lag > max_lag // 2:
                        log.warning("[l1] lag %d is more than half the inbox's maxOriginLag %d; using %d",
                                    cfg.lag, max_lag, max_lag // 2)
                if node.max_origin_drift_ms is None and reader is not None \
                        and await reader.has_view("catchUpAfterMs"):
                    node.max_origin_drift_ms = int(await reader.view("catchUpAfterMs")) // 2
                origin = await read_origin(client, cfg.lag, max_lag)
                block = await client.get_block(origin[0])
                current = node.l1_origin
                if current is not None and origin[0] < current[0]:
                    log.warning("L1 head went back: origin %d is below the current %d; keeping %d",
                                origin[0], current[0], current[0])
                node.l1_origin = origin
                if block is not None and (current is None or origin[0] >= current[0]):
                    node.l1_origin_time_ms = int(block["timestamp"], 16) * 1000
                if reader is not None:
                    next_height = int(await reader.view("nextHeight"))
                    if next_height > 0:
                        node.mark_firm(next_height - 1)
                    await update_paused(node, reader)
                if backoff > poll:
                    log.info("L1 RPC %s is back; L1 origin %d", cfg.rpc_url, origin[0])
                backoff = poll
                last_ok = time.monotonic()
            except (SharedSeqError, OSError) as exc:  # every L1 failure is retried; the last origin stays
                backoff = min(backoff * 2, 30.0)
                kept = node.l1_origin[0] if node.l1_origin is not None else None
                log.warning("l1.origin_stale L1 RPC %s failed (%s); keeping L1 origin %s for %.0fs now "
                            "(windows ending on it are postable only until L1 block origin + maxOriginLag); "
                            "retrying in %.1fs", cfg.rpc_url, exc, kept, time.monotonic() - last_ok, backoff,
                            extra={"fields": {"event": "l1.origin_stale", "origin": kept, "error": str(exc),
                                              "stale_s": round(time.monotonic() - last_ok, 1)}})
            await anyio.sleep(backoff)
