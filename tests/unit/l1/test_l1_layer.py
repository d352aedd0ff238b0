"""One L1 layer (issue 8, deliver 6): runtime code reaches L1 only through sequencer/l1 (the one async
client, client.py; the ABI, inbox.py; the reader, reader.py) and never imports deploy/.

Runtime = the sequencer, rollup_node and rollup_adapters packages, every module of them (the gas benchmarks,
which deploy contracts on a throwaway anvil, live in deploy/). A test that fails here names the module and the
import that broke the rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from repo_root import ROOT

RUNTIME = [p for pkg in ("sequencer", "rollup_node", "rollup_adapters") for p in sorted((ROOT / pkg).rglob("*.py"))]
L1_READERS = [p for p in RUNTIME if p.relative_to(ROOT).parts[:2] in (("sequencer", "l1"), ("sequencer", "service"))
              or p.relative_to(ROOT).parts[0] == "rollup_node"]
"""Where the L1 is read or written: the origin follower, the batcher, the sequencer service, the rollup nodes.
(Modules that talk to rollup engines, such as the margin coordinator, are not L1 clients.)"""
OTHER_CLIENTS = {"web3", "requests", "urllib.request", "http.client"}
"""Ways to talk JSON-RPC other than sequencer/l1/client.py."""
ANVIL_ADMIN = ROOT / "sequencer" / "devtools" / "anvil.py"
"""The local-anvil process manager (now in sequencer/devtools, outside the L1 readers): its few anvil_* admin
calls at start-up use urllib on purpose (sync, before any event loop); it never talks to a real L1."""


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _hits(names: set[str], forbidden: set[str]) -> set[str]:
    return {n for n in names for f in forbidden if n == f or n.startswith(f + ".")}


COMMAND_LINE = {ROOT / "sequencer" / "cli.py": {"deploy.cli", "deploy.devnet_cli"}}
"""The one exception: the `sharedseq` command hosts deploy's subcommands, plain imports so a broken
install fails loudly (issue 10); the same allowance as tests/unit/test_package_imports.py COMMAND_LINE."""


@pytest.mark.parametrize("path", RUNTIME, ids=[str(p.relative_to(ROOT)) for p in RUNTIME])
def test_runtime_never_imports_deploy(path: Path) -> None:
    bad = _hits(imports(path), {"deploy"}) - COMMAND_LINE.get(path, set())
    assert not bad, f"{path.relative_to(ROOT)} imports deploy/ ({sorted(bad)})"


@pytest.mark.parametrize("path", [p for p in L1_READERS if p != ANVIL_ADMIN],
                         ids=[str(p.relative_to(ROOT)) for p in L1_READERS if p != ANVIL_ADMIN])
def test_runtime_has_one_l1_client(path: Path) -> None:
    bad = _hits(imports(path), OTHER_CLIENTS)
    assert not bad, f"{path.relative_to(ROOT)} talks to L1 with {sorted(bad)}, not sequencer/l1/client.py"


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from deploy.deployer import deploy_all\n    import web3.eth\n")
    assert _hits(imports(p), {"deploy"}) == {"deploy.deployer"}
    assert _hits(imports(p), OTHER_CLIENTS) == {"web3.eth"}
