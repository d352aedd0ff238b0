"""sequencer/service/convert.py, the one place protobuf meets core types (docs/architecture.md section 2):
requests from clients are refused with a BadInput naming the field, and what the service sends
(headers, blocks, proofs, receipts) converts back to exactly the core values it came from, so a
client or a rollup node checks the very hashes and proofs the core made."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequencer.core.commitments import (
    bundles_root,
    namespaces_root,
    prove_bundles,
    prove_namespace,
    verify_bundle,
    verify_namespace,
)
from sequencer.core.config import RollupInfo
from sequencer.core.merkle import merkle_root
from sequencer.core.policy import EvmPolicy, OpaquePolicy
from sequencer.core.signing import Domain, Signer, block_hash, receipt_from_batch, verify_receipt
from sequencer.core.types import BlockHeader, Bundle, BundlePlacement, Namespace, SharedBlock, Transaction
from sequencer.errors import BadInput, TooLarge
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb

DOMAIN = Domain(31337, b"\x5f" * 20)
SIGNER = Signer(b"\x11" * 32, DOMAIN)

u64 = st.integers(0, 2**64 - 1)
h32 = st.binary(min_size=32, max_size=32)
headers = st.builds(BlockHeader, u64, h32, u64, u64, h32, h32, st.integers(0, 2**32 - 1), h32)


def sealed(namespaces: tuple[Namespace, ...], bundles: tuple[BundlePlacement, ...] = (),
           height: int = 5) -> SharedBlock:
    header = BlockHeader(height, b"\x22" * 32, 1_764_000_000_100, 9, b"\x09" * 32, namespaces_root(namespaces),
                         len(namespaces), bundles_root(bundles))
    return SharedBlock(header, SIGNER.sign_header(header), namespaces, bundles)


# --- requests: what clients send ---------------------------------------------------------------

def test_a_transaction_converts_with_its_hash() -> None:
    tx = convert.transaction_from_proto(pb.Transaction(rollup_id=901, payload=b"\x02\xf8"))
    assert tx == Transaction(901, b"\x02\xf8") and tx.tx_hash == Transaction(901, b"\x02\xf8").tx_hash


@pytest.mark.parametrize("msg, what", [
    (pb.Transaction(payload=b"x"), "transaction.rollup_id: missing"),
    (pb.Transaction(rollup_id=901), "transaction.payload: empty"),
])
def test_a_transaction_without_rollup_or_payload_is_bad_input_naming_the_field(msg: pb.Transaction,
                                                                               what: str) -> None:
    with pytest.raises(BadInput, match=what):
        convert.transaction_from_proto(msg)


def test_a_list_item_is_named_by_its_index() -> None:
    with pytest.raises(BadInput, match=r"^transactions\[3\]\.payload: empty$"):
        convert.list_item_from_proto(pb.Transaction(rollup_id=901), 3)


def test_a_bundle_keeps_its_legs_in_order_and_its_hash_binds_the_rollups() -> None:
    msg = pb.Bundle(legs=[pb.Transaction(rollup_id=902, payload=b"a"), pb.Transaction(rollup_id=903, payload=b"b")])
    b = convert.bundle_from_proto(msg)
    assert b == Bundle((Transaction(902, b"a"), Transaction(903, b"b")))
    swapped = convert.bundle_from_proto(pb.Bundle(legs=[pb.Transaction(rollup_id=903, payload=b"a"),
                                                       pb.Transaction(rollup_id=902, payload=b"b")]))
    assert swapped.bundle_hash != b.bundle_hash


def test_a_bundle_without_legs_or_with_a_bad_leg_is_bad_input_naming_it() -> None:
    with pytest.raises(BadInput, match="bundle: no legs"):
        convert.bundle_from_proto(pb.Bundle())
    legs = [pb.Transaction(rollup_id=902, payload=b"a"), pb.Transaction(rollup_id=903, payload=b"b"),
            pb.Transaction(payload=b"c")]
    with pytest.raises(BadInput, match=r"^bundle\.legs\[2\]\.rollup_id: missing"):
        convert.bundle_from_proto(pb.Bundle(legs=legs))


def test_too_many_legs_are_refused_before_any_leg_is_looked_at() -> None:
    """The count is checked first (issue 9: hashing 400,000 legs cost 1.2 s before the core's limit):
    an over-long bundle whose legs are all invalid is TooLarge, not BadInput about leg 0."""
    legs = [pb.Transaction()] * 5
    with pytest.raises(TooLarge, match="bundle: 5 legs, over the limit of 4"):
        convert.bundle_from_proto(pb.Bundle(legs=legs), max_legs=4)
    ok = [pb.Transaction(rollup_id=901, payload=bytes([i + 1])) for i in range(4)]
    assert len(convert.bundle_from_proto(pb.Bundle(legs=ok), max_legs=4).legs) == 4


# --- answers: what the service sends -------------------------------------------------------------

@given(headers)
def test_headers_round_trip_field_for_field(h: BlockHeader) -> None:
    assert convert.header_from_proto(convert.header_to_proto(h)) == h


def test_a_signed_header_carries_the_hash_its_signature_is_over() -> None:
    b = sealed((Namespace(901, (b"a",)),))
    msg = convert.signed_header_to_proto(b)
    assert bytes(msg.block_hash) == block_hash(b.header) and bytes(msg.signature) == b.signature
    assert convert.header_from_proto(msg.header) == b.header


def test_blocks_round_trip_with_namespaces_and_bundles() -> None:
    rng = random.Random(10)
    for _ in range(20):
        namespaces = tuple(Namespace(r, tuple(rng.randbytes(rng.randint(1, 40)) for _ in range(rng.randint(1, 4))))
                           for r in sorted(rng.sample(range(900, 920), rng.randint(0, 5))))
        bundles = tuple(BundlePlacement(rng.randbytes(32), tuple((ns.rollup_id, 0) for ns in namespaces[:2]))
                        for _ in range(rng.randint(0, 3)) if namespaces)
        b = sealed(namespaces, bundles, height=rng.randint(0, 2**40))
        assert convert.block_from_proto(convert.block_to_proto(b)) == b


@pytest.mark.parametrize("rollup_id", [900, 901, 902, 950, 999], ids=["first", "middle", "last", "gap", "after"])
def test_namespace_proofs_round_trip_and_still_verify(rollup_id: int) -> None:
    """Present (a leaf with its neighbours) and absent (the bracketing leaves) proofs alike; the
    absent one comes back with the empty root and index -1 the core uses."""
    namespaces = (Namespace(900, (b"x",)), Namespace(901, (b"a", b"b")), Namespace(902, (b"y", b"z", b"w")))
    b = sealed(namespaces)
    proof = prove_namespace(namespaces, rollup_id)
    back = convert.proof_from_proto(convert.proof_to_proto(proof))
    assert back == proof
    if not proof.present:
        assert back.tx_root == merkle_root([]) and back.leaf_index == -1 and back.tx_count == 0
    txs = b.namespace(rollup_id).transactions
    assert verify_namespace(back, txs, b.header.namespaces_root, b.header.namespace_count)


def test_the_proof_of_an_empty_block_round_trips() -> None:
    proof = prove_namespace((), 901)
    assert convert.proof_from_proto(convert.proof_to_proto(proof)) == proof


def test_a_rollup_view_holds_its_own_transactions_and_only_the_bundles_touching_it() -> None:
    namespaces = (Namespace(901, (b"a", b"b")), Namespace(902, (b"c",)), Namespace(903, (b"d",)))
    touching = BundlePlacement(b"\x01" * 32, ((901, 0), (901, 1), (902, 0)))
    elsewhere = BundlePlacement(b"\x02" * 32, ((903, 0),))
    b = sealed(namespaces, (elsewhere, touching))
    msg = convert.rollup_block_to_proto(b, 901, prove_namespace(namespaces, 901))
    assert msg.rollup_id == 901 and list(msg.transactions) == [b"a", b"b"]
    assert [bytes(p.bundle_hash) for p in msg.bundles] == [touching.bundle_hash]
    placement = BundlePlacement(bytes(msg.bundles[0].bundle_hash),
                                tuple((leg.rollup_id, leg.index) for leg in msg.bundles[0].legs))
    proof = convert.bundle_proof_from_proto(msg.bundle_proofs[0])
    assert placement == touching and proof == prove_bundles(b.bundles)[1]
    assert verify_bundle(placement, proof, b.header.bundles_root, rollup_id=901, tx_count=2)
    # 902's view of the same block: the same bundle, its one leg there
    other = convert.rollup_block_to_proto(b, 902, prove_namespace(namespaces, 902))
    assert list(other.transactions) == [b"c"] and len(other.bundles) == 1


def test_a_rollup_view_with_given_bundle_proofs_uses_them_as_they_are() -> None:
    """The read path hands only the touching bundles with their proofs from the full block; they
    must be sent as given (pairing them again against a partial list would prove the wrong leaves)."""
    namespaces = (Namespace(901, (b"a",)), Namespace(903, (b"d",)))
    touching = BundlePlacement(b"\x01" * 32, ((901, 0),))
    full = sealed(namespaces, (BundlePlacement(b"\x02" * 32, ((903, 0),)), touching))
    proofs = prove_bundles(full.bundles)
    partial = SharedBlock(full.header, full.signature, full.namespaces, (touching,))
    msg = convert.rollup_block_to_proto(partial, 901, prove_namespace(namespaces, 901), bundle_proofs=[proofs[1]])
    assert convert.bundle_proof_from_proto(msg.bundle_proofs[0]) == proofs[1]
    with pytest.raises(ValueError):
        convert.rollup_block_to_proto(partial, 901, prove_namespace(namespaces, 901), bundle_proofs=list(proofs))


def test_receipts_carry_every_field_a_client_needs_to_check_them() -> None:
    items = [(901, b"\x0a" * 32, 7, 0), (902, b"\x0b" * 32, 7, 3)]
    batch, receipts = SIGNER.sign_receipt_batch(items)
    assert [receipt_from_batch(batch, i, *it) for i, it in enumerate(items)] == list(receipts)
    msgs = convert.receipts_to_proto(receipts)
    assert len(msgs) == 2
    for r, m in zip(receipts, msgs, strict=True):
        assert (m.rollup_id, bytes(m.tx_hash), m.height, m.index) == (r.rollup_id, r.tx_hash, r.height, r.index)
        assert (m.leaf_index, m.batch_count, bytes(m.batch_signature)) == (r.leaf_index, r.batch_count,
                                                                           r.batch_signature)
        assert tuple(bytes(p) for p in m.path) == r.path
        assert verify_receipt(DOMAIN, r) == SIGNER.address


def test_rollup_info_names_the_policy_format_and_block_time() -> None:
    opaque = convert.rollup_info_to_proto(RollupInfo(7, "seven", OpaquePolicy(), "opstack", 2000))
    evm = convert.rollup_info_to_proto(RollupInfo(901, "op", EvmPolicy(901), "nitro", 1000))
    assert (opaque.rollup_id, opaque.name, opaque.batch_format, opaque.block_time_ms) == (7, "seven", "opstack", 2000)
    assert (evm.rollup_id, evm.batch_format, evm.block_time_ms) == (901, "nitro", 1000)
    assert (opaque.policy, evm.policy) == ("opaque", "evm")
