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
from dataclasses import replace

import pytest
from rollup_testkit import block_covering, devnet, kill_group, rollup_tx, wait_until

from rollup_adapters.base import RollupBlock
from rollup_node.engine import check_block_time
from rollup_node.errors import NodeConfigError, VerificationError
from rollup_node.firm import FirmFollower
from rollup_node.l1 import KeyRecord, PostedWindow, accountable_for, may_sign_window
from rollup_node.node import NodeConfig, RollupNode
from rollup_node.soft import SoftFollower
from sequencer.core.commitments import bundles_root, namespaces_root, prove_namespace
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.core.window import build_window, encode_witness, window_struct_hash
from sequencer.devtools.anvil import REPO_ROOT, dev_accounts, free_port
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

            status = await wait_until(firm_status, 90, "the firm node process to execute a block")
            n = status["firm_head"]
            await soft.wait_for(n, timeout=60)
            assert status["mode"] == "firm" and status["format"] == "opstack"
            assert get_json(port, f"/block/{n}")[1]["state_root"] == soft.blocks[n].state_root
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful: the node stops its engine (an anvil of its own)
            try:
                proc.wait(timeout=60)
            finally:
                kill_group(proc)
                log_file.close()
        assert proc.returncode == 0, (tmp_path / "node.log").read_text()[-2000:]


# ---------------------------------------------------------------- why the node stopped; API numbering and memory


class FakeEngine:
    """Stands in for the anvil engine: block n mines as engine block n - first + 1."""

    anvil = None

    def __init__(self, first: int) -> None:
        self.first = first

    def apply_block(self, block):
        from rollup_node.engine import ExecutedBlock

        n = block.number
        return ExecutedBlock(n, 1000 * n, n - self.first + 1, f"0x{n:064x}", f"0x{n:064x}", 0, len(block.forced), 0,
                             (), 0)

    def stop(self) -> None:
        pass


@pytest.mark.anyio
async def test_api_engine_numbering_and_retained_window() -> None:
    node = RollupNode(NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1", api_port=None,
                                 keep_blocks=3))
    node.engine = FakeEngine(first=100)  # type: ignore[assignment]
    node.configure("opstack", 1000)
    from rollup_node.api import start_api

    api = start_api(node, 0)
    try:
        port = api.server_port
        code, body = get_json(port, "/block/engine/1")
        assert code == 404 and "no rollup block executed yet" in body["error"]
        for n in range(100, 106):
            await node.execute(RollupBlock(n, n * 1000, 0, ZERO_HASH, ()))
        assert sorted(node.blocks) == [103, 104, 105] and node.oldest_kept == 103
        code, st = get_json(port, "/status")
        assert code == 200 and st["head"]["number"] == 105 and st["head"]["engine_number"] == 6
        assert st["soft_head"] == 105 and st["soft_head_engine_number"] == 6 and st["firm_head_engine_number"] is None
        assert st["oldest_kept"] == 103 and st["keep_blocks"] == 3
        code, view = get_json(port, "/block/engine/5")
        assert code == 200 and view["number"] == 104 and view["engine_number"] == 5
        assert get_json(port, "/block/104")[1] == view
        code, body = get_json(port, "/block/101")
        assert code == 404 and "older than the retained window" in body["error"] and "103" in body["error"]
        code, body = get_json(port, "/block/engine/2")
        assert code == 404 and "older than the retained window" in body["error"]
        code, body = get_json(port, "/block/106")
        assert code == 404 and "not executed" in body["error"]
        assert get_json(port, "/block/engine/x")[0] == 400
    finally:
        api.shutdown()
        api.server_close()
    with pytest.raises(KeyError, match="retained window"):
        await node.wait_for(100, timeout=1)
    with pytest.raises(NodeConfigError, match="keep_blocks"):
        NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1", keep_blocks=0)
    assert NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1").keep_blocks == 10_000


@pytest.mark.anyio
async def test_error_descriptions_unwrap_exception_groups() -> None:
    from rollup_node.errors import describe_error, leaf_exceptions
    from sequencer.l1.client import L1Client, L1Unavailable

    inner = NodeConfigError("rollup 7 is not registered with the sequencer")
    group = BaseExceptionGroup("unhandled errors in a TaskGroup", [ExceptionGroup("x", [inner])])
    assert leaf_exceptions(group) == [inner]
    assert describe_error(group) == "rollup 7 is not registered with the sequencer"
    async with L1Client(f"http://127.0.0.1:{free_port()}", timeout_s=2) as client:
        with pytest.raises(L1Unavailable) as caught:
            await client.block_number()
    assert describe_error(ExceptionGroup("g", [caught.value]), "http://l1") == ("cannot reach the L1 RPC http://l1: "
                                                                                "Connection refused")


@pytest.mark.anyio
async def test_node_error_is_the_real_error_not_the_group() -> None:
    import anyio

    node = RollupNode(NodeConfig(rollup_id=RID, mode="firm", l1_rpc=f"http://127.0.0.1:{free_port()}",
                                 inbox="0x" + "11" * 20, api_port=None))
    with pytest.raises(BaseException):  # noqa: B017 - the group or the error, as anyio raises it
        async with anyio.create_task_group() as tg:
            await tg.start(node.run)
    assert node.error is not None and "ExceptionGroup" not in node.error and "TaskGroup" not in node.error
    assert node.error.startswith("cannot reach the L1 RPC http://127.0.0.1:") and "Connection refused" in node.error


def run_cli_node(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sequencer.cli", "rollup-node", "--mode", "firm", "--log-level",
                           "critical", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False)


def test_cli_reports_why_it_stopped_in_one_line() -> None:
    inbox = "0x" + "11" * 20
    dead_l1 = f"http://127.0.0.1:{free_port()}"
    proc = run_cli_node("--l1-rpc", dead_l1, "--inbox", "0x12", "--rollup", "901")
    assert (proc.returncode, proc.stderr) == (1, "rollup-node: inbox '0x12' is not an address (0x and 40 hex "
                                                 "digits)\n")
    proc = run_cli_node("--l1-rpc", dead_l1, "--inbox", inbox, "--rollup", "901")
    assert proc.returncode == 1
    assert proc.stderr == f"rollup-node: cannot reach the L1 RPC {dead_l1}: Connection refused\n"
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli_node("--l1-rpc", dead_l1, "--inbox", inbox, "--rollup", "901", "--api-port", str(port))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == f"rollup-node: cannot serve the HTTP API on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.anyio
async def test_unknown_rollup_and_wrong_inbox_are_named(tmp_path) -> None:
    async with devnet(tmp_path, sequencer=False) as net:
        for rid, inbox, want in ((999, net.inbox, "rollup 999 is not registered in the RollupRegistry"),
                                 (901, "0x" + "11" * 20, "no contract at inbox")):
            proc = await anyio_run_cli("--l1-rpc", net.l1.url, "--inbox", inbox, "--rollup", str(rid))
            assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert proc.stderr.startswith("rollup-node: ") and want in proc.stderr and proc.stderr.count("\n") == 1


async def anyio_run_cli(*args: str) -> subprocess.CompletedProcess:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(lambda: run_cli_node(*args))


# ---------------------------------------------------------------- keys and window signatures (no L1: records stubbed)

KEY = Signer(b"\x05" * 32, DOMAIN)
OTHER = Signer(b"\x06" * 32, DOMAIN)


def key_record(signer: Signer, *, first: int = 0, added: int = 1, active: int = 2, retired: int = 0,
               until: int = 0) -> KeyRecord:
    return KeyRecord("0x" + signer.address.hex(), first, added, active, retired, 0, until)


KEY_CASES = [
    # (record, first, last, posting L1 block, may sign the window)
    (key_record(KEY), 0, 9, 5, True),
    (key_record(KEY, active=6), 0, 9, 5, False),                  # still in its activation delay
    (key_record(KEY, retired=4, until=200), 0, 9, 5, False),      # retired before the posting
    (key_record(KEY, retired=5, until=200), 0, 9, 5, True),       # retired in the posting's own block
    (key_record(KEY, first=10), 8, 12, 5, False),                 # heights below the key's first
    (key_record(KEY, added=0, active=0), 0, 9, 5, False),         # never registered
]


@pytest.mark.parametrize(("rec", "first", "last", "l1_block", "ok"), KEY_CASES)
def test_may_sign_window_table(rec: KeyRecord, first: int, last: int, l1_block: int, ok: bool) -> None:
    assert may_sign_window(rec, first, last, l1_block) is ok


def test_accountable_for_table() -> None:
    assert accountable_for(key_record(KEY, first=3), 3, 10**6)
    assert not accountable_for(key_record(KEY, first=3), 2, 1)
    assert accountable_for(key_record(KEY, retired=50, until=150), 7, 150)
    assert not accountable_for(key_record(KEY, retired=50, until=150), 7, 151)  # challenge period over
    assert not accountable_for(key_record(KEY, added=0), 0, 1)


def stub_keys(follower, records: dict[bytes, KeyRecord]) -> None:
    async def record(address: bytes, *, fresh: bool = False) -> KeyRecord:
        return records.get(bytes(address), KeyRecord("0x" + bytes(address).hex(), 0, 0, 0, 0, 0, 0))

    follower.keys.record = record  # type: ignore[method-assign]


def firm_follower() -> FirmFollower:
    node = RollupNode(NodeConfig(rollup_id=RID, mode="firm", l1_rpc="http://127.0.0.1:1", inbox="0x" + "ab" * 20,
                                 api_port=None))
    node.configure("opstack", 1000)
    f = FirmFollower(node)
    f.domain = DOMAIN
    stub_keys(f, {KEY.address: key_record(KEY)})
    return f


def posted(signer: Signer | None, *, recorded: Signer = KEY, sig: bytes | None = None, l1_block: int = 5,
           tamper_witness: bool = False) -> PostedWindow:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",)})
    b1 = make_block(1, block_hash(b0.header), {RID: (b"b",), 902: (b"c",)})
    witness = encode_witness([b0, b1])
    w = build_window([b0, b1], [RID], [b"\x00" * 32], [0], witness)
    if tamper_witness:
        witness = witness[:-1] + bytes([witness[-1] ^ 1])
    if sig is None and signer is not None:
        sig = signer.sign_struct(window_struct_hash(w))
    return PostedWindow(0, w, "0x" + recorded.address.hex(), (RID,), (b"\x00" * 32,), (0,), l1_block, "0x" + "00" * 32,
                        sig, witness, None)


@pytest.mark.anyio
async def test_firm_node_checks_the_window_signature_itself() -> None:
    """Whatever the inbox accepted, a firm node executes a window only if its signature recovers to the
    signer the inbox recorded and that key could sign the window at its L1 block."""
    f = firm_follower()
    await f.check_signature(posted(KEY))
    with pytest.raises(VerificationError, match="window 0: signature recovers to"):
        await f.check_signature(posted(OTHER))  # forged: another key, the inbox's record says KEY
    with pytest.raises(VerificationError, match="could not sign heights 0..1"):
        await f.check_signature(posted(OTHER, recorded=OTHER))  # a key SequencerKeys never registered
    with pytest.raises(VerificationError, match="could not sign"):
        await f.check_signature(posted(KEY, l1_block=1))  # before the key's activation
    with pytest.raises(VerificationError, match="carries no window signature"):
        await f.check_signature(posted(None))
    with pytest.raises(VerificationError, match="bad window signature"):
        await f.check_signature(posted(None, sig=b"\x00" * 65))
    with pytest.raises(VerificationError, match="window 0: witness"):
        f.check_witness(posted(KEY, tamper_witness=True))
    assert [b.header.height for b in f.check_witness(posted(KEY))] == [0, 1]


@pytest.mark.anyio
async def test_soft_node_checks_the_header_key_against_sequencer_keys() -> None:
    """With an L1, a streamed header counts only if SequencerKeys holds its signer accountable for its
    height (a lie in it is slashable); the sequencer's own GetSequencerInfo address is not trusted."""
    node = RollupNode(NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1", l1_rpc="http://127.0.0.1:1",
                                 inbox="0x" + "ab" * 20, api_port=None))
    f = SoftFollower(node)
    f.domain = DOMAIN
    assert f.sequencer_address is None
    stub_keys(f, {KEY.address: key_record(KEY, first=1), OTHER.address: key_record(OTHER, retired=9, until=20)})

    async def head() -> int:
        return 21

    f.l1.head = head  # type: ignore[method-assign,union-attr]
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=KEY)
    block, signer = f.verify(rollup_block_to_proto(b0, RID, prove_namespace(b0.namespaces, RID)))
    assert signer == KEY.address
    with pytest.raises(VerificationError, match="does not hold accountable for height 0"):
        await f.check_key(KEY.address, 0)  # below the key's first height
    await f.check_key(KEY.address, 1)
    with pytest.raises(VerificationError, match="does not hold accountable"):
        await f.check_key(OTHER.address, 1)  # retired, challenge period over at L1 head 21
    with pytest.raises(VerificationError, match="does not hold accountable"):
        await f.check_key(b"\x07" * 20, 1)  # never registered


@pytest.mark.anyio
async def test_firm_node_retries_a_failed_l1_read_without_applying_a_window_twice() -> None:
    """Once running, an L1 outage (L1Unavailable, a Temporary error) is retried: the windows are read
    again from the last scanned block, and those already applied are not applied again."""
    import anyio

    from sequencer.l1.client import L1Unavailable

    f = firm_follower()
    f.node.configure("opstack", 1000)
    applied: list[int] = []
    calls = {"windows": 0}
    w = [replace(posted(KEY), index=i) for i in range(3)]

    async def chain_id() -> int:
        return DOMAIN.chain_id

    async def head() -> int:
        return 10

    async def windows(lo: int, hi: int) -> list[PostedWindow]:
        calls["windows"] += 1
        return w

    async def on_window(pw: PostedWindow) -> None:
        if pw.index == 1 and calls["windows"] == 1:
            raise L1Unavailable("eth_getLogs: TimeoutError")  # mid-list: window 0 applied, 1 not
        applied.append(pw.index)
        f.next_window = pw.index + 1

    f.l1.client.chain_id = chain_id  # type: ignore[method-assign]
    f.l1.head, f.l1.windows, f.on_window = head, windows, on_window  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(f._run)
        # At least the 1.5 s it always ran (many polls: no window may be applied twice meanwhile), and
        # then until the retry has applied the rest, however slow the machine (was: 1.5 s, then assert).
        await anyio.sleep(1.5)
        await wait_until(lambda: len(applied) >= 3 and f.scanned == 10, 30, "the retry to apply windows 1 and 2")
        tg.cancel_scope.cancel()
    assert applied == [0, 1, 2] and calls["windows"] == 2 and f.scanned == 10
