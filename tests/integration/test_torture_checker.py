"""The torture checker itself (torture.Checker, used by test_torture.py, test_replication.py and the
crash tests), fed forged histories without a server: an honest log passes and is read incrementally;
a receipt moved or lost, a receipt or header not signed by the sequencer, a broken bundle, a block
whose data does not give its roots, a broken parent link, a tampered subscriber view and two
different blocks at one height (on two replicas, or on one replica after a restart) each fail.
Each forgery is signed with the sequencer's own key wherever that is what a hostile sequencer could
do, so only the check under test can catch it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest
from torture import A, B, Checker, Held, TortureFailure

from sequencer.core import commitments, signing
from sequencer.core.hashing import keccak
from sequencer.core.types import BlockHeader, BundlePlacement, Namespace, SharedBlock
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb

DOMAIN = signing.Domain(31337, b"\xab" * 20)
KEY = signing.Signer(b"\x11" * 32, DOMAIN)
"""The sequencer's key in these histories."""
OTHER = signing.Signer(b"\x22" * 32, DOMAIN)


def make_block(height: int, parent: bytes, txs: Mapping[int, Sequence[bytes]],
               bundles: Sequence[BundlePlacement] = (), signer: signing.Signer = KEY) -> SharedBlock:
    namespaces = tuple(Namespace(r, tuple(t)) for r, t in sorted(txs.items()) if t)
    header = BlockHeader(height, parent, 1_700_000_000_000 + 100 * height, 0, bytes(32),
                         commitments.namespaces_root(namespaces), len(namespaces), commitments.bundles_root(bundles))
    return SharedBlock(header, signer.sign_header(header), namespaces, tuple(bundles))


def chain(n: int, tag: str = "h", start: SharedBlock | None = None) -> list[SharedBlock]:
    """n blocks (after `start`, or from genesis), each with two transactions of A and one of B; block 2
    holds a bundle (A leg 1, B leg 0)."""
    out = [start] if start is not None else []
    for _ in range(n):
        h = len(out) if start is None else out[-1].height + 1
        parent = signing.block_hash(out[-1].header) if out else bytes(32)
        txs = {A: [f"{tag}{h}-a0".encode(), f"{tag}{h}-a1".encode()], B: [f"{tag}{h}-b0".encode()]}
        bundles = [BundlePlacement(keccak(f"{tag}bundle{h}".encode()), ((A, 1), (B, 0)))] if h == 2 else []
        out.append(make_block(h, parent, txs, bundles))
    return out[1:] if start is not None else out


class ForgedLog:
    """A replica's log as the checker reads it (torture.BlockSource), from blocks we made."""

    def __init__(self, blocks: Sequence[SharedBlock], address: bytes = KEY.address) -> None:
        self.blocks = list(blocks)
        self.address = address
        self.reads: list[int] = []

    def info(self) -> pb.GetSequencerInfoResponse:
        return pb.GetSequencerInfoResponse(sequencer_address=self.address, sealed_height=len(self.blocks) - 1)

    def block(self, height: int) -> pb.Block:
        self.reads.append(height)
        return convert.block_to_proto(self.blocks[height])


def receipts_for(spots: Sequence[tuple[int, int, int, bytes]], signer: signing.Signer = KEY) -> list[pb.Receipt]:
    """Signed receipts (one batch) for (rollup, tx_hash, height, index) given as (height, rollup, index, payload)."""
    _, rs = signer.sign_receipt_batch([(rollup, keccak(payload), h, i) for h, rollup, i, payload in spots])
    return [convert.receipt_to_proto(r) for r in rs]


def honest_held(blocks: Sequence[SharedBlock]) -> Held:
    """A receipt for every transaction, the bundle with its legs' receipts, A's view of every block."""
    held = Held()
    for b in blocks:
        spots = [(b.height, ns.rollup_id, i, t) for ns in b.namespaces for i, t in enumerate(ns.transactions)]
        held.add(receipts_for(spots))
        for p in b.bundles:
            held.bundles.append((p.bundle_hash, receipts_for(
                [(b.height, r, i, b.namespace(r).transactions[i]) for r, i in p.legs])))
        held.views.append(convert.rollup_block_to_proto(b, A, commitments.prove_namespace(b.namespaces, A)))
    return held


def checker() -> Checker:
    return Checker(DOMAIN, sealed_wait_s=0.2)


def test_an_honest_history_passes_and_each_check_reads_only_new_blocks() -> None:
    blocks = chain(30)
    log = ForgedLog(blocks[:20])
    c, held = checker(), honest_held(blocks[:20])
    stats = c.check_source("r0", log, held)
    assert stats["blocks_read"] == 20 and log.reads == list(range(20))
    log.blocks = blocks
    more = honest_held(blocks[20:])
    held.add(more.receipts)
    log.reads.clear()
    stats = c.check_source("r0", log, held)
    # The last compared block again, 16 random earlier ones, then only the new ones.
    assert log.reads[-11:] == list(range(19, 30)) and len(log.reads) == 11 + 16
    assert set(log.reads[:16]) <= set(range(19)) and c.verified_receipts == len(held.receipts)
    c.check_source("r1", ForgedLog(blocks), held)  # another replica, first seen: every block compared
    assert c.compared == {"r0": 29, "r1": 29}
    log.reads.clear()
    c.check_source("r0", log, held, final=True)
    assert log.reads == list(range(30))


def test_a_receipt_the_block_does_not_hold_fails() -> None:
    blocks = chain(10)
    c, held = checker(), honest_held(blocks)
    c.check_source("r0", ForgedLog(blocks), held)
    # Signed by the sequencer for index 1, where block 4 holds another transaction: moved.
    held.add(receipts_for([(4, A, 1, b"h4-a0")]))
    with pytest.raises(TortureFailure, match="the block does not hold it"):
        c.check_source("r0", ForgedLog(blocks), held)  # an old block: caught without re-reading it


def test_a_lost_receipt_fails() -> None:
    blocks = chain(10)
    c = checker()
    held = honest_held(blocks)
    held.add(receipts_for([(5, B, 1, b"never-placed")]))  # past B's one transaction at height 5
    with pytest.raises(TortureFailure, match="the block does not hold it"):
        c.check_source("r0", ForgedLog(blocks), held)
    beyond = Held()
    beyond.add(receipts_for([(12, A, 0, b"h12-a0")]))  # promised at a height the log never seals
    with pytest.raises(TortureFailure, match="sealed height stays 9"):
        checker().check_source("r0", ForgedLog(blocks), beyond)


def test_two_receipts_for_one_place_fail() -> None:
    blocks = chain(5)
    held = honest_held(blocks)
    held.add(receipts_for([(3, A, 0, b"h3-a0")]))
    with pytest.raises(TortureFailure, match="same place"):
        checker().check_source("r0", ForgedLog(blocks), held)


def test_a_receipt_not_signed_by_the_sequencer_fails() -> None:
    blocks = chain(5)
    held = honest_held(blocks)
    held.receipts[3] = receipts_for([(held.receipts[3].height, held.receipts[3].rollup_id, held.receipts[3].index,
                                      b"h1-a0")], OTHER)[0]  # receipt 3: block 1, A, index 0, the right place
    with pytest.raises(TortureFailure, match="signature is not the sequencer's"):
        checker().check_source("r0", ForgedLog(blocks), held)


def test_a_broken_bundle_fails() -> None:
    blocks = chain(6)
    split = honest_held(blocks)
    bundle_hash = blocks[2].bundles[0].bundle_hash
    # Its legs receipted at two heights.
    split.bundles.append((bundle_hash, receipts_for([(2, A, 1, b"h2-a1"), (3, B, 0, b"h3-b0")])))
    with pytest.raises(TortureFailure, match="legs at heights"):
        checker().check_source("r0", ForgedLog(blocks), split)
    # Receipts at one height, but the block places the bundle's legs elsewhere (A 0 where it says A 1).
    moved = honest_held(blocks)
    moved.bundles.append((bundle_hash, receipts_for([(2, A, 0, b"h2-a0"), (2, B, 0, b"h2-b0")])))
    with pytest.raises(TortureFailure, match="not placed as its receipts say"):
        checker().check_source("r0", ForgedLog(blocks), moved)
    # A bundle the block does not list at all.
    missing = honest_held(blocks)
    missing.bundles.append((keccak(b"unlisted"), receipts_for([(4, A, 0, b"h4-a0"), (4, B, 0, b"h4-b0")])))
    with pytest.raises(TortureFailure, match="not placed as its receipts say"):
        checker().check_source("r0", ForgedLog(blocks), missing)


def test_two_blocks_at_one_height_on_two_replicas_fail() -> None:
    blocks = chain(12)
    fork = blocks[:7] + chain(5, "fork", start=blocks[6])  # the same key, another block at heights 7..11
    assert signing.block_hash(fork[7].header) != signing.block_hash(blocks[7].header)
    c, held = checker(), honest_held(blocks[:7])
    c.check_source("r0", ForgedLog(blocks), held)
    with pytest.raises(TortureFailure, match="block 7 on r1 is not the block verified before"):
        c.check_source("r1", ForgedLog(fork), held)


def test_a_fork_past_what_was_checked_fails_on_its_parent_link() -> None:
    blocks = chain(10)
    c, held = checker(), honest_held(blocks[:4])
    c.check_source("r0", ForgedLog(blocks[:6]), held)
    # Block 6 on: a chain built on a block 5 the checker never saw.
    other5 = make_block(5, signing.block_hash(blocks[4].header), {A: [b"other5"]})
    with pytest.raises(TortureFailure, match="block 5 on r0 is not the block verified before"):
        c.check_source("r0", ForgedLog(blocks[:5] + [other5] + chain(4, "x", start=other5)), held)
    c2 = checker()
    c2.check_source("r0", ForgedLog(blocks[:6]), held)
    bad_link = make_block(6, keccak(b"not block 5"), {A: [b"orphan"]})
    with pytest.raises(TortureFailure, match="parent_hash is not block 5's hash"):
        c2.check_source("r1", ForgedLog(blocks[:6] + [bad_link]), held)


def test_an_old_block_changed_after_a_restart_fails_on_the_final_check() -> None:
    blocks = chain(20)
    c, held = checker(), honest_held(blocks)
    c.check_source("r0", ForgedLog(blocks), held)
    changed = list(blocks)
    changed[3] = make_block(3, blocks[3].header.parent_hash, {A: [b"rewritten"]})  # signed by the sequencer
    with pytest.raises(TortureFailure, match="block 3 on r0 is not the block verified before"):
        c.check_source("r0", ForgedLog(changed), held, final=True)
    spotted = dataclasses.replace(checker(), spot_checks=19)  # every earlier height sampled
    spotted.check_source("r0", ForgedLog(blocks), held)
    with pytest.raises(TortureFailure, match="block 3 on r0 is not the block verified before"):
        spotted.check_source("r0", ForgedLog(changed + chain(1, "y", start=changed[-1])), held)


def test_a_header_not_signed_by_the_sequencer_fails() -> None:
    blocks = chain(4)
    blocks.append(make_block(4, signing.block_hash(blocks[3].header), {A: [b"x"]}, signer=OTHER))
    with pytest.raises(TortureFailure, match="block 4: header not signed by the sequencer"):
        checker().check_source("r0", ForgedLog(blocks), Held())


def test_data_that_does_not_give_the_roots_fails() -> None:
    blocks = chain(4)
    b = blocks[3]
    swapped = (Namespace(A, (b"h3-a0", b"slipped in")),) + b.namespaces[1:]
    forged = ForgedLog(blocks[:3] + [dataclasses.replace(b, namespaces=swapped)])
    with pytest.raises(TortureFailure, match="namespaces do not give the header's namespaces_root"):
        checker().check_source("r0", forged, Held())
    rebundled = dataclasses.replace(blocks[2], bundles=(BundlePlacement(blocks[2].bundles[0].bundle_hash,
                                                                        ((A, 0), (B, 0))),))
    with pytest.raises(TortureFailure, match="bundles do not give the header's bundles_root"):
        checker().check_source("r0", ForgedLog(blocks[:2] + [rebundled]), Held())


def test_a_tampered_view_fails() -> None:
    blocks = chain(5)
    held = honest_held(blocks)
    view = held.views[2]
    del view.transactions[:]
    view.transactions.extend([b"h2-a0", b"not in the block"])
    with pytest.raises(TortureFailure, match="view of block 2: transactions differ"):
        checker().check_source("r0", ForgedLog(blocks), held)
    stranger = Held()
    stranger.views.append(convert.rollup_block_to_proto(
        make_block(1, signing.block_hash(blocks[0].header), {A: [b"y"]}), A,
        commitments.prove_namespace((Namespace(A, (b"y",)),), A)))
    with pytest.raises(TortureFailure, match="view of block 1: not the block the log holds"):
        checker().check_source("r0", ForgedLog(blocks), stranger)


def test_the_sequencer_address_changing_fails() -> None:
    blocks = chain(3)
    c = checker()
    c.check_source("r0", ForgedLog(blocks), Held())
    with pytest.raises(TortureFailure, match="address changed"):
        c.check_source("r1", ForgedLog(blocks, OTHER.address), Held())

