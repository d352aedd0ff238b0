"""The operator's JSON view of OP Stack batcher data, by layer (`sharedseq batch decode|encode`).

    {"frames":  [{"channel_id", "frame_number", "data_length", "is_last", "data"}],   (frame layers)
     "batches": [{"type": "singular", "parent_hash", "epoch_number", "epoch_hash", "timestamp",
                  "tx_count", "transactions"}
                 | {"type": "span", "rel_timestamp", "l1_origin_num", "parent_check",
                    "l1_origin_check", "block_count", "block_tx_counts", "tx_count",
                    "origin_bits", "txs": [{"type", "nonce", "gas", "to", "y_parity", "r", "s",
                                            "protected", "tx_data"}]}]}

Layers, from outermost: blob -> batcher-tx -> frame -> channel -> span-batch | singular-batch.
`span-batch` input is the raw body (prefix ++ payload, no version byte); `singular-batch` input
is the RLP list, optionally preceded by its 0x00 version byte. Hex strings are 0x-prefixed.
`batches` lists the batches op-node keeps from complete channels (pipeline.py); when it drops
anything, `"skipped": [{"stage", "where", "reason"}]` says what and why. With options
(`rollup_config`: a chain_spec.RollupConfig, `l1_timestamp`: the L1 inclusion time in seconds)
the rules are that fork's and `"fork"` names it; without, every fork is active.

Channel timeouts (pipeline.py) count L1 blocks: `decode_batcher_txs_json` takes a list of
batcher transactions, each with its L1 inclusion block, and derives across them:

    {"batcher_txs": [{"l1_block": N | null, "frames": [...]}], "batches": [..., "channel_id"],
     "incomplete_channels": ["0x.."], "skipped": [...], "channel_timeout": {...}, "fork"}

`"channel_timeout"` (also on the frame layers of `decode_json`) says whether timeouts were
applied: {"applied": true, "l1_blocks": T} (ChannelTimeout at the options' L1 time), or
{"applied": false, "reason": ...} when the L1 blocks are unknown, which is today's rule: no
channel times out. One batcher transaction alone (`l1_block` option) cannot time out a channel
it opens itself, so its block only shows that the rule was applied.

Encoding refuses what the fork at the options' time does not allow (brotli before Fjord, span
batches before Delta, set-code transactions before Isthmus, a channel over its RLP limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sequencer.errors import DecodeError

from .batches import SingularBatch, decode_singular_batch, encode_batch, encode_singular_batch
from .blob import decode_blob, encode_blob
from .chain_spec import LATEST, RollupConfig
from .channel import encode_channel
from .frames import Frame, decode_batcher_tx, decode_frames, encode_batcher_tx, encode_frames
from .pipeline import DEFAULT_CONTEXT, ForkContext, Skip, batch_check, check_encodable, derive_from_frames, read_channel
from .span_batch import SpanBatch, encode_span_batch, read_span_batch
from .span_txs import LEGACY_TX_TYPE, SpanBatchTxs, tx_type_of
from .wire import bits_from_list, bits_to_list, hex0x, unhex

LAYERS = ("batcher-tx", "frame", "channel", "span-batch", "singular-batch", "blob")


# --- decode --------------------------------------------------------------------------------------


def fork_context(options: dict[str, Any] | None) -> ForkContext:
    """The rules the options select: `rollup_config` and `l1_timestamp` (module doc)."""
    if not options:
        return DEFAULT_CONTEXT
    config = options.get("rollup_config") or DEFAULT_CONTEXT.config
    if not isinstance(config, RollupConfig):
        raise DecodeError("options: rollup_config must be a RollupConfig")
    t = options.get("l1_timestamp")
    return ForkContext(config, LATEST if t is None else int(t))


def decode_json(data: bytes, layer: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    layer = layer or LAYERS[0]
    ctx = fork_context(options)
    skipped: list[Skip] = []
    if layer in ("blob", "batcher-tx", "frame"):
        if layer == "frame":
            frames = decode_frames(data)
        else:
            frames = decode_batcher_tx(decode_blob(data) if layer == "blob" else data)
        block = None if not options else options.get("l1_block")
        derived = derive_from_frames([frames], ctx, skipped, l1_blocks=[block])
        doc: dict[str, Any] = {"frames": [frame_json(f) for f in frames],
                               "batches": [batch_json(k.batch) for k in derived.batches],
                               "channel_timeout": channel_timeout_json(derived.channel_timeout)}
    elif layer == "channel":
        doc = {"batches": [batch_json(k.batch) for k in read_channel(b"", data, ctx, skipped)]}
    elif layer == "span-batch":
        span, end = read_span_batch(data)
        if end < len(data):
            skipped.append(Skip("batch", "span batch", f"{len(data) - end} trailing bytes after the span batch "
                                                        "ignored (RawSpanBatch.decode)"))
        drop = batch_check(span, ctx)
        if drop is not None:
            skipped.append(Skip("batch", "span batch", f"op-node would drop this batch: {drop.reason}"))
        doc = {"batches": [batch_json(span)]}
    elif layer == "singular-batch":
        body, base = (data[1:], 1) if data[:1] == b"\x00" else (data, 0)
        doc = {"batches": [batch_json(decode_singular_batch(body, base))]}
    else:
        raise DecodeError(f"layer: unknown layer {layer!r}; layers: {', '.join(LAYERS)}")
    if skipped:
        doc["skipped"] = [s.to_json() for s in skipped]
    if options:
        doc["fork"] = ctx.fork
    return doc


NO_TIMEOUT_REASON = ("the L1 inclusion block of the batcher transactions is not known (give l1_block), "
                     "so no channel times out")


def channel_timeout_json(timeout: int | None) -> dict[str, Any]:
    """Whether channel timeouts were applied (module doc)."""
    if timeout is None:
        return {"applied": False, "reason": NO_TIMEOUT_REASON}
    return {"applied": True, "l1_blocks": timeout}


def decode_batcher_txs_json(entries: Sequence[tuple[int | None, bytes]], layer: str | None = None,
                            options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Batcher transactions in L1 order, each `(l1_block or None, data)` at the `batcher-tx` or
    `blob` layer -> the frames of each, the batches op-node keeps across them, and the skips.
    A transaction (or blob) that does not parse is skipped whole, as op-node's data sources
    skip it (frame_queue.go, blob_data_source.go); its L1 block is still traversed."""
    layer = layer or LAYERS[0]
    if layer not in ("batcher-tx", "blob"):
        raise DecodeError(f"layer: a list of batcher transactions is read at the batcher-tx or blob layer, "
                          f"not {layer!r}")
    ctx = fork_context(options)
    skipped: list[Skip] = []
    txs: list[tuple[Frame, ...]] = []
    views: list[dict[str, Any]] = []
    for i, (block, data) in enumerate(entries):
        try:
            frames = decode_batcher_tx(decode_blob(data) if layer == "blob" else data)
        except DecodeError as exc:
            skipped.append(Skip("batcher-tx", f"batcher transaction {i}", str(exc)))
            frames = ()
        txs.append(frames)
        views.append({"l1_block": block, "frames": [frame_json(f) for f in frames]})
    derived = derive_from_frames(txs, ctx, skipped, l1_blocks=[b for b, _ in entries])
    doc: dict[str, Any] = {
        "batcher_txs": views,
        "batches": [{**batch_json(k.batch), "channel_id": hex0x(k.channel_id)} for k in derived.batches],
        "incomplete_channels": [hex0x(c) for c in derived.incomplete],
        "channel_timeout": channel_timeout_json(derived.channel_timeout),
    }
    if skipped:
        doc["skipped"] = [s.to_json() for s in skipped]
    doc["fork"] = ctx.fork  # the fork picks the timeout (Granite: 50), so it is always named here
    return doc


def frame_json(f: Frame) -> dict[str, Any]:
    return {"channel_id": hex0x(f.channel_id), "frame_number": f.frame_number, "data_length": len(f.data),
            "is_last": f.is_last, "data": hex0x(f.data)}


def batch_json(batch: SingularBatch | SpanBatch) -> dict[str, Any]:
    if isinstance(batch, SingularBatch):
        return {
            "type": "singular", "parent_hash": hex0x(batch.parent_hash), "epoch_number": batch.epoch_number,
            "epoch_hash": hex0x(batch.epoch_hash), "timestamp": batch.timestamp,
            "tx_count": len(batch.transactions), "transactions": [hex0x(t) for t in batch.transactions],
        }
    return {
        "type": "span", "rel_timestamp": batch.rel_timestamp, "l1_origin_num": batch.l1_origin_num,
        "parent_check": hex0x(batch.parent_check), "l1_origin_check": hex0x(batch.l1_origin_check),
        "block_count": batch.block_count, "block_tx_counts": list(batch.block_tx_counts),
        "tx_count": batch.txs.count, "origin_bits": bits_to_list(batch.origin_bits, batch.block_count),
        "txs": _span_txs_json(batch.txs),
    }


def _span_txs_json(txs: SpanBatchTxs) -> list[dict[str, Any]]:
    out = []
    to_idx = legacy_idx = 0
    for i, data in enumerate(txs.tx_datas):
        to = None
        if not (txs.contract_creation_bits >> i) & 1:
            to = hex0x(txs.tx_tos[to_idx])
            to_idx += 1
        protected = None
        if tx_type_of(data) == LEGACY_TX_TYPE:
            protected = bool((txs.protected_bits >> legacy_idx) & 1)
            legacy_idx += 1
        r, s = txs.tx_sigs[i]
        out.append({
            "type": tx_type_of(data), "nonce": txs.tx_nonces[i], "gas": txs.tx_gases[i], "to": to,
            "y_parity": (txs.y_parity_bits >> i) & 1, "r": hex(r), "s": hex(s), "protected": protected,
            "tx_data": hex0x(data),
        })
    return out


# --- encode --------------------------------------------------------------------------------------


def encode_json(doc: dict[str, Any], layer: str | None, options: dict[str, Any] | None = None) -> bytes:
    """The inverse of decode_json; frame layers need each frame's "data"."""
    layer = layer or LAYERS[0]
    ctx = fork_context(options)
    try:
        return _encode(doc, layer, ctx)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise DecodeError(f"json: cannot encode layer {layer}: {type(exc).__name__}: {exc}") from exc


def _encode(doc: dict[str, Any], layer: str, ctx: ForkContext) -> bytes:
    if layer == "blob":
        return encode_blob(_encode(doc, "batcher-tx", ctx))
    if layer == "batcher-tx":
        return encode_batcher_tx(_frames_from_json(doc["frames"]))
    if layer == "frame":
        return encode_frames(_frames_from_json(doc["frames"]))
    if layer == "channel":
        typed = [batch_from_json(b) for b in doc["batches"]]
        compression = doc.get("compression", "brotli" if ctx.active("fjord") else "zlib")
        encoded = [encode_batch(b) for b in typed]
        check_encodable(typed, encoded, compression, ctx)
        return encode_channel(encoded, compression, limit=ctx.max_rlp_bytes)
    if layer == "span-batch":
        batch = batch_from_json(doc["batches"][0])
        if not isinstance(batch, SpanBatch):
            raise ValueError("span-batch layer needs a span batch")
        check_encodable([batch], [], None, ctx)
        return encode_span_batch(batch)
    if layer == "singular-batch":
        batch = batch_from_json(doc["batches"][0])
        if not isinstance(batch, SingularBatch):
            raise ValueError("singular-batch layer needs a singular batch")
        check_encodable([batch], [], None, ctx)
        return encode_singular_batch(batch)
    raise DecodeError(f"layer: unknown layer {layer!r}; layers: {', '.join(LAYERS)}")


def _frames_from_json(items: list[dict[str, Any]]) -> list[Frame]:
    frames = []
    for i, f in enumerate(items):
        data = unhex(f["data"], f"frames[{i}].data")
        if "data_length" in f and f["data_length"] != len(data):
            raise ValueError(f"frames[{i}]: data_length {f['data_length']} != len(data) {len(data)}")
        frames.append(Frame(unhex(f["channel_id"], f"frames[{i}].channel_id"), int(f["frame_number"]),
                            data, bool(f["is_last"])))
    return frames


def batch_from_json(b: dict[str, Any]) -> SingularBatch | SpanBatch:
    if b["type"] == "singular":
        return SingularBatch(
            unhex(b["parent_hash"], "parent_hash"), int(b["epoch_number"]), unhex(b["epoch_hash"], "epoch_hash"),
            int(b["timestamp"]), tuple(unhex(t, "transactions") for t in b["transactions"]),
        )
    if b["type"] != "span":
        raise ValueError(f"unknown batch type {b['type']!r}")
    txs = b["txs"]
    legacy = [t for t in txs if int(t["type"]) == LEGACY_TX_TYPE]
    span_txs = SpanBatchTxs(
        contract_creation_bits=bits_from_list([t["to"] is None for t in txs]),
        y_parity_bits=bits_from_list([int(t["y_parity"]) for t in txs]),
        tx_sigs=tuple((int(t["r"], 16), int(t["s"], 16)) for t in txs),
        tx_tos=tuple(unhex(t["to"], "to") for t in txs if t["to"] is not None),
        tx_datas=tuple(unhex(t["tx_data"], "tx_data") for t in txs),
        tx_nonces=tuple(int(t["nonce"]) for t in txs),
        tx_gases=tuple(int(t["gas"]) for t in txs),
        protected_bits=bits_from_list([bool(t["protected"]) for t in legacy]),
    )
    return SpanBatch(
        int(b["rel_timestamp"]), int(b["l1_origin_num"]), unhex(b["parent_check"], "parent_check"),
        unhex(b["l1_origin_check"], "l1_origin_check"), bits_from_list(b["origin_bits"]),
        tuple(int(c) for c in b["block_tx_counts"]), span_txs,
    )
