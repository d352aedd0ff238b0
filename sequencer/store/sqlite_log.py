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
fetches only its own namespace. A write that fails raises `StorageFault`
naming SQLite's reason ("database or disk is full"); `check_space` refuses to
start on a disk without room for a block.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sequencer.core.sequencer import AdmittedTx, Head
from sequencer.core.signing import block_hash
from sequencer.core.types import Hash32, Namespace, SharedBlock
from sequencer.errors import BadInput, StorageFault

from .codec import BlockRow, decode_block_row, decode_namespace_row, encode_block_row, encode_namespace_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS admitted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    height INTEGER NOT NULL, rollup_id INTEGER NOT NULL, idx INTEGER NOT NULL,
    tx_hash BLOB NOT NULL, payload BLOB NOT NULL, bundle_hash BLOB
);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, block_hash BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    l1_origin_number INTEGER NOT NULL, l1_origin_hash BLOB NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash BLOB PRIMARY KEY, height INTEGER NOT NULL, rollup_id INTEGER NOT NULL,
    idx INTEGER NOT NULL, bundle_hash BLOB
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

    @property
    def size(self) -> int:
        """Bytes this slice holds, about: what the read chunks are bounded by."""
        return 200 + 56 * len(self.row.leaves) + 64 * len(self.row.bundles) + sum(len(t) for t in self.transactions)


def _storage_fault(what: str, exc: BaseException) -> StorageFault:
    return StorageFault(f"block log {what} failed: {exc}")


@dataclass(frozen=True, slots=True)
class LogState:
    """What a restart resumes from."""

    head: Head
    pending: tuple[AdmittedTx, ...]
    recent_hashes: tuple[Hash32, ...]


class BlockLog:
    """See the module docstring."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock_fd: int | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(Path(self.path + ".lock"))
        try:
            self._w = self._connect()
            self._w.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            raise _storage_fault("open", exc) from exc
        self._wlock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._prepared: dict[int, bytes] = {}

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

    def close(self) -> None:
        """Close every connection; the caller has stopped the threads that read and write."""
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
               meta: Mapping[str, bytes] | None = None) -> None:
        """Persist admitted records, then sealed blocks, then `meta` values, atomically, in order.
        Raises StorageFault (the cause in its message) if SQLite cannot."""
        with self._wlock:
            c = self._w
            try:
                c.execute("BEGIN IMMEDIATE")
                self._append_rows(c, records, blocks, meta or {})
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback_quietly(c)
                raise _storage_fault("write", exc) from exc
            except BaseException:
                self._rollback_quietly(c)
                raise

    def _append_rows(self, c: sqlite3.Connection, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock],
                     meta: Mapping[str, bytes]) -> None:
        if records:
            c.executemany(
                "INSERT INTO admitted(height, rollup_id, idx, tx_hash, payload, bundle_hash)"
                " VALUES (?,?,?,?,?,?)",
                [(r.height, _i64(r.rollup_id), r.index, r.tx_hash, r.payload, r.bundle_hash)
                 for r in records],
            )
        for b in blocks:
            self._append_block(c, b)
        for key, value in meta.items():
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def prepare_block(self, b: SharedBlock) -> None:
        """Encode the block's shared row (it hashes every payload for the leaves) ahead of `append`,
        on any thread: the commit that follows then only writes bytes."""
        self._prepared[b.height] = encode_block_row(b)

    def _append_block(self, c: sqlite3.Connection, b: SharedBlock) -> None:
        h = b.header
        row = self._prepared.pop(h.height, None) or encode_block_row(b)
        c.execute(
            "INSERT INTO blocks(height, block_hash, timestamp_ms, l1_origin_number, l1_origin_hash, body)"
            " VALUES (?,?,?,?,?,?)",
            (h.height, block_hash(h), h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, row),
        )
        c.executemany("INSERT INTO namespaces(height, rollup_id, txs) VALUES (?,?,?)",
                      [(h.height, _i64(ns.rollup_id), encode_namespace_row(ns)) for ns in b.namespaces])
        # One statement each, run inside SQLite: a row-by-row copy through Python would hand the GIL
        # back and forth hundreds of times per block, and wait on the event loop's thread each time.
        c.execute("INSERT OR IGNORE INTO txs(tx_hash, height, rollup_id, idx, bundle_hash)"
                  " SELECT tx_hash, height, rollup_id, idx, bundle_hash FROM admitted WHERE height = ?",
                  (h.height,))
        c.execute("DELETE FROM admitted WHERE height <= ?", (h.height,))

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
                bundles = tuple(p for p in row.bundles if any(rid == rollup_id for rid, _ in p.legs))
                piece = RollupSlice(BlockRow(row.header, row.signature, row.leaves, bundles), mine)
                out.append(piece)
                size += piece.size
                if size >= max_bytes:
                    break
            cur.close()
        return out

    def find_tx(self, tx_hash: Hash32) -> TxLocation | None:
        with self._reader() as r:
            row = r.execute(
                "SELECT height, rollup_id, idx, bundle_hash FROM txs WHERE tx_hash = ?", (tx_hash,)
            ).fetchone()
        return TxLocation(row[0], _u64(row[1]), row[2], row[3]) if row else None

    def load_state(self, recent: int = 100_000) -> LogState:
        """The last sealed block, the unsealed admitted records (in admission
        order) and the newest `recent` sealed tx hashes."""
        with self._reader() as c:
            row = c.execute(
                "SELECT height, block_hash, timestamp_ms, l1_origin_number, l1_origin_hash"
                " FROM blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
            head = Head(row[0], row[1], row[2], (row[3], row[4])) if row else Head()
            pending = tuple(
                AdmittedTx(h, _u64(rid), idx, payload, th, bh)
                for h, rid, idx, payload, th, bh in c.execute(
                    "SELECT height, rollup_id, idx, payload, tx_hash, bundle_hash FROM admitted"
                    " WHERE height > ? ORDER BY seq", (head.height,)
                )
            )
            hashes = [r[0] for r in c.execute(
                "SELECT tx_hash FROM txs ORDER BY height DESC LIMIT ?", (recent,))]
        hashes.reverse()
        return LogState(head, pending, tuple(hashes))
