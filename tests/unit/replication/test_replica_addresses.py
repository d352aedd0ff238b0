"""Clients of a replicated sequencer (issue 12, docs/replication.md): the batcher and the rollup
nodes take every replica's address. The batcher reads from the replica furthest ahead (the leader)
and skips one that does not answer; a soft rollup node whose stream is lost resubscribes on the
next address. Fakes stand in for the gRPC side: what is checked is which replica each one picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import grpc
import pytest

from rollup_node import soft
from rollup_node.node import NodeConfig, RollupNode
from rollup_node.soft import SoftFollower
from sequencer.errors import ConfigError
from sequencer.l1.batcher import Batcher, BatcherConfig, sequencer_addresses
from sharedseq.v1 import sequencer_pb2 as pb

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def unavailable(details: str = "replica down") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@dataclass
class FakeReplica:
    """GetSequencerInfo of one replica: its sealed height, or down."""

    sealed: int
    down: bool = False
    asked: int = 0

    async def GetSequencerInfo(self, request: Any, timeout: float | None = None) -> pb.GetSequencerInfoResponse:
        self.asked += 1
        if self.down:
            raise unavailable()
        return pb.GetSequencerInfoResponse(sealed_height=self.sealed)


def batcher(addresses: str) -> Batcher:
    return Batcher(BatcherConfig(sequencer=addresses, l1_rpc_url="http://127.0.0.1:1", inbox="0x" + "11" * 20,
                                 key=b"\x01" * 32, signer_key=b"\x02" * 32))


async def test_the_batcher_reads_from_the_replica_furthest_ahead_and_skips_one_that_is_down() -> None:
    b = batcher("127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3")
    follower, leader, gone = FakeReplica(41), FakeReplica(42), FakeReplica(99, down=True)  # the old leader, killed
    b._stubs = [follower, gone, leader]
    b._stub = gone
    await b.follow_leader()
    assert b._stub is leader
    leader.down = True  # the leader dies: the follower, which becomes the next leader
    await b.follow_leader()
    assert b._stub is follower


async def test_one_address_is_used_as_it_is() -> None:
    b = batcher("127.0.0.1:1")
    only = FakeReplica(5, down=True)
    b._stubs, b._stub = [only], only
    await b.follow_leader()
    assert b._stub is only and only.asked == 0


def test_the_batcher_config_lists_every_address() -> None:
    assert sequencer_addresses(batcher(" 127.0.0.1:1,127.0.0.1:2 ,").cfg) == ["127.0.0.1:1", "127.0.0.1:2"]
    with pytest.raises(ConfigError, match="batcher.sequencer"):
        sequencer_addresses(batcher(" , ").cfg)


async def test_a_soft_node_resubscribes_on_the_next_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each lost stream moves the node to the next address, round the list: a replica that is gone
    (its address refusing) is not retried for ever while another serves the same blocks."""
    tried: list[str] = []

    class Channel:
        def __init__(self, address: str) -> None:
            tried.append(address)

        async def __aenter__(self) -> Channel:
            raise unavailable()

        async def __aexit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(soft.grpc.aio, "insecure_channel", Channel)
    monkeypatch.setattr(soft, "BACKOFF_MIN", 0.001)
    monkeypatch.setattr(soft, "BACKOFF_MAX", 0.001)
    f = SoftFollower(RollupNode(NodeConfig(rollup_id=901, mode="soft", api_port=None,
                                           sequencer="127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3")))
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(f._run)
            while len(tried) < 5:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert tried[:5] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1", "127.0.0.1:2"]
