"""`sharedseq rollup-node`: run one local rollup node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback

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
    # A flag left out (None) takes NodeConfig's default: the one set of defaults.
    given = {k: v for k, v in {"api_port": args.api_port, "poll_ms": args.poll_ms, "keep_blocks": args.keep_blocks,
                               "max_kept_witness_blocks": args.max_kept_witness_blocks}.items() if v is not None}
    node = RollupNode(NodeConfig(rollup_id=args.rollup, mode=args.mode, sequencer=args.sequencer,
                                 l1_rpc=args.l1_rpc, inbox=args.inbox, **given))

    async def main() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                await tg.start(node.run)
                print(json.dumps({"rollup_id": args.rollup, "mode": args.mode, "api_port": node.api_port}),
                      flush=True)
                async for _sig in signals:
                    tg.cancel_scope.cancel()
                    break

    try:
        anyio.run(main, backend="asyncio")
    except Exception as exc:  # noqa: BLE001 - raised again below as one error with one line
        for leaf in leaf_exceptions(exc):
            if not is_operator_error(leaf):  # a bug: keep its traceback
                traceback.print_exception(leaf, file=sys.stderr)
        raise NodeStopped(node.error or describe_error(exc, args.l1_rpc)) from exc
    return 0


def add_rollup_node_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rollup-node", help="run a local rollup node (soft: sequencer stream, firm: L1 only)")
    p.add_argument("--sequencer", default="127.0.0.1:50051",
                   help="sequencer gRPC address (soft mode); replicas: every address, comma separated")
    p.add_argument("--l1-rpc", required=True, help="L1 JSON-RPC URL")
    p.add_argument("--inbox", required=True, help="SequencerInbox address")
    p.add_argument("--rollup", type=int, required=True, help="rollup id (its chain id)")
    p.add_argument("--mode", choices=("soft", "firm"), default="soft")
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
    p.set_defaults(func=cmd_rollup_node)
