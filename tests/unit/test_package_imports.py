"""Packages that say what they are (issue 10, item 3): the import graph, read statically (ast), has
no cycle between packages, and runtime code never imports the tools or the tests.

Units. A module belongs to the unit named by its first two dotted parts: sequencer/core/*.py is
`sequencer.core`, sequencer/service/*.py is `sequencer.service`, a module at the top of a package is
its own unit (`sequencer.config`, `sequencer.server`, `rollup_node.soft`, `rollup_adapters.derivation`),
and so is a sub-package (`rollup_adapters.opstack`, `sharedseq.v1`). A cycle between two units means
neither can be read, tested or replaced without the other; inside one unit, modules may use each other.
Every import counts, wherever it is written: in a function body, under `if TYPE_CHECKING`, by
`__import__("...")`. Moving an import into a function hides a cycle from Python, not from this test.

Runtime code is the sequencer, rollup_node, rollup_adapters and sharedseq packages. It never imports
deploy/ (the deploy, devnet and benchmark tools), contracts/compile.py (the Solidity compiler driver)
or anything under tests/. It may read the compiled contracts through `contracts` and `contracts.margin`
(the ABI is data the L1 layer needs), and local chains come from sequencer/devtools. One narrow
exception, COMMAND_LINE: the `sharedseq` command hosts deploy's subcommands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from repo_root import ROOT
from test_core_imports import imported_modules

PACKAGES = ("sequencer", "rollup_node", "rollup_adapters", "sharedseq", "deploy", "contracts")
RUNTIME = ("sequencer", "rollup_node", "rollup_adapters", "sharedseq")
TOOLING = ("deploy", "contracts.compile")
"""What runtime code never imports: a module named here or below it."""
COMMAND_LINE = {"sequencer.cli": frozenset({"deploy.cli", "deploy.devnet_cli"})}
"""sequencer/cli.py is the `sharedseq` command; `sharedseq deploy` and `sharedseq devnet` are deploy's
subcommands, registered by these two modules (plain imports: a broken install fails loudly instead of
losing commands). It may import them, and nothing else of deploy; nothing imports sequencer.cli back
(sequencer/exitcodes.py is what the tools share with it)."""

Graph = dict[str, set[str]]


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of `packages` under `root`."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, None]) -> str | None:
    """The first-party module an imported name denotes (`sequencer.core.types.Hash32` → `sequencer.core.types`),
    or None for the standard library and third-party packages."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return None


@cache
def _imported_names(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module → every module name its source imports (parsed once per tree: the project is read by several tests)."""
    return {name: imported_modules(path.read_text(), name, path.name == "__init__.py")
            for name, path in modules(root, packages).items()}


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> Graph:
    """module → the first-party modules it imports, anywhere in its source."""
    names_of = _imported_names(root, tuple(packages))
    known = dict.fromkeys(names_of)
    return {name: {t for n in names if (t := _resolve(n, known)) is not None and t != name}
            for name, names in names_of.items()}


def unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def unit_graph(graph: Graph) -> dict[str, dict[str, tuple[str, str]]]:
    """unit → unit it imports → one (module, imported module) pair that shows it."""
    out: dict[str, dict[str, tuple[str, str]]] = {unit(m): {} for m in graph}
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = unit(module), unit(target)
            if a != b:
                out[a].setdefault(b, (module, target))
    return out


def cycles(units: dict[str, dict[str, tuple[str, str]]]) -> list[list[str]]:
    """Each cycle between units, as the shortest path from one unit of a strongly connected component back
    to itself (Tarjan's algorithm for the components, breadth-first search for the path)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in units.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(units):
        if v not in index:
            connect(v)
    found = []
    for component in components:
        start, members = component[0], set(component)
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            for w in sorted(units.get(v, {})):
                if w not in members or w in came_from:
                    continue
                came_from[w] = v
                queue.append(w)
        path = [start]
        while (v := came_from[path[-1]]) != start:
            path.append(v)
        found.append([start, *reversed(path[1:]), start])
    return found


def describe(cycle: list[str], units: dict[str, dict[str, tuple[str, str]]]) -> str:
    steps = [f"{a} -> {b} ({units[a][b][0]} imports {units[a][b][1]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    return "; ".join(steps)


def helper_module_names(root: Path = ROOT) -> set[str]:
    """Module names a test helper is imported by: `tests...`, and the bare names of files under tests/
    (pytest puts their folders on sys.path: `import seq_helpers`)."""
    return {"tests"} | {p.stem for p in (root / "tests").rglob("*.py")} if (root / "tests").is_dir() else {"tests"}


def runtime_violations(root: Path = ROOT) -> list[str]:
    """Each import from runtime code of the tools or the tests, as `module imports name`."""
    tests = helper_module_names(root)
    first_party = set(PACKAGES)
    bad = []
    for name, names in _imported_names(root, PACKAGES).items():
        if name.split(".")[0] not in RUNTIME:
            continue
        allowed = COMMAND_LINE.get(name, frozenset())
        flagged: dict[str, str] = {}
        for imported in names:
            top = imported.split(".")[0]
            if _within(imported, TOOLING) and not _within(imported, allowed):
                flagged[imported] = f"{name} imports {imported}"
            elif top in tests and top not in first_party:
                flagged[imported] = f"{name} imports the test helper {imported}"
        # `from deploy.deployer import deploy_all` names deploy.deployer and deploy.deployer.deploy_all: one finding
        bad += [line for imported, line in flagged.items() if not _within(imported, set(flagged) - {imported})]
    return sorted(bad)


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------ the project itself


def test_the_graph_reads_the_whole_project() -> None:
    graph = import_graph()
    # a walker that read nothing, or no function bodies, would pass everything below
    assert {"sequencer.core.sequencer", "sequencer.server", "rollup_node.node", "rollup_adapters.registry",
            "sharedseq.client", "deploy.deployer", "contracts.compile"} <= set(graph)
    assert "sequencer.service.node" in graph["sequencer.server"]
    assert "rollup_node.soft" in graph["rollup_node.node"]
    assert "sequencer.errors" in graph["sequencer.core.sequencer"]
    units = unit_graph(graph)
    assert {"sequencer.core", "sequencer.service", "sequencer.l1", "sequencer.store", "rollup_node.node",
            "rollup_adapters.opstack", "sharedseq.v1", "deploy.devnet"} <= set(units)


def test_no_cycle_between_packages() -> None:
    units = unit_graph(import_graph())
    found = [describe(c, units) for c in cycles(units)]
    assert not found, "import cycles between packages:\n" + "\n".join(found)


def test_runtime_never_imports_tools_or_tests() -> None:
    bad = runtime_violations()
    assert not bad, "runtime code imports deploy/, contracts/compile.py or tests: " + "; ".join(bad)


def test_the_command_line_exception_is_what_the_cli_uses() -> None:
    # the allowance names only what sequencer/cli.py really imports: it cannot quietly grow
    graph = import_graph()
    for module, allowed in COMMAND_LINE.items():
        assert allowed <= graph[module], f"{module} no longer imports {sorted(allowed - graph[module])}"


# ------------------------------------------------------------------ the checks play the attacker


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg_dir in {p.parent for p in tmp_path.rglob("*.py")}:
        if pkg_dir != tmp_path and not (pkg_dir / "__init__.py").exists() and pkg_dir.name != "tests":
            (pkg_dir / "__init__.py").write_text("")
    return tmp_path


def _cycles_in(root: Path) -> list[str]:
    units = unit_graph(import_graph(root))
    return [describe(c, units) for c in cycles(units)]


def test_a_cycle_between_packages_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sequencer/service/node.py": "from sequencer.l1.origin import follow\n",
        "sequencer/l1/origin.py": "from sequencer.service.node import Node\n",
        "sequencer/core/types.py": "",
    })
    assert _cycles_in(root) == [
        "sequencer.l1 -> sequencer.service (sequencer.l1.origin imports sequencer.service.node); "
        "sequencer.service -> sequencer.l1 (sequencer.service.node imports sequencer.l1.origin)"]


@pytest.mark.parametrize("hidden", [
    "def run():\n    from .soft import Follower\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .soft import Follower\n",
    "def run():\n    return __import__('rollup_node.soft')\n",
    "from . import soft\n",
])
def test_a_hidden_import_still_closes_the_cycle(tmp_path: Path, hidden: str) -> None:
    root = _tree(tmp_path, {
        "rollup_node/node.py": hidden,
        "rollup_node/soft.py": "from .node import RollupNode\n",
    })
    (found,) = _cycles_in(root)
    assert found.startswith("rollup_node.node -> rollup_node.soft") and "rollup_node.soft -> rollup_node.node" in found


def test_a_longer_cycle_is_found_with_every_step(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sequencer/config.py": "from sequencer.service.limits import ApiLimits\n",
        "sequencer/service/server.py": "from sequencer.console.server import serve\n",
        "sequencer/service/limits.py": "",
        "sequencer/console/server.py": "import sequencer.config\n",
    })
    (found,) = _cycles_in(root)
    assert found.count("->") == 3, found
    assert "sequencer.console.server imports sequencer.config" in found


def test_imports_inside_one_package_are_not_a_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sequencer/core/a.py": "from .b import x\n",
        "sequencer/core/b.py": "from .a import y\n",
        "sequencer/service/node.py": "from sequencer.core.a import y\n",
    })
    assert _cycles_in(root) == []


@pytest.mark.parametrize(("source", "what"), [
    ("from deploy.deployer import deploy_all\n", "deploy.deployer"),
    ("def bench():\n    from deploy.anvil import start_anvil\n", "deploy.anvil"),
    ("import deploy\n", "deploy"),
    ("from contracts.compile import compile_all\n", "contracts.compile"),
    ("from contracts import compile\n", "contracts.compile"),
    ("import seq_helpers\n", "the test helper seq_helpers"),
    ("from tests.integration.rollup_testkit import Stack\n", "the test helper tests.integration.rollup_testkit"),
])
def test_runtime_importing_tools_or_tests_is_found(tmp_path: Path, source: str, what: str) -> None:
    root = _tree(tmp_path, {
        "sequencer/l1/batcher.py": source,
        "tests/integration/seq_helpers.py": "",
        "tests/integration/rollup_testkit.py": "",
    })
    assert runtime_violations(root) == [f"sequencer.l1.batcher imports {what}"]


def test_runtime_may_read_the_contract_artifacts_and_local_chains(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sequencer/l1/inbox.py": "from contracts import ARTIFACTS_DIR, load_artifact\n"
                                 "from contracts.margin import load_margin_artifact\n",
        "rollup_node/engine.py": "from sequencer.devtools.anvil import start_anvil\n",
        "deploy/devnet.py": "from sequencer.server import running\n",  # tools may use runtime code
        "tests/unit/test_x.py": "",
    })
    assert runtime_violations(root) == []


def test_the_command_line_exception_is_narrow(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sequencer/cli.py": "from deploy.cli import add_deploy_commands\n"
                            "from deploy.devnet_cli import add_devnet_commands\n"
                            "from deploy.deployer import deploy_all\n",
        "rollup_node/cli.py": "from deploy.cli import add_deploy_commands\n",
    })
    assert runtime_violations(root) == ["rollup_node.cli imports deploy.cli", "sequencer.cli imports deploy.deployer"]
