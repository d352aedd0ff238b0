"""A cold `sharedseq serve` loads what serving needs, and nothing else (issue 13, "restart from a log
of 100,000 blocks in <= 2 s"): most of a restart was Python imports, chiefly the L1 stack (aiohttp,
eth_abi, eth_utils, pydantic) that reading any config pulled in through sequencer.l1.origin, the
rollup node's anvil driver, cryptography's x509, importlib.metadata for `--version`.

No timing here (the machine's load would decide it): a fresh interpreter walks the serve path as
`sharedseq serve` does (the command line's parser with every plugin, the config, the server, the
node over its log, the gRPC server started) and reports `sys.modules` once serving. Importing any
of HEAVY again at module level anywhere on that path fails `test_serving_loads_no_unconfigured_stack`;
the configured case shows the same stacks still load when a table asks for them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sequencer.keys import write_key

pytestmark = pytest.mark.integration

PROBE = """
import json, sys
import anyio
from sequencer import cli
args = cli.build_parser().parse_args(["serve", "--config", sys.argv[1]])
from sequencer.config import load_config
from sequencer.logs import setup_logging
from sequencer.server import running
cfg = load_config(args.config)
setup_logging(cfg.log_format, "WARNING")

async def main():
    async with running(cfg) as rs:
        print(json.dumps({"port": rs.port, "modules": sorted(sys.modules)}))

anyio.run(main, backend="asyncio")
"""

HEAVY = (
    "web3", "eth_account", "eth_abi", "eth_utils", "pydantic", "aiohttp", "matplotlib", "nats",
    "cryptography.x509", "importlib.metadata",
    "sequencer.l1.origin", "sequencer.l1.client", "sequencer.l1.reader", "sequencer.l1.batcher",
    "sequencer.margin", "sequencer.console.server", "sequencer.replication", "sequencer.store.jetstream_log",
    "sequencer.devtools.anvil", "rollup_node.engine", "rollup_node.node", "deploy.deployer", "deploy.devnet",
)
"""Stacks `sharedseq serve` runs only when its config has the table for them ([l1], [console],
store = "jetstream", margin), or that only other subcommands use."""

NEEDED = ("grpc", "grpc_health.v1.health", "prometheus_client", "sequencer.service.node",
          "sequencer.store.sqlite_log", "sequencer.service.reflection_v1")
"""What serving does load: the probe sees the modules it should (a probe that reported nothing would
pass the check above)."""


def _config(tmp: Path, extra: str = "") -> Path:
    write_key(tmp / "seq.key")
    rollups = "".join(f'\n[[rollups]]\nid = {r}\nname = "r{r}"\n' for r in (901, 902, 903))
    path = tmp / "seq.toml"
    path.write_text(f'[sequencer]\nlisten = "127.0.0.1:0"\ndata_dir = "data"\nkey_file = "seq.key"\n'
                    f'metrics_listen = ""\n{extra}{rollups}')
    return path


def _loaded(config: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True,
                         timeout=120, cwd=config.parent)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["port"] > 0  # it was serving when it reported
    return set(report["modules"])


def _present(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_serving_loads_no_unconfigured_stack(tmp_path: Path) -> None:
    modules = _loaded(_config(tmp_path))
    assert all(name in modules for name in NEEDED), sorted(n for n in NEEDED if n not in modules)
    loaded = sorted(name for name in HEAVY if _present(modules, name))
    assert not loaded, f"a plain `sharedseq serve` loaded {loaded}: import them where they are used"


def test_a_configured_l1_still_loads_its_follower(tmp_path: Path) -> None:
    """[l1] set: the follower (and with it aiohttp and eth_abi) is imported when the server starts
    it, so the lazy import above changes when it loads, not whether. The RPC is a closed port: the
    follower only starts (and retries) before the probe reports and stops."""
    from seq_helpers import free_port

    modules = _loaded(_config(tmp_path, f'[l1]\nrpc_url = "http://127.0.0.1:{free_port()}"\npoll_ms = 1000\n'))
    assert {"sequencer.l1.origin", "aiohttp", "eth_abi"} <= modules
