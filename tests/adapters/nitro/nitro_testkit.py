"""Shared helpers for the Nitro adapter tests: fixed bytes, a pool of real signed transactions."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from eth_account import Account

TESTDATA = Path(__file__).parent / "testdata"

# The 99-byte EIP-1559 transactions of vector A2 (op_vectors V2: chain 10, nonce 2, to 0x..06 / 0x..07).
TX1 = bytes.fromhex(
    "02f8600a020403059400000000000000000000000000000000000000060708c080a0840cfc572845f5786e702984c2a582"
    "528cad4b49b2a10b9db1be7fca90058565a025e7109ceb98168d95b09b18bbf6b685130e0562f233877d492b94eee0c5b6d1"
)
TX2 = TX1[:28] + b"\x07" + TX1[29:]


def read_hex(name: str) -> bytes:
    return bytes.fromhex((TESTDATA / name).read_text().strip())


@cache
def signed_pool() -> tuple[bytes, ...]:
    """Real signed transactions of every type eth_account signs (legacy, EIP-155, 2930, 1559), fixed keys."""
    out: list[bytes] = []
    for i in range(24):
        acct = Account.from_key((i + 1).to_bytes(32, "big"))
        to = bytes([i + 1]) * 20
        base = {"nonce": i, "gas": 21000 + i, "to": to, "value": i * 10**15, "data": bytes(range(i % 7))}
        kind = i % 4
        if kind == 0:
            tx = {**base, "gasPrice": 10**9}  # pre-EIP-155 legacy
        elif kind == 1:
            tx = {**base, "gasPrice": 10**9, "chainId": 42161}
        elif kind == 2:
            tx = {
                **base,
                "gasPrice": 10**9,
                "chainId": 42161,
                "accessList": [{"address": to, "storageKeys": []}],
            }
        else:
            tx = {**base, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**8, "chainId": 42161}
        out.append(bytes(Account.sign_transaction(tx, acct.key).raw_transaction))
    return tuple(out)
