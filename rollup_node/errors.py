"""Errors of the rollup node, in the project's hierarchy (sequencer/errors.py)."""

from __future__ import annotations

import re

from sequencer.errors import BadInput, Critical, SharedSeqError


class NodeConfigError(BadInput):
    """The node's configuration cannot work (e.g. a block time the engine cannot represent)."""


class VerificationError(Critical):
    """Data from the sequencer or from L1 failed a check (signature, parent chain, namespace proof,
    batch hash, block numbering). The node stops: it never executes data it could not verify."""


class EngineError(Critical):
    """The execution engine did something the node did not ask for (wrong block number, timestamp)."""


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups, in order; `exc` itself if it is not a group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaf_exceptions(sub)]
    return [exc]


def connection_reason(exc: BaseException) -> str:
    """The root cause of a requests/urllib3 connection error ("Connection refused"), not the whole
    "HTTPConnectionPool(...): Max retries exceeded ..." text."""
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


def is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)


def is_operator_error(exc: BaseException) -> bool:
    """An error the operator can act on from its message alone (no traceback needed)."""
    return isinstance(exc, SharedSeqError | OSError) or is_connection_error(exc)


def describe_error(exc: BaseException, l1_rpc: str | None = None) -> str:
    """One line saying what went wrong: the leaf errors of `exc`, connection errors as "cannot reach"."""
    parts = []
    for leaf in leaf_exceptions(exc):
        if is_connection_error(leaf):
            where = f" {l1_rpc}" if l1_rpc else ""
            parts.append(f"cannot reach the L1 RPC{where}: {connection_reason(leaf)}")
        elif isinstance(leaf, SharedSeqError):
            parts.append(str(leaf) or type(leaf).__name__)
        else:
            parts.append(f"{type(leaf).__name__}: {leaf}")
    return "; ".join(dict.fromkeys(parts)) or f"{type(exc).__name__}: {exc}"
