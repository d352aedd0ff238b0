"""The operator's JSON view of Nitro batches (`sharedseq batch decode|encode --format nitro`).

    layer "sequencer-message": {"header": {min_timestamp, max_timestamp, min_l1_block, max_l1_block,
                                           after_delayed_messages}, "segments": [segment, ...]}
    layer "payload":           {"segments": [...]}            (starts at the header byte; no "header";
                                                               what encode_blocks returns)
    layer "segments":          {"segments": [...]}            (the uncompressed segment stream)
    layer "calldata":          {"call": {"function", "selector", "sequence_number", "after_delayed_messages_read",
                                         "gas_refunder", ["prev_message_count", "new_message_count"]},
                                "segments": [...], ...}       (a SequencerInbox call, selector first; the payload
                                                               view of its `data`; a blob call has "segments": [])
    segment = {"kind": "advance_timestamp" | "advance_l1_block", "delta": n}
            | {"kind": "delayed_message"}
            | {"kind": "l2_message", [brotli: true, compressed: hex], **l2_message}
    l2_message = {"l2_kind": "batch", "messages": [l2_message, ...]}
               | {"l2_kind": "signed_tx", "raw": hex, "tx": {chain_id, nonce, to, value, hash, type}}
               | {"l2_kind": "unsigned_user_tx" | "contract_tx",
                  gas_limit, max_fee_per_gas, [nonce], to, value, data}
               | {"l2_kind": "nonmutating_call" | "heartbeat" | "signed_compressed_tx", "data": hex}
               | {"l2_kind": "undecoded", "message_kind": n | null, "error": text, "raw": hex}
    A batch whose last bytes do not frame a sub-message adds "trailing": hex (the reference ignores them).
    An L2 message the reference would not parse is reported as "undecoded" and the rest is still read
    (l2_message.read_l2_message; arbos/parse_l2.go, arbos/block_processor.go).
A payload that is not a brotli batch adds "header_byte" and, as they apply, "needs_reader", "data" and
"warnings"; an empty payload has "header_byte": null. Hex is 0x-prefixed, integers are JSON numbers.
"""

from __future__ import annotations

from typing import Any

from sequencer.errors import DecodeError

from .calldata import FUNCTIONS, InboxCall, decode_inbox_call, encode_inbox_call
from .compression import DEFAULT_LGWIN, DEFAULT_QUALITY, compress, decompress
from .l2_message import (
    OPAQUE_KIND_NAMES,
    L2Batch,
    L2Message,
    OpaqueL2Message,
    SignedTx,
    UndecodedL2Message,
    UnsignedTx,
    encode_l2_message,
    read_l2_message,
)
from .limits import MAX_L2_BATCH_DEPTH, MAX_L2_MESSAGE_SIZE, SEQUENCER_HEADER_LEN
from .segments import (
    AdvanceL1BlockSegment,
    AdvanceTimestampSegment,
    DelayedMessageSegment,
    L2MessageSegment,
    Segment,
    decode_segments,
    encode_segments,
)
from .sequencer_message import (
    BatchPayload,
    SequencerHeader,
    decode_header,
    decode_payload,
    encode_header,
    encode_payload,
)

LAYERS = ("sequencer-message", "payload", "segments", "calldata")
DEFAULT_LAYER = LAYERS[0]
"""A layer of None means the first, as `sharedseq batch --layer` documents (encode_blocks gives "payload")."""

_HEADER_KEYS = ("min_timestamp", "max_timestamp", "min_l1_block", "max_l1_block", "after_delayed_messages")
_OPAQUE_KINDS = {name: kind for kind, name in OPAQUE_KIND_NAMES.items()}


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _unhex(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise DecodeError(f"{field}: expected a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise DecodeError(f"{field}: bad hex") from exc


def _uint(doc: dict[str, Any], key: str, field: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DecodeError(f"{field}.{key}: expected a non-negative integer")
    return value


def l2_message_to_json(msg: L2Message) -> dict[str, Any]:
    doc: dict[str, Any]
    match msg:
        case L2Batch(messages, trailing):
            doc = {"l2_kind": "batch", "messages": [l2_message_to_json(m) for m in messages]}
            if trailing:
                doc["trailing"] = _hex(trailing)
            return doc
        case UndecodedL2Message(raw, error):
            return {"l2_kind": "undecoded", "message_kind": raw[0] if raw else None, "error": error, "raw": _hex(raw)}
        case SignedTx(raw):
            tx = msg.decoded()
            summary = {
                "type": tx.tx_type,
                "chain_id": tx.chain_id,
                "nonce": tx.nonce,
                "to": _hex(tx.to) if tx.to is not None else None,
                "value": tx.value,
                "hash": _hex(tx.hash),
            }
            return {"l2_kind": "signed_tx", "raw": _hex(raw), "tx": summary}
        case UnsignedTx():
            doc = {
                "l2_kind": "contract_tx" if msg.nonce is None else "unsigned_user_tx",
                "gas_limit": msg.gas_limit,
                "max_fee_per_gas": msg.max_fee_per_gas,
            }
            if msg.nonce is not None:
                doc["nonce"] = msg.nonce
            doc.update(to=_hex(msg.to) if msg.to else None, value=msg.value, data=_hex(msg.data))
            return doc
        case OpaqueL2Message(kind, body):
            return {"l2_kind": OPAQUE_KIND_NAMES[kind], "data": _hex(body)}
    raise TypeError(f"not an L2 message: {msg!r}")


def l2_message_from_json(doc: Any, field: str = "l2_message", depth: int = 0) -> L2Message:
    if not isinstance(doc, dict):
        raise DecodeError(f"{field}: expected an object")
    if depth > MAX_L2_BATCH_DEPTH:
        raise DecodeError(f"{field}: L2 message batches have a max depth of {MAX_L2_BATCH_DEPTH}")
    kind = doc.get("l2_kind")
    if kind == "batch":
        subs = doc.get("messages")
        if not isinstance(subs, list):
            raise DecodeError(f"{field}.messages: expected a list")
        return L2Batch(
            tuple(l2_message_from_json(m, f"{field}.messages[{i}]", depth + 1) for i, m in enumerate(subs)),
            _unhex(doc.get("trailing", "0x"), f"{field}.trailing"),
        )
    if kind == "undecoded":
        return UndecodedL2Message(_unhex(doc.get("raw"), f"{field}.raw"), str(doc.get("error", "")))
    if kind == "signed_tx":
        return SignedTx(_unhex(doc.get("raw"), f"{field}.raw"))
    if kind in ("unsigned_user_tx", "contract_tx"):
        to = None if doc.get("to") is None else _unhex(doc["to"], f"{field}.to")
        if to is not None and len(to) != 20:
            raise DecodeError(f"{field}.to: expected 20 bytes")
        nonce = _uint(doc, "nonce", field) if kind == "unsigned_user_tx" else None
        return UnsignedTx(
            _uint(doc, "gas_limit", field),
            _uint(doc, "max_fee_per_gas", field),
            nonce,
            to,
            _uint(doc, "value", field),
            _unhex(doc.get("data", "0x"), f"{field}.data"),
        )
    if kind in _OPAQUE_KINDS:
        return OpaqueL2Message(_OPAQUE_KINDS[kind], _unhex(doc.get("data"), f"{field}.data"))
    raise DecodeError(f"{field}.l2_kind: unknown {kind!r}")


def segment_to_json(segment: Segment, field: str) -> dict[str, Any]:
    match segment:
        case AdvanceTimestampSegment(delta):
            return {"kind": "advance_timestamp", "delta": delta}
        case AdvanceL1BlockSegment(delta):
            return {"kind": "advance_l1_block", "delta": delta}
        case DelayedMessageSegment():
            return {"kind": "delayed_message"}
        case L2MessageSegment(l2_message, compressed):
            doc: dict[str, Any] = {"kind": "l2_message"}
            if compressed is not None:
                doc.update(brotli=True, compressed=_hex(compressed))
            doc.update(l2_message_to_json(read_l2_message(l2_message, field)))
            return doc
    raise TypeError(f"not a segment: {segment!r}")


def segment_from_json(doc: Any, field: str) -> Segment:
    if not isinstance(doc, dict):
        raise DecodeError(f"{field}: expected an object")
    kind = doc.get("kind")
    if kind == "advance_timestamp":
        return AdvanceTimestampSegment(_delta(doc, field))
    if kind == "advance_l1_block":
        return AdvanceL1BlockSegment(_delta(doc, field))
    if kind == "delayed_message":
        return DelayedMessageSegment()
    if kind != "l2_message":
        raise DecodeError(f"{field}.kind: unknown {kind!r}")
    message = encode_l2_message(l2_message_from_json(doc, field))
    if not doc.get("brotli"):
        return L2MessageSegment(message)
    compressed = _unhex(doc["compressed"], f"{field}.compressed") if "compressed" in doc else None
    # Keep the given brotli bytes when they still hold this message; otherwise compress afresh.
    if compressed is None or decompress(compressed, MAX_L2_MESSAGE_SIZE, f"{field}.compressed") != message:
        compressed = compress(message, DEFAULT_QUALITY, DEFAULT_LGWIN)
    return L2MessageSegment(message, compressed)


def _delta(doc: dict[str, Any], field: str) -> int:
    value = _uint(doc, "delta", field)
    if value >= 2**64:
        raise DecodeError(f"{field}.delta: over u64")
    return value


def _segments_json(segments: tuple[Segment, ...]) -> list[dict[str, Any]]:
    return [segment_to_json(s, f"segment[{i}]") for i, s in enumerate(segments)]


def _segments_from(doc: dict[str, Any]) -> tuple[Segment, ...]:
    segs = doc.get("segments")
    if not isinstance(segs, list):
        raise DecodeError("segments: expected a list")
    return tuple(segment_from_json(s, f"segment[{i}]") for i, s in enumerate(segs))


def payload_to_json(batch: BatchPayload) -> dict[str, Any]:
    doc: dict[str, Any] = {"segments": _segments_json(batch.segments)}
    if batch.header_byte != 0:
        doc["header_byte"] = batch.header_byte
        if batch.needs_reader is not None:
            doc["needs_reader"] = batch.needs_reader
        if batch.header_byte is not None:
            doc["data"] = _hex(batch.data)
        if batch.warnings:
            doc["warnings"] = list(batch.warnings)
    return doc


def payload_from_json(doc: dict[str, Any]) -> BatchPayload:
    if "header_byte" not in doc or doc["header_byte"] == 0:
        return BatchPayload(0, _segments_from(doc))
    header_byte = doc["header_byte"]
    if header_byte is None:
        return BatchPayload(None)
    if not isinstance(header_byte, int) or not 0 < header_byte < 256:
        raise DecodeError("header_byte: expected a byte")
    return BatchPayload(header_byte, data=_unhex(doc.get("data", "0x"), "data"))


def decode_json(data: bytes, layer: str | None) -> dict[str, Any]:
    layer = layer or DEFAULT_LAYER
    if layer == "segments":
        return {"segments": _segments_json(decode_segments(data))}
    if layer == "payload":
        return payload_to_json(decode_payload(data))
    if layer == "sequencer-message":
        header = decode_header(data)
        doc = {"header": {k: getattr(header, k) for k in _HEADER_KEYS}}
        doc.update(payload_to_json(decode_payload(data[SEQUENCER_HEADER_LEN:])))
        return doc
    if layer == "calldata":
        return _calldata_to_json(decode_inbox_call(data))
    raise DecodeError(f"layer: unknown {layer!r}; known: {', '.join(LAYERS)}")


def encode_json(doc: dict[str, Any], layer: str | None) -> bytes:
    layer = layer or DEFAULT_LAYER
    if not isinstance(doc, dict):
        raise DecodeError("document: expected an object")
    try:
        if layer == "segments":
            return encode_segments(_segments_from(doc))
        if layer == "payload":
            return encode_payload(payload_from_json(doc))
        if layer == "sequencer-message":
            header_doc = doc.get("header")
            if not isinstance(header_doc, dict):
                raise DecodeError("header: expected an object")
            header = SequencerHeader(*(_uint(header_doc, k, "header") for k in _HEADER_KEYS))
            return encode_header(header) + encode_payload(payload_from_json(doc))
        if layer == "calldata":
            return encode_inbox_call(_calldata_from_json(doc))
    except ValueError as exc:  # an out-of-range value met by an encoder
        raise DecodeError(f"document: {exc}") from exc
    raise DecodeError(f"layer: unknown {layer!r}; known: {', '.join(LAYERS)}")


def _calldata_to_json(call: InboxCall) -> dict[str, Any]:
    fields: dict[str, Any] = {"function": call.function.name, "selector": _hex(call.selector)}
    for name, value in call.args.items():
        fields[name] = _hex(value) if isinstance(value, bytes) else value
    doc: dict[str, Any] = {"call": fields}
    if call.data is None:
        doc["segments"] = []
        doc["data_in_blobs"] = True
    else:
        doc.update(payload_to_json(decode_payload(call.data)))
    return doc


def _calldata_from_json(doc: dict[str, Any]) -> InboxCall:
    call = doc.get("call")
    if not isinstance(call, dict):
        raise DecodeError("call: expected an object")
    selector = _unhex(call.get("selector"), "call.selector")
    if selector not in FUNCTIONS:
        raise DecodeError(f"call.selector: unknown {call.get('selector')}")
    args: dict[str, int | bytes] = {}
    data = None
    for name in FUNCTIONS[selector].args:
        if name == "data":
            data = encode_payload(payload_from_json(doc))
        elif name == "gas_refunder":
            refunder = _unhex(call.get(name), f"call.{name}")
            args[name] = refunder
            if len(refunder) != 20:
                raise DecodeError(f"call.{name}: expected 20 bytes")
        else:
            args[name] = _uint(call, name, "call")
    return InboxCall(selector, args, data)
