"""Shared blocks with bundles for three rollups → each adapter's window batch
decodes back to exactly the rollup's namespace transactions, with rule F."""

from __future__ import annotations

import random

import pytest
from eth_account import Account

from rollup_adapters.base import RollupTiming, group_rollup_blocks
from rollup_adapters.derivation import Cursor, ForcedTx, decode_window_batch, encode_window_batch, place_forced
from sequencer.core import Bundle, CoreConfig, Domain, RollupInfo, SequencerCore, Signer, Transaction, make_policy

ROLLUPS = {901: ("opstack", 1000), 902: ("nitro", 1000), 903: ("zkevm", 1000)}


def signed(acct, chain_id: int, nonce: int, legacy: bool) -> bytes:  # noqa: ANN001
    tx = {"nonce": nonce, "gas": 21000, "to": "0x" + "33" * 20, "value": nonce + 1, "chainId": chain_id}
    tx |= {"gasPrice": 10**9} if legacy else {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}
    return bytes(acct.sign_transaction(tx).raw_transaction)


def make_blocks(seed: int) -> list:
    rng = random.Random(seed)
    policies = {901: "evm", 902: "evm", 903: "evm-legacy"}
    cfg = CoreConfig(tuple(RollupInfo(r, str(r), make_policy(policies[r], r), f, bt)
                           for r, (f, bt) in ROLLUPS.items()), slot_ms=100)
    core = SequencerCore(cfg, Signer(bytes(range(1, 33)), Domain(1, b"\x01" * 20)))
    acct = Account.from_key(bytes([7]) * 32)
    nonces = dict.fromkeys(ROLLUPS, 0)
    blocks = []
    now = 1_700_000_000_050
    for slot in range(45):
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.3:
                legs = []
                for r in rng.sample(sorted(ROLLUPS), rng.randint(2, 3)):
                    legs.append(Transaction(r, signed(acct, r, nonces[r], r == 903)))
                    nonces[r] += 1
                core.submit_bundle(Bundle(tuple(legs)), now)
            else:
                r = rng.choice(sorted(ROLLUPS))
                core.submit(Transaction(r, signed(acct, r, nonces[r], r == 903)), now)
                nonces[r] += 1
        origin = 100 + slot // 12
        blocks.append(core.seal(now, (origin, origin.to_bytes(32, "big"))))
        now += 100 if slot != 20 else 2600  # a gap of empty rollup windows
    return blocks


@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_windows_round_trip_with_forced(rollup_id: int) -> None:
    fmt, bt = ROLLUPS[rollup_id]
    blocks = make_blocks(rollup_id)
    timing = RollupTiming(0, bt)
    acct = Account.from_key(bytes([9]) * 32)
    queue = [ForcedTx(rollup_id, i, signed(acct, rollup_id, i, rollup_id == 903), 90, 101 + i) for i in range(3)]
    # Two posting windows split at a whole second, as the batcher does.
    boundary = (blocks[len(blocks) // 2].header.timestamp_ms // 1000) * 1000
    first = [b for b in blocks if b.header.timestamp_ms < boundary]
    second = [b for b in blocks if b.header.timestamp_ms >= boundary]
    cursor = Cursor(timing.window_of(first[0].header.timestamp_ms))
    total_txs = []
    for part, last_ms in ((first, boundary), (second, second[-1].header.timestamp_ms + bt)):
        rblocks = group_rollup_blocks(part, rollup_id, timing, first_number=cursor.next_number,
                                      last_number=timing.window_of(last_ms - 1), prev_origin=cursor.prev_l1_origin)
        rblocks = place_forced(rblocks, queue, cursor.forced_applied)
        data = encode_window_batch(fmt, rollup_id, bt, rblocks, cursor)
        decoded = decode_window_batch(fmt, rollup_id, bt, data, cursor, queue)
        assert [b.transactions for b in decoded] == [b.transactions for b in rblocks]
        assert [b.number for b in decoded] == [b.number for b in rblocks]
        assert [b.timestamp_ms for b in decoded] == [b.timestamp_ms for b in rblocks]
        assert [b.l1_origin_number for b in decoded] == [b.l1_origin_number for b in rblocks]
        assert [b.forced for b in decoded] == [b.forced for b in rblocks]
        total_txs.extend(tx for b in decoded for tx in b.transactions)
        cursor = cursor.after(rblocks)
    assert total_txs == [tx for b in blocks for tx in b.namespace(rollup_id).transactions]
    assert cursor.forced_applied == 3
    # Bundle legs land in the rollup block covering their shared block's instant.
    for b in blocks:
        for p in b.bundles:
            assert all(r in ROLLUPS for r, _ in p.legs)
