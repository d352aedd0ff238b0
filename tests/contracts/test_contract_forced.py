"""Forced inclusion (docs/settlement.md section 4): the queue, per-format size limits at enqueue, and
forcedTo counted by the inbox by enqueue block, so a hostile sequencer can neither skip nor invent
entries, nor keep them out with a stale origin, and a paused or unserved rollup never blocks others."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak

from deploy.deployer import FORCED_TX_LIMITS
from rollup_adapters.base import RollupBlock
from rollup_adapters.zkevm.adapter import encode_forced_payloads
from rollup_adapters.zkevm.batch_v2 import MAX_FORCED_BATCH_BYTES
from rollup_adapters.zkevm.config import ZkEvmConfig
from sequencer.core.types import ZERO_HASH


def _enqueue(l1, rollup_id: int, data: bytes) -> dict:
    receipt = l1.ok(l1.inbox.functions.enqueueForced(rollup_id, data), l1.outsider)
    return dict(l1.inbox.events.ForcedTxEnqueued().process_receipt(receipt)[0]["args"])


def test_enqueue_records_sequence_block_and_deadline(l1):
    fn = l1.inbox.functions
    lag = fn.maxOriginLag().call()
    ev = _enqueue(l1, 902, b"\x02raw-tx-1")
    assert (ev["rollupId"], ev["seq"]) == (902, 0)
    assert ev["l1Block"] == l1.head() and ev["deadline"] == ev["l1Block"] + lag
    assert bytes(ev["data"]) == b"\x02raw-tx-1" and bytes(ev["txHash"]) == keccak(b"\x02raw-tx-1")
    stored = fn.forcedTx(902, 0).call()
    assert (bytes(stored[0]), stored[1], stored[2]) == (keccak(b"\x02raw-tx-1"), ev["l1Block"], ev["deadline"])
    assert fn.forcedQueueLength(902).call() == 1
    assert fn.forcedCountAt(902, ev["l1Block"] - 1).call() == 0
    assert fn.forcedCountAt(902, ev["l1Block"]).call() == 1
    assert fn.overdue(902).call() == 0
    # A window whose origin reaches the enqueue block applies it.
    l1.mine(1)
    receipt = l1.ok(l1.post(l1.build(1, (902,), origin=(ev["l1Block"], l1.block_hash_at(ev["l1Block"])))), l1.poster)
    assert list(l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]["forcedTo"]) == [1]
    assert fn.forcedTo(902).call() == 1


def test_enqueue_size_limits_per_format(l1):
    """Junk too large for a rollup's format is refused at enqueue (issue 8, finding 5): each rollup has
    its own maxForcedTxBytes in the registry, the format's limit."""
    fn, who = l1.inbox.functions, l1.outsider.address
    assert l1.revert(fn.enqueueForced(4242, b"tx"), who) == "RollupNotActive"
    assert l1.revert(fn.enqueueForced(901, b""), who) == "BadForcedTxSize"
    for rid, fmt in ((901, "opstack"), (902, "nitro"), (903, "zkevm")):
        limit = FORCED_TX_LIMITS[fmt]
        assert l1.registry.functions.forcedTxLimit(rid).call() == limit
        assert l1.revert(fn.enqueueForced(rid, b"\x01" * (limit + 1)), who) == "BadForcedTxSize", fmt
        assert l1.revert(fn.enqueueForced(rid, b"\x01" * limit), who) is None, fmt
    assert l1.revert(fn.enqueueForced(901, b"x" * (fn.MAX_FORCED_TX_BYTES().call() + 1)), who) == "BadForcedTxSize"
    assert fn.MAX_FORCED_TX_BYTES().call() == l1.registry.functions.MAX_FORCED_TX_BYTES().call()
    l1.ok(l1.registry.functions.setPaused(903, True), l1.owner)
    assert l1.revert(fn.enqueueForced(903, b"\x01"), who) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, False), l1.owner)
    assert l1.revert(fn.forcedTx(901, 99), who) == "OutOfRange"


def test_zkevm_limit_fits_a_forced_batch():
    """The zkEVM default (4,900 bytes) always fits Etrog's 5,000-byte forced batch once re-encoded, even
    for a legacy transaction whose r and s are short (the re-encoding pads them to 32 bytes)."""
    acct = Account.from_key(b"\x11" * 32)
    limit = FORCED_TX_LIMITS["zkevm"]
    for chain_id in (None, 903, 2**40):
        tx = {"nonce": 0, "gasPrice": 10**9, "gas": 10**6, "to": "0x" + "22" * 20, "value": 1, "data": b""}
        if chain_id is not None:
            tx["chainId"] = chain_id
        size = limit - 100
        raw = bytes(acct.sign_transaction({**tx, "data": b"\x01" * size}).raw_transaction)
        size += limit - len(raw)
        while len(raw := bytes(acct.sign_transaction({**tx, "data": b"\x01" * size}).raw_transaction)) > limit:
            size -= 1
        assert limit - 3 <= len(raw) <= limit
        block = RollupBlock(0, 0, 0, ZERO_HASH, (), forced=(raw,))
        payloads = list(encode_forced_payloads(block, ZkEvmConfig()))
        assert len(payloads) == 1 and len(bytes(payloads[0])) - len(raw) <= 66
        assert len(bytes(payloads[0])) <= MAX_FORCED_BATCH_BYTES


def test_forced_to_cannot_skip_or_invent_entries(l1):
    """forcedTo is what the inbox counts at the window's origin: a hostile sequencer that signs fewer
    (censoring) or more (applying entries not yet due, or that do not exist) is refused."""
    fn, poster = l1.inbox.functions, l1.poster.address
    applied = fn.forcedTo(901).call()
    e1 = _enqueue(l1, 901, b"force me 1")
    e2 = _enqueue(l1, 901, b"force me 2")
    l1.mine(1)
    at_e1 = (e1["l1Block"], l1.block_hash_at(e1["l1Block"]))
    # An origin that reaches only the first entry: exactly applied + 1.
    assert fn.forcedCountAt(901, e1["l1Block"]).call() == applied + 1
    assert l1.revert(l1.post(l1.build(1, (901,), forced_to=(applied,), origin=at_e1)), poster) == "WrongForcedTo"
    assert l1.revert(l1.post(l1.build(1, (901,), forced_to=(applied + 2,), origin=at_e1)), poster) == \
        "WrongForcedTo"
    assert l1.revert(l1.post(l1.build(1, (901,), forced_to=(applied + 99,), origin=at_e1)), poster) == \
        "WrongForcedTo"
    l1.ok(l1.post(l1.build(1, (901,), origin=at_e1)), l1.poster)
    assert fn.forcedTo(901).call() == applied + 1
    # A later origin must take the second one too; forcedTo never goes back.
    at_e2 = (e2["l1Block"], l1.block_hash_at(e2["l1Block"]))
    assert l1.revert(l1.post(l1.build(1, (901,), forced_to=(applied + 1,), origin=at_e2)), poster) == \
        "WrongForcedTo"
    assert l1.revert(l1.post(l1.build(1, (901,), forced_to=(applied,), origin=at_e2)), poster) == "WrongForcedTo"
    receipt = l1.ok(l1.post(l1.build(1, (901,), origin=at_e2)), l1.poster)
    assert list(l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]["forcedTo"]) == [applied + 2]


def test_stale_origin_cannot_keep_an_entry_out(l1):
    """The review's censorship: keep the origin below the entry's block so it is never due. Once the
    entry is maxOriginLag blocks old, such an origin is too old to post; every posting listing the
    rollup from then on applies it."""
    fn, poster = l1.inbox.functions, l1.poster.address
    lag = fn.maxOriginLag().call()
    before = l1.head()
    ev = _enqueue(l1, 902, b"censored?")
    stale = (before, l1.block_hash_at(before))  # an origin just below the entry's block
    assert l1.revert(l1.post(l1.build(1, (902,), origin=stale)), poster) is None  # not due yet: allowed
    l1.mine(lag)
    assert l1.head() - before > lag
    assert l1.revert(l1.post(l1.build(1, (902,), origin=stale)), poster) == "OriginTooOld"
    assert fn.overdue(902).call() >= 1
    p = l1.build(1, (902,))
    assert p.forced_to[0] >= ev["seq"] + 1
    assert l1.revert(l1.post(l1.build(1, (902,), forced_to=(ev["seq"],))), poster) == "WrongForcedTo"
    l1.ok(l1.post(p), l1.poster)
    assert fn.forcedTo(902).call() == ev["seq"] + 1 and fn.overdue(902).call() == 0


def test_junk_entry_is_counted_and_blocks_nothing(l1):
    """`enqueueForced(903, 0x02)` halted everything: now it is just counted (derivation skips what the
    rollup cannot decode) and postings go on."""
    fn = l1.inbox.functions
    ev = _enqueue(l1, 903, b"\x02")
    l1.mine(fn.maxOriginLag().call() + 1)
    assert fn.overdue(903).call() >= 1
    receipt = l1.ok(l1.post(l1.build(1, (901, 902, 903))), l1.poster)
    forced = list(l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]["forcedTo"])
    assert forced[2] == ev["seq"] + 1 and fn.overdue(903).call() == 0


def test_paused_or_unserved_rollup_never_blocks_others(l1):
    """A rollup with overdue entries that the batcher leaves out (paused, or simply not served) does not
    stop other rollups' postings (the old global overdue check blocked everyone)."""
    fn, poster = l1.inbox.functions, l1.poster.address
    for i in range(3):
        _enqueue(l1, 903, bytes([i + 1]) * 10)
    l1.mine(fn.maxOriginLag().call() + 1)
    assert fn.overdue(903).call() == 3
    # Unserved: 903 is active but left out.
    l1.ok(l1.post(l1.build(1, (901, 902))), l1.poster)
    assert fn.overdue(903).call() == 3 and fn.overdue(901).call() == 0
    # Paused: left out too, and listing it is refused.
    l1.ok(l1.registry.functions.setPaused(903, True), l1.owner)
    l1.ok(l1.post(l1.build(1, (901,))), l1.poster)
    assert l1.revert(l1.post(l1.build(1, (901, 903))), poster) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, False), l1.owner)
    # Resumed and listed: it must apply the whole backlog at once, no less.
    queued = fn.forcedQueueLength(903).call()
    assert l1.revert(l1.post(l1.build(1, (903,), forced_to=(queued - 1,))), poster) == "WrongForcedTo"
    l1.ok(l1.post(l1.build(1, (903,))), l1.poster)
    assert fn.forcedTo(903).call() == queued and fn.overdue(903).call() == 0


def test_count_by_enqueue_block_matches_a_model(l1):
    """forcedCountAt (the inbox's binary search) equals a plain count over every L1 block."""
    fn = l1.inbox.functions
    blocks = [fn.forcedTx(901, i).call()[1] for i in range(fn.forcedQueueLength(901).call())]
    for i in range(5):
        for _ in range(i % 3):
            blocks.append(_enqueue(l1, 901, bytes([7, i]))["l1Block"])
        l1.mine(i % 2)
    assert blocks == sorted(blocks)
    for b in range(max(0, blocks[0] - 2), l1.head() + 2):
        assert fn.forcedCountAt(901, b).call() == sum(1 for e in blocks if e <= b), b
