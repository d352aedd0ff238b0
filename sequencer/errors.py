"""The project's one error hierarchy.

Kinds say what the caller should do (after op-node's derive/error.go and
h11's local/remote split):

- `BadInput`: the request or bytes from outside are wrong; report, never retry.
- `Temporary`: worth retrying later (L1 RPC down, mempool momentarily full).
- `Critical`: a fault that must stop the service (corrupt log, key mismatch).

Internal code raises these; one function per boundary maps them to a gRPC
status (sequencer/service/errors.py) or a process exit code (sequencer/exitcodes.py, `EXIT_CODES`).
"""

from __future__ import annotations

import re


class SharedSeqError(Exception):
    """Root of every error this project raises on purpose."""


class BadInput(SharedSeqError):
    """Input from outside is malformed or not allowed (gRPC INVALID_ARGUMENT)."""


class DecodeError(BadInput):
    """Bytes that do not follow a wire format. The message names the field
    and, where known, the byte offset: "frame_number: truncated at 17"."""


class ConfigError(BadInput):
    """A configuration file or option that cannot work: missing, not TOML, an unknown option, a value of
    the wrong type or out of range. `key` is where, as `table.key` (`sequencer.slot_ms`,
    `rollups[1].format`) or the file; the message starts with it. `sharedseq` exits with
    exitcodes.EXIT_CONFIG (78, EX_CONFIG) so a supervisor does not restart into the same mistake."""

    def __init__(self, key: str, problem: str, text: str | None = None) -> None:
        super().__init__(text or f"{key}: {problem}")
        self.key = key
        self.problem = problem

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str]]:  # survives pickling (workers)
        return type(self), (self.key, self.problem, str(self))


class NotFound(BadInput):
    """An unknown rollup, height or transaction (gRPC NOT_FOUND)."""


class FailedPrecondition(BadInput):
    """Well-formed, but the system is not in a state to take it: e.g. a rollup paused on L1
    (gRPC FAILED_PRECONDITION)."""


class AlreadyExists(BadInput):
    """A duplicate submission (gRPC ALREADY_EXISTS)."""


class TooLarge(BadInput):
    """Over a size limit (gRPC RESOURCE_EXHAUSTED)."""


class Temporary(SharedSeqError):
    """A transient failure; the same call may succeed later."""


class Overloaded(Temporary):
    """Backpressure: the mempool or a queue is full (gRPC RESOURCE_EXHAUSTED)."""


class NotLeader(Temporary):
    """This sequencer replica follows (issue 12): submissions go to the leader, whose address the
    message names (gRPC UNAVAILABLE)."""


class LogUnavailable(Temporary):
    """The replicated log did not confirm a write (no quorum, no server reachable): nothing of that
    write may be receipted (gRPC UNAVAILABLE)."""


class Fenced(LogUnavailable):
    """The replicated log holds entries this replica did not write: another replica leads, and the
    log refused this one's write (expected-last-sequence), so it is not in the log."""


class Critical(SharedSeqError):
    """A fault that must stop the service."""


class StorageFault(Critical):
    """The block log cannot be written (disk full, I/O error): the service stops serving and the
    process exits with its own code (exitcodes.EXIT_STORAGE_FAULT). The message names the real cause."""


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups, in order; `exc` itself if it is not a group.

    Task groups wrap whatever failed; an operator should read the failure, not the wrapper."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaf_exceptions(sub)]
    return [exc]


def connection_reason(exc: BaseException) -> str:
    """The root cause of a connection error ("Connection refused"), not the whole
    "HTTPConnectionPool(...): Max retries exceeded ..." chain that HTTP clients build."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            cur = reason
            continue
        args = getattr(cur, "args", ())
        if args and isinstance(args[0], BaseException):
            cur = args[0]
            continue
        cur = cur.__cause__ or cur.__context__
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return match.group(1).strip() if match else str(exc)
