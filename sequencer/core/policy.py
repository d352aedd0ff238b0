"""Admission policies: what a rollup accepts as a transaction payload.

A policy is a pure check of one payload; it raises `BadInput` with the
reason, or returns. Chosen per rollup by name in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sequencer.errors import BadInput, DecodeError

from .evm_tx import (
    LEGACY,
    TX_TYPE_NAMES,
    UNRECOVERABLE_SIGNATURE,
    decode_transaction,
    recover_sender,
    signature_recovers,
    signature_view,
)


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

    Every submitted transaction comes through here, so an acceptable one takes the fast path
    (`signature_view`, `signature_recovers`: one pass over the raw bytes and a bare libsecp256k1
    recovery). What it reads is what the decoder would, so the type, chain id and recovery refusals
    are made there, with the full check's words (the envelope checks are one function); a payload it
    is unsure decodes goes through the full decoder and `recover_sender`, which decide and word the
    refusal. The fast path accepts only what the full one does and refuses with its message
    (tests/unit/core/test_core_policy_fastcheck.py holds the two against each other), so which path
    ran never shows in a decision or a message.
    """

    chain_id: int
    allowed_types: frozenset[int] = frozenset({0, 1, 2, 4})
    name: str = "evm"

    def check(self, payload: bytes) -> None:
        view = signature_view(payload)
        if view is None:  # it may not decode: the full check decides
            self.check_fully(payload)
            return
        tx_type, chain_id, digest, rs, y_parity = view
        self._check_envelope(tx_type, chain_id)  # the decoder would read the same type and chain id
        recovers = signature_recovers(digest, rs, y_parity)
        if recovers:
            return
        if recovers is False:  # where recover_sender raises, and how
            raise BadInput(f"payload: {UNRECOVERABLE_SIGNATURE}")
        self.check_fully(payload)

    def check_fully(self, payload: bytes) -> None:
        """The full check: decode every field, recover the sender's address; raises the refusal."""
        try:
            tx = decode_transaction(payload)
        except DecodeError as exc:
            raise BadInput(f"payload: malformed EVM transaction: {exc}") from exc
        self._check_envelope(tx.tx_type, tx.chain_id)
        try:
            recover_sender(tx)
        except DecodeError as exc:
            raise BadInput(f"payload: {exc}") from exc

    def _check_envelope(self, tx_type: int, chain_id: int | None) -> None:
        if tx_type not in self.allowed_types:
            kinds = ", ".join(TX_TYPE_NAMES[t] for t in sorted(self.allowed_types))
            raise BadInput(
                f"payload: {TX_TYPE_NAMES[tx_type]} transactions are not accepted by this rollup "
                f"(accepted: {kinds})"
            )
        if chain_id is None:
            raise BadInput("payload: legacy transaction without EIP-155 chain id (replayable on any chain)")
        if chain_id != self.chain_id:
            raise BadInput(f"payload: wrong chain id {chain_id}, this rollup is chain {self.chain_id}")


def make_policy(name: str, chain_id: int) -> AdmissionPolicy:
    """The policy called `name` in a config: "evm", "evm-legacy" or "opaque"."""
    if name == "evm":
        return EvmPolicy(chain_id)
    if name == "evm-legacy":
        return EvmPolicy(chain_id, frozenset({LEGACY}), name="evm-legacy")
    if name == "opaque":
        return OpaquePolicy()
    raise BadInput(f"unknown admission policy {name!r} (known: evm, evm-legacy, opaque)")
