"""The CLI's exit codes for the programs that import web3 (deploy, devnet; its import opens a socket):
a config file that cannot work exits 78 with one line naming `table.key`. The rest of the boundary is
tested in the unit layer (tests/unit/cli/test_cli_config_exit_codes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sequencer.cli import main
from sequencer.exitcodes import EXIT_CONFIG

ROLLUP = '[[rollups]]\nid = 901\nname = "op"\nformat = "opstack"\nblock_time_ms = 1000\n'


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


def test_every_program_exits_78_on_its_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.toml").write_text('[devnet]\nslot_ms = "fast"\n' + ROLLUP)
    assert main(["devnet", "--config", str(tmp_path / "d.toml")]) == EXIT_CONFIG
    assert one_line(capsys) == "devnet: config error: devnet.slot_ms: expected an integer, got 'fast' (exit code 78)"
    (tmp_path / "l1.toml").write_text('[l1]\nforce_inclusion_delay = "soon"\n' + ROLLUP)
    assert main(["deploy", "--config", str(tmp_path / "l1.toml"), "--rpc-url", "http://127.0.0.1:1"]) == EXIT_CONFIG
    assert one_line(capsys).startswith("deploy: config error: l1.force_inclusion_delay: expected an integer")
