"""Follow the L1: the sequencer's L1 origin and the firm height.

Each shared block names the L1 block it builds on. This shell polls the L1
head and hands `(number, hash)` of the block `lag` below it to the node (a
small lag keeps shallow L1 reorgs out of the origin), and reads the inbox's
`nextHeight` to learn which shared blocks are firm. L1 trouble is logged and
retried with backoff; the node keeps sealing with its last known origin.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass

import anyio
import anyio.to_thread

from sequencer.core.hashing import keccak
from sequencer.service.node import SequencerNode

log = logging.getLogger("sharedseq.l1")

@dataclass(frozen=True, slots=True)
class L1Config:
    rpc_url: str
    inbox: str | None = None
    poll_ms: int = 1000
    lag: int = 0


def _rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def _selector(signature: str) -> str:
    return "0x" + keccak(signature.encode())[:4].hex()


def read_origin(cfg: L1Config) -> tuple[int, bytes]:
    head = int(str(_rpc(cfg.rpc_url, "eth_blockNumber", [])), 16)
    number = max(0, head - cfg.lag)
    block = _rpc(cfg.rpc_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return number, bytes.fromhex(str(block["hash"])[2:])


def read_next_height(cfg: L1Config) -> int:
    assert cfg.inbox
    out = _rpc(cfg.rpc_url, "eth_call", [{"to": cfg.inbox, "data": _selector("nextHeight()")}, "latest"])
    return int(str(out), 16)


async def follow_l1(node: SequencerNode, cfg: L1Config) -> None:
    """Run until cancelled: keep node.l1_origin and node.firm_height current."""
    backoff = cfg.poll_ms / 1000
    while True:
        try:
            node.l1_origin = await anyio.to_thread.run_sync(read_origin, cfg)
            if cfg.inbox:
                next_height = await anyio.to_thread.run_sync(read_next_height, cfg)
                if next_height > 0:
                    node.mark_firm(next_height - 1)
            backoff = cfg.poll_ms / 1000
        except Exception as exc:  # noqa: BLE001 - any L1 failure is retried
            backoff = min(backoff * 2, 30.0)
            log.warning("L1 RPC %s failed (%s); retrying in %.1fs", cfg.rpc_url, exc, backoff)
        await anyio.sleep(backoff)
