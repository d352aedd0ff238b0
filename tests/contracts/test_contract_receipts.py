"""A receipt made by the real node (SequencerNode: group commit, one batch signature) is accepted by
SequencerBond exactly as `signing.verify_receipt` accepts it (issue 8, item 5): kept by the node's own
block (ReceiptKept), slashable against a signed block that breaks it, and refused when tampered with,
including the high-s twin of its batch signature that eth-account would still recover."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from sequencer.core.commitments import prove_namespace
from sequencer.core.config import CoreConfig, RollupInfo
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof
from sequencer.core.policy import OpaquePolicy
from sequencer.core.sequencer import Head, SequencerCore
from sequencer.core.signing import SECP256K1_N, InvalidSignature, Signer, block_hash, verify_receipt
from sequencer.core.types import Receipt, SharedBlock, Transaction
from sequencer.l1.bond import batched_receipt
from sequencer.l1.inbox import namespace_leaf_tuple
from sequencer.service.node import SequencerNode
from sequencer.store.sqlite_log import BlockLog


@pytest.fixture(autouse=True)
def fresh_chain(l1):
    snap = l1.snapshot()
    yield
    l1.revert_to(snap)


def node_receipts(signer: Signer, parent: SharedBlock, payloads: list[bytes]) -> tuple[list[Receipt], SharedBlock]:
    """Run a real node (one group commit for all of `payloads`, on rollup 901) at the height after
    `parent`; return its receipts and the block it seals at that height."""
    async def main() -> tuple[list[Receipt], SharedBlock]:
        rollups = tuple(RollupInfo(r, f"r{r}", OpaquePolicy()) for r in (901, 902, 903))
        h = parent.header
        head = Head(h.height, block_hash(h), h.timestamp_ms, (h.l1_origin_number, h.l1_origin_hash))
        core = SequencerCore(CoreConfig(rollups, slot_ms=3_600_000), signer, head)
        node = SequencerNode(core, BlockLog(":memory:"))
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                tickets = [node.admit_transaction(Transaction(901, p)) for p in payloads]
                receipts = [(await t.wait())[0] for t in tickets]
                block = await node.seal_now()
                tg.cancel_scope.cancel()
        finally:
            node.close()
        return receipts, block

    return anyio.run(main)


def test_a_real_node_receipt_is_accepted_kept_and_slashable(l1) -> None:
    posted = l1.build(2, leaves=(901, 903))
    l1.ok(l1.post(posted), l1.poster)
    before, victim = posted.blocks  # the signed block at the receipts' height holds other transactions
    receipts, own = node_receipts(l1.sequencer, before, [b"user tx %d" % i for i in range(3)])
    assert [r.height for r in receipts] == [victim.header.height] * 3 and [r.index for r in receipts] == [0, 1, 2]
    assert {r.batch_count for r in receipts} == {3} and [r.leaf_index for r in receipts] == [0, 1, 2]
    assert {r.batch_signature for r in receipts} == {receipts[0].batch_signature}  # one signature
    assert all(verify_receipt(l1.sequencer.domain, r) == l1.sequencer.address for r in receipts)

    # The node's own block keeps the receipt: the proof gets past the batch checks and stops at ReceiptKept.
    own_ns = own.namespace(901)
    own_hashes = [keccak(t) for t in own_ns.transactions]
    kept = l1.bond.functions.proveBrokenReceipt(
        batched_receipt(receipts[1]), l1.htuple(own.header), own.signature,
        namespace_leaf_tuple(prove_namespace(own.namespaces, 901)), own_hashes[1], list(inclusion_proof(own_hashes, 1)))
    assert l1.report_revert(kept, l1.outsider) == "ReceiptKept"

    # A tampered receipt does not fit its batch: refused by the contract and by verify_receipt alike.
    ns = victim.namespace(901)
    hashes = [keccak(t) for t in ns.transactions]

    def prove(r: Receipt, arg: tuple | None = None):
        return l1.bond.functions.proveBrokenReceipt(
            arg or batched_receipt(r), l1.htuple(victim.header), victim.signature,
            namespace_leaf_tuple(prove_namespace(victim.namespaces, 901)), hashes[0], list(inclusion_proof(hashes, 0)))

    moved = replace(receipts[0], leaf_index=1)
    with pytest.raises(InvalidSignature):
        verify_receipt(l1.sequencer.domain, replace(moved, batch_count=0))
    assert verify_receipt(l1.sequencer.domain, moved) != l1.sequencer.address
    tampered = list(batched_receipt(receipts[0]))
    tampered[3] = 1  # the receipt at another leaf of the same signed root
    assert l1.report_revert(prove(receipts[0], tuple(tampered)), l1.outsider) == "InvalidReceiptProof"

    # The high-s twin of the batch signature: eth-account recovers the same key, Python and Solidity refuse.
    sig = receipts[0].batch_signature
    twin = sig[:32] + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(InvalidSignature, match="low s"):
        verify_receipt(l1.sequencer.domain, replace(receipts[0], batch_signature=twin))
    assert l1.report_revert(prove(replace(receipts[0], batch_signature=twin)), l1.outsider) == "NotAccountable"

    # The receipt as the node gave it, against the signed block that broke it: the bond is slashed.
    assert keccak(b"user tx 0") != hashes[0]
    assert l1.bond.functions.bond().call() > 0
    l1.report(prove(receipts[0]), l1.outsider)
    assert l1.bond.functions.bond().call() == 0


def test_python_and_solidity_agree_on_which_signatures_are_valid(l1) -> None:
    """recover_signer (Python) and SharedSeqLib.recover (via SequencerInbox.recoverSigner) accept and
    refuse the same signatures: EIP-2 low s (n/2 itself is low), v in {27, 28}, r and s in range, 65 bytes,
    and random junk."""
    import random

    from sequencer.core.signing import HALF_N, recover_signer, typed_digest

    rng = random.Random(8)
    domain = l1.sequencer.domain
    struct = keccak(b"any struct")
    digest = typed_digest(domain, struct)
    sig = l1.sequencer.sign_struct(struct)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]

    def with_s(value: int, vv: int) -> bytes:
        return r + value.to_bytes(32, "big") + bytes([vv])

    cases = [sig, with_s(SECP256K1_N - s, 55 - v), with_s(HALF_N, v), with_s(HALF_N + 1, v), sig[:64] + b"\x00",
             sig[:64] + b"\x01", sig[:64] + b"\x1a", sig[:64] + b"\x1d", b"\x00" * 32 + sig[32:],
             sig[:32] + b"\x00" * 32 + sig[64:], SECP256K1_N.to_bytes(32, "big") + sig[32:], sig[:64], sig + b"\x00"]
    cases += [rng.randbytes(64) + bytes([rng.choice((27, 28))]) for _ in range(40)]
    zero = "0x" + "00" * 20
    accepted = 0
    for c in cases:
        on_chain = l1.inbox.functions.recoverSigner(digest, c).call().lower()
        try:
            in_python = "0x" + recover_signer(domain, struct, c).hex()
        except InvalidSignature:
            in_python = zero
        assert in_python == on_chain, c.hex()
        accepted += on_chain != zero
    assert accepted >= 2  # the real signature and s = n/2 (some junk recovers some key, as it may)
