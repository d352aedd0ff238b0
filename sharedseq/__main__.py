"""`python -m sharedseq ...`: the same program as the `sharedseq` console script (sharedseq/cli.py)."""

from __future__ import annotations

from sharedseq.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
