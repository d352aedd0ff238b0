"""The margin coordinator: a thin async shell around `decide` (docs/margin.md).

Run by the sequencer operator with the sequencer's key. Each round it reads the Pending and
Finalized events of the margin contracts from every rollup's engine (JSON-RPC eth_getLogs on
127.0.0.1), asks `decide` what to do with each bundle id, signs BundleOutcome(bundleId, commit)
with the sequencer key under the sequencer's EIP-712 domain, and submits one finalize transaction
per pending leg, all in one bundle through the sequencer's gRPC API (so every rollup receives the
outcome at the same shared height). A decision is written to `decisions_file` before it is
submitted and never changes, so a restart re-submits the same outcome, never the opposite one.
Submissions that do not show up on the engines within `retry_s` are sent again (the sequencer may
have been down); the relayer's nonces are re-read from the engines first.

Key rotation (docs/margin.md): the contracts accept outcomes signed by a key their rollup's
SequencerKeyMirror holds current. After a rotation the operator restarts the coordinator with the
new key; a decision taken before is re-signed with it (the same outcome, so no equivocation). An
outcome is never sent while some leg's mirror does not hold the key current (it would be refused
there and applied elsewhere): the coordinator waits, and the bundle aborts at its timeout if the
key never becomes current.

Asyncio only (issue 10 item 5): it submits its outcomes over grpc.aio (web3's HTTP calls run in threads).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import grpc
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from sequencer.core.signing import Signer
from sequencer.errors import BadInput
from sharedseq.margin import (
    MarginDeployment,
    RollupAccount,
    abort_expired_calldata,
    calldata,
    finalize_calldata,
    outcome_struct_hash,
)
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

from .decide import LEG_BITS, BundleState, Decision, LegRecord, decide

log = logging.getLogger("sharedseq.margin.coordinator")

PENDING_TOPIC = keccak(b"Pending(bytes32,uint8,uint8)")
FINALIZED_TOPIC = keccak(b"Finalized(bytes32,bool,bool)")


@dataclass
class _Bundle:
    legs: int
    pending: dict[int, LegRecord] = field(default_factory=dict)
    finalized: set[int] = field(default_factory=set)
    submitted_at: float | None = None


class Coordinator:
    """Watches the margin contracts on every rollup and finalises their bundles."""

    def __init__(self, deployment: MarginDeployment, engines: Mapping[int, str], sequencer: str, signer: Signer,
                 relayer_key: bytes, *, timeout_blocks: int, poll_s: float = 0.1, grace_s: int = 2,
                 safety_blocks: int = 3, retry_s: float = 3.0, decisions_file: Path | None = None,
                 legacy_rollups: tuple[int, ...] = (903,)) -> None:
        if not deployment.key_mirrors:
            raise BadInput("the margin deployment has no key mirrors (deployed before key rotation; redeploy)")
        self.d = deployment
        self.w3 = {rid: Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5})) for rid, url in engines.items()}
        self.sequencer = sequencer
        self.signer = signer
        self.relayer = RollupAccount(relayer_key)
        self.timeout_blocks = timeout_blocks
        self.poll_s, self.grace_s, self.safety_blocks, self.retry_s = poll_s, grace_s, safety_blocks, retry_s
        self.decisions_file = decisions_file
        self.legacy = legacy_rollups
        self.rollup_of = {b: deployment.rollup_of(b) for b in LEG_BITS}
        self.bit_of = {(deployment.rollup_of(b), deployment.contract_of(b).lower()): b for b in LEG_BITS}
        self.bundles: dict[bytes, _Bundle] = {}
        self.decided: dict[bytes, bool] = {}
        self.scanned: dict[int, int] = {rid: 0 for rid in self.w3}
        self.submissions = 0
        self.key = to_checksum_address(signer.address)
        self.key_refused = 0
        """Outcomes held back because a leg's key mirror does not hold the coordinator's key current."""
        if decisions_file is not None and decisions_file.exists():
            for line in decisions_file.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.decided[bytes.fromhex(rec["bundle_id"])] = bool(rec["commit"])

    # ------------------------------------------------------------------ reading the engines

    def scan(self) -> tuple[dict[int, int], dict[int, int]]:
        """Read new events from every engine; return (head block, head timestamp) per rollup."""
        heads, stamps = {}, {}
        for rid, w3 in self.w3.items():
            head = w3.eth.get_block("latest")
            heads[rid], stamps[rid] = int(head["number"]), int(head["timestamp"])
            start = self.scanned[rid] + 1
            if start > heads[rid]:
                continue
            addresses = [to_checksum_address(a) for (r, a) in self.bit_of if r == rid]
            logs = w3.eth.get_logs({"fromBlock": start, "toBlock": heads[rid], "address": addresses,
                                    "topics": [["0x" + PENDING_TOPIC.hex(), "0x" + FINALIZED_TOPIC.hex()]]})
            times: dict[int, int] = {}
            for entry in logs:
                bit = self.bit_of[(rid, str(entry["address"]).lower())]
                bundle_id = bytes(entry["topics"][1])
                data = bytes(entry["data"])
                if bytes(entry["topics"][0]) == PENDING_TOPIC:
                    legs = int.from_bytes(data[0:32], "big")
                    n = int(entry["blockNumber"])
                    if n not in times:
                        times[n] = int(w3.eth.get_block(n)["timestamp"])
                    b = self.bundles.setdefault(bundle_id, _Bundle(legs))
                    b.pending[bit] = LegRecord(bit, rid, n, times[n])
                else:
                    self.bundles.setdefault(bundle_id, _Bundle(0)).finalized.add(bit)
            self.scanned[rid] = heads[rid]
        return heads, stamps

    def decisions(self, heads: Mapping[int, int], stamps: Mapping[int, int], now: float) -> list[Decision]:
        out = []
        for bundle_id, b in list(self.bundles.items()):
            state = BundleState(bundle_id, b.legs, dict(b.pending), frozenset(b.finalized))
            d = decide(state, head_block=heads, head_ts=stamps, rollup_of=self.rollup_of,
                       timeout_blocks=self.timeout_blocks, grace_s=self.grace_s, safety_blocks=self.safety_blocks,
                       decided=self.decided.get(bundle_id))
            if d is None:
                if b.pending and all(x in b.finalized for x in b.pending):
                    del self.bundles[bundle_id]  # done: every pending leg is final
                continue
            if b.submitted_at is not None and now - b.submitted_at < self.retry_s:
                continue
            out.append(d)
        return out

    def record(self, d: Decision) -> None:
        """Make the decision durable before anything is signed for it."""
        if d.bundle_id in self.decided:
            assert self.decided[d.bundle_id] == d.commit, "a decision never changes"
            return
        self.decided[d.bundle_id] = d.commit
        if self.decisions_file is not None:
            with self.decisions_file.open("a") as f:
                f.write(json.dumps({"bundle_id": d.bundle_id.hex(), "commit": d.commit}) + "\n")
                f.flush()

    def key_current(self, rollups: set[int]) -> bool:
        """Whether every rollup in `rollups` accepts outcomes signed by the coordinator's key now."""
        data = calldata("isCurrent(address)", ["address"], [self.key])
        for rid in sorted(rollups):
            raw = self.w3[rid].eth.call({"to": to_checksum_address(self.d.key_mirrors[rid]), "data": data})
            if int.from_bytes(bytes(raw), "big") != 1:
                return False
        return True

    def finalize_legs(self, d: Decision) -> list[tuple[int, bytes]]:
        if d.expired:
            data = abort_expired_calldata(d.bundle_id)
        else:
            sig = self.signer.sign_struct(outcome_struct_hash(d.bundle_id, d.commit))
            data = finalize_calldata(d.bundle_id, d.commit, sig)
        out = []
        for bit in d.bits:
            rid = self.rollup_of[bit]
            out.append((rid, self.relayer.sign(rid, self.w3[rid], to=self.d.contract_of(bit), data=data,
                                               gas=300_000, legacy=rid in self.legacy)))
        return out

    # ------------------------------------------------------------------ the loop

    async def step(self, stub: Any) -> int:
        """One round: scan, decide, submit; returns how many outcomes were submitted."""
        heads, stamps = await anyio.to_thread.run_sync(self.scan)
        now = time.monotonic()
        sent = 0
        for d in self.decisions(heads, stamps, now):
            b = self.bundles[d.bundle_id]
            if b.submitted_at is not None:
                self.relayer.resync()  # a retry: the earlier transactions may never have landed
            if not d.expired:
                rollups = {self.rollup_of[bit] for bit in d.bits}
                if not await anyio.to_thread.run_sync(self.key_current, rollups):
                    self.key_refused += 1
                    log.warning("bundle 0x%s: key %s is not current on every leg's key mirror; outcome held "
                                "back (rotated? restart the coordinator with the current key)",
                                d.bundle_id.hex()[:16], self.key)
                    b.submitted_at = now  # ask again after retry_s
                    continue
                self.record(d)
            legs = await anyio.to_thread.run_sync(self.finalize_legs, d)
            try:
                if len(legs) == 1:
                    await stub.SubmitTransaction(pb.SubmitTransactionRequest(
                        transaction=pb.Transaction(rollup_id=legs[0][0], payload=legs[0][1])), timeout=5)
                else:
                    await stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(
                        legs=[pb.Transaction(rollup_id=r, payload=p) for r, p in legs])), timeout=5)
            except grpc.aio.AioRpcError as exc:
                log.warning("outcome for bundle 0x%s not submitted (%s: %s); retrying", d.bundle_id.hex()[:16],
                            exc.code().name, exc.details())
                self.relayer.resync()
                b.submitted_at = now
                continue
            b.submitted_at = now
            self.submissions += 1
            sent += 1
            log.info("bundle 0x%s: %s submitted to legs %s", d.bundle_id.hex()[:16],
                     "abortExpired" if d.expired else "commit" if d.commit else "abort", d.bits)
        return sent

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        async with grpc.aio.insecure_channel(self.sequencer) as ch:
            stub = pb_grpc.SequencerServiceStub(ch)
            task_status.started(self)
            while True:
                try:
                    await self.step(stub)
                except (OSError, ValueError) as exc:  # an engine briefly unreachable; next round retries
                    log.warning("coordinator round failed: %s", exc)
                await anyio.sleep(self.poll_s)
