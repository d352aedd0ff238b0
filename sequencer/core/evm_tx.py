"""Raw signed EVM transactions: decode, re-encode, recover the sender.

Wire forms (EIP-2718 envelopes):
  legacy   = rlp([nonce, gasPrice, gas, to, value, data, v, r, s])        (EIP-155: v = 35 + 2*chainId + parity)
  type 1   = 0x01 ++ rlp([chainId, nonce, gasPrice, gas, to, value, data, accessList, yParity, r, s])   (EIP-2930)
  type 2   = 0x02 ++ rlp([chainId, nonce, maxPriorityFee, maxFee, gas, to, value, data, accessList,
                          yParity, r, s])                                                            (EIP-1559)
  type 3   = 0x03 ++ rlp([... type 2 fields up to accessList, maxFeePerBlobGas, blobVersionedHashes,
                          yParity, r, s])                                                            (EIP-4844)
  type 4   = 0x04 ++ rlp([... type 2 fields up to accessList, authorizationList, yParity, r, s])     (EIP-7702)
  accessList = [[address, [storageKey, ...]], ...]

The signing hash is keccak256 of the same form without the signature (and,
for EIP-155 legacy, with [chainId, 0, 0] in its place). Decoding is strict:
canonical RLP, minimal integers, 20-byte addresses, low-s signatures (EIP-2).

Admission (sequencer/core/policy.py) runs on every submitted transaction and
needs neither the decoded fields nor the sender's address, only "decodes, and
its signature recovers to a key": `signature_view` reads a raw transaction in
one pass over its top-level items, slices the signing hash's input straight
out of the raw bytes (a strictly decoded transaction re-encodes to exactly
those bytes), and `signature_recovers` calls libsecp256k1 without building a
public key object. `signature_view` only answers for what `decode_transaction`
accepts; anything it is unsure of goes to the full decoder, which words the
refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey
from coincurve._libsecp256k1 import ffi as _ffi
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT

from sequencer.errors import DecodeError

from . import rlp_codec as rlp
from .hashing import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_TX_BYTES = 128 * 1024
"""Upper bound on one raw transaction, as geth's txpool uses (txMaxSize)."""

LEGACY, ACCESS_LIST, DYNAMIC_FEE, BLOB, SET_CODE = 0, 1, 2, 3, 4
TX_TYPE_NAMES = {0: "legacy", 1: "eip2930", 2: "eip1559", 3: "eip4844", 4: "eip7702"}

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
Authorization = tuple[int, bytes, int, int, int, int]
"""EIP-7702 authorization tuple: (chain_id, address, nonce, y_parity, r, s)."""


@dataclass(frozen=True, slots=True)
class EvmTransaction:
    """A decoded signed transaction. Fields not in a type's form are 0/empty.

    For legacy transactions `gas_price` is set, `max_fee` and
    `max_priority_fee` equal it; `v` is the raw legacy v (27/28 or EIP-155),
    `y_parity` is 0/1 for every type. `chain_id` is None for pre-EIP-155
    legacy transactions. `raw` is the payload it was decoded from (empty
    for one built by hand); `signing_hash` reads the unsigned fields' bytes
    from it, so it must be those fields' encoding.
    """

    tx_type: int
    chain_id: int | None
    nonce: int
    gas_price: int
    max_priority_fee: int
    max_fee: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    access_list: AccessList
    y_parity: int
    r: int
    s: int
    v: int = 0
    max_fee_per_blob_gas: int = 0
    blob_hashes: tuple[bytes, ...] = ()
    authorization_list: tuple[Authorization, ...] = ()
    raw: bytes = b""

    @property
    def hash(self) -> bytes:
        return keccak(self.raw)

    @property
    def protected(self) -> bool:
        """Whether a legacy transaction is replay-protected (EIP-155)."""
        return self.tx_type != LEGACY or self.chain_id is not None


def _int(item: object, field: str, max_bits: int = 256) -> int:
    if not isinstance(item, bytes):
        raise DecodeError(f"{field}: expected an integer, got a list")
    if item[:1] == b"\x00":
        raise DecodeError(f"{field}: integer has leading zero bytes")
    if len(item) * 8 > max_bits:
        raise DecodeError(f"{field}: integer over {max_bits} bits")
    return int.from_bytes(item, "big")


def _bytes(item: object, field: str) -> bytes:
    if not isinstance(item, bytes):
        raise DecodeError(f"{field}: expected bytes, got a list")
    return item


def _to(item: object, field: str = "to") -> bytes | None:
    b = _bytes(item, field)
    if b == b"":
        return None
    if len(b) != 20:
        raise DecodeError(f"{field}: address must be 20 bytes, got {len(b)}")
    return b


def _address(item: object, field: str) -> bytes:
    b = _bytes(item, field)
    if len(b) != 20:
        raise DecodeError(f"{field}: address must be 20 bytes, got {len(b)}")
    return b


def _access_list(item: object) -> AccessList:
    if not isinstance(item, list):
        raise DecodeError("access_list: expected a list")
    out = []
    for i, entry in enumerate(item):
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            raise DecodeError(f"access_list[{i}]: expected [address, [storage_keys]]")
        keys = []
        for j, key in enumerate(entry[1]):
            k = _bytes(key, f"access_list[{i}].storage_keys[{j}]")
            if len(k) != 32:
                raise DecodeError(f"access_list[{i}].storage_keys[{j}]: must be 32 bytes")
            keys.append(k)
        out.append((_address(entry[0], f"access_list[{i}].address"), tuple(keys)))
    return tuple(out)


def _check_signature(r: int, s: int) -> None:
    if not 0 < r < SECP256K1_N:
        raise DecodeError("r: signature value out of range")
    if not 0 < s <= SECP256K1_N // 2:
        raise DecodeError("s: signature value out of range or not low-s (EIP-2)")


def _parity(item: object) -> int:
    y = _int(item, "y_parity", 8)
    if y > 1:
        raise DecodeError(f"y_parity: must be 0 or 1, got {y}")
    return y


_FIELD_COUNT = {ACCESS_LIST: 11, DYNAMIC_FEE: 12, BLOB: 14, SET_CODE: 13}


def decode_transaction(raw: bytes) -> EvmTransaction:
    """Decode a raw signed transaction (legacy or EIP-2718 typed); strict."""
    if not raw:
        raise DecodeError("transaction: empty payload")
    if len(raw) > MAX_TX_BYTES:
        raise DecodeError(f"transaction: {len(raw)} bytes, over the {MAX_TX_BYTES}-byte limit")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw)
    if first in _FIELD_COUNT:
        return _decode_typed(first, raw)
    if first <= 0x7F:
        raise DecodeError(f"tx_type: unsupported transaction type {first:#04x}")
    raise DecodeError(f"transaction: first byte {first:#04x} is neither a type nor an RLP list")


def _rlp_list(body: bytes, count: int, what: str) -> list:
    try:
        items = rlp.decode(body)
    except DecodeError as exc:
        raise DecodeError(f"{what}: malformed RLP ({exc})") from exc
    if not isinstance(items, list):
        raise DecodeError(f"{what}: expected an RLP list")
    if len(items) != count:
        raise DecodeError(f"{what}: expected {count} fields, got {len(items)}")
    return items


def _decode_legacy(raw: bytes) -> EvmTransaction:
    f = _rlp_list(raw, 9, "legacy transaction")
    v = _int(f[6], "v")
    r, s = _int(f[7], "r"), _int(f[8], "s")
    if v in (27, 28):
        chain_id, parity = None, v - 27
    elif v >= 35:
        chain_id, parity = (v - 35) // 2, (v - 35) % 2
    else:
        raise DecodeError(f"v: invalid legacy v value {v}")
    _check_signature(r, s)
    gas_price = _int(f[1], "gas_price")
    return EvmTransaction(
        tx_type=LEGACY, chain_id=chain_id, nonce=_int(f[0], "nonce", 64), gas_price=gas_price,
        max_priority_fee=gas_price, max_fee=gas_price, gas=_int(f[2], "gas", 64), to=_to(f[3]),
        value=_int(f[4], "value"), data=_bytes(f[5], "data"), access_list=(), y_parity=parity,
        r=r, s=s, v=v, raw=raw,
    )


def _decode_typed(tx_type: int, raw: bytes) -> EvmTransaction:
    name = TX_TYPE_NAMES[tx_type]
    f = _rlp_list(raw[1:], _FIELD_COUNT[tx_type], f"{name} transaction")
    chain_id, nonce = _int(f[0], "chain_id"), _int(f[1], "nonce", 64)
    if tx_type == ACCESS_LIST:
        gas_price = _int(f[2], "gas_price")
        prio = fee = gas_price
        rest = f[3:]
    else:
        prio, fee = _int(f[2], "max_priority_fee"), _int(f[3], "max_fee")
        gas_price = 0
        rest = f[4:]
    gas, to, value, data, access = rest[0], rest[1], rest[2], rest[3], rest[4]
    extra = rest[5:-3]
    y_parity, r, s = _parity(rest[-3]), _int(rest[-2], "r"), _int(rest[-1], "s")
    _check_signature(r, s)
    blob_fee = 0
    blob_hashes: tuple[bytes, ...] = ()
    auths: tuple[Authorization, ...] = ()
    to_addr = _to(to)
    if tx_type == BLOB:
        blob_fee = _int(extra[0], "max_fee_per_blob_gas")
        if not isinstance(extra[1], list) or not extra[1]:
            raise DecodeError("blob_versioned_hashes: expected a non-empty list")
        blob_hashes = tuple(_bytes(h, "blob_versioned_hashes") for h in extra[1])
        if to_addr is None:
            raise DecodeError("to: blob transactions cannot create contracts")
    if tx_type == SET_CODE:
        auths = _authorizations(extra[0])
        if to_addr is None:
            raise DecodeError("to: set-code transactions cannot create contracts")
    return EvmTransaction(
        tx_type=tx_type, chain_id=chain_id, nonce=nonce, gas_price=gas_price, max_priority_fee=prio,
        max_fee=fee, gas=_int(gas, "gas", 64), to=to_addr, value=_int(value, "value"),
        data=_bytes(data, "data"), access_list=_access_list(access), y_parity=y_parity, r=r, s=s,
        v=y_parity, max_fee_per_blob_gas=blob_fee, blob_hashes=blob_hashes, authorization_list=auths,
        raw=raw,
    )


def _authorizations(item: object) -> tuple[Authorization, ...]:
    if not isinstance(item, list) or not item:
        raise DecodeError("authorization_list: expected a non-empty list")
    out = []
    for i, a in enumerate(item):
        if not isinstance(a, list) or len(a) != 6:
            raise DecodeError(f"authorization_list[{i}]: expected 6 fields")
        out.append((
            _int(a[0], f"authorization_list[{i}].chain_id"), _address(a[1], f"authorization_list[{i}].address"),
            _int(a[2], f"authorization_list[{i}].nonce", 64), _int(a[3], f"authorization_list[{i}].y_parity", 8),
            _int(a[4], f"authorization_list[{i}].r"), _int(a[5], f"authorization_list[{i}].s"),
        ))
    return tuple(out)


def _access_list_rlp(access: AccessList) -> list:
    return [[addr, list(keys)] for addr, keys in access]


def _unsigned_fields(tx: EvmTransaction) -> list:
    to = tx.to or b""
    if tx.tx_type == LEGACY:
        base = [tx.nonce, tx.gas_price, tx.gas, to, tx.value, tx.data]
        return base + ([tx.chain_id, 0, 0] if tx.chain_id is not None else [])
    if tx.tx_type == ACCESS_LIST:
        return [tx.chain_id, tx.nonce, tx.gas_price, tx.gas, to, tx.value, tx.data,
                _access_list_rlp(tx.access_list)]
    fields = [tx.chain_id, tx.nonce, tx.max_priority_fee, tx.max_fee, tx.gas, to, tx.value, tx.data,
              _access_list_rlp(tx.access_list)]
    if tx.tx_type == BLOB:
        fields += [tx.max_fee_per_blob_gas, list(tx.blob_hashes)]
    if tx.tx_type == SET_CODE:
        fields += [[list(a) for a in tx.authorization_list]]
    return fields


def signing_hash_of_fields(tx: EvmTransaction) -> bytes:
    """The hash the sender signed (EIP-155 for legacy, EIP-2718 type prefix otherwise), from the
    fields re-encoded: for a transaction built by hand, and the reference the raw path is tested against."""
    body = rlp.encode(_unsigned_fields(tx))
    return keccak(body if tx.tx_type == LEGACY else bytes([tx.tx_type]) + body)


def signing_hash(tx: EvmTransaction) -> bytes:
    """The hash the sender signed (EIP-155 for legacy, EIP-2718 type prefix otherwise).

    For a decoded transaction, from its raw bytes (about three times cheaper than re-encoding the
    fields); for one built by hand (`raw` empty), from its fields."""
    view = signature_view(tx.raw) if tx.raw else None
    return view[2] if view is not None else signing_hash_of_fields(tx)


def encode_transaction(tx: EvmTransaction) -> bytes:
    """The raw signed form of `tx` (inverse of decode_transaction)."""
    if tx.tx_type == LEGACY:
        fields = _unsigned_fields(tx)[:6] + [tx.v, tx.r, tx.s]
        return rlp.encode(fields)
    fields = _unsigned_fields(tx) + [tx.y_parity, tx.r, tx.s]
    return bytes([tx.tx_type]) + rlp.encode(fields)


def recover_sender(tx: EvmTransaction) -> bytes:
    """The 20-byte sender address, recovered from the signature with coincurve."""
    sig = tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big") + bytes([tx.y_parity])
    try:
        pub = PublicKey.from_signature_and_message(sig, signing_hash(tx), hasher=None)
    except Exception as exc:  # coincurve raises plain Exception on a bad signature
        raise DecodeError(f"signature: cannot recover the sender ({exc})") from exc
    return keccak(pub.format(compressed=False)[1:])[12:]


# -- the admission fast path --------------------------------------------------

_N_BYTES = SECP256K1_N.to_bytes(32, "big")
_HALF_N_BYTES = (SECP256K1_N // 2).to_bytes(32, "big")
_ZEROS = bytes(32)

_FORMS = {
    LEGACY: "QIQTIDVRS",
    ACCESS_LIST: "CQIQTIDAYRS",
    DYNAMIC_FEE: "CQIIQTIDAYRS",
    BLOB: "CQIIQTIDAIBYRS",
    SET_CODE: "CQIIQTIDAUYRS",
}
"""Each form's fields in wire order (the module docstring), one letter for what the decoder requires of
it: Q uint64, I uint256, C the chain id (a uint256), T `to` (empty or 20 bytes), D bytes, A access list,
B blob versioned hashes, U authorization list, V legacy v, Y y_parity, R r, S s."""

SignatureView = tuple[int, int | None, bytes, bytes, int]
"""(tx_type, chain_id, signing hash, r || s as 64 bytes, y_parity) of a raw transaction."""


def signature_view(raw: bytes) -> SignatureView | None:
    """What admission needs of `raw`, or None when `decode_transaction(raw)` might refuse it.

    Only ever answers for a payload the decoder accepts: every item's header gets the codec's
    canonical checks (the short forms, which need none but the bound, read inline, the rest by
    `rlp_codec.header`; list items are decoded whole by `rlp_codec.decode_at` at the depth the decoder
    reaches them, and validated by the decoder's own functions), every field the decoder's width,
    leading-zero, address-length and signature-range checks, the same field count, nothing after the
    list. None means "ask the decoder", which words the refusal (or, should this be stricter than
    the decoder somewhere, accepts): so an answer here can never change a decision, only its cost."""
    if not isinstance(raw, bytes):  # the decoder reads a bytearray's fields as bytearrays, and refuses them
        return None
    n = len(raw)
    if n == 0 or n > MAX_TX_BYTES:
        return None
    first = raw[0]
    if first >= 0xC0:
        tx_type, pos = LEGACY, 0
    elif first in _FIELD_COUNT:
        tx_type, pos = first, 1
    else:
        return None
    header = rlp.header
    chain_id: int | None = None
    parity = 0
    r32 = s32 = b""
    sig_start = 0
    no_to = False
    try:
        is_list, start, end = header(raw, pos, n)
        if not is_list or end != n:
            return None
        p = start
        for kind in _FORMS[tx_type]:
            b = raw[p] if p < end else 0x100
            if b < 0x80:  # the short forms inline (a call per field costs about 15 % of this function)
                is_list, s, e = False, p, p + 1
            elif b < 0xB8 and b != 0x81:  # 0x81 may wrap a single byte: the codec's check
                is_list, s, e = False, p + 1, p + 1 + b - 0x80
            elif 0xC0 <= b < 0xF8:
                is_list, s, e = True, p + 1, p + 1 + b - 0xC0
            else:
                is_list, s, e = header(raw, p, end)
            if e > end:
                return None
            if is_list:
                if kind == "A":
                    if e != s:  # an empty access list (0xc0) needs no decoding
                        _access_list(rlp.decode_at(raw, p, end, 1)[0])
                elif kind == "B":
                    hashes = rlp.decode_at(raw, p, end, 1)[0]
                    if not hashes or not all(isinstance(h, bytes) for h in hashes):
                        return None
                elif kind == "U":
                    _authorizations(rlp.decode_at(raw, p, end, 1)[0])
                else:
                    return None
            elif kind == "I" or kind == "C":
                if e - s > 32 or (e > s and raw[s] == 0):
                    return None
                if kind == "C":
                    chain_id = int.from_bytes(raw[s:e], "big")
            elif kind == "Q":
                if e - s > 8 or (e > s and raw[s] == 0):
                    return None
            elif kind == "D":
                pass
            elif kind == "T":
                if e != s and e - s != 20:
                    return None
                no_to = e == s
            elif kind == "R":  # 0 < r < n: non-empty, no leading zero, below n as 32 big-endian bytes
                if e == s or e - s > 32 or raw[s] == 0:
                    return None
                r32 = _ZEROS[: 32 - (e - s)] + raw[s:e]
                if r32 >= _N_BYTES:
                    return None
            elif kind == "S":  # 0 < s <= n/2 (EIP-2)
                if e == s or e - s > 32 or raw[s] == 0:
                    return None
                s32 = _ZEROS[: 32 - (e - s)] + raw[s:e]
                if s32 > _HALF_N_BYTES:
                    return None
            elif kind == "Y":  # 0 is the empty string, 1 the single byte 0x01
                if e - s > 1 or (e > s and raw[s] != 1):
                    return None
                parity, sig_start = e - s, p
            elif kind == "V":
                if e - s > 32 or (e > s and raw[s] == 0):
                    return None
                v = int.from_bytes(raw[s:e], "big")
                if v >= 35:
                    chain_id, parity = (v - 35) // 2, (v - 35) % 2
                elif v in (27, 28):
                    parity = v - 27
                else:
                    return None
                sig_start = p
            else:  # a list field given a string
                return None
            p = e
    except DecodeError:
        return None
    if p != end or (no_to and tx_type in (BLOB, SET_CODE)):
        return None
    body = raw[start:sig_start]
    if tx_type == LEGACY:
        if chain_id is not None:
            body += rlp.encode(chain_id) + b"\x80\x80"
        digest = keccak(rlp.list_header(len(body)) + body)
    else:
        digest = keccak(raw[:1] + rlp.list_header(len(body)) + body)
    return tx_type, chain_id, digest, r32 + s32, parity


_CTX = GLOBAL_CONTEXT.ctx


def signature_recovers(digest: bytes, rs: bytes, y_parity: int) -> bool | None:
    """Whether the recoverable signature (r || s, y_parity) over `digest` recovers to a public key;
    None when it does not even parse (r or s not below n: `signature_view` never hands out one).

    libsecp256k1's own recovery (the call `recover_sender` makes through coincurve), without the
    public key object, its serialisation and the address hash, which admission does not need. False
    is exactly where `recover_sender` raises UNRECOVERABLE_SIGNATURE."""
    sig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
    if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, sig, rs, y_parity):
        return None
    return _lib.secp256k1_ecdsa_recover(_CTX, _ffi.new("secp256k1_pubkey *"), sig, digest) == 1


UNRECOVERABLE_SIGNATURE = "signature: cannot recover the sender (failed to recover ECDSA public key)"
"""`recover_sender`'s refusal of a signature that parses but recovers to no key (r no curve point's x,
or the recovered point at infinity): coincurve's wording inside, as its recovery raises it."""
