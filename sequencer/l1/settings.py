"""The `[l1]` table's settings, apart from the follower that uses them (origin.py).

Kept in a module of its own, importing nothing, so reading a config (sequencer/config.py) does not
load the L1 stack (aiohttp, eth_abi: most of a cold `sharedseq serve`'s start, issue 13 "restart")
for a sequencer that has no `[l1]` table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class L1Config:
    """The `[l1]` table of `sharedseq serve`: the L1 RPC, the inbox, poll period (ms), origin lag (blocks)."""

    rpc_url: str
    inbox: str | None = None
    poll_ms: int = 1000
    lag: int = 0
