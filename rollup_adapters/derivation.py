"""Rules every party derives identically: the batcher when it encodes, the
soft node from the sequencer stream, the firm node from L1 alone.

1. Rollup blocks: `base.group_rollup_blocks` by each rollup's block time,
   genesis at Unix time 0, so rollup block k covers [k*bt, (k+1)*bt) ms.
2. Forced inclusion (rule F): a forced transaction queued on L1 for a rollup
   (SequencerInbox.enqueueForced, with `deadline` = L1 block + delay) is
   applied at the start of the first rollup block whose L1 origin number is
   at or past its deadline, in queue order, whatever the sequencer does. If
   the sequencer already included the same transaction earlier, the EVM
   refuses the replay (nonce), so the effect happens once.
3. Posting container: a window carries one byte string per rollup,
   `rlp([payloads, forced_indices])`: the adapter's payloads in L1 order,
   each byte-exact in the rollup's format, and the indices of those that are
   forced batches (zkEVM); `forced_indices` is empty for other formats.
   OP Stack batches carry no forced transactions (an OP node reads them from
   L1 as it reads deposits); Nitro carries them as delayed-message reads,
   zkEVM as forced batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import rlp

from sequencer.core.types import ZERO_HASH, Hash32, RollupId
from sequencer.errors import DecodeError

from .base import RollupBlock
from .registry import get_format
from .zkevm.adapter import is_forced as is_forced_batch

FORMATS_CARRYING_FORCED = frozenset({"nitro", "zkevm"})


@dataclass(frozen=True, slots=True)
class ForcedTx:
    """A forced transaction from the inbox's ForcedTxEnqueued event."""

    rollup_id: RollupId
    seq: int
    data: bytes
    l1_block: int
    deadline: int


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where one rollup's derivation stands between two posting windows."""

    next_number: int
    prev_timestamp_ms: int | None = None
    prev_l1_origin: tuple[int, Hash32] = (0, ZERO_HASH)
    forced_applied: int = 0

    def after(self, blocks: Sequence[RollupBlock]) -> Cursor:
        if not blocks:
            return self
        last = blocks[-1]
        return Cursor(last.number + 1, last.timestamp_ms, (last.l1_origin_number, last.l1_origin_hash),
                      self.forced_applied + sum(len(b.forced) for b in blocks))


def place_forced(blocks: Sequence[RollupBlock], queue: Sequence[ForcedTx], applied: int) -> list[RollupBlock]:
    """Rule F: fill each block's `forced` from the queue (ordered by seq), starting at `applied`."""
    out = []
    i = applied
    for b in blocks:
        take = []
        while i < len(queue) and queue[i].deadline <= b.l1_origin_number:
            if queue[i].seq != i:
                raise ValueError(f"forced queue out of order: seq {queue[i].seq} at position {i}")
            take.append(queue[i].data)
            i += 1
        out.append(replace(b, forced=tuple(take)))
    return out


def adapter_config(fmt: str, rollup_id: RollupId, block_time_ms: int, cursor: Cursor,
                   forced_queue: Sequence[ForcedTx] = ()) -> dict[str, Any]:
    """The format's encode/decode config for the next window of one rollup."""
    if fmt == "opstack":
        cfg: dict[str, Any] = {"chain_id": rollup_id, "genesis_timestamp": 0, "block_time": block_time_ms // 1000,
                               "channel_seed": rollup_id.to_bytes(8, "big")}
        if cursor.prev_timestamp_ms is not None:
            cfg["prev_l1_origin_number"] = cursor.prev_l1_origin[0]
        return cfg
    if fmt == "nitro":
        return {"first_block_number": cursor.next_number, "delayed_messages_read": cursor.forced_applied,
                "delayed_inbox": [f.data for f in forced_queue[cursor.forced_applied:]]}
    if fmt == "zkevm":
        # The first window's first block has delta 0 from its own window start.
        prev = cursor.prev_timestamp_ms
        return {"first_number": cursor.next_number,
                "prev_timestamp_ms": prev if prev is not None else cursor.next_number * block_time_ms}
    raise DecodeError(f"format: unknown batch format {fmt!r}")


def encode_window_batch(fmt: str, rollup_id: RollupId, block_time_ms: int, blocks: Sequence[RollupBlock],
                        cursor: Cursor) -> bytes:
    """One rollup's batch data for a posting window (the container of rule 3)."""
    if fmt not in FORMATS_CARRYING_FORCED:
        blocks = [replace(b, forced=()) for b in blocks]
    payloads = get_format(fmt).encode_blocks(blocks, adapter_config(fmt, rollup_id, block_time_ms, cursor))
    forced_idx = [i for i, p in enumerate(payloads) if is_forced_batch(p)]
    return rlp.encode([[bytes(p) for p in payloads], forced_idx])


def decode_container(data: bytes) -> tuple[list[bytes], set[int]]:
    """Split a window batch (rule 3) into its payloads and the indices of forced batches."""
    try:
        payloads, idx = rlp.decode(data, strict=True)
        forced = {int.from_bytes(i, "big") for i in idx}
        if not isinstance(payloads, list) or not all(isinstance(p, bytes) for p in payloads):
            raise DecodeError("window batch: payloads must be a list of byte strings")
    except (rlp.exceptions.DecodingError, ValueError, TypeError) as exc:
        raise DecodeError(f"window batch: malformed container ({exc})") from exc
    if any(i >= len(payloads) for i in forced):
        raise DecodeError("window batch: a forced index points past the payloads")
    return payloads, forced


def post_window_batch(calldata: bytes, rollup_id: RollupId) -> bytes:
    """One rollup's batch (the container) from the input data of a SequencerInbox.postWindow call."""
    from eth_abi import decode as abi_decode

    header = "(uint64,bytes32,uint64,uint64,bytes32,bytes32,uint32,bytes32)"
    proof = f"({header},bytes32[],{header},bytes,bytes32[],uint64,bytes32)"
    try:
        _, rollup_ids, batches, _ = abi_decode([proof, "uint64[]", "bytes[]", "uint64[]"], calldata[4:])
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several unrelated types
        raise DecodeError(f"postWindow input: cannot ABI-decode it ({exc})") from exc
    if rollup_id not in rollup_ids:
        raise DecodeError(f"postWindow input: no batch for rollup {rollup_id} (rollups: {list(rollup_ids)})")
    return bytes(batches[list(rollup_ids).index(rollup_id)])


def decode_window_batch(fmt: str, rollup_id: RollupId, block_time_ms: int, data: bytes, cursor: Cursor,
                        forced_queue: Sequence[ForcedTx] = ()) -> list[RollupBlock]:
    """Inverse of encode_window_batch: the rollup blocks of one window, with
    `forced` set by rule F (and checked against the format where it carries them)."""
    payloads, forced = decode_container(data)
    forced_idx = sorted(forced)
    config = adapter_config(fmt, rollup_id, block_time_ms, cursor, forced_queue)
    if fmt == "zkevm":
        config["forced"] = forced_idx
    decoded = get_format(fmt).decode_blocks(payloads, config)
    placed = place_forced(decoded, forced_queue, cursor.forced_applied)
    if fmt in FORMATS_CARRYING_FORCED:
        for d, p in zip(decoded, placed, strict=True):
            if d.forced != p.forced:
                raise DecodeError(f"block {d.number}: batch carries {len(d.forced)} forced txs, rule F gives "
                                  f"{len(p.forced)}")
    return placed
