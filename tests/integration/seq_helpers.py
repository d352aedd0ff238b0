"""Helpers for real-network tests: a sequencer on 127.0.0.1 with three EVM rollups."""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

from eth_account import Account

from sequencer.config import ServiceConfig, parse_config
from sequencer.keys import write_key

ROLLUPS = [
    {"id": 901, "name": "op", "format": "opstack", "block_time_ms": 1000},
    {"id": 902, "name": "nitro", "format": "nitro", "block_time_ms": 250},
    {"id": 903, "name": "zkevm", "format": "zkevm", "block_time_ms": 1000},
]


_RESERVED: dict[int, int] = {}
"""Ports this process reserved: port -> the descriptor of its lock file, held open (and locked) until
the process exits."""
_PORTS_DIR = Path(tempfile.gettempdir()) / "sharedseq-test-ports"


def free_port() -> int:
    """A port free now and reserved for this process's lifetime, below the ephemeral range: a killed
    server, node or replica restarts on its ports, and an ephemeral port (what binding port 0 gives)
    could meanwhile be some client's outgoing connection, or another test worker's server. Reserved
    with an exclusive lock on a per-port file: test workers running in parallel (pytest-xdist, other
    runs on the same machine) never pick the same port between one's bind check and its server's
    start, and the kernel drops the lock when the process ends."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    _PORTS_DIR.mkdir(exist_ok=True)
    for _ in range(500):
        port = random.randrange(10_000, low)
        if port in _RESERVED:
            continue
        fd = os.open(_PORTS_DIR / f"{port}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process holds it
            os.close(fd)
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # taken by something that does not use the locks
                os.close(fd)
                continue
        _RESERVED[port] = fd
        return port
    raise RuntimeError("no free port below the ephemeral range")


def config_doc(tmp: Path, **sequencer: object) -> dict:
    seq = {"listen": "127.0.0.1:0", "data_dir": str(tmp / "data"), "key_file": str(tmp / "seq.key"),
           "metrics_listen": "127.0.0.1:0", "slot_ms": 50, "log_format": "text"}
    seq.update(sequencer)
    return {"sequencer": seq, "domain": {"chain_id": 31337, "verifying_contract": "0x" + "ab" * 20},
            "rollups": ROLLUPS}


def make_config(tmp: Path, limits: dict | None = None, **sequencer: object) -> ServiceConfig:
    key = tmp / "seq.key"
    if not key.exists():
        write_key(key)
    doc = config_doc(tmp, **sequencer)
    if limits:
        doc["limits"] = limits
    return parse_config(doc, tmp)


class Wallet:
    """A funded-nowhere EVM account that signs transfers with increasing nonces."""

    def __init__(self) -> None:
        self.account = Account.create()
        self.nonce = 0

    def transfer(self, chain_id: int, kind: int = 2, value: int = 1) -> bytes:
        base = {"nonce": self.nonce, "gas": 21000, "to": "0x" + "22" * 20, "value": value, "chainId": chain_id}
        if kind == 0:
            tx = {**base, "gasPrice": 10**9}
        elif kind == 1:
            tx = {**base, "type": 1, "gasPrice": 10**9, "accessList": []}
        else:
            tx = {**base, "type": 2, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}
        self.nonce += 1
        return bytes(self.account.sign_transaction(tx).raw_transaction)


def write_config_toml(tmp: Path, port: int, extra_rollups: str = "", slot_ms: int = 50) -> Path:
    """A config file for a sequencer run as a separate process."""
    key = tmp / "seq.key"
    if not key.exists():
        write_key(key)
    rollups = "".join(
        f'\n[[rollups]]\nid = {r["id"]}\nname = "{r["name"]}"\nformat = "{r["format"]}"\n'
        f'block_time_ms = {r["block_time_ms"]}\n'
        for r in ROLLUPS
    )
    text = f"""
[sequencer]
listen = "127.0.0.1:{port}"
data_dir = "data"
key_file = "seq.key"
slot_ms = {slot_ms}
metrics_listen = ""
log_format = "json"

[domain]
chain_id = 31337
verifying_contract = "0x{"ab" * 20}"
{rollups}{extra_rollups}"""
    path = tmp / "sequencer.toml"
    path.write_text(text)
    return path


def varint(n: int) -> bytes:
    """A protobuf base-128 varint (for messages built by hand, as a hostile client sends them)."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def garbage_list(request_id: int, n: int) -> bytes:
    """A StreamSubmitRequest, serialized by hand: a TransactionList of `n` empty items, 2 bytes each."""
    from sharedseq.v1 import sequencer_pb2 as pb

    body = b"\x0a\x00" * n
    return pb.StreamSubmitRequest(request_id=request_id).SerializeToString() + b"\x22" + varint(len(body)) + body
