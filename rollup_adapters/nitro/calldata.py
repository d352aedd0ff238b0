"""The batch poster's call to the SequencerInbox (nitro-contracts src/bridge/SequencerInbox.sol).

    calldata = selector[4] ++ abi_encode(args)
    0x8f111f3c addSequencerL2BatchFromOrigin(uint256 sequenceNumber, bytes data, uint256 afterDelayedMessagesRead,
                                             address gasRefunder, uint256 prevMessageCount, uint256 newMessageCount)
    0xe0bc9729 addSequencerL2Batch(... the same six arguments ...)
    0x6f12b0c9 addSequencerL2BatchFromOrigin(uint256, bytes, uint256, address)      (the first Nitro inbox)
    0x61a93f8f addSequencerL2Batch(uint256, bytes, uint256, address)                (the first Nitro inbox)
    0x3e5aa082 addSequencerL2BatchFromBlobs(uint256 sequenceNumber, uint256 afterDelayedMessagesRead,
                                            address gasRefunder, uint256 prevMessageCount, uint256 newMessageCount)
    0x69cacded addSequencerL2BatchFromOriginDelayProof(... the six arguments ..., DelayProof delayProof)
    0x6e620055 addSequencerL2BatchDelayProof(... the six arguments ..., DelayProof delayProof)
    0x917cf8ac addSequencerL2BatchFromBlobsDelayProof(... the five blob arguments ..., DelayProof delayProof)
    DelayProof = (bytes32 beforeDelayedAcc, Message delayedMessage)                 static: 8 words inline
    Message    = (uint8 kind, address sender, uint64 blockNumber, uint64 timestamp, uint256 inboxSeqNum,
                  uint256 baseFeeL1, bytes32 messageDataHash)     (src/bridge/DelayBufferTypes.sol, Messages.sol)

The delay-proof entry points are what arbnode/batch_poster.go encodeAddBatch calls on a delay-buffered
inbox (sequencerBatchPost*DelayProofMethodName); the payload is the same.

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
_BLOBS = ("sequence_number", "after_delayed_messages_read", "gas_refunder", "prev_message_count", "new_message_count")
DELAY_PROOF = "delay_proof"

DELAYED_MESSAGE_FIELDS = ("kind", "sender", "block_number", "timestamp", "inbox_seq_num", "base_fee_l1",
                          "message_data_hash")
"""Messages.Message, in ABI order; with before_delayed_acc ahead of it, the 8 words of a DelayProof."""

DELAY_PROOF_WORDS = 1 + len(DELAYED_MESSAGE_FIELDS)
FUNCTIONS: dict[bytes, InboxFunction] = {
    bytes.fromhex("8f111f3c"): InboxFunction("addSequencerL2BatchFromOrigin", _SIX),
    bytes.fromhex("e0bc9729"): InboxFunction("addSequencerL2Batch", _SIX),
    bytes.fromhex("6f12b0c9"): InboxFunction("addSequencerL2BatchFromOrigin", _FOUR),
    bytes.fromhex("61a93f8f"): InboxFunction("addSequencerL2Batch", _FOUR),
    bytes.fromhex("3e5aa082"): InboxFunction("addSequencerL2BatchFromBlobs", _BLOBS),
    bytes.fromhex("69cacded"): InboxFunction("addSequencerL2BatchFromOriginDelayProof", (*_SIX, DELAY_PROOF)),
    bytes.fromhex("6e620055"): InboxFunction("addSequencerL2BatchDelayProof", (*_SIX, DELAY_PROOF)),
    bytes.fromhex("917cf8ac"): InboxFunction("addSequencerL2BatchFromBlobsDelayProof", (*_BLOBS, DELAY_PROOF)),
}
"""Selectors by keccak256 of the signatures above."""


@dataclass(frozen=True, slots=True)
class DelayProof:
    """The delay proof a delay-buffered SequencerInbox takes (DelayBufferTypes.sol): the delayed
    accumulator before the first delayed message read, and that message's fields."""

    before_delayed_acc: bytes
    kind: int
    sender: bytes
    block_number: int
    timestamp: int
    inbox_seq_num: int
    base_fee_l1: int
    message_data_hash: bytes


@dataclass(frozen=True, slots=True)
class InboxCall:
    """A decoded call: the selector, the integer arguments by name (gas_refunder as 20 bytes), and the payload
    (None for the blob entry point)."""

    selector: bytes
    args: dict[str, int | bytes]
    data: bytes | None
    delay_proof: DelayProof | None = None

    @property
    def function(self) -> InboxFunction:
        return FUNCTIONS[self.selector]


def _word(calldata: bytes, index: int, field: str) -> int:
    start = 4 + index * WORD
    if start + WORD > len(calldata):
        raise DecodeError(f"calldata.{field}: truncated at {start}")
    return int.from_bytes(calldata[start : start + WORD], "big")


def _head_words(fn: InboxFunction) -> int:
    return sum(DELAY_PROOF_WORDS if a == DELAY_PROOF else 1 for a in fn.args)


def _decode_delay_proof(calldata: bytes, index: int) -> DelayProof:
    words = [_word(calldata, index + i, f"delay_proof.{name}")
             for i, name in enumerate(("before_delayed_acc", *DELAYED_MESSAGE_FIELDS))]
    at = 4 + index * WORD
    bounds = {"kind": 8, "sender": 160, "block_number": 64, "timestamp": 64}
    for i, name in enumerate(DELAYED_MESSAGE_FIELDS, 1):
        if name in bounds and words[i] >= 2 ** bounds[name]:
            raise DecodeError(f"calldata.delay_proof.delayed_message.{name}: over {bounds[name]} bits at "
                              f"{at + i * WORD}")
    return DelayProof(words[0].to_bytes(32, "big"), words[1], words[2].to_bytes(20, "big"), words[3], words[4],
                      words[5], words[6], words[7].to_bytes(32, "big"))


def decode_inbox_call(calldata: bytes) -> InboxCall:
    selector = calldata[:4]
    if selector not in FUNCTIONS:
        known = ", ".join(f"0x{s.hex()} {f.name}" for s, f in FUNCTIONS.items())
        raise DecodeError(f"calldata.selector: unknown 0x{selector.hex()} at 0; known: {known}")
    fn = FUNCTIONS[selector]
    args: dict[str, int | bytes] = {}
    data = None
    proof = None
    end = 4 + _head_words(fn) * WORD
    i = 0
    for name in fn.args:
        if name == DELAY_PROOF:
            proof = _decode_delay_proof(calldata, i)
            i += DELAY_PROOF_WORDS
            continue
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
        i += 1
    if any(calldata[end:]) or len(calldata) - end >= WORD:
        raise DecodeError(f"calldata: {len(calldata) - end} unexpected bytes after the arguments at {end}")
    return InboxCall(selector, args, data, proof)


def _encode_delay_proof(proof: DelayProof | None) -> bytes:
    if proof is None:
        raise ValueError("delay_proof: this entry point needs one")
    if len(proof.before_delayed_acc) != 32 or len(proof.message_data_hash) != 32 or len(proof.sender) != 20:
        raise ValueError("delay_proof: accumulators and hashes are 32 bytes, the sender 20")
    ints = (proof.kind, proof.block_number, proof.timestamp, proof.inbox_seq_num, proof.base_fee_l1)
    if not all(0 <= v < 2**256 for v in ints) or proof.kind >= 256 or max(proof.block_number, proof.timestamp) >= 2**64:
        raise ValueError("delay_proof: a field is out of its ABI range")
    return b"".join([
        proof.before_delayed_acc, proof.kind.to_bytes(WORD, "big"), bytes(12) + proof.sender,
        proof.block_number.to_bytes(WORD, "big"), proof.timestamp.to_bytes(WORD, "big"),
        proof.inbox_seq_num.to_bytes(WORD, "big"), proof.base_fee_l1.to_bytes(WORD, "big"), proof.message_data_hash,
    ])


def encode_inbox_call(call: InboxCall) -> bytes:
    fn = FUNCTIONS[call.selector]
    head: list[bytes] = []
    tail = b""
    for name in fn.args:
        if name == DELAY_PROOF:
            head.append(_encode_delay_proof(call.delay_proof))
        elif name == "data":
            payload = call.data or b""
            head.append((_head_words(fn) * WORD).to_bytes(WORD, "big"))
            padded = payload + b"\x00" * (-len(payload) % WORD)
            tail = len(payload).to_bytes(WORD, "big") + padded
        elif name == "gas_refunder":
            head.append(bytes(12) + bytes(call.args[name]))  # type: ignore[arg-type]
        else:
            head.append(int(call.args[name]).to_bytes(WORD, "big"))  # type: ignore[arg-type]
    return call.selector + b"".join(head) + tail
