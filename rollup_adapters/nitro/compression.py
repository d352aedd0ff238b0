"""Brotli, bounded: the batch body and kind-1 segments are brotli streams.

    body = brotli(quality, lgwin)(segment_stream)

The reference decompresses with a hard output cap (arbcompress.Decompress(data, maxSize)); here the
stream is fed to `brotli.Decompressor` and drained in steps of at most the remaining allowance, so a
small bomb never grows past the cap (plus one step) before it is refused.
"""

from __future__ import annotations

import brotli

from sequencer.errors import DecodeError

DEFAULT_QUALITY = 11
"""The batch poster's default compression level (arbnode/batch_poster.go, CompressionLevel)."""

DEFAULT_LGWIN = 22
"""Brotli window the reference uses (arbcompress, lgwin 22)."""

_STEP = 1 << 20
"""Output drained per step while decompressing, so memory stays near the cap."""


def compress(data: bytes, quality: int = DEFAULT_QUALITY, lgwin: int = DEFAULT_LGWIN) -> bytes:
    """Deterministic brotli: the same bytes and settings always give the same stream."""
    return brotli.compress(data, mode=brotli.MODE_GENERIC, quality=quality, lgwin=lgwin)


def decompress(data: bytes, max_len: int, field: str) -> bytes:
    """Decompress one complete brotli stream of at most `max_len` output bytes.

    Raises DecodeError naming `field` on a corrupt or truncated stream, trailing input, or output over
    the cap (the reference returns an error for all of these).
    """
    decoder = brotli.Decompressor()
    out = bytearray()
    pending = data
    while True:
        limit = max(1, min(_STEP, max_len + 1 - len(out)))
        try:
            chunk = decoder.process(pending, output_buffer_limit=limit)
        except brotli.error as exc:
            raise DecodeError(f"{field}: corrupt brotli stream after {len(out)} output bytes") from exc
        pending = b""
        out += chunk
        if len(out) > max_len:
            raise DecodeError(f"{field}: decompressed size exceeds the {max_len}-byte limit")
        if decoder.is_finished():
            return bytes(out)
        if decoder.can_accept_more_data():
            # All input consumed, nothing left to drain, and the stream has not ended.
            raise DecodeError(f"{field}: truncated brotli stream after {len(out)} output bytes")
        if not chunk:
            raise DecodeError(f"{field}: brotli decoder made no progress")
