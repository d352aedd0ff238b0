"""The `sharedseq` command.

Commands raise; `main` reports through the one boundary where the project's errors
(sequencer/errors.py) become a message and an exit code (sequencer/exitcodes.py, `EXIT_CODES`,
documented in docs/operator-guide.md, "Exit codes")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deploy.cli import add_deploy_commands
from deploy.devnet_cli import add_devnet_commands
from rollup_adapters.cli import add_batch_commands
from rollup_node.cli import add_rollup_node_commands
from sequencer.errors import BadInput
from sequencer.exitcodes import run_command
from sequencer.l1.cli import add_batcher_commands
from sequencer.logs import DEFAULT_LEVEL


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def cmd_serve(args: argparse.Namespace) -> int:
    import anyio

    from sequencer.config import load_config
    from sequencer.logs import setup_logging
    from sequencer.server import serve_forever

    cfg = load_config(args.config)
    setup_logging(cfg.log_format, args.log_level)
    anyio.run(serve_forever, cfg, backend="asyncio")  # a failure is reported by `main` (EXIT_CODES)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from sequencer.keys import write_key

    address = write_key(Path(args.out), overwrite=args.force)
    print(json.dumps({"key_file": str(args.out), "address": _hex(address)}))
    return 0


def cmd_tls_gen(args: argparse.Namespace) -> int:
    from sequencer.service.security import generate_dev_pki

    out = Path(args.out)
    if (out / "ca.pem").exists() and not args.force:
        raise BadInput(f"{out} already holds a CA; refusing to replace it (certificates issued from it would "
                       "stop working): use --force or another --out")
    files = generate_dev_pki(out, tuple(args.client))
    print(json.dumps({k: str(v) for k, v in files.items()}))
    return 0


def _channel(args: argparse.Namespace):  # grpc.Channel
    import grpc

    if args.server is None:  # one default: the address `sharedseq serve` listens on unless told otherwise
        from sequencer.config import SequencerTable

        args.server = SequencerTable().listen

    if bool(args.tls_cert) != bool(args.tls_key):
        raise BadInput("--tls-cert and --tls-key go together (a client certificate needs its key)")
    if not args.tls_ca:
        if args.tls_cert:
            raise BadInput("--tls-cert needs --tls-ca (the CA that signed the server's certificate)")
        return grpc.insecure_channel(args.server)
    from sequencer.service.security import client_credentials

    try:
        creds = client_credentials(Path(args.tls_ca), Path(args.tls_cert) if args.tls_cert else None,
                                   Path(args.tls_key) if args.tls_key else None)
    except OSError as exc:
        raise BadInput(f"cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.secure_channel(args.server, creds)


def _rpc_error(exc: Any, args: argparse.Namespace) -> str:
    """One line for a failed call, with a hint where the usual cause is known."""
    import grpc

    line = f"error: {exc.code().name}: {exc.details()}"
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        if args.tls_ca and not args.tls_cert:
            line += " (if the server requires client certificates, pass --tls-cert and --tls-key)"
        elif not args.tls_ca:
            line += f" (is the sequencer running at {args.server}? if it uses TLS, pass --tls-ca)"
    return line


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=None, help="the sequencer's gRPC address (default: its own default listen "
                                                  "address, [sequencer] listen)")
    p.add_argument("--tls-ca", help="CA certificate (PEM): connect with TLS")
    p.add_argument("--tls-cert", help="client certificate (PEM), for mutual TLS")
    p.add_argument("--tls-key", help="client key (PEM), for mutual TLS")


def _payload(args: argparse.Namespace) -> bytes:
    if args.file:
        try:
            text = Path(args.file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--file {args.file}: cannot read it as hex text ({exc})") from None
    else:
        text = args.payload
    try:
        return bytes.fromhex("".join(text.split()).removeprefix("0x"))
    except ValueError:
        raise BadInput("payload: not hex") from None


def cmd_submit(args: argparse.Namespace) -> int:
    import grpc

    from sequencer.core.signing import Domain, InvalidSignature, verify_receipt
    from sequencer.service.convert import receipt_from_proto
    from sharedseq.v1 import sequencer_pb2 as pb
    from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

    with _channel(args) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        try:
            resp = stub.SubmitTransaction(pb.SubmitTransactionRequest(
                transaction=pb.Transaction(rollup_id=args.rollup, payload=_payload(args))), timeout=args.timeout)
            info = stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(_rpc_error(exc, args), file=sys.stderr)
            return 1
    r = resp.receipt
    out = {"rollup_id": r.rollup_id, "tx_hash": _hex(r.tx_hash), "height": r.height, "index": r.index,
           "leaf_index": r.leaf_index, "batch_count": r.batch_count, "path": [_hex(p) for p in r.path],
           "batch_signature": _hex(r.batch_signature), "already_admitted": resp.already_admitted}
    # Check the promise before printing it (docs/api.md, "Verifying a receipt"): the batch signature
    # over the root that the path gives must be the sequencer's key.
    domain = Domain(info.domain_chain_id, bytes(info.domain_verifying_contract))
    try:
        signer = verify_receipt(domain, receipt_from_proto(r))
    except InvalidSignature as exc:
        print(f"error: the sequencer's receipt does not verify: {exc}", file=sys.stderr)
        return 1
    if signer != bytes(info.sequencer_address):
        print(f"error: the receipt is signed by {_hex(signer)}, not the sequencer's key "
              f"{_hex(info.sequencer_address)}", file=sys.stderr)
        return 1
    out["verified_signer"] = _hex(signer)
    print(json.dumps(out))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    import grpc

    from sharedseq.v1 import sequencer_pb2 as pb
    from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

    with _channel(args) as ch:
        stub = pb_grpc.SequencerServiceStub(ch)
        try:
            start = args.from_height
            if start is None:  # follow from the next block, like `tail -f`
                info = stub.GetSequencerInfo(pb.GetSequencerInfoRequest(), timeout=10)
                start = info.sealed_height + 1
        except grpc.RpcError as exc:
            print(_rpc_error(exc, args), file=sys.stderr)
            return 1
        stream = stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=args.rollup, from_height=start))
        try:
            for n, resp in enumerate(stream):
                b = resp.block
                h = b.signed_header.header
                print(json.dumps({"height": h.height, "timestamp_ms": h.timestamp_ms,
                                  "block_hash": _hex(b.signed_header.block_hash),
                                  "txs": [_hex(t) for t in b.transactions]}), flush=True)
                if args.count and n + 1 >= args.count:
                    break
        except grpc.RpcError as exc:
            print(_rpc_error(exc, args), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
    return 0


# Subcommands contributed by other packages, each with an `add_*_commands(subparsers)`: plain imports
# above, so a broken install fails at once instead of silently losing a command.
PLUGINS = (add_batch_commands, add_deploy_commands, add_devnet_commands, add_batcher_commands,
           add_rollup_node_commands)


def _version() -> str:
    """The installed distribution's version (a wheel or `pip install -e .`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sharedseq")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse._VersionAction):
    """`--version`, its text read when asked for: importlib.metadata's scan of the installed
    distributions is a tenth of a second that every `sharedseq serve` paid for nothing (issue 13)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        self.version = f"sharedseq {_version()}"
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sharedseq", description="A shared sequencer for rollups.")
    ap.add_argument("--version", action=_Version)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the sequencer")
    p.add_argument("--config", required=True, help="TOML config (see deploy/sequencer.sample.toml)")
    p.add_argument("--log-level", default=DEFAULT_LEVEL)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keygen", help="create a sequencer signing key file")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("tls-gen", help="make a development CA, server and client certificates")
    p.add_argument("--out", required=True, help="folder for the PEM files")
    p.add_argument("--client", action="append", default=[], help="client certificate common name (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing CA in --out")
    p.set_defaults(func=cmd_tls_gen)

    p = sub.add_parser("submit", help="submit one transaction")
    _client_args(p)
    p.add_argument("--rollup", type=int, required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--payload", help="hex bytes")
    src.add_argument("--file", help="file holding hex bytes")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("tail", help="follow a rollup's namespace")
    _client_args(p)
    p.add_argument("--rollup", type=int, required=True)
    p.add_argument("--from", dest="from_height", type=int, default=None,
                   help="first height (default: the next block to be sealed; 0 replays everything)")
    p.add_argument("--count", type=int, default=0, help="stop after N blocks (0: follow forever)")
    p.set_defaults(func=cmd_tail)

    core = set(sub.choices)
    for add_commands in PLUGINS:
        add_commands(sub)
    for name, parser in sub.choices.items():
        # A contributed command's errors start with its name ("batcher: ..."), the core ones' with "error".
        parser.set_defaults(error_prefix=None if name in core else name)
    return ap


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
