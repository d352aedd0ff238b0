# Wire grammar (Etrog, batch v2):
#   changeL2Block = 0x0b ++ deltaTimestamp u32be ++ indexL1InfoTree u32be     (9 bytes)
"""The `changeL2Block` marker that opens each L2 block of an Etrog batch.

Follows `EncodeBlockHeaderV2` / `decodeBlockHeader` in 0xPolygonHermez/zkevm-node
state/encoding_batch_v2.go. 0x0b can never begin a tx entry, whose RLP list
header is >= 0xc0, so one byte tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import BadInput, DecodeError

CHANGE_L2_BLOCK = 0x0B
"""Marker byte of a changeL2Block (encoding_batch_v2.go `changeL2Block`)."""

L2_BLOCK_CHANGE_LEN = 9
"""Marker, deltaTimestamp and indexL1InfoTree."""

U32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class L2BlockChange:
    """Start of an L2 block: seconds since the previous L2 block, and the
    L1 info tree leaf the block may read (0 = no new global exit root)."""

    delta_timestamp: int
    index_l1_info_tree: int

    def __post_init__(self) -> None:
        for name in ("delta_timestamp", "index_l1_info_tree"):
            value = getattr(self, name)
            if not 0 <= value <= U32_MAX:
                raise BadInput(f"{name}: {value} does not fit in a u32")


def encode_l2_block_change(change: L2BlockChange) -> bytes:
    return (
        bytes([CHANGE_L2_BLOCK])
        + change.delta_timestamp.to_bytes(4, "big")
        + change.index_l1_info_tree.to_bytes(4, "big")
    )


def decode_l2_block_change(data: bytes, offset: int) -> tuple[L2BlockChange, int]:
    """The changeL2Block at `offset` and the offset after it."""
    if offset >= len(data) or data[offset] != CHANGE_L2_BLOCK:
        raise DecodeError(f"changeL2Block: expected 0x0b at {offset}")
    if offset + 5 > len(data):
        raise DecodeError(f"deltaTimestamp: truncated at {offset + 1}")
    if offset + L2_BLOCK_CHANGE_LEN > len(data):
        raise DecodeError(f"indexL1InfoTree: truncated at {offset + 5}")
    delta = int.from_bytes(data[offset + 1 : offset + 5], "big")
    index = int.from_bytes(data[offset + 5 : offset + 9], "big")
    return L2BlockChange(delta, index), offset + L2_BLOCK_CHANGE_LEN
