"""The L1 contracts' ABI in one place: calls, views, events, revert names, and the one `PostedWindow`.

Everything is derived from the compiled artifacts (contracts/artifacts, `make contracts`), so a
change of a Solidity signature changes the encoding here with no second copy to forget:

    data = calldata("postWindow", window_tuple(w), sig, ids, batches, forced_to, witness)
    name, args = decode_call(tx_input)                 # an inbox function's arguments by name
    ev = decode_event("WindowPosted", log)             # indexed and data fields by name
    revert_name(rpc_error.data) -> "WrongFirstHeight"  # any project contract's custom error
    posted_window(log) -> PostedWindow                 # the one type for a posting read from L1

Pure: no provider and no I/O (the async reads live in reader.py, the client in client.py).
Tuples are returned as dicts keyed by the struct's field names; `uint`s as int, `bytesN` / `bytes`
as bytes, addresses checksummed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from contracts import ARTIFACTS_DIR, load_artifact
from rollup_adapters.derivation import ForcedTx
from sequencer.core.commitments import NamespaceProof
from sequencer.core.signing import Signer
from sequencer.core.types import BlockHeader, Hash32, RollupId, SharedBlock
from sequencer.core.window import WindowCommitment, build_window, encode_witness, window_struct_hash
from sequencer.errors import Critical, DecodeError


class L1DataError(Critical):
    """Data read from L1 fails a check the contracts guarantee (a batch that does not hash to its
    recorded hash, a forced entry whose data does not match its hash, a gap in a queue): the L1 node
    is lying or the inbox is not ours. Readers stop rather than act on it."""


# ---------------------------------------------------------------------------- ABI types


def abi_type(item: dict[str, Any]) -> str:
    """The canonical ABI type of one input/output (tuples spelled out: `(uint64,bytes32)[]`)."""
    t = str(item["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + t[len("tuple"):]
    return t


def _shape(item: dict[str, Any], value: Any) -> Any:
    """A decoded value in Python form: tuples as dicts by field name, addresses checksummed."""
    t = str(item["type"])
    if t.endswith("]"):
        inner = dict(item, type=t[: t.rindex("[")])
        return [_shape(inner, v) for v in value]
    if t == "tuple":
        return {c["name"]: _shape(c, v) for c, v in zip(item["components"], value, strict=True)}
    if t == "address":
        return to_checksum_address(value)
    return value


def signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"


@cache
def contract_abi(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(load_artifact(name)["abi"])


def _find(contract: str, kind: str, name: str) -> dict[str, Any]:
    items = [i for i in contract_abi(contract) if i["type"] == kind and i["name"] == name]
    if len(items) != 1:
        raise KeyError(f"{contract} has {len(items)} {kind}s named {name!r}")
    return items[0]


# ---------------------------------------------------------------------------- calls and views


def calldata(fn: str, *args: Any, contract: str = "SequencerInbox") -> str:
    """0x-hex calldata of `contract.fn(*args)` (structs as tuples in field order)."""
    item = _find(contract, "function", fn)
    types = [abi_type(i) for i in item["inputs"]]
    return "0x" + (keccak(text=signature(item))[:4] + abi_encode(types, list(args))).hex()


def decode_output(fn: str, data: bytes, contract: str = "SequencerInbox") -> Any:
    """The return value of a view: one value, or a tuple of several."""
    item = _find(contract, "function", fn)
    outs = item["outputs"]
    try:
        values = abi_decode([abi_type(o) for o in outs], data)
    except Exception as exc:  # eth_abi raises several unrelated types for short data
        raise DecodeError(f"{contract}.{fn}: return data does not decode ({exc})") from exc
    shaped = [_shape(o, v) for o, v in zip(outs, values, strict=True)]
    return shaped[0] if len(shaped) == 1 else tuple(shaped)


@cache
def _selectors(contract: str) -> dict[bytes, dict[str, Any]]:
    return {keccak(text=signature(i))[:4]: i for i in contract_abi(contract) if i["type"] == "function"}


def decode_call(data: bytes, contract: str = "SequencerInbox") -> tuple[str, dict[str, Any]]:
    """(function name, arguments by name) of a call's input data."""
    item = _selectors(contract).get(bytes(data[:4]))
    if item is None:
        raise DecodeError(f"input 0x{bytes(data[:4]).hex()}: not a {contract} function")
    try:
        values = abi_decode([abi_type(i) for i in item["inputs"]], bytes(data[4:]))
    except Exception as exc:
        raise DecodeError(f"{contract}.{item['name']}: input does not decode ({exc})") from exc
    return item["name"], {i["name"]: _shape(i, v) for i, v in zip(item["inputs"], values, strict=True)}


def function_selector(fn: str, contract: str = "SequencerInbox") -> bytes:
    return keccak(text=signature(_find(contract, "function", fn)))[:4]


# ---------------------------------------------------------------------------- errors


@cache
def _errors() -> dict[bytes, dict[str, Any]]:
    """Custom errors of every compiled contract by selector (a revert may come from a contract the inbox calls)."""
    out: dict[bytes, dict[str, Any]] = {}
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        try:
            items = contract_abi(path.stem)
        except (KeyError, ValueError):
            continue
        for item in items:
            if item["type"] == "error":
                out.setdefault(keccak(text=signature(item))[:4], item)
    return out


def revert_name(data: str | bytes | None) -> str | None:
    """The custom error a revert's data starts with (None if none or unknown)."""
    if isinstance(data, str):
        if not data.startswith("0x") or len(data) < 10:
            return None
        data = bytes.fromhex(data[2:10])
    if not data or len(data) < 4:
        return None
    item = _errors().get(bytes(data[:4]))
    return str(item["name"]) if item else None


def describe_revert(data: str | bytes | None) -> str | None:
    """`Name(arg, ...)` of a revert with its decoded arguments (None if not a known custom error)."""
    raw = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else data
    if not isinstance(raw, bytes) or len(raw) < 4:
        return None
    item = _errors().get(raw[:4])
    if item is None:
        return None
    try:
        args = abi_decode([abi_type(i) for i in item["inputs"]], raw[4:])
    except Exception:  # truncated revert data: the name alone
        return str(item["name"])
    shown = ", ".join(f"{i['name']}={'0x' + v.hex() if isinstance(v, bytes) else v}"
                      for i, v in zip(item["inputs"], args, strict=True))
    return f"{item['name']}({shown})"


# ---------------------------------------------------------------------------- events


def event_topic(name: str, contract: str = "SequencerInbox") -> bytes:
    return keccak(text=signature(_find(contract, "event", name)))


def _hex(s: Any) -> bytes:
    return bytes(s) if isinstance(s, bytes | bytearray) else bytes.fromhex(str(s)[2:])


def decode_event(name: str, log: dict[str, Any], contract: str = "SequencerInbox") -> dict[str, Any]:
    """The fields of one log of event `name` by name (indexed ones from the topics)."""
    item = _find(contract, "event", name)
    topics = [_hex(t) for t in log["topics"]]
    if not topics or topics[0] != event_topic(name, contract):
        raise DecodeError(f"log is not a {contract}.{name} event")
    indexed = [i for i in item["inputs"] if i["indexed"]]
    plain = [i for i in item["inputs"] if not i["indexed"]]
    if len(topics) != 1 + len(indexed):
        raise DecodeError(f"{name}: {len(topics) - 1} indexed topics, expected {len(indexed)}")
    out: dict[str, Any] = {}
    try:
        for i, t in zip(indexed, topics[1:], strict=True):
            out[i["name"]] = _shape(i, abi_decode([abi_type(i)], t)[0])
        values = abi_decode([abi_type(i) for i in plain], _hex(log["data"]))
    except Exception as exc:
        raise DecodeError(f"{name}: log data does not decode ({exc})") from exc
    out.update({i["name"]: _shape(i, v) for i, v in zip(plain, values, strict=True)})
    return out


def decode_forced(log: dict[str, Any]) -> ForcedTx:
    """A ForcedTxEnqueued log as the derivation's ForcedTx; its data is checked against the logged hash."""
    ev = decode_event("ForcedTxEnqueued", log)
    data = bytes(ev["data"])
    if "txHash" in ev and keccak(data) != bytes(ev["txHash"]):
        raise L1DataError(f"forced tx {ev['seq']} of rollup {ev['rollupId']}: data does not match txHash")
    return ForcedTx(int(ev["rollupId"]), int(ev["seq"]), data, int(ev["l1Block"]), int(ev.get("deadline", 0)))


# ---------------------------------------------------------------------------- windows

WINDOW_FIELDS = ("firstHeight", "lastHeight", "parentHash", "lastBlockHash", "blocksRoot", "firstTimestamp",
                 "lastTimestamp", "l1OriginNumber", "l1OriginHash", "rollupsHash", "witnessHash")
"""SharedSeqLib.Window's fields in order (docs/settlement.md section 1)."""

WindowTuple = tuple[int, int, bytes, bytes, bytes, int, int, int, bytes, bytes, bytes]


def window_tuple(w: WindowCommitment) -> WindowTuple:
    """SharedSeqLib.Window(firstHeight, lastHeight, parentHash, lastBlockHash, blocksRoot, firstTimestamp,
    lastTimestamp, l1OriginNumber, l1OriginHash, rollupsHash, witnessHash) of a commitment."""
    return (w.first_height, w.last_height, w.parent_hash, w.last_block_hash, w.blocks_root, w.first_timestamp_ms,
            w.last_timestamp_ms, w.l1_origin_number, w.l1_origin_hash, w.rollups_hash, w.witness_hash)


def window_from_abi(win: dict[str, Any]) -> WindowCommitment:
    """A Window struct decoded from an event or calldata (dict by field name) as a WindowCommitment."""
    zero = bytes(32)
    return WindowCommitment(
        int(win["firstHeight"]), int(win["lastHeight"]), bytes(win.get("parentHash", zero)),
        bytes(win["lastBlockHash"]), bytes(win["blocksRoot"]), int(win.get("firstTimestamp", 0)),
        int(win.get("lastTimestamp", 0)), int(win.get("l1OriginNumber", 0)), bytes(win.get("l1OriginHash", zero)),
        bytes(win.get("rollupsHash", zero)), bytes(win.get("witnessHash", zero)))


@dataclass(frozen=True, slots=True)
class PostedWindow:
    """One posting as L1 recorded it (WindowPosted event i), the one type every reader uses.

    From the event: `window` (the signed commitment), `signer`, and per rollup `rollup_ids[i]`,
    `batch_hashes[i]` (keccak of the calldata batch, or the blobs' hash), `forced_to[i]` (the forced
    queue position after the window, docs/settlement.md section 4). From the posting transaction
    (reader.InboxReader.windows, None when only the events were read): `signature`, `witness`, and
    `batches[i]` checked against `batch_hashes[i]`.
    """

    index: int
    window: WindowCommitment
    signer: str
    rollup_ids: tuple[RollupId, ...]
    batch_hashes: tuple[Hash32, ...]
    forced_to: tuple[int, ...]
    l1_block: int
    tx_hash: str
    signature: bytes | None = None
    witness: bytes | None = None
    batches: tuple[bytes, ...] | None = None
    blobs: bool = False

    @property
    def first_height(self) -> int:
        return self.window.first_height

    @property
    def last_height(self) -> int:
        return self.window.last_height

    @property
    def last_block_hash(self) -> Hash32:
        return self.window.last_block_hash

    def batch_of(self, rollup_id: RollupId) -> bytes | None:
        """This rollup's batch (None if the window does not list it, or batches were not read)."""
        if self.batches is None:
            return None
        for rid, data in zip(self.rollup_ids, self.batches, strict=True):
            if rid == rollup_id:
                return data
        return None

    def forced_to_of(self, rollup_id: RollupId) -> int | None:
        for rid, n in zip(self.rollup_ids, self.forced_to, strict=True):
            if rid == rollup_id:
                return n
        return None


def posted_window(log: dict[str, Any]) -> PostedWindow:
    """A WindowPosted log as a PostedWindow (event fields only)."""
    ev = decode_event("WindowPosted", log)
    ids = tuple(int(r) for r in ev["rollupIds"])
    hashes = tuple(bytes(h) for h in ev["batchHashes"])
    forced = tuple(int(f) for f in ev.get("forcedTo", ev.get("forcedRead", ())))
    if not (len(ids) == len(hashes) == len(forced)):
        raise DecodeError(f"WindowPosted {ev['windowIndex']}: rollupIds, batchHashes and forcedTo differ in length")
    return PostedWindow(int(ev["windowIndex"]), window_from_abi(ev["window"]), str(ev["signer"]), ids, hashes,
                        forced, int(log["blockNumber"], 16), str(log["transactionHash"]))


# ---------------------------------------------------------------------------- core values as ABI arguments
# Tuples follow the Solidity structs in SharedSeqLib.sol field by field.

HeaderTuple = tuple[int, bytes, int, int, bytes, bytes, int, bytes]


def header_tuple(h: BlockHeader) -> HeaderTuple:
    """SharedSeqLib.BlockHeader(height, parentHash, timestamp, l1OriginNumber, l1OriginHash,
    namespacesRoot, namespaceCount, bundlesRoot)."""
    return (h.height, h.parent_hash, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, h.namespaces_root,
            h.namespace_count, h.bundles_root)


def header_from_abi(t: dict[str, Any] | Sequence[Any]) -> BlockHeader:
    """A BlockHeader struct decoded by this module (dict) or by web3 (tuple) as a BlockHeader."""
    v = list(t.values()) if isinstance(t, dict) else list(t)
    return BlockHeader(int(v[0]), bytes(v[1]), int(v[2]), int(v[3]), bytes(v[4]), bytes(v[5]), int(v[6]),
                       bytes(v[7]))


def receipt_tuple(rollup_id: int, tx_hash: Hash32, height: int, index: int) -> tuple[int, bytes, int, int]:
    """SharedSeqLib.Receipt(rollupId, txHash, height, index)."""
    return (rollup_id, tx_hash, height, index)


def namespace_leaf_tuple(proof: NamespaceProof) -> tuple[int, int, bytes, int, list[bytes]]:
    """SharedSeqLib.NamespaceLeaf(index, rollupId, txRoot, txCount, path) of a present namespace."""
    if not proof.present:
        raise ValueError("the namespace is absent; use absence_neighbours()")
    return (proof.leaf_index, proof.rollup_id, proof.tx_root, proof.tx_count, list(proof.path))


def absence_neighbours(proof: NamespaceProof) -> list[tuple[int, int, bytes, int, list[bytes]]]:
    """The NamespaceLeaf[] for SequencerBond.proveReceiptNamespaceAbsent."""
    return [(i, rid, root, count, list(path)) for i, rid, root, count, path in proof.neighbours]


def post_window_args(blocks: Sequence[SharedBlock], rollup_ids: Sequence[RollupId], batches: Sequence[bytes],
                     forced_to: Sequence[int], signer: Signer) -> tuple[WindowTuple, bytes, list[int], list[bytes],
                                                                         list[int], bytes]:
    """postWindow(w, sig, rollupIds, batches, forcedTo, witness) for a calldata posting of `blocks`, the
    Window signed by `signer` (the batcher builds the same through windows.commit_window; this is for
    tests, benchmarks and gas reports that post hand-made windows)."""
    witness = encode_witness(blocks)
    w = build_window(blocks, rollup_ids, [keccak(b) for b in batches], forced_to, witness)
    return window_tuple(w), signer.sign_struct(window_struct_hash(w)), list(rollup_ids), list(batches), \
        list(forced_to), witness
