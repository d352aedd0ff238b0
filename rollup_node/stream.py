"""The soft node's check of one streamed block, as a pure function (docs/architecture.md section 4.5).

    verified = verify_stream_block(msg, rollup_id, domain, position, sequencer_address)
    block, signer, position = verified.block, verified.signer, verified.next_position

`msg` is one SubscribeBlocks answer (a RollupBlock: signed header, the rollup's transactions, their
namespace proof). It is accepted only if, in this order:

1. its height is `position.next_height` and its parent_hash is `position.prev_hash` (the previous
   block's hash, zero at height 0): the stream can neither skip, repeat nor fork;
2. its signature is a valid EIP-712 signature under `domain` (the inbox's), and, when
   `sequencer_address` is given (a node with no L1), made by that address; with an L1 the caller
   checks the recovered signer against the SequencerKeys contract (soft.py `check_key`), which needs I/O;
3. the namespace is this rollup's, and its proof shows the transactions are exactly the ones under the
   header's namespaces_root (`commitments.verify_namespace`: a present namespace's proof carries its
   neighbours, so a sorted, complete tree is shown; an absent one is bracketed).

Any failure raises `VerificationError` naming the height and the check; nothing here does I/O, so the
soft follower (soft.py) and tests call the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.core.commitments import verify_namespace
from sequencer.core.signing import Domain, block_hash, recover_signer
from sequencer.core.types import ZERO_HASH, Hash32, Namespace, SharedBlock
from sequencer.service.convert import header_from_proto, proof_from_proto
from sharedseq.v1 import sequencer_pb2 as pb

from .errors import VerificationError


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a follower is in the sequencer stream: the height it expects next and the hash of the
    block before it (ZERO_HASH before height 0)."""

    next_height: int = 0
    prev_hash: Hash32 = ZERO_HASH


@dataclass(frozen=True, slots=True)
class VerifiedStreamBlock:
    """A streamed block that passed every check: the block holding only this rollup's namespace (none
    if it had no transactions), the address its signature recovers to, and the position after it."""

    block: SharedBlock
    signer: bytes
    next_position: StreamPosition


def verify_stream_block(msg: pb.RollupBlock, rollup_id: int, domain: Domain, position: StreamPosition,
                        sequencer_address: bytes | None = None) -> VerifiedStreamBlock:
    """Check one streamed block against the stream so far (module docstring, checks 1 to 3)."""
    header = header_from_proto(msg.signed_header.header)
    sig = bytes(msg.signed_header.signature)
    h = block_hash(header)
    if header.height != position.next_height:
        raise VerificationError(f"expected height {position.next_height}, sequencer sent {header.height}")
    if header.parent_hash != position.prev_hash:
        raise VerificationError(f"block {header.height}: parent hash 0x{header.parent_hash.hex()} is not the "
                                f"previous block's 0x{position.prev_hash.hex()}")
    try:
        signer = recover_signer(domain, h, sig)
    except ValueError as exc:
        raise VerificationError(f"block {header.height}: bad signature ({exc})") from exc
    if sequencer_address is not None and signer != sequencer_address:
        raise VerificationError(f"block {header.height}: signed by 0x{signer.hex()}, not the sequencer "
                                f"0x{sequencer_address.hex()}")
    if msg.rollup_id != rollup_id or msg.proof.rollup_id != rollup_id:
        raise VerificationError(f"block {header.height}: namespace of rollup {msg.proof.rollup_id}, not {rollup_id}")
    txs = tuple(bytes(t) for t in msg.transactions)
    if not verify_namespace(proof_from_proto(msg.proof), txs, header.namespaces_root, header.namespace_count):
        raise VerificationError(f"block {header.height}: namespace proof does not verify against the header")
    block = SharedBlock(header, sig, (Namespace(rollup_id, txs),) if txs else ())
    return VerifiedStreamBlock(block, signer, StreamPosition(header.height + 1, h))
