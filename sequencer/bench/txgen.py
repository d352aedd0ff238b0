"""Signed EIP-1559 transactions for the load generator, fast enough to sign ahead of a run.

`rlp.encode` costs more than the signature itself; every field but the nonce and the signature is
fixed here, so the encoding is a few byte joins (EIP-2718 type 2, EIP-1559 field order:
chain_id, nonce, max_priority_fee, max_fee, gas, to, value, data, access_list, y_parity, r, s).
The sequencer decodes and recovers them like any wallet's (sequencer/core/evm_tx.py)."""

from __future__ import annotations

import os

from coincurve import PrivateKey

from sequencer.core.hashing import keccak


def _rlp_int(n: int) -> bytes:
    if n == 0:
        return b"\x80"
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 + len(b)]) + b


def _rlp_bytes(b: bytes) -> bytes:
    if len(b) == 1 and b[0] < 0x80:
        return b
    if len(b) < 56:
        return bytes([0x80 + len(b)]) + b
    n = len(b).to_bytes((len(b).bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(n)]) + n + b


def _rlp_list(body: bytes) -> bytes:
    if len(body) < 56:
        return bytes([0xC0 + len(body)]) + body
    n = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(n)]) + n + body


def sign_many(n: int, chain_id: int, *, first_nonce: int = 0, key: bytes | None = None) -> list[bytes]:
    """`n` distinct signed transfers on `chain_id` from one fresh key (nonces first_nonce...)."""
    pk = PrivateKey(key or os.urandom(32))
    head = _rlp_int(chain_id)
    tail = (_rlp_int(1) + _rlp_int(2 * 10**9) + _rlp_int(21000) + _rlp_bytes(b"\x22" * 20) + _rlp_int(1)
            + b"\x80" + b"\xc0")
    out = []
    for nonce in range(first_nonce, first_nonce + n):
        fields = head + _rlp_int(nonce) + tail
        sig = pk.sign_recoverable(keccak(b"\x02" + _rlp_list(fields)), hasher=None)
        signed = fields + _rlp_int(sig[64]) + _rlp_bytes(sig[:32].lstrip(b"\0")) + _rlp_bytes(sig[32:64].lstrip(b"\0"))
        out.append(b"\x02" + _rlp_list(signed))
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
