"""Forced inclusion: the queue, deadlines, and a sequencer that ignores overdue txs cannot post."""

from __future__ import annotations

from eth_utils import keccak


def test_enqueue_records_sequence_block_and_deadline(l1):
    delay = l1.inbox.functions.forceInclusionDelay().call()
    receipt = l1.ok(l1.inbox.functions.enqueueForced(902, b"\x02raw-tx-1"), l1.outsider)
    ev = l1.inbox.events.ForcedTxEnqueued().process_receipt(receipt)[0]["args"]
    assert (ev["rollupId"], ev["seq"]) == (902, 0)
    assert ev["l1Block"] == receipt["blockNumber"] and ev["deadline"] == receipt["blockNumber"] + delay
    assert bytes(ev["data"]) == b"\x02raw-tx-1" and bytes(ev["txHash"]) == keccak(b"\x02raw-tx-1")
    stored = l1.inbox.functions.forcedTx(902, 0).call()
    assert (bytes(stored[0]), stored[1], stored[2]) == (keccak(b"\x02raw-tx-1"), ev["l1Block"], ev["deadline"])
    assert l1.inbox.functions.forcedQueueLength(902).call() == 1
    assert l1.inbox.functions.overdue(902).call() == 0
    # Read the tx so later tests start from an empty backlog.
    l1.ok(l1.post(l1.next_headers(1), (902,), (b"",), (1,)), l1.poster)
    assert l1.inbox.functions.forcedRead(902).call() == 1


def test_enqueue_reverts(l1):
    fn = l1.inbox.functions
    assert l1.revert(fn.enqueueForced(4242, b"tx"), l1.outsider.address) == "RollupNotActive"
    assert l1.revert(fn.enqueueForced(901, b""), l1.outsider.address) == "BadForcedTxSize"
    assert l1.revert(fn.enqueueForced(901, b"x" * 131073), l1.outsider.address) == "BadForcedTxSize"
    assert l1.revert(fn.forcedTx(901, 99), l1.outsider.address) == "OutOfRange"


def test_overdue_tx_blocks_posting_until_read(l1):
    fn = l1.inbox.functions
    receipt = l1.ok(fn.enqueueForced(901, b"force me"), l1.outsider)
    seq = l1.inbox.events.ForcedTxEnqueued().process_receipt(receipt)[0]["args"]["seq"]
    deadline = fn.forcedTx(901, seq).call()[2]
    # Before the deadline the sequencer may post without reading it.
    l1.ok(l1.post(l1.next_headers(1), (901,), (b"",), (seq,)), l1.poster)
    assert fn.overdue(901).call() == 0
    # Mine past the deadline: the next post must be the block after `deadline`.
    l1.anvil.mine(deadline - l1.w3.eth.block_number)  # head == deadline, next block is deadline + 1
    headers = l1.next_headers(2)
    # eth_call runs at the head (block == deadline): not yet overdue.
    assert l1.revert(l1.post(headers, (901,), (b"",), (seq,)), l1.poster.address) is None
    l1.anvil.mine(1)
    assert fn.overdue(901).call() == 1
    assert l1.revert(l1.post(headers, (901,), (b"",), (seq,)), l1.poster.address) == "ForcedTxOverdue"
    # Leaving the rollup out of the posting does not help either.
    assert l1.revert(l1.post(headers, (902,), (b"",)), l1.poster.address) == "ForcedTxOverdue"
    assert l1.revert(l1.post(headers, (), ()), l1.poster.address) == "ForcedTxOverdue"
    # Reading beyond the queue or going backwards is rejected.
    assert l1.revert(l1.post(headers, (901,), (b"",), (seq + 2,)), l1.poster.address) == "ForcedReadBeyondQueue"
    # Reading it makes the post succeed.
    receipt = l1.ok(l1.post(headers, (901,), (b"batch with forced tx",), (seq + 1,)), l1.poster)
    assert list(l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]["forcedRead"]) == [seq + 1]
    assert fn.forcedRead(901).call() == seq + 1 and fn.overdue(901).call() == 0
    assert l1.revert(l1.post(l1.next_headers(1), (901,), (b"",), (seq,)), l1.poster.address) == "ForcedReadBackwards"


def test_overdue_count_is_deterministic_per_rollup(l1):
    fn = l1.inbox.functions
    delay = fn.forceInclusionDelay().call()
    base = fn.forcedQueueLength(903).call()
    for i in range(3):
        l1.ok(fn.enqueueForced(903, bytes([i + 1]) * 10), l1.outsider)
    last_deadline = fn.forcedTx(903, base + 2).call()[2]
    first_deadline = fn.forcedTx(903, base).call()[2]
    assert last_deadline - first_deadline == 2
    l1.anvil.mine(first_deadline + 1 - l1.w3.eth.block_number)
    assert fn.overdue(903).call() == 1
    l1.anvil.mine(2)
    assert fn.overdue(903).call() == 3
    assert fn.overdue(901).call() == 0  # other rollups unaffected
    assert delay > 0
    # A paused rollup does not block others; resumed, it does again.
    headers = l1.next_headers(1)
    l1.ok(l1.registry.functions.setPaused(903, True), l1.owner)
    assert l1.revert(l1.post(headers, (901,), (b"",)), l1.poster.address) is None
    l1.ok(l1.registry.functions.setPaused(903, False), l1.owner)
    assert l1.revert(l1.post(headers, (901,), (b"",)), l1.poster.address) == "ForcedTxOverdue"
    # Reading only part of the overdue backlog is not enough.
    assert l1.revert(l1.post(headers, (903,), (b"",), (base + 2,)), l1.poster.address) == "ForcedTxOverdue"
    l1.ok(l1.post(headers, (903,), (b"",), (base + 3,)), l1.poster)
    assert fn.overdue(903).call() == 0
