"""Per-client keys, the bounded bucket map and client shares (sequencer/service/security.py;
issue 9, finding 6)."""

from __future__ import annotations

import pytest

from sequencer.errors import Overloaded
from sequencer.service.security import ClientShares, FloodPacer, RateLimiter, peer_identity


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


# -- FloodPacer (issue 9 item 5, issue 13 step 3) ------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _pacer(lag: list[float], clock: _Clock, **kw: float) -> FloodPacer:
    return FloodPacer(lambda: lag[0] > 0.004, clock=clock, **kw)  # saturated: the loop lags over 4 ms


def test_a_dominant_client_is_paced_while_the_loop_lags_and_others_are_not() -> None:
    """The flood holds most of the recent admissions and the loop lags: each of its requests waits
    longer (doubling up to the cap); the honest client, with few admissions, never waits; once the
    loop is responsive again the flood's delay halves away. Without the pacer the flood would never
    wait at all."""
    lag, clock = [0.010], _Clock()
    p = _pacer(lag, clock, max_delay_s=0.05)
    p.admitted("honest", 5)
    p.admitted("flood", 500)
    delays = [p.delay("flood") for _ in range(8)]
    assert delays[0] == p.MIN_DELAY_S and delays == sorted(delays) and delays[-1] == 0.05
    assert p.delay("honest") == 0.0
    lag[0] = 0.001  # responsive again
    after = [p.delay("flood") for _ in range(40)]
    assert after == sorted(after, reverse=True) and after[0] < 0.05 and after[-1] == 0.0
    assert p.paced >= 8


def test_a_lone_client_is_never_paced() -> None:
    """No one else admits anything: there is no one to be fair to, whatever the loop's lag (a single
    load generator measuring the whole service is never slowed)."""
    lag, clock = [1.0], _Clock()
    p = _pacer(lag, clock)
    p.admitted("alone", 10_000)
    assert [p.delay("alone") for _ in range(5)] == [0.0] * 5
    p.admitted("other", 5)
    assert p.delay("alone") > 0  # someone else is here now
    clock.t += 60  # the other's admissions decay away (half-life 1 s)
    p.admitted("alone", 10)
    assert not p.dominant("alone") and p.delay("alone") == 0.0


def test_admissions_decay_and_the_pacer_is_bounded() -> None:
    """Shares are over recent admissions (half-life): a client dominant a minute ago is not now; the
    client map is bounded by max_clients; a pacer that is off never paces."""
    lag, clock = [1.0], _Clock()
    p = _pacer(lag, clock, max_clients=3)
    p.admitted("old", 1000)
    p.admitted("new", 10)
    assert p.dominant("old")
    clock.t += 20
    p.admitted("new", 10)
    assert not p.dominant("old") and p.dominant("new") is False  # "new" alone now: no one else recent
    for k in range(10):
        p.admitted(f"c{k}", 1)
    assert len(p._counts) == 3
    off = FloodPacer(lambda: True, enabled=False)
    off.admitted("a", 1000)
    off.admitted("b", 1)
    assert not off.enabled and off.delay("a") == 0.0
