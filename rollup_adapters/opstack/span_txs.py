"""The `txs` section of a span batch and its per-transaction data
(delta/span-batches.md "Span batch format"; isthmus adds EIP-7702; op-node/rollup/derive
span_batch_txs.go, span_batch_tx.go).

    txs = contract_creation_bits ++ y_parity_bits ++ tx_sigs ++ tx_tos ++ tx_datas
          ++ tx_nonces ++ tx_gases ++ protected_bits
    contract_creation_bits = bitlist(total_tx_count)            1 = `to` is empty
    y_parity_bits          = bitlist(total_tx_count)
    tx_sigs                = (r: uint256 ++ s: uint256) * total_tx_count       32-byte big-endian each
    tx_tos                 = address20 * (total_tx_count - contract creations)
    tx_datas               = tx_data * total_tx_count
        legacy : rlp([value, gas_price, data])
        1      : 0x01 ++ rlp([value, gas_price, data, access_list])                       (EIP-2930)
        2      : 0x02 ++ rlp([value, max_priority_fee, max_fee, data, access_list])       (EIP-1559)
        4      : 0x04 ++ rlp([value, max_priority_fee, max_fee, data, access_list,
                              authorization_list])                                        (EIP-7702)
    tx_nonces              = uvarint * total_tx_count
    tx_gases               = uvarint * total_tx_count
    protected_bits         = bitlist(legacy_tx_count)                1 = EIP-155 protected

The chain id is not carried: it is the L2's own, supplied when full transactions are rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.core import evm_tx
from sequencer.core.evm_tx import EvmTransaction
from sequencer.errors import BadInput, DecodeError

from .wire import (
    Reader,
    RlpItem,
    bits_from_list,
    decode_rlp,
    encode_bits,
    encode_rlp,
    encode_uvarint,
    rlp_bytes,
    rlp_list,
    rlp_uint,
)

LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, SET_CODE_TX_TYPE = 0, 1, 2, 4
"""Transaction types a span batch can carry (blob transactions, type 3, cannot)."""

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
Authorization = tuple[int, bytes, int, int, int, int]
"""EIP-7702 authorization: (chain_id, address, nonce, y_parity, r, s)."""


@dataclass(frozen=True, slots=True)
class SpanTxData:
    """One `tx_datas` element: the fields a span batch does not split out."""

    tx_type: int
    value: int
    gas_price: int = 0
    max_priority_fee: int = 0
    max_fee: int = 0
    data: bytes = b""
    access_list: AccessList = ()
    authorization_list: tuple[Authorization, ...] = ()


@dataclass(frozen=True, slots=True)
class SpanBatchTxs:
    """The eight columns of a span batch's transactions, as on the wire."""

    contract_creation_bits: int
    y_parity_bits: int
    tx_sigs: tuple[tuple[int, int], ...]
    tx_tos: tuple[bytes, ...]
    tx_datas: tuple[bytes, ...]
    tx_nonces: tuple[int, ...]
    tx_gases: tuple[int, ...]
    protected_bits: int

    @property
    def count(self) -> int:
        return len(self.tx_datas)

    @property
    def tx_types(self) -> tuple[int, ...]:
        return tuple(tx_type_of(d) for d in self.tx_datas)


EMPTY_TXS = SpanBatchTxs(0, 0, (), (), (), (), (), 0)


def tx_type_of(tx_data: bytes) -> int:
    """A tx_data's type: its first byte if <= 0x7f (EIP-2718), else legacy."""
    return tx_data[0] if tx_data and tx_data[0] <= 0x7F else LEGACY_TX_TYPE


# --- one tx_data ---------------------------------------------------------------------------------


def _access_list_rlp(access: AccessList) -> list[RlpItem]:
    return [[addr, list(keys)] for addr, keys in access]


def encode_span_tx_data(tx: SpanTxData) -> bytes:
    if tx.tx_type == LEGACY_TX_TYPE:
        return encode_rlp([tx.value, tx.gas_price, tx.data])
    if tx.tx_type == ACCESS_LIST_TX_TYPE:
        body = [tx.value, tx.gas_price, tx.data, _access_list_rlp(tx.access_list)]
    elif tx.tx_type == DYNAMIC_FEE_TX_TYPE:
        body = [tx.value, tx.max_priority_fee, tx.max_fee, tx.data, _access_list_rlp(tx.access_list)]
    elif tx.tx_type == SET_CODE_TX_TYPE:
        auths = [[c, a, n, y, r, s] for c, a, n, y, r, s in tx.authorization_list]
        body = [tx.value, tx.max_priority_fee, tx.max_fee, tx.data, _access_list_rlp(tx.access_list), auths]
    else:
        raise ValueError(f"span batches cannot carry transaction type {tx.tx_type}")
    return bytes([tx.tx_type]) + encode_rlp(body)


def _decode_access_list(item: RlpItem) -> AccessList:
    out = []
    for i, entry in enumerate(rlp_list(item, "access_list")):
        pair = rlp_list(entry, f"access_list[{i}]", 2)
        keys = tuple(
            rlp_bytes(k, f"access_list[{i}].storage_keys[{j}]", 32)
            for j, k in enumerate(rlp_list(pair[1], f"access_list[{i}].storage_keys"))
        )
        out.append((rlp_bytes(pair[0], f"access_list[{i}].address", 20), keys))
    return tuple(out)


def _decode_authorizations(item: RlpItem) -> tuple[Authorization, ...]:
    out = []
    for i, entry in enumerate(rlp_list(item, "authorization_list")):
        f = rlp_list(entry, f"authorization_list[{i}]", 6)
        out.append((
            rlp_uint(f[0], f"authorization_list[{i}].chain_id"),
            rlp_bytes(f[1], f"authorization_list[{i}].address", 20),
            rlp_uint(f[2], f"authorization_list[{i}].nonce", 64),
            rlp_uint(f[3], f"authorization_list[{i}].y_parity", 8),
            rlp_uint(f[4], f"authorization_list[{i}].r"),
            rlp_uint(f[5], f"authorization_list[{i}].s"),
        ))
    return tuple(out)


_TYPED_FIELDS = {ACCESS_LIST_TX_TYPE: 4, DYNAMIC_FEE_TX_TYPE: 5, SET_CODE_TX_TYPE: 6}


def decode_span_tx_data(raw: bytes, base: int = 0) -> SpanTxData:
    """One tx_data element -> its fields (span_batch_tx.go UnmarshalBinary)."""
    tx_type = tx_type_of(raw)
    if tx_type == LEGACY_TX_TYPE:
        f = rlp_list(decode_rlp(raw, "tx_data", base), "tx_data", 3)
        return SpanTxData(LEGACY_TX_TYPE, rlp_uint(f[0], "tx_data.value"),
                          gas_price=rlp_uint(f[1], "tx_data.gas_price"), data=rlp_bytes(f[2], "tx_data.data"))
    if tx_type not in _TYPED_FIELDS:
        raise DecodeError(f"tx_data: unsupported transaction type {tx_type} at offset {base}")
    f = rlp_list(decode_rlp(raw[1:], "tx_data", base + 1), "tx_data", _TYPED_FIELDS[tx_type])
    value = rlp_uint(f[0], "tx_data.value")
    if tx_type == ACCESS_LIST_TX_TYPE:
        return SpanTxData(tx_type, value, gas_price=rlp_uint(f[1], "tx_data.gas_price"),
                          data=rlp_bytes(f[2], "tx_data.data"), access_list=_decode_access_list(f[3]))
    return SpanTxData(
        tx_type, value,
        max_priority_fee=rlp_uint(f[1], "tx_data.max_priority_fee"),
        max_fee=rlp_uint(f[2], "tx_data.max_fee"),
        data=rlp_bytes(f[3], "tx_data.data"),
        access_list=_decode_access_list(f[4]),
        authorization_list=_decode_authorizations(f[5]) if tx_type == SET_CODE_TX_TYPE else (),
    )


# --- the txs section -----------------------------------------------------------------------------


def encode_span_txs(txs: SpanBatchTxs) -> bytes:
    n = txs.count
    legacy = sum(1 for t in txs.tx_types if t == LEGACY_TX_TYPE)
    return b"".join([
        encode_bits(txs.contract_creation_bits, n),
        encode_bits(txs.y_parity_bits, n),
        b"".join(r.to_bytes(32, "big") + s.to_bytes(32, "big") for r, s in txs.tx_sigs),
        b"".join(txs.tx_tos),
        b"".join(txs.tx_datas),
        b"".join(encode_uvarint(x) for x in txs.tx_nonces),
        b"".join(encode_uvarint(x) for x in txs.tx_gases),
        encode_bits(txs.protected_bits, legacy),
    ])


def decode_span_txs(r: Reader, total: int, *, check_tx_data: bool = True) -> SpanBatchTxs:
    """Read the txs section for `total` transactions (span_batch_txs.go decode).

    `check_tx_data=False` frames each tx_data as op-node's ReadTxData does and leaves its fields
    to `check_span_txs` (derivation time, span_batch_txs.go fullTxs).
    """
    creation_bits = r.bits(total, "contract_creation_bits")
    y_parity_bits = r.bits(total, "y_parity_bits")
    sigs = []
    for _ in range(total):
        rr = int.from_bytes(r.take(32, "tx_sigs.r"), "big")
        sigs.append((rr, int.from_bytes(r.take(32, "tx_sigs.s"), "big")))
    tos = tuple(r.take(20, "tx_tos") for _ in range(total - creation_bits.bit_count()))
    datas = []
    for _ in range(total):
        at = r.offset
        if r.remaining() == 0:
            raise DecodeError(f"tx_datas: truncated at offset {at}")
        typed = r.data[r.pos] <= 0x7F
        prefix = r.take(1, "tx_datas.type") if typed else b""
        is_list, raw = r.rlp_raw("tx_datas")
        if not is_list:
            raise DecodeError(f"tx_datas: transaction payload must be an RLP list at offset {at}")
        datas.append(prefix + raw)
        if check_tx_data:
            decode_span_tx_data(prefix + raw, at)
    nonces = tuple(r.uvarint("tx_nonces") for _ in range(total))
    gases = tuple(r.uvarint("tx_gases") for _ in range(total))
    legacy = sum(1 for d in datas if tx_type_of(d) == LEGACY_TX_TYPE)
    protected_bits = r.bits(legacy, "protected_bits")
    return SpanBatchTxs(creation_bits, y_parity_bits, tuple(sigs), tos, tuple(datas), nonces, gases, protected_bits)


def check_span_txs(txs: SpanBatchTxs) -> None:
    """What op-node checks when it derives a span batch's transactions (span_batch_txs.go
    fullTxs, span_batch_tx.go UnmarshalBinary/convertToFullTx): every tx_data decodes to a
    supported type, there is a `to` for each non-creation, and set-code transactions have one."""
    to_idx = 0
    for i, raw in enumerate(txs.tx_datas):
        d = decode_span_tx_data(raw)
        if not (txs.contract_creation_bits >> i) & 1:
            if to_idx >= len(txs.tx_tos):
                raise DecodeError(f"tx_tos: not enough addresses for transaction {i}")
            to_idx += 1
        elif d.tx_type == SET_CODE_TX_TYPE:
            raise DecodeError(f"tx_tos: set-code transaction {i} has no destination")


# --- full transactions <-> columns ---------------------------------------------------------------


def span_txs_from_transactions(raw_txs: Sequence[bytes], chain_id: int) -> SpanBatchTxs:
    """Split raw signed transactions into span-batch columns (span_batch_txs.go AddTxs)."""
    creation, parity, protected = [], [], []
    sigs, tos, datas, nonces, gases = [], [], [], [], []
    for i, raw in enumerate(raw_txs):
        tx = evm_tx.decode_transaction(raw)
        if tx.tx_type not in (LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, SET_CODE_TX_TYPE):
            raise BadInput(f"transaction {i}: type {tx.tx_type} cannot be carried in a span batch")
        if tx.tx_type == LEGACY_TX_TYPE:
            protected.append(1 if tx.chain_id is not None else 0)
        if tx.protected and tx.chain_id != chain_id:
            raise BadInput(f"transaction {i}: chain id {tx.chain_id}, but the L2 chain id is {chain_id}")
        creation.append(1 if tx.to is None else 0)
        if tx.to is not None:
            tos.append(tx.to)
        parity.append(tx.y_parity)
        sigs.append((tx.r, tx.s))
        nonces.append(tx.nonce)
        gases.append(tx.gas)
        datas.append(encode_span_tx_data(SpanTxData(
            tx.tx_type, tx.value, gas_price=tx.gas_price, max_priority_fee=tx.max_priority_fee,
            max_fee=tx.max_fee, data=tx.data, access_list=tx.access_list,
            authorization_list=tx.authorization_list,
        )))
    return SpanBatchTxs(
        bits_from_list(creation), bits_from_list(parity), tuple(sigs), tuple(tos), tuple(datas),
        tuple(nonces), tuple(gases), bits_from_list(protected),
    )


def transactions_from_span_txs(txs: SpanBatchTxs, chain_id: int) -> list[bytes]:
    """Rebuild raw signed transactions (span_batch_txs.go recoverV + fullTxs)."""
    out = []
    to_idx = legacy_idx = 0
    for i, raw in enumerate(txs.tx_datas):
        d = decode_span_tx_data(raw)
        y = (txs.y_parity_bits >> i) & 1
        to = None
        if not (txs.contract_creation_bits >> i) & 1:
            if to_idx >= len(txs.tx_tos):
                raise DecodeError(f"tx_tos: not enough addresses for transaction {i}")
            to = txs.tx_tos[to_idx]
            to_idx += 1
        tx_chain_id: int | None = chain_id
        v = y
        if d.tx_type == LEGACY_TX_TYPE:
            if (txs.protected_bits >> legacy_idx) & 1:
                v = chain_id * 2 + 35 + y
            else:
                v, tx_chain_id = 27 + y, None
            legacy_idx += 1
        elif d.tx_type == SET_CODE_TX_TYPE and to is None:
            raise DecodeError(f"tx_tos: set-code transaction {i} has no destination")
        r, s = txs.tx_sigs[i]
        out.append(evm_tx.encode_transaction(EvmTransaction(
            tx_type=d.tx_type, chain_id=tx_chain_id, nonce=txs.tx_nonces[i], gas_price=d.gas_price,
            max_priority_fee=d.max_priority_fee, max_fee=d.max_fee, gas=txs.tx_gases[i], to=to,
            value=d.value, data=d.data, access_list=d.access_list, y_parity=y, r=r, s=s, v=v,
            authorization_list=d.authorization_list,
        )))
    return out
