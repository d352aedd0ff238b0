"""`sharedseq rollup-node`: run one local rollup node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from typing import Any

from sequencer.logs import DEFAULT_LEVEL


def cmd_rollup_node(args: argparse.Namespace) -> int:
    """Run the node. A stop is raised as one project error whose message says what went wrong; the CLI
    prints it as one line `rollup-node: <message>` (sequencer/exitcodes.py, EXIT_CODES). A traceback is printed
    only for errors that are not the project's, OSError or connection errors, i.e. bugs."""
    import anyio

    from sequencer.logs import setup_logging

    from .errors import NodeStopped, describe_error, is_operator_error, leaf_exceptions
    from .node import NodeConfig, RollupNode

    setup_logging("text", args.log_level)
    settings = node_settings(args)
    node = RollupNode(NodeConfig(**settings))

    async def main() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                print(json.dumps({"rollup_id": node.rollup_id, "mode": node.config.mode, "api_port": node.api_port}),
                      flush=True)
                async for _sig in signals:
                    tg.cancel_scope.cancel()
                    break

    try:
        anyio.run(main, backend="asyncio")
    except Exception as exc:  # raised again below as one error with one line
        for leaf in leaf_exceptions(exc):
            if not is_operator_error(leaf):  # a bug: keep its traceback
                traceback.print_exception(leaf, file=sys.stderr)
        raise NodeStopped(node.error or describe_error(exc, node.config.l1_rpc)) from exc
    return 0


FLAGS = {"rollup_id": "rollup", "mode": "mode", "sequencer": "sequencer", "l1_rpc": "l1_rpc", "inbox": "inbox",
         "api_port": "api_port", "poll_ms": "poll_ms", "keep_blocks": "keep_blocks",
         "max_kept_witness_blocks": "max_kept_witness_blocks"}
"""NodeConfig field -> its flag's argparse name: a flag given wins over the file's [rollup_node] option."""


def node_settings(args: argparse.Namespace) -> dict[str, Any]:
    """NodeConfig's keyword arguments: each flag given, else the --config file's [rollup_node] option
    (read by the one loader, sequencer/configfile.py: a typo or a wrong type exits 78 naming
    `rollup_node.key`), else NodeConfig's default; the sequencer address defaults to the sequencer's
    own default listen address."""
    from sequencer.config import SequencerTable
    from sequencer.configfile import load_table, read_toml

    from .config import NodeFile

    given: dict[str, Any] = {}
    if args.config:
        table = load_table(NodeFile, read_toml(args.config).get("rollup_node", {}), "rollup_node")
        given = {k: v for k, v in ((f, getattr(table, f)) for f in FLAGS) if v is not None}
    given |= {f: getattr(args, flag) for f, flag in FLAGS.items() if getattr(args, flag) is not None}
    missing = [f"--{FLAGS[f].replace('_', '-')}" for f in ("l1_rpc", "inbox", "rollup_id") if f not in given]
    if missing:
        args.parser.error(f"the following arguments are required (or [rollup_node] options in --config): "
                          f"{', '.join(missing)}")
    given.setdefault("mode", "soft")
    given.setdefault("sequencer", SequencerTable().listen)
    return given


def add_rollup_node_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rollup-node", help="run a local rollup node (soft: sequencer stream, firm: L1 only)")
    p.add_argument("--config", help="TOML file with a [rollup_node] table (NodeConfig's options: rollup_id, mode, "
                                    "sequencer, l1_rpc, inbox, api_port, poll_ms, ...); flags given win over it")
    p.add_argument("--sequencer", default=None,
                   help="sequencer gRPC address (soft mode; default the sequencer's, 127.0.0.1:50051); replicas: "
                        "every address, comma separated")
    p.add_argument("--l1-rpc", help="L1 JSON-RPC URL (required, here or in --config)")
    p.add_argument("--inbox", help="SequencerInbox address (required, here or in --config)")
    p.add_argument("--rollup", type=int, help="rollup id (its chain id; required, here or in --config)")
    p.add_argument("--mode", choices=("soft", "firm"), default=None, help="soft (the default) or firm")
    # Defaults None: NodeConfig's own (rollup_node/node.py) apply, so the CLI and the devnet agree.
    p.add_argument("--api-port", type=int, default=None, help="HTTP API port on 127.0.0.1 (0, the default: a free "
                                                              "port)")
    p.add_argument("--poll-ms", type=int, default=None, help="L1 poll interval (default 100)")
    p.add_argument("--max-kept-witness-blocks", type=int, default=None,
                   help="firm mode: most shared blocks of windows that leave the rollup out (paused on L1) "
                        "kept until one lists it again (default 100000)")
    p.add_argument("--keep-blocks", type=int, default=None,
                   help="executed blocks kept in memory and served by /block (older ones answer 404; default 10000)")
    p.add_argument("--log-level", default=DEFAULT_LEVEL)
    p.set_defaults(func=cmd_rollup_node, parser=p)
