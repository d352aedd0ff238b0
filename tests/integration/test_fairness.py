"""Fair by default (issue 9, finding 6): per-client limits are on without any setting, keyed by
certificate under mutual TLS (else IPv4 address / IPv6 /64), a client can hold only so many
streams, the limits are readable in GetSequencerInfo, a client flooding admissible
transactions gets its share of a block, not the block, and a client sending bytes (garbage or
not) faster than its byte rate is refused (unary) or read no faster than the rate (streams)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import anyio
import grpc
import pytest
from seq_helpers import config_doc

from sequencer.config import ServiceConfig, parse_config
from sequencer.errors import Overloaded
from sequencer.keys import write_key
from sequencer.server import running
from sequencer.service.limits import ApiLimits
from sequencer.service.security import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_RATE_TX_PER_S,
    KEYED_BY,
    ByteRate,
    TlsConfig,
    client_credentials,
    generate_dev_pki,
)
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(240)]

RAW = 904


def _config(tmp_path, **sequencer: object) -> ServiceConfig:
    write_key(tmp_path / "seq.key")
    doc = config_doc(tmp_path, **sequencer)
    doc["rollups"] = [*doc["rollups"], {"id": RAW, "name": "raw", "policy": "opaque"}]
    return parse_config(doc, tmp_path)


def test_limits_are_on_by_default(tmp_path) -> None:
    cfg = _config(tmp_path)
    assert cfg.rate_limit_tx_per_s == DEFAULT_RATE_TX_PER_S > 0
    assert cfg.max_streams_per_client == DEFAULT_MAX_STREAMS > 0
    assert 0 < cfg.client_share < 1
    assert cfg.api.rate_limit_bytes_per_s == ApiLimits().rate_limit_bytes_per_s > 0
    assert cfg.api.rate_limit_bytes_burst >= cfg.max_message_bytes  # the largest request can pass


def test_a_byte_burst_below_the_largest_message_is_refused(tmp_path) -> None:
    from sequencer.errors import BadInput

    with pytest.raises(BadInput, match="rate_limit_bytes_burst"):
        _config(tmp_path, max_message_bytes=1 << 20, rate_limit_bytes_burst=1 << 19)
    (tmp_path / "off").mkdir()
    off = _config(tmp_path / "off", rate_limit_bytes_per_s=0, rate_limit_bytes_burst=1)
    assert off.api.rate_limit_bytes_per_s == 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_byte_rate_refuses_unary_calls_past_the_bucket_and_empties_it() -> None:
    clock = Clock()
    rate = ByteRate(1000, 4000, clock=clock)
    rate.take("a", 3000)
    with pytest.raises(Overloaded, match=r"rate_limit_bytes_per_s.*slow down"):
        rate.take("a", 2000)
    rate.take("b", 4000)  # another client has its own bucket
    clock.now = 1.9  # the refused request's bytes were received: they emptied the bucket
    with pytest.raises(Overloaded):
        rate.take("a", 2000)
    clock.now = 3.9
    rate.take("a", 2000)  # 2 s of its rate since the last refusal


def test_byte_rate_lets_a_stream_into_debt_and_says_how_long_to_wait() -> None:
    clock = Clock()
    rate = ByteRate(1000, 4000, clock=clock)
    assert rate.delay("s") == 0
    rate.charge("s", 6000)
    assert rate.delay("s") == pytest.approx(2.0)
    rate.charge("s", 10**9)  # debt is capped at one burst: a client is never owed for ever
    assert rate.delay("s") == pytest.approx(4.0)
    clock.now = 4.0
    assert rate.delay("s") == 0
    off = ByteRate(0, 0)
    off.take("x", 10**9)
    off.charge("x", 10**9)
    assert off.delay("x") == 0


def test_the_byte_buckets_are_bounded() -> None:
    rate = ByteRate(1000, 4000, max_clients=100)
    for i in range(1000):
        rate.take(f"ipv6:2001:db8:{i:x}::/64", 10)
    assert rate.clients == 100


async def test_a_client_cannot_open_more_streams_than_its_cap(tmp_path) -> None:
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


async def test_limits_are_readable_in_sequencer_info(tmp_path) -> None:
    cfg = _config(tmp_path, rate_limit_tx_per_s=123, rate_limit_burst=456, max_streams_per_client=7,
                  client_share=0.5)
    async with running(cfg) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            info = await pb_grpc.SequencerServiceStub(ch).GetSequencerInfo(pb.GetSequencerInfoRequest())
    lim = info.client_limits
    assert (lim.tx_per_s, lim.burst, lim.max_streams) == (123, 456, 7)
    assert (lim.bytes_per_s, lim.bytes_burst) == (cfg.api.rate_limit_bytes_per_s, cfg.api.rate_limit_bytes_burst)
    assert lim.bytes_per_s > 0
    assert lim.max_inflight_txs == cfg.api.client_inflight_txs > 0
    assert lim.max_pending_txs == cfg.core.limits.max_block_txs // 2
    assert lim.max_pending_bytes == cfg.core.limits.max_block_bytes // 2
    assert lim.keyed_by == KEYED_BY and "IPv6 /64" in lim.keyed_by


async def test_a_flooding_client_gets_its_share_of_a_block_and_others_get_in(tmp_path) -> None:
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


SERVICE = "/sharedseq.v1.SequencerService/"


def _tls_config(tmp_path, names: tuple[str, ...], **sequencer: object) -> tuple[ServiceConfig, dict]:
    pki = generate_dev_pki(tmp_path / "pki", names)
    cfg = replace(_config(tmp_path, **sequencer), tls=TlsConfig(pki["server_cert"], pki["server_key"], pki["ca"]))
    return cfg, pki


def _channel(port: int, pki: dict, name: str) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(f"localhost:{port}", client_credentials(
        pki["ca"], pki[f"{name}_cert"], pki[f"{name}_key"]), options=[("grpc.max_send_message_length", 8 << 20)])


async def test_a_client_over_its_byte_rate_is_refused_and_others_are_not(tmp_path) -> None:
    """`hog` sends 1 MB requests (garbage: not even protobuf) as fast as it can; past its burst
    they are refused RESOURCE_EXHAUSTED naming the limit, before anything is parsed, while
    `honest`, from the same address, is served. Without the byte rate every garbage request would
    get INVALID_ARGUMENT and the hog could go on at line rate."""
    cfg, pki = _tls_config(tmp_path, ("hog", "honest"), rate_limit_bytes_per_s=64 << 10,
                           rate_limit_bytes_burst=4 << 20)
    garbage = b"\xff" * (1 << 20)
    async with running(cfg) as srv:
        hog, honest = _channel(srv.port, pki, "hog"), _channel(srv.port, pki, "honest")
        raw = hog.unary_unary(SERVICE + "SubmitTransaction", request_serializer=None, response_deserializer=None)
        codes: list[tuple[grpc.StatusCode, str]] = []
        for _ in range(12):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await raw(garbage, timeout=10)
            codes.append((err.value.code(), err.value.details() or ""))
        assert codes[0][0] == grpc.StatusCode.INVALID_ARGUMENT  # within the burst: answered on its merits
        refused = [d for c, d in codes if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
        assert len(refused) >= 12 - 5 and all("rate_limit_bytes_per_s" in d for d in refused), codes
        assert srv.servicer.requests.used == 0  # refused requests hold nothing
        r = await pb_grpc.SequencerServiceStub(honest).SubmitTransaction(pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=RAW, payload=b"honest-bytes")), timeout=10)
        assert r.receipt.batch_signature
        sample = srv.node.metrics.client_limited.labels("bytes")._value.get()
        assert sample >= len(refused)
        await hog.close()
        await honest.close()


async def test_a_stream_over_its_byte_rate_is_read_no_faster_than_the_rate(tmp_path) -> None:
    """`hog` writes 512 kB garbage messages on two StreamSubmit streams as fast as flow control lets
    it, for about three seconds. The server reads them no faster than the byte rate (the rest wait in
    the client: HTTP/2 flow control), so the answers it has sent are bounded by burst + rate x time
    (+ one message a stream in debt), where without the limit they would be hundreds. Every message
    read is answered; `honest` meanwhile gets its receipts."""
    rate, burst, msg, seconds = 256 << 10, 4 << 20, 512 << 10, 3.0
    cfg, pki = _tls_config(tmp_path, ("hog", "honest"), rate_limit_bytes_per_s=rate, rate_limit_bytes_burst=burst)
    garbage = b"\xff" * msg
    async with running(cfg) as srv:
        hog, honest = _channel(srv.port, pki, "hog"), _channel(srv.port, pki, "honest")
        answered: list[int] = []
        start = time.monotonic()

        async def stream() -> None:
            call = hog.stream_stream(SERVICE + "StreamSubmit", request_serializer=None,
                                     response_deserializer=pb.StreamSubmitResponse.FromString)

            async def gen() -> AsyncIterator[bytes]:
                while time.monotonic() - start < seconds:
                    yield garbage

            async for resp in call(gen()):
                assert resp.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
                answered.append(1)

        async with anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(stream)
            hstub = pb_grpc.SequencerServiceStub(honest)
            for i in range(5):
                r = await hstub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=RAW, payload=b"honest-%d" % i)), timeout=10)
                assert r.receipt.batch_signature
            with anyio.fail_after(30):
                while time.monotonic() - start < seconds:
                    await anyio.sleep(0.05)
                read_by = time.monotonic() - start
                await anyio.sleep(0.2)
                n_at_end = len(answered)
                tg.cancel_scope.cancel()
        # The stream is read at most: the burst, the rate over the time it ran, one message per stream of debt.
        most = (burst + rate * (read_by + 0.2)) / msg + 2
        assert 0 < n_at_end <= most, (n_at_end, most)
        await hog.close()
        await honest.close()


async def test_a_flooding_client_never_has_more_than_its_cap_in_one_group_commit(tmp_path) -> None:
    """Four streams pipeline lists of 200 admissible transactions as fast as they can (no rate or
    share limit here). Every group commit takes what was admitted since the last, so without the
    in-flight cap commits grow to many lists; with it no commit holds more than the client's cap
    (200) - what an honest receipt queued behind it waits for. A list longer than the cap is placed
    in parts of the cap, each once the one before is durable (node.admit_checked), so it too holds
    at most the cap of any commit; every request is answered."""
    cap = 200
    cfg = _config(tmp_path, rate_limit_tx_per_s=0, client_share=0, rate_limit_bytes_per_s=0, client_inflight_txs=cap)
    async with running(cfg) as srv:
        sizes: list[int] = []
        real = srv.node.metrics.commit_batch.observe
        srv.node.metrics.commit_batch.observe = lambda n: (sizes.append(int(n)), real(n))  # type: ignore[method-assign]
        answered: list[int] = []
        async with grpc.aio.insecure_channel(srv.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)

            async def flood(k: int) -> None:
                async def gen() -> AsyncIterator[pb.StreamSubmitRequest]:
                    for n in range(12):
                        size = 300 if (k, n) == (0, 5) else 200  # one list longer than the cap
                        yield pb.StreamSubmitRequest(request_id=n, transactions=pb.TransactionList(transactions=[
                            pb.Transaction(rollup_id=RAW, payload=b"f-%d-%d-%d" % (k, n, i)) for i in range(size)]))

                async for resp in stub.StreamSubmit(gen()):
                    assert all(r.HasField("receipt") for r in resp.results), resp.results[0]
                    answered.append(len(resp.results))

            with anyio.fail_after(45):
                async with anyio.create_task_group() as tg:
                    for k in range(4):
                        tg.start_soon(flood, k)
        assert len(answered) == 48 and sum(answered) == 47 * 200 + 300  # all answered, the long list too
        assert max(sizes) <= cap, sorted(sizes)[-5:]  # the long list too, in parts
        assert srv.servicer.inflight.waits > 0 and srv.servicer.inflight.held("ipv4:127.0.0.1") == 0


async def test_replays_together_read_no_faster_than_the_replay_rate(tmp_path) -> None:  # noqa: ANN001
    """Subscribers need no credentials, so a per-client limit cannot bound replays: six of them
    from height 0 of a 40-block history (100 kB a block on RAW) read as fast as they can for 2 s.
    All replays together read at most burst + rate x time (+ one chunk a subscriber in flight),
    where without the replay rate each would have the whole 4 MB history at once."""
    from sequencer.core.types import Transaction

    rate, chunk, seconds = 256 << 10, 128 << 10, 2.0
    doc = config_doc(tmp_path, slot_ms=3_600_000, rate_limit_tx_per_s=0, client_share=0, max_streams_per_client=0)
    doc["rollups"] = [*doc["rollups"], {"id": RAW, "name": "raw", "policy": "opaque"}]
    doc["subscribers"] = {"replay_bytes_per_s": rate, "chunk_bytes": chunk, "live_heights": 4}
    write_key(tmp_path / "seq.key")
    cfg = parse_config(doc, tmp_path)
    async with running(cfg) as srv:
        for h in range(40):
            ticket, _ = srv.node.admit_list([Transaction(RAW, h.to_bytes(4, "big") + bytes(100_000))])
            await ticket.wait()
            await srv.node.seal_now()
        got = [0] * 6
        start = time.monotonic()
        async with grpc.aio.insecure_channel(srv.address) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)

            async def replay(k: int) -> None:
                async for resp in stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=RAW, from_height=0)):
                    got[k] += sum(len(t) for t in resp.block.transactions)

            with anyio.move_on_after(seconds):
                async with anyio.create_task_group() as tg:
                    for k in range(6):
                        tg.start_soon(replay, k)
            elapsed = time.monotonic() - start
        # The bucket, what it refilled, and one chunk a subscriber read while the others' were charged.
        most = max(rate, chunk) + rate * elapsed + 6 * 2 * chunk
        assert 0 < sum(got) <= most, (sum(got), most)
        assert all(g < 40 * 100_000 for g in got)  # nobody got the whole history in 2 s


async def test_a_dominant_client_is_paced_when_saturated_and_the_others_are_not(tmp_path) -> None:
    """FloodPacer end to end (issue 13 step 3), with the node held saturated (the signal itself, loop
    lag and writer utilisation, is tested in tests/unit/service/test_service_saturation.py): `flood`
    streams lists of 100 admissible transactions while `honest` submits one at a time. The flood,
    holding most of the recent admissions, waits before its requests are read, longer as it goes
    on; `honest` never waits; every request of both is answered, in order. Without the pacer the
    flood would never wait."""
    cfg, pki = _tls_config(tmp_path, ("flood", "honest"), rate_limit_tx_per_s=0, rate_limit_bytes_per_s=0,
                           client_share=0)
    async with running(cfg) as srv:
        pacer = srv.servicer.pacer
        pacer.saturated = lambda: True
        waits: dict[str, list[float]] = {}
        real = pacer.delay

        def delay(client: str | None) -> float:
            d = real(client)
            waits.setdefault(str(client), []).append(d)
            return d

        pacer.delay = delay  # type: ignore[method-assign]
        flood, honest = _channel(srv.port, pki, "flood"), _channel(srv.port, pki, "honest")
        answered: list[int] = []

        async def stream() -> None:
            async def gen() -> AsyncIterator[pb.StreamSubmitRequest]:
                for n in range(16):
                    yield pb.StreamSubmitRequest(request_id=n, transactions=pb.TransactionList(transactions=[
                        pb.Transaction(rollup_id=RAW, payload=b"fl-%d-%d" % (n, i)) for i in range(100)]))

            async for resp in pb_grpc.SequencerServiceStub(flood).StreamSubmit(gen()):
                assert all(r.HasField("receipt") for r in resp.results)
                answered.append(resp.request_id)

        with anyio.fail_after(45):
            async with anyio.create_task_group() as tg:
                hstub = pb_grpc.SequencerServiceStub(honest)
                r = await hstub.SubmitTransaction(pb.SubmitTransactionRequest(
                    transaction=pb.Transaction(rollup_id=RAW, payload=b"honest-first")), timeout=20)
                assert r.receipt.batch_signature
                tg.start_soon(stream)
                for i in range(8):
                    r = await hstub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=RAW, payload=b"honest-%d" % i)), timeout=20)
                    assert r.receipt.batch_signature
        assert answered == list(range(16))
        flood_waits, honest_waits = waits["cn:flood"], waits["cn:honest"]
        assert set(honest_waits) == {0.0}, honest_waits
        assert sum(1 for d in flood_waits if d > 0) >= 8 and max(flood_waits) >= 0.008, flood_waits
        assert pacer.paced >= 8
        await flood.close()
        await honest.close()
