"""The gRPC API against a real server on 127.0.0.1 with three rollups."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from seq_helpers import make_config

from sequencer.core.commitments import verify_namespace
from sequencer.core.hashing import keccak
from sequencer.core.signing import block_hash, header_struct_hash, recover_signer, verify_receipt
from sequencer.server import running
from sequencer.service import convert
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(240)]


class Client:
    def __init__(self, srv) -> None:
        self.srv = srv
        self.channel = grpc.aio.insecure_channel(srv.address)
        self.stub = pb_grpc.SequencerServiceStub(self.channel)
        self.domain = srv.node.core.signer.domain
        self.address = srv.node.core.signer.address

    async def submit(self, rollup_id: int, payload: bytes) -> pb.Receipt:
        resp = await self.stub.SubmitTransaction(
            pb.SubmitTransactionRequest(transaction=pb.Transaction(rollup_id=rollup_id, payload=payload)))
        return resp.receipt

    async def rollup_block(self, rollup_id: int, height: int) -> pb.RollupBlock:
        await self.wait_height(height)
        resp = await self.stub.GetRollupBlock(pb.GetRollupBlockRequest(rollup_id=rollup_id, height=height))
        return resp.block

    async def wait_height(self, height: int) -> None:
        async for _ in self.stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=901, from_height=height)):
            return

    def check_receipt(self, r: pb.Receipt, payload: bytes) -> None:
        assert r.tx_hash == keccak(payload)
        assert verify_receipt(self.domain, convert.receipt_from_proto(r)) == self.address

    def check_rollup_block(self, b: pb.RollupBlock) -> None:
        header = convert.header_from_proto(b.signed_header.header)
        assert b.signed_header.block_hash == block_hash(header)
        assert recover_signer(self.domain, header_struct_hash(header), b.signed_header.signature) == self.address
        proof = convert.proof_from_proto(b.proof)
        assert verify_namespace(proof, list(b.transactions), header.namespaces_root, header.namespace_count,
                                rollup_id=b.rollup_id)


@pytest.fixture
async def client(tmp_path):
    async with running(make_config(tmp_path)) as srv:
        c = Client(srv)
        yield c
        await c.channel.close()


async def test_submit_to_each_rollup_and_receipts_hold(client: Client, tx_for) -> None:
    for rid in (901, 902, 903):
        payload = tx_for(rid)
        r = await client.submit(rid, payload)
        client.check_receipt(r, payload)
        block = await client.rollup_block(rid, r.height)
        client.check_rollup_block(block)
        assert block.transactions[r.index] == payload


async def test_bundle_across_three_rollups_is_atomic(client: Client, tx_for) -> None:
    legs = [tx_for(901), tx_for(902), tx_for(903), tx_for(901)]
    rids = [901, 902, 903, 901]
    resp = await client.stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(
        legs=[pb.Transaction(rollup_id=r, payload=p) for r, p in zip(rids, legs, strict=True)])))
    assert len(resp.receipts) == 4
    assert len({r.height for r in resp.receipts}) == 1
    height = resp.receipts[0].height
    assert [r.index for r in resp.receipts if r.rollup_id == 901] == [0, 1]
    for r, p in zip(resp.receipts, legs, strict=True):
        client.check_receipt(r, p)
        block = await client.rollup_block(r.rollup_id, height)
        client.check_rollup_block(block)
        assert block.transactions[r.index] == p
        assert [b.bundle_hash for b in block.bundles] == [resp.bundle_hash]
    full = (await client.stub.GetBlock(pb.GetBlockRequest(height=height))).block
    assert [(leg.rollup_id, leg.index) for leg in full.bundles[0].legs] == [(901, 0), (902, 0), (903, 0), (901, 1)]


async def test_bundle_with_one_bad_leg_is_rejected_whole(client: Client, tx_for) -> None:
    good = tx_for(901)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(legs=[
            pb.Transaction(rollup_id=901, payload=good), pb.Transaction(rollup_id=902, payload=b"\xc0junk")])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "leg 1" in err.value.details()
    # The good leg was not admitted: submitting it alone now succeeds.
    client.check_receipt(await client.submit(901, good), good)


async def test_subscribe_from_zero_and_middle_and_resume(client: Client, tx_for) -> None:
    sent = {}
    for _ in range(6):
        p = tx_for(902)
        r = await client.submit(902, p)
        sent[(r.height, r.index)] = p
    last = max(h for h, _ in sent)
    seen: dict[int, list[bytes]] = {}

    async def take(from_height: int, n: int) -> int:
        h = from_height
        async for resp in client.stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=902, from_height=h)):
            b = resp.block
            assert b.signed_header.header.height == h, "a height was skipped or repeated"
            client.check_rollup_block(b)
            seen[h] = list(b.transactions)
            h += 1
            if h - from_height == n:
                break  # leaves the stream: the client disconnects
        return h

    h = await take(0, 3)
    while h <= last + 3:
        h = await take(h, 2)  # resume where the last stream stopped
    for (height, index), p in sent.items():
        assert seen[height][index] == p
    mid = last // 2
    n = await take(mid, 3)
    assert n == mid + 3
    # Parent hashes chain from the subscription's headers.
    blocks = [(await client.stub.GetBlock(pb.GetBlockRequest(height=i))).block for i in range(last + 1)]
    for a, b in zip(blocks, blocks[1:], strict=False):
        assert b.signed_header.header.parent_hash == a.signed_header.block_hash


async def test_get_transaction_and_list_rollups(client: Client, tx_for) -> None:
    p = tx_for(901)
    r = await client.submit(901, p)
    await client.wait_height(r.height)
    t = await client.stub.GetTransaction(pb.GetTransactionRequest(tx_hash=r.tx_hash))
    assert (t.status, t.rollup_id, t.height, t.index) == (pb.TRANSACTION_STATUS_SEALED, 901, r.height, r.index)
    rollups = (await client.stub.ListRollups(pb.ListRollupsRequest())).rollups
    assert [(x.rollup_id, x.batch_format, x.policy) for x in rollups] == [
        (901, "opstack", "evm"), (902, "nitro", "evm"), (903, "zkevm", "evm-legacy")]
    info = await client.stub.GetSequencerInfo(pb.GetSequencerInfoRequest())
    assert info.sequencer_address == client.address and info.domain_chain_id == 31337


async def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


async def test_every_error_status(client: Client, tx_for, wallet) -> None:
    s = client.stub

    def submit(rid: int, payload: bytes):
        return s.SubmitTransaction(pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=rid, payload=payload)))

    code, msg = await _code(submit(901, b"\x02\xc1\x80"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "malformed" in msg
    code, msg = await _code(submit(901, wallet.transfer(999)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "chain id" in msg
    code, msg = await _code(submit(903, wallet.transfer(903, kind=2)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "legacy" in msg
    code, msg = await _code(s.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle())))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no legs" in msg
    code, msg = await _code(submit(0, b"\x01"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, msg = await _code(submit(12345, tx_for(901)))
    assert code == grpc.StatusCode.NOT_FOUND and "unknown rollup 12345" in msg
    code, msg = await _code(s.GetBlock(pb.GetBlockRequest(height=10**9)))
    assert code == grpc.StatusCode.NOT_FOUND and "not sealed" in msg
    code, _ = await _code(s.GetRollupBlock(pb.GetRollupBlockRequest(rollup_id=7, height=0)))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await _code(s.GetTransaction(pb.GetTransactionRequest(tx_hash=b"\x01" * 32)))
    assert code == grpc.StatusCode.NOT_FOUND
    stream = s.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=7, from_height=0))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stream:
            pass
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    p = tx_for(902)
    first = await client.submit(902, p)
    again = await submit(902, p)  # a retry is not an error: the original receipt comes back
    assert again.already_admitted and again.receipt == first
    code, msg = await _code(submit(901, b"\x02" + b"\x00" * (200 * 1024)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "limit" in msg
    # A bad request never harms others: a good one still goes through.
    good = tx_for(901)
    client.check_receipt(await client.submit(901, good), good)


async def test_mempool_full_is_backpressure(tmp_path, tx_for) -> None:
    cfg = make_config(tmp_path, limits={"max_block_txs": 1, "max_pending_blocks": 2}, slot_ms=60_000)
    async with running(cfg) as srv:
        c = Client(srv)
        await c.submit(901, tx_for(901))
        await c.submit(901, tx_for(901))
        code, msg = await _code(c.submit(901, tx_for(901)))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "mempool full" in msg
        await c.channel.close()


async def test_stream_submit_answers_in_order(client: Client, tx_for) -> None:
    payloads = {}

    async def requests():
        for i in range(300):
            if i % 50 == 7:
                yield pb.StreamSubmitRequest(request_id=i, transaction=pb.Transaction(rollup_id=901, payload=b"\x01"))
            elif i % 50 == 9:
                legs = [tx_for(901), tx_for(903)]
                payloads[i] = legs
                yield pb.StreamSubmitRequest(request_id=i, bundle=pb.Bundle(legs=[
                    pb.Transaction(rollup_id=901, payload=legs[0]), pb.Transaction(rollup_id=903, payload=legs[1])]))
            else:
                rid = (901, 902, 903)[i % 3]
                payloads[i] = [tx_for(rid)]
                tx = pb.Transaction(rollup_id=rid, payload=payloads[i][0])
                yield pb.StreamSubmitRequest(request_id=i, transaction=tx)

    ids = []
    async for resp in client.stub.StreamSubmit(requests()):
        ids.append(resp.request_id)
        if resp.request_id % 50 == 7:
            assert resp.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and not resp.receipts
        else:
            assert not resp.error.message
            for r, p in zip(resp.receipts, payloads[resp.request_id], strict=True):
                client.check_receipt(r, p)
            if resp.request_id % 50 == 9:
                assert resp.receipts[0].height == resp.receipts[1].height
    assert ids == list(range(300))


async def test_health_and_reflection(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    resp = await health.Check(health_pb2.HealthCheckRequest(service="sharedseq.v1.SequencerService"))
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(client.channel)

    async def ask():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for r in refl.ServerReflectionInfo(ask()):
        names = {s.name for s in r.list_services_response.service}
        assert {"sharedseq.v1.SequencerService", "grpc.health.v1.Health"} <= names
        break


async def test_stream_submit_transaction_lists(client: Client, tx_for) -> None:
    lists = [[tx_for((901, 902, 903)[j % 3]) for j in range(25)] for _ in range(20)]

    async def requests():
        for i, payloads in enumerate(lists):
            txs = [pb.Transaction(rollup_id=(901, 902, 903)[j % 3], payload=p) for j, p in enumerate(payloads)]
            if i == 5:  # a duplicate is answered with the original receipt, a malformed item is refused alone
                txs[3] = pb.Transaction(rollup_id=txs[2].rollup_id, payload=txs[2].payload)
                txs[7] = pb.Transaction(rollup_id=902, payload=b"\x02junk")
            yield pb.StreamSubmitRequest(request_id=i, transactions=pb.TransactionList(transactions=txs))

    n = 0
    async for resp in client.stub.StreamSubmit(requests()):
        assert resp.request_id == n and len(resp.results) == 25
        for j, res in enumerate(resp.results):
            if n == 5 and j == 3:  # the duplicate gets its original's receipt (item 2's)
                assert res.already_admitted and res.receipt == resp.results[2].receipt
            elif n == 5 and j == 7:
                assert res.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "malformed" in res.error.message
            else:
                client.check_receipt(res.receipt, lists[n][j])
        n += 1
    assert n == 20
    last = resp.results[-1].receipt
    block = await client.rollup_block(last.rollup_id, last.height)
    assert block.transactions[last.index] == lists[-1][-1]


async def test_rejections_count_submissions_not_reads(client: Client, tx_for) -> None:
    metrics = client.srv.node.metrics

    def rejected(reason: str) -> float:
        return metrics.registry.get_sample_value("sharedseq_rejected_total", {"reason": reason}) or 0.0

    await _code(client.stub.GetBlock(pb.GetBlockRequest(height=10**9)))
    assert rejected("not_found") == 0
    await _code(client.stub.SubmitTransaction(pb.SubmitTransactionRequest(
        transaction=pb.Transaction(rollup_id=4242, payload=tx_for(901)))))
    assert rejected("not_found") == 1
    before = metrics.registry.get_sample_value("sharedseq_receipt_latency_seconds_count") or 0
    await client.submit(901, tx_for(901))
    await client.wait_height(client.srv.node.durable_height + 2)
    # Sealed blocks do not count as receipts: one submission, one latency sample.
    assert metrics.registry.get_sample_value("sharedseq_receipt_latency_seconds_count") == before + 1


async def test_tail_command_follows_from_the_next_block_or_replays(client: Client, capsys) -> None:
    import json

    import anyio.to_thread

    from sequencer.cli import main

    await client.wait_height(3)
    sealed = client.srv.node.durable_height
    args = ["tail", "--server", client.srv.address, "--rollup", "902", "--count", "1"]
    assert await anyio.to_thread.run_sync(main, args) == 0
    assert json.loads(capsys.readouterr().out)["height"] > sealed
    assert await anyio.to_thread.run_sync(main, [*args, "--from", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["height"] == 0
