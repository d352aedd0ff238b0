# Wire grammar (a raw signed legacy EVM transaction, the payload of a rollup tx):
#   legacy_tx = rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
#   v = 27 + yParity                      (pre-EIP-155, no chain id)
#   v = chainId * 2 + 35 + yParity        (EIP-155)
#   typed_tx  = type[1] (0x00..0x7f) ++ ...  (EIP-2718; not carried by zkEVM batches)
"""Raw signed legacy transactions as the zkEVM batch sees them.

Parsing and re-encoding are the shared strict codec's (sequencer/core/evm_tx.py:
canonical RLP, minimal integers, 20-byte `to`, low-s), so encode(decode(raw))
== raw and the keccak hash survives the trip through a batch. This module
narrows it to what a tx entry can hold: legacy only, chain id a uint64.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.core import rlp_codec
from sequencer.core.evm_tx import LEGACY, EvmTransaction, decode_transaction, encode_transaction
from sequencer.errors import DecodeError

LEGACY_ONLY = "zkEVM batches carry only legacy transactions"

PRE_EIP155_V = 27
"""v of a pre-EIP-155 signature is 27 + yParity."""

EIP155_V_BASE = 35
"""v of an EIP-155 signature is chainId * 2 + 35 + yParity."""

U64_BYTES = 8
U256_BYTES = 32


@dataclass(frozen=True, slots=True)
class SignedLegacyTx:
    """A legacy transaction with its signature.

    `chain_id` is None for a pre-EIP-155 signature (v = 27/28), else the
    chain id that v encodes (0 included: EIP-155 allows it). `to` is None for
    a contract creation. `r` and `s` are 32 bytes, big-endian.
    """

    nonce: int
    gas_price: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    chain_id: int | None
    y_parity: int
    r: bytes
    s: bytes

    @property
    def v(self) -> int:
        if self.chain_id is None:
            return PRE_EIP155_V + self.y_parity
        return self.chain_id * 2 + EIP155_V_BASE + self.y_parity


def decode_legacy_tx(raw: bytes) -> SignedLegacyTx:
    """Parse a raw signed legacy transaction; typed envelopes are refused."""
    if raw and raw[0] < 0x80:
        raise DecodeError(f"transaction: typed (EIP-2718 type 0x{raw[0]:02x}); {LEGACY_ONLY}")
    tx = decode_transaction(raw)
    if tx.tx_type != LEGACY:
        raise DecodeError(f"transaction: type {tx.tx_type}; {LEGACY_ONLY}")
    # The tx entry stores the chain id as a uint64 (zkevm-node reads it as one).
    if tx.chain_id is not None and tx.chain_id >= 2**64:
        raise DecodeError(f"v: chain id {tx.chain_id} does not fit in a uint64")
    return SignedLegacyTx(
        nonce=tx.nonce,
        gas_price=tx.gas_price,
        gas=tx.gas,
        to=tx.to,
        value=tx.value,
        data=tx.data,
        chain_id=tx.chain_id,
        y_parity=tx.y_parity,
        r=tx.r.to_bytes(32, "big"),
        s=tx.s.to_bytes(32, "big"),
    )


def encode_legacy_tx(tx: SignedLegacyTx) -> bytes:
    return encode_transaction(
        EvmTransaction(
            tx_type=LEGACY,
            chain_id=tx.chain_id,
            nonce=tx.nonce,
            gas_price=tx.gas_price,
            max_priority_fee=tx.gas_price,
            max_fee=tx.gas_price,
            gas=tx.gas,
            to=tx.to,
            value=tx.value,
            data=tx.data,
            access_list=(),
            y_parity=tx.y_parity,
            r=int.from_bytes(tx.r, "big"),
            s=int.from_bytes(tx.s, "big"),
            v=tx.v,
        )
    )


def decode_uint(field: str, raw: bytes, max_bytes: int) -> int:
    """A canonical RLP integer: no leading zero byte, at most `max_bytes`."""
    if raw[:1] == b"\x00":
        raise DecodeError(f"{field}: integer has a leading zero byte")
    if len(raw) > max_bytes:
        raise DecodeError(f"{field}: {len(raw)} bytes, more than {max_bytes}")
    return int.from_bytes(raw, "big")


def decode_address(field: str, raw: bytes) -> bytes | None:
    if len(raw) not in (0, 20):
        raise DecodeError(f"{field}: {len(raw)} bytes, expected 0 or 20")
    return raw or None


def decode_rlp_fields(field: str, raw: bytes) -> list[bytes]:
    """A flat RLP list of byte strings, with nothing after it (the core codec: canonical, like go-ethereum's
    rlp.DecodeBytes that zkevm-node's DecodeTxRLP calls)."""
    try:
        items = rlp_codec.decode(raw)
    except rlp_codec.RlpError as exc:
        if exc.kind == "long_form":  # the wording this reader has always used (pyrlp's)
            what = "list" if raw[exc.offset] >= 0xF8 else "string"
            raise DecodeError(f"{field}: Long {what} prefix used for short {what} at offset {exc.offset}") from exc
        raise DecodeError(f"{field}: {str(exc).removeprefix('rlp: ')}") from exc
    if not isinstance(items, list) or any(not isinstance(item, bytes) for item in items):
        raise DecodeError(f"{field}: expected a list of byte strings")
    return [item for item in items if isinstance(item, bytes)]
