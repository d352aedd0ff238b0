"""The test layers (docs/architecture.md section 7), decided here and nowhere else.

- `integration`: everything that starts a server, a process or a chain. All of tests/integration/
  and tests/contracts/ (anvil per module), and the few tests elsewhere listed in INTEGRATION_TESTS.
- `slow`: pure tests that take seconds of CPU (long property and stateful runs), listed in SLOW_TESTS.
- everything else is the unit layer: plain values in, plain values out.

`make test` runs all of it; `make test-fast` runs `pytest -m "not integration and not slow" tests/unit`.

The unit layer is held to it: while a test that is not `integration` runs (its fixtures included), a
subprocess, a fork, or a socket connect/listen fails the test with a message saying what to do, so a
test that starts one cannot slip into the fast layer unnoticed. (gRPC's C core opens its sockets
below Python, so a gRPC channel is not caught here: list such a test by hand.)
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

INTEGRATION_DIRS = ("integration", "contracts")
"""Folders under tests/ whose every test is `integration`."""

INTEGRATION_TESTS: dict[str, tuple[str, ...]] = {
    # file under tests/ -> test functions (every parametrisation of each) that start a process or a socket
    "unit/console/test_liveview.py": ("test_in_a_real_terminal_the_table_is_redrawn_in_place",),  # tmux
    "unit/cli/test_cli_errors.py": ("test_unreachable_sequencer_gets_a_hint",),  # gRPC connect to 127.0.0.1:1
    "unit/cli/test_cli_config_exit_codes.py": ("test_the_real_process_exit_code",  # python -m sequencer.cli
                                           "test_a_broken_install_fails_loudly"),  # python -c in a child
    "adapters/test_batch_cli.py": ("test_python_dash_m_with_stdin",),  # python -m rollup_adapters.cli
}

SLOW_TESTS: dict[str, tuple[str, ...]] = {
    # file under tests/ -> pure tests that take seconds of CPU: in `make test`, not in `make test-fast`
    "unit/core/test_core_sequencer.py": ("TestCoreMachine", "test_restore_from_records_seals_the_same_blocks"),
    "unit/core/test_core_rlp_codec.py": ("test_mutations_are_refused_exactly_when_pyrlp_refuses",
                                    "test_encode_and_decode_match_pyrlp",
                                    "test_any_bytes_decode_or_raise_rlp_error_only",
                                    "test_decode_at_reads_an_item_inside_other_bytes",
                                    "test_the_stage_readers_are_the_core_codec"),
    "unit/core/test_core_evm_tx.py": ("test_fuzz_mutated_transactions_raise_only_decode_error",),
    "unit/core/test_core_commitments.py": ("test_any_accepted_view_is_the_truth_or_the_tree_is_slashable",
                                      "test_proofs_verify_exactly_the_namespace_contents"),
    "unit/service/test_service_wire.py": ("test_bundle_legs_are_capped_for_both_bundle_requests",),
    "unit/store/test_store_codec.py": ("test_fuzz_decode_raises_only_critical",),
    "unit/l1/test_batcher_windows.py": ("test_replay_finds_the_posted_cut",),
}


def _listed(item: pytest.Item, table: dict[str, tuple[str, ...]]) -> bool:
    rel = Path(str(item.path)).relative_to(TESTS).as_posix()
    names = table.get(rel)
    if not names:
        return False
    # a test of a class (a hypothesis state machine's TestCoreMachine::runTest) is listed by the name the
    # module gives the class, which is the collector's (the class itself may be named `TestCase`)
    function = getattr(item, "originalname", None) or item.name.partition("[")[0]
    return function in names or (isinstance(item.parent, pytest.Class) and item.parent.name in names)


def _check_tables(items: list[pytest.Item]) -> None:
    """A listed name that its module no longer defines is an error, so a rename cannot quietly move a
    process-starting test into the unit layer."""
    modules = {Path(str(i.path)).relative_to(TESTS).as_posix(): i.module for i in items
               if isinstance(i, pytest.Function) and i.module is not None}
    for table in (INTEGRATION_TESTS, SLOW_TESTS):
        for rel, names in table.items():
            module = modules.get(rel)
            missing = [n for n in names if module is not None and not hasattr(module, n)]
            if missing:
                raise pytest.UsageError(f"tests/conftest.py lists {missing} in tests/{rel}, which has no such test")


FIRST_FILES = (
    # `make test` hands whole files to its workers (pytest-xdist --dist loadfile) in collection order: the
    # files that take longest start first, so the run is not waiting on one of them at its end.
    "integration/test_margin.py",
    "integration/test_batcher.py",
    "integration/test_replication.py",
    "contracts/test_deploy.py",
    "integration/test_batcher_blobs.py",
    "integration/test_devnet.py",
    "integration/test_devnet_replicas.py",
    "contracts/test_contract_inbox_property.py",
    "unit/core/test_core_sequencer.py",
    "integration/test_bench_smoke.py",
    "contracts/test_contract_bond_property.py",
    "integration/test_torture.py",
    "contracts/test_contract_blobs.py",
)


def _run_order(item: pytest.Item) -> int:
    rel = Path(str(item.path)).relative_to(TESTS).as_posix()
    return FIRST_FILES.index(rel) if rel in FIRST_FILES else len(FIRST_FILES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _check_tables(items)
    items.sort(key=_run_order)  # stable: the order inside a file and among the other files is kept
    for item in items:
        rel = Path(str(item.path)).relative_to(TESTS)
        if rel.parts[0] in INTEGRATION_DIRS or _listed(item, INTEGRATION_TESTS):
            item.add_marker(pytest.mark.integration)
        elif _listed(item, SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


def _refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"a unit-layer test started {what}: move it to tests/integration/ or list it in "
                    f"INTEGRATION_TESTS in tests/conftest.py (docs/architecture.md section 7)", pytrace=True)

    return refused


def _guarded(item: pytest.Item) -> bool:
    return item.get_closest_marker("integration") is None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_processes_or_sockets(_guarded(item)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_processes_or_sockets(_guarded(item)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _no_processes_or_sockets(_guarded(item)):
        yield


class _no_processes_or_sockets:
    """Replace the ways Python starts a process or opens a network endpoint while a unit test runs.
    socketpair() (the self-pipe of asyncio and trio event loops) is left alone: it is not a network."""

    PATCHES: tuple[tuple[Any, str, str], ...] = (
        (subprocess.Popen, "__init__", "a subprocess"),
        (os, "fork", "a fork"),
        (os, "posix_spawn", "a process"),
        (os, "posix_spawnp", "a process"),
        (os, "system", "a shell"),
        (socket.socket, "connect", "a socket connection"),
        (socket.socket, "connect_ex", "a socket connection"),
        # listen, not bind: urllib3 binds a socket to ::1 port 0 at import time to see if IPv6 works
        (socket.socket, "listen", "a listening socket"),
    )

    def __init__(self, active: bool) -> None:
        self.active = active
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> None:
        if not self.active:
            return
        for owner, name, what in self.PATCHES:
            if hasattr(owner, name):
                self.saved.append((owner, name, getattr(owner, name)))
                setattr(owner, name, _refuse(what))

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)
        self.saved.clear()
