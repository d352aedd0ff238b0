"""The batcher's cursor cache: rows are used only when they say exactly what L1 says."""

from __future__ import annotations

from pathlib import Path

from rollup_adapters.derivation import Cursor
from sequencer.l1.state import CursorCache

CURSORS = {901: Cursor(10, 9000, (7, b"\x07" * 32), 0), 902: Cursor(20, None, (0, b"\x00" * 32), 3)}
HASHES = [b"\x01" * 32, b"\x02" * 32]


def test_round_trip_and_mismatch(tmp_path: Path) -> None:
    cache = CursorCache(tmp_path / "s" / "state.sqlite")
    cache.put(0, 0, 19, b"\xaa" * 32, HASHES, CURSORS)
    assert cache.matching(0, 0, 19, b"\xaa" * 32, HASHES) == CURSORS
    assert cache.matching(0, 0, 19, b"\xab" * 32, HASHES) is None      # another last block on L1
    assert cache.matching(0, 0, 18, b"\xaa" * 32, HASHES) is None      # other heights
    assert cache.matching(0, 0, 19, b"\xaa" * 32, HASHES[::-1]) is None  # other batches
    assert cache.matching(1, 20, 39, b"\xaa" * 32, HASHES) is None     # no row
    cache.put(0, 0, 19, b"\xab" * 32, HASHES, CURSORS)                # overwritten after a reorg
    cache.close()
    reopened = CursorCache(tmp_path / "s" / "state.sqlite")
    assert reopened.matching(0, 0, 19, b"\xab" * 32, HASHES) == CURSORS
    reopened.close()
