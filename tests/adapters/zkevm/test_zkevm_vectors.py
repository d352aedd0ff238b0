"""Upstream vectors of zkevm-node state/encoding_batch_v2_test.go (testdata/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from rollup_adapters.zkevm import (
    L2BlockChange,
    decode_batch_v2,
    decode_forced_batch,
    decode_rlp_list_length,
    encode_batch_v2,
    encode_forced_batch,
)
from rollup_adapters.zkevm.batch_v2 import BatchV2, L2Block
from sequencer.errors import DecodeError

TESTDATA = Path(__file__).parent / "testdata"


def vector(name: str) -> bytes:
    return bytes.fromhex((TESTDATA / name).read_text().strip())


def case_lines(name: str) -> list[list[str]]:
    lines = (TESTDATA / name).read_text().splitlines()
    return [line.split("#")[0].split() for line in lines if line.strip() and not line.startswith("#")]


Z1 = vector("z1_encode_two_empty_blocks.hex")
Z2 = vector("z2_coded_l2_block1.hex")
Z3 = vector("z3_coded_l2_block2.hex")
Z4 = vector("z4_forced_coded_rlp_2txs1.hex")
INCABERRY = vector("real_batch_incaberry_txs.hex")
TO = bytes.fromhex("4d5cf5032b2a844602278b01199ed191a86c93ff")


def test_z1_encode_two_empty_blocks() -> None:
    batch = BatchV2((L2Block(L2BlockChange(123, 456)), L2Block(L2BlockChange(789, 101112))))
    assert encode_batch_v2(batch) == Z1
    assert decode_batch_v2(Z1) == batch


def test_z2_block_with_two_txs() -> None:
    (block,) = decode_batch_v2(Z2).blocks
    assert block.change == L2BlockChange(0x73E6AF6F, 0)
    assert [e.tx.nonce for e in block.txs] == [2, 3]
    for entry in block.txs:
        tx = entry.tx
        assert (tx.gas_price, tx.gas, tx.to, tx.value, tx.data) == (10**9, 100_000, TO, 10**17, b"")
        assert tx.chain_id == 1000
        assert tx.y_parity == 0  # v byte 0x1b
        assert entry.effective_percentage == 0xFF


def test_z2_z3_decode_encode_round_trip() -> None:
    batch = decode_batch_v2(Z2 + Z3)
    assert len(batch.blocks) == 2
    assert [e.tx.nonce for e in batch.blocks[1].txs] == [0, 1]
    assert [e.tx.y_parity for e in batch.blocks[1].txs] == [0, 1]  # v 0x1b, 0x1c
    assert encode_batch_v2(batch) == Z2 + Z3


def test_vector_txs_are_real_signed_transactions() -> None:
    """The raw form rebuilt from each entry carries a valid signature by the
    zkevm-node test account, so the entry -> raw conversion is the right one."""
    for block in decode_batch_v2(Z2 + Z3).blocks:
        for entry in block.txs:
            assert Account.recover_transaction(entry.raw) == "0x617b3a3528F9cDd6630fd3301B9c8911F7Bf063D"


def test_z4_forced_batch() -> None:
    forced = decode_forced_batch(Z4)
    assert [e.tx.nonce for e in forced.txs] == [2, 3]
    assert encode_forced_batch(forced) == Z4
    assert forced.txs == decode_batch_v2(Z2).blocks[0].txs


def test_z4_regular_batch_is_not_a_forced_batch() -> None:
    with pytest.raises(DecodeError, match="changeL2Block"):
        decode_forced_batch(Z2)


def test_real_incaberry_batch_as_tx_list() -> None:
    forced = decode_forced_batch(INCABERRY, max_bytes=len(INCABERRY))
    assert len(forced.txs) == 9
    assert {e.tx.chain_id for e in forced.txs} == {1442}
    assert len(forced.txs[-1].tx.data) == 68  # an ERC-20 approve
    assert encode_forced_batch(forced, max_bytes=len(INCABERRY)) == INCABERRY


@pytest.mark.parametrize("fields", case_lines("z5_decode_batch_cases.hex"), ids=lambda f: f[0][:20])
def test_z5_decode_batches(fields: list[str]) -> None:
    data = b"" if fields[0] == "-" else bytes.fromhex(fields[0])
    if fields[1] == "ok":
        batch = decode_batch_v2(data)
        assert len(batch.blocks) == int(fields[2])
        assert encode_batch_v2(batch) == data
    else:
        with pytest.raises(DecodeError, match=f"^{fields[2]}:"):
            decode_batch_v2(data)


@pytest.mark.parametrize("fields", case_lines("rlp_list_length_cases.hex"), ids=lambda f: f[0])
def test_rlp_list_length_helper(fields: list[str]) -> None:
    data = bytes.fromhex(fields[0])
    if fields[1] == "error":
        with pytest.raises(DecodeError, match="^tx.rlp:"):
            decode_rlp_list_length(data, 0)
    else:
        assert decode_rlp_list_length(data, 0) == int(fields[1])
