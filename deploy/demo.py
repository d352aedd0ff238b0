"""Demo traffic for a running devnet: transfers, a contract deployed and called, and an atomic
cross-rollup bundle, on all three rollups; prints what happened and checks it on each rollup's
execution engine. Exit code 0 only if every check passed.

    sharedseq demo --endpoints var/devnet/endpoints.json
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from rollup_adapters.registry import get_spec
from sequencer.core.evm_tx import LEGACY
from sequencer.core.policy import make_policy
from sequencer.core.signing import Domain, InvalidSignature, verify_receipt
from sequencer.devtools.anvil import dev_accounts
from sequencer.service.convert import receipt_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

STORE_INIT_CODE = bytes.fromhex("6007600c60003960076000f3" + "60003560005500")
"""A tiny contract whose runtime stores its first calldata word at slot 0: `sstore(0, calldataload(0))`."""
USER = 5
"""The dev account the demo spends from (funded on every rollup's engine)."""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class Rollup:
    def __init__(self, rid: int, node_url: str) -> None:
        self.rid = rid
        self.node_url = node_url
        status = _get(node_url + "/status")
        self.format = status["format"]
        # The envelopes the format's default policy admits: a legacy-only format (zkEVM) gets legacy txs.
        policy = make_policy(get_spec(self.format).default_policy, rid)
        self.legacy_only = getattr(policy, "allowed_types", None) == frozenset({LEGACY})
        self.w3 = Web3(Web3.HTTPProvider(status["engine_url"]))
        self.account = Account.from_key(dev_accounts()[USER].key)
        self.nonce: int = int(self.w3.eth.get_transaction_count(self.account.address))

    def tx(self, *, to: str | None, value: int = 0, data: bytes = b"", gas: int = 21_000) -> bytes:
        tx: dict[str, Any] = {"nonce": self.nonce, "gas": gas, "value": value, "data": data, "chainId": self.rid}
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        if self.legacy_only:
            tx["gasPrice"] = 2 * 10**9
        else:
            tx.update(type=2, maxFeePerGas=2 * 10**9, maxPriorityFeePerGas=10**9)
        self.nonce += 1
        return bytes(self.account.sign_transaction(tx).raw_transaction)

    def wait_receipt(self, tx_hash: bytes, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except Exception:  # not mined yet
                time.sleep(0.2)
        raise TimeoutError(f"rollup {self.rid}: tx 0x{tx_hash.hex()} not executed within {timeout}s")


def run_demo(endpoints: dict[str, Any], say: Any = print) -> bool:
    ok = True

    def check(cond: bool, what: str) -> None:
        nonlocal ok
        ok &= cond
        say(f"  {'ok  ' if cond else 'FAIL'} {what}")

    rollups = [Rollup(int(rid), url) for rid, url in sorted(endpoints["nodes"].items())]
    with grpc.insecure_channel(endpoints["sequencer"]) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)

        info = stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=10)
        domain = Domain(info.domain_chain_id, bytes(info.domain_verifying_contract))

        def verified(receipt: pb.Receipt) -> bool:
            """The receipt's batch signature is the sequencer's (docs/api.md, "Verifying a receipt")."""
            try:
                return verify_receipt(domain, receipt_from_proto(receipt)) == bytes(info.sequencer_address)
            except InvalidSignature:
                return False

        def submit(r: Rollup, payload: bytes) -> pb.Receipt:
            receipt = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                transaction=pb.Transaction(rollup_id=r.rid, payload=payload)), timeout=10).receipt
            check(verified(receipt), f"rollup {r.rid}: receipt signed by the sequencer "
                                     f"(leaf {receipt.leaf_index} of a batch of {receipt.batch_count})")
            return receipt

        say("transfers:")
        for r in rollups:
            dest = "0x" + secrets.token_hex(20)
            receipt = submit(r, r.tx(to=dest, value=10**18))
            say(f"  rollup {r.rid} ({r.format}): preconfirmed at shared height {receipt.height} index {receipt.index}")
            rcpt = r.wait_receipt(receipt.tx_hash)
            check(rcpt.status == 1 and r.w3.eth.get_balance(Web3.to_checksum_address(dest)) == 10**18,
                  f"rollup {r.rid}: 1 ETH arrived at {dest} (rollup block {rcpt.blockNumber})")

        say("contracts:")
        for r in rollups:
            deploy_receipt = submit(r, r.tx(to=None, data=STORE_INIT_CODE, gas=200_000))
            created = r.wait_receipt(deploy_receipt.tx_hash)
            address = created.contractAddress
            value = secrets.randbits(64)
            call = submit(r, r.tx(to=address, data=value.to_bytes(32, "big"), gas=100_000))
            called = r.wait_receipt(call.tx_hash)
            stored = int.from_bytes(r.w3.eth.get_storage_at(address, 0), "big")
            check(created.status == 1 and called.status == 1 and stored == value,
                  f"rollup {r.rid}: contract at {address} deployed and called, slot 0 = {stored}")

        say("atomic bundle across all rollups:")
        dests = ["0x" + secrets.token_hex(20) for _ in rollups]
        legs = [pb.Transaction(rollup_id=r.rid, payload=r.tx(to=d, value=7))
                for r, d in zip(rollups, dests, strict=True)]
        resp = stub.SubmitBundle(pb.SubmitBundleRequest(bundle=pb.Bundle(legs=legs)), timeout=10)
        heights = {x.height for x in resp.receipts}
        check(all(verified(x) for x in resp.receipts), "every leg's receipt signed by the sequencer")
        where = ", ".join(str(h) for h in sorted(heights))
        say(f"  bundle 0x{resp.bundle_hash.hex()[:16]}… preconfirmed: legs at shared height {where}")
        times = set()
        for r, x, d in zip(rollups, resp.receipts, dests, strict=True):
            rcpt = r.wait_receipt(x.tx_hash)
            ts = r.w3.eth.get_block(rcpt.blockNumber)["timestamp"]
            times.add(ts)
            check(rcpt.status == 1 and r.w3.eth.get_balance(Web3.to_checksum_address(d)) == 7,
                  f"rollup {r.rid}: leg executed in rollup block {rcpt.blockNumber} (t={ts})")
        check(len(heights) == 1, "all legs in one shared block")
        block = stub.GetBlock(pb.GetBlockRequest(height=min(heights)), timeout=10).block
        shared_s = block.signed_header.header.timestamp_ms // 1000
        check(times == {shared_s}, f"every leg executed in the rollup block covering shared time {shared_s}")
    if endpoints.get("margin"):
        from deploy.margin_demo import run_margin_demo

        run_margin_demo(endpoints, say, check)
    say("demo " + ("succeeded" if ok else "FAILED"))
    return ok


def main_demo(endpoints_file: str) -> int:
    try:
        endpoints = json.loads(Path(endpoints_file).read_text())
    except (OSError, ValueError) as exc:
        print(f"demo: cannot read {endpoints_file} ({exc}); is the devnet running (make run)?", file=sys.stderr)
        return 1
    try:
        return 0 if run_demo(endpoints, say=lambda s: print(s, flush=True)) else 1
    except grpc.RpcError as exc:
        print(f"demo failed: sequencer {endpoints.get('sequencer')}: {exc.code().name}: {exc.details()}",
              file=sys.stderr)
    except (TimeoutError, OSError) as exc:
        print(f"demo failed: {exc} (is the devnet at {endpoints_file} still running?)", file=sys.stderr)
    return 1
