"""One boundary from errors to exit codes (sequencer/exitcodes.py): a config file that cannot work exits
78 (EX_CONFIG) with one line naming `table.key`, a storage fault 74, other project errors 1; the
subcommands are plain imports. The two tests that start a process are marked integration in
tests/conftest.py; deploy and devnet (web3) are in tests/integration/test_cli_exit_codes.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from repo_root import ROOT

from sequencer.cli import build_parser, main
from sequencer.errors import BadInput, ConfigError, StorageFault
from sequencer.exitcodes import EXIT_CONFIG, EXIT_FAILURE, EXIT_STORAGE_FAULT, report

ROLLUP = '[[rollups]]\nid = 901\nname = "op"\nformat = "opstack"\nblock_time_ms = 1000\n'


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


@pytest.mark.parametrize(("text", "line"), [
    ('[sequencer]\nslot_ms = "abc"\n' + ROLLUP,
     "config error: sequencer.slot_ms: expected a positive integer, got 'abc' (exit code 78)"),
    ('[sequencer]\nslot_msec = 5\n' + ROLLUP, "config error: [sequencer]: unknown option(s) slot_msec (unknown "
                                              "key(s) sequencer.slot_msec); known: "),
    ('[sequencer]\nstore = "raft"\n' + ROLLUP, "config error: sequencer.store: expected one of 'sqlite', "
                                               "'jetstream', got 'raft' (exit code 78)"),
    ('[[rollups]]\nid = 901\nformat = "opstack"\n', "config error: rollups[0].name: missing"),
    (ROLLUP + '[[rollups]]\nid = 902\nname = "n"\nformat = "nitro"\nblock_time_ms = "fast"\n',
     "config error: rollups[1].block_time_ms: expected a positive integer, got 'fast' (exit code 78)"),
    ('[subscribers]\nstall_s = "long"\n' + ROLLUP, "config error: subscribers.stall_s: expected a number, got "
                                                   "'long' (exit code 78)"),
    ('[l1]\nrpc_url = "http://127.0.0.1:1"\npoll_ms = 0\n' + ROLLUP, "config error: l1.poll_ms: "),
    ('[sequencer]\nmax_list_items = 0\n' + ROLLUP, "config error: sequencer.max_list_items: must be at least 1"),
    ('[console]\nlisten = "nonsense"\n' + ROLLUP, "config error: console.listen: expected host:port"),
    ('[limits]\nmax_tx_bytes = 2000000\n' + ROLLUP, "config error: limits.max_tx_bytes: max_tx_bytes must not "
                                                     "exceed max_block_bytes (exit code 78)"),
    (ROLLUP + ROLLUP, "config error: rollups: duplicate rollup ids in [901, 901] (exit code 78)"),
    ("[sequencer\n", "config error: "),
])
def test_serve_with_a_bad_config_exits_78_naming_table_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           text: str, line: str) -> None:
    (tmp_path / "s.toml").write_text(text)
    assert main(["serve", "--config", str(tmp_path / "s.toml")]) == EXIT_CONFIG
    assert one_line(capsys).startswith(line)


def test_a_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "nope.toml")]) == EXIT_CONFIG
    assert one_line(capsys) == f"config error: {tmp_path / 'nope.toml'}: config file does not exist (exit code 78)"


def test_the_map_picks_the_kind_and_leaves_bugs_alone(capsys: pytest.CaptureFixture[str]) -> None:
    fault = StorageFault("database or disk is full")
    group = BaseExceptionGroup("task group", [BadInput("a consequence"), ExceptionGroup("inner", [fault])])
    assert report(group) == EXIT_STORAGE_FAULT
    assert one_line(capsys) == "error: storage fault: database or disk is full (exit code 74)"
    assert report(BadInput("no such rollup"), "rollup-node") == EXIT_FAILURE
    assert one_line(capsys) == "rollup-node: no such rollup"
    assert report(ConfigError("devnet.l1_port", "expected an integer, got 'x'")) == EXIT_CONFIG
    assert one_line(capsys) == "config error: devnet.l1_port: expected an integer, got 'x' (exit code 78)"
    bug = KeyError("oops")
    with pytest.raises(KeyError):
        report(bug)
    with pytest.raises(KeyboardInterrupt):
        report(KeyboardInterrupt())


def test_flags_left_out_take_the_dataclass_defaults() -> None:
    from rollup_node.cli import node_settings
    from rollup_node.config import NodeConfig

    args = build_parser().parse_args(["rollup-node", "--l1-rpc", "http://127.0.0.1:1", "--inbox", "0x" + "11" * 20,
                                      "--rollup", "901"])
    assert (args.poll_ms, args.keep_blocks, args.max_kept_witness_blocks, args.api_port) == (None, None, None, None)
    cfg = NodeConfig(**node_settings(args))
    assert cfg == NodeConfig(901, "soft", sequencer="127.0.0.1:50051", l1_rpc="http://127.0.0.1:1",
                             inbox="0x" + "11" * 20)
    assert cfg.poll_ms == 100  # the devnet's and the CLI's one poll interval (the CLI said 500 before)


def test_the_rollup_node_reads_its_config_file_and_flags_win(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from rollup_node.cli import node_settings
    from rollup_node.config import NodeConfig

    inbox = "0x" + "22" * 20
    (tmp_path / "n.toml").write_text(f'[rollup_node]\nrollup_id = 902\nmode = "firm"\nl1_rpc = "http://l1:8545"\n'
                                     f'inbox = "{inbox}"\npoll_ms = 1000\n[other]\nx = 1\n')
    args = build_parser().parse_args(["rollup-node", "--config", str(tmp_path / "n.toml"), "--poll-ms", "250"])
    cfg = NodeConfig(**node_settings(args))
    assert (cfg.rollup_id, cfg.mode, cfg.l1_rpc, cfg.inbox, cfg.poll_ms, cfg.keep_blocks) == (
        902, "firm", "http://l1:8545", inbox, 250, NodeConfig(1, "firm", l1_rpc="x", inbox=inbox).keep_blocks)
    for text, line in (('[rollup_node]\npoll_ms = "often"\n', "rollup-node: config error: rollup_node.poll_ms: "
                                                               "expected a positive integer, got 'often'"),
                       ('[rollup_node]\nmode = "hard"\n', "rollup-node: config error: rollup_node.mode: expected "
                                                           "one of 'soft', 'firm', got 'hard'"),
                       ('[rollup_node]\npolms = 5\n', "rollup-node: config error: [rollup_node]: unknown option(s) "
                                                       "polms")):
        (tmp_path / "bad.toml").write_text(text)
        assert main(["rollup-node", "--config", str(tmp_path / "bad.toml"), "--l1-rpc", "http://127.0.0.1:1",
                     "--inbox", inbox, "--rollup", "901", "--log-level", "critical"]) == EXIT_CONFIG
        assert one_line(capsys).startswith(line)
    with pytest.raises(SystemExit) as usage:  # neither a flag nor the file names the inbox
        node_settings(build_parser().parse_args(["rollup-node", "--l1-rpc", "http://127.0.0.1:1", "--rollup", "1"]))
    assert usage.value.code == 2 and "--inbox" in capsys.readouterr().err


def test_every_subcommand_is_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"serve", "keygen", "tls-gen", "submit", "tail", "batch", "deploy", "devnet", "demo", "batcher",
            "rollup-node"} <= set(sub.choices)  # type: ignore[arg-type]


def test_runtime_input_errors_are_the_hierarchys() -> None:
    """Checks of data from outside raise the project's errors (so the boundary reports them in one
    line), still ValueErrors where callers caught those before."""
    from rollup_adapters.base import RollupBlock
    from rollup_adapters.derivation import DerivationError, ForcedQueueOutOfOrder, ForcedTx, place_forced
    from sequencer.core.config import CoreConfig, Limits, RollupInfo
    from sequencer.core.policy import OpaquePolicy

    block = RollupBlock(number=0, timestamp_ms=0, l1_origin_number=9, l1_origin_hash=b"\0" * 32, transactions=())
    with pytest.raises(ForcedQueueOutOfOrder) as err:
        place_forced([block], [ForcedTx(901, 1, b"a", 1)], 0)
    assert isinstance(err.value, DerivationError) and isinstance(err.value, ValueError)
    with pytest.raises(ConfigError) as bad:
        CoreConfig((RollupInfo(901, "r", OpaquePolicy()),), Limits(max_bundle_bytes=2_000_000))
    assert bad.value.key == "limits.max_bundle_bytes"


def test_the_batcher_exits_78_on_its_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.toml").write_text('[batcher]\nsequencer = "127.0.0.1:1"\nl1_rpc_url = "http://127.0.0.1:2"\n'
                                     'window_ms = -5\n')
    assert main(["batcher", "--config", str(tmp_path / "b.toml")]) == EXIT_CONFIG
    assert one_line(capsys).startswith("batcher: config error: batcher.window_ms: expected a positive integer")


def test_the_real_process_exit_code(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text('[sequencer]\nslot_ms = "abc"\n' + ROLLUP)
    proc = subprocess.run([sys.executable, "-m", "sequencer.cli", "serve", "--config", str(tmp_path / "s.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stderr) == (78, "config error: sequencer.slot_ms: expected a positive integer, "
                                                  "got 'abc' (exit code 78)\n")


@pytest.mark.parametrize("module", ["deploy.devnet_cli", "rollup_node.cli"])
def test_a_broken_install_fails_loudly(module: str) -> None:
    # A module that cannot be imported (None in sys.modules makes `import` raise ModuleNotFoundError, the
    # very error the old registration loop skipped) must stop the command, not silently drop its subcommands.
    code = f"import sys; sys.modules[{module!r}] = None; import sequencer.cli"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr and module in proc.stderr, proc.stderr
