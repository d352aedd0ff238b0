"""A small async Ethereum JSON-RPC client (aiohttp) and the SequencerInbox ABI the batcher needs.

Errors: an unreachable or timing-out node raises `L1Unavailable` (Temporary: retry with backoff);
a JSON-RPC error object raises `RpcError`, whose `revert` names the inbox's custom error when the
node returned revert data (`eth_estimateGas` / `eth_call` of a reverting call).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from contracts import load_artifact
from rollup_adapters.derivation import ForcedTx
from sequencer.errors import Temporary


class L1Unavailable(Temporary):
    """The L1 node did not answer (connection refused, timeout, bad HTTP status)."""


class RpcError(Temporary):
    """The L1 node answered with a JSON-RPC error; `revert` is the inbox error name if it was a revert."""

    def __init__(self, method: str, code: int, message: str, data: str | None) -> None:
        self.method, self.code, self.message, self.data = method, code, message, data
        self.revert = revert_name(data)
        super().__init__(f"{method}: {message}" + (f" ({self.revert})" if self.revert else ""))


class L1Rpc:
    """JSON-RPC over HTTP; use as an async context manager (one aiohttp session)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> L1Rpc:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        assert self._session is not None, "use L1Rpc as an async context manager"
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        try:
            async with self._session.post(self.url, json=body) as resp:
                if resp.status != 200:
                    raise L1Unavailable(f"{method}: HTTP {resp.status} from {self.url}")
                reply = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise L1Unavailable(f"{method}: {type(exc).__name__}: {exc}") from exc
        err = reply.get("error")
        if err:
            data = err.get("data")
            if isinstance(data, dict):
                data = data.get("data")
            raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")),
                           data if isinstance(data, str) else None)
        return reply.get("result")

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def eth_call(self, to: str, data: str, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(str(await self.call("eth_call", [{"to": to, "data": data}, tag]))[2:])

    async def get_logs(self, address: str, topic0: bytes, from_block: int, to_block: int,
                       chunk: int = 10_000) -> list[dict[str, Any]]:
        """eth_getLogs over [from_block, to_block], `chunk` blocks per request (providers cap the range)."""
        out: list[dict[str, Any]] = []
        for lo in range(from_block, to_block + 1, chunk):
            hi = min(lo + chunk - 1, to_block)
            out.extend(await self.call("eth_getLogs", [{"address": address, "topics": ["0x" + topic0.hex()],
                                                        "fromBlock": hex(lo), "toBlock": hex(hi)}]))
        return out


# ---------------------------------------------------------------------------- the inbox ABI

INBOX = Web3().eth.contract(abi=load_artifact("SequencerInbox")["abi"])
"""Offline contract object: ABI encoding only, never a provider."""


def _error_selectors() -> dict[bytes, str]:
    out = {}
    for item in INBOX.abi:
        if item["type"] == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            out[keccak(text=sig)[:4]] = item["name"]
    return out


ERRORS = _error_selectors()


def revert_name(data: str | None) -> str | None:
    """The inbox custom error a revert's data starts with (None if none or unknown)."""
    if not data or not data.startswith("0x") or len(data) < 10:
        return None
    return ERRORS.get(bytes.fromhex(data[2:10]))


def calldata(fn: str, *args: Any) -> str:
    return INBOX.encode_abi(fn, args=list(args))


WINDOW_TYPES = "(uint64,uint64,uint64,bytes32,bytes32,bytes32)"
WINDOW_POSTED_TOPIC = keccak(text=f"WindowPosted(uint256,{WINDOW_TYPES},address,uint64[],bytes32[],uint64[])")
FORCED_TOPIC = keccak(text="ForcedTxEnqueued(uint64,uint64,bytes32,uint64,uint64,bytes)")


@dataclass(frozen=True, slots=True)
class PostedWindow:
    """A WindowPosted event: blocks first_height..last_height and the hash of each rollup's batch."""

    index: int
    first_height: int
    last_height: int
    l1_block: int
    last_block_hash: bytes
    blocks_root: bytes
    signer: str
    rollup_ids: tuple[int, ...]
    batch_hashes: tuple[bytes, ...]
    forced_read: tuple[int, ...]
    tx_hash: str
    log_block: int


def _hex_bytes(s: str) -> bytes:
    return bytes.fromhex(s[2:])


def decode_window_posted(log: dict[str, Any]) -> PostedWindow:
    index = int(log["topics"][1], 16)
    (first, last, l1_block, last_hash, root, _bh), signer, ids, hashes, forced = abi_decode(
        [WINDOW_TYPES, "address", "uint64[]", "bytes32[]", "uint64[]"], _hex_bytes(log["data"]))
    return PostedWindow(index, first, last, l1_block, bytes(last_hash), bytes(root), to_checksum_address(signer),
                        tuple(ids), tuple(bytes(h) for h in hashes), tuple(forced), str(log["transactionHash"]),
                        int(log["blockNumber"], 16))


def decode_forced(log: dict[str, Any]) -> ForcedTx:
    rollup_id = int(log["topics"][1], 16)
    seq = int(log["topics"][2], 16)
    _tx_hash, l1_block, deadline, data = abi_decode(["bytes32", "uint64", "uint64", "bytes"], _hex_bytes(log["data"]))
    return ForcedTx(rollup_id, seq, bytes(data), l1_block, deadline)
