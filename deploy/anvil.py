"""The local anvil chain, for `deploy`, the devnet and the tests: it lives in sequencer/l1/anvil.py
because the rollup nodes' engine runs one too, and runtime code never imports deploy/."""

from sequencer.l1.anvil import (
    DEFAULT_ACCOUNTS,
    DEFAULT_MNEMONIC,
    REPO_ROOT,
    Anvil,
    AnvilError,
    DevAccount,
    dev_accounts,
    find_anvil,
    free_port,
    port_is_free,
    rpc,
    start_anvil,
)

__all__ = ["DEFAULT_ACCOUNTS", "DEFAULT_MNEMONIC", "REPO_ROOT", "Anvil", "AnvilError", "DevAccount", "dev_accounts",
           "find_anvil", "free_port", "port_is_free", "rpc", "start_anvil"]
