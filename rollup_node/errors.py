"""Errors of the rollup node, in the project's hierarchy (sequencer/errors.py)."""

from __future__ import annotations

from sequencer.errors import BadInput, Critical


class NodeConfigError(BadInput):
    """The node's configuration cannot work (e.g. a block time the engine cannot represent)."""


class VerificationError(Critical):
    """Data from the sequencer or from L1 failed a check (signature, parent chain, namespace proof,
    batch hash, block numbering). The node stops: it never executes data it could not verify."""


class EngineError(Critical):
    """The execution engine did something the node did not ask for (wrong block number, timestamp)."""
