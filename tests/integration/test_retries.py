"""Retries are safe (issue 9, finding 5; docs/api.md "Retries"): a resubmission gets the original
signed receipt, dedupe is per (rollup, tx hash), and GetTransaction answers from durable state only,
with the receipt, across restarts."""

from __future__ import annotations

import threading

import anyio
import grpc
import pytest
from seq_helpers import config_doc

from sequencer.config import ServiceConfig, parse_config
from sequencer.core.hashing import keccak
from sequencer.core.signing import Domain, verify_receipt
from sequencer.core.types import Transaction
from sequencer.keys import write_key
from sequencer.server import build_node, running
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(240)]

RAW, RAW2 = 904, 905
DOMAIN = Domain(31337, bytes.fromhex("ab" * 20))


def _config(tmp_path, **sequencer: object) -> ServiceConfig:
    if not (tmp_path / "seq.key").exists():
        write_key(tmp_path / "seq.key")
    doc = config_doc(tmp_path, **sequencer)
    doc["rollups"] = [*doc["rollups"], {"id": RAW, "name": "raw", "policy": "opaque"},
                      {"id": RAW2, "name": "raw2", "policy": "opaque"}]
    return parse_config(doc, tmp_path)


def _tx(rid: int, payload: bytes) -> pb.Transaction:
    return pb.Transaction(rollup_id=rid, payload=payload)


async def _submit(stub, rid: int, payload: bytes) -> pb.SubmitTransactionResponse:
    return await stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=_tx(rid, payload)), timeout=10)


async def _sealed(stub, height: int) -> None:
    async for _ in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=height)):
        return


def _signer(r: pb.Receipt) -> bytes:
    return verify_receipt(DOMAIN, convert.receipt_from_proto(r))


async def test_a_resubmission_gets_the_original_receipt(tmp_path) -> None:
    async with running(_config(tmp_path)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        address = (await stub.GetSequencerInfo(pb.GetSequencerInfoRequest())).sequencer_address
        first = await _submit(stub, RAW, b"lost response")
        assert not first.already_admitted and _signer(first.receipt) == address
        again = await _submit(stub, RAW, b"lost response")  # its block is not sealed yet, or just was
        assert again.already_admitted and again.receipt == first.receipt
        await _sealed(stub, first.receipt.height)
        later = await _submit(stub, RAW, b"lost response")  # sealed: rebuilt from the log
        assert later.already_admitted and later.receipt == first.receipt
        got = await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=keccak(b"lost response")))
        assert got.status == pb.TRANSACTION_STATUS_SEALED and got.receipt == first.receipt
        # on a stream: a single transaction, and a list holding the old one, a new one and the new one again
        reqs = [pb.StreamSubmitRequest(request_id=1, transaction=_tx(RAW, b"lost response")),
                pb.StreamSubmitRequest(request_id=2, transactions=pb.TransactionList(transactions=[
                    _tx(RAW, b"lost response"), _tx(RAW, b"fresh"), _tx(RAW, b"fresh")]))]
        answers = [r async for r in stub.StreamSubmit(iter(reqs))]
        assert answers[0].already_admitted and list(answers[0].receipts) == [first.receipt]
        old, fresh, fresh_again = answers[1].results
        assert old.already_admitted and old.receipt == first.receipt
        assert not fresh.already_admitted and _signer(fresh.receipt) == address
        assert fresh_again.already_admitted and fresh_again.receipt == fresh.receipt
        await ch.close()


async def test_bundles_retry_whole_or_not_at_all(tmp_path) -> None:
    async with running(_config(tmp_path)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        bundle = pb.Bundle(legs=[_tx(RAW, b"leg a"), _tx(RAW2, b"leg b")])
        first = await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=bundle), timeout=10)
        again = await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=bundle), timeout=10)
        assert again.already_admitted and list(again.receipts) == list(first.receipts)
        assert again.bundle_hash == first.bundle_hash
        # Legs admitted on their own are not a bundle: an atomic retry must not be faked from them.
        await _submit(stub, RAW, b"alone a")
        await _submit(stub, RAW2, b"alone b")
        fake = pb.Bundle(legs=[_tx(RAW, b"alone a"), _tx(RAW2, b"alone b")])
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=fake), timeout=10)
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS and "outside this bundle" in err.value.details()
        # a bundle with one leg new and one admitted is refused at once
        mixed = pb.Bundle(legs=[_tx(RAW, b"alone a"), _tx(RAW2, b"brand new")])
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=mixed), timeout=10)
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS and "bundle leg 0" in err.value.details()
        await ch.close()


async def test_the_same_bytes_on_another_rollup_do_not_block_the_real_one(tmp_path) -> None:
    async with running(_config(tmp_path)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        squat = await _submit(stub, RAW2, b"my payload")  # someone copies the bytes to another rollup first
        real = await _submit(stub, RAW, b"my payload")
        assert not real.already_admitted and (squat.receipt.rollup_id, real.receipt.rollup_id) == (RAW2, RAW)
        await _sealed(stub, real.receipt.height)
        h = keccak(b"my payload")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=h))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and f"[{RAW}, {RAW2}]" in err.value.details()
        for resp, rid in ((real, RAW), (squat, RAW2)):
            got = await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=h, rollup_id=rid))
            assert (got.rollup_id, got.receipt) == (rid, resp.receipt)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=h, rollup_id=901))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        await ch.close()


async def test_retries_and_status_survive_a_restart(tmp_path) -> None:
    # Nothing seals in the first run (a minute-long slot): the record is pending when the process stops.
    async with running(_config(tmp_path, slot_ms=60_000)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        first = await _submit(stub, RAW, b"before the restart")
        await ch.close()
    async with running(_config(tmp_path, slot_ms=60_000)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        again = await _submit(stub, RAW, b"before the restart")  # restored pending: receipt from the log
        assert again.already_admitted and again.receipt == first.receipt
        got = await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=keccak(b"before the restart")))
        assert got.status == pb.TRANSACTION_STATUS_PRECONFIRMED and got.receipt == first.receipt
        await ch.close()
    async with running(_config(tmp_path, slot_ms=50)) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        await _sealed(stub, first.receipt.height)
        got = await stub.GetTransaction(pb.GetTransactionRequest(tx_hash=keccak(b"before the restart")))
        assert got.status == pb.TRANSACTION_STATUS_SEALED and got.receipt == first.receipt
        again = await _submit(stub, RAW, b"before the restart")
        assert again.already_admitted and again.receipt == first.receipt
        await ch.close()


async def test_get_transaction_reads_durable_state_only(tmp_path) -> None:
    """Never PRECONFIRMED before the commit is durable; never NOT_FOUND while its block commits; a retry
    of a transaction whose commit is in flight waits for it instead of answering early."""
    node = build_node(_config(tmp_path, slot_ms=60_000))
    real_append = node.log.append
    gate, writing = threading.Event(), threading.Event()
    gate.set()

    def gated_append(*args, **kwargs):  # the writer thread, held at the gate
        writing.set()
        assert gate.wait(30)
        return real_append(*args, **kwargs)

    node.log.append = gated_append  # type: ignore[method-assign]
    tx = Transaction(RAW, b"in flight")
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
            gate.clear()
            ticket = node.admit_transaction(tx)
            with anyio.fail_after(60):
                while not writing.is_set():
                    await anyio.sleep(0.005)
            assert await node.lookup_transaction(tx.tx_hash, RAW) is None  # its commit has not returned
            retry = node.admit_transaction(tx)
            assert retry.already_admitted and not retry.records
            answered: list = []

            async def wait_retry() -> None:
                answered.extend(await retry.wait())

            tg.start_soon(wait_retry)
            await anyio.sleep(0.2)
            assert answered == []  # no receipt before the original is durable
            gate.set()
            (receipt,) = await ticket.wait()
            with anyio.fail_after(60):
                while not answered:
                    await anyio.sleep(0.005)
            assert answered == [receipt]
            found = await node.lookup_transaction(tx.tx_hash, RAW)
            assert found is not None and found.status == "preconfirmed" and found.receipt == receipt
            # now hold the block's commit: the core has sealed it, the log has not got it yet
            writing.clear()
            gate.clear()
            tg.start_soon(node.seal_now)
            with anyio.fail_after(60):
                while not writing.is_set():
                    await anyio.sleep(0.005)
            assert node.core.pending_position(tx.tx_hash, RAW) is None  # gone from the core's pending
            found = await node.lookup_transaction(tx.tx_hash, RAW)
            assert found is not None and found.status == "preconfirmed" and found.receipt == receipt
            gate.set()
            with anyio.fail_after(60):
                while node.durable_height < receipt.height:
                    await anyio.sleep(0.005)
            found = await node.lookup_transaction(tx.tx_hash, RAW)
            assert found is not None and found.status == "sealed" and found.receipt == receipt
            assert found.location.height == receipt.height and found.location.index == receipt.index
            tg.cancel_scope.cancel()
    finally:
        gate.set()
        node.close()
