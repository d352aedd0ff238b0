"""keccak256, the one hash function of the protocol (as Ethereum uses it)."""

from eth_hash.auto import keccak as _keccak


def keccak(data: bytes) -> bytes:
    """keccak256(data), 32 bytes."""
    return _keccak(data)
