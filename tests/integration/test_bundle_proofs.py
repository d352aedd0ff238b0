"""Bundle placements are provable against the signed header's bundles_root (issue 8, item 4): every
RollupBlock (GetRollupBlock, and SubscribeBlocks replaying from the log) carries one proof per bundle
touching the rollup, and `commitments.verify_bundle` checks it; a placement edited by a hostile
server fails the same check."""

from __future__ import annotations

import grpc
import pytest
from seq_helpers import config_doc

from sequencer.config import parse_config
from sequencer.core.commitments import verify_bundle, verify_namespace
from sequencer.core.signing import Domain, header_struct_hash, recover_signer
from sequencer.core.types import BundlePlacement
from sequencer.keys import write_key
from sequencer.server import running
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(180)]

A, B, C = 904, 905, 906
DOMAIN = Domain(31337, bytes.fromhex("ab" * 20))  # config_doc's domain


def _tx(rid: int, payload: bytes) -> pb.Transaction:
    return pb.Transaction(rollup_id=rid, payload=payload)


def _placement(p: pb.BundlePlacement) -> BundlePlacement:
    return BundlePlacement(bytes(p.bundle_hash), tuple((leg.rollup_id, leg.index) for leg in p.legs))


def check_view(view: pb.RollupBlock, address: bytes) -> int:
    """Verify a rollup's view, bundles included; returns how many bundle proofs it checked."""
    header = convert.header_from_proto(view.signed_header.header)
    assert recover_signer(DOMAIN, header_struct_hash(header), bytes(view.signed_header.signature)) == address
    txs = [bytes(t) for t in view.transactions]
    assert verify_namespace(convert.proof_from_proto(view.proof), txs, header.namespaces_root, header.namespace_count,
                            rollup_id=view.rollup_id)
    assert len(view.bundle_proofs) == len(view.bundles)
    for p, proof in zip(view.bundles, view.bundle_proofs, strict=True):
        placement, bp = _placement(p), convert.bundle_proof_from_proto(proof)
        assert verify_bundle(placement, bp, header.bundles_root, rollup_id=view.rollup_id, tx_count=len(txs))
        # a hostile server that moves a leg or drops one cannot show the edited placement as signed
        moved = BundlePlacement(placement.bundle_hash, ((placement.legs[0][0], placement.legs[0][1] + 1),
                                                        *placement.legs[1:]))
        assert not verify_bundle(moved, bp, header.bundles_root)
        if len(placement.legs) > 1:
            assert not verify_bundle(BundlePlacement(placement.bundle_hash, placement.legs[:-1]), bp,
                                     header.bundles_root)
    return len(view.bundles)


async def test_bundle_placements_come_with_proofs(tmp_path) -> None:
    write_key(tmp_path / "seq.key")
    doc = config_doc(tmp_path, slot_ms=60_000)  # one block, sealed when the test says
    doc["rollups"] = [*doc["rollups"], *({"id": r, "name": f"raw{r}", "policy": "opaque"} for r in (A, B, C))]
    async with running(parse_config(doc, tmp_path)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        address = srv.node.core.signer.address
        bundles = [[_tx(A, b"a0"), _tx(B, b"b0")], [_tx(B, b"b1"), _tx(C, b"c0"), _tx(B, b"b2")],
                   [_tx(A, b"a1")], [_tx(C, b"c1"), _tx(A, b"a2"), _tx(A, b"a3")]]
        await stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=_tx(A, b"single")))
        for legs in bundles:
            await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(legs=legs)))
        block = await srv.node.seal_now()
        assert len(block.bundles) == 4
        checked = {}
        for rid in (A, B, C):
            view = (await stub.GetRollupBlock(pb.GetRollupBlockRequest(rollup_id=rid, height=block.height))).block
            checked[rid] = check_view(view, address)
            async for resp in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=rid, from_height=block.height)):
                assert check_view(resp.block, address) == checked[rid]
                break
        assert checked == {A: 3, B: 2, C: 2}
        await ch.close()
