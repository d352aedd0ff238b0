"""Generated protobuf and gRPC code for the public API (package sharedseq.v1).

Regenerate with `make proto`; never edit by hand.
"""
