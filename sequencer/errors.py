"""The project's one error hierarchy.

Kinds say what the caller should do (after op-node's derive/error.go and
h11's local/remote split):

- `BadInput`: the request or bytes from outside are wrong; report, never retry.
- `Temporary`: worth retrying later (L1 RPC down, mempool momentarily full).
- `Critical`: a fault that must stop the service (corrupt log, key mismatch).

Internal code raises these; one function per boundary maps them to a gRPC
status (sequencer/service/errors.py) or a process exit code (the CLI).
"""

from __future__ import annotations


class SharedSeqError(Exception):
    """Root of every error this project raises on purpose."""


class BadInput(SharedSeqError):
    """Input from outside is malformed or not allowed (gRPC INVALID_ARGUMENT)."""


class DecodeError(BadInput):
    """Bytes that do not follow a wire format. The message names the field
    and, where known, the byte offset: "frame_number: truncated at 17"."""


class NotFound(BadInput):
    """An unknown rollup, height or transaction (gRPC NOT_FOUND)."""


class AlreadyExists(BadInput):
    """A duplicate submission (gRPC ALREADY_EXISTS)."""


class TooLarge(BadInput):
    """Over a size limit (gRPC RESOURCE_EXHAUSTED)."""


class Temporary(SharedSeqError):
    """A transient failure; the same call may succeed later."""


class Overloaded(Temporary):
    """Backpressure: the mempool or a queue is full (gRPC RESOURCE_EXHAUSTED)."""


class Critical(SharedSeqError):
    """A fault that must stop the service."""
