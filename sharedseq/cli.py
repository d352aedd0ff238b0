"""The `sharedseq` console script (pyproject.toml [project.scripts]) and `python -m sharedseq`.

The public entry point lives in the public package; the command line itself (subcommands, options,
exit codes) is sequencer/cli.py, which `python -m sequencer.cli` also runs. This module adds nothing
to it, so both ways of starting the program behave the same.
"""

from __future__ import annotations

from sequencer.cli import main

__all__ = ["main"]
