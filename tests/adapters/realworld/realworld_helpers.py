"""Run `sharedseq batch decode` on a real vector through the CLI entry and return its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup_adapters.cli import main

TESTDATA = Path(__file__).parent / "testdata"


def vector(name: str) -> Path:
    return TESTDATA / name


def cli_decode(capsys: pytest.CaptureFixture[str], fmt: str, layer: str | None, path: Path) -> dict:
    argv = ["batch", "decode", "--format", fmt, *(["--layer", layer] if layer else []), str(path)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def cli_fails(capsys: pytest.CaptureFixture[str], fmt: str, layer: str | None, path: Path) -> str:
    argv = ["batch", "decode", "--format", fmt, *(["--layer", layer] if layer else []), str(path)]
    assert main(argv) == 1
    return capsys.readouterr().err
