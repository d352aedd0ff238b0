"""L2 messages: the body of an L2-message segment (arbos/parse_l2.go).

    l2_message = 0x00 ++ unsigned_tx_fields ++ nonce_word ...   unsigned user tx (see below)
               | 0x01 ++ contract_tx_fields                     contract tx
               | 0x02 ++ bytes                                  non-mutating call (unimplemented upstream)
               | 0x03 ++ (u64be(len) ++ l2_message)*            batch, nested at most 16 deep
               | 0x04 ++ signed_evm_tx                          signed tx (EIP-2718 envelope or legacy RLP)
               | 0x06 ++ bytes                                  heartbeat (deprecated)
               | 0x07 ++ bytes                                  signed compressed tx (unimplemented upstream)
    unsigned user tx = gas_limit w ++ max_fee_per_gas w ++ nonce w ++ to w ++ value w ++ calldata
    contract tx      = gas_limit w ++ max_fee_per_gas w ++ to w ++ value w ++ calldata
    w = 32-byte big-endian word; `to` is an address in the low 20 bytes (zero word = contract creation)

A signed transaction is checked as Nitro's go-ethereum reads it (signed_tx.py: high-s signatures and
any size up to the message cap accepted, type 3 and Arbitrum-internal types refused), not by the
admission policy our own rollups use. Every sub-message length is capped at MaxL2MessageSize before
it is sliced. Kinds 5 and 8 are reserved
and, with any unknown kind, refused by `decode_l2_message`.

`read_l2_message` is the lenient reading for the operator's view of real batches. It follows what the
reference does with a message it cannot parse (arbos/parse_l2.go parseL2Message returns an error, and
arbos/block_processor.go ProduceBlock logs it and makes a block with no transactions): the message is
kept whole as an `UndecodedL2Message` and the rest of the batch is still read. Inside a kind-3 batch,
a sub-message whose length prefix or body cannot be read ends the batch ("an error here means there
are no further messages in the batch", parse_l2.go, util.BytestringFromReader); those bytes are kept
as the batch's `trailing` so the message re-encodes byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sequencer.core.evm_tx import EvmTransaction, decode_transaction
from sequencer.errors import DecodeError

from .limits import MAX_L2_BATCH_DEPTH, MAX_L2_MESSAGE_SIZE, U64_MAX
from .signed_tx import NitroTx, decode_nitro_tx

KIND_UNSIGNED_USER_TX = 0
KIND_CONTRACT_TX = 1
KIND_NONMUTATING_CALL = 2
KIND_BATCH = 3
KIND_SIGNED_TX = 4
KIND_HEARTBEAT = 6
KIND_SIGNED_COMPRESSED_TX = 7
"""L2 message kinds (arbos/parse_l2.go, L2MessageKind_*)."""

OPAQUE_KIND_NAMES = {
    KIND_NONMUTATING_CALL: "nonmutating_call",
    KIND_HEARTBEAT: "heartbeat",
    KIND_SIGNED_COMPRESSED_TX: "signed_compressed_tx",
}


@dataclass(frozen=True, slots=True)
class SignedTx:
    """Kind 4: one raw signed EVM transaction, decoded strictly (`tx`) when parsed."""

    raw: bytes

    def decoded(self) -> EvmTransaction:
        """Strictly, as our admission policy decodes (low-s, size cap): for rollup blocks."""
        return decode_transaction(self.raw)

    def summary(self) -> NitroTx:
        """As Nitro reads it (signed_tx.py)."""
        return decode_nitro_tx(self.raw)


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    """Kind 0 (user, with nonce) or kind 1 (contract tx, nonce is None): sent from L1 without a signature."""

    gas_limit: int
    max_fee_per_gas: int
    nonce: int | None
    to: bytes | None
    value: int
    data: bytes


@dataclass(frozen=True, slots=True)
class OpaqueL2Message:
    """Kinds the reference recognises but does not turn into transactions here (2, 6, 7)."""

    kind: int
    body: bytes


@dataclass(frozen=True, slots=True)
class L2Batch:
    """Kind 3: sub-messages, each parsed as an L2 message one level deeper.

    `trailing` holds bytes after the last whole sub-message, which the reference ignores; only the
    lenient `read_l2_message` produces them.
    """

    messages: tuple[L2Message, ...]
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class UndecodedL2Message:
    """A whole L2 message (kind byte included) the reference would not turn into transactions:
    an unknown kind, a signed tx that does not decode, a malformed unsigned tx. `error` says why."""

    raw: bytes
    error: str = ""


L2Message = SignedTx | UnsignedTx | OpaqueL2Message | L2Batch | UndecodedL2Message


def _word(value: int, field: str) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"{field}: {value} does not fit 32 bytes")
    return value.to_bytes(32, "big")


def _encode_unsigned(msg: UnsignedTx) -> bytes:
    kind = KIND_CONTRACT_TX if msg.nonce is None else KIND_UNSIGNED_USER_TX
    out = bytes([kind]) + _word(msg.gas_limit, "gas_limit") + _word(msg.max_fee_per_gas, "max_fee_per_gas")
    if msg.nonce is not None:
        out += _word(msg.nonce, "nonce")
    to = msg.to or b""
    if len(to) not in (0, 20):
        raise ValueError("to: must be 20 bytes")
    return out + to.rjust(32, b"\x00") + _word(msg.value, "value") + msg.data


def encode_l2_message(msg: L2Message) -> bytes:
    match msg:
        case SignedTx(raw):
            return bytes([KIND_SIGNED_TX]) + raw
        case L2Batch(messages, trailing):
            parts = [bytes([KIND_BATCH])]
            for sub in messages:
                body = encode_l2_message(sub)
                parts.append(struct.pack(">Q", len(body)) + body)
            parts.append(trailing)
            return b"".join(parts)
        case UndecodedL2Message(raw):
            return raw
        case UnsignedTx():
            return _encode_unsigned(msg)
        case OpaqueL2Message(kind, body):
            return bytes([kind]) + body
    raise TypeError(f"not an L2 message: {msg!r}")


def _read_words(body: bytes, names: tuple[str, ...], field: str) -> tuple[list[int], bytes]:
    need = 32 * len(names)
    if len(body) < need:
        raise DecodeError(f"{field}.{names[len(body) // 32]}: truncated at {1 + len(body)}")
    words = [int.from_bytes(body[i * 32 : i * 32 + 32], "big") for i in range(len(names))]
    return words, body[need:]


def _decode_unsigned(kind: int, body: bytes, field: str) -> UnsignedTx:
    names = (
        ("gas_limit", "max_fee_per_gas")
        + (("nonce",) if kind == KIND_UNSIGNED_USER_TX else ())
        + (
            "to",
            "value",
        )
    )
    words, calldata = _read_words(body, names, field)
    values = dict(zip(names, words, strict=True))
    for name in ("gas_limit", "nonce"):
        if values.get(name, 0) > U64_MAX:
            raise DecodeError(f"{field}.{name}: >= 2^64")
    if values["to"] >= 2**160:
        # AddressFrom256FromReader drops the high 12 bytes; refusing them keeps decode/encode exact.
        raise DecodeError(f"{field}.to: address word has non-zero high bytes")
    to = values["to"].to_bytes(20, "big") if values["to"] else None
    return UnsignedTx(
        values["gas_limit"], values["max_fee_per_gas"], values.get("nonce"), to, values["value"], calldata
    )


def _decode_batch(body: bytes, field: str, depth: int) -> L2Batch:
    if depth >= MAX_L2_BATCH_DEPTH:
        raise DecodeError(f"{field}: L2 message batches have a max depth of {MAX_L2_BATCH_DEPTH}")
    messages: list[L2Message] = []
    offset = 0
    while offset < len(body):
        sub = f"{field}.messages[{len(messages)}]"
        if len(body) - offset < 8:
            raise DecodeError(f"{sub}.length: truncated at {offset + 1}")
        (length,) = struct.unpack_from(">Q", body, offset)
        if length > MAX_L2_MESSAGE_SIZE:
            raise DecodeError(
                f"{sub}.length: {length} over the {MAX_L2_MESSAGE_SIZE}-byte limit at {offset + 1}"
            )
        start = offset + 8
        if start + length > len(body):
            raise DecodeError(f"{sub}: truncated at {start + 1} (needs {length} bytes)")
        messages.append(decode_l2_message(body[start : start + length], sub, depth + 1))
        offset = start + length
    return L2Batch(tuple(messages))


def decode_l2_message(data: bytes, field: str = "l2_message", depth: int = 0) -> L2Message:
    """Parse one L2 message; offsets in errors are relative to this message's first (kind) byte."""
    if len(data) > MAX_L2_MESSAGE_SIZE:
        raise DecodeError(f"{field}: {len(data)} bytes over the {MAX_L2_MESSAGE_SIZE}-byte limit")
    if not data:
        raise DecodeError(f"{field}.kind: missing at 0")
    kind, body = data[0], data[1:]
    if kind == KIND_BATCH:
        return _decode_batch(body, field, depth)
    if kind == KIND_SIGNED_TX:
        try:
            decode_nitro_tx(body)
        except DecodeError as exc:
            raise DecodeError(f"{field}.signed_tx at 1: {exc}") from exc
        return SignedTx(body)
    if kind in (KIND_UNSIGNED_USER_TX, KIND_CONTRACT_TX):
        return _decode_unsigned(kind, body, field)
    if kind in OPAQUE_KIND_NAMES:
        return OpaqueL2Message(kind, body)
    raise DecodeError(f"{field}.kind: unknown L2 message kind {kind} at 0")


def read_l2_message(data: bytes, field: str = "l2_message", depth: int = 0) -> L2Message:
    """Parse one L2 message as the reference's block producer treats it: never raises DecodeError;
    what cannot be parsed is returned as an `UndecodedL2Message` (see the module docstring)."""
    if not data or len(data) > MAX_L2_MESSAGE_SIZE or data[0] != KIND_BATCH:
        try:
            return decode_l2_message(data, field, depth)
        except DecodeError as exc:
            return UndecodedL2Message(data, str(exc))
    if depth >= MAX_L2_BATCH_DEPTH:
        return UndecodedL2Message(data, f"{field}: L2 message batches have a max depth of {MAX_L2_BATCH_DEPTH}")
    body = data[1:]
    messages: list[L2Message] = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < 8:
            break
        (length,) = struct.unpack_from(">Q", body, offset)
        start = offset + 8
        if length > MAX_L2_MESSAGE_SIZE or start + length > len(body):
            break
        messages.append(read_l2_message(body[start : start + length], f"{field}.messages[{len(messages)}]",
                                        depth + 1))
        offset = start + length
    return L2Batch(tuple(messages), body[offset:])


def signed_transactions(msg: L2Message, field: str = "l2_message") -> list[bytes]:
    """The raw signed transactions of a message, batches flattened in order (as ParseL2Transactions
    returns them). Other kinds carry no signed transaction a rollup block could hold."""
    if isinstance(msg, SignedTx):
        return [msg.raw]
    if isinstance(msg, L2Batch):
        out: list[bytes] = []
        for i, sub in enumerate(msg.messages):
            out.extend(signed_transactions(sub, f"{field}.messages[{i}]"))
        return out
    raise DecodeError(f"{field}: a {type(msg).__name__} has no signed transaction for a rollup block")
