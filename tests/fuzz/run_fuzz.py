"""The long fuzz run: atheris (libFuzzer, coverage guided), 1,000,000 inputs per target by default.

    .venv/bin/python tests/fuzz/run_fuzz.py                  # every target, 1,000,000 inputs each
    .venv/bin/python tests/fuzz/run_fuzz.py opstack.channel --runs 200000
    .venv/bin/python tests/fuzz/run_fuzz.py --list

Each target runs in a child process (libFuzzer owns its process), seeded with the target's corpus
(fuzz_targets.seeds), with a per-input time limit (a hang is a failure) and an RSS limit (an
allocation beyond the formats' caps is a failure). Prints one JSON line per target with its
figures; exits non-zero if any target failed. atheris is the `fuzz` extra (pip install -e ".[fuzz]"); without
it, use test_fuzz.py with SHAREDSEQ_FUZZ_EXAMPLES (hypothesis).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RSS_LIMIT_MB = 1024
TIMEOUT_S = 10
MAX_LEN = 8192
"""libFuzzer grows inputs up to this: small inputs reach the same branches faster (the short run
and the seeds cover large ones)."""


def child(name: str, runs: int, corpus: Path) -> None:
    """In the child: instrument the packages, then hand the target to libFuzzer."""
    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["rollup_adapters", "sequencer"]):
        import fuzz_targets
        target = fuzz_targets.targets()[name]
    for i, seed in enumerate(fuzz_targets.seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)

    def one(data: bytes) -> None:
        fuzz_targets.run_one(target, data)

    atheris.Setup([sys.argv[0], str(corpus), f"-runs={runs}", f"-rss_limit_mb={RSS_LIMIT_MB}",
                   f"-timeout={TIMEOUT_S}", f"-max_len={MAX_LEN}", "-print_final_stats=1"], one)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="target names (default: all)")
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.runs, Path(args.corpus))
        return 0
    sys.path.insert(0, str(HERE))
    import fuzz_targets

    names = list(fuzz_targets.targets())
    if args.list:
        print("\n".join(names))
        return 0
    failed = 0
    for name in args.targets or names:
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
            t = time.monotonic()
            proc = subprocess.run([sys.executable, __file__, "--child", name, "--runs", str(args.runs),
                                   "--corpus", corpus], capture_output=True, text=True)
            seconds = time.monotonic() - t
        execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
        peak = re.findall(r"stat::peak_rss_mb:\s*(\d+)", proc.stderr)
        cov = re.findall(r"cov: (\d+)", proc.stderr)
        ok = proc.returncode == 0
        failed += not ok
        print(json.dumps({"target": name, "ok": ok, "inputs": int(execs[-1]) if execs else None,
                          "seconds": round(seconds, 1), "peak_rss_mb": int(peak[-1]) if peak else None,
                          "coverage": int(cov[-1]) if cov else None}), flush=True)
        if not ok:
            print(proc.stderr[-4000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
