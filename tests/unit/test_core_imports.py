"""The core is sans-IO: no module of sequencer/core, nor anything it imports
from the sequencer package, may import a network, storage, async or clock
module (conventions.md, "Where code lives"). Time is an input."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "sequencer" / "core"
FORBIDDEN = {"grpc", "asyncio", "anyio", "sqlite3", "web3", "socket", "threading", "time"}


def _module_path(dotted: str) -> Path | None:
    """The file of a `sequencer.*` module, or None for third-party and stdlib modules."""
    parts = dotted.split(".")
    if parts[0] != "sequencer":
        return None
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every absolute module name `source` imports, at any depth of the tree
    (function bodies and `if TYPE_CHECKING` blocks included)."""
    out: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            # `from . import merkle` imports a submodule
            out.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                out.add(str(node.args[0].value))
    return out


def walk_core() -> dict[str, set[str]]:
    """module name → modules it imports, for every core module and, recursively,
    every sequencer module those import."""
    todo = sorted(CORE.glob("*.py"))
    seen: dict[str, set[str]] = {}
    while todo:
        path = todo.pop()
        name = _module_name(path)
        if name in seen:
            continue
        imports = imported_modules(path.read_text(), name, path.name == "__init__.py")
        seen[name] = imports
        for dotted in imports:
            sub = _module_path(dotted)
            if sub is not None:
                todo.append(sub)
    return seen


def forbidden_in(imports: set[str]) -> set[str]:
    return {m for m in imports if m.split(".")[0] in FORBIDDEN}


def test_walk_reaches_every_core_module_and_what_they_import() -> None:
    seen = walk_core()
    for path in CORE.glob("*.py"):
        assert _module_name(path) in seen
    # followed out of the package: the core raises the project's errors
    assert "sequencer.errors" in seen
    assert "sequencer.core.merkle" in seen["sequencer.core.commitments"]


def test_core_imports_no_io_modules() -> None:
    bad = {name: sorted(forbidden_in(imports)) for name, imports in walk_core().items()}
    bad = {name: mods for name, mods in bad.items() if mods}
    assert not bad, f"the sans-IO core imports I/O modules: {bad}"


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "import asyncio.events",
        "from socket import socket",
        "import sqlite3 as db",
        "def f():\n    import threading\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import grpc\n",
        "x = __import__('anyio')",
        "from web3 import Web3",
    ],
)
def test_the_checker_sees_forbidden_imports(source: str) -> None:
    assert forbidden_in(imported_modules(source, "sequencer.core.x", False))


def test_the_checker_resolves_relative_imports() -> None:
    got = imported_modules("from .hashing import keccak\nfrom .. import errors\n", "sequencer.core.x", False)
    assert {"sequencer.core.hashing", "sequencer.errors"} <= got
    assert not forbidden_in(got)
