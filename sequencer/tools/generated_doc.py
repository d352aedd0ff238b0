"""The command line shared by the generated documents (`make apidoc`, `make configdoc`): write the
document, or with --check fail when the committed one differs from what would be written."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(argv: list[str] | None, description: str | None, out: Path, make_target: str,
         render: Callable[[Path], str]) -> int:
    """`render(repo)` gives the document's text; `out` is its path in the repo."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("repo", type=Path)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", action="store_true", help=f"write {out}")
    mode.add_argument("--check", action="store_true", help=f"fail if {out} is stale")
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    text = render(repo)
    target = repo / out
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{out} is stale: run `make {make_target}`", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0
