"""A policy-check worker process: `python -m sequencer.service.check_worker`, started by checkers.py.

It reads frames from stdin and writes one frame per frame read to stdout; a frame is a 4-byte
big-endian length and a pickle. The first frame is the rollups' admission policies
({rollup_id: policy}), answered with "ready"; each later one is a list of (rollup_id, payload)
pairs, answered with one result per pair, in order: None when the policy accepts the payload,
(error class name, message) when it refuses it with one of sequencer.errors' kinds, ("", repr)
for anything else (a bug: the parent checks that payload again itself and lets it surface there).
It exits at the end of its input: when the server closes the pipe or dies.

Imports only the pure core (no gRPC, no SQLite), so it starts in a fraction of the server's time.
The pipes are the server's own and carry the server's own data: pickle is safe here.
"""

from __future__ import annotations

import pickle
import sys
from typing import IO, Any

from sequencer.errors import SharedSeqError

HEADER = 4


def read_frame(f: IO[bytes]) -> Any:
    """The next frame's value, or raise EOFError at the end of the input."""
    head = f.read(HEADER)
    if len(head) < HEADER:
        raise EOFError("end of input")
    n = int.from_bytes(head, "big")
    body = f.read(n)
    if len(body) < n:
        raise EOFError("end of input inside a frame")
    return pickle.loads(body)


def write_frame(f: IO[bytes], value: Any) -> None:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(len(body).to_bytes(HEADER, "big") + body)
    f.flush()


def check_all(policies: dict[int, Any], items: list[tuple[int, bytes]]) -> list[tuple[str, str] | None]:
    out: list[tuple[str, str] | None] = []
    for rollup_id, payload in items:
        try:
            policies[rollup_id].check(payload)
        except SharedSeqError as exc:
            out.append((type(exc).__name__, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - reported, and the parent re-checks the payload itself
            out.append(("", repr(exc)))
            continue
        out.append(None)
    return out


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        policies = read_frame(stdin)
        write_frame(stdout, "ready")
        while True:
            write_frame(stdout, check_all(policies, read_frame(stdin)))
    except (EOFError, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
