"""The batcher's optional cursor cache: one SQLite row per posted window.

L1 stays the source of truth. A row only saves re-deriving: it is used for window i when its
heights, last block hash and batch hashes equal what the inbox's WindowPosted event i says (the
batch hashes pin the cursors the batches were encoded from), otherwise ignored and overwritten.

    window(idx PK, first_height, last_height, last_block_hash, batch_hashes, cursors JSON)
    cursors = {rollup_id: [next_number, prev_timestamp_ms | null, origin_number, origin_hash_hex, forced_applied]}
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from rollup_adapters.derivation import Cursor
from sequencer.core.types import Hash32, RollupId


def _encode(cursors: Mapping[RollupId, Cursor]) -> str:
    return json.dumps({str(r): [c.next_number, c.prev_timestamp_ms, c.prev_l1_origin[0], c.prev_l1_origin[1].hex(),
                                c.forced_applied] for r, c in cursors.items()})


def _decode(text: str) -> dict[RollupId, Cursor]:
    return {int(r): Cursor(n, ts, (on, bytes.fromhex(oh)), fa) for r, (n, ts, on, oh, fa) in json.loads(text).items()}


class CursorCache:
    """Cursors after each posted window, keyed by window index and checked against L1 content."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS window (idx INTEGER PRIMARY KEY, first_height INTEGER NOT NULL, "
                         "last_height INTEGER NOT NULL, last_block_hash BLOB NOT NULL, batch_hashes BLOB NOT NULL, "
                         "cursors TEXT NOT NULL)")

    def close(self) -> None:
        self._db.close()

    def put(self, index: int, first: int, last: int, last_hash: Hash32, batch_hashes: Sequence[Hash32],
            cursors: Mapping[RollupId, Cursor]) -> None:
        self._db.execute("INSERT OR REPLACE INTO window VALUES (?, ?, ?, ?, ?, ?)",
                         (index, first, last, last_hash, b"".join(batch_hashes), _encode(cursors)))

    def matching(self, index: int, first: int, last: int, last_hash: Hash32,
                 batch_hashes: Sequence[Hash32]) -> dict[RollupId, Cursor] | None:
        """The cursors after window `index` if the cached row says exactly what L1 says."""
        row = self._db.execute("SELECT first_height, last_height, last_block_hash, batch_hashes, cursors FROM window "
                               "WHERE idx = ?", (index,)).fetchone()
        if row is None or tuple(row[:4]) != (first, last, last_hash, b"".join(batch_hashes)):
            return None
        try:
            return _decode(row[4])
        except (ValueError, TypeError):
            return None
