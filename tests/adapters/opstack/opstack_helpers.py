"""Shared helpers for the OP Stack adapter tests: testdata loading and real signed transactions."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

TESTDATA = Path(__file__).parent / "testdata"
CHAIN_ID = 10


def read_hex(name: str) -> bytes:
    return bytes.fromhex(read_lines(name)[0])


def read_lines(name: str) -> list[str]:
    lines = (TESTDATA / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def signed_tx(key: bytes, tx_type: int, nonce: int, *, to: bytes | None = b"\x11" * 20, value: int = 1,
              data: bytes = b"", chain_id: int | None = CHAIN_ID) -> bytes:
    """A real signed transaction of type 0 (EIP-155 or not), 1 or 2, made by eth_account."""
    tx: dict = {"nonce": nonce, "gas": 21_000 + 16 * len(data) + (53_000 if to is None else 0),
                "value": value, "data": data}
    if to is not None:
        tx["to"] = "0x" + to.hex()
    if tx_type == 0:
        tx["gasPrice"] = 10**9
        if chain_id is not None:
            tx["chainId"] = chain_id
    elif tx_type == 1:
        tx.update(chainId=chain_id, gasPrice=10**9, accessList=[
            {"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 31 + "01"]}])
        tx["type"] = 1
    else:
        tx.update(chainId=chain_id, maxFeePerGas=2 * 10**9, maxPriorityFeePerGas=10**8, type=2)
    return bytes(Account.sign_transaction(tx, key).raw_transaction)
