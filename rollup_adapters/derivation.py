"""Rules every party derives identically: the batcher when it encodes, the
soft node from the sequencer stream, the firm node from L1 alone
(docs/settlement.md sections 4 and 5).

1. Rollup blocks: `base.group_rollup_blocks` by each rollup's block time,
   genesis at Unix time 0, so rollup block k covers [k*bt, (k+1)*bt) ms.
2. Forced inclusion (rule F, `place_forced`): forced entry e of rollup R,
   enqueued on L1 at block E_e (SequencerInbox.enqueueForced), is applied at
   the start of the first rollup block of R whose L1 origin number is
   >= E_e, in queue order. A posting window covering R applies exactly the
   entries [previous forcedTo, forcedTo): every entry enqueued at or before
   the window's L1 origin (the inbox computes forcedTo that way; the last
   rollup block of a window carries the window's origin, so rule F and the
   inbox agree). `RollupBlock.forced` holds every entry rule F applies in
   that block, in queue order, skipped ones included.
3. Skip rule (`forced_refusal`): an entry the rollup's admission policy
   refuses is skipped: it counts as applied (it moves forcedTo and the
   cursor) and has no effect. The policy is the format's default policy
   (its registry entry, rollup_adapters/spec.py FormatSpec.default_policy),
   with chain id = rollup id: opstack and nitro take a signed EVM
   transaction of any envelope ("evm"), zkevm only a legacy EIP-155 one
   ("evm-legacy": its batches carry nothing else); the entry must also fit
   the format (`FormatLimits.max_forced_tx_bytes`, and the format's own
   `forced_check`: for zkevm its tx entry in one forced batch).
   Every node executes `admitted_forced(...)` only, and the encoder never
   sees a skipped entry where the format would have to encode it, so junk
   cannot halt the batcher or a node. What the formats carry
   (`FormatSpec.forced`, a ForcedCarriage):
   - NONE (opstack): nothing (an OP node reads forced transactions from
     L1, as deposits); rule F alone places them.
   - EVERY_APPLIED (nitro): one delayed-message read per applied entry,
     skipped ones included, so `after_delayed_messages` counts exactly the
     entries applied, as Nitro's own accounting does (Nitro reads an
     invalid delayed message and makes no transaction of it).
   - ADMITTED (zkevm): one forced-batch tx entry per admitted entry only; a
     skipped entry has no forced batch (it cannot be encoded in one). The
     window's forcedTo still counts it.
   If the sequencer already included a forced transaction earlier, the EVM
   refuses the replay (nonce), so its effect happens once.
4. Posting container: a window carries one byte string per rollup,
   `rlp([payloads, forced_indices])`: the adapter's payloads in L1 order,
   each byte-exact in the rollup's format, and the indices of those that are
   forced batches (zkEVM: the payloads encode_blocks tags as forced, which a
   decoding config's `forced` field names back); `forced_indices` is empty
   for other formats.
5. Firm check (`check_batch_against_witness`): the decoded blocks of one
   window must be exactly what the signed witness says: rollup blocks
   grouped from the witness headers by `group_rollup_blocks`, each block's
   transactions (forced ones excluded) split over its shared blocks by the
   tx counts of the rollup's namespace leaves, each share rebuilding its
   leaf's tx root, and a shared block without a leaf for the rollup giving
   nothing. L1 origins are taken from the signed headers.
6. A window that leaves a rollup out (paused on L1, or its batch could not
   be encoded) gives it nothing and keeps its cursor; the next window that
   lists it carries its batch over every shared block since its last listed
   window: the check of rule 5 runs against those windows' witness blocks
   joined (`join_witnesses`), and rule F places forced entries over all of
   them up to the listing window's origin (its forcedTo). The batcher builds
   it the same way (sequencer/l1/windows.py `encode_cut`, `pending`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from sequencer.core import rlp_codec
from sequencer.core.commitments import tx_root
from sequencer.core.policy import make_policy
from sequencer.core.signing import block_hash
from sequencer.core.types import RollupId, SharedBlock
from sequencer.core.window import WitnessBlock
from sequencer.errors import BadInput, DecodeError

from .base import Cursor, ForcedPayload, RollupBlock, RollupTiming, group_rollup_blocks
from .registry import ByFormat, get_spec
from .spec import ForcedCarriage, FormatSpec

__all__ = ["Cursor"]  # re-exported: it lives in base.py, where the format packages' window configs take it

MAX_FORCED_TX_BYTES = ByFormat("max_forced_tx_bytes")
"""The format's own limit on one forced entry, in bytes, per registered format (each package's
FormatLimits: OP Stack OptimismPortal's large-calldata bound 120,000, Nitro Inbox maxDataSize 117,964,
zkEVM 4,900 so that its tx entry stays inside an Etrog forced batch of 5,000, checked too). The same
mapping as deploy/deployer.py FORCED_TX_LIMITS (the registry's maxForcedTxBytes per rollup, enforced at
enqueue), so the inbox never queues an entry this rule skips for its size."""


def _spec(fmt: str) -> FormatSpec:
    try:
        return get_spec(fmt)
    except BadInput as exc:  # NotFound: a rollup naming a format nobody registered
        raise DecodeError(f"format: {exc}") from None


class DerivationError(BadInput):
    """Posted data contradicts what derivation requires: a batch that does not match the signed
    witness, or forced entries that disagree with rule F. The message names the rollup block and,
    where it matters, the shared height."""


class ForcedQueueOutOfOrder(DerivationError, ValueError):
    """The forced queue read from L1 is not in enqueue order (an L1 node answering wrong): refused as
    posted data; a ValueError too, as it was before the one error hierarchy (issue 10)."""


@dataclass(frozen=True, slots=True)
class ForcedTx:
    """A forced transaction from the inbox's ForcedTxEnqueued event: position `seq` in its rollup's
    queue, enqueued at L1 block `l1_block` (E in rule F). `deadline` is what the pre-settlement inbox
    logged; rule F does not read it."""

    rollup_id: RollupId
    seq: int
    data: bytes
    l1_block: int
    deadline: int = 0


# ---------------------------------------------------------------------------- rule F and the skip rule


def forced_refusal(fmt: str, rollup_id: RollupId, data: bytes) -> str | None:
    """Why rollup `rollup_id` (format `fmt`) skips forced entry `data`, or None if it applies it (rule 3)."""
    spec = _spec(fmt)
    limit = spec.limits.max_forced_tx_bytes
    if not 1 <= len(data) <= limit:
        return f"{len(data)} bytes, the {fmt} format takes 1..{limit}"
    try:
        make_policy(spec.default_policy, rollup_id).check(data)
    except BadInput as exc:
        return str(exc)
    return spec.forced_check(data) if spec.forced_check is not None else None


def admitted_forced(fmt: str, rollup_id: RollupId, forced: Sequence[bytes]) -> tuple[bytes, ...]:
    """The forced entries of a block that take effect (rule 3): what a node executes, in order."""
    return tuple(f for f in forced if forced_refusal(fmt, rollup_id, f) is None)


def place_forced(blocks: Sequence[RollupBlock], queue: Sequence[ForcedTx], applied: int) -> list[RollupBlock]:
    """Rule F: each block's `forced` from the queue (ordered by seq), starting at position `applied`:
    the entries not yet applied whose enqueue block is at or before the block's L1 origin."""
    out = []
    i = applied
    for b in blocks:
        take = []
        while i < len(queue) and queue[i].l1_block <= b.l1_origin_number:
            if queue[i].seq != i:
                raise ForcedQueueOutOfOrder(f"forced queue out of order: seq {queue[i].seq} at position {i}")
            if i > 0 and queue[i].l1_block < queue[i - 1].l1_block:
                raise ForcedQueueOutOfOrder(f"forced queue out of order: entry {i} enqueued before entry {i - 1}")
            take.append(queue[i].data)
            i += 1
        out.append(replace(b, forced=tuple(take)))
    return out


def forced_to_after(queue: Sequence[ForcedTx], l1_origin_number: int) -> int:
    """forcedTo of a window with L1 origin `l1_origin_number`: the entries enqueued at or before it
    (what the inbox computes, docs/settlement.md section 3)."""
    n = 0
    while n < len(queue) and queue[n].l1_block <= l1_origin_number:
        n += 1
    return n


# ---------------------------------------------------------------------------- encoding and decoding


def adapter_config(fmt: str, rollup_id: RollupId, block_time_ms: int, cursor: Cursor,
                   forced_queue: Sequence[ForcedTx] = ()) -> Any:
    """The format's typed encode/decode config (its SPEC.config_type) for the next window of one rollup."""
    return _spec(fmt).window_config(rollup_id, block_time_ms, cursor,
                                    tuple(f.data for f in forced_queue[cursor.forced_applied:]))


def _format_forced(fmt: str, rollup_id: RollupId, forced: Sequence[bytes]) -> tuple[bytes, ...]:
    """The forced entries of a block as the format carries them (rule 3)."""
    carriage = _spec(fmt).forced
    if carriage is ForcedCarriage.EVERY_APPLIED:
        return tuple(forced)
    if carriage is ForcedCarriage.ADMITTED:
        return admitted_forced(fmt, rollup_id, forced)
    return ()


def _is_forced_payload(payload: bytes) -> bool:
    """A payload encode_blocks tagged as a forced batch (base.ForcedPayload; zkEVM's ForcedBatchPayload),
    so the container lists its index (rule 4)."""
    return isinstance(payload, ForcedPayload)


def encode_window_batch(fmt: str, rollup_id: RollupId, block_time_ms: int, blocks: Sequence[RollupBlock],
                        cursor: Cursor) -> bytes:
    """One rollup's batch data for a posting window (the container of rule 4). `blocks` come from
    place_forced; skipped forced entries are left out where the format would have to encode them."""
    blocks = [replace(b, forced=_format_forced(fmt, rollup_id, b.forced)) for b in blocks]
    payloads = _spec(fmt).codec.encode_blocks(blocks, adapter_config(fmt, rollup_id, block_time_ms, cursor))
    forced_idx = [i for i, p in enumerate(payloads) if _is_forced_payload(p)]
    return rlp_codec.encode([[bytes(p) for p in payloads], forced_idx])


def decode_container(data: bytes) -> tuple[list[bytes], set[int]]:
    """Split a window batch (rule 4) into its payloads and the indices of forced batches."""
    try:
        top = rlp_codec.decode(data)
    except DecodeError as exc:
        raise DecodeError(f"window batch: malformed container ({exc})") from exc
    if not isinstance(top, list) or len(top) != 2:
        raise DecodeError("window batch: malformed container (expected rlp([payloads, forced_indices]))")
    payloads, idx = top
    if not isinstance(idx, list) or not all(isinstance(i, bytes) for i in idx):
        raise DecodeError("window batch: malformed container (forced_indices must be a list of integers)")
    forced = {int.from_bytes(i, "big") for i in idx if isinstance(i, bytes)}
    if not isinstance(payloads, list) or not all(isinstance(p, bytes) for p in payloads):
        raise DecodeError("window batch: payloads must be a list of byte strings")
    if any(i >= len(payloads) for i in forced):
        raise DecodeError("window batch: a forced index points past the payloads")
    return [p for p in payloads if isinstance(p, bytes)], forced
WINDOW_ABI = "(uint64,uint64,bytes32,bytes32,bytes32,uint64,uint64,uint64,bytes32,bytes32,bytes32)"
"""SharedSeqLib.Window as an ABI tuple (docs/settlement.md section 1)."""
POST_WINDOW_SIGNATURE = f"postWindow({WINDOW_ABI},bytes,uint64[],bytes[],uint64[],bytes)"
"""SequencerInbox.postWindow(Window w, bytes sig, uint64[] rollupIds, bytes[] batches, uint64[] forcedTo,
bytes witness) (docs/settlement.md section 3); sequencer/l1/inbox.py derives the same from the artifacts."""


def post_window_batch(calldata: bytes, rollup_id: RollupId) -> bytes:
    """One rollup's batch (the container) from the input data of a SequencerInbox.postWindow call."""
    from eth_abi import decode as abi_decode

    try:
        _, _, rollup_ids, batches, _, _ = abi_decode([WINDOW_ABI, "bytes", "uint64[]", "bytes[]", "uint64[]", "bytes"],
                                                     calldata[4:])
    except Exception as exc:  # eth_abi raises several unrelated types
        raise DecodeError(f"postWindow input: cannot ABI-decode it ({exc})") from exc
    if rollup_id not in rollup_ids:
        raise DecodeError(f"postWindow input: no batch for rollup {rollup_id} (rollups: {list(rollup_ids)})")
    return bytes(batches[list(rollup_ids).index(rollup_id)])


def decode_window_batch(fmt: str, rollup_id: RollupId, block_time_ms: int, data: bytes, cursor: Cursor,
                        forced_queue: Sequence[ForcedTx] = (),
                        witness: Sequence[WitnessBlock] | None = None) -> list[RollupBlock]:
    """Inverse of encode_window_batch: the rollup blocks of one window, with `forced` set by rule F
    (and checked against what the format carries of them).

    With `witness` (the window's verified witness, firm node), the blocks are first checked against
    it (`check_batch_against_witness`) and carry the signed headers' L1 origins, so rule F follows
    what the sequencer signed, not what the batch says."""
    payloads, forced = decode_container(data)
    spec = _spec(fmt)
    config = adapter_config(fmt, rollup_id, block_time_ms, cursor, forced_queue)
    if "forced" in {f.name for f in fields(config)}:  # the format reads forced batches by index (rule 4)
        config = replace(config, forced=tuple(sorted(forced)))
    decoded = spec.codec.decode_blocks(payloads, config)
    if witness is not None:
        decoded = check_batch_against_witness(decoded, witness, rollup_id, RollupTiming(0, block_time_ms), cursor)
    placed = place_forced(decoded, forced_queue, cursor.forced_applied)
    for d, p in zip(decoded, placed, strict=True):
        carried = _format_forced(fmt, rollup_id, p.forced)
        if spec.forced is not ForcedCarriage.NONE and tuple(d.forced) != carried:
            raise DerivationError(f"rollup {rollup_id} block {d.number}: batch carries {len(d.forced)} forced "
                                  f"entries, rule F gives {len(carried)} (of {len(p.forced)} applied)")
    return placed


# ---------------------------------------------------------------------------- firm check against the witness


def witness_rollup_blocks(witness: Sequence[WitnessBlock], rollup_id: RollupId, timing: RollupTiming, cursor: Cursor,
                          last_number: int) -> list[RollupBlock]:
    """The rollup blocks cursor.next_number..last_number the signed witness implies, without their
    transactions: numbers, timestamps, L1 origins and shared heights, grouped exactly as
    base.group_rollup_blocks groups sealed blocks."""
    shells = [SharedBlock(w.header, b"", ()) for w in witness]
    try:
        return group_rollup_blocks(shells, rollup_id, timing, first_number=cursor.next_number,
                                   last_number=last_number, prev_origin=cursor.prev_l1_origin)
    except BadInput as exc:
        raise DerivationError(f"rollup {rollup_id}: the batch's blocks {cursor.next_number}..{last_number} do not "
                              f"cover the window's shared blocks: {exc}") from exc


def join_witnesses(windows: Sequence[Sequence[WitnessBlock]]) -> tuple[WitnessBlock, ...]:
    """Rule 6: the verified witness blocks of consecutive windows (the ones that left a rollup out,
    then the one that lists it) as one sequence for `check_batch_against_witness`. Each window was
    verified on its own; this checks they follow each other (heights and parent hashes), so a batch
    is never checked against shared blocks the sequencer did not sign in that order."""
    out: list[WitnessBlock] = []
    for blocks in windows:
        for wb in blocks:
            if out:
                prev = out[-1].header
                if wb.header.height != prev.height + 1:
                    raise DerivationError(f"kept witness: shared height {wb.header.height} follows {prev.height}")
                if wb.header.parent_hash != block_hash(prev):
                    raise DerivationError(f"kept witness: shared block {wb.header.height}'s parent is not block "
                                          f"{prev.height}")
            out.append(wb)
    return tuple(out)


def check_batch_against_witness(blocks: Sequence[RollupBlock], witness: Sequence[WitnessBlock], rollup_id: RollupId,
                                timing: RollupTiming, cursor: Cursor) -> list[RollupBlock]:
    """Rule 5: `blocks` (one window's batch of rollup `rollup_id`, decoded) against the window's
    verified witness. Returns the blocks with the signed L1 origins, shared heights and exact window
    starts (formats keep whole seconds); raises
    DerivationError naming the rollup block (and shared height) where the batch is not what the
    sequencer signed."""
    if not blocks:
        raise DerivationError(f"rollup {rollup_id}: the batch holds no block; the window covers "
                              f"{len(witness)} shared blocks")
    expected = witness_rollup_blocks(witness, rollup_id, timing, cursor, blocks[-1].number)
    if len(expected) != len(blocks):
        raise DerivationError(f"rollup {rollup_id}: the batch holds {len(blocks)} blocks, numbered "
                              f"{blocks[0].number}..{blocks[-1].number}; blocks {cursor.next_number}.."
                              f"{blocks[-1].number} were due")
    leaves = {w.header.height: w.leaf(rollup_id) for w in witness}
    out = []
    for got, want in zip(blocks, expected, strict=True):
        where = f"rollup {rollup_id} block {want.number}"
        if got.number != want.number:
            raise DerivationError(f"{where}: the batch has block {got.number} in its place")
        if got.timestamp_ms // 1000 != want.timestamp_ms // 1000:
            raise DerivationError(f"{where}: batch timestamp {got.timestamp_ms} ms, the block's window starts at "
                                  f"{want.timestamp_ms} ms")
        if got.l1_origin_number != want.l1_origin_number:
            raise DerivationError(f"{where}: batch L1 origin {got.l1_origin_number}, the signed headers give "
                                  f"{want.l1_origin_number}")
        txs = got.transactions
        pos = 0
        for height in want.shared_heights:
            leaf = leaves[height]
            count = leaf.tx_count if leaf is not None else 0
            share = txs[pos:pos + count]
            if len(share) != count:
                raise DerivationError(f"{where}, shared height {height}: the signed leaf counts {count} "
                                      f"transactions, the batch has {len(share)} left")
            if leaf is not None and tx_root(share) != leaf.tx_root:
                raise DerivationError(f"{where}, shared height {height}: the batch's transactions do not rebuild "
                                      f"the signed tx root")
            pos += count
        if pos != len(txs):
            raise DerivationError(f"{where}: the batch has {len(txs)} transactions, the signed leaves of shared "
                                  f"heights {list(want.shared_heights)} count {pos}")
        out.append(replace(got, timestamp_ms=want.timestamp_ms, l1_origin_number=want.l1_origin_number,
                           l1_origin_hash=want.l1_origin_hash, shared_heights=want.shared_heights))
    return out
