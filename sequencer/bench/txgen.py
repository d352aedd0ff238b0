"""Signed EIP-1559 transactions for the load generator, fast enough to sign ahead of a run.

The encoding is the core's RLP codec (the `rlp` package costs more than the signature itself);
EIP-2718 type 2, EIP-1559 field order: chain_id, nonce, max_priority_fee, max_fee, gas, to, value,
data, access_list, y_parity, r, s.
The sequencer decodes and recovers them like any wallet's (sequencer/core/evm_tx.py)."""

from __future__ import annotations

import os

from coincurve import PrivateKey

from sequencer.core import rlp_codec
from sequencer.core.hashing import keccak


def sign_many(n: int, chain_id: int, *, first_nonce: int = 0, key: bytes | None = None) -> list[bytes]:
    """`n` distinct signed transfers on `chain_id` from one fresh key (nonces first_nonce...)."""
    pk = PrivateKey(key or os.urandom(32))
    to = b"\x22" * 20
    out = []
    for nonce in range(first_nonce, first_nonce + n):
        fields: list = [chain_id, nonce, 1, 2 * 10**9, 21000, to, 1, b"", []]
        sig = pk.sign_recoverable(keccak(b"\x02" + rlp_codec.encode(fields)), hasher=None)
        signed = [*fields, sig[64], sig[:32].lstrip(b"\0"), sig[32:64].lstrip(b"\0")]
        out.append(b"\x02" + rlp_codec.encode(signed))
    return out


def pool(path_dir: str | os.PathLike[str], chain_id: int, n: int, part: int) -> list[bytes]:
    """`n` signed transactions for `chain_id`, part `part` (each part its own key), cached on disk:
    signing is slow on a loaded machine and the same pool serves every run, since each phase of a
    run talks to a fresh sequencer (nothing is ever a resubmission within one sequencer)."""
    from pathlib import Path

    path = Path(path_dir) / f"txs-{chain_id}-{part}-{n}.bin"
    if path.exists():
        data = path.read_bytes()
        out, i = [], 0
        while i < len(data):
            size = int.from_bytes(data[i:i + 4], "big")
            out.append(data[i + 4:i + 4 + size])
            i += 4 + size
        if len(out) == n:
            return out
    txs = sign_many(n, chain_id, key=keccak(f"sharedseq-bench-{chain_id}-{part}".encode()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(len(t).to_bytes(4, "big") + t for t in txs))
    tmp.replace(path)
    return txs
