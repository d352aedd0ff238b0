"""RollupRegistry: owner-only registration, updates and pausing, per-rollup forced-transaction limits;
views and events."""

from __future__ import annotations

from eth_abi import decode as abi_decode

from deploy.deployer import FORCED_TX_LIMITS

LIMIT = 4096


def fmt(name: str) -> bytes:
    return name.encode().ljust(32, b"\x00")


def test_deployed_rollups_registered(l1):
    reg = l1.registry.functions
    assert list(reg.rollupIds().call()) == [901, 902, 903]
    assert reg.rollupCount().call() == 3
    f, operator, paused, limit, name, cfg = reg.getRollup(902).call()
    assert bytes(f) == fmt("nitro") and name == "r902" and paused is False
    assert limit == FORCED_TX_LIMITS["nitro"] == reg.forcedTxLimit(902).call()
    assert operator == l1.owner.address  # default operator: the deployer
    assert abi_decode(["uint64", "uint64"], bytes(cfg)) == (1000, 0)
    assert [r["max_forced_tx_bytes"] for r in l1.manifest.rollups] == [FORCED_TX_LIMITS[f]
                                                                        for f in ("opstack", "nitro", "zkevm")]


def test_register_update_pause_by_owner(l1):
    reg = l1.registry.functions
    receipt = l1.ok(reg.register(5001, fmt("zkevm"), l1.outsider.address, "zk-2", b"\x01\x02", LIMIT), l1.owner)
    ev = l1.registry.events.RollupRegistered().process_receipt(receipt)[0]["args"]
    assert (ev["rollupId"], bytes(ev["format"]), ev["operator"], ev["name"], ev["maxForcedTxBytes"]) == (
        5001, fmt("zkevm"), l1.outsider.address, "zk-2", LIMIT)
    assert reg.isRegistered(5001).call() and reg.isActive(5001).call()
    assert reg.forcedTxLimit(5001).call() == LIMIT
    assert l1.revert(l1.inbox.functions.enqueueForced(5001, b"\x01" * (LIMIT + 1)), l1.outsider.address) == \
        "BadForcedTxSize"
    receipt = l1.ok(reg.update(5001, fmt("opstack"), l1.poster.address, "op-2", b"\x03", 2 * LIMIT), l1.owner)
    ev = l1.registry.events.RollupUpdated().process_receipt(receipt)[0]["args"]
    assert (ev["rollupId"], ev["maxForcedTxBytes"]) == (5001, 2 * LIMIT)
    f, operator, paused, limit, name, cfg = reg.getRollup(5001).call()
    assert (bytes(f), operator, paused, limit, name, bytes(cfg)) == (fmt("opstack"), l1.poster.address, False,
                                                                    2 * LIMIT, "op-2", b"\x03")
    assert l1.revert(l1.inbox.functions.enqueueForced(5001, b"\x01" * (LIMIT + 1)), l1.outsider.address) is None
    receipt = l1.ok(reg.setPaused(5001, True), l1.owner)
    assert l1.registry.events.RollupPaused().process_receipt(receipt)[0]["args"]["paused"] is True
    assert reg.isRegistered(5001).call() and not reg.isActive(5001).call()
    assert reg.forcedTxLimit(5001).call() == 0
    assert l1.revert(l1.inbox.functions.enqueueForced(5001, b"tx"), l1.outsider.address) == "RollupNotActive"
    l1.ok(reg.setPaused(5001, False), l1.owner)
    assert reg.isActive(5001).call() and reg.forcedTxLimit(5001).call() == 2 * LIMIT
    assert 5001 in reg.rollupIds().call()
    assert reg.forcedTxLimit(4242).call() == 0


def test_unauthorised_and_invalid_changes_rejected(l1):
    reg = l1.registry.functions
    who = l1.outsider.address
    assert l1.revert(reg.register(6001, fmt("nitro"), who, "x", b"", LIMIT), who) == "NotOwner"
    assert l1.revert(reg.update(901, fmt("nitro"), who, "x", b"", LIMIT), who) == "NotOwner"
    assert l1.revert(reg.setPaused(901, True), who) == "NotOwner"
    assert l1.revert(reg.transferOwnership(who), who) == "NotOwner"
    owner = l1.owner.address
    cap = reg.MAX_FORCED_TX_BYTES().call()
    assert cap == 131072
    assert l1.revert(reg.register(901, fmt("nitro"), who, "dup", b"", LIMIT), owner) == "RollupExists"
    assert l1.revert(reg.register(0, fmt("nitro"), who, "zero", b"", LIMIT), owner) == "InvalidRollup"
    assert l1.revert(reg.register(6002, b"\x00" * 32, who, "nofmt", b"", LIMIT), owner) == "InvalidRollup"
    assert l1.revert(reg.register(6004, fmt("nitro"), who, "x", b"", 0), owner) == "BadForcedTxLimit"
    assert l1.revert(reg.register(6004, fmt("nitro"), who, "x", b"", cap + 1), owner) == "BadForcedTxLimit"
    assert l1.revert(reg.register(6004, fmt("nitro"), who, "x", b"", cap), owner) is None
    assert l1.revert(reg.update(901, fmt("opstack"), who, "x", b"", 0), owner) == "BadForcedTxLimit"
    assert l1.revert(reg.update(901, fmt("opstack"), who, "x", b"", cap + 1), owner) == "BadForcedTxLimit"
    assert l1.revert(reg.update(6003, fmt("nitro"), who, "x", b"", LIMIT), owner) == "UnknownRollup"
    assert l1.revert(reg.setPaused(6003, True), owner) == "UnknownRollup"
    assert l1.revert(reg.getRollup(6003), owner) == "UnknownRollup"


def test_ownership_transfer_takes_two_steps(l1):
    """A transfer names a successor; nothing moves until that account accepts (a typo cannot strand the
    registry), a later offer replaces the first, and the zero address cancels."""
    reg = l1.registry.functions
    who = l1.outsider.address
    l1.ok(reg.transferOwnership(l1.poster.address), l1.owner)
    l1.ok(reg.transferOwnership(who), l1.owner)  # replaces the offer to the poster
    assert reg.owner().call() == l1.owner.address and reg.pendingOwner().call() == who
    assert l1.revert(reg.acceptOwnership(), l1.poster.address) == "NotPendingOwner"
    assert l1.revert(reg.acceptOwnership(), l1.owner.address) == "NotPendingOwner"
    l1.ok(reg.acceptOwnership(), l1.outsider)
    assert reg.owner().call() == who and reg.pendingOwner().call() == "0x" + "00" * 20
    assert l1.revert(reg.setPaused(901, True), l1.owner.address) == "NotOwner"
    assert l1.revert(reg.acceptOwnership(), who) == "NotPendingOwner"  # the offer is used up
    l1.ok(reg.transferOwnership(l1.owner.address), l1.outsider)
    l1.ok(reg.transferOwnership("0x" + "00" * 20), l1.outsider)  # cancelled
    assert l1.revert(reg.acceptOwnership(), l1.owner.address) == "NotPendingOwner"
    l1.ok(reg.transferOwnership(l1.owner.address), l1.outsider)
    l1.ok(reg.acceptOwnership(), l1.owner)
    assert reg.owner().call() == l1.owner.address
