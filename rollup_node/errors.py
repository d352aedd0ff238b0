"""Errors of the rollup node, in the project's hierarchy (sequencer/errors.py)."""

from __future__ import annotations

from sequencer.errors import BadInput, Critical, SharedSeqError, connection_reason, leaf_exceptions

__all__ = ["EngineError", "NodeConfigError", "NodeStopped", "VerificationError", "connection_reason",
           "leaf_exceptions"]


class NodeConfigError(BadInput):
    """The node's configuration cannot work (e.g. a block time the engine cannot represent)."""


class VerificationError(Critical):
    """Data from the sequencer or from L1 failed a check (signature, parent chain, namespace proof,
    batch hash, block numbering). The node stops: it never executes data it could not verify."""


class NodeStopped(Critical):
    """The node stopped on an error; the message says which, in one line (`RollupNode.error`)."""


class EngineError(Critical):
    """The execution engine did something the node did not ask for (wrong block number, timestamp)."""


def is_connection_error(exc: BaseException) -> bool:
    from sequencer.l1.client import L1Unavailable

    return isinstance(exc, L1Unavailable)  # the one L1 client's way of saying the node did not answer


def unreachable_reason(exc: BaseException) -> str:
    """Why a connection failed, in the OS's words ("Connection refused"): aiohttp wraps the OSError
    in one whose strerror is its own ("Connect call failed (...)"), so the errno is asked first."""
    import os

    cur: BaseException | None = exc
    seen: set[int] = set()
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        inner = getattr(cur, "os_error", None)
        if isinstance(inner, OSError) and inner.errno:
            return os.strerror(inner.errno)
        cur = cur.__cause__ or cur.__context__
    return connection_reason(exc)


def is_operator_error(exc: BaseException) -> bool:
    """An error the operator can act on from its message alone (no traceback needed)."""
    return isinstance(exc, SharedSeqError | OSError) or is_connection_error(exc)


def describe_error(exc: BaseException, l1_rpc: str | None = None) -> str:
    """One line saying what went wrong: the leaf errors of `exc`, connection errors as "cannot reach"."""
    parts = []
    for leaf in leaf_exceptions(exc):
        if is_connection_error(leaf):
            where = f" {l1_rpc}" if l1_rpc else ""
            parts.append(f"cannot reach the L1 RPC{where}: {unreachable_reason(leaf)}")
        elif isinstance(leaf, SharedSeqError):
            parts.append(str(leaf) or type(leaf).__name__)
        else:
            parts.append(f"{type(leaf).__name__}: {leaf}")
    return "; ".join(dict.fromkeys(parts)) or f"{type(exc).__name__}: {exc}"
