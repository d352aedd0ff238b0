"""Per-client keys, the bounded bucket map and client shares (sequencer/service/security.py;
issue 9, finding 6)."""

from __future__ import annotations

import pytest

from sequencer.errors import Overloaded
from sequencer.service.security import ClientShares, RateLimiter, peer_identity


@pytest.mark.parametrize(("peer", "key"), [
    ("ipv4:127.0.0.1:5555", "ipv4:127.0.0.1"),
    ("ipv4:10.1.2.3:1", "ipv4:10.1.2.3"),
    ("ipv6:[2001:db8:1:2::9]:5555", "ipv6:2001:db8:1:2::/64"),
    ("ipv6:%5B2001:db8:1:2:ffff:ffff:ffff:ffff%5D:443", "ipv6:2001:db8:1:2::/64"),
    ("ipv6:[::1]:80", "ipv6:::/64"),
    ("ipv6:[::ffff:192.0.2.7]:80", "ipv4:192.0.2.7"),
    ("unix:/tmp/sock", "unix:/tmp/sock"),
])
def test_peer_keys(peer: str, key: str) -> None:
    assert peer_identity(peer) == key


def test_rotating_ipv6_addresses_within_a_64_share_one_bucket() -> None:
    """One host holds a /64: rotating the low 64 bits must not buy it new tokens."""
    rl = RateLimiter(1, 5, clock=lambda: 0.0)
    for i in range(5):
        rl.take(peer_identity(f"ipv6:[2001:db8:aa:bb::{i:x}]:4000"))
    with pytest.raises(Overloaded):
        rl.take(peer_identity("ipv6:[2001:db8:aa:bb:1234:5678:9abc:def0]:4000"))
    rl.take(peer_identity("ipv6:[2001:db8:aa:bc::1]:4000"))  # the next /64 is another client


def test_bucket_map_is_bounded_and_evicts_least_recently_used() -> None:
    now = [0.0]
    rl = RateLimiter(1, 2, clock=lambda: now[0], max_clients=1000)
    buckets = rl._buckets
    rl.take("steady", 2)  # drained
    for i in range(5000):
        rl.take(f"fresh-{i}")
        if i % 100 == 0:  # the steady client stays recent: its empty bucket is kept, not reset
            with pytest.raises(Overloaded):
                rl.take("steady")
        assert rl.clients <= 1000
    assert rl._buckets is buckets  # evicted one at a time, never rebuilt
    assert "fresh-0" not in rl._buckets and "fresh-4999" in rl._buckets


def test_stream_slots() -> None:
    rl = RateLimiter(0, 0, max_streams=2)
    with rl.stream("a"), rl.stream("a"):
        with pytest.raises(Overloaded, match="2 streams open"), rl.stream("a"):
            pass
        with rl.stream("b"):
            pass
    with rl.stream("a"), rl.stream("a"):
        pass


def test_client_shares_count_by_height_and_release_on_seal() -> None:
    shares = ClientShares(max_txs=10, max_bytes=1000)
    shares.add("a", 5, 6, 600)
    shares.add("a", 6, 4, 100)
    shares.check("a", 0, 0)
    with pytest.raises(Overloaded, match="client share"):
        shares.check("a", 1, 1)
    with pytest.raises(Overloaded, match="client share"):
        ClientShares(100, 1000).check("x", 1, 1001)
    shares.check("b", 10, 1000)
    shares.check(None, 10**6, 10**9)  # in-process callers are not counted
    shares.sealed(5)
    assert shares.held("a") == (4, 100)
    shares.sealed(6)
    assert shares.held("a") == (0, 0) and not shares._held
