"""A child process of the local tools (a nats-server, a devnet replica) in a process group of its own,
so that killing it ends whatever it started too."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass


@dataclass
class ChildProcess:
    """`proc` is None until started and after `kill`."""

    name: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL its process group and reap it (a group already gone is fine)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
