"""`sharedseq rollup-node`: run one local rollup node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import traceback

from sequencer.errors import SharedSeqError


def cmd_rollup_node(args: argparse.Namespace) -> int:
    """Run the node; on a stop, print one line `rollup-node: <what went wrong>` and return 1 (a traceback
    only for errors that are not the project's, OSError or connection errors, i.e. bugs)."""
    import anyio

    from .errors import describe_error, is_operator_error, leaf_exceptions
    from .node import NodeConfig, RollupNode

    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        node = RollupNode(NodeConfig(rollup_id=args.rollup, mode=args.mode, sequencer=args.sequencer,
                                     l1_rpc=args.l1_rpc, inbox=args.inbox, api_port=args.api_port,
                                     poll_ms=args.poll_ms, keep_blocks=args.keep_blocks,
                                     max_kept_witness_blocks=args.max_kept_witness_blocks))
    except SharedSeqError as exc:
        print(f"rollup-node: {exc}", file=sys.stderr)
        return 1

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
    except Exception as exc:  # noqa: BLE001 - reported as one line below
        for leaf in leaf_exceptions(exc):
            if not is_operator_error(leaf):  # a bug: keep its traceback
                traceback.print_exception(leaf, file=sys.stderr)
        print(f"rollup-node: {node.error or describe_error(exc, args.l1_rpc)}", file=sys.stderr)
        return 1
    return 0


def add_rollup_node_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rollup-node", help="run a local rollup node (soft: sequencer stream, firm: L1 only)")
    p.add_argument("--sequencer", default="127.0.0.1:50051", help="sequencer gRPC address (soft mode)")
    p.add_argument("--l1-rpc", required=True, help="L1 JSON-RPC URL")
    p.add_argument("--inbox", required=True, help="SequencerInbox address")
    p.add_argument("--rollup", type=int, required=True, help="rollup id (its chain id)")
    p.add_argument("--mode", choices=("soft", "firm"), default="soft")
    p.add_argument("--api-port", type=int, default=0, help="HTTP API port on 127.0.0.1 (0: a free port)")
    p.add_argument("--poll-ms", type=int, default=500, help="L1 poll interval")
    p.add_argument("--max-kept-witness-blocks", type=int, default=100_000,
                   help="firm mode: most shared blocks of windows that leave the rollup out (paused on L1) "
                        "kept until one lists it again")
    p.add_argument("--keep-blocks", type=int, default=10_000,
                   help="executed blocks kept in memory and served by /block (older ones answer 404)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_rollup_node)
