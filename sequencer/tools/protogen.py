"""Generate the gRPC Python code (with .pyi stubs) from proto/ into sharedseq/v1.

`--check` regenerates into a scratch folder and fails when the committed code
differs: generated code is never stale in CI.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path("proto")
PACKAGE = Path("sharedseq/v1")


def generate(repo: Path, out: Path) -> list[Path]:
    from grpc_tools import protoc  # dev dependency: only `make proto` needs it

    protos = sorted((repo / PROTO_ROOT).rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{repo / PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out / PACKAGE).iterdir() if p.suffix in (".py", ".pyi") and p.name != "__init__.py")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("repo", type=Path)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", action="store_true", help="write into the repository")
    mode.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(repo, Path(tmp))
        target = repo / PACKAGE
        if args.check:
            stale = [f.name for f in files if not (target / f.name).exists()
                     or not filecmp.cmp(f, target / f.name, shallow=False)]
            if stale:
                print(f"generated gRPC code is stale: {', '.join(stale)}; run `make proto`", file=sys.stderr)
                return 1
            print(f"generated gRPC code is up to date ({len(files)} files)")
            return 0
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, target / f.name)
        print(f"wrote {len(files)} files to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
