"""`sharedseq batcher --config FILE`: post the sequencer's blocks to the SequencerInbox on L1.

The `[batcher]` table is documented option by option in deploy/batcher.sample.toml.
Runs until SIGINT / SIGTERM; every posting is logged as one structured line.
"""

from __future__ import annotations

import argparse
import signal

from sequencer.logs import DEFAULT_LEVEL, FORMATS


def add_batcher_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the `batcher` subcommand to a CLI's subparsers (sets `func`)."""
    p = subparsers.add_parser("batcher", help="post sealed blocks to L1 (the batcher)", description=__doc__)
    p.add_argument("--config", required=True, help="TOML with a [batcher] table (see deploy/batcher.sample.toml)")
    p.add_argument("--log-level", default=DEFAULT_LEVEL)
    p.add_argument("--log-format", default="json", choices=FORMATS)
    p.add_argument("--metrics-listen", default="",
                   help="serve the batcher's Prometheus metrics on host:port (docs/metrics.md); default off")
    p.set_defaults(func=run_batcher)


def run_batcher(args: argparse.Namespace) -> int:
    """Entry point of `batcher`; returns the exit code (errors of the project hierarchy map in sequencer/cli)."""
    import anyio

    from sequencer.errors import leaf_exceptions
    from sequencer.logs import setup_logging

    from .batcher import Batcher, load_batcher_config

    cfg = load_batcher_config(args.config)  # a config error: one line and exit code 78 (sequencer/cli.py)
    setup_logging(args.log_format, args.log_level)

    async def stop_on_signal(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                scope.cancel()
                return

    async def main() -> None:
        # The signal watcher runs from the start: the batcher may still be retrying its first connection.
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_on_signal, tg.cancel_scope)
            batcher = Batcher(cfg)
            if args.metrics_listen:
                from .batcher_metrics import serve_metrics

                serve_metrics(args.metrics_listen, batcher.metrics)
            await batcher.run()

    try:
        anyio.run(main, backend="asyncio")
    except BaseExceptionGroup as group:
        raise leaf_exceptions(group)[0] from group
    return 0
