"""Replicas on NATS JetStream (issue 12): the lease machine (lease.py) and its shell (replica.py)."""
