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

What nitro itself reads (inbox.py: arbstate/inbox.go, arbos/parse_l2.go) is shown beside that:
    segment += {"tx_count": n}                  transactions nitro gets from this L2 message
             | {"invalid": reason}              nitro makes it an invalid message / voids the whole message
    segment  = {"kind": "raw", "segment_kind": n | null, "raw": hex, "note": text, ["delta": n]}
                                                a segment the strict codec refuses but nitro reads on
                                                (empty, unknown kind, advance with trailing bytes, ...)
    "trailing": hex                             segment-stream bytes after the last segment nitro reads
    "inbox": {"messages": [{"kind", "segment", "timestamp", "l1_block", ["tx_count"], ["delayed_index"],
                            ["invalid"]}], "tx_count": n, "notes": [...], ["segments": [...]]}
              the messages the inbox multiplexer pops, in order, with timestamps and L1 blocks clamped
              to the header's bounds (sequencer-message layer) and virtual delayed reads up to its
              after_delayed_messages; "segments" holds a zeroheavy payload's decoded segments.
Options: {"delayed_messages_read": n}, the count before this batch (default: after_delayed_messages
less the batch's delayed segments, i.e. no virtual reads).
"""

from __future__ import annotations

from typing import Any

from sequencer.errors import DecodeError

from .calldata import (
    DELAY_PROOF,
    DELAYED_MESSAGE_FIELDS,
    FUNCTIONS,
    DelayProof,
    InboxCall,
    decode_inbox_call,
    encode_inbox_call,
)
from .compression import DEFAULT_LGWIN, DEFAULT_QUALITY, compress, decompress
from .inbox import (
    OPEN_HEADER,
    ReadBatch,
    l2_transactions,
    read_advance,
    read_messages,
    read_payload,
    read_segment_stream,
)
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
    RawSegment,
    Segment,
    decode_segment,
    encode_segments,
)
from .sequencer_message import (
    BatchPayload,
    SequencerHeader,
    decode_header,
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
            tx = msg.summary()
            summary = {
                "type": tx.tx_type,
                "chain_id": tx.chain_id,
                "nonce": tx.nonce,
                "to": _hex(tx.to) if tx.to is not None else None,
                "value": tx.value,
                "hash": _hex(tx.hash),
            }
            if tx.high_s:
                summary["high_s"] = True  # geth decodes it; our own admission policy would not
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
    if kind == "raw":
        return RawSegment(_unhex(doc.get("raw"), f"{field}.raw"))
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
        if "data" in doc and not doc.get("segments"):  # a brotli body nitro could not read, as it was
            return BatchPayload(0, data=_unhex(doc["data"], "data"))
        return BatchPayload(0, _segments_from(doc), trailing=_unhex(doc.get("trailing", "0x"), "trailing"))
    header_byte = doc["header_byte"]
    if header_byte is None:
        return BatchPayload(None)
    if not isinstance(header_byte, int) or not 0 < header_byte < 256:
        raise DecodeError("header_byte: expected a byte")
    return BatchPayload(header_byte, data=_unhex(doc.get("data", "0x"), "data"))


def segment_view(raw: bytes, index: int) -> dict[str, Any]:
    """One raw segment: the strict view when the codec reads it, else the verbatim "raw" form."""
    field = f"segment[{index}]"
    try:
        if raw:
            return segment_to_json(decode_segment(raw, field), field)
        why = "empty segment: skipped"
    except DecodeError as exc:
        why = str(exc)
    doc: dict[str, Any] = {"kind": "raw", "segment_kind": raw[0] if raw else None, "raw": _hex(raw), "note": why}
    if raw and raw[0] in (3, 4):
        value = read_advance(raw)
        if value is None:
            doc["note"] = f"{why}; nitro skips this advance segment"
        else:
            doc["delta"] = value
            doc["note"] = f"{why}; nitro reads delta {value} and ignores the rest"
    return doc


def inbox_view(batch: ReadBatch, views: list[dict[str, Any]] | None, header: SequencerHeader,
               delayed_read: int | None) -> dict[str, Any]:
    """The messages nitro pops from the batch, annotating `views` (the batch's segment views)."""
    if delayed_read is None:
        delayed_segments = sum(1 for seg in batch.segments if seg[:1] == b"\x02")
        delayed_read = max(header.after_delayed_messages - delayed_segments, 0)
    messages, notes = read_messages(batch, header, delayed_read)
    out = []
    total = 0
    for m in messages:
        item: dict[str, Any] = {"kind": m.kind, "segment": m.segment, "timestamp": m.timestamp, "l1_block": m.l1_block}
        target = views[m.segment] if views is not None and m.segment is not None else None
        if m.kind == "l2_message" and m.l2_message is not None:
            parsed = l2_transactions(m.l2_message, m.timestamp)
            item["tx_count"] = parsed.count
            total += parsed.count
            if parsed.error is not None:
                item["invalid"] = parsed.error
            if target is not None:
                target["tx_count"] = parsed.count
                if parsed.error is not None:
                    target["invalid"] = parsed.error
        elif m.kind == "delayed_message":
            item["delayed_index"] = m.delayed_index
        else:
            item["invalid"] = m.reason
            if target is not None:
                target["invalid"] = m.reason
        out.append(item)
    return {"messages": out, "tx_count": total, "notes": [*batch.warnings, *notes]}


def _payload_view(payload: bytes, header: SequencerHeader, delayed_read: int | None) -> dict[str, Any]:
    """The strict payload view where the codec reads it, the lenient one where nitro reads on,
    and "inbox": what nitro pops."""
    batch = read_payload(payload)
    if payload[:1] == b"\x00" and batch.stream is not None:
        views = [segment_view(seg, i) for i, seg in enumerate(batch.segments)]
        doc: dict[str, Any] = {"segments": views}
        if batch.rest:
            doc["trailing"] = _hex(batch.rest)
        doc["inbox"] = inbox_view(batch, views, header, delayed_read)
        return doc
    if payload[:1] == b"\x00":  # brotli that nitro cannot decompress: an empty batch
        doc = {"segments": [], "header_byte": 0, "data": _hex(payload[1:]), "warnings": list(batch.warnings)}
        doc["inbox"] = inbox_view(batch, None, header, delayed_read)
        return doc
    # Classified as inbox.go does (DACertificate 0x01 known); a zeroheavy payload keeps its encoded
    # bytes here ("needs_reader": "zeroheavy") and shows what they decode to under "inbox".
    needs = batch.needs_reader or ("zeroheavy" if batch.zeroheavy else None)
    doc = payload_to_json(BatchPayload(batch.header_byte, needs_reader=needs, data=payload[1:],
                                       warnings=() if batch.zeroheavy else batch.warnings))
    inner = None
    if batch.zeroheavy and batch.stream is not None:
        inner = [segment_view(seg, i) for i, seg in enumerate(batch.segments)]
    doc["inbox"] = inbox_view(batch, inner, header, delayed_read)
    if inner is not None:
        doc["inbox"]["segments"] = inner
    return doc


def _delayed_option(options: dict[str, Any] | None) -> int | None:
    value = (options or {}).get("delayed_messages_read")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DecodeError("options.delayed_messages_read: expected a non-negative integer")
    return value


def decode_json(data: bytes, layer: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    layer = layer or DEFAULT_LAYER
    delayed = _delayed_option(options)
    if layer == "segments":
        segments, rest, warning = read_segment_stream(data)
        views = [segment_view(seg, i) for i, seg in enumerate(segments)]
        doc: dict[str, Any] = {"segments": views}
        if rest:
            doc["trailing"] = _hex(rest)
        batch = ReadBatch(0, segments, rest, warnings=() if warning is None else (warning,))
        doc["inbox"] = inbox_view(batch, views, OPEN_HEADER, delayed)
        return doc
    if layer == "payload":
        return _payload_view(data, OPEN_HEADER, delayed)
    if layer == "sequencer-message":
        header = decode_header(data)
        doc = {"header": {k: getattr(header, k) for k in _HEADER_KEYS}}
        doc.update(_payload_view(data[SEQUENCER_HEADER_LEN:], header, delayed))
        return doc
    if layer == "calldata":
        return _calldata_to_json(decode_inbox_call(data), delayed)
    raise DecodeError(f"layer: unknown {layer!r}; known: {', '.join(LAYERS)}")


def encode_json(doc: dict[str, Any], layer: str | None, options: dict[str, Any] | None = None) -> bytes:
    layer = layer or DEFAULT_LAYER
    if not isinstance(doc, dict):
        raise DecodeError("document: expected an object")
    try:
        if layer == "segments":
            return encode_segments(_segments_from(doc)) + _unhex(doc.get("trailing", "0x"), "trailing")
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


def _calldata_to_json(call: InboxCall, delayed: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"function": call.function.name, "selector": _hex(call.selector)}
    for name, value in call.args.items():
        fields[name] = _hex(value) if isinstance(value, bytes) else value
    if call.delay_proof is not None:
        p = call.delay_proof
        fields[DELAY_PROOF] = {"before_delayed_acc": _hex(p.before_delayed_acc), "delayed_message": {
            name: _hex(v) if isinstance(v := getattr(p, name), bytes) else v for name in DELAYED_MESSAGE_FIELDS}}
    doc: dict[str, Any] = {"call": fields}
    if call.data is None:
        doc["segments"] = []
        doc["data_in_blobs"] = True
    else:
        # The 40-byte header is built by the contract, not in calldata: the payload view, unclamped.
        doc.update(_payload_view(call.data, OPEN_HEADER, delayed))
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
    proof = None
    for name in FUNCTIONS[selector].args:
        if name == DELAY_PROOF:
            proof = _delay_proof_from_json(call.get(name))
        elif name == "data":
            data = encode_payload(payload_from_json(doc))
        elif name == "gas_refunder":
            refunder = _unhex(call.get(name), f"call.{name}")
            args[name] = refunder
            if len(refunder) != 20:
                raise DecodeError(f"call.{name}: expected 20 bytes")
        else:
            args[name] = _uint(call, name, "call")
    return InboxCall(selector, args, data, proof)


def _delay_proof_from_json(doc: Any) -> DelayProof:
    if not isinstance(doc, dict) or not isinstance(doc.get("delayed_message"), dict):
        raise DecodeError("call.delay_proof: expected {before_delayed_acc, delayed_message: {...}}")
    m = doc["delayed_message"]
    f = "call.delay_proof.delayed_message"
    return DelayProof(
        _unhex(doc.get("before_delayed_acc"), "call.delay_proof.before_delayed_acc"), _uint(m, "kind", f),
        _unhex(m.get("sender"), f + ".sender"), _uint(m, "block_number", f), _uint(m, "timestamp", f),
        _uint(m, "inbox_seq_num", f), _uint(m, "base_fee_l1", f), _unhex(m.get("message_data_hash"),
                                                                         f + ".message_data_hash"),
    )
