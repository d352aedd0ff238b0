"""Signed transactions inside Nitro L2 messages, read as Nitro's go-ethereum reads them
(arbos/parse_l2.go L2MessageKind_SignedTx: types.Transaction.UnmarshalBinary, then type 3 and
Arbitrum-internal types refused).

    signed_tx = rlp([nonce, gas_price, gas, to, value, data, v, r, s])                      legacy
              | 0x01 ++ rlp([chain_id, nonce, gas_price, gas, to, value, data, access_list, y, r, s])
              | 0x02 ++ rlp([chain_id, nonce, tip, fee_cap, gas, to, value, data, access_list, y, r, s])
              | 0x04 ++ rlp([chain_id, nonce, tip, fee_cap, gas, to, value, data, access_list,
                             authorization_list, y, r, s])                                   (EIP-7702)
    to          = empty (creation; not for type 4) | address20
    access_list = [[address20, [key32, ...]], ...]
    authorization = [chain_id, address20, nonce, y, r, s]

Unlike the admission policy for our own rollups (sequencer/core/evm_tx.py: low-s, a size cap),
this decoder is as lenient as geth's binary decoding: it checks the RLP shape, canonical integers
(uint64 where geth has uint64, uint256 in the set-code type, unbounded *big.Int elsewhere) and
address lengths, not signature values. A high-s signature decodes here; Nitro would then fail to
recover its sender when it executes the block, which is execution, not parsing. Sizes are bounded
by the L2 message cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.core import rlp_codec
from sequencer.core.hashing import keccak
from sequencer.errors import DecodeError

LEGACY, ACCESS_LIST, DYNAMIC_FEE, BLOB, SET_CODE = 0, 1, 2, 3, 4
ARBITRUM_DEPOSIT_TX_TYPE = 0x64
"""Types 0x64 and up are Arbitrum-internal; UnmarshalBinary does not accept them."""

_FIELDS = {
    ACCESS_LIST: ("chain_id", "nonce", "gas_price", "gas", "to", "value", "data", "access_list", "y", "r", "s"),
    DYNAMIC_FEE: ("chain_id", "nonce", "tip", "fee_cap", "gas", "to", "value", "data", "access_list", "y", "r", "s"),
    SET_CODE: ("chain_id", "nonce", "tip", "fee_cap", "gas", "to", "value", "data", "access_list",
               "authorization_list", "y", "r", "s"),
}
_LEGACY_FIELDS = ("nonce", "gas_price", "gas", "to", "value", "data", "v", "r", "s")
_U64 = {"nonce", "gas"}
_U8: set[str] = set()
"""No field is u8 in geth's binary forms (y / v are big integers there)."""


@dataclass(frozen=True, slots=True)
class NitroTx:
    """What the operator's view shows of a signed transaction Nitro would accept."""

    tx_type: int
    chain_id: int | None
    nonce: int
    to: bytes | None
    value: int
    hash: bytes
    high_s: bool


SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _uint(item: object, field: str, bits: int | None) -> int:
    """A canonical RLP integer; `bits` None for geth's *big.Int fields, which have no width
    (the message cap bounds them)."""
    if not isinstance(item, bytes):
        raise DecodeError(f"signed_tx.{field}: expected an integer, got a list")
    if item[:1] == b"\x00":
        raise DecodeError(f"signed_tx.{field}: non-canonical integer (leading zero)")
    if bits is not None and len(item) * 8 > bits:
        raise DecodeError(f"signed_tx.{field}: over {bits} bits")
    return int.from_bytes(item, "big")


def _address(item: object, field: str, allow_empty: bool) -> bytes | None:
    if not isinstance(item, bytes):
        raise DecodeError(f"signed_tx.{field}: expected an address, got a list")
    if allow_empty and not item:
        return None
    if len(item) != 20:
        raise DecodeError(f"signed_tx.{field}: expected 20 bytes, got {len(item)}")
    return item


def _list(item: object, field: str) -> list[object]:
    if not isinstance(item, list):
        raise DecodeError(f"signed_tx.{field}: expected a list")
    return item


def _check_access_list(item: object) -> None:
    for i, entry in enumerate(_list(item, "access_list")):
        pair = _list(entry, f"access_list[{i}]")
        if len(pair) != 2:
            raise DecodeError(f"signed_tx.access_list[{i}]: expected [address, storage_keys]")
        _address(pair[0], f"access_list[{i}].address", False)
        for j, key in enumerate(_list(pair[1], f"access_list[{i}].storage_keys")):
            if not isinstance(key, bytes) or len(key) != 32:
                raise DecodeError(f"signed_tx.access_list[{i}].storage_keys[{j}]: expected 32 bytes")


def _check_authorizations(item: object) -> None:
    for i, entry in enumerate(_list(item, "authorization_list")):
        f = _list(entry, f"authorization_list[{i}]")
        if len(f) != 6:
            raise DecodeError(f"signed_tx.authorization_list[{i}]: expected 6 fields, got {len(f)}")
        _uint(f[0], f"authorization_list[{i}].chain_id", 256)
        _address(f[1], f"authorization_list[{i}].address", False)
        _uint(f[2], f"authorization_list[{i}].nonce", 64)
        _uint(f[3], f"authorization_list[{i}].y_parity", 8)
        _uint(f[4], f"authorization_list[{i}].r", 256)
        _uint(f[5], f"authorization_list[{i}].s", 256)


def _decode_rlp_list(body: bytes, names: tuple[str, ...]) -> dict[str, object]:
    try:
        items = rlp_codec.decode(body)  # canonical, as geth's rlp.Stream reads a transaction
    except rlp_codec.RlpError as exc:
        raise DecodeError(f"signed_tx: bad RLP ({exc})") from exc
    if not isinstance(items, list):
        raise DecodeError("signed_tx: expected an RLP list")
    if len(items) != len(names):
        raise DecodeError(f"signed_tx: expected {len(names)} fields, got {len(items)}")
    return dict(zip(names, items, strict=True))


def decode_nitro_tx(raw: bytes) -> NitroTx:
    """One signed transaction as parse_l2.go accepts it; DecodeError (naming the field) otherwise."""
    if not raw:
        raise DecodeError("signed_tx: empty")
    tx_type = raw[0] if raw[0] <= 0x7F else LEGACY
    if tx_type == BLOB:
        raise DecodeError("signed_tx: blob (type 3) transactions are not supported on Arbitrum (parse_l2.go)")
    if tx_type >= ARBITRUM_DEPOSIT_TX_TYPE:
        raise DecodeError(f"signed_tx: Arbitrum-internal type {tx_type:#04x} is not accepted from a batch")
    if tx_type != LEGACY and tx_type not in _FIELDS:
        raise DecodeError(f"signed_tx: unsupported transaction type {tx_type:#04x}")
    names = _LEGACY_FIELDS if tx_type == LEGACY else _FIELDS[tx_type]
    f = _decode_rlp_list(raw if tx_type == LEGACY else raw[1:], names)
    values = {}
    for name in names:
        if name in ("to", "data", "access_list", "authorization_list"):
            continue
        # geth: nonce and gas are uint64; the set-code type uses uint256 fields, the older types *big.Int.
        width = 64 if name in _U64 else 8 if name in _U8 else 256 if tx_type == SET_CODE else None
        values[name] = _uint(f[name], name, width)
    to = _address(f["to"], "to", allow_empty=tx_type != SET_CODE)
    if not isinstance(f["data"], bytes):
        raise DecodeError("signed_tx.data: expected bytes, got a list")
    chain_id: int | None
    if tx_type == LEGACY:
        v = values["v"]
        chain_id = (v - 35) // 2 if v >= 35 else None
    else:
        _check_access_list(f["access_list"])
        if tx_type == SET_CODE:
            _check_authorizations(f["authorization_list"])
        chain_id = values["chain_id"]
    return NitroTx(tx_type, chain_id, values["nonce"], to, values["value"], keccak(raw),
                   values["s"] > SECP256K1_HALF_N)
