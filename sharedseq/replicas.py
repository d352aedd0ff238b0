"""A client for a replicated sequencer: every replica's address, one leader at a time (issue 12).

The client rule (docs/replication.md): submit to the leader; a follower answers UNAVAILABLE naming
it ("submit to the leader at HOST:PORT"), a replica with no leader yet or an unreachable one
UNAVAILABLE without a name: then try the next address after a short pause. A resubmission of the
same bytes is idempotent (admission dedupes by rollup and hash and answers the original receipt),
so retrying a call whose answer was lost never places a transaction twice. Subscriptions move to the
next replica at the next height, and the first block there must link to the last one received.

Built on `sharedseq.client.Client` (one per address), whose receipt and header checks apply.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from sequencer.core.signing import Domain
from sequencer.core.types import Receipt

from .client import Client, ResourceExhausted, Unavailable, VerificationError, VerifiedBlock

T = TypeVar("T")
LEADER_AT = re.compile(r"submit to the leader at (\S+)")


class ReplicaClient:
    """`addresses`: every replica's gRPC address. `deadline_s`: how long one call may keep trying
    (a failover takes about the lease TTL, 1 s by default)."""

    def __init__(self, addresses: Sequence[str], *, sequencer: bytes | None = None, domain: Domain | None = None,
                 timeout: float = 5.0, deadline_s: float = 15.0, pause_s: float = 0.1) -> None:
        if not addresses:
            raise ValueError("ReplicaClient needs at least one address")
        self.addresses = list(addresses)
        self.sequencer, self.domain = sequencer, domain
        self.timeout, self.deadline_s, self.pause_s = timeout, deadline_s, pause_s
        self.leader = self.addresses[0]
        self._clients: dict[str, Client] = {}

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def __enter__(self) -> ReplicaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self, address: str) -> Client:
        c = self._clients.get(address)
        if c is None:
            c = Client(address, sequencer=self.sequencer, domain=self.domain, timeout=self.timeout)
            # Every replica signs with the one key: the first one's identity is checked on the others.
            self.sequencer, self.domain = c.sequencer, c.domain
            self._clients[address] = c
        return c

    def _next(self, after: str) -> str:
        return self.addresses[(self.addresses.index(after) + 1) % len(self.addresses)] \
            if after in self.addresses else self.addresses[0]

    def _on_leader(self, call: Callable[[Client], T]) -> T:
        deadline = time.monotonic() + self.deadline_s
        while True:
            address = self.leader
            try:
                return call(self.client(address))
            except (Unavailable, ResourceExhausted) as exc:
                if time.monotonic() > deadline:
                    raise
                named = LEADER_AT.search(exc.details or "")
                if named and named[1] != address:
                    self.leader = named[1] if named[1] in self.addresses else self._next(address)
                    continue
                self.leader = self._next(address)
                time.sleep(self.pause_s)

    def submit_transaction(self, rollup_id: int, payload: bytes) -> Receipt:
        return self._on_leader(lambda c: c.submit_transaction(rollup_id, payload))

    def submit_bundle(self, legs: Sequence[tuple[int, bytes]]) -> list[Receipt]:
        return self._on_leader(lambda c: c.submit_bundle(legs))

    def subscribe(self, rollup_id: int, from_height: int = 0) -> Iterator[VerifiedBlock]:
        """Rollup `rollup_id`'s verified blocks from `from_height`, in order, from any replica (followers
        serve them), moving on to the next replica when one goes away; never a gap or a repeat."""
        next_height, last_hash = from_height, None
        address = self.leader
        deadline = time.monotonic() + self.deadline_s
        while True:
            try:
                for b in self.client(address).subscribe(rollup_id, next_height, max_retries=0):
                    parent = bytes(b.message.signed_header.header.parent_hash)
                    if last_hash is not None and b.height == next_height and parent != last_hash:
                        raise VerificationError(f"block {b.height} from {address} does not link to block "
                                                f"{b.height - 1} from the replica before")
                    next_height, last_hash = b.height + 1, b.block_hash
                    deadline = time.monotonic() + self.deadline_s
                    yield b
                return
            except (Unavailable, ResourceExhausted):
                if time.monotonic() > deadline:
                    raise
                address = self._next(address)
                time.sleep(self.pause_s)
