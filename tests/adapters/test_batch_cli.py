"""`sharedseq batch decode|encode` (rollup_adapters/cli.py), on the zkEVM vectors."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rollup_adapters.cli import add_batch_commands, main
from rollup_adapters.zkevm import FORMAT

TESTDATA = Path(__file__).parent / "zkevm" / "testdata"
Z1_HEX = (TESTDATA / "z1_encode_two_empty_blocks.hex").read_text().strip()
Z2_HEX = (TESTDATA / "z2_coded_l2_block1.hex").read_text().strip()
Z4_HEX = (TESTDATA / "z4_forced_coded_rlp_2txs1.hex").read_text().strip()
REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "content",
    [
        Z2_HEX.encode(),
        ("0x" + Z2_HEX).encode(),
        ("0x" + "\n".join(Z2_HEX[i : i + 64] for i in range(0, len(Z2_HEX), 64)) + "\n").encode(),
        ("  " + " ".join(Z2_HEX[i : i + 2] for i in range(0, len(Z2_HEX), 2)) + "\t\n").encode(),
        bytes.fromhex(Z2_HEX),
    ],
    ids=["hex", "0x-hex", "wrapped-hex", "spaced-hex", "raw-bytes"],
)
def test_decode_accepts_hex_or_raw(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "batch.bin"
    path.write_bytes(content)
    code, out, err = run(capsys, "batch", "decode", "--format", "zkevm", str(path))
    assert (code, err) == (0, "")
    assert json.loads(out) == FORMAT.decode_json(bytes.fromhex(Z2_HEX), "batch")
    assert out.startswith('{\n  "blocks": [')  # indent 2


def test_decode_forced_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f.hex").write_text(Z4_HEX)
    code, out, _ = run(
        capsys, "batch", "decode", "--format", "zkevm", "--layer", "forced-batch", str(tmp_path / "f.hex")
    )
    assert code == 0
    assert [tx["nonce"] for tx in json.loads(out)["txs"]] == [2, 3]


def test_decode_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Z1_HEX.encode())))
    code, out, _ = run(capsys, "batch", "decode", "--format", "zkevm", "-")
    assert code == 0
    assert [b["delta_timestamp"] for b in json.loads(out)["blocks"]] == [123, 789]


@pytest.mark.parametrize(
    ("hex_input", "message"),
    [
        ("0c", "changeL2Block: batch v2 must start with 0x0b, found 0x0c at 0"),
        ("0b010203", "deltaTimestamp: truncated at 1"),
        ("0b01020304010203", "indexL1InfoTree: truncated at 5"),
        ("0b0102030401020304" + "7f", "tx.rlp: first byte 0x7f is not an RLP list header (< 0xc0) at 9"),
        (Z2_HEX[:-2], "tx.effectivePercentage: truncated at"),
    ],
)
def test_malformed_input_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hex_input: str, message: str
) -> None:
    (tmp_path / "bad.hex").write_text(hex_input)
    code, out, err = run(capsys, "batch", "decode", "--format", "zkevm", str(tmp_path / "bad.hex"))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith(message)


def test_unknown_layer_exits_2_listing_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "z1.hex").write_text(Z1_HEX)
    code, out, err = run(capsys, "batch", "decode", "--format", "zkevm", "--layer", "frame", str(tmp_path / "z1.hex"))
    assert (code, out) == (2, "")
    assert "batch, forced-batch" in err and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "batch", "decode", "--format", "nosuch", "x")[0] == 2
    assert run(capsys, "batch", "decode", "x")[0] == 2  # --format is required


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "batch", "decode", "--format", "zkevm", str(tmp_path / "absent.hex"))
    assert code == 1 and err.count("\n") == 1


def test_encode_prints_hex_and_writes_raw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "z2.json"
    doc.write_text(json.dumps(FORMAT.decode_json(bytes.fromhex(Z2_HEX), "batch")))
    code, out, _ = run(capsys, "batch", "encode", "--format", "zkevm", str(doc))
    assert (code, out) == (0, "0x" + Z2_HEX + "\n")
    code, out, _ = run(capsys, "batch", "encode", "--format", "zkevm", "--out", str(tmp_path / "z2.bin"), str(doc))
    assert (code, out) == (0, "")
    assert (tmp_path / "z2.bin").read_bytes() == bytes.fromhex(Z2_HEX)


def test_encode_forced_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "f.json"
    doc.write_text(json.dumps(FORMAT.decode_json(bytes.fromhex(Z4_HEX), "forced-batch")))
    code, out, _ = run(capsys, "batch", "encode", "--format", "zkevm", "--layer", "forced-batch", str(doc))
    assert (code, out.strip()) == (0, "0x" + Z4_HEX)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "json: Expecting property name enclosed in double quotes at 1"),
        ('{"blocks": [{"delta_timestamp": -1}]}', "blocks[0].delta_timestamp: expected an integer"),
    ],
)
def test_encode_bad_document_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "bad.json").write_text(text)
    code, out, err = run(capsys, "batch", "encode", "--format", "zkevm", str(tmp_path / "bad.json"))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith(message)


def test_add_batch_commands_plugs_into_another_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """How the sharedseq console script wires it: args.func(args) is the exit code."""
    parser = argparse.ArgumentParser(prog="sharedseq")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    add_batch_commands(sub)
    (tmp_path / "z1.hex").write_text(Z1_HEX)
    args = parser.parse_args(["batch", "decode", "--format", "zkevm", str(tmp_path / "z1.hex")])
    assert args.func(args) == 0
    assert len(json.loads(capsys.readouterr().out)["blocks"]) == 2


def test_python_dash_m_with_stdin() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rollup_adapters.cli", "batch", "decode", "--format", "zkevm", "-"],
        input=("0x" + Z1_HEX).encode(),
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["blocks"][1]["index_l1_info_tree"] == 101112
    bad = subprocess.run(
        [sys.executable, "-m", "rollup_adapters.cli", "batch", "decode", "--format", "zkevm", "-"],
        input=b"0b010203",
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert (bad.returncode, bad.stderr) == (1, b"deltaTimestamp: truncated at 1\n")


# Other formats: only if their package imports and registers FORMAT now.
OP_V2_BATCH = (
    "00f90110a0" + "00" * 32 + "01a0" + "00" * 32 + "01f8cab86302f8600a020403059400000000000000000000000000000000000000"
    "060708c080a0840cfc572845f5786e702984c2a582528cad4b49b2a10b9db1be7fca90058565a025e7109ceb98168d95b09b18bbf6b6851"
    "30e0562f233877d492b94eee0c5b6d1b86302f8600a020403059400000000000000000000000000000000000000070708c080a0840cfc57"
    "2845f5786e702984c2a582528cad4b49b2a10b9db1be7fca90058565a025e7109ceb98168d95b09b18bbf6b685130e0562f233877d492b9"
    "4eee0c5b6d1"
)
OTHER_VECTORS = {
    # OP Stack V2: the 276-byte singular batch (UPSTREAM, op-alloy frames_to_batch.rs).
    "opstack": ("rollup_adapters.opstack", "singular-batch", OP_V2_BATCH),
    # Nitro A2: calldata payload, header byte 0x00 ++ brotli (CONSTRUCTED, decoded by arbdecode.js).
    "nitro": (
        "rollup_adapters.nitro",
        "payload",
        "001b5401f88fd44e77e340c5d6ff8cb33f0055880b796eaeae7b8b300f8a4e42bc76f5d2353b056c8b61032e00cb04025efd44"
        "608f5222f2a8accff20279741621b83db67d0128000000f0a27d3b89d0284c17ac1c8bc31f27e7b3e47f875cf311f40714d9"
        "d395b4b9ba6a326c2d9066360f13674d4cce372fb9a24fef86dc5a6f63c2dffb2cc7a262dcafea42cca0ea3e5ede793a8ef3"
        "691472db070f",
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_VECTORS))
def test_other_formats_through_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    module_name, layer, vector = OTHER_VECTORS[name]
    fmt = getattr(pytest.importorskip(module_name), "FORMAT", None)
    if fmt is None or layer not in fmt.layers:
        pytest.skip(f"{module_name} has no FORMAT with layer {layer} yet")
    (tmp_path / "v.hex").write_text(vector)
    code, _, err = run(capsys, "batch", "decode", "--format", name, "--layer", "no-such", str(tmp_path / "v.hex"))
    assert code == 2 and ", ".join(fmt.layers) in err
    code, out, err = run(capsys, "batch", "decode", "--format", name, "--layer", layer, str(tmp_path / "v.hex"))
    assert code == 0, err
    assert isinstance(json.loads(out), dict)
    (tmp_path / "junk.bin").write_bytes(b"\xff\xfe\xfd")
    code, out, err = run(capsys, "batch", "decode", "--format", name, "--layer", layer, str(tmp_path / "junk.bin"))
    assert code in (0, 1)
    if code == 1:
        assert err.count("\n") == 1 and out == ""
