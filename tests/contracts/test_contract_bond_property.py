"""Property test (hypothesis) over random sequences of key changes, deposits, withdrawal requests and
withdrawals, equivocations and accusations against the deployed SequencerKeys / SequencerBond, with a
plain Python model of docs/settlement.md sections 2 and 6 beside them. After every step:

- any two conflicting headers signed by a key that was ever valid are slashable (the proof's eth_call
  succeeds, or finds the bond empty or the offence already punished) exactly while the model says the
  key is accountable: from its addition until its challenge period after retirement ends; a key never
  registered is never accountable;
- the bond never leaves while an offence is provable: a successful withdraw() happens only when the
  model has every key settled, and each failing one reverts with the reason the model predicts.

Each example starts from an anvil snapshot of the deployed contracts and is reverted afterwards, so
the examples are independent and the whole test runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eth_utils import to_checksum_address
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sequencer.core.signing import Signer

SLOTS = 5  # 0: the genesis key; 1-3: keys the owner may add; 4: a stranger, never registered
STEP = st.one_of(
    st.tuples(st.just("add"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("retire"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("deposit"), st.integers(1, 3)),
    st.tuples(st.just("request"), st.integers(0, 4)),
    st.tuples(st.just("withdraw"), st.just(0)),
    st.tuples(st.just("mine"), st.sampled_from([1, 5, 40, 101])),
    st.tuples(st.just("retire_all"), st.just(0)),
    st.tuples(st.just("offend"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("accuse"), st.integers(0, 15)),
)


@dataclass
class KeyModel:
    added: int | None = None  # L1 block
    retired: int | None = None

    def accountable(self, block: int, period: int) -> bool:
        return self.added is not None and (self.retired is None or block <= self.retired + period)


@dataclass
class Model:
    period: int
    delay: int
    window: int
    keys: list[KeyModel]
    bond: int
    minimum: int = 0
    withdrawal: tuple[int, int, int] | None = None  # amount, readyAt, expiresAt
    offences: list[tuple[int, int, object]] = field(default_factory=list)  # (slot, height, proof fn)
    punished: set[int] = field(default_factory=set)  # heights

    def settled(self, block: int) -> bool:
        return all(k.added is None or (k.retired is not None and block > k.retired + self.period) for k in self.keys)

    def withdraw_error(self, block: int) -> str | None:
        if self.withdrawal is None:
            return "NoWithdrawalPending"
        amount, ready, expires = self.withdrawal
        if block < ready:
            return "WithdrawalNotReady"
        if block > expires:
            return "WithdrawalExpired"
        if amount > self.bond:
            return "BadWithdrawalAmount"
        return None if self.settled(block) else "KeysNotSettled"

    def proof_error(self, slot: int, height: int, block: int) -> str | None:
        if not self.keys[slot].accountable(block, self.period):
            return "NotAccountable"
        if height in self.punished:
            return "AlreadyPunished"
        if self.bond == 0:
            return "NothingToSlash"
        return "BondBelowMinimum" if self.bond < self.minimum else None


def _run(l1, steps) -> None:
    k, b = l1.keys.functions, l1.bond.functions
    signers = [l1.sequencer] + [Signer(bytes([0x60 + i]) * 32, l1.sequencer.domain) for i in range(1, SLOTS)]
    addrs = [to_checksum_address(s.address) for s in signers]
    genesis_added = k.keyInfo(addrs[0]).call()[1]
    m = Model(period=k.challengePeriod().call(), delay=b.withdrawalDelay().call(), window=b.withdrawalWindow().call(),
              keys=[KeyModel(added=genesis_added)] + [KeyModel() for _ in range(SLOTS - 1)], bond=b.bond().call(),
              minimum=b.minimumBond().call())
    next_height = 20_000
    for action, arg in steps:
        tx_block = l1.w3.eth.block_number + 1  # a transaction sent now runs in this block
        if action == "add":
            expected = "KeyAlreadyRegistered" if m.keys[arg].added is not None else None
            assert l1.revert(k.addKey(addrs[arg], 0), l1.owner.address) == expected
            if expected is None and arg != SLOTS - 1:  # the stranger stays a stranger
                r = l1.ok(k.addKey(addrs[arg], 0), l1.owner)
                m.keys[arg].added = r["blockNumber"]
        elif action == "retire":
            key = m.keys[arg]
            expected = "UnknownKey" if key.added is None else "KeyAlreadyRetired" if key.retired is not None else None
            assert l1.revert(k.retireKey(addrs[arg]), l1.owner.address) == expected
            if expected is None:
                key.retired = l1.ok(k.retireKey(addrs[arg]), l1.owner)["blockNumber"]
        elif action == "retire_all":
            for slot, key in enumerate(m.keys):
                if key.added is not None and key.retired is None:
                    key.retired = l1.ok(k.retireKey(addrs[slot]), l1.owner)["blockNumber"]
        elif action == "deposit":
            l1.ok(b.deposit(), l1.outsider, value=arg * 10**17)
            m.bond += arg * 10**17
        elif action == "request":
            amount = m.bond * arg // 4
            if amount == 0:
                assert l1.revert(b.requestWithdrawal(amount), l1.owner.address) == "BadWithdrawalAmount"
            else:
                r = l1.ok(b.requestWithdrawal(amount), l1.owner)
                ready = r["blockNumber"] + m.delay
                m.withdrawal = (amount, ready, ready + m.window)
        elif action == "withdraw":
            # eth_call runs at the latest block, the transaction in the next one: check both.
            assert l1.revert(b.withdraw(), l1.owner.address) == m.withdraw_error(tx_block - 1)
            expected = m.withdraw_error(tx_block)
            r = l1.transact(b.withdraw(), l1.owner, gas=200_000)
            assert (r["status"] == 1) == (expected is None), expected
            event(f"withdraw: {expected or 'succeeded'}")
            if r["status"] == 1:
                # The bond left: then no offence by any key may still be provable.
                assert m.settled(r["blockNumber"])
                assert all(not m.keys[s].accountable(r["blockNumber"], m.period) for s, _, _ in m.offences)
                assert m.withdrawal is not None
                m.bond -= m.withdrawal[0]
                m.withdrawal = None
        elif action == "mine":
            l1.mine(arg)
        elif action == "offend":
            a, _ = l1.make_headers(next_height, b"\x01" * 32, 1)[0]
            c = replace(a, timestamp_ms=a.timestamp_ms + 1)
            s = signers[arg]
            fn = b.proveEquivocation(l1.htuple(a), s.sign_header(a), l1.htuple(c), s.sign_header(c))
            l1.commit(fn, l1.outsider)
            m.offences.append((arg, next_height, fn))
            next_height += 1
        elif action == "accuse" and m.offences:
            slot, height, fn = m.offences[arg % len(m.offences)]
            expected = m.proof_error(slot, height, tx_block)
            r = l1.transact(fn, l1.outsider, gas=1_000_000)
            assert (r["status"] == 1) == (expected is None), (slot, height, expected)
            event(f"accuse: {expected or 'slashed'}")
            if r["status"] == 1:
                m.punished.add(height)
                m.bond = 0
                m.withdrawal = None
        # Invariants at the latest block (where views run).
        now = l1.w3.eth.block_number
        assert b.bond().call() == m.bond
        assert k.settled().call() == m.settled(now)
        for slot, height, fn in m.offences:
            assert l1.revert(fn, l1.outsider.address) == m.proof_error(slot, height, now), (slot, height)
    now = l1.w3.eth.block_number
    for slot in range(SLOTS):
        assert k.accountable(addrs[slot], 20_000).call() == m.keys[slot].accountable(now, m.period)


# Hand-picked sequences that reach the rare ends: a withdrawal that succeeds once the offending key's
# period is over (its offence then unprovable), and one cancelled by a slash inside the period.
@example(steps=[("offend", 0), ("add", 1), ("offend", 1), ("request", 4), ("retire_all", 0), ("mine", 101),
                ("accuse", 1), ("withdraw", 0)])
@example(steps=[("request", 2), ("mine", 101), ("retire_all", 0), ("offend", 0), ("withdraw", 0), ("accuse", 0),
                ("mine", 101), ("withdraw", 0), ("offend", 4), ("accuse", 1)])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=3, max_size=14))
def test_slashable_while_accountable_and_bond_stays_while_provable(l1, steps):
    snap = l1.snapshot()
    try:
        _run(l1, steps)
    finally:
        l1.revert_to(snap)
