"""The Nitro format's encode/decode configuration, typed (blocks.py documents each field), and the
configuration derivation gives it for a posting window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .compression import DEFAULT_LGWIN, DEFAULT_QUALITY

if TYPE_CHECKING:
    from rollup_adapters.base import Cursor

    from .sequencer_message import SequencerHeader

DEFAULT_MAX_TX_BYTES = 120_000
"""Default payload budget per batch, under the poster's MaxSize for calldata batches."""


@dataclass(frozen=True, slots=True)
class NitroConfig:
    """`FORMAT.encode_blocks` / `decode_blocks` configuration (blocks.py module doc).

    `headers`: one SequencerHeader, or its 5 fields, per payload; `delayed_inbox`: the raw delayed
    messages from number `delayed_messages_read` on."""

    max_tx_bytes: int = DEFAULT_MAX_TX_BYTES
    brotli_quality: int = DEFAULT_QUALITY
    brotli_lgwin: int = DEFAULT_LGWIN
    delayed_messages_read: int = 0
    first_block_number: int = 0
    delayed_inbox: Sequence[bytes] | None = None
    l1_origin_hashes: Mapping[int, bytes] | None = None
    reference: bool = False
    headers: Sequence[SequencerHeader | Sequence[int]] | None = None


def window_config(rollup_id: int, block_time_ms: int, cursor: Cursor, pending_forced: Sequence[bytes]) -> NitroConfig:
    """Derivation's configuration for one rollup's next window: blocks numbered on from the cursor, and the
    delayed inbox as the forced entries not yet applied (ForcedCarriage.EVERY_APPLIED: each applied entry
    is one delayed read)."""
    return NitroConfig(first_block_number=cursor.next_number, delayed_messages_read=cursor.forced_applied,
                       delayed_inbox=tuple(pending_forced))
