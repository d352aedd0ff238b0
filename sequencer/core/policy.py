"""Admission policies: what a rollup accepts as a transaction payload.

A policy is a pure check of one payload; it raises `BadInput` with the
reason, or returns. Chosen per rollup by name in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sequencer.errors import BadInput, DecodeError

from .evm_tx import LEGACY, TX_TYPE_NAMES, decode_transaction, recover_sender


class AdmissionPolicy(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, payload: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class OpaquePolicy:
    """Any non-empty bytes (a sovereign rollup that validates on its side)."""

    name: str = "opaque"

    def check(self, payload: bytes) -> None:
        if not payload:
            raise BadInput("payload: empty")


@dataclass(frozen=True, slots=True)
class EvmPolicy:
    """A raw signed EVM transaction for chain `chain_id` (docs/architecture.md section 3).

    Decodes strictly (sequencer/core/evm_tx.py), checks the chain id (a
    pre-EIP-155 legacy transaction carries none and is refused: it could be
    replayed on any chain), and recovers the sender, so a transaction with a
    signature that recovers to no key is refused here, not on the rollup.
    `allowed_types` restricts envelopes: the zkEVM batch format carries only
    legacy transactions (rollup_adapters/zkevm).
    """

    chain_id: int
    allowed_types: frozenset[int] = frozenset({0, 1, 2, 4})
    name: str = "evm"

    def check(self, payload: bytes) -> None:
        try:
            tx = decode_transaction(payload)
        except DecodeError as exc:
            raise BadInput(f"payload: malformed EVM transaction: {exc}") from exc
        if tx.tx_type not in self.allowed_types:
            kinds = ", ".join(TX_TYPE_NAMES[t] for t in sorted(self.allowed_types))
            raise BadInput(
                f"payload: {TX_TYPE_NAMES[tx.tx_type]} transactions are not accepted by this rollup "
                f"(accepted: {kinds})"
            )
        if tx.chain_id is None:
            raise BadInput("payload: legacy transaction without EIP-155 chain id (replayable on any chain)")
        if tx.chain_id != self.chain_id:
            raise BadInput(f"payload: wrong chain id {tx.chain_id}, this rollup is chain {self.chain_id}")
        try:
            recover_sender(tx)
        except DecodeError as exc:
            raise BadInput(f"payload: {exc}") from exc


def make_policy(name: str, chain_id: int) -> AdmissionPolicy:
    """The policy called `name` in a config: "evm", "evm-legacy" or "opaque"."""
    if name == "evm":
        return EvmPolicy(chain_id)
    if name == "evm-legacy":
        return EvmPolicy(chain_id, frozenset({LEGACY}), name="evm-legacy")
    if name == "opaque":
        return OpaquePolicy()
    raise BadInput(f"unknown admission policy {name!r} (known: evm, evm-legacy, opaque)")
