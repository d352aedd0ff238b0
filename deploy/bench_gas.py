"""Gas of posting windows: `python -m deploy.bench_gas [--windows N] [--txs-per-slot K] ...`.

Starts a local anvil, deploys the contracts (deploy_all), runs a sequencer in-process whose domain
is the inbox, submits EIP-1559 / legacy transfers to three rollups (OP Stack, Nitro, zkEVM, block
time 1000 ms), runs the batcher until N windows are posted, and prints gas per window, per posted
shared block and per byte of batch data (and of calldata). With --blobs (default) it runs the same
traffic again with the batcher's use_blobs and prints one more line: gas and blob gas per window of
the EIP-4844 postings (postWindowBlobs). With --proofs (default) it ends with the gas of every
SequencerBond proof (commit, reveal, claim; deploy/bench_proofs.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from eth_account import Account
from web3 import Web3

from deploy.bench_proofs import measure_proofs
from deploy.deployer import deploy_all
from sequencer.config import parse_config
from sequencer.core.types import Transaction
from sequencer.devtools.anvil import start_anvil
from sequencer.errors import SharedSeqError
from sequencer.keys import write_key
from sequencer.l1.batcher import Batcher, BatcherConfig, PostResult
from sequencer.server import running

ROLLUPS = [
    {"id": 901, "name": "op", "format": "opstack", "block_time_ms": 1000},
    {"id": 902, "name": "nitro", "format": "nitro", "block_time_ms": 1000},
    {"id": 903, "name": "zkevm", "format": "zkevm", "block_time_ms": 1000},
]


def _transfer(acct: Account, chain_id: int, nonce: int) -> bytes:
    tx = {"nonce": nonce, "gas": 21000, "to": "0x" + "22" * 20, "value": nonce + 1, "chainId": chain_id}
    if chain_id == 903:
        tx["gasPrice"] = 10**9
    else:
        tx |= {"type": 2, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}
    return bytes(acct.sign_transaction(tx).raw_transaction)


async def bench(args: argparse.Namespace, use_blobs: bool = False) -> list[PostResult]:
    with tempfile.TemporaryDirectory(prefix="bench-gas-") as tmpdir, start_anvil() as anvil:
        tmp = Path(tmpdir)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        owner, seq, poster = anvil.accounts[:3]
        manifest = deploy_all(w3, owner.key, {"sequencer": {"address": seq.address},
                                              "batcher": {"address": poster.address}, "rollups": ROLLUPS})
        inbox = manifest.address("SequencerInbox")
        write_key(tmp / "seq.key", seq.key)
        doc = {
            "sequencer": {"listen": "127.0.0.1:0", "data_dir": str(tmp / "data"), "key_file": str(tmp / "seq.key"),
                          "metrics_listen": "", "slot_ms": args.slot_ms, "log_format": "text"},
            "domain": {"chain_id": anvil.chain_id, "verifying_contract": inbox},
            "rollups": ROLLUPS,
            "l1": {"rpc_url": anvil.url, "inbox": inbox, "poll_ms": 200},
        }
        users: dict[int, Any] = {int(str(r["id"])): Account.create() for r in ROLLUPS}
        nonces = dict.fromkeys(users, 0)
        async with running(parse_config(doc, tmp)) as srv, anyio.create_task_group() as tg:

            async def traffic() -> None:
                while True:
                    for _ in range(args.txs_per_slot):
                        for rid, acct in users.items():
                            try:
                                srv.node.admit_transaction(Transaction(rid, _transfer(acct, rid, nonces[rid])))
                                nonces[rid] += 1
                            except SharedSeqError:
                                pass
                    await anyio.sleep(args.slot_ms / 1000)

            tg.start_soon(traffic)
            cfg = BatcherConfig(srv.address, anvil.url, inbox, poster.key, seq.key, window_ms=args.window_ms,
                                max_window_bytes=args.max_window_bytes, poll_ms=50, use_blobs=use_blobs)
            batcher = Batcher(cfg)
            await tg.start(batcher.run)
            deadline = time.monotonic() + args.timeout
            while len(batcher.posted) < args.windows:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(batcher.posted)} windows posted in {args.timeout}s")
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        return batcher.posted[: args.windows]


def report(posted: list[PostResult], args: argparse.Namespace) -> dict:
    print(f"{'window':>6} {'blocks':>6} {'batch B':>8} {'calldata B':>10} {'gas':>9} {'gas/block':>9} "
          f"{'gas/batch B':>11}")
    for p in posted:
        n = p.last_height - p.first_height + 1
        print(f"{p.window_index:>6} {n:>6} {p.batch_bytes:>8} {p.calldata_bytes:>10} {p.gas_used:>9} "
              f"{p.gas_used / n:>9.0f} {p.gas_used / max(p.batch_bytes, 1):>11.1f}")
    blocks = sum(p.last_height - p.first_height + 1 for p in posted)
    gas = sum(p.gas_used for p in posted)
    batch = sum(p.batch_bytes for p in posted)
    data = sum(p.calldata_bytes for p in posted)
    summary = {
        "windows": len(posted), "shared_blocks": blocks, "batch_bytes": batch, "calldata_bytes": data, "gas": gas,
        "gas_per_window": round(gas / len(posted)), "gas_per_block": round(gas / blocks, 1),
        "gas_per_batch_byte": round(gas / max(batch, 1), 2), "gas_per_calldata_byte": round(gas / max(data, 1), 2),
        "slot_ms": args.slot_ms, "window_ms": args.window_ms, "txs_per_slot_per_rollup": args.txs_per_slot,
    }
    print(json.dumps(summary))
    return summary


def report_blobs(posted: list[PostResult]) -> dict:
    """One line for the blob postings: gas (execution) and blob gas per window."""
    n = len(posted)
    summary = {
        "blob_windows": n, "gas_per_window": round(sum(p.gas_used for p in posted) / n),
        "blob_gas_per_window": round(sum(p.blob_gas_used for p in posted) / n),
        "blobs_per_window": round(sum(p.blob_count for p in posted) / n, 2),
        "batch_bytes_per_window": round(sum(p.batch_bytes for p in posted) / n),
        "calldata_bytes_per_window": round(sum(p.calldata_bytes for p in posted) / n),
    }
    print("blobs:", json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deploy.bench_gas", description=__doc__)
    ap.add_argument("--windows", type=int, default=10, help="windows to post (after the first)")
    ap.add_argument("--slot-ms", type=int, default=50)
    ap.add_argument("--window-ms", type=int, default=1000)
    ap.add_argument("--max-window-bytes", type=int, default=100_000)
    ap.add_argument("--txs-per-slot", type=int, default=2, help="transfers per slot and rollup")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--blobs", action=argparse.BooleanOptionalAction, default=True,
                    help="also post the same traffic as EIP-4844 blobs and print their gas and blob gas")
    ap.add_argument("--proofs", action=argparse.BooleanOptionalAction, default=True,
                    help="also print the gas of every SequencerBond proof (deploy/bench_proofs.py)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # The first window starts at block 0 mid-second and holds fewer blocks: post one more and drop it.
    args.windows += 1
    posted = anyio.run(bench, args, backend="asyncio")[1:]
    blob_posted = anyio.run(bench, args, True, backend="asyncio")[1:] if args.blobs else []
    args.windows -= 1
    report(posted, args)
    if blob_posted:
        report_blobs(blob_posted)
    if args.proofs:
        print("proofs:", json.dumps(measure_proofs()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
