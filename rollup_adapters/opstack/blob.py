"""The version-0 OP Stack blob encoding (ecotone/derivation.md "Blob Encoding";
op-service/eth/blob.go).

    blob  = field_element * 4096                     field_element = 32 bytes, top 2 bits zero
    round = 4 field elements carrying 127 bytes: four 31-byte chunks in bytes [1:32] of each
            element, and 3 bytes (x, y, z) spread as four 6-bit values over the elements' byte 0:
              fe0[0] = x & 0x3f
              fe1[0] = (y & 0x0f) | ((x & 0xc0) >> 2)
              fe2[0] = z & 0x3f
              fe3[0] = ((z & 0xc0) >> 2) | ((y & 0xf0) >> 4)
    round 0, fe0[1:5] = encoding_version (0x00) ++ uint24 big-endian data length
    data order per round: fe0 chunk (27 bytes in round 0), x, fe1 chunk, y, fe2 chunk, z, fe3 chunk

Decoding is strict like blob.go ToData: version, length <= MAX_BLOB_DATA_SIZE, top bits of
every field element consumed after the first, and nothing non-zero past the data.
"""

from __future__ import annotations

from sequencer.errors import DecodeError

BLOB_SIZE = 4096 * 32
"""EIP-4844: 4096 field elements of 32 bytes."""

MAX_BLOB_DATA_SIZE = (4 * 31 + 3) * 1024 - 4
"""130,044 bytes: 127 bytes per 4-element round, 1024 rounds, minus version and length."""

ENCODING_VERSION = 0
VERSION_OFFSET = 1
ROUNDS = 1024


def encode_blob(data: bytes) -> bytes:
    """Data (e.g. batcher tx data) -> one 131,072-byte blob (blob.go FromData)."""
    if len(data) > MAX_BLOB_DATA_SIZE:
        raise ValueError(f"too much data for one blob: {len(data)} > {MAX_BLOB_DATA_SIZE}")
    # Lay the data out as the rounds consume it, after a 4-byte version ++ length header.
    stream = bytes([ENCODING_VERSION]) + len(data).to_bytes(3, "big") + data
    blob = bytearray(BLOB_SIZE)
    pos = 0
    for rnd in range(ROUNDS):
        if pos >= len(stream):
            break
        base = rnd * 128
        chunk = [b""] * 4
        small = [0] * 3
        for j in range(4):
            chunk[j] = stream[pos : pos + 31]
            pos += 31
            if j < 3:
                small[j] = stream[pos] if pos < len(stream) else 0
                pos += 1
        x, y, z = small
        tops = [x & 0x3F, (y & 0x0F) | ((x & 0xC0) >> 2), z & 0x3F, ((z & 0xC0) >> 2) | ((y & 0xF0) >> 4)]
        for j in range(4):
            fe = base + 32 * j
            blob[fe] = tops[j]
            blob[fe + 1 : fe + 1 + len(chunk[j])] = chunk[j]
    return bytes(blob)


def decode_blob(blob: bytes) -> bytes:
    """One blob -> its data (blob.go ToData, including the extraneous-data checks)."""
    if len(blob) != BLOB_SIZE:
        raise DecodeError(f"blob: expected {BLOB_SIZE} bytes, got {len(blob)} at offset 0")
    if blob[VERSION_OFFSET] != ENCODING_VERSION:
        raise DecodeError(f"encoding_version: expected 0, got {blob[VERSION_OFFSET]} at offset {VERSION_OFFSET}")
    length = int.from_bytes(blob[2:5], "big")
    if length > MAX_BLOB_DATA_SIZE:
        raise DecodeError(f"length: {length} exceeds {MAX_BLOB_DATA_SIZE} at offset 2")
    out = bytearray()
    ipos = 0
    for rnd in range(ROUNDS):
        if rnd > 0 and len(out) >= length:
            break
        tops = []
        for j in range(4):
            fe = rnd * 128 + 32 * j
            # Round 0's first byte is read unchecked, as blob.go does (its top bits are masked off).
            if (rnd, j) != (0, 0) and blob[fe] & 0xC0:
                raise DecodeError(f"field_element: top bits set in field element {fe // 32} at offset {fe}")
            tops.append(blob[fe])
            ipos = fe + 32
        a, b, c, d = tops
        x = (a & 0x3F) | ((b & 0x30) << 2)
        y = (b & 0x0F) | ((d & 0x0F) << 4)
        z = (c & 0x3F) | ((d & 0x30) << 2)
        fe = rnd * 128
        first = blob[fe + 5 : fe + 32] if rnd == 0 else blob[fe + 1 : fe + 32]
        out += first + bytes([x]) + blob[fe + 33 : fe + 64] + bytes([y])
        out += blob[fe + 65 : fe + 96] + bytes([z]) + blob[fe + 97 : fe + 128]
    if any(out[length:]):
        raise DecodeError(f"field_element: non-zero data past the length {length} at offset {ipos}")
    tail = blob[ipos:]
    if any(tail):
        bad = ipos + next(i for i, v in enumerate(tail) if v)
        raise DecodeError(f"blob: non-zero data after the encoded data at offset {bad}")
    return bytes(out[:length])
