"""Zeroheavy: the bit-level encoding a 0x20 header byte announces (OffchainLabs/nitro
zeroheavy/zeroheavy.go; decoded before brotli in arbstate/inbox.go ParseSequencerMessage).

Source bits are the payload's bits, most significant first, then one 0 bit (the end marker),
then 1 bits as padding. The encoding turns them into bytes, cheap on L1 where zero bytes are:

    source bits        encoded byte
    0 0                0x00
    0 1 000000         0x01
    0 1 b6..b0         b6..b0 as one byte (0x02..0x7f; b6..b1 not all zero)
    1 b6..b0           0x80 | b6..b0

and stops after the byte that first reads into the end marker. Decoding reverses the table and
drops the last 0 bit with the 1 bits after it (the end marker and padding), then any partial
byte. inbox.go reads at most 101% of the uncompressed batch limit + 64 bytes of decoded output.
"""

from __future__ import annotations

_BITS = tuple(
    "00" if b == 0 else "01000000" if b == 1 else "01" + format(b, "07b") if b < 0x80 else "1" + format(b & 0x7F, "07b")
    for b in range(256)
)
"""The source bits each encoded byte stands for."""

_CHUNK = 4096


def decode_zeroheavy(data: bytes, limit: int) -> bytes:
    """Encoded bytes -> payload bytes, at most `limit` of them (io.LimitReader: the rest is not read).

    As ZeroheavyDecoder.pushBit does, a 0 bit is held back with the 1 bits after it until the
    next 0 arrives: the last 0 may be the end marker. Bits are kept in an integer, so a long run
    of 1s costs no string copies, and the held-back run is capped where the output limit is reached.
    """
    out = bytearray()
    buf = nbits = 0
    deferred = False
    ones = 0

    def emit(bits: str) -> None:
        nonlocal buf, nbits
        if bits:
            buf, nbits = (buf << len(bits)) | int(bits, 2), nbits + len(bits)

    def emit_ones(k: int) -> None:
        nonlocal buf, nbits
        buf, nbits = (buf << k) | ((1 << k) - 1), nbits + k

    for at in range(0, len(data), _CHUNK):
        bits = "".join(_BITS[b] for b in data[at : at + _CHUNK])
        if not deferred:
            first = bits.find("0")
            if first < 0:
                emit(bits)
                bits = ""
            else:
                emit(bits[:first])
                bits, deferred, ones = bits[first + 1 :], True, 0
        if deferred and bits:
            last = bits.rfind("0")
            if last < 0:
                ones += len(bits)
            else:
                emit("0")
                emit_ones(ones)
                emit(bits[:last])
                ones = len(bits) - last - 1
        whole = nbits // 8
        if whole:
            rest = nbits - whole * 8
            out += (buf >> rest).to_bytes(whole, "big")
            buf, nbits = buf & ((1 << rest) - 1), rest
        if len(out) >= limit:
            return bytes(out[:limit])
        ones = min(ones, 8 * (limit - len(out)) + 8)
    return bytes(out)


def encode_zeroheavy(data: bytes) -> bytes:
    """Payload bytes -> zeroheavy bytes (what a 0x20 batch poster writes after the header byte)."""
    bits = "".join(format(b, "08b") for b in data) + "0"
    pos = 0
    out = bytearray()

    def take(n: int) -> str:
        nonlocal pos
        chunk = bits[pos : pos + n]
        pos += n
        return chunk + "1" * (n - len(chunk))  # past the end marker: padding ones

    while pos < len(bits):
        if take(1) == "1":
            out.append(0x80 | int(take(7), 2))
        elif take(1) == "0":
            out.append(0)
        else:
            six = take(6)
            out.append(1 if six == "000000" else int(six + take(1), 2))
    return bytes(out)
