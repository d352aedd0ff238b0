# Wire grammar (one transaction inside an Etrog batch):
#   txEntry   = rlp_list(nonce, gasPrice, gas, to, value, data [, chainId, 0, 0])
#               ++ r[32] ++ s[32] ++ v[1] ++ effectivePercentage[1]
#   v         = 27 + yParity
#   chainId, 0, 0 are present iff the signature is EIP-155; else the 6-field pre-EIP-155 form
"""Transaction entries of a zkEVM batch, and their exact conversion to and
from raw signed legacy transactions.

Follows `prepareRLPTxData` / `EncodeTransactions` / `DecodeTxs` in
0xPolygonHermez/zkevm-node state/helper.go, `RlpFieldsToLegacyTx` in
state/transaction.go and `decodeTxRLP` in state/encoding_batch_v2.go.
As there, the 6-field form is used iff v is 27/28 (`IsPreEIP155Tx`), so an
EIP-155 signature for chain id 0 keeps its 9 fields.

Stricter than the reference, so that decode then encode gives the same bytes:
exactly 6 or 9 fields, the two trailing fields empty, canonical integers, a
0- or 20-byte `to`, and v in {27, 28} (zkevm-node accepts any v byte and
lets the prover reject the signature).
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.core import rlp_codec
from sequencer.core.hashing import keccak
from sequencer.errors import BadInput, DecodeError

from .legacy_tx import (
    PRE_EIP155_V,
    U64_BYTES,
    U256_BYTES,
    SignedLegacyTx,
    decode_address,
    decode_legacy_tx,
    decode_rlp_fields,
    decode_uint,
    encode_legacy_tx,
)
from .rlp_length import decode_rlp_list_length

SIGNATURE_LEN = 32 + 32 + 1
"""r, s and v after the RLP list."""

FULL_EFFECTIVE_PERCENTAGE = 0xFF
"""effectivePercentage 255 charges the full gasPrice: fraction (ep + 1) / 256
(zkevm-node state/helper.go `MaxEffectivePercentage`)."""

TAIL_FIELDS = (("r", 0, 32), ("s", 32, 32), ("v", 64, 1), ("effectivePercentage", 65, 1))
"""The fixed-size fields after the RLP list: name, start, size."""


@dataclass(frozen=True, slots=True)
class BatchTx:
    """One tx entry: a signed legacy tx and the share of its gas price the
    sequencer charges."""

    tx: SignedLegacyTx
    effective_percentage: int = FULL_EFFECTIVE_PERCENTAGE

    def __post_init__(self) -> None:
        if not 0 <= self.effective_percentage <= 0xFF:
            raise BadInput(f"effective_percentage: {self.effective_percentage} does not fit in a byte")

    @property
    def raw(self) -> bytes:
        """The raw signed transaction, as a wallet sent it."""
        return encode_legacy_tx(self.tx)

    @property
    def tx_hash(self) -> bytes:
        return keccak(self.raw)


@dataclass(frozen=True, slots=True)
class RawTxEntry:
    """A tx entry kept byte for byte: one the node accepts but the strict codec would not write
    (node_read.py). Only the operator's JSON round trip produces it."""

    entry: bytes


def batch_tx_from_raw(raw: bytes, effective_percentage: int = FULL_EFFECTIVE_PERCENTAGE) -> BatchTx:
    """The entry for a raw signed legacy tx; typed txs raise DecodeError."""
    return BatchTx(decode_legacy_tx(raw), effective_percentage)


def encode_tx_entry(entry: BatchTx | RawTxEntry) -> bytes:
    if isinstance(entry, RawTxEntry):
        return entry.entry
    tx = entry.tx
    fields: list[bytes | int] = [tx.nonce, tx.gas_price, tx.gas, tx.to or b"", tx.value, tx.data]
    if tx.chain_id is not None:
        fields += [tx.chain_id, 0, 0]
    return rlp_codec.encode(fields) + tx.r + tx.s + bytes([PRE_EIP155_V + tx.y_parity, entry.effective_percentage])


def decode_tx_entry(data: bytes, offset: int) -> tuple[BatchTx, int]:
    """The tx entry at `offset` and the offset after it."""
    list_end = offset + decode_rlp_list_length(data, offset)
    if list_end > len(data):
        raise DecodeError(f"tx.rlp: list of {list_end - offset} bytes truncated at {offset}")
    for name, start, size in TAIL_FIELDS:
        if list_end + start + size > len(data):
            raise DecodeError(f"tx.{name}: truncated at {list_end + start}")
    try:
        tx = decode_entry_fields(data[offset:list_end], data[list_end : list_end + SIGNATURE_LEN])
    except DecodeError as exc:
        raise DecodeError(f"{exc} (tx entry at {offset})") from exc
    return BatchTx(tx, data[list_end + SIGNATURE_LEN]), list_end + SIGNATURE_LEN + 1


def decode_entry_fields(rlp_list: bytes, signature: bytes) -> SignedLegacyTx:
    fields = decode_rlp_fields("tx.rlp", rlp_list)
    if len(fields) not in (6, 9):
        raise DecodeError(f"tx.rlp: {len(fields)} fields, expected 6 or 9")
    chain_id = None
    if len(fields) == 9:
        chain_id = decode_uint("tx.chainId", fields[6], U64_BYTES)
        if fields[7] or fields[8]:
            raise DecodeError("tx.rlp: the two fields after chainId must be 0")
    v = signature[64]
    if v not in (PRE_EIP155_V, PRE_EIP155_V + 1):
        raise DecodeError(f"tx.v: 0x{v:02x}, expected 0x1b or 0x1c")
    return SignedLegacyTx(
        nonce=decode_uint("tx.nonce", fields[0], U64_BYTES),
        gas_price=decode_uint("tx.gasPrice", fields[1], U256_BYTES),
        gas=decode_uint("tx.gas", fields[2], U64_BYTES),
        to=decode_address("tx.to", fields[3]),
        value=decode_uint("tx.value", fields[4], U256_BYTES),
        data=fields[5],
        chain_id=chain_id,
        y_parity=v - PRE_EIP155_V,
        r=signature[:32],
        s=signature[32:64],
    )
