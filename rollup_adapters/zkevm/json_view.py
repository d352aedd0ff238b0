# JSON view (the operator's `sharedseq batch decode|encode --format zkevm`):
#   batch layer        = {"blocks": [{"delta_timestamp", "index_l1_info_tree", "txs": [tx, ...]}, ...]}
#   forced-batch layer = {"txs": [tx, ...]}
#   tx = {"hash", "nonce", "gas_price", "gas", "to", "value", "data", "chain_id", "v", "r", "s",
#         "effective_percentage"}
# Hex strings are 0x-prefixed, integers are JSON numbers, `to` is null for a contract
# creation, `chain_id` is null for a pre-EIP-155 signature (the 6-field entry form).
# An entry the node accepts but the strict codec would not write (node_read.py) adds
#   "raw_entry": hex (encode writes it back verbatim) and "note": why it is not canonical;
#   its "v" is then the V the node computes, and "v_byte" the entry's byte.
"""Batches as JSON documents and back.

`hash` is keccak256 of the raw signed legacy tx the entry stands for; it is
derived, so `encode_json` ignores it. `v` is the entry's byte, 27 or 28.
"""

from __future__ import annotations

from typing import Any

from sequencer.errors import BadInput

from .batch_v2 import BatchV2, ForcedBatchV2, L2Block
from .l2_block_change import U32_MAX, L2BlockChange
from .legacy_tx import PRE_EIP155_V, SignedLegacyTx
from .node_read import NodeBlock, NodeTx, read_tx_entry
from .tx_entry import BatchTx, RawTxEntry

U64_MAX = 2**64 - 1
U256_MAX = 2**256 - 1


def batch_to_json(batch: BatchV2) -> dict[str, Any]:
    return {
        "blocks": [
            {
                "delta_timestamp": block.change.delta_timestamp,
                "index_l1_info_tree": block.change.index_l1_info_tree,
                "txs": [tx_to_json(tx) for tx in block.txs],
            }
            for block in batch.blocks
        ]
    }


def node_batch_to_json(blocks: tuple[NodeBlock, ...]) -> dict[str, Any]:
    """The batch as the node reads it (node_read.read_batch_v2); canonical entries look as
    batch_to_json shows them."""
    return {
        "blocks": [
            {
                "delta_timestamp": block.change.delta_timestamp,
                "index_l1_info_tree": block.change.index_l1_info_tree,
                "txs": [node_tx_to_json(tx) for tx in block.txs],
            }
            for block in blocks
        ]
    }


def node_forced_batch_to_json(txs: tuple[NodeTx, ...]) -> dict[str, Any]:
    return {"txs": [node_tx_to_json(tx) for tx in txs]}


def node_tx_to_json(tx: NodeTx) -> dict[str, Any]:
    if tx.strict is not None:
        return tx_to_json(tx.strict)
    return {
        "hash": "0x" + tx.tx_hash.hex(),
        "nonce": tx.nonce,
        "gas_price": tx.gas_price,
        "gas": tx.gas,
        "to": None if tx.to is None else "0x" + tx.to.hex(),
        "value": tx.value,
        "data": "0x" + tx.data.hex(),
        "chain_id": tx.chain_id,
        "v": tx.v,
        "v_byte": tx.v_byte,
        "r": "0x" + tx.r.to_bytes(32, "big").hex(),
        "s": "0x" + tx.s.to_bytes(32, "big").hex(),
        "effective_percentage": tx.effective_percentage,
        "raw_entry": "0x" + tx.entry.hex(),
        "note": tx.note,
    }


def forced_batch_to_json(batch: ForcedBatchV2) -> dict[str, Any]:
    return {"txs": [tx_to_json(tx) for tx in batch.txs]}


def tx_to_json(entry: BatchTx | RawTxEntry) -> dict[str, Any]:
    if isinstance(entry, RawTxEntry):
        return node_tx_to_json(read_tx_entry(entry.entry, 0)[0])
    tx = entry.tx
    return {
        "hash": "0x" + entry.tx_hash.hex(),
        "nonce": tx.nonce,
        "gas_price": tx.gas_price,
        "gas": tx.gas,
        "to": None if tx.to is None else "0x" + tx.to.hex(),
        "value": tx.value,
        "data": "0x" + tx.data.hex(),
        "chain_id": tx.chain_id,
        "v": PRE_EIP155_V + tx.y_parity,
        "r": "0x" + tx.r.hex(),
        "s": "0x" + tx.s.hex(),
        "effective_percentage": entry.effective_percentage,
    }


def batch_from_json(doc: Any) -> BatchV2:
    blocks = json_list(doc, "blocks", "")
    return BatchV2(tuple(block_from_json(block, f"blocks[{i}]") for i, block in enumerate(blocks)))


def forced_batch_from_json(doc: Any) -> ForcedBatchV2:
    txs = json_list(doc, "txs", "")
    return ForcedBatchV2(tuple(tx_from_json(tx, f"txs[{i}]") for i, tx in enumerate(txs)))


def block_from_json(doc: Any, path: str) -> L2Block:
    change = L2BlockChange(
        json_int(doc, "delta_timestamp", path, U32_MAX),
        json_int(doc, "index_l1_info_tree", path, U32_MAX),
    )
    txs = json_list(doc, "txs", path)
    return L2Block(change, tuple(tx_from_json(tx, f"{path}.txs[{i}]") for i, tx in enumerate(txs)))


def tx_from_json(doc: Any, path: str) -> BatchTx | RawTxEntry:
    if isinstance(doc, dict) and "raw_entry" in doc:
        return RawTxEntry(json_hex(doc, "raw_entry", path, None))
    v = json_int(doc, "v", path, 0xFF)
    if v not in (PRE_EIP155_V, PRE_EIP155_V + 1):
        raise BadInput(f"{path}.v: {v}, expected 27 or 28")
    to = None if json_field(doc, "to", path) is None else json_hex(doc, "to", path, 20)
    chain_id = None if json_field(doc, "chain_id", path) is None else json_int(doc, "chain_id", path, U64_MAX)
    tx = SignedLegacyTx(
        nonce=json_int(doc, "nonce", path, U64_MAX),
        gas_price=json_int(doc, "gas_price", path, U256_MAX),
        gas=json_int(doc, "gas", path, U64_MAX),
        to=to,
        value=json_int(doc, "value", path, U256_MAX),
        data=json_hex(doc, "data", path, None),
        chain_id=chain_id,
        y_parity=v - PRE_EIP155_V,
        r=json_hex(doc, "r", path, 32),
        s=json_hex(doc, "s", path, 32),
    )
    return BatchTx(tx, json_int(doc, "effective_percentage", path, 0xFF))


def json_field(doc: Any, key: str, path: str) -> Any:
    if not isinstance(doc, dict):
        raise BadInput(f"{path or 'document'}: expected an object")
    if key not in doc:
        raise BadInput(f"{join(path, key)}: missing")
    return doc[key]


def json_list(doc: Any, key: str, path: str) -> list[Any]:
    value = json_field(doc, key, path)
    if not isinstance(value, list):
        raise BadInput(f"{join(path, key)}: expected a list")
    return value


def json_int(doc: Any, key: str, path: str, maximum: int) -> int:
    value = json_field(doc, key, path)
    # bool is an int subclass; `true` is never a valid number here.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise BadInput(f"{join(path, key)}: expected an integer in 0..{maximum}, got {value!r}")
    return value


def json_hex(doc: Any, key: str, path: str, size: int | None) -> bytes:
    value = json_field(doc, key, path)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BadInput(f"{join(path, key)}: expected a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise BadInput(f"{join(path, key)}: not valid hex") from None
    if size is not None and len(raw) != size:
        raise BadInput(f"{join(path, key)}: {len(raw)} bytes, expected {size}")
    return raw


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
