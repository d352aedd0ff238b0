"""The SQLite block log (sequencer/store/sqlite_log.py) and its block codec
(sequencer/store/codec.py), with a real core producing the blocks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from core_testkit import DOMAIN, make_config, make_core, make_signer

from sequencer.core.sequencer import AdmittedTx, Head, SequencerCore
from sequencer.core.signing import block_hash, verify_receipt
from sequencer.core.types import Bundle, Receipt, SharedBlock, Transaction
from sequencer.errors import Critical, StorageFault
from sequencer.store.sqlite_log import SCHEMA_VERSION, BlockLog, TxLocation

BIG = (2**63 + 5, 2**64 - 1)
ROLLUPS = (1, 2) + BIG


def tx(rollup_id: int, payload: bytes) -> Transaction:
    return Transaction(rollup_id, payload)


@pytest.fixture
def log(tmp_path):
    log = BlockLog(tmp_path / "log" / "sharedseq.db")
    yield log
    log.close()


def test_records_then_block(log: BlockLog) -> None:
    core = make_core(ROLLUPS)
    a = core.submit(tx(1, b"a"))
    b = core.submit_bundle(Bundle((tx(2, b"b"), tx(BIG[0], b"c"), tx(2, b"d"))))
    c = core.submit(tx(BIG[1], b"e"))
    records = a.records + b.records + c.records
    log.append(records, [])
    state = log.load_state()
    assert state.head == Head()
    assert state.pending == records  # in admission order, uint64 ids intact
    assert state.recent == ()
    assert log.head_height() == -1 and log.read_block(0) is None

    block = core.seal(1_000, (7, b"\x07" * 32))
    log.append([], [block])
    state = log.load_state()
    assert state.head == core.head == Head(0, block_hash(block.header), 1_000, (7, b"\x07" * 32))
    assert state.pending == ()
    ((ts, height, by_rollup),) = state.recent
    assert (ts, height) == (1_000, 0)
    assert {rid: sorted(hs) for rid, hs in by_rollup.items()} == {
        rid: sorted(r.tx_hash for r in records if r.rollup_id == rid) for rid in {r.rollup_id for r in records}}
    assert log.head_height() == 0
    assert log.read_block(0) == block
    assert log.read_block(0).namespace(BIG[1]).transactions == (b"e",)
    assert log.find_tx(records[0].tx_hash) == TxLocation(0, 1, 0, None)
    assert log.find_tx(records[2].tx_hash) == TxLocation(0, BIG[0], 0, b.records[0].bundle_hash)
    assert log.find_tx(records[3].tx_hash) == TxLocation(0, 2, 1, b.records[0].bundle_hash)
    assert log.find_tx(records[4].tx_hash) == TxLocation(0, BIG[1], 0, None)
    assert log.find_tx(b"\x00" * 32) is None


def test_pending_across_heights_and_partial_seal(log: BlockLog) -> None:
    core = make_core(max_block_txs=2)
    records = []
    for i in range(5):
        records += core.submit(tx(1 + i % 2, b"p%d" % i)).records
    log.append(records[:3], [])
    log.append(records[3:], [core.seal(100)])  # one commit: new records and block 0
    state = log.load_state()
    assert state.head.height == 0
    assert state.pending == tuple(records[2:])
    assert [r.height for r in state.pending] == [1, 1, 2]
    assert log.find_tx(records[2].tx_hash) is None


def test_read_blocks_in_order(log: BlockLog) -> None:
    core = make_core()
    blocks = []
    for i in range(6):
        adm = core.submit(tx(1 + i % 3, b"x%d" % i))
        block = core.seal(100 * (i + 1))
        log.append(adm.records, [block])
        blocks.append(block)
    assert log.read_blocks(0, 5) == blocks
    assert log.read_blocks(2, 3) == blocks[2:4]
    assert log.read_blocks(4, 100) == blocks[4:]
    assert log.read_blocks(7, 9) == []
    # the sealed transactions of the blocks inside the dedupe window (block time), oldest first
    assert log.load_state(dedupe_window_ms=100).recent == (
        (500, 4, {2: [Transaction(2, b"x4").tx_hash]}), (600, 5, {3: [Transaction(3, b"x5").tx_hash]}))
    assert len(log.load_state(dedupe_window_ms=10_000).recent) == 6
    assert log.load_state(dedupe_window_ms=0).recent == ((600, 5, {3: [Transaction(3, b"x5").tx_hash]}),)


def test_failed_append_writes_nothing(log: BlockLog) -> None:
    core = make_core()
    adm = core.submit(tx(1, b"a"))
    block = core.seal(100)
    log.append(adm.records, [block])
    with pytest.raises(StorageFault, match="UNIQUE constraint"):  # height 0 again: the whole append rolls back
        log.append(core.submit(tx(1, b"b")).records, [block])
    assert log.load_state().pending == ()


def test_meta_and_in_memory_log() -> None:
    log = BlockLog(":memory:")
    try:
        assert log.get_meta("k") is None
        log.set_meta("k", b"v1")
        log.set_meta("k", b"v2")
        assert log.get_meta("k") == b"v2"
    finally:
        log.close()


# -- restart ------------------------------------------------------------------------

STEPS = [("tx", 1, b"a"), ("tx", 2, b"b"), ("bundle", ((1, b"c"), (2, b"d"))), ("seal", 100), ("tx", 1, b"e"),
         ("tx", 2, b"f"), ("tx", 1, b"g"), ("bundle", ((2, b"h"), (1, b"i"), (2, b"j"))), ("tx", 2, b"k"),
         ("seal", 100), ("tx", 1, b"l"), ("restart",), ("tx", 1, b"a"), ("tx", 2, b"m"), ("seal", 100),
         ("restart",), ("seal", 100), ("bundle", ((1, b"n"),)), ("restart",), ("seal", 100), ("seal", 100),
         ("tx", 2, b"o"), ("seal", 100)]


def run(steps, path) -> list[SharedBlock]:
    """Drive a core and (if `path`) a log the way the service does; restart on ("restart",)."""
    config = make_config(max_block_txs=3, max_block_bytes=100, max_tx_bytes=50, max_bundle_bytes=100)
    core = SequencerCore(config, make_signer())
    log = BlockLog(path) if path else None
    now, sealed = 0, []
    for step in steps:
        if step[0] == "restart":
            if log is None:
                continue
            log.close()
            log = BlockLog(path)
            state = log.load_state()
            core = SequencerCore(config, make_signer())
            core.restore(state.head, state.pending, state.recent)
            continue
        try:
            if step[0] == "tx":
                records = core.submit(tx(step[1], step[2])).records
            elif step[0] == "bundle":
                records = core.submit_bundle(Bundle(tuple(tx(r, p) for r, p in step[1]))).records
            else:
                now += step[1]
                block = core.seal(now)
                sealed.append(block)
                if log:
                    log.append([], [block])
                continue
        except Exception as exc:
            sealed.append(type(exc).__name__)  # the rejection is part of the behaviour
            continue
        if log:
            log.append(records, [])
    if log:
        assert log.read_blocks(0, 10**6) == [b for b in sealed if isinstance(b, SharedBlock)]
        log.close()
    return sealed


def test_restart_seals_the_same_blocks(tmp_path) -> None:
    interrupted = run(STEPS, tmp_path / "a.db")
    uninterrupted = run(STEPS, None)
    assert "Duplicate" in uninterrupted  # b"a" again: dedupe survives the restart too
    assert interrupted == uninterrupted
    hashes = [block_hash(b.header) for b in interrupted if isinstance(b, SharedBlock)]
    assert len(hashes) == len(set(hashes)) == 7


def test_one_process_at_a_time_holds_a_log(tmp_path) -> None:
    import pytest

    from sequencer.errors import BadInput
    from sequencer.store.sqlite_log import BlockLog

    first = BlockLog(tmp_path / "log.sqlite3")
    with pytest.raises(BadInput, match="in use by another sequencer"):
        BlockLog(tmp_path / "log.sqlite3")
    first.close()
    BlockLog(tmp_path / "log.sqlite3").close()


# -- receipts stored with the records (issue 9, "Retries") -------------------------------------------------


def test_receipts_are_rebuilt_byte_for_byte(log: BlockLog) -> None:
    core = make_core(ROLLUPS)
    records = core.submit(tx(1, b"a")).records + core.submit(tx(BIG[1], b"b")).records
    records += core.submit_bundle(Bundle((tx(2, b"c"), tx(1, b"d")))).records
    batch, receipts = core.sign_receipt_batch(records)
    log.append(records, [], receipts=batch)
    for r, receipt in zip(records, receipts, strict=True):
        (stored,) = log.find_receipts(r.tx_hash, r.rollup_id)  # pending: from the admitted table
        assert not stored.sealed and stored.receipt == receipt
        assert stored.location == TxLocation(0, r.rollup_id, r.index, r.bundle_hash)
        assert verify_receipt(DOMAIN, stored.receipt) == core.signer.address
    log.append([], [core.seal(100)])
    for r, receipt in zip(records, receipts, strict=True):
        (stored,) = log.find_receipts(r.tx_hash, r.rollup_id, pending=False)  # sealed: from txs
        assert stored.sealed and stored.receipt == receipt
    assert log.find_receipts(records[0].tx_hash, 2) == []
    assert log.read_receipt_batch(1) == batch


def test_same_bytes_on_two_rollups_are_two_transactions(log: BlockLog) -> None:
    core = make_core()
    records = core.submit(tx(2, b"same")).records + core.submit(tx(1, b"same")).records
    batch, _ = core.sign_receipt_batch(records)
    log.append(records, [core.seal(100)], receipts=batch)
    found = log.find_receipts(records[0].tx_hash)
    assert [s.location.rollup_id for s in found] == [1, 2]  # both kept (txs was keyed by hash alone)
    assert log.find_tx(records[0].tx_hash) == TxLocation(0, 1, 0, None)


def test_readmission_after_the_window_is_found_where_it_is_now(log: BlockLog) -> None:
    core = make_core(dedupe_window_ms=100)
    first = core.submit(tx(1, b"again")).records
    log.append(first, [core.seal(100)], receipts=core.sign_receipt_batch(first)[0])
    log.append([], [core.seal(200)])
    log.append([], [core.seal(300)])
    second = core.submit(tx(1, b"filler")).records + core.submit(tx(1, b"again")).records
    batch, receipts = core.sign_receipt_batch(second)
    log.append(second, [core.seal(400)], receipts=batch)
    (stored,) = log.find_receipts(first[0].tx_hash, 1)
    assert stored.location.height == 3 and stored.receipt == receipts[1]


def test_a_batch_must_cover_the_records(log: BlockLog) -> None:
    core = make_core()
    records = core.submit(tx(1, b"a")).records + core.submit(tx(1, b"b")).records
    batch, _ = core.sign_receipt_batch(records[:1])
    with pytest.raises(ValueError, match="a receipt batch of 1 for 2 records"):
        log.append(records, [], receipts=batch)


V1_SCHEMA = """
CREATE TABLE admitted (seq INTEGER PRIMARY KEY AUTOINCREMENT, height INTEGER NOT NULL, rollup_id INTEGER NOT NULL,
    idx INTEGER NOT NULL, tx_hash BLOB NOT NULL, payload BLOB NOT NULL, bundle_hash BLOB);
CREATE TABLE blocks (height INTEGER PRIMARY KEY, block_hash BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    l1_origin_number INTEGER NOT NULL, l1_origin_hash BLOB NOT NULL, body BLOB NOT NULL);
CREATE TABLE txs (tx_hash BLOB PRIMARY KEY, height INTEGER NOT NULL, rollup_id INTEGER NOT NULL,
    idx INTEGER NOT NULL, bundle_hash BLOB) WITHOUT ROWID;
CREATE INDEX txs_height ON txs(height);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


def test_a_version_1_log_is_migrated(tmp_path) -> None:
    # A log written before receipts were stored: its rows survive, its receipts are simply not there.
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    h = Transaction(1, b"old sealed").tx_hash
    old.execute("INSERT INTO txs VALUES (?, 0, 1, 0, NULL)", (h,))
    old.execute("INSERT INTO admitted(height, rollup_id, idx, tx_hash, payload) VALUES (1, 2, 0, ?, ?)",
                (Transaction(2, b"old pending").tx_hash, b"old pending"))
    old.commit()
    old.close()
    log = BlockLog(path)
    try:
        assert log.get_meta("schema_version") == str(SCHEMA_VERSION).encode()
        (stored,) = log.find_receipts(h, 1)
        assert stored.location == TxLocation(0, 1, 0, None) and stored.receipt is None
        assert log.load_state().pending_receipts == ((None, None),)
        # and it takes version-2 rows: the same hash on another rollup, a stored batch
        core = make_core()
        records = core.submit(tx(2, b"old sealed")).records
        log.append(records, [], receipts=core.sign_receipt_batch(records)[0])
        assert log.find_receipts(h, 2)[0].receipt is not None
    finally:
        log.close()
    BlockLog(path).close()  # opening a migrated log again changes nothing


def test_a_log_from_a_newer_version_is_refused(tmp_path) -> None:
    path = tmp_path / "new.db"
    BlockLog(path).close()
    c = sqlite3.connect(path)
    c.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    c.commit()
    c.close()
    with pytest.raises(Critical, match="layout version 99"):
        BlockLog(path)


def test_a_batch_is_rehashed_once_for_any_number_of_lookups(log: BlockLog, monkeypatch) -> None:
    # A client retrying every transaction of a big group commit must not make the server rehash the
    # whole commit each time: the rebuilt tree is cached, bounded by bytes.
    import sequencer.store.sqlite_log as sqlite_log

    core = make_core(max_block_txs=1000)
    records = [r for i in range(300) for r in core.submit(tx(1, b"r%d" % i)).records]
    batch, receipts = core.sign_receipt_batch(records)
    log.append(records, [core.seal(100)], receipts=batch)
    calls = []
    real = sqlite_log.tree_levels
    monkeypatch.setattr(sqlite_log, "tree_levels", lambda leaves: calls.append(len(leaves)) or real(leaves))
    for r, receipt in zip(records, receipts, strict=True):
        assert log.find_receipts(r.tx_hash, 1, pending=False)[0].receipt == receipt
    assert calls == [300]
    # the cache is bounded: with room for less than one batch, each lookup rebuilds (and stays correct)
    monkeypatch.setattr(sqlite_log, "BATCH_CACHE_BYTES", 1)
    other = [r for i in range(3) for r in core.submit(tx(2, b"o%d" % i)).records]
    log.append(other, [core.seal(200)], receipts=core.sign_receipt_batch(other)[0])
    assert log.find_receipts(other[0].tx_hash, 2)[0].receipt is not None
    assert log.find_receipts(records[5].tx_hash, 1)[0].receipt == receipts[5]
    assert calls == [300, 3, 300] and len(log._batches) == 1


# -- a group commit's records in one statement -----------------------------------------------------------


def test_records_of_every_shape_come_back_exactly(log: BlockLog) -> None:
    """The records travel as one blob sliced by offsets: one-byte payloads, bundles beside single
    transactions, uint64 rollup ids and payloads that look like SQL or JSON all come back as sent."""
    core = make_core(ROLLUPS)
    records = core.submit(tx(1, b"\x00")).records
    records += core.submit_bundle(Bundle((tx(2, b"b"), tx(BIG[1], b"\x00" * 31)))).records
    records += core.submit(tx(BIG[0], bytes(range(256)) * 30)).records
    records += core.submit_bundle(Bundle((tx(1, b"[1,2,3]"), tx(2, b"\xff" * 33)))).records
    records += core.submit(tx(2, b"'); DROP TABLE admitted; --")).records
    batch, receipts = core.sign_receipt_batch(records)
    log.append(records, [], receipts=batch)
    assert log.load_state().pending == records
    for r, receipt in zip(records, receipts, strict=True):
        (stored,) = log.find_receipts(r.tx_hash, r.rollup_id)
        assert stored.receipt == receipt and stored.location == TxLocation(0, r.rollup_id, r.index, r.bundle_hash)
    log.append(records[:0], [core.seal(100)])
    assert [log.find_tx(r.tx_hash) for r in records] == [
        TxLocation(0, r.rollup_id, r.index, r.bundle_hash) for r in records]


def test_a_group_commit_runs_the_same_statements_for_2_or_500_records(tmp_path) -> None:
    """Each SQLite step hands the GIL back; with the event loop busy on another thread each hand-back
    waited up to the switch interval, so a commit must not step once per record (executemany did:
    500 rows took 250-390 ms beside a busy thread, against 9 ms in one statement)."""
    def statements(n: int) -> int:
        log = BlockLog(tmp_path / f"{n}" / "sharedseq.db")
        core = make_core()
        records = tuple(r for i in range(n) for r in core.submit(tx(1 + i % 2, b"tx %d" % i)).records)
        batch, _ = core.sign_receipt_batch(records)
        seen: list[str] = []
        log._w.set_trace_callback(seen.append)
        log.append(records, [], receipts=batch)
        log._w.set_trace_callback(None)
        assert log.load_state().pending == records
        log.close()
        return len(seen)

    assert statements(2) == statements(500) <= 4


# -- the deferred index (index_at_seal=False, as `sharedseq serve` runs) -------------------------------


def _two_heights(log: BlockLog) -> tuple[SequencerCore, list[AdmittedTx], tuple[Receipt, ...]]:
    core = make_core()
    records = [r for i in range(5) for r in core.submit(tx(1 + i % 2, b"h0-%d" % i)).records]
    batch, receipts = core.sign_receipt_batch(records)
    log.append(records, [core.seal(100)], receipts=batch)
    later = core.submit(tx(1, b"h1")).records
    log.append(later, [], receipts=core.sign_receipt_batch(later)[0])
    return core, records, receipts


def test_a_deferred_index_moves_sealed_records_in_chunks_and_lookups_find_them_meanwhile(tmp_path) -> None:
    log = BlockLog(tmp_path / "sharedseq.db", index_at_seal=False)
    core, records, receipts = _two_heights(log)
    assert log.find_tx(records[0].tx_hash) is None  # not in txs yet
    for r, receipt in zip(records, receipts, strict=True):  # but found, sealed, with its receipt
        (stored,) = log.find_receipts(r.tx_hash, r.rollup_id)
        assert stored.sealed and stored.receipt == receipt and stored.location.height == 0
    assert [r.height for r in log.load_state().pending] == [1]  # the sealed ones are not pending
    assert log.index_sealed(2) == (2, -1)  # height 0 not all moved yet
    assert log.index_sealed(2) == (2, -1)
    assert log.index_sealed(2) == (1, 0)
    assert log.index_sealed(2) == (0, 0)
    for r, receipt in zip(records, receipts, strict=True):
        assert log.find_tx(r.tx_hash) == TxLocation(0, r.rollup_id, r.index, None)
        assert [s.receipt for s in log.find_receipts(r.tx_hash, r.rollup_id, pending=False)] == [receipt]
    (pending,) = log.load_state().pending
    assert pending.height == 1 and not log.find_receipts(pending.tx_hash, 1)[0].sealed
    log.close()


def test_a_log_reopened_with_its_index_behind_moves_it_before_anything_reads(tmp_path) -> None:
    """A stop (or a crash) with sealed records not indexed yet: the next open indexes them, so a
    restart's dedupe window (load_state's recent blocks) and lookups see every sealed transaction."""
    log = BlockLog(tmp_path / "sharedseq.db", index_at_seal=False)
    _, records, _ = _two_heights(log)
    log.close()
    log = BlockLog(tmp_path / "sharedseq.db", index_at_seal=False)
    assert [log.find_tx(r.tx_hash) for r in records] == [TxLocation(0, r.rollup_id, r.index, None) for r in records]
    state = log.load_state()
    ((_, height, by_rollup),) = state.recent
    assert height == 0 and sorted(h for hs in by_rollup.values() for h in hs) == sorted(r.tx_hash for r in records)
    assert [r.height for r in state.pending] == [1]
    log.close()


def test_an_index_commit_that_fails_moves_nothing(tmp_path) -> None:
    """Copy and delete are one transaction: when the copy fails halfway (the disk, here a trigger),
    every record is still in `admitted`, none in both tables, and a later attempt moves them all."""
    log = BlockLog(tmp_path / "sharedseq.db", index_at_seal=False)
    _, records, _ = _two_heights(log)
    log._w.execute("CREATE TEMP TRIGGER full BEFORE INSERT ON txs WHEN (SELECT COUNT(*) FROM txs) >= 2"
                   " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    with pytest.raises(StorageFault, match="disk is full"):
        log.index_sealed(10)
    assert log._w.execute("SELECT COUNT(*) FROM txs").fetchone() == (0,)
    assert log._w.execute("SELECT COUNT(*) FROM admitted").fetchone() == (6,)
    log._w.execute("DROP TRIGGER temp.full")
    assert log.index_sealed(10) == (5, 0)
    assert log._w.execute("SELECT COUNT(*) FROM admitted").fetchone() == (1,)
    log.close()


def test_with_checkpoints_apart_no_commit_checkpoints_and_checkpoint_does(tmp_path) -> None:
    """SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages (tens of ms
    under load, receipts waiting). With checkpoint_apart the writer's commits never do; `checkpoint`
    (another connection) copies the WAL into the database, and a reopened log reads it all."""
    path = tmp_path / "sharedseq.db"
    log = BlockLog(path, checkpoint_apart=True)
    core = make_core()
    for k in range(60):
        records = [r for i in range(10) for r in core.submit(tx(1, b"%d-%d-" % (k, i) + b"x" * 8000)).records]
        log.append(records, [], receipts=core.sign_receipt_batch(records)[0])
    assert Path(f"{path}-wal").stat().st_size > 1_000 * 4096  # never checkpointed by a commit
    assert log.checkpoint() >= 1_000
    log.close()
    plain = BlockLog(tmp_path / "plain.db")
    assert plain.checkpoint() == 0  # without checkpoint_apart: SQLite's own, as before
    plain.close()
    reopened = BlockLog(path)
    assert len(reopened.load_state().pending) == 600
    reopened.close()
