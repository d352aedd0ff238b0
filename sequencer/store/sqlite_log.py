"""The durable embedded log: SQLite in WAL mode, synchronous=FULL.

Holds admitted transactions (with their promised height and index) and
sealed blocks. One `append` call is one SQLite transaction: the service
batches every record that arrived meanwhile into it (group commit) and
releases receipts only after it returns, so an acknowledged transaction
survives kill -9 and power loss. Records are written in admission order, so
a durable record implies every earlier one is durable too, which is what lets
`load_state` rebuild the same pending blocks at the same indices.

Blocking calls: the async shell runs them in a worker thread. One writer
connection and one reader connection (WAL lets readers run beside the writer).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sequencer.core.sequencer import AdmittedTx, Head
from sequencer.core.signing import block_hash
from sequencer.core.types import Hash32, SharedBlock
from sequencer.errors import BadInput

from .codec import decode_block, encode_block

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
        self._w = self._connect()
        self._w.executescript(SCHEMA)
        self._r = self._connect() if self.path != ":memory:" else self._w
        self._wlock = threading.Lock()
        self._rlock = threading.Lock() if self._r is not self._w else self._wlock

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def close(self) -> None:
        with self._wlock:
            if self._r is not self._w:
                self._r.close()
            self._w.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    # -- writes -----------------------------------------------------------

    def append(self, records: Sequence[AdmittedTx], blocks: Sequence[SharedBlock]) -> None:
        """Persist admitted records then sealed blocks, atomically, in order."""
        with self._wlock:
            c = self._w
            c.execute("BEGIN IMMEDIATE")
            try:
                if records:
                    c.executemany(
                        "INSERT INTO admitted(height, rollup_id, idx, tx_hash, payload, bundle_hash)"
                        " VALUES (?,?,?,?,?,?)",
                        [(r.height, _i64(r.rollup_id), r.index, r.tx_hash, r.payload, r.bundle_hash)
                         for r in records],
                    )
                for b in blocks:
                    self._append_block(c, b)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def _append_block(self, c: sqlite3.Connection, b: SharedBlock) -> None:
        h = b.header
        c.execute(
            "INSERT INTO blocks(height, block_hash, timestamp_ms, l1_origin_number, l1_origin_hash, body)"
            " VALUES (?,?,?,?,?,?)",
            (h.height, block_hash(h), h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash, encode_block(b)),
        )
        # One statement each, run inside SQLite: a row-by-row copy through Python would hand the GIL
        # back and forth hundreds of times per block, and wait on the event loop's thread each time.
        c.execute("INSERT OR IGNORE INTO txs(tx_hash, height, rollup_id, idx, bundle_hash)"
                  " SELECT tx_hash, height, rollup_id, idx, bundle_hash FROM admitted WHERE height = ?",
                  (h.height,))
        c.execute("DELETE FROM admitted WHERE height <= ?", (h.height,))

    def set_meta(self, key: str, value: bytes) -> None:
        with self._wlock:
            self._w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- reads ------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        with self._rlock:
            row = self._r.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def head_height(self) -> int:
        with self._rlock:
            row = self._r.execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def read_block(self, height: int) -> SharedBlock | None:
        with self._rlock:
            row = self._r.execute("SELECT body FROM blocks WHERE height = ?", (height,)).fetchone()
        return decode_block(row[0]) if row else None

    def read_blocks(self, first: int, last: int) -> list[SharedBlock]:
        """Sealed blocks first..last inclusive, in order (fewer if not sealed yet)."""
        with self._rlock:
            rows = self._r.execute(
                "SELECT body FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height", (first, last)
            ).fetchall()
        return [decode_block(r[0]) for r in rows]

    def find_tx(self, tx_hash: Hash32) -> TxLocation | None:
        with self._rlock:
            row = self._r.execute(
                "SELECT height, rollup_id, idx, bundle_hash FROM txs WHERE tx_hash = ?", (tx_hash,)
            ).fetchone()
        return TxLocation(row[0], _u64(row[1]), row[2], row[3]) if row else None

    def load_state(self, recent: int = 100_000) -> LogState:
        """The last sealed block, the unsealed admitted records (in admission
        order) and the newest `recent` sealed tx hashes."""
        with self._rlock:
            c = self._r
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
