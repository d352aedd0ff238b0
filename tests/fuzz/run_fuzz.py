"""The long fuzz run, 1,000,000 inputs per target by default, in one of two modes.

    .venv/bin/python tests/fuzz/run_fuzz.py                  # atheris, every target, 1,000,000 inputs each
    .venv/bin/python tests/fuzz/run_fuzz.py opstack.channel --runs 200000
    .venv/bin/python tests/fuzz/run_fuzz.py --fast            # seeded mutation, no instrumentation
    .venv/bin/python tests/fuzz/run_fuzz.py --list

`--fast` (fuzz_fast.py) feeds the uninstrumented decoders seeded random inputs and mutations of
their seeds in one loop: no coverage guidance, but 10-50x the inputs a second of atheris on these
pure-Python decoders, which is what makes 1,000,000 inputs for every target fit in a few CPU hours
on a small machine. It applies the same per-input time limit and an address-space limit.

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
FAILURES = Path(tempfile.gettempdir()) / "sharedseq-fuzz-failures"
"""--fast writes each failing input here (hex, then the error), for a regression test."""
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
    ap.add_argument("--fast", action="store_true", help="seeded random mutation, no atheris (fuzz_fast.py)")
    ap.add_argument("--seed", type=int, default=1, help="--fast: the random seed (each target derives its own)")
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
    if args.fast:
        import fuzz_fast

        for name in args.targets or names:
            result = fuzz_fast.run(name, args.runs, args.seed, TIMEOUT_S, RSS_LIMIT_MB, FAILURES)
            failed += not result["ok"]
            print(json.dumps(result), flush=True)
        return 1 if failed else 0
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
