"""The one map from the project's error kinds (sequencer/errors.py) to a message and a process exit code.

Every program's command line ends here: `sharedseq` (sequencer/cli.py), `python -m deploy.cli` and
the subcommands they host raise, and `run_command` reports. Its own module, below every command line,
so that deploy/cli.py uses the same boundary without importing sequencer/cli.py, which imports it
(tests/unit/test_package_imports.py refuses the cycle). Documented in docs/operator-guide.md, "Exit codes".
"""

from __future__ import annotations

import argparse
import sys

from sequencer.errors import ConfigError, LogUnavailable, SharedSeqError, StorageFault, leaf_exceptions

EXIT_FAILURE = 1
"""A command failed on input it was given (a bad flag value, a refused request, an unreachable peer)."""
EXIT_USAGE = 2
"""The command line itself is wrong (argparse's own code)."""
EXIT_STORAGE_FAULT = 74
"""`serve` exit code when the block log cannot be written or has no room (EX_IOERR in sysexits.h):
apart from 1 (bad input), so a supervisor can tell "free disk space" from "fix the config"
instead of restarting into the same fault."""
EXIT_UNAVAILABLE = 69
"""`serve` exit code when the replicated log (store = "jetstream") cannot be reached or has no quorum
at start-up after `jetstream.connect_timeout_ms` of retries (EX_UNAVAILABLE in sysexits.h: a service
this one needs is down). Apart from 74 (this machine's disk) and 78 (the config): the fix is elsewhere,
and a supervisor may restart it later, once the cluster is back."""
EXIT_CONFIG = 78
"""A configuration file that cannot work (EX_CONFIG in sysexits.h): missing, not TOML, an unknown
option, a wrong value; the message names it as `table.key`. Restarting cannot help."""

EXIT_CODES: tuple[tuple[type[SharedSeqError], int, str], ...] = (
    (StorageFault, EXIT_STORAGE_FAULT, "error: storage fault"),
    (ConfigError, EXIT_CONFIG, "config error"),
    (LogUnavailable, EXIT_UNAVAILABLE, "error: replicated log unavailable"),
    (SharedSeqError, EXIT_FAILURE, "error"),
)
"""Error kind -> (exit code, what the one stderr line starts with), the first match wins; in this
order also when a task group failed with several (a storage fault is reported over what it caused)."""


def report(exc: BaseException, command: str | None = None) -> int:
    """Print the one line for a failed command and return its exit code; re-raise what is not the
    project's (a bug keeps its traceback). Task groups wrap the real error: the line names that.

    `command`: a subcommand's name, which the line starts with (`batcher: config error: ...`)."""
    leaves = leaf_exceptions(exc)
    for kind, code, label in EXIT_CODES:
        leaf = next((e for e in leaves if isinstance(e, kind)), None)
        if leaf is None:
            continue
        if command and kind is SharedSeqError:
            line = f"{command}: {leaf}"
        else:
            line = f"{command + ': ' if command else ''}{label}: {leaf}"
        if code not in (EXIT_FAILURE, EXIT_USAGE):
            line += f" (exit code {code})"
        print(line, file=sys.stderr, flush=True)
        return code
    raise exc


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command line; the project's errors become one line and an exit code (EXIT_CODES)."""
    try:
        return int(args.func(args) or 0)
    except BaseException as exc:  # `report` re-raises what is not the project's
        return report(exc, getattr(args, "error_prefix", None))
