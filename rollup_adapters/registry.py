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
    "cdk": "rollup_adapters.zkevm",
}
"""`cdk` is Polygon CDK's name for the Etrog batch v2 format (cdk-erigon); `zkevm`, the Polygon
zkEVM name it had first, stays as an alias of the same entry."""

NAMES: tuple[str, ...] = tuple(_FORMATS)


def get_format(name: str) -> BatchFormat:
    """The format registered as `name`; each package exports `FORMAT`."""
    try:
        module = _FORMATS[name]
    except KeyError:
        raise NotFound(f"unknown batch format {name!r}; known: {', '.join(NAMES)}") from None
    fmt: BatchFormat = import_module(module).FORMAT
    return fmt
