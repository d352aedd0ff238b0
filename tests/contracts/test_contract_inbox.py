"""SequencerInbox: signed windows end to end (docs/settlement.md section 3). Each attack test plays a
hostile poster or sequencer and checks the named revert; each would post if its check were removed."""

from __future__ import annotations

import random
from dataclasses import replace

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts import load_artifact
from deploy.deployer import DeployConfig, DeployError, Sender, _deploy_contract
from sequencer.core.signing import Domain, Signer, block_hash, typed_digest
from sequencer.core.types import U64_MAX, ZERO_HASH
from sequencer.core.window import WindowCommitment, blocks_root, rollups_hash, window_struct_hash
from sequencer.l1 import inbox as inbox_abi
from sequencer.l1.inbox import revert_name, window_tuple

GAS: dict[str, int] = {}
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _posted(l1, receipt):
    return l1.inbox.events.WindowPosted().process_receipt(receipt)[0]["args"]


def test_first_window_signed_in_python_is_accepted(l1):
    inbox = l1.inbox.functions
    assert inbox.nextHeight().call() == 0 and bytes(inbox.lastBlockHash().call()) == ZERO_HASH
    p = l1.build(4, (901, 902, 903), (b"op batch bytes", b"", b"zk batch"))
    assert p.blocks[0].header.height == 0 and p.window.parent_hash == ZERO_HASH
    receipt = l1.ok(l1.post(p), l1.poster)
    GAS["postWindow(4 blocks, 3 batches)"] = receipt["gasUsed"]
    ev = _posted(l1, receipt)
    w = p.window
    assert ev["windowIndex"] == 0 and bytes(ev["windowHash"]) == window_struct_hash(w)
    assert tuple(ev["window"].values()) == window_tuple(w)
    assert ev["signer"].lower() == "0x" + l1.sequencer.address.hex()
    assert list(ev["rollupIds"]) == [901, 902, 903]
    assert [bytes(b) for b in ev["batchHashes"]] == [keccak(b) for b in p.batches]
    assert list(ev["forcedTo"]) == [0, 0, 0]
    assert inbox.nextHeight().call() == 4 and inbox.firmHeight().call() == 3
    assert bytes(inbox.lastBlockHash().call()) == block_hash(p.blocks[-1].header) == w.last_block_hash
    assert inbox.lastTimestamp().call() == w.last_timestamp_ms
    assert inbox.lastOriginNumber().call() == w.l1_origin_number
    first, last, l1_block, origin, wh = inbox.getWindow(0).call()
    assert (first, last, l1_block, origin, bytes(wh)) == (0, 3, receipt["blockNumber"], w.l1_origin_number,
                                                          window_struct_hash(w))
    assert inbox.windowCount().call() == 1


def test_windows_chain_one_after_another(l1):
    for n in (1, 2, 7):
        start = l1.inbox.functions.nextHeight().call()
        receipt = l1.ok(l1.post(l1.build(n, (901, 902), (b"a" * 1000, b"b" * 1000))), l1.poster)
        GAS[f"postWindow({n} blocks, 2 x 1000 B batches)"] = receipt["gasUsed"]
        assert l1.inbox.functions.nextHeight().call() == start + n
    receipt = l1.ok(l1.post(l1.build(64, (901, 902, 903), (b"x" * 20_000,) * 3)), l1.poster)
    GAS["postWindow(64 blocks, 3 x 20 kB batches)"] = receipt["gasUsed"]
    print("\npostWindow gas:", GAS)


def test_python_commitments_equal_the_contracts(l1):
    """window_struct_hash, rollups_hash and the typed digest agree with SequencerInbox byte for byte."""
    rng = random.Random(7)
    inbox = l1.inbox.functions
    domain = l1.sequencer.domain
    assert bytes(inbox.domainSeparator().call()) == domain.separator()
    for _ in range(8):
        n = rng.randint(0, 5)
        ids = sorted({rng.randrange(1, 2**64) for _ in range(n)})
        n = len(ids)
        hashes = [rng.randbytes(32) for _ in range(n)]
        forced = [rng.randrange(2**64) for _ in range(n)]
        rh = rollups_hash(ids, hashes, forced)
        assert bytes(inbox.rollupsHash(ids, hashes, forced).call()) == rh
        w = WindowCommitment(rng.randrange(2**64), rng.randrange(2**64), rng.randbytes(32), rng.randbytes(32),
                             rng.randbytes(32), rng.randrange(2**64), rng.randrange(2**64), rng.randrange(2**64),
                             rng.randbytes(32), rh, rng.randbytes(32))
        sh = window_struct_hash(w)
        assert bytes(inbox.hashWindow(window_tuple(w)).call()) == sh
        assert bytes(inbox.windowDigest(window_tuple(w)).call()) == typed_digest(domain, sh)
        assert bytes(inbox.typedDigest(sh).call()) == typed_digest(domain, sh)
        sig = l1.sequencer.sign_struct(sh)
        assert inbox.recoverSigner(typed_digest(domain, sh), sig).call().lower() == \
            "0x" + l1.sequencer.address.hex()


# ---------------------------------------------------------------------------- a hostile poster


def test_poster_cannot_fabricate_firm_blocks(l1):
    """The poster holds a real signed posting and every signed header; it tries to make other blocks,
    batches or forced positions firm. Everything it can change is under the window signature."""
    inbox, poster = l1.inbox.functions, l1.poster.address
    p = l1.build(3, (901, 902))
    # Another batch for a rollup (e.g. transactions the sequencer never ordered).
    forged = replace(p, batches=(b"fabricated", p.batches[1]))
    assert l1.revert(l1.post(forged), poster) == "WrongRollupsHash"
    # A fabricated block in the witness (a leaf claiming other transactions), same window.
    other = l1.build(3, (901, 902))
    forged = replace(p, witness=other.witness)
    assert l1.revert(l1.post(forged), poster) == "WrongWitnessHash"
    # A different blocks root / block count / last hash in the window, the signature kept: it no longer
    # recovers to the sequencer's key.
    for field, value in (("blocks_root", other.window.blocks_root), ("last_height", p.window.last_height - 1),
                         ("last_block_hash", other.window.last_block_hash),
                         ("rollups_hash", other.window.rollups_hash), ("witness_hash", other.window.witness_hash)):
        forged = replace(p, window=replace(p.window, **{field: value}))
        if field == "rollups_hash":  # with the other posting's batches, so the hash check passes
            forged = replace(forged, rollup_ids=other.rollup_ids, batches=other.batches, forced_to=other.forced_to)
        if field == "witness_hash":
            forged = replace(forged, witness=other.witness)
        assert l1.revert(l1.post(forged), poster) == "UnknownSigner", field
    # The one public signed header (the last block's header signature) as the window signature: it
    # signs a BlockHeader digest, not this Window.
    forged = replace(p, signature=p.blocks[-1].signature)
    assert l1.revert(l1.post(forged), poster) == "UnknownSigner"
    # The poster's own key.
    mine = Signer(bytes(Account.from_key(l1.anvil.accounts[2].key).key), l1.sequencer.domain)
    assert l1.revert(l1.post(l1.resign(p, signer=mine)), poster) == "UnknownSigner"
    # The honest posting goes through, once.
    l1.ok(l1.post(p), l1.poster)
    assert l1.revert(l1.post(p), poster) == "WrongFirstHeight"
    assert inbox.nextHeight().call() == p.window.last_height + 1


def test_signature_domain_and_malleability(l1):
    p = l1.build(2)
    poster = l1.poster.address
    stranger = Signer(b"\x42" * 32, l1.sequencer.domain)
    assert l1.revert(l1.post(l1.resign(p, signer=stranger)), poster) == "UnknownSigner"
    seq_key = bytes(Account.from_key(l1.anvil.accounts[1].key).key)
    other_chain = Signer(seq_key, Domain(l1.w3.eth.chain_id + 1, l1.sequencer.domain.verifying_contract))
    assert l1.revert(l1.post(l1.resign(p, signer=other_chain)), poster) == "UnknownSigner"
    other_contract = Signer(seq_key, Domain(l1.w3.eth.chain_id, b"\x01" * 20))
    assert l1.revert(l1.post(l1.resign(p, signer=other_contract)), poster) == "UnknownSigner"
    sig = p.signature
    high_s = sig[:32] + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + bytes([55 - sig[64]])
    for bad in (high_s, sig[:64], sig + b"\x00", sig[:64] + b"\x01"):
        forged = replace(p, signature=bad)
        assert l1.revert(l1.post(forged), poster) == "BadSignature"
    l1.ok(l1.post(p), l1.poster)


def test_unauthorised_poster_rejected(l1):
    p = l1.build(1)
    assert l1.revert(l1.post(p), l1.outsider.address) == "NotPoster"
    assert l1.revert(l1.post(p), l1.owner.address) == "NotPoster"
    assert l1.transact(l1.post(p), l1.outsider, gas=500_000)["status"] == 0
    assert l1.inbox.functions.nextHeight().call() == p.window.first_height
    inbox = l1.inbox.functions
    assert l1.revert(inbox.setPoster(l1.outsider.address, True), l1.outsider.address) == "NotOwner"
    l1.ok(inbox.setPoster(l1.outsider.address, True), l1.owner)
    l1.ok(l1.post(p), l1.outsider)
    l1.ok(inbox.setPoster(l1.outsider.address, False), l1.owner)
    assert l1.revert(l1.post(l1.build(1)), l1.outsider.address) == "NotPoster"


# ---------------------------------------------------------------------------- a hostile sequencer


def test_height_jumps_and_overflow_refused_without_bricking(l1):
    """One signed window cannot move nextHeight far ahead (3 -> 1,000,004 in the review) nor to the top
    of uint64 (a header at 2^64 - 2 made every later window overflow)."""
    inbox, poster = l1.inbox.functions, l1.poster.address
    cap = inbox.maxWindowBlocks().call()
    p = l1.build(1)
    first = p.window.first_height
    assert l1.revert(l1.post(l1.resign(p, last_height=first + 1_000_000)), poster) == "WindowTooLong"
    assert l1.revert(l1.post(l1.resign(p, last_height=first + cap)), poster) == "WindowTooLong"
    assert l1.revert(l1.post(l1.resign(p, last_height=U64_MAX - 1)), poster) == "WindowTooLong"
    assert l1.revert(l1.post(l1.resign(p, last_height=U64_MAX)), poster) == "HeightOverflow"
    assert l1.revert(l1.post(l1.resign(p, last_height=first - 1)), poster) == "EmptyWindow"
    # A window that skips heights, or starts at the top of uint64.
    gap = l1.build(1, start=first + 1_000_000)
    assert l1.revert(l1.post(gap), poster) == "WrongFirstHeight"
    top = l1.build(1, start=U64_MAX - 1)
    assert l1.revert(l1.post(top), poster) == "WrongFirstHeight"
    wrong_parent = l1.build(2, parent=b"\x13" * 32)
    assert l1.revert(l1.post(wrong_parent), poster) == "WrongParent"
    # Nothing moved: the honest next window posts.
    l1.ok(l1.post(p), l1.poster)
    assert inbox.nextHeight().call() == first + 1


def test_timestamps_never_go_back_nor_run_ahead(l1):
    inbox, poster = l1.inbox.functions, l1.poster.address
    last = inbox.lastTimestamp().call()
    assert last > 0
    back = l1.build(2, first_ts=last - 1)
    assert l1.revert(l1.post(back), poster) == "TimestampBackwards"
    p = l1.build(2)
    assert l1.revert(l1.post(l1.resign(p, last_timestamp_ms=p.window.first_timestamp_ms - 1)), poster) == \
        "TimestampsReversed"
    now_ms = l1.w3.eth.get_block("latest")["timestamp"] * 1000
    drift = inbox.maxClockDriftMs().call()
    ahead = l1.build(2, first_ts=now_ms + drift + 1)
    assert l1.revert(l1.post(ahead), poster) == "TimestampInFuture"
    at_limit = l1.build(1, first_ts=now_ms + drift)  # eth_call runs in a block at least as late as `latest`
    assert l1.revert(l1.post(at_limit), poster) is None
    same = l1.build(1, first_ts=last)  # equal to the previous last timestamp is allowed
    l1.ok(l1.post(same), l1.poster)


def test_l1_origin_bounded_by_the_real_l1(l1):
    """The origin the sequencer signs must be a real recent L1 block: not ahead of the head (10^12 with
    head 61 was accepted), not older than maxOriginLag, with the right hash, never going back."""
    inbox, poster = l1.inbox.functions, l1.poster.address
    lag = inbox.maxOriginLag().call()
    l1.mine(lag + 2)
    head = l1.head()
    assert l1.revert(l1.post(l1.build(1, origin=(10**12, b"\x07" * 32))), poster) == "OriginNotInPast"
    assert l1.revert(l1.post(l1.build(1, origin=(head, l1.block_hash_at(head)))), poster) == "OriginNotInPast"
    stale = head - lag - 1
    assert l1.revert(l1.post(l1.build(1, origin=(stale, l1.block_hash_at(stale)))), poster) == "OriginTooOld"
    oldest = head - lag  # eth_call runs at `head`: head - lag is the oldest allowed
    assert l1.revert(l1.post(l1.build(1, origin=(oldest, l1.block_hash_at(oldest)))), poster) is None
    assert l1.revert(l1.post(l1.build(1, origin=(head - 1, b"\x07" * 32))), poster) == "WrongOriginHash"
    l1.ok(l1.post(l1.build(1, origin=(head - 1, l1.block_hash_at(head - 1)))), l1.poster)
    assert inbox.lastOriginNumber().call() == head - 1
    assert l1.revert(l1.post(l1.build(1, origin=(head - 2, l1.block_hash_at(head - 2)))), poster) == \
        "OriginBackwards"
    l1.ok(l1.post(l1.build(1, origin=(head - 1, l1.block_hash_at(head - 1)))), l1.poster)  # equal is fine


def test_poster_outage_never_bricks_the_inbox(l1):
    """Blocks sealed before a long poster (or L1) outage carry origins older than maxOriginLag by the
    time they can be posted. A live window (recent last block) is still refused with such an origin,
    so a sequencer cannot keep a fresh chain on a stale origin; once its last block is older than
    catchUpAfterMs the window catches up with its real, older origin, and no posting outage, however
    long, leaves the inbox unable to grow."""
    inbox, poster = l1.inbox.functions, l1.poster.address
    lag = inbox.maxOriginLag().call()
    catch_up = inbox.catchUpAfterMs().call()
    origin = l1.origin()
    sealed_ms = max(inbox.lastTimestamp().call(), l1.w3.eth.get_block("latest")["timestamp"] * 1000)
    # The outage: nothing posted for longer than both bounds.
    l1.w3.provider.make_request("evm_increaseTime", [catch_up // 1000 + 10])
    l1.mine(lag + 5)
    now_ms = l1.w3.eth.get_block("latest")["timestamp"] * 1000
    live = l1.build(1, origin=origin, first_ts=now_ms - 1_000)
    assert l1.revert(l1.post(live), poster) == "OriginTooOld"
    assert inbox.isLive(now_ms - 1_000).call() and not inbox.isLive(sealed_ms).call()
    old_ts = sealed_ms
    catching_up = l1.build(1, origin=origin, first_ts=old_ts)
    assert l1.revert(l1.post(catching_up), poster) is None
    l1.ok(l1.post(catching_up), l1.poster)
    # A catch-up window still cannot invent an origin or move it back.
    assert l1.revert(l1.post(l1.build(1, origin=(10**12, b"\x07" * 32), first_ts=old_ts)), poster) == \
        "OriginNotInPast"
    assert l1.revert(l1.post(l1.build(1, origin=(origin[0] - 1, l1.block_hash_at(origin[0] - 1)),
                                      first_ts=old_ts)), poster) == "OriginBackwards"


def test_rollup_arguments_checked(l1):
    inbox, poster = l1.inbox.functions, l1.poster.address
    p = l1.build(1, (901, 902))
    args = list(p.args())
    assert l1.revert(inbox.postWindow(args[0], args[1], [901, 902], [b""], [0, 0], args[5]), poster) == \
        "LengthMismatch"
    assert l1.revert(inbox.postWindow(args[0], args[1], [901], [b""], [0, 0], args[5]), poster) == \
        "LengthMismatch"
    assert l1.revert(l1.post(l1.build(1, (902, 901))), poster) == "RollupIdsNotSorted"
    assert l1.revert(l1.post(l1.build(1, (901, 901))), poster) == "RollupIdsNotSorted"
    assert l1.revert(l1.post(l1.build(1, (777,))), poster) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, True), l1.owner)
    assert l1.revert(l1.post(l1.build(1, (903,))), poster) == "RollupNotActive"
    l1.ok(l1.registry.functions.setPaused(903, False), l1.owner)
    l1.ok(l1.post(l1.build(1, (903,))), l1.poster)
    # No batches at all is a valid (empty) posting: the window is still made firm.
    l1.ok(l1.post(l1.build(1, ())), l1.poster)


def test_window_views_and_out_of_range(l1):
    inbox = l1.inbox.functions
    count = inbox.windowCount().call()
    assert count >= 5
    assert l1.revert(inbox.getWindow(count), l1.outsider.address) == "OutOfRange"
    first, last, _blk, _origin, _wh = inbox.getWindow(count - 1).call()
    assert last == inbox.firmHeight().call() and first <= last
    p = l1.build(3)
    assert p.window.blocks_root == blocks_root([b.header for b in p.blocks])


# ---------------------------------------------------------------------------- bond and constructor bounds


def _deploy_revert(l1, name: str, *args) -> str | None:
    art = load_artifact(name)
    factory = l1.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    data = factory.constructor(*args).build_transaction({"from": l1.owner.address, "gas": 5_000_000})["data"]
    try:
        l1.w3.eth.call({"from": l1.owner.address, "data": data, "gas": 5_000_000})
    except (ContractCustomError, ContractLogicError) as exc:
        raw = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
        return revert_name(raw) or f"unknown revert {raw!r}"
    return None


def test_constructor_bounds(l1):
    reg, keys = l1.registry.address, l1.keys.address
    me = l1.owner.address
    zero = "0x" + "00" * 20
    assert _deploy_revert(l1, "SequencerInbox", me, reg, keys, 10, 64, 30_000, 60_000) is None
    for args, err in (
        ((me, reg, keys, 0, 64, 30_000, 60_000), "MaxOriginLagOutOfRange"),       # forceInclusionDelay 0
        ((me, reg, keys, 256, 64, 30_000, 60_000), "MaxOriginLagOutOfRange"),     # blockhash would be gone
        ((me, reg, keys, 10, 0, 30_000, 60_000), "MaxWindowBlocksOutOfRange"),
        ((me, reg, keys, 10, 4097, 30_000, 60_000), "MaxWindowBlocksOutOfRange"),
        ((me, reg, keys, 10, 64, 999, 60_000), "MaxClockDriftOutOfRange"),
        ((me, reg, keys, 10, 64, 3_600_001, 60_000), "MaxClockDriftOutOfRange"),
        ((me, reg, keys, 10, 64, 30_000, 9_999), "CatchUpAfterOutOfRange"),
        ((me, reg, keys, 10, 64, 30_000, 7 * 86_400_000 + 1), "CatchUpAfterOutOfRange"),
        ((me, zero, keys, 10, 64, 30_000, 60_000), "ZeroAddress"),
        ((me, reg, zero, 10, 64, 30_000, 60_000), "ZeroAddress"),
        ((zero, reg, keys, 10, 64, 30_000, 60_000), "ZeroOwner"),
    ):
        assert _deploy_revert(l1, "SequencerInbox", *args) == err, args
    # The deploy config refuses the same values before sending anything.
    base = {"rollups": [{"id": 901, "format": "opstack", "block_time_ms": 1000}], "sequencer": {"address": me}}
    for key, value in (("force_inclusion_delay", 0), ("force_inclusion_delay", 256), ("max_window_blocks", 0),
                       ("max_window_blocks", 4097), ("max_clock_drift_ms", 0), ("catch_up_after_ms", 0)):
        cfg = DeployConfig.from_dict({**base, "l1": {key: value}})
        try:
            cfg.check()
        except DeployError as exc:
            assert key in str(exc)
        else:
            raise AssertionError(f"{key} = {value} accepted")


def test_bond_must_be_set_once_and_sufficient(l1):
    """No window is accepted before the bond is set or while it is below its minimum."""
    inbox = l1.inbox.functions
    assert l1.revert(inbox.setBond(l1.bond.address), l1.owner.address) == "BondAlreadySet"
    assert l1.revert(inbox.setBond(l1.bond.address), l1.outsider.address) == "NotOwner"
    sender = Sender(l1.w3, bytes(Account.from_key(l1.owner.key).key))
    rec = _deploy_contract(l1.w3, sender, "SequencerInbox", l1.owner.address, l1.registry.address,
                           l1.keys.address, 10, 64, 30_000, 60_000)
    fresh = l1.w3.eth.contract(address=rec.address, abi=l1.inbox.abi)
    l1.ok(fresh.functions.setPoster(l1.poster.address, True), l1.owner)
    seq = Signer(bytes(Account.from_key(l1.anvil.accounts[1].key).key),
                 Domain(l1.w3.eth.chain_id, bytes.fromhex(rec.address[2:])))
    saved = l1.inbox, l1.sequencer
    try:
        l1.inbox, l1.sequencer = fresh, seq
        p = l1.build(1)
        assert l1.revert(l1.post(p), l1.poster.address) == "BondNotSet"
        assert l1.revert(fresh.functions.setBond("0x" + "00" * 20), l1.owner.address) == "ZeroAddress"
        # A bond contract that reports itself insufficient (runtime code: return 0 for any call).
        stub = _deploy_code(l1, bytes.fromhex("600060005260206000f3"))
        l1.ok(fresh.functions.setBond(stub), l1.owner)
        assert l1.revert(l1.post(p), l1.poster.address) == "BondInsufficient"
        assert l1.revert(fresh.functions.setBond(l1.bond.address), l1.owner.address) == "BondAlreadySet"
    finally:
        l1.inbox, l1.sequencer = saved


def _deploy_code(l1, runtime: bytes) -> str:
    """Deploy `runtime` verbatim (init code: copy it to memory and return it)."""
    n = len(runtime)
    init = bytes([0x60, n, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xF3]) + runtime
    tx = {"from": l1.owner.address, "data": init, "gas": 200_000, "chainId": l1.w3.eth.chain_id,
          "nonce": l1.w3.eth.get_transaction_count(l1.owner.address, "pending"),
          "maxFeePerGas": 2 * l1.w3.eth.get_block("latest")["baseFeePerGas"] + 10**9, "maxPriorityFeePerGas": 10**9}
    signed = l1.owner.sign_transaction(tx)
    receipt = l1.w3.eth.wait_for_transaction_receipt(l1.w3.eth.send_raw_transaction(signed.raw_transaction))
    assert receipt["status"] == 1
    return receipt["contractAddress"]


def test_bond_below_minimum_refuses_windows(l1):
    """With the real SequencerBond deposited at exactly its minimum: a withdrawal request of one wei puts
    the stake below the minimum and the inbox refuses every window; a top-up makes it post again."""
    bond = l1.bond.functions
    minimum = bond.minimumBond().call()
    assert bond.bond().call() == minimum and bond.isSufficient().call() is True
    p = l1.build(1)
    assert l1.revert(l1.post(p), l1.poster.address) is None
    snap = l1.snapshot()
    try:
        l1.ok(bond.requestWithdrawal(1), l1.owner)
        assert bond.isSufficient().call() is False
        assert l1.revert(l1.post(p), l1.poster.address) == "BondInsufficient"
        l1.ok(bond.deposit(), l1.outsider, value=1)
        assert l1.revert(l1.post(p), l1.poster.address) is None
    finally:
        l1.revert_to(snap)
    l1.ok(l1.post(p), l1.poster)


def test_python_l1_layer_reads_and_encodes_the_inbox_abi(l1):
    """sequencer.l1.inbox (the batcher's and nodes' one ABI home) encodes postWindow as web3 does and
    decodes WindowPosted / the posting's input back to the signed commitment."""
    p = l1.build(3, (901, 902))
    fn = l1.post(p)
    data = inbox_abi.calldata("postWindow", *p.args())
    assert data == fn._encode_transaction_data()
    name, args = inbox_abi.decode_call(bytes.fromhex(data[2:]))
    assert name == "postWindow" and inbox_abi.window_from_abi(args["w"]) == p.window
    assert (bytes(args["sig"]), bytes(args["witness"])) == (p.signature, p.witness)
    receipt = l1.ok(fn, l1.poster)
    logs = l1.w3.provider.make_request("eth_getLogs", [{
        "address": l1.inbox.address, "fromBlock": hex(receipt["blockNumber"]), "toBlock": hex(receipt["blockNumber"]),
        "topics": ["0x" + inbox_abi.event_topic("WindowPosted").hex()]}])["result"]
    posted = inbox_abi.posted_window(logs[0])
    assert posted.window == p.window and posted.rollup_ids == p.rollup_ids
    assert posted.forced_to == p.forced_to and posted.batch_hashes == tuple(keccak(b) for b in p.batches)
    assert posted.signer.lower() == "0x" + l1.sequencer.address.hex()
