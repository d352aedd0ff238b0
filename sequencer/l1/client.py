"""The one async Ethereum JSON-RPC client of the project (aiohttp).

Every L1 reader and writer goes through `L1Client`: the sequencer's origin follower
(origin.py), the batcher (batcher.py), the rollup nodes (rollup_node/l1.py through
sequencer/l1/reader.py) and the integration tests' L1 checks.

    async with L1Client(url, timeout_s=5) as l1:     # or: l1 = L1Client(url); ...; await l1.close()
        head = await l1.block_number()
        out = await l1.eth_call(inbox, data, head)

Errors (sequencer/errors.py kinds): an unreachable or timing-out node, or a non-200 HTTP status,
raises `L1Unavailable` (Temporary: retry with backoff); a JSON-RPC error object raises `RpcError`,
whose `revert` names the custom error (of any project contract) when the node returned revert data
(`eth_estimateGas` / `eth_call` of a reverting call). Quantities come back as ints, data as bytes.

Asyncio only (issue 10 item 5): aiohttp runs on asyncio alone, and so does every module that reads
L1 through this client (origin.py, batcher.py, rollup_node/l1.py, soft.py, firm.py).
"""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

from sequencer.errors import Temporary


class L1Unavailable(Temporary):
    """The L1 node did not answer (connection refused, timeout, bad HTTP status)."""


class RpcError(Temporary):
    """The L1 node answered with a JSON-RPC error; `revert` is the contract error name if it was a revert."""

    def __init__(self, method: str, code: int, message: str, data: str | None) -> None:
        from .inbox import revert_name  # the ABI home imports artifacts; keep this module light

        self.method, self.code, self.message, self.data = method, code, message, data
        self.revert = revert_name(data)
        super().__init__(f"{method}: {message}" + (f" ({self.revert})" if self.revert else ""))


def _tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _bytes(value: Any) -> bytes:
    return bytes.fromhex(str(value or "0x")[2:])


class L1Client:
    """JSON-RPC over HTTP with one aiohttp session (opened on first use, closed by `close()` or `async with`)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> L1Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One JSON-RPC request; the raw `result`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        try:
            async with self._session.post(self.url, json=body) as resp:
                if resp.status != 200:
                    raise L1Unavailable(f"{method}: HTTP {resp.status} from {self.url}")
                reply = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise L1Unavailable(f"{method}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(reply, dict):
            raise L1Unavailable(f"{method}: {self.url} answered {type(reply).__name__}, not a JSON-RPC object")
        err = reply.get("error")
        if err:
            data = err.get("data")
            if isinstance(data, dict):  # geth nests the revert data one level down
                data = data.get("data")
            raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")),
                           data if isinstance(data, str) else None)
        return reply.get("result")

    # ------------------------------------------------------------------ chain

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def get_block(self, block: int | str = "latest", full: bool = False) -> dict[str, Any] | None:
        """eth_getBlockByNumber (None if the node has no such block)."""
        result = await self.call("eth_getBlockByNumber", [_tag(block), full])
        return result if isinstance(result, dict) else None

    async def block_hash(self, number: int) -> bytes | None:
        block = await self.get_block(number)
        return _bytes(block["hash"]) if block is not None else None

    async def get_code(self, address: str, block: int | str = "latest") -> bytes:
        return _bytes(await self.call("eth_getCode", [address, _tag(block)]))

    async def eth_call(self, to: str, data: str, block: int | str = "latest", sender: str | None = None) -> bytes:
        call: dict[str, Any] = {"to": to, "data": data}
        if sender is not None:
            call["from"] = sender
        return _bytes(await self.call("eth_call", [call, _tag(block)]))

    async def get_logs(self, address: str, topics: list[Any], from_block: int, to_block: int,
                       chunk: int = 10_000) -> list[dict[str, Any]]:
        """eth_getLogs over [from_block, to_block], `chunk` blocks per request (providers cap the range),
        in (block, log index) order. `topics` as in eth_getLogs (bytes are hex-encoded here)."""
        enc = [("0x" + t.hex()) if isinstance(t, bytes) else t for t in topics]
        out: list[dict[str, Any]] = []
        for lo in range(from_block, to_block + 1, chunk):
            hi = min(lo + chunk - 1, to_block)
            out.extend(await self.call("eth_getLogs", [{"address": address, "topics": enc,
                                                        "fromBlock": hex(lo), "toBlock": hex(hi)}]))
        return sorted(out, key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))

    async def get_transaction(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.call("eth_getTransactionByHash", [tx_hash])
        return result if isinstance(result, dict) else None

    async def get_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.call("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    # ------------------------------------------------------------------ sending

    async def nonce(self, address: str, block: str = "pending") -> int:
        return int(await self.call("eth_getTransactionCount", [address, block]), 16)

    async def estimate_gas(self, call: dict[str, Any]) -> int:
        return int(await self.call("eth_estimateGas", [call]), 16)

    async def send_raw(self, raw: bytes) -> str:
        """eth_sendRawTransaction; the hash the node returns."""
        return str(await self.call("eth_sendRawTransaction", ["0x" + raw.hex()]))

    async def base_fee(self) -> int:
        block = await self.get_block("latest")
        return int((block or {}).get("baseFeePerGas") or "0x0", 16)

    async def max_priority_fee(self, default: int = 10**9) -> int:
        """eth_maxPriorityFeePerGas, or `default` from a node without it."""
        try:
            return int(await self.call("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            return default

    async def blob_base_fee(self) -> int:
        return int(await self.call("eth_blobBaseFee"), 16)

    async def blob(self, versioned_hash: bytes) -> bytes | None:
        """A blob by versioned hash (anvil_getBlobByHash; unchecked: see reader.py)."""
        result = await self.call("anvil_getBlobByHash", ["0x" + versioned_hash.hex()])
        return _bytes(result) if result else None
