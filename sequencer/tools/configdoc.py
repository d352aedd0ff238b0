"""Generate docs/config-reference.md from deploy/sequencer.sample.toml, checked against the schema.

The sample documents every option next to its default (a comment above it or after it); the schema is
what `sequencer/config.py` accepts: `SCHEMA`, one dataclass per table, read by the one loader
(sequencer/configfile.py), which also gives each option's type. Generating fails when an option the
service accepts is missing from the sample, the sample shows one it would refuse, or an option the
sample sets (not commented out) shows a value other than the schema's default, so the reference
cannot silently lag the code. `--check` fails when the committed page is stale (`make test` runs it;
`make configdoc` rewrites it)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from sequencer.configfile import describe
from sequencer.errors import BadInput
from sequencer.tools import generated_doc

SAMPLE = Path("deploy/sequencer.sample.toml")
OUT = Path("docs/config-reference.md")
_TABLE = re.compile(r"^#?\s*\[\[?(\w+)\]\]?\s*$")
_OPTION = re.compile(r"^(#\s*)?([a-z_][a-z0-9_]*)\s*=\s*(.+?)(?:\s+#\s*(.*))?$")


@dataclass
class Option:
    name: str
    default: str
    optional: bool
    meaning: str


@dataclass
class Table:
    name: str
    notes: list[str] = field(default_factory=list)
    options: dict[str, Option] = field(default_factory=dict)


def parse(text: str) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    current: Table | None = None
    comment: list[str] = []
    fresh = True  # the comment block has not been used by an option yet
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            comment, fresh = [], True
            continue
        t = _TABLE.match(line)
        if t:
            current = tables.setdefault(t.group(1), Table(t.group(1)))
            if not current.notes:
                current.notes = comment
            comment, fresh = [], True
            continue
        o = _OPTION.match(line)
        if o and current is not None:
            if o.group(2) not in current.options:
                meaning = " ".join(filter(None, [" ".join(comment) if comment else "", o.group(4) or ""]))
                current.options[o.group(2)] = Option(o.group(2), o.group(3).strip(), bool(o.group(1)), meaning)
            fresh = False
            continue
        if line.startswith("#"):
            if not fresh:
                comment, fresh = [], True
            comment.append(line.lstrip("#").strip())
    return tables


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "-"


@dataclass(frozen=True)
class Spec:
    """One option as the schema gives it: its type's noun and its default (MISSING: required)."""

    kind: str
    default: Any


def _specs(cls: type) -> dict[str, Spec]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Spec] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.metadata.get("inline"):
            out |= _specs(hints[f.name])
            continue
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        out[f.name] = Spec(describe(hints[f.name]), default)
    return out


def specs() -> dict[str, dict[str, Spec]]:
    """Every table `sharedseq serve` reads, its options in declaration order (sequencer/config.py SCHEMA)."""
    from sequencer.config import SCHEMA

    return {name: _specs(cls) for name, cls in SCHEMA.items()}


def schema() -> dict[str, set[str]]:
    return {name: set(options) for name, options in specs().items()}


def _default_problem(table: str, opt: Option, spec: Spec) -> str | None:
    """Why the sample's value of a set option is not the schema's default (None: it is). Paths are
    written relative to the sample's folder, so they are not compared; nor are required options."""
    if opt.optional or spec.default is MISSING or isinstance(spec.default, Path):
        return None
    from sequencer.config import SCHEMA
    from sequencer.configfile import read_option

    try:
        got = read_option(SCHEMA[table], opt.name, tomllib.loads(f"value = {opt.default}")["value"], table)
    except (tomllib.TOMLDecodeError, BadInput) as exc:
        return f"{table}.{opt.name} = {opt.default} in {SAMPLE} is refused by the service ({exc})"
    if got != spec.default:
        return f"{table}.{opt.name} = {opt.default} in {SAMPLE}, but the default is {spec.default!r}"
    return None


def render(tables: dict[str, Table], known: dict[str, set[str]],
           kinds: dict[str, dict[str, Spec]] | None = None) -> str:
    kinds = specs() if kinds is None else kinds
    errors = []
    for name, options in known.items():
        table = tables.get(name)
        shown = set(table.options) if table else set()
        mentioned = " ".join(table.notes) if table else ""
        missing = sorted(o for o in options - shown if not re.search(rf"\b{o}\b", mentioned))
        if missing:
            errors.append(f"[{name}]: {', '.join(missing)} accepted by the service but not in {SAMPLE}")
        if shown - options:
            errors.append(f"[{name}]: {', '.join(sorted(shown - options))} in {SAMPLE} but refused by the service")
        for opt in table.options.values() if table else ():
            spec = kinds.get(name, {}).get(opt.name)
            problem = _default_problem(name, opt, spec) if spec is not None and name in kinds else None
            if problem:
                errors.append(problem)
    if errors:
        raise SystemExit("config reference: " + "; ".join(errors))
    out = ["# Configuration reference (generated)", "",
           f"Every option `sharedseq serve --config FILE` accepts, generated by `make configdoc` from `{SAMPLE}`",
           "(the sample with every default) and checked against the schema in `sequencer/config.py` (`SCHEMA`,",
           "read by the one loader, `sequencer/configfile.py`, which gives each option's type): `make test` fails",
           "when this page or the sample lags the code. Paths are relative to the config file's folder. An unknown",
           "option is an error naming the known ones, never silently ignored; a wrong value is an error naming",
           "`table.key`, and `sharedseq serve` exits with code 78 (docs/operator-guide.md, \"Exit codes\").", ""]
    for name in known:
        table = tables[name]
        types = kinds.get(name, {})
        header = "[[rollups]]" if name == "rollups" else f"[{name}]"
        out += [f"## `{header}`", ""]
        if table.notes:
            out += [" ".join(table.notes), ""]
        out += ["| option | type | default | meaning |", "|---|---|---|---|"]
        for opt in table.options.values():
            spec = types.get(opt.name)
            required = spec is not None and spec.default is MISSING
            default = f"`{opt.default}`" + (" (required)" if required and not opt.optional else
                                            " (commented out: unset)" if opt.optional else "")
            meaning = opt.meaning or ("see the notes above" if table.notes else "")
            kind = spec.kind if spec is not None else "-"
            out.append(f"| `{opt.name}` | {kind} | {_cell(default)} | {_cell(meaning)} |")
        for o in sorted(known[name] - set(table.options)):
            kind = types[o].kind if o in types else "-"
            out.append(f"| `{o}` | {kind} | - | see the notes above |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated_doc.main(argv, __doc__, OUT, "configdoc",
                              lambda repo: render(parse((repo / SAMPLE).read_text()), schema()))


if __name__ == "__main__":
    raise SystemExit(main())
