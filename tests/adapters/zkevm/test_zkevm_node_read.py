"""Polygon CDK / zkEVM batches read as the node reads them (zkevm-node state/encoding_batch_v2.go
DecodeBatchV2, DecodeTxRLP; state/transaction.go RlpFieldsToLegacyTx; cdk-erigon zk/tx), while
what we encode and what our rollups accept keep the strict codec and its caps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup_adapters.base import RollupBlock
from rollup_adapters.cli import main
from rollup_adapters.registry import get_format
from rollup_adapters.zkevm import FORMAT, MAX_BATCH_BYTES, decode_batch_v2, decode_forced_batch
from rollup_adapters.zkevm.node_read import read_batch_v2, read_forced_batch, read_tx_entry
from rollup_adapters.zkevm.tx_entry import decode_tx_entry
from sequencer.errors import DecodeError, TooLarge

TESTDATA = Path(__file__).parent / "testdata"
Z2 = bytes.fromhex((TESTDATA / "z2_coded_l2_block1.hex").read_text().strip())
Z4 = bytes.fromhex((TESTDATA / "z4_forced_coded_rlp_2txs1.hex").read_text().strip())

TO = "11" * 20
SIG = "01" * 32 + "02" * 32


def entry(fields_hex: str, v: str = "1b", ep: str = "ff") -> bytes:
    body = bytes.fromhex(fields_hex)
    assert len(body) < 56
    return bytes([0xC0 + len(body)]) + body + bytes.fromhex(SIG + v + ep)


BODY = "80" + "01" + "825208" + "94" + TO + "80" + "80"  # nonce 0, gasPrice 1, gas 21000, to, value 0, data
# (name, entry, what the node reads: (nonce, gas_price, to, chain_id, v), the strict codec's complaint)
LENIENT = [
    ("7 fields: field 6 is the chain id", entry(BODY + "8203e9"), (0, 1, TO, 1001, 2037), "7 fields"),
    ("more than 9 fields", entry(BODY + "8203e9" + "80" * 4), (0, 1, TO, 1001, 2037), "11 fields"),
    ("leading-zero nonce", entry("8200" + "05" + BODY[2:]), None, "leading zero"),
    ("19-byte to, left-padded", entry("80" + "01" + "825208" + "93" + "22" * 19 + "80" + "80"),
     (0, 1, "00" + "22" * 19, None, 27), "19 bytes"),
    ("v byte 0x25", entry(BODY, v="25"), (0, 1, TO, None, 0x25), "tx.v: 0x25"),
    ("nonzero fields after the chain id", entry(BODY + "8203e9" + "01" + "80"), (0, 1, TO, 1001, 2037),
     "after chainId"),
]


@pytest.mark.parametrize(("name", "raw", "read", "strict_error"), LENIENT, ids=[c[0] for c in LENIENT])
def test_entries_the_node_accepts(name, raw, read, strict_error):
    data = b"\x0b" + b"\x00" * 8 + raw
    with pytest.raises(DecodeError, match=strict_error):
        decode_tx_entry(data, 9)
    tx, end = read_tx_entry(data, 9)
    assert end == len(data) and tx.strict is None and strict_error in tx.note
    if read is not None:
        nonce, gas_price, to, chain_id, v = read
        assert (tx.nonce, tx.gas_price, tx.to.hex(), tx.chain_id, tx.v) == (nonce, gas_price, to, chain_id, v)
    doc = FORMAT.decode_json(data, "batch")
    (view,) = doc["blocks"][0]["txs"]
    assert view["raw_entry"] == "0x" + raw.hex() and view["note"]
    assert FORMAT.encode_json(json.loads(json.dumps(doc)), "batch") == data


REFUSED = [
    ("not a list", "7f" + SIG + "1bff", "first byte 0x7f"),
    ("non-canonical long header", "f801" + "80" + SIG + "1bff", "tx.rlp"),
    ("nested list field", "c3" + "80c180" + SIG + "1bff", "list of byte strings"),
    ("five fields", "c5" + "8080808080" + SIG + "1bff", "at least 6"),
    ("tail truncated", "c6" + "808080808080" + "01" * 40, "truncated"),
]


@pytest.mark.parametrize(("name", "hex_", "match"), REFUSED, ids=[c[0] for c in REFUSED])
def test_entries_the_node_refuses(name, hex_, match):
    with pytest.raises(DecodeError, match=match):
        read_batch_v2(bytes.fromhex("0b" + "00" * 8 + hex_))


def test_canonical_entries_read_the_same_both_ways():
    """On well-formed data the node reading and the strict codec agree, hash included."""
    for blocks in (read_batch_v2(Z2),):
        strict = decode_batch_v2(Z2)
        for node_block, strict_block in zip(blocks, strict.blocks, strict=True):
            for node_tx, strict_tx in zip(node_block.txs, strict_block.txs, strict=True):
                assert node_tx.strict == strict_tx and node_tx.tx_hash == strict_tx.tx_hash
    for node_tx, strict_tx in zip(read_forced_batch(Z4), decode_forced_batch(Z4).txs, strict=True):
        assert node_tx.tx_hash == strict_tx.tx_hash


def test_size_caps_bind_encoding_and_our_rollups_not_decoding():
    """DecodeBatchV2 has no cap: a 130 KB batch decodes; we never encode or accept one."""
    big = b"\x0b" + b"\x00" * 8  # one block, then a 130 KB tx entry
    data_field = b"\x00" * 130_000
    body = bytes.fromhex("80" + "01" + "825208" + "94" + TO + "80") + b"\xba" + len(data_field).to_bytes(3, "big")
    body += data_field
    raw = b"\xfa" + len(body).to_bytes(3, "big") + body + bytes.fromhex(SIG + "1bff")
    batch = big + raw
    assert len(batch) > MAX_BATCH_BYTES
    doc = FORMAT.decode_json(batch, "batch")
    assert len(doc["blocks"][0]["txs"]) == 1 and doc["blocks"][0]["txs"][0]["data"] == "0x" + data_field.hex()
    with pytest.raises(DecodeError, match="over the 120000-byte limit"):
        FORMAT.decode_blocks([batch], {})
    with pytest.raises(TooLarge):
        FORMAT.encode_json(doc, "batch")
    forced = raw * 1
    assert len(FORMAT.decode_json(forced, "forced-batch")["txs"]) == 1
    with pytest.raises(DecodeError, match="5000-byte limit"):
        decode_forced_batch(forced)


def cdk_rows() -> list[list[str]]:
    lines = (TESTDATA / "cdk_erigon_tx_cases.txt").read_text().splitlines()
    return [[c.strip() for c in ln.split("|")] for ln in lines if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("row", cdk_rows(), ids=lambda r: r[0])
def test_cdk_erigon_cases(row):
    _, data_text, outcome = row
    data = data_text[5:].encode() if data_text.startswith("text:") else bytes.fromhex(data_text)
    if outcome == "error":
        with pytest.raises(DecodeError):
            FORMAT.decode_json(data, "forced-batch")
        with pytest.raises(DecodeError):
            FORMAT.decode_json(data, "batch")
        return
    to, v, r, s, gas, data_hex, nonce, gas_price, ep = outcome.split(",")
    (tx,) = FORMAT.decode_json(data, "forced-batch")["txs"]
    assert (tx["to"], tx["v"], tx["r"], tx["s"], tx["gas"], tx["data"]) == (to, int(v, 16), r, s, int(gas), data_hex)
    assert (tx["nonce"], tx["gas_price"], tx["effective_percentage"], tx["chain_id"]) == (
        int(nonce), int(gas_price), int(ep), None)


def test_cdk_is_the_format_name_and_zkevm_its_alias(tmp_path, capsys):
    from rollup_adapters.registry import NAMES, TOOL_NAMES

    assert get_format("cdk") is get_format("zkevm") is FORMAT
    assert "cdk" in TOOL_NAMES and "cdk" not in NAMES  # rollup configs and derivation keep "zkevm"
    path = tmp_path / "z2.hex"
    path.write_text(Z2.hex())
    assert main(["batch", "decode", "--format", "cdk", str(path)]) == 0
    by_cdk = json.loads(capsys.readouterr().out)
    assert main(["batch", "decode", "--format", "zkevm", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == by_cdk == FORMAT.decode_json(Z2, "batch")


def test_round_trip_of_our_encoding_still_strict():
    blocks = FORMAT.decode_blocks([Z2], {"first_number": 3})
    assert all(isinstance(b, RollupBlock) for b in blocks) and len(blocks[0].transactions) == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_node_reader(data):
    for read in (read_batch_v2, read_forced_batch):
        try:
            read(data)
        except DecodeError:
            pass
    try:
        json.dumps(FORMAT.decode_json(b"\x0b" + b"\x00" * 8 + data, "batch"))
    except DecodeError:
        pass
