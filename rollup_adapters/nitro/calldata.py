"""The batch poster's call to the SequencerInbox (nitro-contracts src/bridge/SequencerInbox.sol).

    calldata = selector[4] ++ abi_encode(args)
    0x8f111f3c addSequencerL2BatchFromOrigin(uint256 sequenceNumber, bytes data, uint256 afterDelayedMessagesRead,
                                             address gasRefunder, uint256 prevMessageCount, uint256 newMessageCount)
    0xe0bc9729 addSequencerL2Batch(... the same six arguments ...)
    0x6f12b0c9 addSequencerL2BatchFromOrigin(uint256, bytes, uint256, address)      (the first Nitro inbox)
    0x61a93f8f addSequencerL2Batch(uint256, bytes, uint256, address)                (the first Nitro inbox)
    0x3e5aa082 addSequencerL2BatchFromBlobs(uint256 sequenceNumber, uint256 afterDelayedMessagesRead,
                                            address gasRefunder, uint256 prevMessageCount, uint256 newMessageCount)

`data` is the batch payload (header byte ++ body) that arbnode/batch_poster.go passes to the call; the
contract prefixes the 40-byte time/block header itself. A blob call carries no payload in calldata.
Decoding checks the selector, that `data`'s offset and length stay inside the calldata, and that nothing
but the ABI's zero padding follows it; encoding writes the standard ABI layout, so decode then encode is exact
for calldata a Solidity/ethers encoder produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.errors import DecodeError

WORD = 32


@dataclass(frozen=True, slots=True)
class InboxFunction:
    """One SequencerInbox entry point: its name and argument names in order ("data" is the bytes payload)."""

    name: str
    args: tuple[str, ...]


_SIX = ("sequence_number", "data", "after_delayed_messages_read", "gas_refunder", "prev_message_count",
        "new_message_count")
_FOUR = _SIX[:4]
FUNCTIONS: dict[bytes, InboxFunction] = {
    bytes.fromhex("8f111f3c"): InboxFunction("addSequencerL2BatchFromOrigin", _SIX),
    bytes.fromhex("e0bc9729"): InboxFunction("addSequencerL2Batch", _SIX),
    bytes.fromhex("6f12b0c9"): InboxFunction("addSequencerL2BatchFromOrigin", _FOUR),
    bytes.fromhex("61a93f8f"): InboxFunction("addSequencerL2Batch", _FOUR),
    bytes.fromhex("3e5aa082"): InboxFunction(
        "addSequencerL2BatchFromBlobs",
        ("sequence_number", "after_delayed_messages_read", "gas_refunder", "prev_message_count", "new_message_count"),
    ),
}
"""Selectors by keccak256 of the signatures above."""


@dataclass(frozen=True, slots=True)
class InboxCall:
    """A decoded call: the selector, the integer arguments by name (gas_refunder as 20 bytes), and the payload
    (None for the blob entry point)."""

    selector: bytes
    args: dict[str, int | bytes]
    data: bytes | None

    @property
    def function(self) -> InboxFunction:
        return FUNCTIONS[self.selector]


def _word(calldata: bytes, index: int, field: str) -> int:
    start = 4 + index * WORD
    if start + WORD > len(calldata):
        raise DecodeError(f"calldata.{field}: truncated at {start}")
    return int.from_bytes(calldata[start : start + WORD], "big")


def decode_inbox_call(calldata: bytes) -> InboxCall:
    selector = calldata[:4]
    if selector not in FUNCTIONS:
        known = ", ".join(f"0x{s.hex()} {f.name}" for s, f in FUNCTIONS.items())
        raise DecodeError(f"calldata.selector: unknown 0x{selector.hex()} at 0; known: {known}")
    fn = FUNCTIONS[selector]
    args: dict[str, int | bytes] = {}
    data = None
    end = 4 + len(fn.args) * WORD
    for i, name in enumerate(fn.args):
        value = _word(calldata, i, name)
        if name == "data":
            offset = 4 + value
            length = int.from_bytes(calldata[offset : offset + WORD], "big") if offset + WORD <= len(calldata) else None
            if length is None or offset + WORD + length > len(calldata):
                raise DecodeError(f"calldata.data: offset {value} / length run past the end at {4 + i * WORD}")
            data = calldata[offset + WORD : offset + WORD + length]
            end = max(end, offset + WORD + length)
        elif name == "gas_refunder":
            if value >= 2**160:
                raise DecodeError(f"calldata.gas_refunder: not an address at {4 + i * WORD}")
            args[name] = value.to_bytes(20, "big")
        else:
            args[name] = value
    if any(calldata[end:]) or len(calldata) - end >= WORD:
        raise DecodeError(f"calldata: {len(calldata) - end} unexpected bytes after the arguments at {end}")
    return InboxCall(selector, args, data)


def encode_inbox_call(call: InboxCall) -> bytes:
    fn = FUNCTIONS[call.selector]
    head: list[bytes] = []
    tail = b""
    for name in fn.args:
        if name == "data":
            payload = call.data or b""
            head.append((len(fn.args) * WORD).to_bytes(WORD, "big"))
            padded = payload + b"\x00" * (-len(payload) % WORD)
            tail = len(payload).to_bytes(WORD, "big") + padded
        elif name == "gas_refunder":
            head.append(bytes(12) + bytes(call.args[name]))  # type: ignore[arg-type]
        else:
            head.append(int(call.args[name]).to_bytes(WORD, "big"))  # type: ignore[arg-type]
    return call.selector + b"".join(head) + tail
