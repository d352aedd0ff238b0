"""Deploy scripts and local chains: anvil on 127.0.0.1, the L1 contract deployer, the `deploy` command."""

from .anvil import Anvil, AnvilError, DevAccount, dev_accounts, start_anvil
from .cli import add_deploy_commands
from .deployer import (
    DeployConfig,
    DeployError,
    Manifest,
    RollupSpec,
    contract_at,
    deploy_all,
    ensure_deployed,
    load_config,
    verify_manifest,
)

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
