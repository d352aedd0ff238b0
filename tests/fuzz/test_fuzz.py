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
