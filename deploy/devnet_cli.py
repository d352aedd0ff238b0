"""`sharedseq devnet` and `sharedseq demo`."""

from __future__ import annotations

import argparse


def add_devnet_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devnet", help="run the local devnet (L1, contracts, sequencer, batcher, rollup nodes)")
    p.add_argument("--config", default="deploy/devnet.toml")
    p.add_argument("--workdir", help="scratch folder (default from the config)")
    p.add_argument("--free-ports", action="store_true", help="pick free ports instead of the configured ones")
    p.add_argument("--replicas", type=int, help="sequencer replicas on a 3-node JetStream cluster (default 1: "
                   "one sequencer on SQLite in the devnet's process; docs/replication.md)")
    p.set_defaults(func=_devnet)

    p = sub.add_parser("demo", help="send demo traffic to a running devnet and check the results")
    p.add_argument("--endpoints", default="var/devnet/endpoints.json", help="written by the devnet when ready")
    p.set_defaults(func=_demo)


def _devnet(args: argparse.Namespace) -> int:
    from deploy.devnet import main_devnet

    overrides: dict[str, object] = {"workdir": args.workdir, "replicas": args.replicas}
    if args.free_ports:
        overrides.update(l1_port=0, sequencer_port=0, metrics_port=0, console_port=0, node_api_port=0)
    return main_devnet(args.config, overrides)


def _demo(args: argparse.Namespace) -> int:
    from deploy.demo import main_demo

    return main_demo(args.endpoints)
