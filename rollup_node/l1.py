"""Reading the inbox on L1: the forced-inclusion queue and the posted windows.

A window's batches come from its postWindow calldata, or, for postWindowBlobs, from the
transaction's EIP-4844 blobs: fetched by versioned hash with anvil's `anvil_getBlobByHash`, each
checked (KZG commitment -> 0x01 ++ sha256(commitment)[1:]) against the transaction's
blobVersionedHashes, grouped per rollup by the calldata's blobCounts, checked against the event's
batch hashes and decoded (sequencer/l1/blobs.py: version-0 encoding, a rollup's blobs concatenated).

Both followers use it from a worker thread (web3's HTTP provider is blocking). Events are read in
(block, log index) order; a rollup's forced queue is checked to be gap-free (seq 0, 1, 2, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from contracts import load_artifact
from rollup_adapters.derivation import ForcedTx
from sequencer.core.types import BlockHeader
from sequencer.errors import DecodeError
from sequencer.l1 import blobs as blob_codec

from .errors import NodeConfigError, VerificationError


@dataclass(frozen=True, slots=True)
class PostedWindow:
    """One WindowPosted event with the batches from its postWindow calldata."""

    index: int
    l1_block: int
    first: BlockHeader
    last: BlockHeader
    rollup_ids: tuple[int, ...]
    batches: tuple[bytes, ...]
    forced_read: tuple[int, ...]

    def batch_of(self, rollup_id: int) -> bytes | None:
        for rid, data in zip(self.rollup_ids, self.batches, strict=True):
            if rid == rollup_id:
                return data
        return None


def _header(t: Any) -> BlockHeader:
    return BlockHeader(int(t[0]), bytes(t[1]), int(t[2]), int(t[3]), bytes(t[4]), bytes(t[5]), int(t[6]),
                       bytes(t[7]))


class InboxReader:
    """A blocking reader of one SequencerInbox."""

    def __init__(self, rpc_url: str, inbox: str) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
        self.address = to_checksum_address(inbox)
        self.inbox = self.w3.eth.contract(address=self.address, abi=load_artifact("SequencerInbox")["abi"])
        self.window_topic = self.inbox.events.WindowPosted().topic
        self.forced_topic = self.inbox.events.ForcedTxEnqueued().topic

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def _logs(self, topics: list, from_block: int, to_block: int) -> list[Any]:
        if to_block < from_block:
            return []
        logs = self.w3.eth.get_logs({"address": self.address, "fromBlock": from_block, "toBlock": to_block,
                                     "topics": topics})
        return sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))

    def forced_txs(self, rollup_id: int, from_block: int, to_block: int) -> list[ForcedTx]:
        """ForcedTxEnqueued events of one rollup in L1 blocks from_block..to_block."""
        topic_rid = "0x" + rollup_id.to_bytes(32, "big").hex()
        out = []
        for lg in self._logs([self.forced_topic, topic_rid], from_block, to_block):
            ev = self.inbox.events.ForcedTxEnqueued().process_log(lg)["args"]
            data = bytes(ev["data"])
            if keccak(data) != bytes(ev["txHash"]):
                raise VerificationError(f"forced tx {ev['seq']} of rollup {rollup_id}: data does not match txHash")
            out.append(ForcedTx(int(ev["rollupId"]), int(ev["seq"]), data, int(ev["l1Block"]), int(ev["deadline"])))
        return out

    def windows(self, from_block: int, to_block: int) -> list[PostedWindow]:
        """WindowPosted events in L1 blocks from_block..to_block, each with its batches from the calldata,
        checked against the event's batch hashes."""
        out = []
        for lg in self._logs([self.window_topic], from_block, to_block):
            ev = self.inbox.events.WindowPosted().process_log(lg)["args"]
            tx = self.w3.eth.get_transaction(lg["transactionHash"])
            if tx["to"] is None or to_checksum_address(tx["to"]) != self.address:
                raise VerificationError(f"window {ev['windowIndex']}: posted by a call not sent to the inbox "
                                        f"(tx {lg['transactionHash'].hex()}); only direct postWindow calls are read")
            fn, params = self.inbox.decode_function_input(tx["input"])
            w = params["w"]
            ids = tuple(int(r) for r in params["rollupIds"])
            if ids != tuple(int(r) for r in ev["rollupIds"]):
                raise VerificationError(f"window {ev['windowIndex']}: calldata rollup ids differ from the event's")
            hashes = [bytes(h) for h in ev["batchHashes"]]
            if fn.fn_name == "postWindow":
                batches = tuple(bytes(b) for b in params["batches"])
                for rid, data, h in zip(ids, batches, hashes, strict=True):
                    if keccak(data) != h:
                        raise VerificationError(f"window {ev['windowIndex']}: batch of rollup {rid} does not hash "
                                                f"to the recorded batch hash")
            elif fn.fn_name == "postWindowBlobs":
                batches = self._blob_batches(int(ev["windowIndex"]), tx, ids, [int(n) for n in params["blobCounts"]],
                                             hashes)
            else:
                raise VerificationError(f"window {ev['windowIndex']}: transaction calls {fn.fn_name}, "
                                        f"not postWindow / postWindowBlobs")
            first = _header(w[0] if not isinstance(w, dict) else tuple(w["first"].values()))
            last = _header(w[2] if not isinstance(w, dict) else tuple(w["last"].values()))
            win = ev["window"]
            if (first.height, last.height) != (int(win["firstHeight"]), int(win["lastHeight"])):
                raise VerificationError(f"window {ev['windowIndex']}: calldata heights differ from the event's")
            out.append(PostedWindow(int(ev["windowIndex"]), int(lg["blockNumber"]), first, last, ids, batches,
                                    tuple(int(x) for x in ev["forcedRead"])))
        return out


    def blob(self, vh: bytes) -> bytes:
        """One blob by versioned hash from the L1 node (anvil_getBlobByHash), checked against the hash."""
        reply = self.w3.provider.make_request("anvil_getBlobByHash", ["0x" + vh.hex()])  # type: ignore[arg-type]
        if "error" in reply:
            raise VerificationError(f"blob 0x{vh.hex()}: the L1 node cannot serve blobs: {reply['error']}")
        result = reply.get("result")
        if not result:
            raise VerificationError(f"blob 0x{vh.hex()}: not available from the L1 node")
        data = bytes.fromhex(str(result).removeprefix("0x"))
        if len(data) != blob_codec.BLOB_SIZE or blob_codec.blob_versioned_hash(data) != vh:
            raise VerificationError(f"blob 0x{vh.hex()}: content does not match its versioned hash")
        return data

    def _blob_batches(self, index: int, tx: Any, ids: tuple[int, ...], counts: list[int],
                      hashes: list[bytes]) -> tuple[bytes, ...]:
        versioned = [bytes(h) for h in (tx.get("blobVersionedHashes") or [])]
        if len(counts) != len(ids) or sum(counts) != len(versioned) or any(n < 1 for n in counts):
            raise VerificationError(f"window {index}: blobCounts {counts} do not match the {len(versioned)} blobs")
        out = []
        off = 0
        for rid, n, h in zip(ids, counts, hashes, strict=True):
            mine = versioned[off:off + n]
            off += n
            if blob_codec.batch_hash(mine) != h:
                raise VerificationError(f"window {index}: blobs of rollup {rid} do not match the recorded batch hash")
            try:
                out.append(blob_codec.unpack_batch([self.blob(v) for v in mine]))
            except DecodeError as exc:
                raise VerificationError(f"window {index}: blobs of rollup {rid} do not decode: {exc}") from exc
        return tuple(out)


class ForcedQueue:
    """One rollup's forced-inclusion queue, read from L1 as far as needed (rule F needs every entry
    whose deadline is at or before a block's L1 origin; those were enqueued at or before it)."""

    def __init__(self, reader: InboxReader | None, rollup_id: int) -> None:
        self.reader = reader
        self.rollup_id = rollup_id
        self.items: list[ForcedTx] = []
        self.read_through = -1

    def read_to(self, l1_block: int) -> list[ForcedTx]:
        """Make sure every event up to L1 block `l1_block` is read; return the queue."""
        if self.reader is None or l1_block <= self.read_through:
            return self.items
        for f in self.reader.forced_txs(self.rollup_id, self.read_through + 1, l1_block):
            if f.seq != len(self.items):
                raise VerificationError(f"forced queue of rollup {self.rollup_id}: seq {f.seq} at position "
                                        f"{len(self.items)}")
            self.items.append(f)
        self.read_through = l1_block
        return self.items


def read_rollup_spec(reader: InboxReader, rollup_id: int) -> tuple[str, int, int]:
    """(format, block_time_ms, genesis_time_ms) of a rollup from the RollupRegistry behind the inbox.
    No contract at the inbox address, or a rollup the registry does not know, is a NodeConfigError."""
    if not bytes(reader.w3.eth.get_code(reader.address)):
        raise NodeConfigError(f"no contract at inbox {reader.address} on the L1 (wrong --inbox or --l1-rpc?)")
    try:
        registry_addr = reader.inbox.functions.registry().call()
    except (BadFunctionCallOutput, ContractLogicError) as exc:
        raise NodeConfigError(f"{reader.address} does not answer as a SequencerInbox ({exc})") from exc
    registry = reader.w3.eth.contract(address=registry_addr, abi=load_artifact("RollupRegistry")["abi"])
    if not registry.functions.isRegistered(rollup_id).call():
        raise NodeConfigError(f"rollup {rollup_id} is not registered in the RollupRegistry {registry_addr} "
                              f"behind inbox {reader.address}")
    fmt, _operator, _paused, _name, cfg = registry.functions.getRollup(rollup_id).call()
    block_time_ms, genesis_ms = abi_decode(["uint64", "uint64"], bytes(cfg))
    return bytes(fmt).rstrip(b"\x00").decode(), int(block_time_ms), int(genesis_ms)
