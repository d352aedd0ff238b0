"""Fair by default (issue 9, finding 6): per-client limits are on without any setting, keyed by
certificate under mutual TLS (else IPv4 address / IPv6 /64), a client can hold only so many
streams, the limits are readable in GetSequencerInfo, and a client flooding admissible
transactions gets its share of a block, not the block."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest
from seq_helpers import config_doc

from sequencer.config import ServiceConfig, parse_config
from sequencer.keys import write_key
from sequencer.service.security import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_RATE_TX_PER_S,
    KEYED_BY,
    TlsConfig,
    client_credentials,
    generate_dev_pki,
)
from sequencer.service.server import running
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(60)]

RAW = 904


def _config(tmp_path, **sequencer: object) -> ServiceConfig:  # noqa: ANN001
    write_key(tmp_path / "seq.key")
    doc = config_doc(tmp_path, **sequencer)
    doc["rollups"] = [*doc["rollups"], {"id": RAW, "name": "raw", "policy": "opaque"}]
    return parse_config(doc, tmp_path)


def test_limits_are_on_by_default(tmp_path) -> None:  # noqa: ANN001
    cfg = _config(tmp_path)
    assert cfg.rate_limit_tx_per_s == DEFAULT_RATE_TX_PER_S > 0
    assert cfg.max_streams_per_client == DEFAULT_MAX_STREAMS > 0
    assert 0 < cfg.client_share < 1


async def test_a_client_cannot_open_more_streams_than_its_cap(tmp_path) -> None:  # noqa: ANN001
    cfg = _config(tmp_path, max_streams_per_client=3)
    async with running(cfg) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        calls = [stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=0)) for _ in range(3)]
        for c in calls:
            assert (await c.read()).block.signed_header.header.height == 0
        extra = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=0))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await extra.read()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 streams open" in err.value.details()
        # StreamSubmit counts against the same cap.
        submit = stub.StreamSubmit()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await submit.read()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Closing one frees its slot.
        calls[0].cancel()
        for _ in range(100):
            again = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=0))
            try:
                assert (await again.read()).block.signed_header.header.height == 0
                break
            except grpc.aio.AioRpcError:
                continue  # the cancelled call's slot is released when its handler ends
        else:
            raise AssertionError("a closed stream's slot was never released")
        await ch.close()


async def test_limits_are_readable_in_sequencer_info(tmp_path) -> None:  # noqa: ANN001
    cfg = _config(tmp_path, rate_limit_tx_per_s=123, rate_limit_burst=456, max_streams_per_client=7,
                  client_share=0.5)
    async with running(cfg) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            info = await pb_grpc.SequencerServiceStub(ch).GetSequencerInfo(pb.GetSequencerInfoRequest())
    lim = info.client_limits
    assert (lim.tx_per_s, lim.burst, lim.max_streams) == (123, 456, 7)
    assert lim.max_pending_txs == cfg.core.limits.max_block_txs // 2
    assert lim.max_pending_bytes == cfg.core.limits.max_block_bytes // 2
    assert lim.keyed_by == KEYED_BY and "IPv6 /64" in lim.keyed_by


async def test_a_flooding_client_gets_its_share_of_a_block_and_others_get_in(tmp_path) -> None:  # noqa: ANN001
    """Under mutual TLS two clients from one address are two clients. Slots are long (nothing seals
    on its own): `flood` fills its share of the pending blocks, is refused past it, while `honest`
    still gets in; once a block seals, the share is free again."""
    pki = generate_dev_pki(tmp_path / "pki", ("flood", "honest"))
    cfg = replace(_config(tmp_path, slot_ms=60_000, client_share=0.1),
                  tls=TlsConfig(pki["server_cert"], pki["server_key"], pki["ca"]))
    share = cfg.core.limits.max_block_txs // 10
    async with running(cfg) as srv:
        def channel(name: str) -> grpc.aio.Channel:
            return grpc.aio.secure_channel(f"localhost:{srv.port}", client_credentials(
                pki["ca"], pki[f"{name}_cert"], pki[f"{name}_key"]))

        flood, honest = channel("flood"), channel("honest")
        fstub, hstub = pb_grpc.SequencerServiceStub(flood), pb_grpc.SequencerServiceStub(honest)
        admitted, refused = 0, ""
        call = fstub.StreamSubmit()
        for n in range(0, 3 * share, 500):  # lists of 500 on one stream, answered in order
            items = [pb.Transaction(rollup_id=RAW, payload=f"flood-{n + i}".encode()) for i in range(500)]
            await call.write(pb.StreamSubmitRequest(request_id=n, transactions=pb.TransactionList(
                transactions=items)))
            answer = await call.read()
            refused = answer.error.message or next((r.error.message for r in answer.results if r.error.message), "")
            admitted += sum(1 for r in answer.results if r.HasField("receipt"))
            if refused:
                break
        await call.done_writing()
        assert "client share" in refused, refused
        assert share - 500 <= admitted <= share  # it got its share, not less, never more
        # Another client still gets in while the flood is held back.
        r = await hstub.SubmitTransaction(pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=RAW, payload=b"honest-1")), timeout=10)
        assert r.receipt.batch_signature
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await fstub.SubmitTransaction(pb.SubmitTransactionRequest(
                transaction=pb.Transaction(rollup_id=RAW, payload=b"flood-one-more")), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "client share" in err.value.details()
        # The block seals: the flood's transactions in it are at most its share; its share is free again.
        block = await srv.node.seal_now()
        raw = block.namespace(RAW).transactions
        assert sum(1 for t in raw if t.startswith(b"flood-")) <= share and b"honest-1" in raw
        r = await fstub.SubmitTransaction(pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=RAW, payload=b"flood-after-seal")), timeout=10)
        assert r.receipt.height == block.height + 1
        await flood.close()
        await honest.close()
