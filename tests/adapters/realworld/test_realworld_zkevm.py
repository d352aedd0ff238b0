"""A real Polygon zkEVM batch through `sharedseq batch decode --format zkevm` (source: testdata/README.md)."""

from __future__ import annotations

import pytest
from realworld_helpers import cli_decode, cli_fails, vector

INCABERRY = vector("zkevm_testnet_batch_420000_incaberry.hex")
HEADER = "0b73e6af6f00000000"  # codedL2BlockHeader: changeL2Block, deltaTimestamp 0x73e6af6f, index 0


def test_real_batch_converted_to_etrog(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    # zkevm-node TestDecodeBatches "real batch converted to etrog": header ++ realBatchIncaberry decodes.
    (tmp_path / "etrog.hex").write_text("0x" + HEADER + INCABERRY.read_text().strip())
    doc = cli_decode(capsys, "zkevm", "batch", tmp_path / "etrog.hex")
    [block] = doc["blocks"]
    assert block["delta_timestamp"] == 0x73E6AF6F and block["index_l1_info_tree"] == 0
    txs = block["txs"]
    assert len(txs) == 9
    assert [t["nonce"] for t in txs[:8]] == list(range(509060, 509068))
    assert {t["chain_id"] for t in txs} == {1442}  # the zkEVM testnet
    assert {t["effective_percentage"] for t in txs} == {255}
    assert txs[0]["to"] == "0x417a7ba2d8d0060ae6c54fd098590db854b9c1d5" and txs[0]["value"] == 10**13
    assert txs[0]["gas_price"] == 50_000_000 and txs[0]["gas"] == 21000
    assert txs[8]["nonce"] == 1667 and txs[8]["data"].startswith("0x095ea7b3")  # ERC-20 approve


def test_pre_etrog_batch_is_refused_by_the_batch_layer(capsys: pytest.CaptureFixture[str]) -> None:
    # zkevm-node: "pass a V1 batch(incaberry) must fail" with ErrBatchV2DontStartWithChangeL2Block.
    err = cli_fails(capsys, "zkevm", "batch", INCABERRY)
    assert "0x0b" in err and "forced-batch" in err


def test_pre_etrog_batch_reads_as_tx_entries(capsys: pytest.CaptureFixture[str]) -> None:
    # Forks 5-6 (Dragonfruit/Incaberry) carry txEntry* with effectivePercentage and no changeL2Block,
    # the same layout as an Etrog forced batch.
    doc = cli_decode(capsys, "zkevm", "forced-batch", INCABERRY)
    assert len(doc["txs"]) == 9 and doc["txs"][0]["nonce"] == 509060
