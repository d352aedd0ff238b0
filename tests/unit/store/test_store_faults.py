"""The block log under storage faults, its sealing index, and its per-rollup reads (issue 9,
findings 3 and 7): a full database names the real cause, a restart refuses a disk without room,
sealing never scans `admitted`, and a rollup's replay reads its own payloads only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import rlp
from core_testkit import make_core

from sequencer.core.commitments import prove_namespace, verify_namespace
from sequencer.core.types import Bundle, SharedBlock, Transaction
from sequencer.core.views import prove_namespace_from_leaves
from sequencer.errors import StorageFault
from sequencer.store.codec import encode_block
from sequencer.store.sqlite_log import BlockLog

ROLLUPS = (1, 2, 3, 2**64 - 1)


@pytest.fixture
def log(tmp_path: Path):
    log = BlockLog(tmp_path / "log.sqlite3")
    yield log
    log.close()


def _blocks(n: int, per_block: int = 3) -> list[tuple[list, SharedBlock]]:
    core = make_core(ROLLUPS)
    out = []
    for h in range(n):
        records = []
        for i in range(per_block):
            rid = ROLLUPS[(h + i) % len(ROLLUPS)]
            records += core.submit(Transaction(rid, f"{h}-{i}-".encode() + bytes(100))).records
        if h % 2:
            records += core.submit_bundle(Bundle((Transaction(1, f"b{h}".encode()),
                                                  Transaction(3, f"c{h}".encode())))).records
        out.append((records, core.seal(h * 100 + 50)))
    return out


def _fill(log: BlockLog, blocks: list[tuple[list, SharedBlock]]) -> None:
    for records, block in blocks:
        log.append(records, [block])


def test_sealing_uses_the_height_index(log: BlockLog) -> None:
    """Without `admitted_height` both statements of a seal are full scans of `admitted`."""
    for sql in ("SELECT tx_hash, height, rollup_id, idx, bundle_hash FROM admitted WHERE height = ?",
                "DELETE FROM admitted WHERE height <= ?"):
        plan = " ".join(str(r[-1]) for r in log._w.execute("EXPLAIN QUERY PLAN " + sql, (1,)))
        assert "admitted_height" in plan and "SCAN admitted" not in plan, plan


def test_a_full_database_names_the_cause_and_keeps_what_was_durable(log: BlockLog) -> None:
    blocks = _blocks(3)
    _fill(log, blocks[:1])
    pages = log._w.execute("PRAGMA page_count").fetchone()[0]
    log._w.execute(f"PRAGMA max_page_count = {pages + 2}")  # the "disk" fills within one more append
    records = make_core(ROLLUPS).submit(Transaction(1, b"x" * 60_000)).records
    with pytest.raises(StorageFault) as err:
        log.append(records, [])
    message = str(err.value)
    assert "database or disk is full" in message, message
    assert "cannot rollback" not in message and "\n" not in message
    assert not log._w.in_transaction  # nothing half-written is left open
    log._w.execute("PRAGMA max_page_count = 1073741823")  # space freed: the log goes on
    assert log.read_blocks(0, 10) == [blocks[0][1]]
    _fill(log, blocks[1:])
    assert log.read_blocks(0, 10) == [b for _, b in blocks]


def test_check_space_refuses_a_disk_without_room(log: BlockLog) -> None:
    _fill(log, _blocks(1))
    log.check_space(1_000_000)
    pages = log._w.execute("PRAGMA page_count").fetchone()[0]
    log._w.execute(f"PRAGMA max_page_count = {pages + 10}")
    with pytest.raises(StorageFault, match="no room for 3000000 bytes"):  # the freed 1 MB is reused, not 3
        log.check_space(3_000_000)
    assert log.get_meta("space_probe") is None


def test_check_space_reads_the_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    log = BlockLog(tmp_path / "log.sqlite3")
    try:
        real = os.statvfs(tmp_path)

        class Full:
            f_bavail, f_frsize = 10, real.f_frsize

        monkeypatch.setattr(os, "statvfs", lambda _p: Full)
        with pytest.raises(StorageFault, match="disk is full"):
            log.check_space(1_000_000)
    finally:
        log.close()


def test_read_rollup_reads_its_own_payloads_in_bounded_chunks(log: BlockLog) -> None:
    blocks = _blocks(12)
    _fill(log, blocks)
    for rid in ROLLUPS + (7,):
        got, h = [], 0
        while h < len(blocks):
            chunk = log.read_rollup(rid, h, len(blocks) - 1, max_bytes=600)
            assert chunk and (len(chunk) == 1 or sum(s.size for s in chunk[:-1]) < 600)
            got += chunk
            h += len(chunk)
        assert [s.row.header.height for s in got] == list(range(len(blocks)))
        for s, (_, block) in zip(got, blocks, strict=True):
            assert s.transactions == block.namespace(rid).transactions
            assert s.row.header == block.header and s.row.signature == block.signature
            assert all(any(r == rid for r, _ in p.legs) for p in s.row.bundles)
            assert [p for p in block.bundles if any(r == rid for r, _ in p.legs)] == list(s.row.bundles)
            proof = prove_namespace_from_leaves(s.row.leaves, rid)
            assert proof == prove_namespace(block.namespaces, rid)
            assert verify_namespace(proof, s.transactions, block.header.namespaces_root,
                                    block.header.namespace_count, rollup_id=rid)


def test_read_rollup_never_fetches_another_rollups_payloads(log: BlockLog) -> None:
    """The replay reads one namespace row per block: other rollups' rows are not even touched."""
    _fill(log, _blocks(6))
    seen: list[str] = []
    conn = sqlite3.connect(log.path)  # watch the statements on a reader connection of our own
    conn.set_trace_callback(seen.append)
    log._local.conn = conn
    log.read_rollup(2, 0, 5, max_bytes=10**6)
    assert len(seen) == 1 and "n.rollup_id = 2 " in seen[0]
    plan = " ".join(str(r[-1]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT b.body, n.txs FROM blocks b LEFT JOIN namespaces n ON n.height = b.height "
        "AND n.rollup_id = ? WHERE b.height BETWEEN ? AND ? ORDER BY b.height", (2, 0, 5)))
    assert "SEARCH n USING PRIMARY KEY (height=? AND rollup_id=?)" in plan, plan
    conn.close()


def test_old_whole_block_rows_still_read(log: BlockLog) -> None:
    """Logs written before the namespace split hold whole blocks in `blocks.body`."""
    blocks = _blocks(3)
    for _, b in blocks:
        h = b.header
        log._w.execute("INSERT INTO blocks VALUES (?,?,?,?,?,?)",
                       (h.height, b"\x00" * 32, h.timestamp_ms, h.l1_origin_number, h.l1_origin_hash,
                        encode_block(b)))
    assert log.read_blocks(0, 5) == [b for _, b in blocks]
    for rid in ROLLUPS:
        for s, (_, b) in zip(log.read_rollup(rid, 0, 5, 10**6), blocks, strict=True):
            assert s.transactions == b.namespace(rid).transactions
            assert prove_namespace_from_leaves(s.row.leaves, rid) == prove_namespace(b.namespaces, rid)
    assert rlp.decode(encode_block(blocks[0][1]))[2][0][1]  # the old layout's payload list
