"""Development tools: local chains for the tests, `deploy`, the devnet and the benchmarks.

    sequencer.devtools.anvil   a local anvil on 127.0.0.1 (launcher, anvil's funded dev accounts, free ports)
    sequencer.devtools.jetstream   a local 3-node NATS JetStream cluster (the replicated devnet, the benchmark)

Why here and not in deploy/: runtime code never imports deploy/ (tests/unit/test_package_imports.py), yet
the rollup node runs its execution engine on a local anvil (rollup_node/engine.py), so the launcher must
ship in the wheel beside the code that uses it. Why not in sequencer/l1/: it never talks to a real L1; it
starts and stops a process. It imports only the standard library, eth_account and sequencer.errors, so
anything may use it without pulling in deploy/, contracts/ tooling or tests.
"""
