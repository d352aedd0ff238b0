"""Operator mistakes on the command line end in one line and exit code 1 or 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sequencer.cli import main


def test_tls_cert_without_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["submit", "--rollup", "901", "--payload", "0x00", "--tls-ca", "ca.pem", "--tls-cert", "c.pem"]) == 1
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


def test_submit_needs_exactly_one_payload_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["submit", "--rollup", "901"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["submit", "--rollup", "901", "--payload", "00", "--file", "x"])


def test_unreadable_payload_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["submit", "--rollup", "901", "--file", str(tmp_path / "missing.hex")]) == 1
    assert "cannot read it as hex" in capsys.readouterr().err
    assert main(["submit", "--rollup", "901", "--file", str(tmp_path)]) == 1


def test_tls_gen_keeps_an_existing_ca(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["tls-gen", "--out", str(tmp_path / "pki")]) == 0
    ca = (tmp_path / "pki" / "ca.pem").read_bytes()
    assert main(["tls-gen", "--out", str(tmp_path / "pki")]) == 1
    assert "refusing to replace" in capsys.readouterr().err
    assert (tmp_path / "pki" / "ca.pem").read_bytes() == ca
    assert main(["tls-gen", "--out", str(tmp_path / "pki"), "--force"]) == 0


def test_keygen_refuses_to_overwrite_and_reports_unwritable(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 1
    assert main(["keygen", "--out", str(tmp_path), "--force"]) == 1
    assert "cannot write key file" in capsys.readouterr().err


def test_unreachable_sequencer_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "--server", "127.0.0.1:1", "--rollup", "901", "--payload", "0x01", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: UNAVAILABLE") and "is the sequencer running at 127.0.0.1:1" in err
