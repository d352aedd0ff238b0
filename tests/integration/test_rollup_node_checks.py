"""The soft follower's checks on streamed blocks (signature, parent chain, namespace proof), the engine's
block-time check, and the node's HTTP API. Refusals are VerificationError: the node stops, it never
executes what it could not verify."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from rollup_testkit import block_covering, devnet, kill_group, rollup_tx, wait_until

from deploy.anvil import REPO_ROOT, dev_accounts, free_port
from rollup_node.engine import check_block_time
from rollup_node.errors import NodeConfigError, VerificationError
from rollup_node.node import NodeConfig, RollupNode
from rollup_node.soft import SoftFollower
from sequencer.core.commitments import bundles_root, namespaces_root, prove_namespace
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.service.convert import rollup_block_to_proto

RID = 901
DOMAIN = Domain(31337, b"\xab" * 20)
SIGNER = Signer(b"\x01" * 32, DOMAIN)


def make_block(height: int, parent: bytes, txs: dict[int, tuple[bytes, ...]], signer: Signer = SIGNER) -> SharedBlock:
    namespaces = tuple(Namespace(r, t) for r, t in sorted(txs.items()) if t)
    header = BlockHeader(height, parent, 1_764_000_000_000 + 50 * height, 0, ZERO_HASH, namespaces_root(namespaces),
                         len(namespaces), bundles_root(()))
    return SharedBlock(header, signer.sign_header(header), namespaces)


def follower() -> SoftFollower:
    f = SoftFollower(RollupNode(NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1", api_port=None)))
    f.domain, f.sequencer_address = DOMAIN, SIGNER.address
    return f


def accept(f: SoftFollower, b: SharedBlock) -> None:
    f.verify(rollup_block_to_proto(b, RID, prove_namespace(b.namespaces, RID)))
    f.next_height, f.prev_hash = b.height + 1, block_hash(b.header)


def test_verify_accepts_a_valid_chain() -> None:
    f = follower()
    b0 = make_block(0, ZERO_HASH, {RID: (b"a", b"b"), 902: (b"c",)})
    accept(f, b0)
    accept(f, make_block(1, block_hash(b0.header), {902: (b"d",)}))  # absent namespace, proven by neighbours


def test_verify_refuses_a_foreign_signature() -> None:
    f = follower()
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=Signer(b"\x02" * 32, DOMAIN))
    with pytest.raises(VerificationError, match="signed by"):
        accept(f, b0)


def test_verify_refuses_a_broken_parent_chain_and_a_height_gap() -> None:
    f = follower()
    accept(f, make_block(0, ZERO_HASH, {RID: (b"a",)}))
    with pytest.raises(VerificationError, match="parent hash"):
        accept(f, make_block(1, b"\x11" * 32, {}))
    with pytest.raises(VerificationError, match="expected height 1"):
        accept(f, make_block(2, block_hash(make_block(1, ZERO_HASH, {}).header), {}))


def test_verify_refuses_withheld_or_extra_transactions() -> None:
    f = follower()
    b0 = make_block(0, ZERO_HASH, {RID: (b"a", b"b"), 902: (b"c",)})
    msg = rollup_block_to_proto(b0, RID, prove_namespace(b0.namespaces, RID))
    del msg.transactions[1]
    with pytest.raises(VerificationError, match="namespace proof"):
        f.verify(msg)
    # claims "no data for 901" in a block that has some
    msg = rollup_block_to_proto(b0, RID, prove_namespace(b0.namespaces, 905))
    msg.proof.rollup_id = RID
    del msg.transactions[:]
    with pytest.raises(VerificationError, match="namespace proof"):
        f.verify(msg)


def test_block_time_under_a_second_is_refused() -> None:
    check_block_time(1000)
    with pytest.raises(NodeConfigError, match="share a second"):
        check_block_time(250)
    node = RollupNode(NodeConfig(rollup_id=902, mode="firm", l1_rpc="http://127.0.0.1:1", inbox="0x" + "00" * 20))
    with pytest.raises(NodeConfigError):
        node.configure("nitro", 250)


def get_json(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.anyio
async def test_http_api(tmp_path) -> None:
    alice = dev_accounts()[7]
    async with devnet(tmp_path) as net:
        soft = await net.start_node(903, "soft")
        height = (await net.submit(903, rollup_tx(903, alice.key, 0, value=1))).height
        block = await block_covering(soft, height)
        code, status = get_json(soft.api_port, "/status")
        assert code == 200
        assert status["rollup_id"] == 903 and status["format"] == "zkevm" and status["mode"] == "soft"
        assert status["soft_head"] >= block.number and status["firm_head"] is None
        assert status["head"]["number"] == status["soft_head"] and status["engine_url"].startswith("http://127.0.0.1:")
        code, view = get_json(soft.api_port, f"/block/{block.number}")
        assert code == 200
        assert view["state_root"] == block.state_root and view["tx_count"] == 1 and height in view["shared_heights"]
        assert view["forced_count"] == 0
        assert get_json(soft.api_port, "/block/1")[0] == 404
        assert get_json(soft.api_port, "/nope")[0] == 404


@pytest.mark.anyio
async def test_cli_firm_node_process(tmp_path) -> None:
    """`sharedseq rollup-node --mode firm` as its own process follows L1 and serves /status."""
    async with devnet(tmp_path) as net:
        soft = await net.start_node(901, "soft")
        await net.start_poster()
        port = free_port()
        log_file = (tmp_path / "node.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sequencer.cli", "rollup-node", "--sequencer", net.sequencer_address,
             "--l1-rpc", net.l1.url, "--inbox", net.inbox, "--rollup", "901", "--mode", "firm", "--api-port",
             str(port), "--poll-ms", "100"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO_ROOT)
        try:
            def firm_status():
                try:
                    code, st = get_json(port, "/status")
                except OSError:
                    return None
                return st if code == 200 and st["firm_head"] is not None else None

            status = await wait_until(firm_status, 30, "the firm node process to execute a block")
            n = status["firm_head"]
            await soft.wait_for(n, timeout=10)
            assert status["mode"] == "firm" and status["format"] == "opstack"
            assert get_json(port, f"/block/{n}")[1]["state_root"] == soft.blocks[n].state_root
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful: the node stops its engine (an anvil of its own)
            try:
                proc.wait(timeout=15)
            finally:
                kill_group(proc)
                log_file.close()
        assert proc.returncode == 0, (tmp_path / "node.log").read_text()[-2000:]
