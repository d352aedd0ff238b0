"""Deploy scripts and local chains: anvil on 127.0.0.1, the L1 contract deployer, the `deploy` command."""

from importlib import import_module
from typing import Any

# Public names, loaded on first use: `sharedseq --help` should not pay for importing web3.
_EXPORTS = {
    "Anvil": "anvil", "AnvilError": "anvil", "DevAccount": "anvil", "dev_accounts": "anvil", "start_anvil": "anvil",
    "add_deploy_commands": "cli",
    "DeployConfig": "deployer", "DeployError": "deployer", "Manifest": "deployer", "RollupSpec": "deployer",
    "contract_at": "deployer", "deploy_all": "deployer", "ensure_deployed": "deployer", "load_config": "deployer",
    "verify_manifest": "deployer",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Anvil",
    "AnvilError",
    "DeployConfig",
    "DeployError",
    "DevAccount",
    "Manifest",
    "RollupSpec",
    "add_deploy_commands",
    "contract_at",
    "deploy_all",
    "dev_accounts",
    "ensure_deployed",
    "load_config",
    "start_anvil",
    "verify_manifest",
]
