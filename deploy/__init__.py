"""Deploy scripts and local chains: anvil on 127.0.0.1, the L1 contract deployer, the `deploy` command."""
