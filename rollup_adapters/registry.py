"""Batch formats by name and version. A new format is a new package and one line in `_FORMATS`,
never an `if` inside an old codec or in the code that uses formats (conventions.md, "Codecs";
docs/batch-tool.md, "Adding a format").

Each package exports `FORMAT` (its codec, rollup_adapters/base.py BatchFormat) and `SPEC` (its
rollup_adapters/spec.py FormatSpec: typed config, default admission policy, block-time rule,
forced-entry carriage, limits). Rollup configs name a format without a version: the name means the
highest version registered under it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from sequencer.errors import NotFound

from .base import BatchFormat
from .spec import FormatSpec

_FORMATS: dict[tuple[str, int], str] = {
    ("opstack", 0): "rollup_adapters.opstack",  # batcher-tx derivation version 0 (frames, channels, batches)
    ("nitro", 1): "rollup_adapters.nitro",      # the one Nitro sequencer-batch format (it carries no version)
    ("zkevm", 2): "rollup_adapters.zkevm",      # Etrog batch v2 (fork 7 and later)
}

NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in _FORMATS))
"""The built-in registry names: what a rollup's `format` may be (see `names()` for the registered ones)."""

ALIASES: dict[str, str] = {"cdk": "zkevm"}
"""Other names of a built-in format for the batch tool (each package's SPEC.aliases lists its own).
`cdk` is what the Etrog batch v2 format is today: Polygon zkEVM mainnet reaches end of life in 2026 and
chains built with Polygon's CDK (cdk-erigon) keep it. Rollup configs and derivation keep the registry
name `zkevm`; the batch tool takes both."""

TOOL_NAMES: tuple[str, ...] = (*NAMES, *ALIASES)
"""Every built-in name `sharedseq batch --format` takes."""


def names() -> tuple[str, ...]:
    """Every registered format name, in registration order (built-ins first)."""
    return tuple(dict.fromkeys(name for name, _ in _FORMATS))


def tool_names() -> tuple[str, ...]:
    """Every name the batch tool takes: the registered names and their aliases."""
    return (*names(), *(a for a, target in ALIASES.items() if target in names()))


def register(name: str, version: int, module: str) -> None:
    """Add format `name` version `version`, found in package `module` (it exports FORMAT and SPEC).
    The built-ins are the lines of `_FORMATS`; this is how a test (tests/adapters/test_registry.py) or
    an embedding program adds one more without editing them."""
    key = (name, version)
    if key in _FORMATS and _FORMATS[key] != module:
        raise ValueError(f"format {name!r} version {version} is already registered as {_FORMATS[key]}")
    _FORMATS[key] = module


def unregister(name: str, version: int) -> None:
    """Remove what `register` added (the built-ins stay)."""
    if (name, version) in _BUILT_IN:
        raise ValueError(f"format {name!r} version {version} is built in")
    _FORMATS.pop((name, version), None)


def _module(name: str, version: int | None) -> str:
    name = ALIASES.get(name, name)
    versions = sorted(v for n, v in _FORMATS if n == name)
    if not versions:
        raise NotFound(f"unknown batch format {name!r}; known: {', '.join(tool_names())}")
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise NotFound(f"batch format {name!r} has no version {version}; registered: "
                       f"{', '.join(map(str, versions))}")
    return _FORMATS[(name, version)]


def get_format(name: str, version: int | None = None) -> BatchFormat:
    """The codec registered as `name` (an alias too; default its highest version)."""
    fmt: BatchFormat = import_module(_module(name, version)).FORMAT
    return fmt


def get_spec(name: str, version: int | None = None) -> FormatSpec:
    """Everything format-specific about `name` (rollup_adapters/spec.py FormatSpec)."""
    spec: FormatSpec = import_module(_module(name, version)).SPEC
    return spec


class ByFormat(Mapping[str, int]):
    """A per-format figure read from the registry each time (so a format registered later shows up):
    e.g. derivation.MAX_FORCED_TX_BYTES, deploy/deployer.py FORCED_TX_LIMITS."""

    def __init__(self, figure: str) -> None:
        self._figure = figure

    def __getitem__(self, name: str) -> int:
        if name not in names():
            raise KeyError(name)
        value: int = getattr(get_spec(name).limits, self._figure)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(names())

    def __repr__(self) -> str:
        return f"ByFormat({self._figure!r}, {dict(self)!r})"


_BUILT_IN = frozenset(_FORMATS)
