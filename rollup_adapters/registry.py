"""Batch formats by name. A new format is a new entry here, never an `if`
inside an old codec (conventions.md, "Codecs")."""

from __future__ import annotations

from importlib import import_module

from sequencer.errors import NotFound

from .base import BatchFormat

_FORMATS: dict[str, str] = {
    "opstack": "rollup_adapters.opstack",
    "nitro": "rollup_adapters.nitro",
    "zkevm": "rollup_adapters.zkevm",
}

ALIASES: dict[str, str] = {"cdk": "zkevm"}
"""Other names of a registered format. `cdk` is what the Etrog batch v2 format is today: Polygon
zkEVM mainnet reaches end of life in 2026 and chains built with Polygon's CDK (cdk-erigon) keep
it. Rollup configs and derivation keep the registry name `zkevm`; the batch tool takes both."""

NAMES: tuple[str, ...] = tuple(_FORMATS)
"""Registry names: what a rollup's `format` may be."""

TOOL_NAMES: tuple[str, ...] = (*NAMES, *ALIASES)
"""Every name `sharedseq batch --format` takes."""


def get_format(name: str) -> BatchFormat:
    """The format registered as `name`; each package exports `FORMAT`."""
    try:
        module = _FORMATS[ALIASES.get(name, name)]
    except KeyError:
        raise NotFound(f"unknown batch format {name!r}; known: {', '.join(TOOL_NAMES)}") from None
    fmt: BatchFormat = import_module(module).FORMAT
    return fmt
