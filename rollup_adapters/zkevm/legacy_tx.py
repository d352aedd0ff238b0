# Wire grammar (a raw signed legacy EVM transaction, the payload of a rollup tx):
#   legacy_tx = rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
#   v = 27 + yParity                      (pre-EIP-155, no chain id)
#   v = chainId * 2 + 35 + yParity        (EIP-155)
#   typed_tx  = type[1] (0x00..0x7f) ++ ...  (EIP-2718; not carried by zkEVM batches)
"""Raw signed legacy transactions, read and written exactly.

A small internal codec until the shared `sequencer/core/evm_tx.py` lands; it
checks what exact round trips need (canonical integers, 9 fields, a 0- or
20-byte `to`) so that encode(decode(raw)) == raw and the keccak hash survives.
Field meanings: Ethereum yellow paper section 4.2 and EIP-155.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp

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
    """A flat RLP list of byte strings, with nothing after it."""
    try:
        items = rlp.decode(raw, strict=True)
    except rlp.exceptions.RLPException as exc:
        raise DecodeError(f"{field}: {exc}") from exc
    if not isinstance(items, list) or any(not isinstance(item, bytes) for item in items):
        raise DecodeError(f"{field}: expected a list of byte strings")
    return items


def split_v(v: int) -> tuple[int | None, int]:
    """(chain id or None, yParity) from a legacy v."""
    if v in (PRE_EIP155_V, PRE_EIP155_V + 1):
        return None, v - PRE_EIP155_V
    if v < EIP155_V_BASE:
        raise DecodeError(f"v: {v} is neither 27/28 nor an EIP-155 value")
    chain_id, parity = divmod(v - EIP155_V_BASE, 2)
    # The batch entry stores the chain id as a uint64 (zkevm-node reads it as one).
    if chain_id >= 2**64:
        raise DecodeError(f"v: chain id {chain_id} does not fit in a uint64")
    return chain_id, parity


def decode_legacy_tx(raw: bytes) -> SignedLegacyTx:
    """Parse a raw signed legacy transaction; typed envelopes are refused."""
    if not raw:
        raise DecodeError("transaction: empty")
    if raw[0] < 0x80:
        raise DecodeError(f"transaction: typed (EIP-2718 type 0x{raw[0]:02x}); {LEGACY_ONLY}")
    fields = decode_rlp_fields("transaction", raw)
    if len(fields) != 9:
        raise DecodeError(f"transaction: {len(fields)} RLP fields, a signed legacy tx has 9")
    chain_id, parity = split_v(decode_uint("v", fields[6], U256_BYTES))
    return SignedLegacyTx(
        nonce=decode_uint("nonce", fields[0], U64_BYTES),
        gas_price=decode_uint("gas_price", fields[1], U256_BYTES),
        gas=decode_uint("gas", fields[2], U64_BYTES),
        to=decode_address("to", fields[3]),
        value=decode_uint("value", fields[4], U256_BYTES),
        data=fields[5],
        chain_id=chain_id,
        y_parity=parity,
        r=decode_uint("r", fields[7], U256_BYTES).to_bytes(32, "big"),
        s=decode_uint("s", fields[8], U256_BYTES).to_bytes(32, "big"),
    )


def encode_legacy_tx(tx: SignedLegacyTx) -> bytes:
    return rlp.encode(
        [
            tx.nonce,
            tx.gas_price,
            tx.gas,
            tx.to or b"",
            tx.value,
            tx.data,
            tx.v,
            int.from_bytes(tx.r, "big"),
            int.from_bytes(tx.s, "big"),
        ]
    )
