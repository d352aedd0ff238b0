"""keccak256, the one hash function of the protocol (as Ethereum uses it).

safe-pysha3's C Keccak is about five times faster per call than eth-hash's
pycryptodome backend, and a transaction takes about eight hashes on its way
through the sequencer; eth-hash stays as the fallback.
"""

try:
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        """keccak256(data), 32 bytes."""
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover - only without safe-pysha3
    from eth_hash.auto import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        """keccak256(data), 32 bytes."""
        return _eth_keccak(data)
