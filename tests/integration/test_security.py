"""Mutual TLS on the gRPC port, and per-client rate limits."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest
from seq_helpers import make_config

from sequencer.server import running
from sequencer.service.security import RateLimiter, TlsConfig, client_credentials, generate_dev_pki
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(180)]


async def test_mutual_tls_admits_only_clients_with_certificates(tmp_path, tx_for) -> None:
    pki = generate_dev_pki(tmp_path / "pki", ("operator",))
    cfg = replace(make_config(tmp_path), tls=TlsConfig(pki["server_cert"], pki["server_key"], pki["ca"]))
    async with running(cfg) as srv:
        good = grpc.aio.secure_channel(f"localhost:{srv.port}", client_credentials(
            pki["ca"], pki["operator_cert"], pki["operator_key"]))
        stub = pb_grpc.SequencerServiceStub(good)
        r = await stub.SubmitTransaction(pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=901, payload=tx_for(901))), timeout=30)
        assert r.receipt.batch_signature
        await good.close()
        # TLS without a client certificate: the handshake fails.
        anon = grpc.aio.secure_channel(f"localhost:{srv.port}", client_credentials(pki["ca"]))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await pb_grpc.SequencerServiceStub(anon).ListRollups(pb.ListRollupsRequest(), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        await anon.close()
        # Plaintext: refused too.
        plain = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
        with pytest.raises(grpc.aio.AioRpcError):
            await pb_grpc.SequencerServiceStub(plain).ListRollups(pb.ListRollupsRequest(), timeout=5)
        await plain.close()


async def test_rate_limit_per_client(tmp_path, tx_for) -> None:
    # A slow refill (one token per 5 s): the three submissions past the burst are refused however long each
    # takes on a loaded machine (at 2 per second, three taking 0.5 s each would all have been let through).
    cfg = make_config(tmp_path, rate_limit_tx_per_s=0.2, rate_limit_burst=5)
    async with running(cfg) as srv:
        ch = grpc.aio.insecure_channel(srv.address)
        stub = pb_grpc.SequencerServiceStub(ch)
        codes = []
        for _ in range(8):
            try:
                await stub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=902, payload=tx_for(902))))
                codes.append("ok")
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
                assert "rate limit" in exc.details()
        assert codes[:5] == ["ok"] * 5
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes[5:]
        await ch.close()


def test_token_bucket_refills() -> None:
    now = [0.0]
    rl = RateLimiter(10, 5, clock=lambda: now[0])
    for _ in range(5):
        rl.take("a")
    with pytest.raises(Exception, match="rate limit"):
        rl.take("a")
    rl.take("b")  # another client has its own bucket
    now[0] += 0.5
    for _ in range(5):
        rl.take("a")
