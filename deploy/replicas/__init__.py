"""A replicated sequencer on one host (issue 12, docs/replication.md): the sample configs of this
folder, and `launch.ReplicaSet`, which the devnet uses for `--replicas N`."""
