"""Fixtures for real-network tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from seq_helpers import Wallet


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: these tests go through the gRPC edge (grpc.aio) or aiohttp, which need asyncio; the
    engine's own tests run on asyncio and trio (tests/unit/service/test_service_node.py)."""
    return "asyncio"


@pytest.fixture
def wallet() -> Wallet:
    return Wallet()


@pytest.fixture
def tx_for(wallet: Wallet) -> Callable[[int], bytes]:
    """A valid transaction for a rollup id (legacy for the zkEVM rollup)."""
    return lambda rid: wallet.transfer(rid, kind=0 if rid == 903 else 2)
