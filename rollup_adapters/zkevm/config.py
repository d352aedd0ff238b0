"""The zkEVM (Etrog) format's encode/decode configuration, typed (adapter.py documents each field),
the configuration derivation gives it for a posting window, and the format's own test of a forced
entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sequencer.errors import BadInput

from .batch_v2 import MAX_BATCH_BYTES, MAX_FORCED_BATCH_BYTES
from .tx_entry import FULL_EFFECTIVE_PERCENTAGE, batch_tx_from_raw, encode_tx_entry

if TYPE_CHECKING:
    from rollup_adapters.base import Cursor


@dataclass(frozen=True, slots=True)
class ZkEvmConfig:
    """`FORMAT.encode_blocks` / `decode_blocks` configuration (adapter.py module doc).

    `prev_timestamp_ms` None: encode times the first block from its own second (delta 0), decode from 0.
    `index_l1_info_tree`: one index for every block, or a mapping from block number to index; None: each
    block's L1 origin number. `forced`: payload indices that are forced batches (decode)."""

    max_batch_bytes: int = MAX_BATCH_BYTES
    max_forced_batch_bytes: int = MAX_FORCED_BATCH_BYTES
    prev_timestamp_ms: int | None = None
    index_l1_info_tree: int | Mapping[int, int] | None = None
    effective_percentage: int = FULL_EFFECTIVE_PERCENTAGE
    first_number: int = 0
    forced: Sequence[int] = ()


def window_config(rollup_id: int, block_time_ms: int, cursor: Cursor, pending_forced: Sequence[bytes]) -> ZkEvmConfig:
    """Derivation's configuration for one rollup's next window. The first window's first block has delta 0
    from its own window start. Forced batches are told apart by the container's forced indices
    (derivation rule 4), which derivation adds as `forced` when it decodes."""
    prev = cursor.prev_timestamp_ms
    return ZkEvmConfig(first_number=cursor.next_number,
                       prev_timestamp_ms=prev if prev is not None else cursor.next_number * block_time_ms)


def forced_check(data: bytes) -> str | None:
    """Why a forced entry the legacy policy admits still has no place in a zkEVM batch: it must convert to a
    batch tx entry that fits one forced batch (derivation rule 3)."""
    try:
        entry = encode_tx_entry(batch_tx_from_raw(data))
    except BadInput as exc:  # DecodeError included: the policy's decoder is not the format's
        return f"not a zkEVM batch transaction: {exc}"
    if len(entry) > MAX_FORCED_BATCH_BYTES:
        return f"its tx entry of {len(entry)} bytes does not fit a {MAX_FORCED_BATCH_BYTES}-byte forced batch"
    return None
