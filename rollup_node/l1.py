"""What the rollup nodes read from L1, through the one L1 layer (sequencer/l1: L1Client, InboxReader,
PostedWindow): the forced-inclusion queue, the postings, the rollup's spec and the sequencer's keys.

Postings come from sequencer.l1.reader.InboxReader.windows: each WindowPosted event with its
signature, witness and batches from the posting's calldata (a direct call to the inbox, or the inbox
call inside a contract poster's transaction, found with the callTracer), or from its blobs, every
batch checked against the hash the event recorded.

Keys (docs/settlement.md section 2): a key's SequencerKeys record is read once and re-read when
it may have changed (a key is retired, never deleted, and its other fields never change), and the
checks are pure functions of the record:
- `may_sign_window`: the inbox's canSign at the posting's L1 block (registered, active from that
  block, not retired before it, first height at or above the key's first height);
- `accountable_for`: SequencerKeys.accountable at the L1 head (a signature by the key about that
  height is the sequencer's, so a lie in it is slashable).

Asyncio only (issue 10 item 5): every read goes through L1Client (aiohttp).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_utils import to_checksum_address

from rollup_adapters.derivation import ForcedTx
from sequencer.core.types import RollupId
from sequencer.errors import NotFound
from sequencer.l1.client import L1Client
from sequencer.l1.inbox import L1DataError, PostedWindow
from sequencer.l1.reader import InboxReader

from .errors import NodeConfigError, VerificationError

__all__ = ["ForcedQueue", "KeyRecord", "KeyBook", "L1DataError", "NodeL1", "PostedWindow", "accountable_for",
           "may_sign_window"]

KEY_REFRESH_S = 1.0
"""How long a key record read from L1 is used before it is read again (only retirement changes it)."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """SequencerKeys.Key of one address (all zero: never registered)."""

    address: str
    first_height: int
    added_at: int
    active_from: int
    retired_at: int
    retired_height: int
    accountable_until: int

    @property
    def registered(self) -> bool:
        return self.added_at != 0


def may_sign_window(k: KeyRecord, first_height: int, last_height: int, l1_block: int) -> bool:
    """SequencerKeys.canSign(key, first, last) as it stood when the posting landed in L1 block `l1_block`."""
    return (k.registered and k.active_from <= l1_block and (k.retired_at == 0 or k.retired_at >= l1_block)
            and first_height >= k.first_height and last_height >= first_height)


def accountable_for(k: KeyRecord, height: int, l1_head: int) -> bool:
    """SequencerKeys.accountable(key, height) at L1 block `l1_head`."""
    if not k.registered or height < k.first_height:
        return False
    return k.retired_at == 0 or l1_head <= k.accountable_until


class NodeL1:
    """One node's view of L1: an L1Client and the InboxReader over it (closed with `close()`)."""

    def __init__(self, rpc_url: str, inbox: str) -> None:
        self.client = L1Client(rpc_url, timeout_s=10)
        self.reader = InboxReader(self.client, inbox)
        self.address = self.reader.address

    async def close(self) -> None:
        await self.client.close()

    async def head(self) -> int:
        return await self.reader.head()

    async def rollup_spec(self, rollup_id: RollupId) -> tuple[str, int, int]:
        """(format, block_time_ms, genesis_time_ms) from the RollupRegistry behind the inbox. No contract
        at the inbox address, or a rollup the registry does not know, is a NodeConfigError."""
        try:
            return await self.reader.rollup_spec(rollup_id)
        except NotFound as exc:
            raise NodeConfigError(str(exc)) from exc

    async def windows(self, from_block: int, to_block: int) -> list[PostedWindow]:
        try:
            return await self.reader.windows(from_block, to_block)
        except L1DataError as exc:
            raise VerificationError(str(exc)) from exc

    async def forced_txs(self, rollup_id: RollupId, from_block: int, to_block: int) -> list[ForcedTx]:
        try:
            return await self.reader.forced_txs(rollup_id, from_block, to_block)
        except L1DataError as exc:
            raise VerificationError(str(exc)) from exc


class KeyBook:
    """The sequencer's key records from the SequencerKeys contract the inbox names (`keys()`)."""

    def __init__(self, l1: NodeL1, refresh_s: float = KEY_REFRESH_S) -> None:
        self.l1 = l1
        self.refresh_s = refresh_s
        self.keys_address: str | None = None
        self._records: dict[str, tuple[float, KeyRecord]] = {}

    async def record(self, address: bytes | str, *, fresh: bool = False) -> KeyRecord:
        """The key's record, read again if older than `refresh_s` (or `fresh`)."""
        addr = to_checksum_address(address)
        cached = self._records.get(addr)
        if cached is not None and not fresh and time.monotonic() - cached[0] < self.refresh_s:
            return cached[1]
        if self.keys_address is None:
            self.keys_address = str(await self.l1.reader.view("keys"))
        k = await self.l1.reader.view("keyInfo", addr, contract="SequencerKeys", address=self.keys_address)
        rec = KeyRecord(addr, int(k["firstHeight"]), int(k["addedAt"]), int(k["activeFrom"]), int(k["retiredAt"]),
                        int(k["retiredHeight"]), int(k["accountableUntil"]))
        self._records[addr] = (time.monotonic(), rec)
        return rec


class ForcedQueue:
    """One rollup's forced-inclusion queue, read from L1 as far as needed (rule F needs every entry
    enqueued at or before a block's L1 origin) and checked to be gap-free (seq 0, 1, 2, ...)."""

    def __init__(self, l1: NodeL1 | None, rollup_id: RollupId) -> None:
        self.l1 = l1
        self.rollup_id = rollup_id
        self.items: list[ForcedTx] = []
        self.read_through = -1

    async def read_to(self, l1_block: int) -> list[ForcedTx]:
        """Make sure every event up to L1 block `l1_block` is read; return the queue."""
        if self.l1 is None or l1_block <= self.read_through:
            return self.items
        for f in await self.l1.forced_txs(self.rollup_id, self.read_through + 1, l1_block):
            if f.seq != len(self.items):
                raise VerificationError(f"forced queue of rollup {self.rollup_id}: seq {f.seq} at position "
                                        f"{len(self.items)}")
            self.items.append(f)
        self.read_through = l1_block
        return self.items
