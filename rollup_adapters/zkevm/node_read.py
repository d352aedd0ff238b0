# Wire grammar (as batch_v2.py; read the way the node reads it):
#   batch        = ( changeL2Block txEntry* )*          no size cap (DecodeBatchV2 has none)
#   forced_batch = txEntry*                             no size cap (DecodeForcedBatchV2 / DecodeTxs)
#   txEntry      = rlp_list(field{6,}) ++ r[32] ++ s[32] ++ v[1] ++ effectivePercentage[1]
"""Polygon CDK / zkEVM Etrog batches read as the node reads them
(0xPolygonHermez/zkevm-node state/encoding_batch_v2.go DecodeBatchV2, DecodeTxRLP;
state/transaction.go RlpFieldsToLegacyTx; cdk-erigon keeps the same batch v2 format).

The strict codec (batch_v2.py, tx_entry.py) is what we encode and what a batch of our
rollups must be: 120,000 / 5,000-byte caps, canonical 6- or 9-field entries, v in {27, 28}.
Decoding someone else's batch follows the node instead:

    no size cap                      DecodeBatchV2 / DecodeForcedBatchV2 take any length
    fields: at least 6, any more     RlpFieldsToLegacyTx (>= 7: field 6 is the chain id)
    integers: big-endian, any zero   big.Int.SetBytes; nonce and gas keep their low 64 bits
      padding
    to: empty (creation) or any      common.BytesToAddress: the last 20 bytes, left-padded
      length
    v: any byte                      with a chain id, V = v - 27 + chainId * 2 + 35; else V = v
    r, s: any 32 bytes               checked by the prover, not the decoder

What the node refuses is refused here too, with a DecodeError naming the field: a list header
below 0xc0, data running out, RLP that geth's DecodeBytes into [][]byte rejects (non-canonical,
a nested list, trailing bytes), fewer than 6 fields, a batch that does not start with 0x0b.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.core import rlp_codec
from sequencer.core.hashing import keccak
from sequencer.errors import DecodeError

from .l2_block_change import CHANGE_L2_BLOCK, L2BlockChange, decode_l2_block_change
from .legacy_tx import decode_rlp_fields
from .rlp_length import decode_rlp_list_length
from .tx_entry import SIGNATURE_LEN, TAIL_FIELDS, BatchTx, decode_entry_fields

ETHER_PRE155_V = 27
EIP155_V_BASE = 35
U64_MASK = 2**64 - 1


@dataclass(frozen=True, slots=True)
class NodeTx:
    """A tx entry as RlpFieldsToLegacyTx makes it a LegacyTx. `entry` is the entry's bytes;
    `strict` the strict codec's reading when it accepts the entry (None: only the node does,
    `note` says why)."""

    nonce: int
    gas_price: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    chain_id: int | None
    v_byte: int
    v: int
    r: int
    s: int
    effective_percentage: int
    entry: bytes
    strict: BatchTx | None
    note: str | None

    @property
    def tx_hash(self) -> bytes:
        """types.NewTx(legacyTx).Hash(): keccak of the legacy transaction's canonical RLP."""
        return keccak(rlp_codec.encode([self.nonce, self.gas_price, self.gas, self.to or b"", self.value, self.data,
                                  self.v, self.r, self.s]))


@dataclass(frozen=True, slots=True)
class NodeBlock:
    """One L2 block of a batch as the node reads it."""

    change: L2BlockChange
    txs: tuple[NodeTx, ...] = ()


def read_tx_entry(data: bytes, offset: int) -> tuple[NodeTx, int]:
    """DecodeTxRLP: the entry at `offset` and the offset after it."""
    list_end = offset + decode_rlp_list_length(data, offset)
    if list_end > len(data):
        raise DecodeError(f"tx.rlp: list of {list_end - offset} bytes truncated at {offset}")
    for name, start, size in TAIL_FIELDS:
        if list_end + start + size > len(data):
            raise DecodeError(f"tx.{name}: truncated at {list_end + start}")
    end = list_end + SIGNATURE_LEN + 1
    fields = decode_rlp_fields("tx.rlp", data[offset:list_end])
    if len(fields) < 6:
        raise DecodeError(f"tx.rlp: {len(fields)} fields, the node needs at least 6 (tx entry at {offset})")
    sig = data[list_end : list_end + SIGNATURE_LEN]
    v_byte = sig[64]
    chain_id = int.from_bytes(fields[6], "big") if len(fields) >= 7 else None
    v = v_byte if chain_id is None else v_byte - ETHER_PRE155_V + chain_id * 2 + EIP155_V_BASE
    to = fields[3][-20:].rjust(20, b"\x00") if fields[3] else None
    strict: BatchTx | None = None
    note = None
    try:
        strict = BatchTx(decode_entry_fields(data[offset:list_end], sig), data[end - 1])
    except DecodeError as exc:
        note = f"the node accepts what the strict codec refuses: {exc}"
    tx = NodeTx(
        nonce=int.from_bytes(fields[0], "big") & U64_MASK, gas_price=int.from_bytes(fields[1], "big"),
        gas=int.from_bytes(fields[2], "big") & U64_MASK, to=to, value=int.from_bytes(fields[4], "big"),
        data=fields[5], chain_id=chain_id, v_byte=v_byte, v=v, r=int.from_bytes(sig[:32], "big"),
        s=int.from_bytes(sig[32:64], "big"), effective_percentage=data[end - 1], entry=data[offset:end],
        strict=strict, note=note,
    )
    return tx, end


def read_batch_v2(data: bytes) -> tuple[NodeBlock, ...]:
    """DecodeBatchV2: blocks in order, no size cap."""
    if data and data[0] != CHANGE_L2_BLOCK:
        hint = " (a forced or pre-Etrog batch? try --layer forced-batch)" if data[0] >= 0xC0 else ""
        raise DecodeError(f"changeL2Block: batch v2 must start with 0x0b, found 0x{data[0]:02x} at 0{hint}")
    blocks: list[NodeBlock] = []
    change: L2BlockChange | None = None
    txs: list[NodeTx] = []
    offset = 0
    while offset < len(data):
        if data[offset] == CHANGE_L2_BLOCK:
            if change is not None:
                blocks.append(NodeBlock(change, tuple(txs)))
            change, offset = decode_l2_block_change(data, offset)
            txs = []
        else:
            tx, offset = read_tx_entry(data, offset)
            txs.append(tx)
    if change is not None:
        blocks.append(NodeBlock(change, tuple(txs)))
    return tuple(blocks)


def read_forced_batch(data: bytes) -> tuple[NodeTx, ...]:
    """DecodeForcedBatchV2: tx entries only, no size cap."""
    txs: list[NodeTx] = []
    offset = 0
    while offset < len(data):
        if data[offset] == CHANGE_L2_BLOCK:
            raise DecodeError(f"changeL2Block: not allowed in a forced batch, at {offset}")
        tx, offset = read_tx_entry(data, offset)
        txs.append(tx)
    return tuple(txs)
