"""The JetStream block log on a real 3-node cluster (issue 12): the same state as SQLite from the same
appends, rebuilt by replaying the stream; a stale writer fenced by JetStream itself; one server down
changes nothing, the quorum down refuses the write (nothing to receipt)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nats_cluster import NatsCluster, nats_cluster  # noqa: F401  (the fixture)
from seq_helpers import Wallet, make_config

from sequencer.core.sequencer import SequencerCore
from sequencer.core.signing import Signer
from sequencer.keys import read_key
from sequencer.store.jetstream_log import Fenced, JetStreamLog, LogUnavailable
from sequencer.store.sqlite_log import BlockLog

pytestmark = pytest.mark.integration


def _core(tmp: Path) -> SequencerCore:
    cfg = make_config(tmp)
    return SequencerCore(cfg.core, Signer(read_key(cfg.key_file), cfg.domain))


def _commit(core: SequencerCore, logs: list[BlockLog], wallet: Wallet, n: int, now: int, *, seal: bool) -> None:
    records = []
    for i in range(n):
        records.extend(core.admit(core_tx(wallet, 901 + i % 3), now))
    signed, _ = core.sign_receipt_batch(records)
    blocks = [core.seal(now + 50)] if seal else []
    for lg in logs:
        lg.append(records, [], {}, receipts=signed)
        if blocks:
            lg.append([], blocks, {"firm_height": b"-1"})


def core_tx(wallet: Wallet, rid: int):  # noqa: ANN201
    from sequencer.core.types import Transaction
    return Transaction(rid, wallet.transfer(rid, kind=0 if rid == 903 else 2))


def test_rebuilt_from_the_stream_equals_sqlite(nats_cluster: NatsCluster, tmp_path: Path) -> None:  # noqa: F811
    core, wallet = _core(tmp_path), Wallet()
    sql = BlockLog(tmp_path / "log.sqlite3")
    js = JetStreamLog(nats_cluster.urls, "rebuild")
    now = 1_700_000_000_000
    for k in range(4):
        _commit(core, [sql, js], wallet, 5, now + 100 * k, seal=k < 3)  # the last commit stays pending
    _commit(core, [sql, js], wallet, 3, now + 500, seal=False)
    js.close()
    again = JetStreamLog(nats_cluster.urls, "rebuild")
    try:
        a, b = sql.load_state(60_000), again.load_state(60_000)
        assert a.head == b.head and a.head.height == 2
        assert a.pending == b.pending and a.pending
        # (Placement heights follow each rollup's block time, so how many are sealed varies.)
        assert a.recent == b.recent and a.recent and len(a.recent) + len(a.pending) <= 23
        assert a.pending_receipts == b.pending_receipts
        for r in a.pending[:2]:
            assert sql.find_receipts(r.tx_hash, r.rollup_id) == again.find_receipts(r.tx_hash, r.rollup_id)
        assert sql.read_blocks(0, 2) == again.read_blocks(0, 2)
        assert again.get_meta("firm_height") == b"-1"
    finally:
        again.close()
        sql.close()


def test_a_stale_writer_is_fenced(nats_cluster: NatsCluster, tmp_path: Path) -> None:  # noqa: F811
    core, wallet = _core(tmp_path), Wallet()
    old = JetStreamLog(nats_cluster.urls, "fence")
    new = JetStreamLog(nats_cluster.urls, "fence")
    try:
        _commit(core, [new], wallet, 2, 1_700_000_000_000, seal=True)  # the new leader writes first
        before = new.stream_last_seq()
        with pytest.raises(Fenced):
            old.append([], [core.seal(1_700_000_000_200)], {})
        assert new.stream_last_seq() == before  # JetStream refused it: nothing of it is in the log
        assert old.catch_up() == before and old.head_height() == 0  # the deposed one follows
        old.claim({"leader": b"old"})  # it takes over in turn: now the other one is the stale writer
        with pytest.raises(Fenced):
            new.append([], [core.seal(1_700_000_000_300)], {})
        assert old.get_meta("leader") == b"old" and new.catch_up() == before + 1
    finally:
        old.close()
        new.close()


def test_one_server_down_keeps_going_quorum_down_refuses(nats_cluster: NatsCluster, tmp_path: Path) -> None:  # noqa: F811
    core, wallet = _core(tmp_path), Wallet()
    js = JetStreamLog(nats_cluster.urls, "quorum", timeout_s=1.0)
    try:
        _commit(core, [js], wallet, 1, 1_700_000_000_000, seal=True)
        nats_cluster.kill(0)
        _commit(core, [js], wallet, 2, 1_700_000_000_100, seal=True)  # two of three: still a quorum
        assert js.head_height() == 1
        nats_cluster.kill(1)
        records = core.admit(core_tx(wallet, 901), 1_700_000_000_200)
        signed, _ = core.sign_receipt_batch(records)
        started = time.monotonic()
        with pytest.raises(LogUnavailable):
            js.append(records, [], {}, receipts=signed)
        assert time.monotonic() - started < 4
        assert not js.find_receipts(records[0].tx_hash, 901)  # not in the local copy either
    finally:
        nats_cluster.start(0)
        nats_cluster.start(1)
        js.close()
    again = JetStreamLog(nats_cluster.urls, "quorum")
    try:
        # The append that timed out got no receipt. Like any write to a Raft log whose answer never came,
        # it may still have committed once the quorum was back: then it holds exactly the placement the
        # core made (a retry finds it and returns its receipt); it can never hold anything else.
        assert again.head_height() == 1
        assert again.load_state().pending in ((), tuple(records))
    finally:
        again.close()
