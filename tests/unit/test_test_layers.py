"""The unit layer is what tests/conftest.py says it is (docs/architecture.md section 7): a test here
that starts a process or opens a network endpoint fails, with a message saying where it belongs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

MESSAGE = "a unit-layer test started {}: move it to tests/integration/"


def test_a_subprocess_is_refused() -> None:
    with pytest.raises(pytest.fail.Exception, match=MESSAGE.format("a subprocess")):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_a_shell_is_refused() -> None:
    # (os.fork is refused the same way; not tried here: unguarded, the child would go on running pytest)
    with pytest.raises(pytest.fail.Exception, match=MESSAGE.format("a shell")):
        os.system("true")


def test_a_connection_or_a_listening_socket_is_refused() -> None:
    with socket.socket() as s, pytest.raises(pytest.fail.Exception, match=MESSAGE.format("a socket connection")):
        s.connect(("127.0.0.1", 9))
    with socket.socket() as s, pytest.raises(pytest.fail.Exception, match=MESSAGE.format("a listening socket")):
        s.bind(("127.0.0.1", 0))  # binding alone is allowed (urllib3 probes IPv6 that way at import time)
        s.listen()


def test_this_test_is_in_the_unit_layer(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("integration") is None
    assert request.node.get_closest_marker("slow") is None
