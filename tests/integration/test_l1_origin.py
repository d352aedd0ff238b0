"""The sequencer's L1 origin follower (sequencer/l1/origin.py) against anvil, through a TCP forwarder
that can cut the L1 off: the origin is always a real L1 block `lag` below the head (never ahead),
the lag is capped at half the inbox's maxOriginLag (read from the deployed inbox), and while the L1
RPC is down the last origin is kept and `l1.origin_stale` is logged, until the L1 is back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_batcher import Forwarder, wait_for
from web3 import Web3

from deploy.deployer import deploy_all
from sequencer.devtools.anvil import start_anvil
from sequencer.l1.origin import L1Config, follow_l1, origin_number

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(180)]


class FakeCore:
    """What follow_l1 touches on the node's core: its rollups and the paused set it hands over."""

    def __init__(self) -> None:
        self.rollups = {901: None}
        self.paused: frozenset[int] = frozenset()


class FakeNode:
    """What follow_l1 touches on a SequencerNode."""

    def __init__(self) -> None:
        self.core = FakeCore()
        self.l1_origin: tuple[int, bytes] | None = None
        self.l1_origin_time_ms: int | None = None
        self.max_origin_drift_ms: int | None = None
        self.firm_height = -1

    def mark_firm(self, height: int) -> None:
        self.firm_height = max(self.firm_height, height)


@pytest.mark.parametrize(("head", "lag", "max_lag", "expected"), [
    (100, 0, 255, 100), (100, 2, 255, 98), (300, 200, 255, 300 - 127), (100, 10, 8, 96), (3, 10, 255, 0),
])
def test_origin_number(head: int, lag: int, max_lag: int, expected: int) -> None:
    assert origin_number(head, lag, max_lag) == expected


async def test_follows_the_l1_keeps_its_origin_through_an_outage_and_respects_max_origin_lag(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sharedseq.l1")
    with start_anvil(timeout=60) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        owner, seq = anvil.accounts[:2]
        manifest = deploy_all(w3, owner.key, {"l1": {"force_inclusion_delay": 8}, "sequencer": {"address": seq.address},
                                              "rollups": [{"id": 901, "name": "op", "format": "opstack",
                                                           "block_time_ms": 1000}]})
        inbox = manifest.address("SequencerInbox")
        async with anyio.create_task_group() as tg:
            fwd = Forwarder(anvil.port)
            await tg.start(fwd.serve)
            node: Any = FakeNode()
            # lag 100 is more than half of maxOriginLag 8: the follower uses 4.
            tg.start_soon(follow_l1, node, L1Config(f"http://127.0.0.1:{fwd.port}", inbox, poll_ms=50, lag=100))
            anvil.mine(20)
            head = w3.eth.block_number
            await wait_for(lambda: node.l1_origin is not None and node.l1_origin[0] == head - 4, 30, "the origin")
            assert node.l1_origin[1] == bytes(w3.eth.get_block(head - 4)["hash"])
            # Sequencer drift: the origin's L1 time, and half the inbox's catch-up age as the limit.
            assert node.l1_origin_time_ms == w3.eth.get_block(head - 4)["timestamp"] * 1000
            catch_up = w3.eth.contract(address=inbox, abi=[{
                "type": "function", "name": "catchUpAfterMs", "stateMutability": "view", "inputs": [],
                "outputs": [{"name": "", "type": "uint64"}]}]).functions.catchUpAfterMs().call()
            assert node.max_origin_drift_ms == catch_up // 2
            assert any("more than half the inbox's maxOriginLag 8" in r.getMessage() for r in caplog.records)

            fwd.stop()
            kept = node.l1_origin
            anvil.mine(30)
            await wait_for(lambda: any(getattr(r, "fields", {}).get("event") == "l1.origin_stale"
                                       for r in caplog.records), 30, "a logged stale origin")
            assert node.l1_origin == kept  # the last origin, not a guess

            await tg.start(fwd.serve)
            head = w3.eth.block_number
            await wait_for(lambda: node.l1_origin[0] == head - 4, 60, "the origin after the outage")
            assert node.l1_origin[0] < w3.eth.block_number  # never ahead of the L1
            tg.cancel_scope.cancel()
