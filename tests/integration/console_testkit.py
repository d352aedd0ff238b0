"""Driving the console in Debian's chromium (headless, playwright-core) for the browser tests:
test_console_browser.py (a plain `sharedseq serve`) and test_margin.py (the margin devnet). The
browser side is console_browser.mjs; its stdio protocol is described there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).with_name("console_browser.mjs")


def check_browser() -> None:
    assert CHROMIUM.exists(), "chromium missing: `make install` puts it in (apt-get install chromium)"
    assert (ROOT / "node_modules" / "playwright-core").is_dir(), "playwright-core missing: run `make install`"


def start_browser(url: str, shot: Path, profile: Path) -> subprocess.Popen:
    """console_browser.mjs on `url`, saving its screenshot to `shot`; it prints {"stage": "loaded"} first."""
    argv = [shutil.which("node") or "node", str(SCRIPT), url, str(shot), str(profile)]
    return subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")})


def read_line(proc: subprocess.Popen) -> dict:
    """The browser script's next JSON line."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the browser script ended: {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
