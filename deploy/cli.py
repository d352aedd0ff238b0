"""`sharedseq deploy`: deploy (or verify) the L1 contracts from a TOML config.

    sharedseq deploy --config deploy/l1.example.toml [--rpc-url URL] [--key-file F] [--manifest OUT.json]

The deployer key comes from --key-file, else $SHAREDSEQ_DEPLOYER_KEY (hex). Without --rpc-url a local
anvil is started on 127.0.0.1 (its first dev account deploys unless a key is given) and kept running
until Ctrl-C, unless --exit is given. With an existing --manifest the deployment is verified against
the chain and nothing is sent when it matches the config.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from sequencer.exitcodes import run_command

if TYPE_CHECKING:
    from web3 import Web3


KEY_ENV = "SHAREDSEQ_DEPLOYER_KEY"


def add_deploy_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the `deploy` subcommand to a CLI's subparsers (sets `func`)."""
    p = subparsers.add_parser("deploy", help="deploy or verify the L1 contracts", description=__doc__)
    p.add_argument("--config", required=True, help="deploy TOML ([l1], [sequencer], [batcher], [[rollups]])")
    p.add_argument("--rpc-url", help="L1 JSON-RPC URL; default: start a local anvil")
    p.add_argument("--key-file", help=f"file with the deployer's hex private key (else ${KEY_ENV})")
    p.add_argument("--manifest", help="manifest JSON to write, or to verify if it exists")
    p.add_argument("--chain-id", type=int, default=31337, help="chain id of the local anvil (no --rpc-url)")
    p.add_argument("--exit", action="store_true", help="with a local anvil: stop it after deploying")
    p.set_defaults(func=run_deploy, error_prefix="deploy")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _deployer_key(args: argparse.Namespace) -> bytes | None:
    from .deployer import DeployError, read_key_file

    if args.key_file:
        return read_key_file(args.key_file)
    env = os.environ.get(KEY_ENV)
    if env:
        try:
            key = bytes.fromhex(env.strip().removeprefix("0x"))
        except ValueError as exc:
            raise DeployError(f"${KEY_ENV} is not a hex private key") from exc
        if len(key) != 32:
            raise DeployError(f"${KEY_ENV} must be 32 bytes")
        return key
    return None


def run_deploy(args: argparse.Namespace) -> int:
    """Entry point of `deploy`; returns the exit code."""
    import requests
    from web3 import Web3

    from sequencer.errors import ConfigError, connection_reason

    from .deployer import DeployError, load_config

    try:
        config = load_config(args.config)
        key = _deployer_key(args)
        if args.rpc_url:
            if key is None:
                raise DeployError(f"no deployer key: pass --key-file or set ${KEY_ENV}")
            w3 = Web3(Web3.HTTPProvider(args.rpc_url))
            try:
                _deploy(w3, key, config, args)
            except requests.exceptions.ConnectionError as exc:
                raise DeployError(f"cannot reach {args.rpc_url}: {connection_reason(exc)}") from exc
            return 0
        from sequencer.devtools.anvil import start_anvil

        with start_anvil(chain_id=args.chain_id) as anvil:
            _log(f"no --rpc-url: started a local anvil at {anvil.url} (chain {args.chain_id})")
            w3 = Web3(Web3.HTTPProvider(anvil.url))
            _deploy(w3, key if key is not None else anvil.accounts[0].key, config, args)
            if not args.exit:
                _log(f"anvil running at {anvil.url}; Ctrl-C to stop")
                try:
                    anvil.proc.wait()
                except KeyboardInterrupt:
                    _log("stopping anvil")
        return 0
    except DeployError as exc:
        if isinstance(exc, ConfigError):
            raise  # a config file that cannot work: one line and exit code 78 (sequencer/exitcodes.py, EXIT_CODES)
        _log(f"deploy: {exc}")
        return 1


def _deploy(w3: Web3, key: bytes, config, args: argparse.Namespace) -> None:
    from .deployer import ensure_deployed

    manifest, sent = ensure_deployed(w3, key, config, args.manifest, log=_log)
    for name, rec in manifest.contracts.items():
        _log(f"{name:15} {rec.address} (block {rec.block})")
    _log(f"{sent} transaction(s) sent")
    if not args.manifest:
        sys.stdout.write(manifest.to_json())
    else:
        _log(f"manifest: {args.manifest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_deploy_commands(sub)
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
