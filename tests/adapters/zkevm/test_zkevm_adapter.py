"""FORMAT.encode_blocks / decode_blocks with real signed legacy transactions."""

from __future__ import annotations

from dataclasses import replace

import pytest
import rlp
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup_adapters.base import RollupBlock
from rollup_adapters.registry import get_format
from rollup_adapters.zkevm import FORMAT, ForcedBatchPayload, decode_batch_v2, decode_forced_batch, is_forced
from sequencer.core.hashing import keccak
from sequencer.core.types import ZERO_HASH
from sequencer.errors import BadInput, DecodeError, TooLarge

CHAIN_ID = 1001
KEYS = [Account.from_key(bytes([i]) * 32) for i in (1, 2, 3)]


def sign(
    key_index: int, nonce: int, *, chain_id: int | None = CHAIN_ID, create: bool = False, data: bytes = b""
) -> bytes:
    tx: dict = {
        "nonce": nonce,
        "gasPrice": 10**9 + nonce,
        "gas": 21000 + len(data) * 16,
        "value": nonce * 7,
        "data": data,
    }
    if chain_id is not None:
        tx["chainId"] = chain_id
    if not create:
        tx["to"] = "0x" + bytes([0x40 + nonce % 7]).hex() * 20
    return bytes(KEYS[key_index].sign_transaction(tx).raw_transaction)


# EIP-155 and pre-EIP-155, calls and contract creations, with and without data.
POOL = [
    sign(i % 3, i, chain_id=None if i % 5 == 4 else CHAIN_ID, create=i % 6 == 5, data=bytes(range(i * 9 % 200)))
    for i in range(24)
]


def rollup_blocks(
    seconds: list[int], txs: list[list[bytes]], forced: list[list[bytes]], first: int
) -> list[RollupBlock]:
    return [
        RollupBlock(first + i, second * 1000, 0, ZERO_HASH, tuple(block_txs), tuple(block_forced))
        for i, (second, block_txs, block_forced) in enumerate(zip(seconds, txs, forced, strict=True))
    ]


@st.composite
def block_runs(draw: st.DrawFn) -> tuple[list[RollupBlock], dict]:
    n = draw(st.integers(0, 8))
    start = draw(st.integers(1_700_000_000, 1_800_000_000))
    deltas = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    seconds = [start + sum(deltas[: i + 1]) for i in range(n)]
    txs = draw(st.lists(st.lists(st.sampled_from(POOL), max_size=6), min_size=n, max_size=n))
    forced = draw(st.lists(st.lists(st.sampled_from(POOL), max_size=3) | st.just([]), min_size=n, max_size=n))
    first = draw(st.integers(0, 1000))
    config = {
        "prev_timestamp_ms": (start - draw(st.integers(0, 5))) * 1000 + draw(st.integers(0, 999)),
        "max_batch_bytes": draw(st.sampled_from([120_000, 3_000])),
        "max_forced_batch_bytes": draw(st.sampled_from([5_000, 800])),
        "first_number": first,
    }
    return rollup_blocks(seconds, txs, forced, first), config


@settings(max_examples=150, deadline=None, derandomize=True)
@given(block_runs())
def test_encode_then_decode_gives_the_same_blocks(run: tuple[list[RollupBlock], dict]) -> None:
    blocks, config = run
    payloads = FORMAT.encode_blocks(blocks, config)
    for payload in payloads:
        limit = config["max_forced_batch_bytes"] if is_forced(payload) else config["max_batch_bytes"]
        assert 0 < len(payload) <= limit
    assert FORMAT.decode_blocks(payloads, config) == blocks
    # Stored as plain bytes, the forced ones are named by index instead.
    forced_at = [i for i, p in enumerate(payloads) if is_forced(p)]
    plain = [bytes(p) for p in payloads]
    assert FORMAT.decode_blocks(plain, {**config, "forced": forced_at}) == blocks


def test_registry_returns_this_format() -> None:
    assert get_format("zkevm") is FORMAT
    assert FORMAT.layers == ("batch", "forced-batch")


def test_hashes_survive_the_batch() -> None:
    blocks = rollup_blocks([100], [POOL[:10]], [[]], 0)
    (payload,) = FORMAT.encode_blocks(blocks, {})
    decoded = decode_batch_v2(payload).blocks[0].txs
    assert [entry.tx_hash for entry in decoded] == [keccak(raw) for raw in POOL[:10]]


def test_deltas_and_info_tree_index_from_config() -> None:
    blocks = rollup_blocks([100, 100, 107, 200], [[], [POOL[0]], [], []], [[]] * 4, 5)
    config = {"prev_timestamp_ms": 97_500, "index_l1_info_tree": {6: 42, 8: 7}}
    (payload,) = FORMAT.encode_blocks(blocks, config)
    changes = [block.change for block in decode_batch_v2(payload).blocks]
    assert [(c.delta_timestamp, c.index_l1_info_tree) for c in changes] == [(3, 0), (0, 42), (7, 0), (93, 7)]
    decoded = FORMAT.decode_blocks([payload], {"prev_timestamp_ms": 97_000, "first_number": 5})
    # indexL1InfoTree carries the L1 origin number back (leaf index = L1 block number).
    assert [b.l1_origin_number for b in decoded] == [0, 42, 0, 7]
    assert [replace(b, l1_origin_number=0) for b in decoded] == blocks


def test_l1_origin_number_rides_in_the_info_tree_index() -> None:
    blocks = [replace(b, l1_origin_number=n) for b, n in
              zip(rollup_blocks([100, 101, 102], [[], [POOL[0]], []], [[]] * 3, 0), (10, 11, 11), strict=True)]
    (payload,) = FORMAT.encode_blocks(blocks, {})
    assert FORMAT.decode_blocks([payload], {"prev_timestamp_ms": 100_000}) == blocks


def test_first_block_defaults_to_delta_zero_and_sub_seconds_are_floored() -> None:
    blocks = [
        RollupBlock(0, 5_250, 0, ZERO_HASH, ()),
        RollupBlock(1, 5_750, 0, ZERO_HASH, ()),
        RollupBlock(2, 6_000, 0, ZERO_HASH, ()),
    ]
    (payload,) = FORMAT.encode_blocks(blocks, {"index_l1_info_tree": 3})
    assert payload.hex() == "0b00000000000000030b00000000000000030b0000000100000003"


def test_forced_batch_comes_just_before_its_block() -> None:
    blocks = rollup_blocks([10, 11, 12], [[POOL[0]], [POOL[1]], [POOL[2]]], [[], [POOL[3], POOL[4]], []], 0)
    payloads = FORMAT.encode_blocks(blocks, {})
    assert [is_forced(p) for p in payloads] == [False, True, False]
    assert isinstance(payloads[1], ForcedBatchPayload)
    assert [e.raw for e in decode_forced_batch(payloads[1]).txs] == [POOL[3], POOL[4]]
    assert len(decode_batch_v2(payloads[2]).blocks) == 2


def test_batches_split_at_the_limit() -> None:
    blocks = rollup_blocks(list(range(40)), [POOL[:12]] * 40, [[]] * 40, 0)
    payloads = FORMAT.encode_blocks(blocks, {"max_batch_bytes": 10_000})
    assert len(payloads) > 1 and all(len(p) <= 10_000 for p in payloads)
    assert FORMAT.decode_blocks(payloads, {"prev_timestamp_ms": 0}) == blocks


def test_errors() -> None:
    with pytest.raises(TooLarge, match="block 0"):
        FORMAT.encode_blocks(rollup_blocks([1], [POOL], [[]], 0), {"max_batch_bytes": 500})
    with pytest.raises(BadInput, match="block 1: timestamp"):
        FORMAT.encode_blocks(rollup_blocks([5, 4], [[], []], [[], []], 0), {})
    typed = bytes(
        KEYS[0]
        .sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": 0,
                "maxFeePerGas": 2,
                "maxPriorityFeePerGas": 1,
                "gas": 21000,
                "to": "0x" + "11" * 20,
                "value": 0,
            }
        )
        .raw_transaction
    )
    with pytest.raises(DecodeError, match="zkEVM batches carry only legacy transactions"):
        FORMAT.encode_blocks(rollup_blocks([1], [[typed]], [[]], 0), {})
    with pytest.raises(DecodeError, match="forced-batch: 1 forced txs with no later L2 block"):
        FORMAT.decode_blocks(
            [ForcedBatchPayload(FORMAT.encode_blocks(rollup_blocks([1], [[]], [[POOL[0]]], 0), {})[0])], {}
        )
    with pytest.raises(DecodeError, match="legacy transaction: expected 9 fields, got 8"):
        FORMAT.encode_blocks(rollup_blocks([1], [[rlp.encode([0] * 8)]], [[]], 0), {})
