"""The ordering core: admission, FCFS placement, slot sealing, receipts.

Sans-IO and deterministic (h11 style): the shell hands in transactions and
the current time, and gets back plain values: `submit` → an `Admission` (the
records to make durable, and the signed receipts to release once they are),
`seal` → a `SharedBlock` to append to the log. The core never awaits.

Dedupe (issue 9): a transaction is the pair (rollup_id, tx_hash), so the same
bytes sent to another rollup first never block the real one. A pair is
refused as a `Duplicate` while it is pending and for `Limits.dedupe_window_ms`
after its block's timestamp (block time, not wall time, so a restart
remembers exactly what it remembered before); the `Duplicate` names where the
first one is, so the shell can answer a retry with its original receipt.
Memory is about 120 bytes per pair remembered: rate x window.

Placement happens at admission, which is what lets a receipt name its height
and index before the block seals: transactions fill the newest pending block
in arrival order (FCFS); one that does not fit opens the next height. A
bundle is placed whole in one block, its legs appended consecutively to each
rollup's namespace, so they are contiguous; a bundle that does not fit moves
whole to the next block. Pending blocks seal one per slot, oldest first, so
the block at a receipted height holds the transaction at the receipted index:
receipts are never broken. `restore` replays the durable records after a
restart to rebuild exactly the same pending blocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sequencer.errors import (
    AlreadyExists,
    BadInput,
    Critical,
    FailedPrecondition,
    NotFound,
    Overloaded,
    TooLarge,
)

from .commitments import bundles_root, namespaces_root_of
from .config import CoreConfig, RollupInfo
from .merkle import MerkleFrontier
from .signing import ReceiptBatch, Signer, block_hash
from .types import (
    ZERO_HASH,
    BlockHeader,
    Bundle,
    BundlePlacement,
    Hash32,
    Namespace,
    Receipt,
    RollupId,
    SharedBlock,
    Transaction,
)


@dataclass(frozen=True, slots=True)
class AdmittedTx:
    """The durable record of one admitted transaction and its promised place.

    Legs of a bundle are consecutive records sharing `bundle_hash`."""

    height: int
    rollup_id: RollupId
    index: int
    payload: bytes
    tx_hash: Hash32
    bundle_hash: Hash32 | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """What `submit` returns: records to persist, then receipts to release."""

    records: tuple[AdmittedTx, ...]
    receipts: tuple[Receipt, ...]


class Duplicate(AlreadyExists):
    """(rollup_id, tx_hash) was admitted already, within the dedupe window.

    `height` is where it was placed; `index` its index there while its block
    is pending (None once sealed: the log knows it). The shell answers a retry
    with the original receipt (docs/api.md, "Retries")."""

    def __init__(self, rollup_id: RollupId, tx_hash: Hash32, height: int, index: int | None) -> None:
        super().__init__(f"transaction 0x{tx_hash.hex()} was already submitted to rollup {rollup_id}")
        self.rollup_id = rollup_id
        self.tx_hash = tx_hash
        self.height = height
        self.index = index


class BundleDuplicate(AlreadyExists):
    """A bundle leg is a `Duplicate`. `leg` is its position in the bundle,
    `duplicate` says where the first one is: a bundle resubmitted whole is
    answered with its original receipts (the shell checks they are one bundle)."""

    def __init__(self, leg: int, duplicate: Duplicate) -> None:
        super().__init__(f"bundle leg {leg}: {duplicate}")
        self.leg = leg
        self.duplicate = duplicate


RecentBlock = tuple[int, int, dict[RollupId, list[Hash32]]]
"""(timestamp_ms, height, {rollup_id: [tx_hash, ...]}) of a sealed block, for `restore`."""


@dataclass(frozen=True, slots=True)
class Head:
    """The last sealed block (or the state before genesis: height -1)."""

    height: int = -1
    block_hash: Hash32 = ZERO_HASH
    timestamp_ms: int = 0
    l1_origin: tuple[int, Hash32] = (0, ZERO_HASH)


@dataclass(slots=True)
class _PendingBlock:
    height: int
    namespaces: dict[RollupId, list[bytes]] = field(default_factory=dict)
    bundles: list[BundlePlacement] = field(default_factory=list)
    hashes: dict[RollupId, list[Hash32]] = field(default_factory=dict)
    tx_roots: dict[RollupId, MerkleFrontier] = field(default_factory=dict)
    """Each namespace's transaction root as it fills (its leaves are the tx hashes,
    keccak256(payload), as `commitments.tx_root`): sealing then hashes O(log n), not 3n."""
    payload_bytes: int = 0
    tx_count: int = 0

    def fits(self, n_txs: int, n_bytes: int, cfg: CoreConfig) -> bool:
        return (
            self.tx_count + n_txs <= cfg.limits.max_block_txs
            and self.payload_bytes + n_bytes <= cfg.limits.max_block_bytes
        )

    def append(self, rollup_id: RollupId, payload: bytes, tx_hash: Hash32) -> int:
        txs = self.namespaces.get(rollup_id)
        if txs is None:
            txs = self.namespaces[rollup_id] = []
            self.hashes[rollup_id] = []
            self.tx_roots[rollup_id] = MerkleFrontier()
        txs.append(payload)
        self.hashes[rollup_id].append(tx_hash)
        self.tx_roots[rollup_id].append(tx_hash)
        self.payload_bytes += len(payload)
        self.tx_count += 1
        return len(txs) - 1


class SequencerCore:
    """The shared sequencer's state machine. See the module docstring."""

    def __init__(self, config: CoreConfig, signer: Signer, head: Head | None = None) -> None:
        self.config = config
        self.signer = signer
        self.rollups: dict[RollupId, RollupInfo] = {r.rollup_id: r for r in config.rollups}
        self.head = head or Head()
        self.paused: frozenset[RollupId] = frozenset()
        """Rollups the registry has paused on L1, as the shell last read them (sequencer/l1/origin.py):
        new submissions for them are refused, since no window lists them while paused (issue 8).
        Transactions admitted before stay and are posted once the rollup is listed again."""
        self._pending: deque[_PendingBlock] = deque()
        # Per rollup: tx_hash -> (height, index) while pending; tx_hash -> height once sealed,
        # until the block is older than the dedupe window. The hash bytes are the records' own.
        self._pending_by_rollup: dict[RollupId, dict[Hash32, tuple[int, int]]] = {}
        self._pending_count = 0
        self._recent: dict[RollupId, dict[Hash32, int]] = {}
        self._recent_blocks: deque[tuple[int, int, dict[RollupId, list[Hash32]]]] = deque()

    # -- queries ---------------------------------------------------------

    @property
    def next_height(self) -> int:
        return self.head.height + 1

    @property
    def pending_blocks(self) -> int:
        return len(self._pending)

    @property
    def pending_txs(self) -> int:
        return self._pending_count

    @property
    def remembered_txs(self) -> int:
        """Sealed (rollup, tx_hash) pairs inside the dedupe window."""
        return sum(len(d) for d in self._recent.values())

    def pending_position(self, tx_hash: Hash32, rollup_id: RollupId | None = None) -> tuple[int, RollupId, int] | None:
        """(height, rollup_id, index) of an admitted transaction not yet sealed
        (on `rollup_id`, or on any rollup when None)."""
        rollups = self._pending_by_rollup.items() if rollup_id is None else \
            [(rollup_id, self._pending_by_rollup.get(rollup_id, {}))]
        for rid, d in rollups:
            pos = d.get(tx_hash)
            if pos is not None:
                return pos[0], rid, pos[1]
        return None

    def admitted(self, rollup_id: RollupId, tx_hash: Hash32) -> bool:
        """Is (rollup_id, tx_hash) pending, or sealed within the dedupe window?"""
        return tx_hash in self._pending_by_rollup.get(rollup_id, {}) or tx_hash in self._recent.get(rollup_id, {})

    # -- admission -------------------------------------------------------

    def validate(self, tx: Transaction, *, policy: bool = True) -> None:
        """Check one transaction against the limits and its rollup's policy (`policy=False`: the
        limits only; the caller has the policy's verdict from elsewhere, a check worker)."""
        rollup = self.rollups.get(tx.rollup_id)
        if rollup is None:
            raise NotFound(f"unknown rollup {tx.rollup_id}; registered: {sorted(self.rollups)}")
        if tx.rollup_id in self.paused:
            raise FailedPrecondition(f"rollup {tx.rollup_id} is paused on L1")
        limit = self.config.limits.max_tx_bytes
        if len(tx.payload) > limit:
            raise TooLarge(f"payload: {len(tx.payload)} bytes, over the {limit}-byte transaction limit")
        if policy:
            rollup.policy.check(tx.payload)

    def _check_new(self, rollup_id: RollupId, tx_hash: Hash32) -> None:
        pending = self._pending_by_rollup.get(rollup_id)
        if pending is not None:
            pos = pending.get(tx_hash)
            if pos is not None:
                raise Duplicate(rollup_id, tx_hash, pos[0], pos[1])
        recent = self._recent.get(rollup_id)
        if recent is not None:
            height = recent.get(tx_hash)
            if height is not None:
                raise Duplicate(rollup_id, tx_hash, height, None)

    def _block_for(self, n_txs: int, n_bytes: int) -> _PendingBlock:
        if self._pending and self._pending[-1].fits(n_txs, n_bytes, self.config):
            return self._pending[-1]
        if len(self._pending) >= self.config.limits.max_pending_blocks:
            raise Overloaded(
                f"mempool full: {len(self._pending)} blocks waiting to seal; retry after the next slot"
            )
        height = self._pending[-1].height + 1 if self._pending else self.next_height
        block = _PendingBlock(height)
        self._pending.append(block)
        return block

    def submit(self, tx: Transaction) -> Admission:
        """Admit one transaction and sign its receipt (see `admit`)."""
        records = self.admit(tx)
        return Admission(records, self.sign_receipts(records))

    def submit_bundle(self, bundle: Bundle) -> Admission:
        """Admit a bundle and sign its receipts (see `admit_bundle`)."""
        records = self.admit_bundle(bundle)
        return Admission(records, self.sign_receipts(records))

    def admit(self, tx: Transaction, *, validated: bool = False) -> tuple[AdmittedTx, ...]:
        """Admit one transaction: validate (unless the caller already did, e.g.
        in a worker thread), dedupe, place FCFS. Receipts are signed apart
        (`sign_receipts`), so the shell can sign off the event loop."""
        if not validated:
            self.validate(tx)
        self._check_new(tx.rollup_id, tx.tx_hash)
        block = self._block_for(1, len(tx.payload))
        return (self._place(block, tx, None),)

    def sign_receipts(self, records: Sequence[AdmittedTx]) -> tuple[Receipt, ...]:
        """Sign the preconfirmations of admitted records as one batch (see `sign_receipt_batch`)."""
        return self.sign_receipt_batch(records)[1]

    def sign_receipt_batch(self, records: Sequence[AdmittedTx]) -> tuple[ReceiptBatch | None, tuple[Receipt, ...]]:
        """Sign one group commit's preconfirmations with one signature
        (docs/settlement.md section 1); receipt i is leaf i. Pure: safe in any thread.
        No records, no signature: (None, ())."""
        if not records:
            return None, ()
        return self.signer.sign_receipt_batch([(r.rollup_id, r.tx_hash, r.height, r.index) for r in records])

    def admit_bundle(self, bundle: Bundle) -> tuple[AdmittedTx, ...]:
        """Admit a bundle all-or-nothing: every leg valid, all in one block."""
        legs = bundle.legs
        limits = self.config.limits
        if not legs:
            raise BadInput("bundle: no legs")
        max_legs = min(limits.max_bundle_legs, limits.max_block_txs)  # all legs go in one block
        if len(legs) > max_legs:
            raise TooLarge(f"bundle: {len(legs)} legs, over the limit of {max_legs}")
        size = sum(len(t.payload) for t in legs)
        if size > limits.max_bundle_bytes:
            raise TooLarge(f"bundle: {size} bytes, over the {limits.max_bundle_bytes}-byte bundle limit")
        seen: set[tuple[RollupId, Hash32]] = set()
        for i, leg in enumerate(legs):
            try:
                self.validate(leg)
                self._check_new(leg.rollup_id, leg.tx_hash)
                if (leg.rollup_id, leg.tx_hash) in seen:
                    raise AlreadyExists(f"transaction 0x{leg.tx_hash.hex()} appears twice in the bundle")
            except Duplicate as exc:
                raise BundleDuplicate(i, exc) from exc
            except BadInput as exc:
                raise type(exc)(f"bundle leg {i}: {exc}") from exc
            seen.add((leg.rollup_id, leg.tx_hash))
        block = self._block_for(len(legs), size)
        records = tuple(self._place(block, leg, bundle.bundle_hash) for leg in legs)
        block.bundles.append(BundlePlacement(bundle.bundle_hash, tuple((r.rollup_id, r.index) for r in records)))
        return records

    def _place(self, block: _PendingBlock, tx: Transaction, bundle_hash: Hash32 | None) -> AdmittedTx:
        index = block.append(tx.rollup_id, tx.payload, tx.tx_hash)
        self._remember_pending(tx.rollup_id, tx.tx_hash, block.height, index)
        return AdmittedTx(block.height, tx.rollup_id, index, tx.payload, tx.tx_hash, bundle_hash)

    def _remember_pending(self, rollup_id: RollupId, tx_hash: Hash32, height: int, index: int) -> None:
        d = self._pending_by_rollup.get(rollup_id)
        if d is None:
            d = self._pending_by_rollup[rollup_id] = {}
        d[tx_hash] = (height, index)
        self._pending_count += 1

    # -- sealing ---------------------------------------------------------

    def slot_start(self, now_ms: int) -> int:
        return now_ms - now_ms % self.config.slot_ms

    def seal(self, now_ms: int, l1_origin: tuple[int, Hash32] | None = None) -> SharedBlock:
        """Seal the next height: the oldest pending block, or an empty one.

        The timestamp is the slot's start, kept strictly increasing; the L1
        origin never goes backwards."""
        block = self._pending.popleft() if self._pending else _PendingBlock(self.next_height)
        if block.height != self.next_height:
            raise Critical(f"pending block {block.height} is not the next height {self.next_height}")
        origin = l1_origin if l1_origin and l1_origin[0] >= self.head.l1_origin[0] else self.head.l1_origin
        namespaces = tuple(Namespace(rid, tuple(txs)) for rid, txs in sorted(block.namespaces.items()))
        roots = tuple(block.tx_roots[ns.rollup_id].root() for ns in namespaces)
        header = BlockHeader(
            height=block.height,
            parent_hash=self.head.block_hash,
            timestamp_ms=max(self.slot_start(now_ms), self.head.timestamp_ms + 1),
            l1_origin_number=origin[0],
            l1_origin_hash=origin[1],
            namespaces_root=namespaces_root_of([(ns.rollup_id, root, len(ns.transactions))
                                                for ns, root in zip(namespaces, roots, strict=True)]),
            namespace_count=len(namespaces),
            bundles_root=bundles_root(block.bundles),
        )
        sealed = SharedBlock(header, self.signer.sign_header(header), namespaces, tuple(block.bundles), roots)
        self.head = Head(header.height, block_hash(header), header.timestamp_ms, origin)
        height = header.height
        for rid, hashes in block.hashes.items():
            pending = self._pending_by_rollup[rid]
            recent = self._recent.get(rid)
            if recent is None:
                recent = self._recent[rid] = {}
            for h in hashes:
                del pending[h]
                recent[h] = height
            self._pending_count -= len(hashes)
        self._recent_blocks.append((header.timestamp_ms, height, block.hashes))
        self._forget_before(header.timestamp_ms - self.config.limits.dedupe_window_ms)
        return sealed

    def _forget_before(self, cutoff_ms: int) -> None:
        """Drop sealed pairs whose block is older than the dedupe window."""
        blocks = self._recent_blocks
        while blocks and blocks[0][0] < cutoff_ms:
            _, height, by_rollup = blocks.popleft()
            for rid, hashes in by_rollup.items():
                recent = self._recent[rid]
                for h in hashes:
                    if recent.get(h) == height:  # not re-admitted since (possible only after it expired)
                        del recent[h]

    # -- recovery --------------------------------------------------------

    def restore(self, head: Head, records: Sequence[AdmittedTx], recent: Sequence[RecentBlock] = ()) -> None:
        """Rebuild state after a restart from the log: the last sealed block,
        the admitted-but-unsealed records in admission order, and the sealed
        blocks' transactions inside the dedupe window, in height order
        (`RecentBlock`; older blocks are ignored)."""
        self.head = head
        self._pending.clear()
        self._pending_by_rollup.clear()
        self._pending_count = 0
        self._recent.clear()
        self._recent_blocks.clear()
        cutoff = head.timestamp_ms - self.config.limits.dedupe_window_ms
        for ts, height, by_rollup in recent:
            if ts < cutoff:
                continue
            self._recent_blocks.append((ts, height, by_rollup))
            for rid, hashes in by_rollup.items():
                # dict.update(fromkeys) runs in C: a restart with a million remembered pairs stays quick
                self._recent.setdefault(rid, {}).update(dict.fromkeys(hashes, height))
        i = 0
        while i < len(records):
            r = records[i]
            group = [r]
            if r.bundle_hash is not None:
                while i + len(group) < len(records) and records[i + len(group)].bundle_hash == r.bundle_hash:
                    group.append(records[i + len(group)])
            i += len(group)
            self._restore_group(group)

    def _restore_group(self, group: list[AdmittedTx]) -> None:
        height = group[0].height
        while not self._pending or self._pending[-1].height < height:
            nxt = self._pending[-1].height + 1 if self._pending else self.next_height
            self._pending.append(_PendingBlock(nxt))
        block = self._pending[-1]
        if block.height != height:
            raise Critical(f"log records out of order: height {height} after {block.height}")
        for r in group:
            index = block.append(r.rollup_id, r.payload, r.tx_hash)
            if index != r.index:
                raise Critical(f"log record {r.tx_hash.hex()} promised index {r.index}, replay gives {index}")
            self._remember_pending(r.rollup_id, r.tx_hash, height, index)
        if group[0].bundle_hash is not None:
            block.bundles.append(BundlePlacement(group[0].bundle_hash, tuple((r.rollup_id, r.index) for r in group)))
