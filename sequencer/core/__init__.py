"""The sans-IO sequencer core: admission, ordering, block building, proofs.

Never imports grpc, asyncio, anyio, sqlite3 or web3 (tests/unit/test_core_imports.py).
"""

from .commitments import NamespaceProof, prove_namespace, verify_namespace
from .config import CoreConfig, Limits, RollupInfo
from .policy import EvmPolicy, OpaquePolicy, make_policy
from .sequencer import Admission, AdmittedTx, Head, SequencerCore
from .signing import Domain, Signer, block_hash, recover_signer
from .types import (
    ZERO_HASH,
    BlockHeader,
    Bundle,
    BundlePlacement,
    Namespace,
    Receipt,
    SharedBlock,
    Transaction,
)

__all__ = [
    "ZERO_HASH", "Admission", "AdmittedTx", "BlockHeader", "Bundle", "BundlePlacement", "CoreConfig",
    "Domain", "EvmPolicy", "Head", "Limits", "Namespace", "NamespaceProof", "OpaquePolicy", "Receipt",
    "RollupInfo", "SequencerCore", "SharedBlock", "Signer", "Transaction", "block_hash", "make_policy",
    "prove_namespace", "recover_signer", "verify_namespace",
]
