"""The short fuzz run in `make test` (hypothesis): every target of fuzz_targets.py takes random
bytes and mutations of its seeds, may fail only with its typed error, and never allocates more
than MAX_ALLOC for one input. SHAREDSEQ_FUZZ_EXAMPLES raises the count; the long run is
run_fuzz.py (atheris), with its figures in docs/fuzzing.md."""

from __future__ import annotations

import os
import tracemalloc

import fuzz_targets
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SHAREDSEQ_FUZZ_EXAMPLES", "150"))
TARGETS = fuzz_targets.targets()


@st.composite
def inputs(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:  # flip a byte
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:  # insert bytes
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2:  # cut
            del data[pos:pos + draw(st.integers(1, 16))]
        else:  # an extreme length-like value
            data[pos:pos] = draw(st.sampled_from([b"\xff" * 4, b"\x7f\xff\xff\xff", b"\xb9\xff\xff", b"\xf9\xff\xff"]))
    return bytes(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoder_fails_only_with_its_typed_error(name: str) -> None:
    target = TARGETS[name]
    seeds = fuzz_targets.seeds(target)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(inputs(seeds))
    def check(data: bytes) -> None:
        tracemalloc.start()
        try:
            fuzz_targets.run_one(target, data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < fuzz_targets.MAX_ALLOC, f"{name}: {peak} bytes allocated for a {len(data)}-byte input"

    check()


def test_every_format_layer_and_the_policies_are_targets() -> None:
    from rollup_adapters.registry import NAMES, get_format

    for fmt in NAMES:
        for layer in get_format(fmt).layers:
            assert f"{fmt}.{layer}" in TARGETS
    assert {"policy.evm", "policy.evm-legacy", "derivation.container"} <= set(TARGETS)
    assert all(fuzz_targets.seeds(t) for t in TARGETS.values())


def test_a_target_that_raises_anything_else_fails() -> None:
    """The harness can fail: an IndexError is not a DecodeError."""
    def broken(data: bytes) -> None:
        raise IndexError("a bare index error")

    with pytest.raises(IndexError):
        fuzz_targets.run_one(fuzz_targets.Target("broken", broken, fuzz_targets.DecodeError, ()), b"x")


def test_the_fast_long_run_mode_feeds_inputs_and_reports_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_fuzz.py --fast (fuzz_fast.py): a few hundred inputs through a real target, then a
    target that raises something else and one that hangs, each reported as a failure."""
    import time

    import fuzz_fast

    ok = fuzz_fast.run("zkevm.legacy-tx", 300, seed=3)
    assert ok["ok"] and ok["inputs"] == 300 and not ok["failures"]
    real = fuzz_targets.targets()

    def broken(data: bytes) -> None:
        if len(data) % 2:
            raise IndexError("odd")

    def hangs(data: bytes) -> None:
        time.sleep(5)

    fake = {"broken": fuzz_targets.Target("broken", broken, fuzz_targets.DecodeError, ()),
            "hangs": fuzz_targets.Target("hangs", hangs, fuzz_targets.DecodeError, ())}
    monkeypatch.setattr(fuzz_targets, "targets", lambda: {**real, **fake})
    bad = fuzz_fast.run("broken", 200, seed=1)
    assert not bad["ok"] and "IndexError: odd" in bad["failures"][0]
    slow = fuzz_fast.run("hangs", 1, seed=1, timeout_s=0.2)
    assert not slow["ok"] and "hang" in slow["failures"][0]


def test_mutations_are_seeded_and_stay_bounded() -> None:
    import random

    import fuzz_fast

    seeds = [bytes(range(200)), b"\x01\x02"]
    ra, rb = random.Random(7), random.Random(7)
    a = [fuzz_fast.generate(ra, seeds, []) for _ in range(50)]
    b = [fuzz_fast.generate(rb, seeds, []) for _ in range(50)]
    assert a == b  # a failure is reproducible from its seed
    rng = random.Random(1)
    grown = b"\x00" * fuzz_fast.MAX_LEN
    assert all(len(fuzz_fast.mutate(rng, grown, seeds)) <= fuzz_fast.MAX_LEN for _ in range(200))
