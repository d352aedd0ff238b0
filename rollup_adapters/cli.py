"""`sharedseq batch decode|encode`: the operator's view of rollup batches.

    sharedseq batch decode --format {opstack,nitro,cdk,zkevm} [--layer L] FILE
    sharedseq batch decode --format F --posting [--rollup ID] FILE
    sharedseq batch encode --format {opstack,nitro,cdk,zkevm} [--layer L] [--out OUT] FILE.json

OP Stack only: `--rollup-config SOURCE` (an op-node rollup.json file, or op-mainnet /
op-sepolia built in) and `--l1-timestamp T` (the time of the L1 block that carries the data)
pick the fork whose rules apply (opstack/chain_spec.py); decode then names the fork. Without
them every fork is active. Channel timeouts count L1 blocks: decode takes FILE as a JSON list of
batcher transactions in L1 order, `[{"l1_block": N, "data": "0x.."}, ...]` (layer batcher-tx or
blob), and derives across them; `--l1-block N` gives the block of a single FILE. Without L1
blocks no channel times out, and the JSON's "channel_timeout" says so.
Nitro only: `--delayed-messages-read N`, the delayed-message count before the batch, so that
decode shows the virtual delayed reads nitro makes up to the header's after_delayed_messages.
The format `cdk` is the Polygon CDK / zkEVM Etrog batch (`zkevm` is the same format under its
older name).

FILE holds raw bytes or hex text (0x optional, whitespace ignored); `-` reads
stdin. decode prints the format's `decode_json` (indent 2); encode prints
0x-prefixed hex, or writes raw bytes to OUT. Exit codes: 0 done, 1 malformed
input (one line on stderr: the field and offset from the DecodeError), 2 usage
(unknown layer: the line lists the format's layers).

`--posting` reads what our batcher puts on L1: FILE is the input data of a
SequencerInbox.postWindow transaction (then `--rollup` picks the rollup), or
one rollup's batch from it, the container `rlp([payloads, forced_indices])`
(rollup_adapters/derivation.py); each payload is decoded at the layer the
batcher posts (OP batcher-tx, Nitro payload, zkEVM batch or forced-batch).

`add_batch_commands` plugs into any argparse subparsers; each leaf parser sets
`func`, a `(args) -> int` exit code. Also runnable as
`python -m rollup_adapters.cli batch decode ...`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from sequencer.errors import BadInput
from sequencer.exitcodes import EXIT_FAILURE as EXIT_BAD_INPUT
from sequencer.exitcodes import EXIT_USAGE

from .base import BatchFormat
from .registry import ALIASES, get_format, get_spec, names, tool_names

EXIT_OK = 0

HEX_TEXT = re.compile(rb"(?:0x)?(?:[0-9a-fA-F]{2})*")


def add_batch_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `batch decode` and `batch encode` to `subparsers`; returns the `batch` parser."""
    batch = subparsers.add_parser("batch", help="decode or encode rollup batch payloads")
    commands = batch.add_subparsers(dest="batch_command", required=True)

    decode = commands.add_parser("decode", help="payload bytes -> JSON")
    add_common(decode)
    decode.add_argument("file", metavar="FILE", help="raw bytes or hex text; - for stdin")
    decode.add_argument("--posting", action="store_true",
                        help="FILE is a postWindow transaction's input, or one rollup's batch from it")
    decode.add_argument("--rollup", type=int, help="with --posting and a whole postWindow input: the rollup")
    decode.set_defaults(func=run_decode)

    encode = commands.add_parser("encode", help="JSON -> payload bytes")
    add_common(encode)
    encode.add_argument("file", metavar="FILE.json", help="the JSON document; - for stdin")
    encode.add_argument("--out", metavar="OUT", help="write raw bytes here instead of printing hex")
    encode.set_defaults(func=run_encode)
    return batch


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=tool_names(),
                        help="batch format (cdk: Polygon CDK / zkEVM Etrog batch v2; zkevm is its alias)")
    parser.add_argument("--layer", help="the format's layer (default: its first)")
    parser.add_argument("--rollup-config", metavar="SOURCE",
                        help="opstack: op-node rollup.json file, or op-mainnet / op-sepolia (built in)")
    parser.add_argument("--l1-timestamp", type=int, metavar="T",
                        help="opstack: time of the L1 block carrying the data; picks the fork")
    parser.add_argument("--l1-block", type=int, metavar="N",
                        help="opstack decode: L1 block number of the batcher transaction in FILE (channel timeouts)")
    parser.add_argument("--delayed-messages-read", type=int, metavar="N",
                        help="nitro: delayed messages read before this batch (shows virtual delayed reads)")


def formats_taking(option: str) -> tuple[str, ...]:
    """The registered formats whose SPEC.cli_options has `option` ("fork": rollup config, L1 time and
    block, batcher transaction lists; "delayed": --delayed-messages-read)."""
    return tuple(n for n in names() if option in get_spec(n).cli_options)


def takes(fmt_name: str, option: str) -> bool:
    return option in get_spec(ALIASES.get(fmt_name, fmt_name)).cli_options


def fork_options(args: argparse.Namespace) -> dict[str, object] | None:
    """The decode/encode options from --rollup-config / --l1-timestamp (opstack) or
    --delayed-messages-read (nitro), or None if none is given."""
    source, t = getattr(args, "rollup_config", None), getattr(args, "l1_timestamp", None)
    delayed = getattr(args, "delayed_messages_read", None)
    if delayed is not None:
        if not takes(args.format, "delayed"):
            raise BadInput(f"--delayed-messages-read applies to {', '.join(formats_taking('delayed'))} only")
        if delayed < 0:
            raise BadInput(f"--delayed-messages-read: {delayed} is negative")
        return {"delayed_messages_read": delayed}
    block = getattr(args, "l1_block", None)
    if source is None and t is None and block is None:
        return None
    if not takes(args.format, "fork"):
        raise BadInput(f"--rollup-config, --l1-timestamp and --l1-block apply to {', '.join(formats_taking('fork'))} "
                       "only")
    if t is not None and not 0 <= t < 2**64:
        raise BadInput(f"--l1-timestamp: {t} is not a uint64 time in seconds")
    if block is not None and not 0 <= block < 2**64:
        raise BadInput(f"--l1-block: {block} is not a uint64 block number")
    from .opstack.chain_spec import load_rollup_config

    options: dict[str, object] = {"rollup_config": None if source is None else load_rollup_config(source),
                                  "l1_timestamp": t}
    if block is not None:
        options["l1_block"] = block
    return options


def batcher_tx_list(data: bytes) -> list[tuple[int | None, bytes]] | None:
    """FILE as a JSON list of batcher transactions, `[{"l1_block": N, "data": "0x.."}]`
    (l1_block may be absent or null: unknown), or None when FILE is not a JSON list."""
    text = data.strip()
    if not text.startswith(b"["):
        return None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"batcher transaction list: not JSON ({exc})") from exc
    entries: list[tuple[int | None, bytes]] = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            raise BadInput(f"batcher transaction list: entry {i}: expected {{\"l1_block\": N, \"data\": \"0x..\"}}")
        block = item.get("l1_block")
        if block is not None and (isinstance(block, bool) or not isinstance(block, int) or not 0 <= block < 2**64):
            raise BadInput(f"batcher transaction list: entry {i}: l1_block {block!r} is not a uint64 block number")
        unknown = set(item) - {"l1_block", "data"}
        if unknown:
            raise BadInput(f"batcher transaction list: entry {i}: unknown keys {', '.join(sorted(unknown))}")
        hex_text = item["data"].removeprefix("0x")
        try:
            entries.append((block, bytes.fromhex(hex_text)))
        except ValueError as exc:
            raise BadInput(f"batcher transaction list: entry {i}: data is not hex ({exc})") from exc
    return entries


def read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def payload_bytes(data: bytes) -> bytes:
    """Hex text when the whole input reads as hex (whitespace aside), else raw bytes.

    A raw payload made only of ASCII hex digits and whitespace would be read
    as hex; real batches start with a version or marker byte outside that set.
    """
    text = b"".join(data.split())
    if text and HEX_TEXT.fullmatch(text):
        return bytes.fromhex(text.removeprefix(b"0x").decode())
    if text.startswith(b"0x"):  # meant as hex, but something in it is not
        bad = next((i for i, c in enumerate(text[2:], 2) if chr(c) not in "0123456789abcdefABCDEF"), len(text))
        what = "an odd number of hex digits" if bad == len(text) else f"{chr(text[bad])!r} at character {bad}"
        raise BadInput(f"hex input: {what}")
    return data


def load_format(args: argparse.Namespace) -> BatchFormat | None:
    """The format, or None after reporting a layer it does not have."""
    fmt = get_format(args.format)
    if args.layer is not None and args.layer not in fmt.layers:
        report(f"unknown layer {args.layer!r} for {args.format}; layers: {', '.join(fmt.layers)}")
        return None
    return fmt


def decode_posting(fmt_name: str, fmt: BatchFormat, data: bytes, rollup: int | None,
                   options: dict[str, object] | None = None) -> dict[str, object]:
    """The operator's view of one rollup's batch in a postWindow posting."""
    from .derivation import decode_container, post_window_batch

    if len(data) >= 4 and data[:4] == post_window_selector():
        if rollup is None:
            raise BadInput("--rollup: this is a whole postWindow input; say which rollup's batch to decode")
        data = post_window_batch(data, rollup)
    payloads, forced = decode_container(data)
    spec = get_spec(ALIASES.get(fmt_name, fmt_name))  # the layers its encode_blocks payloads have
    views = []
    for i, payload in enumerate(payloads):
        if i in forced and spec.forced_layer is None:
            raise BadInput(f"posting: payload {i} is listed as a forced batch; the {fmt_name} format has none")
        layer = spec.forced_layer if i in forced and spec.forced_layer is not None else spec.posted_layer
        doc = fmt.decode_json(payload, layer) if options is None else fmt.decode_json(payload, layer, options)
        views.append({"layer": layer, **doc})
    return {"payloads": views, "forced_indices": sorted(forced)}


def post_window_selector() -> bytes:
    from sequencer.core.hashing import keccak

    from .derivation import POST_WINDOW_SIGNATURE

    return keccak(POST_WINDOW_SIGNATURE.encode())[:4]


def run_decode(args: argparse.Namespace) -> int:
    fmt = load_format(args)
    if fmt is None:
        return EXIT_USAGE
    try:
        options = fork_options(args)
        raw = read_input(args.file)
        listed = batcher_tx_list(raw) if takes(args.format, "fork") else None
        if listed is not None:
            if args.posting or getattr(args, "l1_block", None) is not None:
                raise BadInput("a batcher transaction list carries its own l1_block per entry; "
                               "--posting and --l1-block take a single input")
            from .opstack.json_view import decode_batcher_txs_json

            print(json.dumps(decode_batcher_txs_json(listed, args.layer, options), indent=2))
            return EXIT_OK
        data = payload_bytes(raw)
        if args.posting:
            doc = decode_posting(args.format, fmt, data, args.rollup, options)
        elif options is None:
            doc = fmt.decode_json(data, args.layer)
        else:
            doc = fmt.decode_json(data, args.layer, options)
    except (BadInput, OSError) as exc:
        return fail(exc)
    print(json.dumps(doc, indent=2))
    return EXIT_OK


def run_encode(args: argparse.Namespace) -> int:
    fmt = load_format(args)
    if fmt is None:
        return EXIT_USAGE
    try:
        options = fork_options(args)
        doc = json.loads(read_input(args.file))
        data = fmt.encode_json(doc, args.layer) if options is None else fmt.encode_json(doc, args.layer, options)
        if args.out:
            Path(args.out).write_bytes(data)
        else:
            print("0x" + data.hex())
    except json.JSONDecodeError as exc:
        return fail(f"json: {exc.msg} at {exc.pos}")
    except (BadInput, OSError) as exc:
        return fail(exc)
    return EXIT_OK


def report(message: object) -> None:
    """One stderr line, whatever the message holds."""
    print(" ".join(str(message).split()), file=sys.stderr)


def fail(message: object) -> int:
    """Report malformed input; its exit code."""
    report(message)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sharedseq")
    add_batch_commands(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on usage errors and --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
