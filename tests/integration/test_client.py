"""The client SDK (sharedseq/client.py) against a real sequencer: every answer verified, tampering caught."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from rollup_testkit import devnet
from seq_helpers import Wallet

from sequencer.core.signing import Domain
from sharedseq.client import Client, InvalidArgument, RpcError, VerificationError, verify_rollup_block
from sharedseq.v1 import sequencer_pb2 as pb

pytestmark = pytest.mark.anyio


async def test_client_submits_verifies_subscribes_and_catches_tampering(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        wallet = Wallet()

        def scenario() -> dict:
            with Client(net.sequencer_address) as c:
                r = c.submit_transaction(901, wallet.transfer(901))
                legs = c.submit_bundle([(902, wallet.transfer(902)), (903, wallet.transfer(903, kind=0))])
                streamed = list(c.stream_submit([(901, wallet.transfer(901)), (901, wallet.transfer(901))]))
                c.wait_transaction(r.tx_hash, 901, "sealed", timeout=60)
                with pytest.raises(InvalidArgument) as bad:
                    c.submit_transaction(901, b"\x02garbage")
                blocks = []
                for b in c.subscribe(901, from_height=r.height):
                    blocks.append(b)
                    if len(blocks) == 3:
                        break
                # Tampering: one raw message, three edits, each refused.
                raw = c.stub.GetRollupBlock(pb.GetRollupBlockRequest(rollup_id=901, height=r.height), timeout=30).block
                verify_rollup_block(c.domain, c.sequencer, raw)
                tampered_tx = pb.RollupBlock()
                tampered_tx.CopyFrom(raw)
                tampered_tx.transactions[0] = b"\x02" + bytes(tampered_tx.transactions[0])[1:-1] + b"\x00"
                tampered_proof = pb.RollupBlock()
                tampered_proof.CopyFrom(raw)
                tampered_proof.proof.leaf.tx_count += 1
                tampered_sig = pb.RollupBlock()
                tampered_sig.CopyFrom(raw)
                sig = bytearray(tampered_sig.signed_header.signature)
                sig[5] ^= 1
                tampered_sig.signed_header.signature = bytes(sig)
                errors = []
                for msg in (tampered_tx, tampered_proof, tampered_sig):
                    try:
                        verify_rollup_block(c.domain, c.sequencer, msg)
                        errors.append(None)
                    except VerificationError as exc:
                        errors.append(str(exc))
                # A pinned key that is not the sequencer's refuses its receipts.
                with Client(net.sequencer_address, sequencer=b"\x11" * 20, domain=c.domain) as pinned, \
                        pytest.raises(VerificationError):
                    pinned.submit_transaction(901, wallet.transfer(901))
                with Client(net.sequencer_address, sequencer=c.sequencer,
                            domain=Domain(1, c.domain.verifying_contract)) as other_chain, \
                        pytest.raises(VerificationError):
                    other_chain.submit_transaction(901, wallet.transfer(901))
                return {"r": r, "legs": legs, "streamed": streamed, "blocks": blocks, "errors": errors,
                        "bad": bad.value}

        out = await anyio.to_thread.run_sync(scenario)
        assert out["r"].rollup_id == 901 and len(out["legs"]) == 2 and len(out["streamed"]) == 2
        assert out["legs"][0].height == out["legs"][1].height
        assert [b.height for b in out["blocks"]] == [out["r"].height + i for i in range(3)]
        assert out["blocks"][0].transactions, "the submitted transaction is in its block"
        assert all(out["errors"]), out["errors"]
        assert isinstance(out["bad"], RpcError) and out["bad"].code.name == "INVALID_ARGUMENT"


async def test_subscribe_resumes_after_the_sequencer_restarts(tmp_path: Path) -> None:
    async with devnet(tmp_path) as net:
        got: list[int] = []
        done = anyio.Event()

        def follow() -> None:
            with Client(net.sequencer_address) as c:
                for b in c.subscribe(901, from_height=0, max_retries=100, backoff_s=0.05):
                    got.append(b.height)
                    if len(got) >= 40:
                        return

        async with anyio.create_task_group() as tg:
            async def run() -> None:
                await anyio.to_thread.run_sync(follow)
                done.set()
            tg.start_soon(run)
            with anyio.fail_after(60):
                while len(got) < 5:
                    await anyio.sleep(0.05)
            await net.stop_sequencer()
            await anyio.sleep(0.5)
            await net.start_sequencer()
            with anyio.fail_after(120):
                await done.wait()
        assert got == list(range(40)), got
