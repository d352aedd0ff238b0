"""A local anvil chain on 127.0.0.1: the L1 of tests, `deploy` and the devnet, and the rollup nodes' engine.

    with start_anvil(chain_id=31337) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        key = anvil.accounts[0].key

The binary comes from the pinned npm package (node_modules/@foundry-rs/anvil-<platform>/bin/anvil),
or from $SHAREDSEQ_ANVIL. anvil runs in its own process group, which is killed on exit.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sequencer.errors import SharedSeqError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's default dev mnemonic; accounts are m/44'/60'/0'/0/i, each funded with 10000 ETH."""
DEFAULT_ACCOUNTS = 10


class AnvilError(SharedSeqError):
    """anvil could not be found or did not come up in time."""


@dataclass(frozen=True, slots=True)
class DevAccount:
    """One of anvil's funded dev accounts (the well-known, public test keys)."""

    address: str
    key: bytes = field(repr=False)


_accounts_cache: dict[int, tuple[DevAccount, ...]] = {}


def dev_accounts(count: int = DEFAULT_ACCOUNTS) -> tuple[DevAccount, ...]:
    """The first `count` accounts of anvil's default mnemonic."""
    if count not in _accounts_cache:
        from eth_account import Account  # slow to import; only needed here

        Account.enable_unaudited_hdwallet_features()
        accts = []
        for i in range(count):
            a = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            accts.append(DevAccount(a.address, bytes(a.key)))
        _accounts_cache[count] = tuple(accts)
    return _accounts_cache[count]


def find_anvil() -> str:
    """Path to the anvil binary: $SHAREDSEQ_ANVIL, else the pinned npm package for this platform."""
    env = os.environ.get("SHAREDSEQ_ANVIL")
    if env:
        return env
    hits = sorted(glob.glob(str(REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-*" / "bin" / "anvil")))
    hits = [h for h in hits if os.access(h, os.X_OK)]
    if not hits:
        raise AnvilError("anvil binary not found under node_modules/@foundry-rs (run `make install`)")
    return hits[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rpc(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    """One JSON-RPC call; returns `result`, raises AnvilError on an RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise AnvilError(f"{method}: {reply['error']}")
    return reply["result"]


class Anvil:
    """A running anvil; use as a context manager (see start_anvil)."""

    def __init__(self, proc: subprocess.Popen, port: int, chain_id: int, log_path: str) -> None:
        self.proc = proc
        self.port = port
        self.chain_id = chain_id
        self.url = f"http://127.0.0.1:{port}"
        self.accounts = dev_accounts()
        self.log_path = log_path

    def rpc(self, method: str, params: list | None = None):
        return rpc(self.url, method, params)

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks at once (anvil_mine)."""
        self.rpc("anvil_mine", [hex(blocks)])

    def log_tail(self, n: int = 2000) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_anvil(
    *,
    chain_id: int = 31337,
    port: int | None = None,
    block_time: float | None = None,
    automine: bool = True,
    timeout: float = 15.0,
    extra_args: tuple[str, ...] = (),
) -> Anvil:
    """Start anvil on 127.0.0.1 and return once its RPC answers (or raise AnvilError by `timeout`).

    `block_time` (seconds) mines on an interval; `automine=False` without a block time leaves mining
    to `evm_mine` / `anvil_mine`. With `port=None` a free port is chosen (retried once if taken).
    """
    binary = find_anvil()
    attempts = 1 if port is not None else 3
    last_error = ""
    for _ in range(attempts):
        p = port if port is not None else free_port()
        if port is not None and not port_is_free(p):
            # Another process (often another devnet's anvil) would answer our readiness probe.
            raise AnvilError(f"port {p} on 127.0.0.1 is already in use (another devnet?); pick a free port")
        args = [binary, "--host", "127.0.0.1", "--port", str(p), "--chain-id", str(chain_id),
                "--accounts", str(DEFAULT_ACCOUNTS), "--mnemonic", DEFAULT_MNEMONIC]
        if block_time is not None:
            args += ["--block-time", str(block_time)]
        elif not automine:
            args.append("--no-mining")
        args += list(extra_args)
        fd, log_path = tempfile.mkstemp(prefix="anvil-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        anvil = Anvil(proc, p, chain_id, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if int(anvil.rpc("eth_chainId"), 16) == chain_id:
                    return anvil
            except (OSError, urllib.error.URLError, AnvilError, ValueError):
                pass
            try:  # doubles as the poll interval: returns at once if anvil exits
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        exited = proc.poll() is not None
        last_error = anvil.log_tail()
        anvil.stop()
        if not exited:
            raise AnvilError(f"anvil on port {p} did not answer within {timeout}s:\n{last_error}")
    raise AnvilError(f"anvil failed to start:\n{last_error}")
