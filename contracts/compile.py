"""Compile contracts/*.sol with the pinned solc (npm `solc`, see package-lock.json).

    python -m contracts.compile            write contracts/artifacts/<Name>.json
    python -m contracts.compile --check    recompile in memory; exit 1 if any artifact is stale or missing

Two compilation units, each with its own artifacts folder and sourceHash, so a change to one
never makes the other's artifacts stale: contracts/*.sol (the L1 side) -> contracts/artifacts/,
and contracts/margin/*.sol (the rollup-side margin contracts, docs/margin.md) ->
contracts/margin/artifacts/.

The compiler runs under node through solc's standard JSON interface, optimizer
on, metadata hash off, so the same sources always give the same bytes. Each
artifact holds the abi, the creation and runtime bytecode, the runtime's
immutable references (to compare deployed code with the artifact), the
compiler version and `sourceHash`, the sha256 of the whole standard JSON
input: any change to any source or setting makes every artifact stale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

CONTRACTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
REPO_ROOT = CONTRACTS_DIR.parent
SOLC_VERSION = "0.8.28"
MARGIN_DIR = CONTRACTS_DIR / "margin"
UNITS = ((CONTRACTS_DIR, ARTIFACTS_DIR), (MARGIN_DIR, MARGIN_DIR / "artifacts"))
"""(source folder, artifacts folder) of each compilation unit."""

_NODE_COMPILE = """
const solc = require('solc');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  if (!solc.version().startsWith(process.argv[1])) {
    process.stderr.write('solc ' + solc.version() + ' is not the pinned ' + process.argv[1] + '\\n');
    process.exit(2);
  }
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));
});
"""


class CompileError(RuntimeError):
    """solc reported errors, or node/solc is missing."""


def standard_input(src_dir: Path = CONTRACTS_DIR) -> dict:
    """The solc standard JSON input for every .sol file in `src_dir` (default contracts/), sorted by name."""
    sources = {p.name: {"content": p.read_text()} for p in sorted(src_dir.glob("*.sol"))}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ]
                }
            },
        },
    }


def source_hash(std_input: dict | None = None) -> str:
    """sha256 of the canonical standard JSON input (sources and settings)."""
    blob = json.dumps(std_input or standard_input(), sort_keys=True, separators=(",", ":")).encode()
    return "0x" + hashlib.sha256(blob).hexdigest()


def compile_all(src_dir: Path = CONTRACTS_DIR) -> dict[str, dict]:
    """Compile every source of one unit; return {contract name: artifact dict} for contracts with bytecode."""
    node = shutil.which("node")
    if node is None:
        raise CompileError("node not found on PATH (run `make install`)")
    std_input = standard_input(src_dir)
    proc = subprocess.run(
        [node, "-e", _NODE_COMPILE, SOLC_VERSION],
        input=json.dumps(std_input),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    shash = source_hash(std_input)
    artifacts: dict[str, dict] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        for name, c in sorted(contracts.items()):
            bytecode = c["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # abstract contracts and interfaces
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": result["version"],
                "sourceHash": shash,
                "abi": c["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "immutableReferences": c["evm"]["deployedBytecode"].get("immutableReferences", {}),
            }
    return artifacts


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def stale_artifacts(artifacts: dict[str, dict], artifacts_dir: Path = ARTIFACTS_DIR) -> list[str]:
    """Names whose file is missing or differs from the freshly compiled artifact, plus orphan files."""
    problems = []
    for name, art in artifacts.items():
        path = artifacts_dir / f"{name}.json"
        if not path.exists():
            problems.append(f"{name}: missing {path.relative_to(REPO_ROOT)}")
        elif path.read_text() != render(art):
            problems.append(f"{name}: {path.relative_to(REPO_ROOT)} is stale")
    for path in sorted(artifacts_dir.glob("*.json")):
        if path.stem not in artifacts:
            problems.append(f"{path.stem}: {path.relative_to(REPO_ROOT)} has no source contract")
    return problems


def artifacts_fresh(src_dir: Path = CONTRACTS_DIR, artifacts_dir: Path = ARTIFACTS_DIR) -> bool:
    """Cheap check without solc: every artifact exists and carries the current sourceHash."""
    shash = source_hash(standard_input(src_dir))
    paths = list(artifacts_dir.glob("*.json"))
    if not paths:
        return False
    return all(json.loads(p.read_text()).get("sourceHash") == shash for p in paths)


def write_artifacts(artifacts: dict[str, dict], artifacts_dir: Path = ARTIFACTS_DIR) -> None:
    artifacts_dir.mkdir(exist_ok=True)
    for name, art in artifacts.items():
        (artifacts_dir / f"{name}.json").write_text(render(art))
    for path in artifacts_dir.glob("*.json"):
        if path.stem not in artifacts:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.compile", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts are stale or missing")
    args = parser.parse_args(argv)
    status = 0
    for src_dir, artifacts_dir in UNITS:
        try:
            artifacts = compile_all(src_dir)
        except CompileError as exc:
            print(f"contracts.compile: {src_dir.relative_to(REPO_ROOT)}: {exc}", file=sys.stderr)
            return 2
        where = artifacts_dir.relative_to(REPO_ROOT)
        if args.check:
            problems = stale_artifacts(artifacts, artifacts_dir)
            if problems:
                print(f"contract artifacts in {where} are out of date; run `make contracts`:", file=sys.stderr)
                for p in problems:
                    print(f"  {p}", file=sys.stderr)
                status = 1
            else:
                print(f"contract artifacts in {where} up to date ({len(artifacts)} contracts)")
            continue
        write_artifacts(artifacts, artifacts_dir)
        print(f"wrote {len(artifacts)} artifacts to {where}: {', '.join(sorted(artifacts))}")
    return status


if __name__ == "__main__":
    sys.exit(main())
