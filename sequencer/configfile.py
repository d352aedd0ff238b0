"""The one loader of every TOML configuration file (issue 10): `sharedseq serve`, the batcher, the
rollup node (`--config`), deploy and the devnet read their tables through it.

A frozen dataclass is the schema of one table: each field is an option, its annotation the type the
value is coerced to, its default the option's only default (a program's command-line flag defaults to
None and falls back to it), and `option(..., rule=...)` adds what the value must be beyond its type.

    @dataclass(frozen=True, slots=True)
    class Sequencer:
        listen: str = "127.0.0.1:50051"
        slot_ms: int = option(100, rule=POSITIVE)

    seq = load_table(Sequencer, doc.get("sequencer", {}), "sequencer")

Every error is a `ConfigError` whose message starts with where the value is, as `table.key`
("sequencer.slot_ms: expected a positive integer, got 'abc'"): an unknown option is refused with the
known ones (a typo is an error, never a silently ignored setting), a missing required one is named,
a value of the wrong type is refused unless it converts without loss (an integral float or a decimal
string for an integer, an integer for a number, a number for a string).

Supported types: `int`, `float`, `str`, `bool`, `Path` (relative to the file's folder), `X | None`
(absent: None), `tuple[str, ...]` / `tuple[int, ...]` (a TOML array), `dict[str, Any]` (a table kept
as it is, for a reader that checks it itself), a nested dataclass (a sub-table `[a.b]`),
`tuple[Dataclass, ...]` (an array of tables `[[a.b]]`), and `option(inline=True)` for a dataclass
whose options sit in the same table as its parent's. A type outside these is a schema bug: `describe`
raises TypeError for it, which the schemas' own tests meet.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar

from sequencer.errors import BadInput, ConfigError

T = TypeVar("T")

__all__ = [
    "NON_NEGATIVE", "POSITIVE", "ConfigError", "Rule", "at_least", "between", "defaults_of", "describe",
    "load_table", "one_of", "option", "options_of", "read_option", "read_toml", "refuse_unknown",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a value must be beyond its type. `says` completes "must be ...": "{kind}" in it is replaced
    by the type's noun ("a positive {kind}" -> "a positive integer"), "{a_kind}" by the noun with its
    article ("{a_kind} from 0 to 1" -> "a number from 0 to 1"); `holds` tells good values."""

    says: str
    holds: Callable[[Any], bool]


POSITIVE = Rule("a positive {kind}", lambda v: v > 0)
NON_NEGATIVE = Rule("a non-negative {kind}", lambda v: v >= 0)


def at_least(low: float) -> Rule:
    return Rule(f"{{a_kind}} of at least {low:g}", lambda v: v >= low)


def between(low: float, high: float) -> Rule:
    return Rule(f"{{a_kind}} from {low:g} to {high:g}", lambda v: low <= v <= high)


def one_of(*choices: str) -> Rule:
    return Rule("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def option(default: Any = MISSING, *, rule: Rule | None = None, inline: bool = False,
           default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """A dataclass field that is a config option: `rule` checks its value, `inline` reads a dataclass
    field's options from the parent's own table (e.g. the API limits among the [sequencer] options)."""
    meta = {"rule": rule, "inline": inline}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed file; a missing, unreadable or malformed file is a ConfigError naming it."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(str(p), "config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(str(p), f"cannot read the config file ({reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), f"not valid TOML ({exc})") from None


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


def options_of(cls: type) -> list[str]:
    """The option names of a schema's table, in declaration order (inline dataclasses expanded)."""
    out: list[str] = []
    for f in _fields(cls):
        if f.metadata.get("inline"):
            out += options_of(_hints(cls)[f.name])
        else:
            out.append(f.name)
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, True) or (tp, False)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def describe(tp: Any) -> str:
    """The noun of a type in messages ("an integer", "a list of strings")."""
    tp, _ = _optional(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is Path:
        return "a path (a string)"
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(inner):
            return "an array of tables"
        return "a list of " + {int: "integers", str: "strings", float: "numbers"}.get(inner, "values")
    if dataclasses.is_dataclass(tp) or tp is dict or typing.get_origin(tp) is dict:
        return "a table"
    raise TypeError(f"configfile: no coercion for {tp!r}")  # a schema bug, found by the schema's tests


def _noun(tp: Any) -> str:
    return describe(tp).removeprefix("an ").removeprefix("a ")


def _expected(tp: Any, rule: Rule | None) -> str:
    if rule is None:
        return describe(tp)
    return rule.says.replace("{a_kind}", describe(tp)).replace("{kind}", _noun(tp))


def _scalar(tp: Any, value: Any) -> Any:
    """`value` as `tp`, or raise ValueError when it does not convert without loss."""
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        elif isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(f):
                    return f
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif tp is Path:
        if isinstance(value, str) and value:
            return Path(value)
    raise ValueError(value)


def _coerce(tp: Any, value: Any, key: str, base: Path | None, rule: Rule | None) -> Any:
    tp, _ = _optional(tp)
    if dataclasses.is_dataclass(tp):
        return load_table(typing.cast(type, tp), value, key, base=base)
    if tp is dict or typing.get_origin(tp) is dict:  # a table another reader checks (kept as it is)
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return dict(value)
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {describe(tp)}, got {value!r}")
        if dataclasses.is_dataclass(inner):
            return tuple(load_table(typing.cast(type, inner), item, f"{key}[{i}]", base=base, table=key)
                         for i, item in enumerate(value))
        return tuple(_coerce(inner, item, f"{key}[{i}]", base, rule) for i, item in enumerate(value))
    try:
        out = _scalar(tp, value)
    except ValueError:
        raise ConfigError(key, f"expected {_expected(tp, rule)}, got {value!r}") from None
    if rule is not None and not rule.holds(out):
        raise ConfigError(key, f"expected {_expected(tp, rule)}, got {value!r}")
    if tp is Path and base is not None:
        out = base / out
    return out


def load_table(cls: type[T], doc: Any, where: str, *, base: Path | None = None, table: str | None = None,
               ignore: frozenset[str] = frozenset()) -> T:
    """An instance of the schema `cls` from one TOML table found at `where` ("sequencer", "rollups[2]").

    `base`: the folder relative paths start from (the config file's). `table`: the table's name as the
    file writes it, when `where` is an entry of an array of tables ("rollups" for "rollups[2]").
    `ignore`: keys of this table that another program reads from the same file (accepted, not read)."""
    name = table or where
    refuse_unknown(cls, doc, where, table=table, ignore=ignore)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in _fields(cls):
        if f.metadata.get("inline"):
            inner = hints[f.name]
            own = set(options_of(inner))
            values[f.name] = load_table(inner, {k: v for k, v in doc.items() if k in own}, where, base=base,
                                        table=name)
            continue
        key = f"{where}.{f.name}"
        if f.name not in doc:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(key, f"missing: this option is required ({describe(hints[f.name])})")
            continue
        values[f.name] = _coerce(hints[f.name], doc[f.name], key, base, f.metadata.get("rule"))
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (BadInput, ValueError, TypeError) as exc:  # the schema's own __post_init__ checks
        raise ConfigError(where, str(exc)) from None


def refuse_unknown(cls: type, doc: Any, where: str, *, table: str | None = None,
                   ignore: frozenset[str] = frozenset()) -> None:
    """Check that `doc` is a table holding only options of the schema `cls` (what `load_table` checks
    first; on its own for a table that is off, e.g. [tls] without cert_file, whose options are still
    checked for typos)."""
    name = table or where
    if not isinstance(doc, Mapping):
        raise ConfigError(where, f"expected a table ([{name}]), got {doc!r}")
    known = options_of(cls)
    unknown = sorted(set(doc) - set(known) - ignore)
    if unknown:
        # "[sequencer]: unknown option(s) slot_msec (unknown key(s) sequencer.slot_msec); known: ...": the
        # table as the file writes it, and each key as `table.key`.
        raise ConfigError(f"{where}.{unknown[0]}", "unknown option",
                          f"[{name}]: unknown option(s) {', '.join(unknown)} "
                          f"(unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}); known: {', '.join(known)}")


def defaults_of(cls: type) -> dict[str, Any]:
    """A dataclass's field defaults by name (a schema that falls back to another type's defaults
    reads them here, so each default is written once)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def read_option(cls: type, name: str, value: Any, where: str) -> Any:
    """One option of the schema `cls` (inline ones too) coerced and checked as `load_table` would,
    without the rest of its table (the config reference compares the sample's values to defaults)."""
    hints = _hints(cls)
    for f in _fields(cls):
        if f.metadata.get("inline") and name in options_of(hints[f.name]):
            return read_option(hints[f.name], name, value, where)
        if f.name == name:
            return _coerce(hints[name], value, f"{where}.{name}", None, f.metadata.get("rule"))
    raise ConfigError(f"{where}.{name}", "unknown option")
