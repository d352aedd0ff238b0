"""`sharedseq submit` checks every receipt it prints (docs/api.md, "Verifying a receipt"): against a
real sequencer it prints the verified signer; against a sequencer that hands out a receipt that does
not verify, or one signed by another key, it prints nothing and exits 1."""

from __future__ import annotations

import json

import anyio
import grpc
import pytest
from seq_helpers import config_doc

from sequencer.cli import main
from sequencer.config import parse_config
from sequencer.core.signing import Domain, Signer
from sequencer.keys import write_key
from sequencer.server import running
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(180)]

RAW = 904


async def _cli(capsys: pytest.CaptureFixture[str], address: str, payload: str) -> tuple[int, str, str]:
    code = await anyio.to_thread.run_sync(main, ["submit", "--server", address, "--rollup", str(RAW),
                                                 "--payload", payload, "--timeout", "30"])
    out, err = capsys.readouterr()
    return code, out, err


async def test_submit_prints_a_verified_receipt(tmp_path, capsys) -> None:
    write_key(tmp_path / "seq.key")
    doc = config_doc(tmp_path)
    doc["rollups"] = [*doc["rollups"], {"id": RAW, "name": "raw", "policy": "opaque"}]
    async with running(parse_config(doc, tmp_path)) as srv:
        code, out, _ = await _cli(capsys, srv.address, "0x0102")
        assert code == 0
        first = json.loads(out)
        address = "0x" + srv.node.core.signer.address.hex()
        assert first["verified_signer"] == address and first["already_admitted"] is False
        assert first["batch_count"] >= 1 and first["batch_signature"].startswith("0x")
        code, out, _ = await _cli(capsys, srv.address, "0x0102")  # a retry: the same receipt
        again = json.loads(out)
        assert code == 0 and again.pop("already_admitted") is True
        first.pop("already_admitted")
        assert again == first


class LyingSequencer(pb_grpc.SequencerServiceServicer):
    """Hands out a receipt that does not verify: `mode` "moved" (its index changed after signing),
    "no path" (a leaf index outside its batch), "stranger" (signed by a key it does not announce)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.domain = Domain(31337, b"\xab" * 20)
        self.key = Signer(b"\x21" * 32, self.domain)

    async def SubmitTransaction(self, request, context):
        signer = Signer(b"\x22" * 32, self.domain) if self.mode == "stranger" else self.key
        _, receipts = signer.sign_receipt_batch([(RAW, b"\x01" * 32, 5, 0), (RAW, b"\x02" * 32, 5, 1)])
        msg = convert.receipt_to_proto(receipts[0])
        if self.mode == "moved":
            msg.index = 7  # promised elsewhere than what was signed: another root, another signer
        if self.mode == "no path":
            msg.leaf_index = 2  # outside its batch of two: the path cannot lead to any root
        return pb.SubmitTransactionResponse(receipt=msg)

    async def GetSequencerInfo(self, request, context):
        return pb.GetSequencerInfoResponse(sequencer_address=self.key.address, domain_chain_id=31337,
                                           domain_verifying_contract=b"\xab" * 20)


@pytest.mark.parametrize(("mode", "message"), [
    ("moved", "not the sequencer's key"), ("stranger", "not the sequencer's key"), ("no path", "does not verify")])
async def test_submit_refuses_a_receipt_that_does_not_verify(capsys, mode: str, message: str) -> None:
    server = grpc.aio.server()
    pb_grpc.add_SequencerServiceServicer_to_server(LyingSequencer(mode), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        code, out, err = await _cli(capsys, f"127.0.0.1:{port}", "0x01")
    finally:
        await server.stop(0)
    assert code == 1 and out == "" and message in err
