"""The public Python package of sharedseq.

    sharedseq.v1       generated protobuf and gRPC code for the public API (package sharedseq.v1;
                       regenerate with `make proto`, never edit by hand)
    sharedseq.client   a client for the sequencer's gRPC API that verifies receipts, headers and
                       namespace proofs client-side, with typed errors (docs/api.md)
    sharedseq.margin   cross-rollup margin bundles: intents, bundle ids, signing, reading the
                       rollups' engines (docs/margin.md)
    sharedseq.cli      the `sharedseq` console script's entry point (also `python -m sharedseq`); the
                       command line itself is sequencer/cli.py

Importing this package imports none of them, so `import sharedseq.v1` stays light.
"""
