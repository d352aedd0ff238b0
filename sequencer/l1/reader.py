"""Reading the inbox on L1 (async, over the one L1Client): state, forced queues, postings, blobs.

    reader = InboxReader(L1Client(url), inbox_address)
    head = await reader.head()
    n = await reader.view("nextHeight", block=head)
    queue = await reader.forced_txs(rollup_id, 0, head)           # gap-free, hashes checked
    windows = await reader.windows(0, head)                        # events + calldata/blobs, checked
    fmt, block_time_ms, genesis_ms = await reader.rollup_spec(rollup_id)

A posting's content comes from the transaction that emitted its WindowPosted log: its input when it
called the inbox directly, or, for a poster that is a contract (a multisig), the inbox calls in the
transaction's call trace (debug_traceTransaction with the callTracer). The i-th WindowPosted log
of a transaction belongs to its i-th successful postWindow / postWindowBlobs call. Every batch is
checked against the batch hash the event recorded: keccak256 of a calldata batch, or for
postWindowBlobs the blobs' versioned hashes (blobs.batch_hash), each blob fetched by versioned hash
(anvil_getBlobByHash) and checked against it. A failed check raises L1DataError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from rollup_adapters.derivation import ForcedTx
from sequencer.core.types import RollupId
from sequencer.errors import DecodeError, NotFound

from . import blobs as blob_codec
from .client import L1Client, RpcError
from .inbox import (
    L1DataError,
    PostedWindow,
    calldata,
    decode_call,
    decode_forced,
    decode_output,
    event_topic,
    function_selector,
    posted_window,
)

POSTING_FUNCTIONS = ("postWindow", "postWindowBlobs")


class InboxReader:
    """One SequencerInbox seen through an L1Client (which the caller owns and closes)."""

    def __init__(self, client: L1Client, inbox: str, log_chunk_blocks: int = 10_000) -> None:
        self.client = client
        self.address = to_checksum_address(inbox)
        self.log_chunk_blocks = log_chunk_blocks
        self.window_topic = event_topic("WindowPosted")
        self.forced_topic = event_topic("ForcedTxEnqueued")

    async def head(self) -> int:
        return await self.client.block_number()

    async def view(self, fn: str, *args: Any, block: int | str = "latest", contract: str = "SequencerInbox",
                   address: str | None = None) -> Any:
        """A view of the inbox (or of `contract` at `address`), decoded."""
        out = await self.client.eth_call(address or self.address, calldata(fn, *args, contract=contract), block)
        return decode_output(fn, out, contract)

    async def has_view(self, fn: str, *args: Any, block: int | str = "latest") -> bool:
        """Whether the inbox's ABI and code both have view `fn` (false on an older inbox)."""
        try:
            function_selector(fn)
        except KeyError:
            return False
        try:
            await self.view(fn, *args, block=block)
        except (DecodeError, RpcError):  # no such function in the deployed code: it reverts
            return False
        return True

    # ------------------------------------------------------------------ forced queue

    async def forced_txs(self, rollup_id: RollupId | None, from_block: int, to_block: int) -> list[ForcedTx]:
        """ForcedTxEnqueued events (of one rollup, or all) in L1 blocks from_block..to_block, in order."""
        if to_block < from_block:
            return []
        topics: list[Any] = [self.forced_topic]
        if rollup_id is not None:
            topics.append(rollup_id.to_bytes(32, "big"))
        logs = await self.client.get_logs(self.address, topics, from_block, to_block, self.log_chunk_blocks)
        return [decode_forced(lg) for lg in logs]

    # ------------------------------------------------------------------ postings

    async def window_events(self, from_block: int, to_block: int) -> list[PostedWindow]:
        """WindowPosted events in L1 blocks from_block..to_block (event fields only), in log order."""
        if to_block < from_block:
            return []
        logs = await self.client.get_logs(self.address, [self.window_topic], from_block, to_block,
                                          self.log_chunk_blocks)
        return [posted_window(lg) for lg in logs]

    async def windows(self, from_block: int, to_block: int) -> list[PostedWindow]:
        """Postings in L1 blocks from_block..to_block with their signature, witness and checked batches."""
        events = await self.window_events(from_block, to_block)
        out: list[PostedWindow] = []
        by_tx: dict[str, list[dict[str, Any]]] = {}
        for w in events:
            if w.tx_hash not in by_tx:
                by_tx[w.tx_hash] = await self._posting_calls(w)
            calls = by_tx[w.tx_hash]
            if not calls:
                raise L1DataError(f"window {w.index}: tx {w.tx_hash} has no {' / '.join(POSTING_FUNCTIONS)} call "
                                  f"to the inbox left for it")
            out.append(await self._with_content(w, calls.pop(0)))
        return out

    async def _posting_calls(self, w: PostedWindow) -> list[dict[str, Any]]:
        """The inbox posting calls of the transaction that emitted `w`, in execution order."""
        tx = await self.client.get_transaction(w.tx_hash)
        if tx is None:
            raise L1DataError(f"window {w.index}: the L1 node does not serve its transaction {w.tx_hash}")
        versioned = [bytes.fromhex(h[2:]) for h in (tx.get("blobVersionedHashes") or [])]
        if tx.get("to") and to_checksum_address(tx["to"]) == self.address:
            inputs = [bytes.fromhex(str(tx["input"])[2:])]
        else:
            trace = await self.client.call("debug_traceTransaction", [w.tx_hash, {"tracer": "callTracer"}])
            inputs = list(self._inbox_inputs(trace))
        calls = []
        for data in inputs:
            try:
                name, args = decode_call(data)
            except DecodeError:
                continue
            if name in POSTING_FUNCTIONS:
                calls.append({"fn": name, "args": args, "versioned": versioned})
        return calls

    def _inbox_inputs(self, frame: Any) -> Sequence[bytes]:
        """Inputs of successful calls to the inbox in a callTracer frame tree (depth first, in order)."""
        out: list[bytes] = []
        if not isinstance(frame, dict) or frame.get("error"):
            return out  # a reverted frame's events were rolled back with it
        to = frame.get("to")
        if to and to_checksum_address(to) == self.address and frame.get("type") in ("CALL", "DELEGATECALL"):
            out.append(bytes.fromhex(str(frame.get("input", "0x"))[2:]))
        for sub in frame.get("calls") or []:
            out.extend(self._inbox_inputs(sub))
        return out

    async def _with_content(self, w: PostedWindow, call: dict[str, Any]) -> PostedWindow:
        args = call["args"]
        ids = tuple(int(r) for r in args["rollupIds"])
        if ids != w.rollup_ids:
            raise L1DataError(f"window {w.index}: calldata rollup ids {ids} differ from the event's {w.rollup_ids}")
        if call["fn"] == "postWindow":
            batches = tuple(bytes(b) for b in args["batches"])
            for rid, data, h in zip(ids, batches, w.batch_hashes, strict=True):
                if keccak(data) != h:
                    raise L1DataError(f"window {w.index}: batch of rollup {rid} does not hash to the recorded "
                                      f"batch hash")
        else:
            batches = await self._blob_batches(w, [int(n) for n in args["blobCounts"]], call["versioned"])
        sig = args.get("sig")
        witness = args.get("witness")
        return PostedWindow(w.index, w.window, w.signer, w.rollup_ids, w.batch_hashes, w.forced_to, w.l1_block,
                            w.tx_hash, bytes(sig) if sig is not None else None,
                            bytes(witness) if witness is not None else None, batches, call["fn"] == "postWindowBlobs")

    async def blob(self, vh: bytes) -> bytes:
        """One blob by versioned hash from the L1 node, checked against the hash."""
        data = await self.client.blob(vh)
        if not data:
            raise L1DataError(f"blob 0x{vh.hex()}: not available from the L1 node")
        if len(data) != blob_codec.BLOB_SIZE or blob_codec.blob_versioned_hash(data) != vh:
            raise L1DataError(f"blob 0x{vh.hex()}: content does not match its versioned hash")
        return data

    async def _blob_batches(self, w: PostedWindow, counts: list[int], versioned: list[bytes]) -> tuple[bytes, ...]:
        if len(counts) != len(w.rollup_ids) or sum(counts) != len(versioned) or any(n < 1 for n in counts):
            raise L1DataError(f"window {w.index}: blobCounts {counts} do not match the {len(versioned)} blobs")
        out = []
        off = 0
        for rid, n, h in zip(w.rollup_ids, counts, w.batch_hashes, strict=True):
            mine = versioned[off:off + n]
            off += n
            if blob_codec.batch_hash(mine) != h:
                raise L1DataError(f"window {w.index}: blobs of rollup {rid} do not match the recorded batch hash")
            try:
                out.append(blob_codec.unpack_batch([await self.blob(v) for v in mine]))
            except DecodeError as exc:
                raise L1DataError(f"window {w.index}: blobs of rollup {rid} do not decode: {exc}") from exc
        return tuple(out)

    # ------------------------------------------------------------------ the registry

    async def registry(self) -> str:
        """The RollupRegistry behind the inbox; NotFound if there is no inbox at the address."""
        if not await self.client.get_code(self.address):
            raise NotFound(f"no contract at inbox {self.address} on the L1 (wrong inbox address or L1 RPC?)")
        try:
            return str(await self.view("registry"))
        except (DecodeError, RpcError) as exc:
            raise NotFound(f"{self.address} does not answer as a SequencerInbox ({exc})") from exc

    async def rollup_spec(self, rollup_id: RollupId) -> tuple[str, int, int]:
        """(format, block_time_ms, genesis_time_ms) of a registered rollup; NotFound if unregistered."""
        registry = await self.registry()
        if not await self.view("isRegistered", rollup_id, contract="RollupRegistry", address=registry):
            raise NotFound(f"rollup {rollup_id} is not registered in the RollupRegistry {registry} "
                           f"behind inbox {self.address}")
        rollup = await self.view("getRollup", rollup_id, contract="RollupRegistry", address=registry)
        block_time_ms, genesis_ms = abi_decode(["uint64", "uint64"], bytes(rollup["config"]))
        return bytes(rollup["format"]).rstrip(b"\x00").decode(), int(block_time_ms), int(genesis_ms)

    async def active_rollups(self, ids: Sequence[RollupId], block: int | str = "latest") -> tuple[RollupId, ...]:
        """Those of `ids` the registry has registered and not paused (the ones a window may list)."""
        registry = await self.registry()
        return tuple([rid for rid in ids
                      if await self.view("isActive", rid, contract="RollupRegistry", address=registry, block=block)])
