"""The margin contracts (contracts/margin/) on one anvil, played by attackers (docs/margin.md).

Cross-rollup behaviour is in tests/integration/test_margin.py; here every contract sits on one
chain so each guarantee is checked directly, by the revert it must give.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass, replace
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts.margin import load_margin_artifact
from sequencer.core.signing import HALF_N, SECP256K1_N, Domain, Signer
from sequencer.devtools.anvil import dev_accounts, start_anvil
from sharedseq.margin import LEG_MARGIN, LEG_OPTION, LEG_PERP, ONE, CloseIntent, LiquidationIntent, OpenIntent
from sharedseq.margin import outcome_struct_hash as osh

NAMES = ("CollateralToken", "PriceOracle", "MarginAccount", "PerpMarket", "OptionsMarket", "SequencerKeyMirror")
ERRORS = {}
for _n in NAMES:
    for _item in load_margin_artifact(_n)["abi"]:
        if _item["type"] == "error":
            _sig = f"{_item['name']}({','.join(i['type'] for i in _item['inputs'])})"
            ERRORS["0x" + keccak(text=_sig)[:4].hex()] = _item["name"]
INBOX = "0x" + "ab" * 20
DEPLOYMENT = keccak(b"margin deployment under test")
TIMEOUT = 5
ALL = LEG_MARGIN | LEG_PERP | LEG_OPTION


@dataclass
class Chain:
    w3: Web3
    c: dict[str, Any]
    seq: Signer
    owner: str
    trader: str
    other: str

    def deploy(self, name: str, *args: Any) -> Any:
        """Deploy margin contract `name` from the owner; returns the web3 contract."""
        art = load_margin_artifact(name)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).transact(
                {"from": self.owner}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])

    def send(self, fn: Any, sender: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": 3_000_000}))
        assert receipt["status"] == 1
        return receipt

    def revert(self, fn: Any, sender: str) -> str | None:
        try:
            fn.call({"from": sender})
        except (ContractCustomError, ContractLogicError) as exc:
            data = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
            return ERRORS.get((data or "")[:10], f"unknown {data!r}")
        return None

    def sign(self, bundle_id: bytes, commit: bool, signer: Signer | None = None) -> bytes:
        return (signer or self.seq).sign_struct(osh(bundle_id, commit))

    def open(self, intent: OpenIntent) -> None:
        t = astuple(intent)
        self.send(self.c["MarginAccount"].functions.reserveOpen(t), intent.trader)
        self.send(self.c["PerpMarket"].functions.open(t), intent.trader)
        self.send(self.c["OptionsMarket"].functions.open(t), intent.trader)

    def finalize(self, bundle_id: bytes, commit: bool) -> None:
        sig = self.sign(bundle_id, commit)
        for name in ("MarginAccount", "PerpMarket", "OptionsMarket"):
            self.send(self.c[name].functions.finalize(bundle_id, commit, sig), self.other)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with start_anvil(chain_id=901, timeout=60) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        accts = dev_accounts()
        owner, trader, other = accts[0].address, accts[1].address, accts[2].address
        seq = Signer(accts[3].key, Domain(31337, bytes.fromhex(INBOX[2:])))
        c: dict[str, Any] = {}
        ch = Chain(w3, c, seq, owner, trader, other)

        def deploy(name: str, *args: Any) -> Any:
            c[name] = ch.deploy(name, *args)
            return c[name].address

        mirror = deploy("SequencerKeyMirror", owner, Web3.to_checksum_address("0x" + seq.address.hex()))
        common = (mirror, 31337, Web3.to_checksum_address(INBOX), TIMEOUT, DEPLOYMENT)
        token = deploy("CollateralToken")
        oracle = deploy("PriceOracle", owner, 2000 * ONE)
        margin = deploy("MarginAccount", *common, token, owner, 5000)
        deploy("PerpMarket", *common, oracle, 1000, 500)
        deploy("OptionsMarket", *common, oracle, 2000, 1000, 200)
        for who in (owner, trader):
            ch.send(c["CollateralToken"].functions.mint(who, 10**24), owner)
            ch.send(c["CollateralToken"].functions.approve(margin, 2**256 - 1), who)
        ch.send(c["MarginAccount"].functions.deposit(10**23), owner)  # the house
        ch.send(c["MarginAccount"].functions.deposit(1_000 * ONE), trader)
        yield ch


def hedge(ch: Chain, nonce: int) -> OpenIntent:
    # 1 long perp (IM 200 at 2000) + 1 put at 2000 (premium 40)
    return OpenIntent(DEPLOYMENT, ch.trader, nonce, ALL, ONE, 200 * ONE, False, 2000 * ONE, ONE, 40 * ONE)


def test_reserved_margin_cannot_be_withdrawn_or_reused(chain: Chain) -> None:
    ma = chain.c["MarginAccount"]
    free = ma.functions.free(chain.trader).call()
    intent = hedge(chain, 1)
    chain.send(ma.functions.reserveOpen(astuple(intent)), chain.trader)  # pending already counts
    assert ma.functions.free(chain.trader).call() == free - 240 * ONE
    assert chain.revert(ma.functions.withdraw(free), chain.trader) == "InsufficientFreeMargin"
    assert chain.revert(ma.functions.reserveOpen(astuple(intent)), chain.trader) == "BundleReused"
    greedy = replace(hedge(chain, 2), perp_margin=free)  # more than what is left free
    assert chain.revert(ma.functions.reserveOpen(astuple(greedy)), chain.trader) == "InsufficientFreeMargin"
    chain.send(ma.functions.finalize(intent.bundle_id, False, chain.sign(intent.bundle_id, False)), chain.other)
    assert ma.functions.free(chain.trader).call() == free


def test_only_the_trader_opens_and_venues_enforce_initial_margin(chain: Chain) -> None:
    intent = hedge(chain, 3)
    for name, fn in (("MarginAccount", "reserveOpen"), ("PerpMarket", "open"), ("OptionsMarket", "open")):
        f = getattr(chain.c[name].functions, fn)(astuple(intent))
        assert chain.revert(f, chain.other) == "NotTrader", name
    low = replace(intent, perp_margin=200 * ONE - 1)
    assert chain.revert(chain.c["PerpMarket"].functions.open(astuple(low)), chain.trader) == "MarginBelowInitial"
    low = replace(intent, opt_margin=40 * ONE - 1)
    assert chain.revert(chain.c["OptionsMarket"].functions.open(astuple(low)), chain.trader) == "MarginBelowInitial"
    bad_legs = replace(intent, legs=LEG_MARGIN | LEG_PERP)  # option size without its leg bit
    assert chain.revert(chain.c["MarginAccount"].functions.reserveOpen(astuple(bad_legs)), chain.trader) == "BadLegs"
    # An intent (and so a bundle id and its signed outcome) made for another deployment is refused.
    foreign = replace(intent, deployment=keccak(b"another deployment"))
    for name, fn in (("MarginAccount", "reserveOpen"), ("PerpMarket", "open"), ("OptionsMarket", "open")):
        f = getattr(chain.c[name].functions, fn)(astuple(foreign))
        assert chain.revert(f, chain.trader) == "WrongDeployment", name


def test_outcomes_need_the_sequencers_signature_for_that_bundle_and_outcome(chain: Chain) -> None:
    intent = hedge(chain, 4)
    chain.open(intent)
    bid = intent.bundle_id
    perp = chain.c["PerpMarket"].functions
    outsider = Signer(dev_accounts()[4].key, chain.seq.domain)
    other_domain = Signer(dev_accounts()[3].key, Domain(31337, b"\xcd" * 20))
    other_chain = Signer(dev_accounts()[3].key, Domain(1, chain.seq.domain.verifying_contract))
    sig = chain.sign(bid, True)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # the same signature, malleated
    assert SECP256K1_N - s > HALF_N
    for bad, commit in ((chain.sign(bid, True, outsider), True), (chain.sign(bid, True, other_domain), True),
                        (chain.sign(bid, True, other_chain), True), (sig, False), (high_s, True),
                        (chain.sign(hedge(chain, 99).bundle_id, True), True), (sig[:64], True)):
        assert chain.revert(perp.finalize(bid, commit, bad), chain.other) == "BadOutcomeSignature"
    # Closing a position that is not committed yet is refused.
    close = CloseIntent(DEPLOYMENT, chain.trader, 5, ALL, bid, 0, -40 * ONE)
    assert chain.revert(perp.close(astuple(close)), chain.trader) == "PositionNotOpen"
    chain.finalize(bid, True)
    assert chain.revert(perp.finalize(bid, True, sig), chain.other) == "BundleNotPending"
    assert chain.revert(perp.abortExpired(bid), chain.other) == "BundleNotPending"
    assert perp.positions(bid).call()[1] == 2  # open


def test_close_and_liquidation_must_match_the_venues_numbers(chain: Chain) -> None:
    intent = hedge(chain, 6)
    chain.open(intent)
    chain.finalize(intent.bundle_id, True)
    bid = intent.bundle_id
    ma, perp, opt = (chain.c[n].functions for n in ("MarginAccount", "PerpMarket", "OptionsMarket"))
    # At 2000: perp PnL 0, put PnL -40 (its premium).
    wrong = CloseIntent(DEPLOYMENT, chain.trader, 7, ALL, bid, 1, -40 * ONE)
    assert chain.revert(perp.close(astuple(wrong)), chain.trader) == "WrongPnl"
    assert chain.revert(ma.settleClose(astuple(replace(wrong, perp_pnl=-300 * ONE))), chain.trader) \
        == "LossExceedsMargin"
    healthy = LiquidationIntent(DEPLOYMENT, chain.other, chain.trader, 8, ALL, bid, 0, -40 * ONE, 100 * ONE, 0)
    assert chain.revert(ma.liquidate(astuple(healthy)), chain.other) == "NotLiquidatable"
    assert chain.revert(perp.liquidate(astuple(replace(healthy, perp_mm=1))), chain.other) == "WrongMaintenance"
    # A keeper claiming a fake loss to liquidate is refused by the venue (its PnL is computed).
    fake = replace(healthy, perp_pnl=-250 * ONE)
    assert chain.revert(perp.liquidate(astuple(fake)), chain.other) == "WrongPnl"
    assert chain.revert(opt.liquidate(astuple(replace(healthy, opt_mm=1))), chain.other) == "WrongMaintenance"


def test_oracle_keeper_only_and_rounds_increase(chain: Chain) -> None:
    oracle = chain.c["PerpMarket"].functions.oracle().call()
    o = chain.w3.eth.contract(address=oracle, abi=load_margin_artifact("PriceOracle")["abi"]).functions
    assert chain.revert(o.setPrice(1, 1), chain.other) == "NotKeeper"
    assert chain.revert(o.setPrice(0, 1), chain.owner) == "StaleRound"
    assert chain.revert(o.setPrice(1, 0), chain.owner) == "ZeroPrice"


def test_timeout_abort_by_anyone_and_no_commit_after_it(chain: Chain) -> None:
    intent = hedge(chain, 9)
    chain.open(intent)
    bid = intent.bundle_id
    ma = chain.c["MarginAccount"].functions
    assert chain.revert(ma.abortExpired(bid), chain.other) == "NotExpired"
    chain.w3.provider.make_request("anvil_mine", [TIMEOUT + 1])
    assert chain.revert(ma.finalize(bid, True, chain.sign(bid, True)), chain.other) == "CommitExpired"
    free = ma.free(chain.trader).call()
    chain.send(ma.abortExpired(bid), chain.other)
    assert ma.free(chain.trader).call() == free + intent.margin
    assert ma.status(bid).call() == 3


def test_outcome_keys_follow_rotation_on_the_key_mirror(chain: Chain) -> None:
    """Key rotation (docs/margin.md): a new key mirrored by the relayer is accepted after its delay; once
    the old key is retired, outcomes it signed are refused - even ones signed before its retirement,
    for bundles pending since before - and the new key's are accepted. Only the relayer changes keys,
    and the history only grows (a retired key never comes back)."""
    old, new = chain.seq, Signer(dev_accounts()[5].key, chain.seq.domain)
    old_a, new_a = (Web3.to_checksum_address("0x" + s.address.hex()) for s in (old, new))
    mirror = chain.deploy("SequencerKeyMirror", chain.owner, old_a)
    oracle = chain.c["PerpMarket"].functions.oracle().call()
    perp = chain.deploy("PerpMarket", mirror.address, 31337, Web3.to_checksum_address(INBOX), 50, DEPLOYMENT,
                        oracle, 1000, 500).functions
    m = mirror.functions
    a, b, c = (OpenIntent(DEPLOYMENT, chain.trader, n, LEG_MARGIN | LEG_PERP, ONE, 200 * ONE, False, 0, 0, 0)
               for n in (51, 52, 53))
    for intent in (a, b, c):
        chain.send(perp.open(astuple(intent)), chain.trader)
    old_commit_a = chain.sign(a.bundle_id, True, old)  # signed while the old key is current
    assert m.isCurrent(old_a).call() and not m.isCurrent(new_a).call()
    assert chain.revert(perp.finalize(a.bundle_id, True, chain.sign(a.bundle_id, True, new)), chain.other) \
        == "BadOutcomeSignature"  # not mirrored yet
    assert chain.revert(m.addKey(new_a, 2), chain.trader) == "NotRelayer"
    chain.send(m.addKey(new_a, 2), chain.owner)
    assert chain.revert(m.addKey(new_a, 0), chain.owner) == "KeyAlreadyRegistered"
    assert not m.isCurrent(new_a).call()  # its notice period (2 rollup blocks) has not passed
    assert chain.revert(perp.finalize(a.bundle_id, True, chain.sign(a.bundle_id, True, new)), chain.other) \
        == "BadOutcomeSignature"
    chain.w3.provider.make_request("anvil_mine", [2])
    assert m.isCurrent(new_a).call() and m.isCurrent(old_a).call()
    chain.send(perp.finalize(b.bundle_id, True, chain.sign(b.bundle_id, True, old)), chain.other)  # overlap: both
    assert chain.revert(m.retireKey(old_a), chain.trader) == "NotRelayer"
    chain.send(m.retireKey(old_a), chain.owner)
    assert not m.isCurrent(old_a).call()
    # After its retirement the old key's commit (and abort) is refused, however old the signature.
    assert chain.revert(perp.finalize(a.bundle_id, True, old_commit_a), chain.other) == "BadOutcomeSignature"
    assert chain.revert(perp.finalize(c.bundle_id, False, chain.sign(c.bundle_id, False, old)), chain.other) \
        == "BadOutcomeSignature"
    chain.send(perp.finalize(a.bundle_id, True, chain.sign(a.bundle_id, True, new)), chain.other)
    chain.send(perp.finalize(c.bundle_id, False, chain.sign(c.bundle_id, False, new)), chain.other)
    assert [perp.positions(i.bundle_id).call()[1] for i in (a, b, c)] == [2, 2, 4]  # open, open, closed
    assert perp.committedMargin(chain.trader).call() == 400 * ONE  # a and b
    assert chain.revert(m.retireKey(old_a), chain.owner) == "KeyAlreadyRetired"
    assert chain.revert(m.addKey(old_a, 0), chain.owner) == "KeyAlreadyRegistered"  # never comes back
    assert chain.revert(m.retireKey(chain.other), chain.owner) == "UnknownKey"
    assert m.keys().call() == [old_a, new_a]
