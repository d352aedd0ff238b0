"""The core is sans-IO: no module of sequencer/core, nor anything it imports
from the sequencer package, may import a network, storage, async, clock,
randomness, process or file module, or call the builtins that reach them
(conventions.md, "Where code lives"). Time, randomness and files are inputs:
the caller passes the clock reading, the key, the bytes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from repo_root import ROOT

CORE = ROOT / "sequencer" / "core"
FORBIDDEN = {
    # network, storage, async, threads, clock
    "grpc", "asyncio", "anyio", "sqlite3", "web3", "socket", "threading", "time",
    # the environment and the operating system, wall-clock dates, randomness, byte streams, processes
    "os", "random", "secrets", "datetime", "io", "subprocess",
    # the same reached another way: files (pathlib, shutil, tempfile, glob), random ids (uuid), processes,
    # signals, TLS and HTTP, and the modules that hand out builtins or import by name at run time
    "pathlib", "shutil", "tempfile", "glob", "uuid", "multiprocessing", "concurrent", "signal", "select",
    "selectors", "ssl", "http", "urllib", "builtins", "importlib",
}
FORBIDDEN_BUILTINS = {"open", "input", "print", "breakpoint", "eval", "exec", "compile", "__builtins__"}
"""Builtins that read or write files and terminals, or run code by name (`open` above all: a file is an input)."""


def _module_path(dotted: str, root: Path = ROOT) -> Path | None:
    """The file of a `sequencer.*` module, or None for third-party and stdlib modules."""
    parts = dotted.split(".")
    if parts[0] != "sequencer":
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


DYNAMIC_IMPORT = "<dynamic __import__>"
"""What `imported_modules` reports for `__import__(name)` with a name it cannot read: never allowed in the core."""


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
            else:
                out.add(DYNAMIC_IMPORT)
    return out


def builtins_used(source: str) -> set[str]:
    """The FORBIDDEN_BUILTINS that `source` reads by name (`open(...)`, `f = open`, `__builtins__[...]`).
    A module that defines a name of its own (a function or argument called `open`) is not calling the builtin."""
    tree = ast.parse(source)
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return (used & FORBIDDEN_BUILTINS) - defined


def walk_core(root: Path = ROOT) -> dict[str, set[str]]:
    """module name → modules it imports, for every core module and, recursively,
    every sequencer module those import."""
    return {name: imports for name, (imports, _) in _walk(root).items()}


def _walk(root: Path) -> dict[str, tuple[set[str], str]]:
    """module name → (modules it imports, its source), as walk_core."""
    todo = sorted((root / "sequencer" / "core").glob("*.py"))
    seen: dict[str, tuple[set[str], str]] = {}
    while todo:
        path = todo.pop()
        name = _module_name(path, root)
        if name in seen:
            continue
        source = path.read_text()
        imports = imported_modules(source, name, path.name == "__init__.py")
        seen[name] = (imports, source)
        for dotted in imports:
            sub = _module_path(dotted, root)
            if sub is not None:
                todo.append(sub)
    return seen


def forbidden_in(imports: set[str]) -> set[str]:
    return {m for m in imports if m.split(".")[0] in FORBIDDEN or m == DYNAMIC_IMPORT}


def impurities(root: Path = ROOT) -> dict[str, list[str]]:
    """module → what makes it impure (forbidden imports, forbidden builtins), for the core's import closure."""
    bad = {}
    for name, (imports, source) in _walk(root).items():
        found = sorted(forbidden_in(imports)) + [f"builtin {b}" for b in sorted(builtins_used(source))]
        if found:
            bad[name] = found
    return bad


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


def test_core_calls_no_io_builtins() -> None:
    assert not impurities(), f"the sans-IO core is not pure: {impurities()}"


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
        "import os",
        "from os import environ",
        "import os.path",
        "import random",
        "from secrets import token_bytes",
        "from datetime import datetime",
        "import io",
        "def f():\n    import subprocess\n",
        "from pathlib import Path",
        "import builtins",
        "from importlib import import_module",
        "def f(name):\n    return __import__(name)\n",
    ],
)
def test_the_checker_sees_forbidden_imports(source: str) -> None:
    assert forbidden_in(imported_modules(source, "sequencer.core.x", False))


@pytest.mark.parametrize(
    ("source", "builtin"),
    [
        ("def load(p):\n    return open(p).read()\n", "open"),
        ("def load(p):\n    with open(p, 'rb') as f:\n        return f.read()\n", "open"),
        ("reader = open\n", "open"),
        ("def f():\n    print('sealed')\n", "print"),
        ("x = __builtins__['open']\n", "__builtins__"),
        ("def f(code):\n    return eval(code)\n", "eval"),
    ],
)
def test_the_checker_sees_forbidden_builtins(source: str, builtin: str) -> None:
    assert builtins_used(source) == {builtin}


def test_the_checker_leaves_local_names_alone() -> None:
    # a method or argument called `open` is not the builtin; `re.compile` is not `compile`
    source = ("import re\nPAT = re.compile('x')\nclass Window:\n    def open(self):\n        return self\n"
              "def f(open):\n    return open\n")
    assert builtins_used(source) == set()


def test_the_checker_resolves_relative_imports() -> None:
    got = imported_modules("from .hashing import keccak\nfrom .. import errors\n", "sequencer.core.x", False)
    assert {"sequencer.core.hashing", "sequencer.errors"} <= got
    assert not forbidden_in(got)


def _fixture_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"sequencer/__init__.py": "", "sequencer/core/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_fixture_core_that_reaches_io_through_a_helper_is_refused(tmp_path: Path) -> None:
    # the core itself looks clean; the sequencer module it imports reads the clock and opens a file
    root = _fixture_tree(tmp_path, {
        "sequencer/core/seal.py": "from sequencer.util import now\n",
        "sequencer/util.py": "import datetime\ndef now():\n    return datetime.datetime.now()\n"
                             "def load(p):\n    return open(p).read()\n",
    })
    assert impurities(root) == {"sequencer.util": ["datetime", "builtin open"]}


def test_a_fixture_core_that_is_pure_passes(tmp_path: Path) -> None:
    root = _fixture_tree(tmp_path, {
        "sequencer/core/seal.py": "from sequencer.errors import BadInput\ndef seal(now_ms: int) -> int:\n"
                                  "    return now_ms\n",
        "sequencer/errors.py": "class BadInput(Exception):\n    pass\n",
    })
    assert set(walk_core(root)) == {"sequencer.core", "sequencer.core.seal", "sequencer.errors"}
    assert impurities(root) == {}
