"""The batcher's `[batcher]` config table and the sample file that documents it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from repo_root import ROOT

from sequencer.errors import BadInput
from sequencer.l1.batcher import KEY_ENV, BatcherConfig, load_batcher_config

SAMPLE = ROOT / "deploy" / "batcher.sample.toml"
INBOX = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_sample_documents_every_option_and_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tomllib.loads(SAMPLE.read_text())["batcher"]
    text = SAMPLE.read_text()
    fields = (set(BatcherConfig.__dataclass_fields__) - {"key", "signer_key"}) | {"key_file", "signer_key_file"}
    assert all(f"\n{f} =" in text or f"\n# {f} =" in text for f in fields), "an option is undocumented"
    (tmp_path / "m.json").write_text(json.dumps({"contracts": {"SequencerInbox": {"address": INBOX.lower()}}}))
    (tmp_path / "seq.key").write_text("44" * 32 + "\n")
    monkeypatch.setenv(KEY_ENV, "0x" + "11" * 32)
    cfg = BatcherConfig.from_dict({"batcher": {**{k: v for k, v in doc.items() if k != "key_file"},
                                               "manifest": "m.json", "signer_key_file": "seq.key"}}, tmp_path)
    assert cfg.inbox == INBOX and cfg.key == b"\x11" * 32 and cfg.window_ms == 2000 and cfg.confirmations == 0
    assert cfg.signer_key == b"\x44" * 32
    assert "11" * 32 not in repr(cfg) and "44" * 32 not in repr(cfg)


def test_key_file_and_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    (tmp_path / "k").write_text("22" * 32 + "\n")
    (tmp_path / "s").write_text("0x" + "55" * 32)
    (tmp_path / "b.toml").write_text(f'[batcher]\nsequencer = "127.0.0.1:1"\nl1_rpc_url = "http://127.0.0.1:2"\n'
                                     f'inbox = "{INBOX}"\nkey_file = "k"\nsigner_key_file = "s"\nwindow_ms = 1000\n'
                                     f'bump_after_s = 3\n')
    cfg = load_batcher_config(tmp_path / "b.toml")
    assert cfg.key == b"\x22" * 32 and cfg.window_ms == 1000 and cfg.bump_after_s == 3.0
    assert cfg.signer_key == b"\x55" * 32


@pytest.mark.parametrize(("table", "error"), [
    ({"sequencer": "a", "l1_rpc_url": "b", "key_file": "k", "signer_key_file": "k"}, "give `inbox`"),
    ({"sequencer": "a", "l1_rpc_url": "b", "inbox": INBOX, "signer_key_file": "k"}, "give `key_file`"),
    ({"sequencer": "a", "l1_rpc_url": "b", "inbox": INBOX, "key_file": "k"}, "`signer_key_file` is required"),
    ({"sequencer": "a", "l1_rpc_url": "b", "inbox": INBOX, "key_file": "k", "signer_key_file": "gone"},
     "key file .*gone does not exist"),
    ({"sequencer": "a", "l1_rpc_url": "b", "inbox": INBOX, "key_file": "k", "signer_key_file": "k",
      "windw_ms": 5}, "unknown option"),
])
def test_bad_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: dict, error: str) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    (tmp_path / "k").write_text("33" * 32)
    with pytest.raises(BadInput, match=error):
        BatcherConfig.from_dict({"batcher": table}, tmp_path)


def test_a_batcher_without_the_sequencer_key_refuses_to_start() -> None:
    from sequencer.l1.batcher import Batcher

    with pytest.raises(BadInput, match="signer_key_file"):
        Batcher(BatcherConfig("a", "b", INBOX, b"\x11" * 32))


def test_missing_key_file_or_manifest_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    table = {"sequencer": "a", "l1_rpc_url": "b", "inbox": INBOX, "key_file": "missing.key", "signer_key_file": "x"}
    with pytest.raises(BadInput, match=r"key_file .*missing\.key.*No such file"):
        BatcherConfig.from_dict({"batcher": table}, tmp_path)
    (tmp_path / "k").write_text("33" * 32)
    table = {"sequencer": "a", "l1_rpc_url": "b", "manifest": "gone.json", "key_file": "k", "signer_key_file": "k"}
    with pytest.raises(BadInput, match=r"manifest .*gone\.json.*cannot read"):
        BatcherConfig.from_dict({"batcher": table}, tmp_path)
    table = {"sequencer": "a", "l1_rpc_url": "b", "inbox": "0x12", "key_file": "k", "signer_key_file": "k"}
    with pytest.raises(BadInput, match="not an address"):
        BatcherConfig.from_dict({"batcher": table}, tmp_path)


def test_batcher_cli_reports_a_config_error_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sequencer.cli import main
    from sequencer.exitcodes import EXIT_CONFIG

    monkeypatch.delenv(KEY_ENV, raising=False)
    (tmp_path / "b.toml").write_text(f'[batcher]\nsequencer = "127.0.0.1:1"\nl1_rpc_url = "http://127.0.0.1:2"\n'
                                     f'inbox = "{INBOX}"\nkey_file = "no-such.key"\n')
    assert main(["batcher", "--config", str(tmp_path / "b.toml")]) == EXIT_CONFIG  # was 1 before issue 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("batcher: ") and "no-such.key" in err
    assert "Traceback" not in err


def test_the_sample_shows_the_schemas_defaults() -> None:
    """deploy/batcher.sample.toml says "every option, with its default": each value it sets (paths and
    the required addresses aside) is BatcherFile's default, which is BatcherConfig's (one set)."""
    from sequencer.configfile import defaults_of, read_option
    from sequencer.l1.batcher import BatcherFile

    doc = tomllib.loads(SAMPLE.read_text())["batcher"]
    defaults = defaults_of(BatcherFile)
    checked = 0
    for name, value in doc.items():
        if name in ("sequencer", "l1_rpc_url", "manifest", "key_file", "signer_key_file", "state_file", "inbox"):
            continue
        assert read_option(BatcherFile, name, value, "batcher") == defaults[name], name
        checked += 1
    assert checked >= 10
    assert defaults["window_ms"] == BatcherConfig("a", "b", INBOX, b"\x11" * 32).window_ms
