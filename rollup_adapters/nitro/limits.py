"""Size limits of the Nitro inbox, as the reference node enforces them.

Every decoder in this package checks these before it allocates.
"""

from __future__ import annotations

MAX_DECOMPRESSED_LEN = 16 * 1024 * 1024
"""Largest decompressed segment stream of one batch (arbstate/inbox.go, MaxDecompressedLen)."""

MAX_SEGMENTS_PER_SEQUENCER_MESSAGE = 100 * 1024
"""Most segments one batch may hold (arbstate/inbox.go, MaxSegmentsPerSequencerMessage)."""

MAX_L2_MESSAGE_SIZE = 256 * 1024
"""Largest L2 message, and largest batch sub-message
(arbos/arbostypes/incomingmessage.go, MaxL2MessageSize)."""

MAX_L2_BATCH_DEPTH = 16
"""Batches nest at most this deep: parseL2Message refuses a Batch at depth >= 16 (arbos/parse_l2.go)."""

SEQUENCER_HEADER_LEN = 40
"""minTimestamp, maxTimestamp, minL1Block, maxL1Block, afterDelayedMessages: u64be each
(arbstate/inbox.go)."""

U64_MAX = 2**64 - 1
