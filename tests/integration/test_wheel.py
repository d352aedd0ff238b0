"""Packaging (issue 15): `pip install .` as a user would: the wheel carries the generated gRPC code,
the contract artifacts and the console's files, installs into a fresh virtualenv, and from there
`sharedseq --version` works and `sharedseq serve` serves the console. No network: the wheel is built
without build isolation, and the fresh venv sees this venv's dependencies through a .pth file (not
the source tree: everything is run from another folder)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from seq_helpers import free_port, write_config_toml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("sharedseq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("sharedseq/v1/sequencer_pb2.py", "sharedseq/v1/sequencer_pb2_grpc.py",
                   "contracts/artifacts/SequencerInbox.json", "sequencer/console/static/index.html",
                   "sequencer/console/static/console.js", "sequencer/console/static/console.css",
                   "deploy/monitoring/grafana-dashboard.json", "deploy/monitoring/alerts.yml",
                   "deploy/systemd/sharedseq-sequencer.service", "deploy/sequencer.sample.toml"):
        assert needed in names, f"{needed} is not in the wheel"
    assert not any(n.startswith("tests/") for n in names)
    # The console script's entry point is in the public package (sharedseq/cli.py), not in sequencer/.
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "sharedseq = sharedseq.cli:main" in scripts, scripts

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # The dependencies (grpcio, web3, ...) from this venv; sharedseq itself must come from the wheel.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: this venv's editable sharedseq is visible through the .pth and must not count.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-index", "--no-deps",
                    "--ignore-installed", "--find-links", str(wheels), "sharedseq"], check=True, cwd=tmp_path)
    exe = env_dir / "bin" / "sharedseq"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "sharedseq 0.1.0"
    for module in ("sharedseq", "sequencer.cli"):  # `python -m` runs the same program
        out = subprocess.run([str(py), "-m", module, "--version"], capture_output=True, text=True, check=True,
                             cwd=tmp_path).stdout
        assert out.strip() == "sharedseq 0.1.0", module
    where = subprocess.run([str(py), "-c", (
        "import json, sequencer, contracts, sharedseq.v1.sequencer_pb2 as pb\n"
        "from contracts.compile import ARTIFACTS_DIR as ARTIFACTS\n"
        "print(json.dumps([sequencer.__file__, pb.__file__, sorted(p.name for p in ARTIFACTS.glob('*.json'))]))")],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    seq_file, pb_file, artifacts = json.loads(where)
    assert seq_file.startswith(site) and pb_file.startswith(site), (seq_file, pb_file)
    assert "SequencerInbox.json" in artifacts

    port, console_port = free_port(), free_port()
    cfg = write_config_toml(tmp_path, port)
    cfg.write_text(cfg.read_text() + f'\n[console]\nlisten = "127.0.0.1:{console_port}"\n')
    proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg), "--log-level", "WARNING"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/static/console.js", timeout=5) as r:
                    assert b"EventSource" in r.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed sequencer's console did not come up"
                time.sleep(0.2)
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
