"""Firm nodes against a hostile sequencer, poster and user (issue 8), on one anvil L1 with the real
contracts. The test plays the sequencer itself: it builds shared blocks, signs them and their
posting windows with the devnet's real sequencer key (sequencer.core.window), and posts them, so it
can sign exactly what an attacker would. One chain of windows, three firm nodes (OP Stack, Nitro,
zkEVM):

    window 0  honest, posted through a forwarding contract (a multisig-like poster): read from the
              call trace and executed;
    window 1  a forced transaction (and a junk one) enqueued; a window whose origin stays stale
              beyond the lag is refused by the inbox, so the next posting must reach the entries,
              and every firm node applies the valid one (the junk one skipped) at the first block
              whose signed origin reaches its enqueue block;
    window 2  signed by the real key, but each rollup's batch contradicts the signed headers (a
              transaction added, one withheld, one moved): every firm node refuses it, naming the
              window and the rollup block, and executes nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread
import pytest
from eth_utils import keccak, to_checksum_address
from rollup_testkit import L1_CHAIN_ID, ROLLUPS, Devnet, devnet, engine_w3, rollup_tx, wait_until
from web3.exceptions import ContractCustomError

from deploy.deployer import Sender, contract_at
from rollup_adapters.base import RollupBlock, RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import Cursor, ForcedTx, encode_window_batch, place_forced
from rollup_node.errors import VerificationError
from rollup_node.node import NodeConfig, RollupNode
from sequencer.core.commitments import bundles_root, namespaces_root
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.core.window import build_window, encode_witness, window_struct_hash
from sequencer.devtools.anvil import dev_accounts
from sequencer.keys import read_key
from sequencer.l1.inbox import calldata, revert_name, window_tuple

pytestmark = pytest.mark.anyio

FORMATS = {r["id"]: r["format"] for r in ROLLUPS}
SINK = "0x" + "22" * 20
FORCED_SINK = "0x" + "33" * 20


def forwarder_init_code(target: str) -> bytes:
    """A contract poster: its runtime CALLs `target` with its own calldata and bubbles the result up
    (reverts with the callee's revert data), like a multisig executing a posting."""
    runtime = bytes.fromhex(
        "36600060003760006000366000600073" + target[2:].lower() + "5af1"  # calldatacopy; call(gas, target, ...)
        "3d600060003e" "603357" "3d6000fd" "5b3d6000f3")  # returndatacopy; jumpi ok; revert; ok: return
    assert runtime[0x33] == 0x5B  # the jump target is the JUMPDEST
    return bytes.fromhex(f"60{len(runtime):02x}600c60003960{len(runtime):02x}6000f3") + runtime


class HostileSequencer:
    """Shared blocks and posting windows signed with the devnet's sequencer key, built by hand."""

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.signer = Signer(read_key(net.cfg.key_file), Domain(L1_CHAIN_ID, bytes.fromhex(net.inbox[2:])))
        self.inbox = contract_at(net.w3, "SequencerInbox", net.inbox)
        self.poster = Sender(net.w3, dev_accounts()[0].key)
        self.parent = ZERO_HASH
        self.height = 0
        self.cursors: dict[int, Cursor] = {}
        self.nonces = dict.fromkeys(FORMATS, 0)

    def origin(self, number: int | None = None) -> tuple[int, bytes]:
        """An L1 block as origin (default: the one before the head; estimates run at the head's number)."""
        block = self.net.w3.eth.get_block(self.net.w3.eth.block_number - 1 if number is None else number)
        return int(block["number"]), bytes(block["hash"])

    def blocks(self, second: int, count: int, origin: tuple[int, bytes], txs_per_block: int = 1) -> list[SharedBlock]:
        """`count` shared blocks inside second `second` (Unix s), each with transfers on every rollup."""
        out = []
        for i in range(count):
            namespaces = []
            for rid in sorted(FORMATS):
                txs = []
                for _ in range(txs_per_block):
                    txs.append(rollup_tx(rid, dev_accounts()[8].key, self.nonces[rid], value=1, to=SINK))
                    self.nonces[rid] += 1
                namespaces.append(Namespace(rid, tuple(txs)))
            header = BlockHeader(self.height, self.parent, second * 1000 + 100 * i, origin[0], origin[1],
                                 namespaces_root(namespaces), len(namespaces), bundles_root(()))
            out.append(SharedBlock(header, self.signer.sign_header(header), tuple(namespaces)))
            self.parent = block_hash(header)
            self.height += 1
        return out

    def forced_queue(self, rid: int) -> list[ForcedTx]:
        ev = self.inbox.events.ForcedTxEnqueued().get_logs(from_block=0, argument_filters={"rollupId": rid})
        return [ForcedTx(rid, int(e["args"]["seq"]), bytes(e["args"]["data"]), int(e["args"]["l1Block"]))
                for e in sorted(ev, key=lambda e: (e["blockNumber"], e["logIndex"]))]

    def window(self, blocks: list[SharedBlock], end_second: int,
               tamper: Callable[[int, list[RollupBlock]], list[RollupBlock]] | None = None) -> dict[str, Any]:
        """A signed posting of `blocks` whose rollup blocks end before `end_second` (rule F placed;
        `tamper` changes a rollup's blocks before its batch is encoded and signed)."""
        ids, batches, forced_to, after = [], [], [], {}
        timing = RollupTiming(0, 1000)
        for rid, fmt in sorted(FORMATS.items()):
            c = self.cursors.get(rid) or Cursor(timing.window_of(blocks[0].header.timestamp_ms))
            rblocks = group_rollup_blocks(blocks, rid, timing, first_number=c.next_number, last_number=end_second - 1,
                                          prev_origin=c.prev_l1_origin)
            rblocks = place_forced(rblocks, self.forced_queue(rid), c.forced_applied)
            after[rid] = c.after(rblocks)
            if tamper is not None:
                rblocks = tamper(rid, rblocks)
            ids.append(rid)
            batches.append(encode_window_batch(fmt, rid, 1000, rblocks, c))
            forced_to.append(after[rid].forced_applied)
        witness = encode_witness(blocks)
        w = build_window(blocks, ids, [keccak(b) for b in batches], forced_to, witness)
        sig = self.signer.sign_struct(window_struct_hash(w))
        return {"args": (window_tuple(w), sig, ids, batches, forced_to, witness), "after": after}

    def revert_of(self, posting: dict[str, Any]) -> str | None:
        """The inbox's revert name for this posting now (None if it would be accepted)."""
        try:
            self.inbox.functions.postWindow(*posting["args"]).call({"from": self.poster.address})
        except ContractCustomError as exc:
            return revert_name(exc.data if isinstance(exc.data, str) else str(exc.args[0]))
        return None

    def post(self, posting: dict[str, Any], via: str | None = None) -> None:
        if via is None:
            self.poster.transact(self.inbox.functions.postWindow(*posting["args"]), "postWindow")
        else:
            self.poster.send({"to": to_checksum_address(via), "data": calldata("postWindow", *posting["args"])},
                             "postWindow through the forwarder")
        self.cursors.update(posting["after"])


async def start_firm(net: Devnet, rid: int) -> RollupNode:
    """A firm node whose refusal (VerificationError: it stops, recording why in `node.error`) is the
    expected outcome here rather than a failure of the devnet's task group."""
    node = RollupNode(NodeConfig(rollup_id=rid, mode="firm", l1_rpc=net.l1.url, inbox=net.inbox, api_port=None,
                                 poll_ms=50))

    async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await node.run(task_status=task_status)
        except* VerificationError:
            pass

    await net.tg.start(run)
    return node


def add_tx(rid: int, blocks: list[RollupBlock]) -> list[RollupBlock]:
    """Window 2's lies, one kind per rollup: a transaction the headers never had (901, opstack), a sequenced
    one withheld (902, nitro), one moved into the next rollup block (903, zkevm)."""
    i = next(i for i, b in enumerate(blocks) if b.transactions)
    b = blocks[i]
    if rid == 901:
        blocks[i] = replace(b, transactions=(*b.transactions, rollup_tx(rid, dev_accounts()[9].key, 0, value=7)))
    elif rid == 902:
        blocks[i] = replace(b, transactions=b.transactions[1:])
    else:
        blocks[i] = replace(b, transactions=b.transactions[:-1])
        blocks[i + 1] = replace(blocks[i + 1], transactions=(b.transactions[-1], *blocks[i + 1].transactions))
    return blocks


async def test_hostile_sequencer_poster_and_user(tmp_path) -> None:
    async with devnet(tmp_path, sequencer=False) as net:
        seq = HostileSequencer(net)
        firm: dict[int, RollupNode] = {rid: await start_firm(net, rid) for rid in FORMATS}
        now_s = int(net.w3.eth.get_block("latest")["timestamp"])

        # Window 0 through a contract poster (the inbox authorises the contract, not the EOA calling it).
        fwd_receipt = seq.poster.send({"data": forwarder_init_code(net.inbox)}, "deploy forwarder")
        forwarder = fwd_receipt["contractAddress"]
        seq.poster.transact(seq.inbox.functions.setPoster(forwarder, True), "setPoster(forwarder)")
        w0_blocks = seq.blocks(now_s - 3, 3, seq.origin())
        seq.post(seq.window(w0_blocks, now_s - 2), via=forwarder)
        for node in firm.values():
            await node.wait_for(now_s - 3, timeout=60)
            assert node.blocks[now_s - 3].tx_count == 3 and node.blocks[now_s - 3].shared_heights == (0, 1, 2)
            assert engine_w3(node).eth.get_balance(SINK) == 3

        # Window 1: a user forces a transaction (after a junk one) on every rollup at L1 block E.
        forced = {rid: rollup_tx(rid, dev_accounts()[6].key, 0, value=5, to=FORCED_SINK) for rid in FORMATS}
        enqueued = {}
        for rid in FORMATS:
            await anyio.to_thread.run_sync(net.enqueue_forced, rid, b"\x02")
            await anyio.to_thread.run_sync(net.enqueue_forced, rid, forced[rid])
            enqueued[rid] = seq.forced_queue(rid)[-1].l1_block
        stale = seq.origin(min(enqueued.values()) - 1)
        lag = int(seq.inbox.functions.maxOriginLag().call())
        net.l1.mine(lag + 1)
        # The sequencer keeps its origin before the entries: the inbox refuses the posting outright.
        saved = (seq.parent, seq.height, dict(seq.nonces))
        assert seq.revert_of(seq.window(seq.blocks(now_s - 2, 2, stale), now_s - 1)) == "OriginTooOld"
        seq.parent, seq.height, seq.nonces = saved
        # A recent origin reaches the entries: rule F applies them in the window's first rollup block.
        w1 = seq.window(seq.blocks(now_s - 2, 2, seq.origin()), now_s - 1)
        assert seq.revert_of(w1) is None
        seq.post(w1)
        for rid, node in firm.items():
            b = await node.wait_for(now_s - 2, timeout=60)
            assert b.l1_origin_number >= enqueued[rid] and node.blocks[now_s - 3].l1_origin_number < enqueued[rid]
            assert (b.forced_count, b.forced_skipped) == (1, 1), rid
            w3 = engine_w3(node)
            rcpt = w3.eth.get_transaction_receipt(w3.keccak(forced[rid]))
            assert rcpt["status"] == 1 and rcpt["blockNumber"] == b.engine_number and rcpt["transactionIndex"] == 0
            assert w3.eth.get_balance(FORCED_SINK) == 5
            assert node.follower.cursor.forced_applied == 2

        # Window 2: signed by the real key, accepted by the inbox, but no batch is what the headers commit to.
        w2 = seq.window(seq.blocks(now_s - 1, 3, seq.origin()), now_s + 1, tamper=add_tx)
        seq.post(w2)
        for rid, node in firm.items():
            await wait_until(lambda n=node: n.error, 60, f"firm node {rid} to refuse window 2")
            assert "window 2" in node.error and f"rollup {rid} block {now_s - 1}" in node.error, node.error
            assert node.firm_head == now_s - 2 and max(node.blocks) == now_s - 2, "nothing of window 2 executed"
