"""The fast long fuzz run: seeded random inputs and mutations of each target's seeds, fed to the
uninstrumented decoders in one loop (`run_fuzz.py --fast`).

Why a second mode: atheris instruments every line of the pure-Python decoders, which brings them to
1,000-3,000 inputs a second on a small machine; 1,000,000 inputs for each of 18 targets was then
about 5 CPU hours. Without instrumentation or coverage feedback each input costs what the decoder
costs, so the mutations below (the byte-level ones libFuzzer applies: flips, interesting values,
inserts, erases, copies, splices, big-endian lengths) aim at the formats' length and version fields
from inputs that start inside each format (the reference vectors).

A failure is what atheris would report: any exception but the target's typed one (`run_one`), an
input over `timeout_s` (SIGALRM interrupts the decoder: a hang), or a MemoryError under an address-space
limit of the process's size at start plus `rss_limit_mb` (an allocation beyond the formats' caps).
Each failing input is written to `failures_dir` as hex, for a regression test.
"""

from __future__ import annotations

import random
import resource
import signal
import sys
import time
import traceback
import zlib
from pathlib import Path
from types import FrameType

import fuzz_targets

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 2**63 - 1, 2**64 - 1)
"""Values a length, count or version field breaks on (libFuzzer's table, plus 64-bit edges)."""
MAX_LEN = 8192
"""Mutations stop growing an input past this (as run_fuzz.MAX_LEN); seeds may be longer."""
FAILURES_KEPT = 20


class Hang(Exception):  # noqa: N818 - what the run reports, not an error class of the project
    """Raised by SIGALRM inside a decoder that ran past the time limit."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def _value(rng: random.Random) -> bytes:
    v = rng.choice(INTERESTING)
    width = rng.choice((1, 2, 4, 8))
    v &= (1 << (8 * width)) - 1
    return v.to_bytes(width, rng.choice(("big", "little")))


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """1-8 byte-level mutations of `data`."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(9)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:  # flip bits of one byte
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # a random byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 3 and buf:  # erase a run
            del buf[pos:pos + rng.randint(1, 32)]
        elif op == 4:  # overwrite with an interesting value (a length, a count, a version)
            v = _value(rng)
            buf[pos:pos + len(v)] = v
        elif op == 5:  # insert an interesting value
            buf[pos:pos] = _value(rng)
        elif op == 6 and buf:  # copy a chunk elsewhere (repeated structures)
            start = rng.randrange(len(buf))
            chunk = buf[start:start + rng.randint(1, 64)]
            buf[pos:pos] = chunk
        elif op == 7:  # splice with another seed
            other = rng.choice(seeds)
            cut = rng.randint(0, len(other))
            buf = buf[:pos] + bytearray(other[cut:])
        elif buf:  # truncate
            del buf[rng.randint(0, len(buf)):]
        if len(buf) > MAX_LEN and len(data) <= MAX_LEN:
            del buf[MAX_LEN:]
    return bytes(buf)


def generate(rng: random.Random, seeds: list[bytes], corpus: list[bytes]) -> bytes:
    """One input: random bytes (1 in 10), a seed as is (1 in 50), else a mutation of a seed or of an
    earlier input that was mutated from one (stacked mutations reach deeper fields)."""
    r = rng.random()
    if r < 0.1:
        return rng.randbytes(rng.choice((rng.randint(0, 16), rng.randint(0, 512))))
    if r < 0.12:
        return rng.choice(seeds)
    base = rng.choice(corpus) if corpus and r < 0.4 else rng.choice(seeds)
    return mutate(rng, base, seeds)


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def run(name: str, runs: int, seed: int = 1, timeout_s: float = 10.0, rss_limit_mb: int = 1024,
        failures_dir: Path | None = None) -> dict[str, object]:
    """Feed `runs` inputs to one target; the figures and failures, as a dict (one JSON line)."""
    target = fuzz_targets.targets()[name]
    seeds = fuzz_targets.seeds(target)
    rng = random.Random(seed * 1_000_003 + zlib.crc32(name.encode()))
    corpus: list[bytes] = []
    failures: list[dict[str, str]] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + rss_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    slowest, accepted, slowest_input = 0.0, 0, b""
    start = time.monotonic()
    try:
        for i in range(runs):
            data = generate(rng, seeds, corpus)
            t = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                target.call(data[:fuzz_targets.MAX_INPUT])  # as run_one, counting what decodes
                accepted += 1
            except Hang:
                failures.append({"input": data.hex(), "error": f"hang: over {timeout_s:g} s"})
            except target.allowed:
                pass
            except BaseException as exc:  # noqa: BLE001 - every other exception is the finding
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append({"input": data.hex(), "error": "".join(
                    traceback.format_exception_only(type(exc), exc)).strip()})
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - t
            if took > slowest:
                slowest, slowest_input = took, data
            if i % 64 == 0 and len(data) <= 4096:  # a bounded pool of stacked-mutation bases
                if len(corpus) < 4096:
                    corpus.append(data)
                else:
                    corpus[rng.randrange(len(corpus))] = data
            if len(failures) >= FAILURES_KEPT:
                break
    finally:
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    seconds = time.monotonic() - start
    if failures and failures_dir is not None:
        failures_dir.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(failures):
            (failures_dir / f"{name}-{k}.hex").write_text(f["input"] + "\n# " + f["error"] + "\n")
    done = i + 1 if runs else 0
    return {"target": name, "mode": "fast", "seed": seed, "ok": not failures, "inputs": done,
            "accepted": accepted, "seconds": round(seconds, 1),
            "inputs_per_s": round(done / seconds) if seconds else None,
            "slowest_input_ms": round(slowest * 1000, 1), "slowest_input_len": len(slowest_input),
            "slowest_input_head": slowest_input[:64].hex(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "failures": [f["error"] for f in failures[:5]]}


if __name__ == "__main__":
    sys.exit("run it through run_fuzz.py --fast")
