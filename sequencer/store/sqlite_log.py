"""The durable embedded log: SQLite in WAL mode, synchronous=FULL.

Holds admitted transactions (with their promised height and index) and
sealed blocks. One `append` call is one SQLite transaction: the service
batches every record that arrived meanwhile into it (group commit) and
releases receipts only after it returns, so an acknowledged transaction
survives kill -9 and power loss. Records are written in admission order, so
a durable record implies every earlier one is durable too, which is what lets
`load_state` rebuild the same pending blocks at the same indices.

Blocking calls: the async shell runs them off the event loop. Writes go
through one writer connection, used by one thread (the node's writer); each
reading thread opens its own connection, so readers never wait on the writer
or on each other (WAL lets them run beside it; ":memory:" has one shared
connection and a lock instead, for tests).

Blocks are stored split (codec.py): a row per block without payloads, and a
row per (block, rollup) with that rollup's payloads, so a rollup's reader
fetches only its own namespace.

Receipts (issue 8 item 5, issue 9 "Retries"): each group commit's signed
receipt batch is one row of `receipt_batches` (count, signature, the leaves:
32 bytes a receipt), and each record names its batch and leaf, so any receipt
is rebuilt byte for byte later (`find_receipts`) for a retry or GetTransaction,
at the cost of 32 bytes and two integers a transaction. `txs` is keyed by
(tx_hash, rollup_id): dedupe is per rollup. The layout is versioned
(`SCHEMA_VERSION` in meta); a version-1 log is migrated when opened.
A write that fails raises `StorageFault`
naming SQLite's reason ("database or disk is full"); `check_space` refuses to
start on a disk without room for a block.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sequencer.core.commitments import BundleProof, prove_bundles
from sequencer.core.merkle import tree_levels
from sequencer.core.sequencer import AdmittedTx, Head, RecentBlock
from sequencer.core.signing import ReceiptBatch, block_hash, receipt_from_batch
from sequencer.core.types import Hash32, Namespace, Receipt, SharedBlock
from sequencer.errors import BadInput, Critical, StorageFault

from .codec import BlockRow, decode_block_row, decode_namespace_row, encode_block_row, encode_namespace_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS admitted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    height INTEGER NOT NULL, rollup_id INTEGER NOT NULL, idx INTEGER NOT NULL,
    tx_hash BLOB NOT NULL, payload BLOB NOT NULL, bundle_hash BLOB,
    batch_id INTEGER, leaf_index INTEGER
);
CREATE TABLE IF NOT EXISTS receipt_batches (
    id INTEGER PRIMARY KEY, count INTEGER NOT NULL, signature BLOB NOT NULL, leaves BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, block_hash BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    l1_origin_number INTEGER NOT NULL, l1_origin_hash BLOB NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash BLOB NOT NULL, rollup_id INTEGER NOT NULL, height INTEGER NOT NULL,
    idx INTEGER NOT NULL, bundle_hash BLOB, batch_id INTEGER, leaf_index INTEGER,
    PRIMARY KEY (tx_hash, rollup_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_height ON txs(height);
-- Sealing copies and deletes one height's admitted rows: without this index each seal scanned the table twice.
CREATE INDEX IF NOT EXISTS admitted_height ON admitted(height);
CREATE TABLE IF NOT EXISTS namespaces (
    height INTEGER NOT NULL, rollup_id INTEGER NOT NULL, txs BLOB NOT NULL,
    PRIMARY KEY (height, rollup_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


BATCH_CACHE_BYTES = 16 * 1024 * 1024
"""Memory for rebuilt receipt batches (`BlockLog._receipt_batch`), about 200 bytes a receipt."""

SCHEMA_VERSION = 2
"""1: txs keyed by tx_hash, no stored receipts. 2: receipt_batches, records name their batch and leaf,
txs keyed by (tx_hash, rollup_id)."""

MIGRATE_1_TO_2 = """
ALTER TABLE admitted ADD COLUMN batch_id INTEGER;
ALTER TABLE admitted ADD COLUMN leaf_index INTEGER;
CREATE TABLE txs_v2 (
    tx_hash BLOB NOT NULL, rollup_id INTEGER NOT NULL, height INTEGER NOT NULL,
    idx INTEGER NOT NULL, bundle_hash BLOB, batch_id INTEGER, leaf_index INTEGER,
    PRIMARY KEY (tx_hash, rollup_id)
) WITHOUT ROWID;
INSERT INTO txs_v2(tx_hash, rollup_id, height, idx, bundle_hash)
    SELECT tx_hash, rollup_id, height, idx, bundle_hash FROM txs;
DROP TABLE txs;
ALTER TABLE txs_v2 RENAME TO txs;
CREATE INDEX txs_height ON txs(height);
"""


def _open_schema(c: sqlite3.Connection) -> None:
    """Create the tables, or bring a log written by an older version up to SCHEMA_VERSION
    (one transaction: a crash mid-migration leaves the old layout, migrated again next time)."""
    c.execute("BEGIN IMMEDIATE")
    try:
        fresh = c.execute("SELECT name FROM sqlite_master WHERE name = 'admitted'").fetchone() is None
        c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = SCHEMA_VERSION if fresh else int(row[0]) if row else 1
        if version > SCHEMA_VERSION:
            raise Critical(f"the block log has layout version {version}, newer than this sequencer's "
                           f"{SCHEMA_VERSION}: run the newer version")
        if version == 1:
            for stmt in MIGRATE_1_TO_2.split(";"):
                if stmt.strip():
                    c.execute(stmt)
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                c.execute(stmt)  # IF NOT EXISTS: adds what a later release added (an index), else writes nothing
        if row is None or version != SCHEMA_VERSION:
            # Only when it changes: rewriting the same value made every open an fsync'd commit.
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                      (str(SCHEMA_VERSION).encode(),))
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise


def _lock(path: Path) -> int:
    """Hold an exclusive lock for the process's lifetime: two sequencers appending to one log
    would break every promise it holds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise BadInput(f"the block log {path.with_suffix('')} is in use by another sequencer process") from None
    return fd


def _i64(u: int) -> int:
    """uint64 → the signed 64-bit integer SQLite stores."""
    return u - 2**64 if u >= 2**63 else u


_INSERT_ADMITTED = (
    "INSERT INTO admitted(height, rollup_id, idx, tx_hash, payload, bundle_hash, batch_id, leaf_index)"
    " SELECT value->>0, value->>1, value->>2, substr(?1, value->>3, 32), substr(?1, value->>4, value->>5),"
    " CASE WHEN value->>6 > 0 THEN substr(?1, value->>6, 32) END, ?2, CASE WHEN ?2 IS NOT NULL THEN key END"
    " FROM json_each(?3) ORDER BY key"
)
"""A group commit's records in one statement. `executemany` steps SQLite once per row and hands
the GIL back and forth at every step; with the event loop busy on the other thread, each step then
waited up to the switch interval for the GIL to come back: 500 rows took 250-390 ms against 5 ms
alone (a busy Python thread beside the writer, /tmp/prof/wcost.py in the note). One statement
releases the GIL once for all of them. The bytes travel as one blob (`?1`) that the rows slice
(substr is 1-based and byte-wise on a blob); the integers and offsets as one JSON array (`?3`),
one [height, rollup, index, hash offset, payload offset, payload length, bundle offset or 0] per
record, in commit order (`key` is the array index: the leaf index when there is a batch)."""


_INDEX_ROWS = ("INSERT OR REPLACE INTO txs(tx_hash, rollup_id, height, idx, bundle_hash, batch_id, leaf_index)"
               " SELECT tx_hash, rollup_id, height, idx, bundle_hash, batch_id, leaf_index FROM admitted"
               " WHERE {where}")


def _admitted_args(records: Sequence[AdmittedTx], batch_id: int | None) -> tuple[bytes, int | None, str]:
    parts: list[bytes] = []
    rows: list[tuple[int, ...]] = []
    at = 1
    for r in records:
        payload_at = at + 32
        bundle_at = 0
        parts.append(r.tx_hash)
        parts.append(r.payload)
        at = payload_at + len(r.payload)
        if r.bundle_hash is not None:
            bundle_at = at
            parts.append(r.bundle_hash)
            at += 32
        rows.append((r.height, _i64(r.rollup_id), r.index, payload_at - 32, payload_at, len(r.payload), bundle_at))
    return b"".join(parts), batch_id, json.dumps(rows, separators=(",", ":"))


def _u64(i: int) -> int:
    return i + 2**64 if i < 0 else i


@dataclass(frozen=True, slots=True)
class TxLocation:
    """Where a sealed transaction is."""

    height: int
    rollup_id: int
    index: int
    bundle_hash: Hash32 | None


@dataclass(frozen=True, slots=True)
class RollupSlice:
    """One block as one rollup sees it: the shared row (header, signature, every namespace's leaf,
    the bundles) and that rollup's payloads alone."""

    row: BlockRow
    transactions: tuple[bytes, ...]
    bundle_proofs: tuple[BundleProof, ...] = ()
    """One per `row.bundles` (the touching ones), against the header's bundles_root."""

    @property
    def size(self) -> int:
        """Bytes this slice holds, about: what the read chunks are bounded by."""
        return 200 + 56 * len(self.row.leaves) + 64 * len(self.row.bundles) + sum(len(t) for t in self.transactions)


def _storage_fault(what: str, exc: BaseException) -> StorageFault:
    return StorageFault(f"block log {what} failed: {exc}")


@dataclass(frozen=True, slots=True)
class StoredTx:
    """A durable transaction with its receipt: sealed (`sealed`) or still pending. `receipt` is None
    only for records written before receipts were stored (layout version 1)."""

    location: TxLocation
    sealed: bool
    receipt: Receipt | None


@dataclass(frozen=True, slots=True)
class LogState:
    """What a restart resumes from: the head, the unsealed records in admission order with each
    one's (batch_id, leaf_index) (None, None before layout 2), and the sealed blocks inside the dedupe
    window as (timestamp_ms, height, {rollup_id: [tx_hash, ...]}), in height order (core.restore)."""

    head: Head
    pending: tuple[AdmittedTx, ...]
    recent: tuple[RecentBlock, ...]
    pending_receipts: tuple[tuple[int | None, int | None], ...] = ()


class BlockLog:
    """See the module docstring."""

    def __init__(self, path: str | Path, *, index_at_seal: bool = True, checkpoint_apart: bool = False) -> None:
        self.path = str(path)
        self.checkpoint_apart = checkpoint_apart and self.path != ":memory:"
        """Whether the writer's commits leave WAL checkpoints to `checkpoint` (another thread's).
        SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: it copies
        them into the database and fsyncs it, and under a flood that made one commit in a few dozen
        take 20-30 ms more, every receipt queued behind it waiting."""
        self.index_at_seal = index_at_seal
        """Whether a block's commit also moves its records into the `txs` index. Without, they stay
        in `admitted` (where lookups find them) until `index_sealed` moves them, in commits of
        their own: the node's writer does, between receipts (see `index_sealed`)."""
        self._lock_fd: int | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(Path(self.path + ".lock"))
        try:
            self._w = self._connect()
            _open_schema(self._w)
            if self.checkpoint_apart:
                self._w.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.OperationalError as exc:
            raise _storage_fault("open", exc) from exc
        self._wlock = threading.Lock()
        # Whatever a deferred index had left (a crash, a stop): moved before anything reads.
        while self.index_sealed(10_000)[0]:
            pass
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._ckpt: sqlite3.Connection | None = None
        self._ckpt_lock = threading.Lock()
        self._prepared: dict[int, tuple[bytes, bytes, bytes, list[bytes]]] = {}
        """Rows encoded ahead of `append` by height, with the block hash and signature they were made
        from: a row is used only for that very block (see `_append_block`)."""
        # Rebuilt receipt batches (leaves and tree levels) by id, most recent last, bounded by bytes: a
        # retry or GetTransaction costs a path lookup, not a rehash of its whole group commit, however
        # often a client asks.
        self._batches: OrderedDict[int, tuple[ReceiptBatch, tuple[tuple[Hash32, ...], ...], int]] = OrderedDict()
        self._batches_bytes = 0
        self._batches_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """This thread's read connection (opened on first use). Readers share no lock with the
        writer: a replay holds no one up but itself."""
        if self.path == ":memory:":
            with self._wlock:
                yield self._w
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
        yield conn

    def checkpoint(self) -> int:
        """Copy what the WAL holds into the database (a PASSIVE checkpoint: it never waits for, nor
        holds up, the writer or a reader), on its own connection; returns the WAL frames copied.
        With `checkpoint_apart`, the node calls this after its commits, on a thread of its own."""
        if not self.checkpoint_apart:
            return 0
        with self._ckpt_lock:
            if self._ckpt is None:
                self._ckpt = self._connect()
            try:
                _, _, copied = self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                raise _storage_fault("checkpoint", exc) from exc
        return max(0, copied)

    def close(self) -> None:
        """Close every connection; the caller has stopped the threads that read and write."""
        with self._ckpt_lock:
            if self._ckpt is not None:
                self._ckpt.close()
                self._ckpt = None
        with self._wlock:
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            self._w.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    # -- writes -----------------------------------------------------------

    def check_space(self, headroom: int) -> None:
        """Refuse to serve on a disk that cannot take `headroom` more bytes (about two blocks):
        checked with the file system's free space and a committed probe write, so a restart on a
        still-full disk stops at once with the reason instead of failing at its first seal."""
        if self.path == ":memory:":
            return
        st = os.statvfs(Path(self.path).parent)
        free = st.f_bavail * st.f_frsize
        if free < headroom:
            raise StorageFault(f"block log disk is full: {free} bytes free in {Path(self.path).parent}, "
                               f"{headroom} needed; free space, then restart")
        with self._wlock:
            c = self._w
            try:
                c.execute("BEGIN IMMEDIATE")
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('space_probe', zeroblob(?))", (headroom,))
                c.execute("COMMIT")
                c.execute("DELETE FROM meta WHERE key = 'space_probe'")
            except sqlite3.Error as exc:
                self._rollback_quietly(c)
                raise StorageFault(f"block log disk has no room for {headroom} bytes ({exc}); free space, "
                                   "then restart") from exc

    @staticmethod
    def _rollback_quietly(c: sqlite3.Connection) -> None:
        """Undo what is left of a failed transaction. SQLite may already have rolled it back itself
        (a failed COMMIT on a full disk does): then there is nothing to undo, and the error to report
        is the first one, never "cannot rollback - no transaction is active"."""
        if c.in_transaction:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def append(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
               meta: Mapping[str, bytes] | None = None, receipts: ReceiptBatch | None = None) -> None:
        """Persist admitted records (with `receipts`, their signed batch: leaf i is record i),
        then sealed blocks, then `meta` values, atomically, in order.
        Raises StorageFault (the cause in its message) if SQLite cannot."""
        if receipts is not None and receipts.count != len(records):
            raise ValueError(f"a receipt batch of {receipts.count} for {len(records)} records")
        with self._transaction() as c:
            self._append_rows(c, records, blocks, meta or {}, receipts)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer's connection: committed at the end of the block,
        rolled back on any failure, and a failure of SQLite's raised as StorageFault with its reason."""
        with self._wlock:
            c = self._w
            try:
                c.execute("BEGIN IMMEDIATE")
                yield c
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback_quietly(c)
                raise _storage_fault("write", exc) from exc
            except BaseException:
                self._rollback_quietly(c)
                raise

    def _append_rows(self, c: sqlite3.Connection, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
                     meta: Mapping[str, bytes], receipts: ReceiptBatch | None = None) -> None:
        if records:
            batch_id = None
            if receipts is not None:
                batch_id = c.execute("INSERT INTO receipt_batches(count, signature, leaves) VALUES (?,?,?)",
                                     (receipts.count, receipts.signature, b"".join(receipts.leaves))).lastrowid
            c.execute(_INSERT_ADMITTED, _admitted_args(records, batch_id))
        for b in blocks:
            self._append_block(c, b)
        for key, value in meta.items():
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def prepare_block(self, b: SharedBlock) -> None:
        """Encode the block's rows (the shared one hashes every payload for the leaves; each
        namespace's is its payloads' RLP list) ahead of `append`, on any thread: the commit that
        follows then only writes bytes (encoding them in it took 11 ms of a 5,000-transaction block's
        55 ms commit, on the writer's thread, while receipts queued behind it)."""
        self._prepared[b.height] = (block_hash(b.header), b.signature, encode_block_row(b),
                                    [encode_namespace_row(ns) for ns in b.namespaces])

    def _append_block(self, c: sqlite3.Connection, b: SharedBlock) -> None:
        h = b.header
        digest = block_hash(h)
        # A row prepared for this height may be of another block: a replica that was deposed with a
        # seal in flight prepared its own block, which the replicated log refused, and now applies the
        # new leader's block at that height (issue 12). Its row would store the deposed replica's
        # signed header under the log's block: two signed blocks at one height. Only a row made from
        # this very block (hash and signature) is used; a stale one is dropped with the pop.
        prepared = self._prepared.pop(h.height, None)
        if prepared is not None and prepared[:2] == (digest, b.signature):
            row, ns_rows = prepared[2], prepared[3]
        else:
            row, ns_rows = encode_block_row(b), [encode_namespace_row(ns) for ns in b.namespaces]
        c.execute(
            "INSERT INTO blocks(height, block_hash, timestamp_ms, l1_origin_number, l1_origin_hash, body)"
            " VALUES (?,?,?,?,?,?)",
            (h.height, digest, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, row),
        )
        c.executemany("INSERT INTO namespaces(height, rollup_id, txs) VALUES (?,?,?)",
                      [(h.height, _i64(ns.rollup_id), row) for ns, row in zip(b.namespaces, ns_rows, strict=True)])
        if self.index_at_seal:
            # One statement each, run inside SQLite: a row-by-row copy through Python would hand the
            # GIL back and forth hundreds of times per block, and wait on the event loop's thread
            # each time. OR REPLACE: the same (tx_hash, rollup) admitted again after the dedupe
            # window is found where it is now, not where it was first.
            c.execute(_INDEX_ROWS.format(where="height = ?"), (h.height,))
            c.execute("DELETE FROM admitted WHERE height <= ?", (h.height,))

    def index_sealed(self, limit: int) -> tuple[int, int]:
        """Move up to `limit` records of sealed blocks from `admitted` into the `txs` index, lowest
        height first, in one commit; returns how many moved and the height through which every
        sealed record is indexed. `txs` is keyed by transaction hash, so each row lands on its own
        page of the index: a block's copy dirtied a page a transaction and its fsync took 13-18 ms
        of a 20-30 ms block commit under a flood, during which no receipt could commit. In commits
        of their own (about a block's worth, node.INDEX_CHUNK_ROWS), a receipt waits for one at most.
        Copy and delete are one transaction, so a crash leaves each record in exactly one of the two
        tables."""
        with self._transaction() as c:
            (head,) = c.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()
            chosen = "seq IN (SELECT seq FROM admitted WHERE height <= ?1 ORDER BY height, seq LIMIT ?2)"
            moved = c.execute(_INDEX_ROWS.format(where=chosen) + " ORDER BY height, seq", (head, limit)).rowcount
            if moved:
                c.execute(f"DELETE FROM admitted WHERE {chosen}", (head, limit))
            (rest,) = c.execute("SELECT MIN(height) FROM admitted WHERE height <= ?", (head,)).fetchone()
        return max(0, moved), head if rest is None else rest - 1

    def set_meta(self, key: str, value: bytes) -> None:
        """For tools and tests; the running node writes meta through `append` (its writer thread)."""
        self.append([], [], {key: value})

    # -- reads ------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        with self._reader() as r:
            row = r.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def head_height(self) -> int:
        with self._reader() as r:
            row = r.execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def read_block(self, height: int) -> SharedBlock | None:
        blocks = self.read_blocks(height, height)
        return blocks[0] if blocks else None

    def read_blocks(self, first: int, last: int) -> list[SharedBlock]:
        """Sealed blocks first..last inclusive, in order (fewer if not sealed yet), whole."""
        with self._reader() as r:
            rows = r.execute(
                "SELECT height, body FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height", (first, last)
            ).fetchall()
            out = []
            for height, body in rows:
                row = decode_block_row(body)
                namespaces = row.namespaces
                if namespaces is None:
                    namespaces = tuple(
                        Namespace(_u64(rid), decode_namespace_row(txs)) for rid, txs in r.execute(
                            "SELECT rollup_id, txs FROM namespaces WHERE height = ?", (height,)))
                    namespaces = tuple(sorted(namespaces, key=lambda ns: ns.rollup_id))
                out.append(SharedBlock(row.header, row.signature, namespaces, row.bundles))
        return out

    def read_rollup(self, rollup_id: int, first: int, last: int, max_bytes: int) -> list[RollupSlice]:
        """Rollup `rollup_id`'s slices of blocks first..last, in order, stopping once they hold
        `max_bytes` (at least one slice): only its own payloads are read, never another rollup's."""
        out: list[RollupSlice] = []
        size = 0
        with self._reader() as r:
            cur = r.execute(
                "SELECT b.body, n.txs FROM blocks b LEFT JOIN namespaces n"
                " ON n.height = b.height AND n.rollup_id = ? WHERE b.height BETWEEN ? AND ? ORDER BY b.height",
                (_i64(rollup_id), first, last))
            for body, txs in cur:
                row = decode_block_row(body)
                if row.namespaces is not None:  # old layout: the payloads are in the row
                    mine = next((ns.transactions for ns in row.namespaces if ns.rollup_id == rollup_id), ())
                    row = BlockRow(row.header, row.signature, row.leaves, row.bundles)
                else:
                    mine = decode_namespace_row(txs) if txs is not None else ()
                touching = [(p, pr) for p, pr in zip(row.bundles, prove_bundles(row.bundles), strict=True)
                            if any(rid == rollup_id for rid, _ in p.legs)]
                bundles = tuple(p for p, _ in touching)
                piece = RollupSlice(BlockRow(row.header, row.signature, row.leaves, bundles), mine,
                                    tuple(pr for _, pr in touching))
                out.append(piece)
                size += piece.size
                if size >= max_bytes:
                    break
            cur.close()
        return out

    def find_tx(self, tx_hash: Hash32) -> TxLocation | None:
        """Where a sealed transaction is (on the lowest rollup id, if on several: see find_receipts)."""
        with self._reader() as r:
            row = r.execute(
                "SELECT height, rollup_id, idx, bundle_hash FROM txs WHERE tx_hash = ? ORDER BY rollup_id", (tx_hash,)
            ).fetchone()
        return TxLocation(row[0], _u64(row[1]), row[2], row[3]) if row else None

    def read_receipt_batch(self, batch_id: int) -> ReceiptBatch | None:
        with self._reader() as r:
            found = self._receipt_batch(r, batch_id)
        return found[0] if found else None

    def _receipt_batch(self, r: sqlite3.Connection,
                       batch_id: int) -> tuple[ReceiptBatch, tuple[tuple[Hash32, ...], ...]] | None:
        with self._batches_lock:
            hit = self._batches.get(batch_id)
            if hit is not None:
                self._batches.move_to_end(batch_id)
                return hit[0], hit[1]
        row = r.execute("SELECT count, signature, leaves FROM receipt_batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            return None
        count, signature, blob = row
        leaves = tuple(blob[i:i + 32] for i in range(0, len(blob), 32))
        if not leaves or len(leaves) != count:
            raise Critical(f"block log is corrupt: receipt batch {batch_id} holds {len(leaves)} leaves, not {count}")
        levels = tree_levels(leaves)
        batch = ReceiptBatch(levels[-1][0], count, signature, leaves)
        size = 200 * count + 300  # the leaves and every level's hashes, as Python bytes objects
        with self._batches_lock:
            if batch_id not in self._batches:
                self._batches[batch_id] = (batch, levels, size)
                self._batches_bytes += size
                while len(self._batches) > 1 and self._batches_bytes > BATCH_CACHE_BYTES:
                    self._batches_bytes -= self._batches.popitem(last=False)[1][2]
        return batch, levels

    def find_receipts(self, tx_hash: Hash32, rollup_id: int | None = None,
                      pending: bool = True) -> list[StoredTx]:
        """Every durable copy of `tx_hash` (on `rollup_id`, or on any rollup), sealed ones first, each
        with its receipt rebuilt from its stored batch. `pending`: also look in the unsealed records
        (a scan of them; the node asks only after a restart, for records it restored)."""
        out: list[StoredTx] = []
        where = "tx_hash = ?" + ("" if rollup_id is None else " AND rollup_id = ?")
        args: tuple[object, ...] = (tx_hash,) if rollup_id is None else (tx_hash, _i64(rollup_id))
        with self._reader() as r:
            sources = ["txs"] + (["admitted"] if pending else [])
            # A sealed block's records wait in `admitted` until index_sealed moves them (with a
            # deferred index): sealed is by height, not by table.
            (head,) = r.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()
            for table in sources:
                rows = r.execute(f"SELECT height, rollup_id, idx, bundle_hash, batch_id, leaf_index FROM {table}"
                                 f" WHERE {where} ORDER BY rollup_id", args).fetchall()
                for height, rid, idx, bh, batch_id, leaf in rows:
                    sealed = table == "txs" or height <= head
                    loc = TxLocation(height, _u64(rid), idx, bh)
                    receipt = None
                    if batch_id is not None:
                        found = self._receipt_batch(r, batch_id)
                        if found is None:
                            raise Critical(f"block log is corrupt: receipt batch {batch_id} of 0x{tx_hash.hex()} "
                                           "is missing")
                        try:
                            receipt = receipt_from_batch(found[0], leaf, loc.rollup_id, tx_hash, height, idx,
                                                         found[1])
                        except ValueError as exc:
                            raise Critical(f"block log is corrupt: {exc}") from exc
                    out.append(StoredTx(loc, sealed, receipt))
        return out

    def load_state(self, dedupe_window_ms: int = 60_000) -> LogState:
        """The last sealed block, the unsealed admitted records (in admission order) with their
        receipt batch and leaf, and the sealed transactions of the blocks no older than
        `dedupe_window_ms` before the head's timestamp (see LogState)."""
        with self._reader() as c:
            row = c.execute(
                "SELECT height, block_hash, timestamp_ms, l1_origin_number, l1_origin_hash"
                " FROM blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
            head = Head(row[0], row[1], row[2], (row[3], row[4])) if row else Head()
            rows = c.execute(
                "SELECT height, rollup_id, idx, payload, tx_hash, bundle_hash, batch_id, leaf_index FROM admitted"
                " WHERE height > ? ORDER BY seq", (head.height,)).fetchall()
            pending = tuple(AdmittedTx(h, _u64(rid), idx, payload, th, bh) for h, rid, idx, payload, th, bh, _, _
                            in rows)
            batches = tuple((b, leaf) for *_, b, leaf in rows)
            first = self._first_height_since(c, head, head.timestamp_ms - dedupe_window_ms)
            stamps = dict(c.execute("SELECT height, timestamp_ms FROM blocks WHERE height >= ?", (first,)))
            rows = c.execute("SELECT height, rollup_id, tx_hash FROM txs WHERE height >= ? ORDER BY height",
                             (first,)).fetchall()
        # Grouped per block and rollup in one pass (a restart may hold a window of a million rows).
        recent: list[RecentBlock] = []
        by_rollup: dict[int, list[Hash32]] = {}
        current = None
        for h, rid, th in rows:
            if h != current:
                by_rollup = {}
                recent.append((stamps.get(h, head.timestamp_ms), h, by_rollup))
                current = h
            hashes = by_rollup.get(rid)
            if hashes is None:
                hashes = by_rollup[rid] = []
            hashes.append(th)
        for _, _, group in recent:  # SQLite keeps uint64 ids as signed 64-bit integers
            for rid in [r for r in group if r < 0]:
                group[_u64(rid)] = group.pop(rid)
        return LogState(head, pending, tuple(recent), batches)

    @staticmethod
    def _first_height_since(c: sqlite3.Connection, head: Head, cutoff_ms: int) -> int:
        """The lowest sealed height whose timestamp is >= cutoff_ms: a binary search over the height
        key (timestamps increase with height), so a restart never scans the blocks table."""
        lo, hi = 0, head.height + 1  # answer in [lo, hi]; hi = nothing recent
        while lo < hi:
            mid = (lo + hi) // 2
            ts = c.execute("SELECT timestamp_ms FROM blocks WHERE height = ?", (mid,)).fetchone()
            if ts is None or ts[0] < cutoff_ms:  # a height missing below the head is not recent either
                lo = mid + 1
            else:
                hi = mid
        return lo
