"""The devnet's terminal live view (issue 15, item 3): a fixed table redrawn in place on a terminal,
one line per interval otherwise, and "no traffic yet" instead of a made-up 0 ms."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from repo_root import ROOT

from deploy.liveview import NO_TRAFFIC, LiveStatus, LiveView, Probe, RollupRow, render_line, render_table
from sequencer.service.metrics import Metrics


def _status(height: int, p50: float | None = None, p99: float | None = None, firm: int = -1) -> LiveStatus:
    rows = (RollupRow(901, "op-devnet", height // 10, None if firm < 0 else firm // 10, 12.5 if p50 else None),
            RollupRow(902, "nitro-devnet", None, None, None))
    return LiveStatus("10:00:00", height, firm, p50, p99, 25.0 if p50 else None, rows)


def test_no_traffic_is_said_not_shown_as_zero() -> None:
    idle = _status(5)
    assert NO_TRAFFIC in render_line(idle) and NO_TRAFFIC in "\n".join(render_table(idle))
    for text in (render_line(idle), *render_table(idle)):
        assert "0.0ms" not in text and "p50 0" not in text
    busy = _status(50, 0.002, 0.05, firm=40)
    assert "p50 <=2.0ms p99 <=50ms" in render_line(busy) and NO_TRAFFIC not in render_line(busy)
    assert "shared 50 firm 40 (lag 10)" in render_line(busy)
    assert "901: block 5 firm 4 (lag 1)" in render_line(busy) and "902: block - firm - (lag -)" in render_line(busy)


def test_table_has_a_fixed_shape() -> None:
    a, b = render_table(_status(5)), render_table(_status(123456, 0.002, 0.05, firm=123000))
    assert len(a) == len(b) == 4 + 2
    header = a[1]
    for col in ("soft", "firm", "lag", "latency", "tx/s"):
        assert col in header
    # The columns line up from frame to frame: each figure ends where its header does.
    assert b[1].index("tx/s") + 4 == len(b[2])
    assert b[2].split()[:5] == ["shared", "(blocks)", "123456", "123000", "456"]


def test_plain_mode_appends_lines_and_terminal_mode_overwrites() -> None:
    out: list[str] = []
    plain = LiveView(out.append, tty=False)
    plain.show(_status(1))
    plain.show(_status(2))
    assert len(out) == 2 and all(o.endswith("\n") and o.count("\n") == 1 and "\x1b" not in o for o in out)

    out.clear()
    tty = LiveView(out.append, tty=True)
    tty.show(_status(1))
    tty.show(_status(2))
    assert not out[0].startswith("\x1b[")  # the first frame is drawn where the cursor is
    assert out[1].startswith(f"\x1b[{len(render_table(_status(1)))}F")  # back to the first frame's first line
    assert all(line.endswith("\x1b[K") for line in out[1].split("\n")[:-1])  # no tail of a longer old line left


def test_probe_windows_latency_and_rates() -> None:
    m = Metrics()
    probe = Probe(m)
    assert probe.read(0.0)[:3] == (None, None, None)
    for _ in range(10):
        m.receipt_seconds.observe(0.0015)
    m.admitted.labels("901").inc(20)
    p50, p99, total, per = probe.read(2.0)
    assert p50 == 0.002 and p99 == 0.002 and total == 10.0 and per["901"] == 10.0
    # 31 s later without receipts, the window has none: "no traffic yet" again, not the old p50.
    probe.read(20.0)
    p50, _, total, _ = probe.read(51.0)
    assert p50 is None and total == 0.0


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_in_a_real_terminal_the_table_is_redrawn_in_place(tmp_path: Path) -> None:
    script = tmp_path / "frames.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from deploy.liveview import LiveStatus, LiveView, RollupRow
        print("startup line that must stay")
        view = LiveView(lambda s: (sys.stdout.write(s), sys.stdout.flush()), tty=sys.stdout.isatty())
        for h in (1, 22, 333):
            view.show(LiveStatus("10:00:0%d" % (h % 10), h, -1, None, None, None,
                                 (RollupRow(901, "op", h, None, None),)))
        print("DONE")
        time.sleep(30)
    """))
    session = f"liveview{int(time.time() * 1000)}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "40",
                    sys.executable, str(script)], check=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                                  check=True).stdout
            if "DONE" in pane or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    lines = [line for line in pane.splitlines() if line.strip()]
    assert lines[0] == "startup line that must stay"
    assert sum("sharedseq devnet" in line for line in lines) == 1, pane  # one table, not three stacked
    assert any(line.startswith("shared (blocks)") and " 333 " in line for line in lines), pane
    assert not any(" 22 " in line for line in lines), pane
    assert lines[-1] == "DONE"
