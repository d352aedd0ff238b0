"""Real OP Stack batcher data through `sharedseq batch decode --format opstack` (sources: testdata/README.md)."""

from __future__ import annotations

import pytest
from realworld_helpers import cli_decode, vector

from rollup_adapters.cli import payload_bytes
from rollup_adapters.opstack import Frame, decode_batcher_tx, decode_blob, encode_batcher_tx

MAINNET_TX = vector("op_mainnet_batcher_tx_zlib.hex")
SEPOLIA_BLOB = vector("op_sepolia_blob9.hex")
SEPOLIA_BLOB_DECODED = vector("op_sepolia_blob9_decoded.hex")


def test_mainnet_batcher_tx_one_frame_zlib_channel_of_singular_batches(capsys: pytest.CaptureFixture[str]) -> None:
    doc = cli_decode(capsys, "opstack", "batcher-tx", MAINNET_TX)
    assert [(f["channel_id"], f["frame_number"], f["data_length"], f["is_last"]) for f in doc["frames"]] == [
        ("0xdc0da7c1a3f3c429b8668e2ca31014d9", 0, 116281, True)
    ]
    assert doc["frames"][0]["data"].startswith("0x78da")  # a zlib channel (pre-Fjord), not brotli
    batches = doc["batches"]
    assert len(batches) == 34 and {b["type"] for b in batches} == {"singular"}
    first = batches[0]
    assert first["parent_hash"] == "0xcc519a842a3393f5423a9c756005b4dde21e4ae897a7cc4a5045fb35e9f67498"
    assert first["epoch_number"] == 18976424
    assert first["epoch_hash"] == "0x479a8a418daddda01a6176b40b6355c81e6954ea2e139807d9323d200501fce5"
    assert first["timestamp"] == 1704888269 and first["tx_count"] == 14
    # OP Mainnet has 2-second blocks: consecutive singular batches are one L2 block apart.
    assert [b["timestamp"] - first["timestamp"] for b in batches[:3]] == [0, 2, 4]


def test_mainnet_batcher_tx_is_the_default_layer_and_raw_bytes_work(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    raw = payload_bytes(MAINNET_TX.read_bytes())
    (tmp_path / "tx.bin").write_bytes(raw)
    (tmp_path / "tx.txt").write_text("  " + raw.hex().upper() + "\n")
    by_hex = cli_decode(capsys, "opstack", None, MAINNET_TX)
    assert cli_decode(capsys, "opstack", None, tmp_path / "tx.bin") == by_hex
    assert cli_decode(capsys, "opstack", None, tmp_path / "tx.txt") == by_hex


def test_a_frame_that_is_only_part_of_a_channel_is_listed_with_no_batches(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    # op-node's ChannelBank holds such a frame until the channel completes; nothing can be derived yet.
    real = decode_batcher_tx(payload_bytes(MAINNET_TX.read_bytes()))[0]
    (tmp_path / "part.bin").write_bytes(encode_batcher_tx([Frame(real.channel_id, 0, real.data[:50_000], False)]))
    doc = cli_decode(capsys, "opstack", "batcher-tx", tmp_path / "part.bin")
    assert [(f["frame_number"], f["data_length"], f["is_last"]) for f in doc["frames"]] == [(0, 50_000, False)]
    assert doc["batches"] == []


def test_truncated_channel_keeps_the_batches_read_before_the_cut(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    real = decode_batcher_tx(payload_bytes(MAINNET_TX.read_bytes()))[0]
    (tmp_path / "channel.bin").write_bytes(real.data[:50_000])
    doc = cli_decode(capsys, "opstack", "channel", tmp_path / "channel.bin")
    assert 0 < len(doc["batches"]) < 34
    assert doc["batches"][0]["epoch_number"] == 18976424


def test_sepolia_blob_decodes_to_the_upstream_bytes() -> None:
    # hildr BlobCodecTest.testSepoliaBlobCodec: decode(blob9) == blob9_decode.
    blob = payload_bytes(SEPOLIA_BLOB.read_bytes())
    assert len(blob) == 131072
    assert decode_blob(blob) == payload_bytes(SEPOLIA_BLOB_DECODED.read_bytes())


def test_sepolia_blob_layer_hex_and_raw(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    doc = cli_decode(capsys, "opstack", "blob", SEPOLIA_BLOB)
    assert [(f["channel_id"], f["frame_number"], f["data_length"], f["is_last"]) for f in doc["frames"]] == [
        ("0x2f127415c9cb64ca077f23db3cfa302e", 0, 3196, True)
    ]
    [span] = doc["batches"]
    assert span["type"] == "span" and span["block_count"] == 22 and span["tx_count"] == 20
    assert sum(span["block_tx_counts"]) == 20
    (tmp_path / "blob.bin").write_bytes(payload_bytes(SEPOLIA_BLOB.read_bytes()))
    assert cli_decode(capsys, "opstack", "blob", tmp_path / "blob.bin") == doc
    # The blob's content is one batcher transaction: the same view from the decoded bytes.
    assert cli_decode(capsys, "opstack", "batcher-tx", SEPOLIA_BLOB_DECODED) == doc
