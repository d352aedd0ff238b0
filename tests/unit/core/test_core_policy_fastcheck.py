"""EvmPolicy.check's fast path (evm_tx.signature_view + signature_recovers) against the full check it
replaced, kept here verbatim as the reference: decode_transaction, then the sender recovered through
coincurve from the re-encoded fields' signing hash.

The attacker's side: a payload the fast path accepted but the reference refuses would be a
transaction admitted that the rollup cannot execute (a field out of its width, a high-s or unrecoverable
signature, a non-canonical encoding, another chain's transaction). So the tests feed both valid signed
transactions of every type and hostile ones (mutated bytes, hostile fields re-signed, crafted
signatures) and require the same outcome: both accept, or both raise the same type with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from coincurve import PrivateKey, PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.core import evm_tx
from sequencer.core.evm_tx import (
    SECP256K1_N,
    TX_TYPE_NAMES,
    decode_transaction,
    recover_sender,
    signature_recovers,
    signature_view,
    signing_hash,
    signing_hash_of_fields,
)
from sequencer.core.hashing import keccak
from sequencer.core.policy import EvmPolicy, make_policy
from sequencer.errors import BadInput, DecodeError

CHAIN = 901
P = 2**256 - 2**32 - 977  # the secp256k1 field prime
KEYS = [PrivateKey(keccak(b"fastcheck-%d" % i)) for i in range(3)]
POLICIES = [EvmPolicy(CHAIN), EvmPolicy(CHAIN, frozenset({0, 1, 2, 3, 4})),
            EvmPolicy(CHAIN, frozenset({0}), name="evm-legacy"), EvmPolicy(CHAIN + 1)]
assert make_policy("evm-legacy", CHAIN) == POLICIES[2]


# -- the reference: the check as it was, verbatim -----------------------------------------------------


def reference_recover_sender(tx: evm_tx.EvmTransaction) -> bytes:
    sig = tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big") + bytes([tx.y_parity])
    try:
        pub = PublicKey.from_signature_and_message(sig, signing_hash_of_fields(tx), hasher=None)
    except Exception as exc:  # coincurve raises plain Exception on a bad signature
        raise DecodeError(f"signature: cannot recover the sender ({exc})") from exc
    return keccak(pub.format(compressed=False)[1:])[12:]


def reference_check(policy: EvmPolicy, payload: bytes) -> None:
    try:
        tx = decode_transaction(payload)
    except DecodeError as exc:
        raise BadInput(f"payload: malformed EVM transaction: {exc}") from exc
    if tx.tx_type not in policy.allowed_types:
        kinds = ", ".join(TX_TYPE_NAMES[t] for t in sorted(policy.allowed_types))
        raise BadInput(
            f"payload: {TX_TYPE_NAMES[tx.tx_type]} transactions are not accepted by this rollup "
            f"(accepted: {kinds})"
        )
    if tx.chain_id is None:
        raise BadInput("payload: legacy transaction without EIP-155 chain id (replayable on any chain)")
    if tx.chain_id != policy.chain_id:
        raise BadInput(f"payload: wrong chain id {tx.chain_id}, this rollup is chain {policy.chain_id}")
    try:
        reference_recover_sender(tx)
    except DecodeError as exc:
        raise BadInput(f"payload: {exc}") from exc


def outcome(check, policy: EvmPolicy, payload: bytes) -> tuple[type, str] | None:
    try:
        check(policy, payload)
    except Exception as exc:  # noqa: BLE001 - the type is part of what must be equal
        return type(exc), str(exc)
    return None


def assert_same(payload: bytes) -> list[tuple[type, str] | None]:
    """Both checks, under every policy, agree on `payload`; the outcomes."""
    outs = []
    for policy in POLICIES:
        new = outcome(EvmPolicy.check, policy, payload)
        assert new == outcome(reference_check, policy, payload), (policy, payload.hex())
        outs.append(new)
    return outs


# -- an encoder of our own (canonical unless told), to build hostile payloads -------------------------


@dataclass(frozen=True)
class Raw:
    """An item already encoded, spliced in as is (to place a non-canonical encoding)."""

    data: bytes


def _len_prefix(n: int, short: int) -> bytes:
    if n <= 55:
        return bytes([short + n])
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([short + 55 + len(ln)]) + ln


def enc(item: object) -> bytes:
    if isinstance(item, Raw):
        return item.data
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, bytes):
        return item if len(item) == 1 and item[0] < 0x80 else _len_prefix(len(item), 0x80) + item
    assert isinstance(item, list)
    body = b"".join(enc(x) for x in item)
    return _len_prefix(len(body), 0xC0) + body


def digest_of(tx_type: int, unsigned: list, chain_id: int | None) -> bytes:
    if tx_type == 0:
        return keccak(enc(unsigned + ([chain_id, 0, 0] if chain_id is not None else [])))
    return keccak(bytes([tx_type]) + enc(unsigned))


def signed(tx_type: int, unsigned: list, key: PrivateKey, chain_id: int | None) -> bytes:
    """The raw transaction, `unsigned` signed by `key` (chain_id: the legacy v's, None for pre-155)."""
    sig = key.sign_recoverable(digest_of(tx_type, unsigned, chain_id), hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return with_sig(tx_type, unsigned, chain_id, y, r, s)


def with_sig(tx_type: int, unsigned: list, chain_id: int | None, y: object, r: object, s: object) -> bytes:
    if tx_type == 0:
        v = y if not isinstance(y, int) else (35 + 2 * chain_id + y if chain_id is not None else 27 + y)
        return enc([*unsigned, v, r, s])
    return bytes([tx_type]) + enc([*unsigned, y, r, s])


def unsigned_fields(tx_type: int, chain_id: int, nonce: int, fee: int, gas: int, to: bytes, value: int,
                    data: bytes, access: list, blob_hashes: list, auths: list) -> list:
    if tx_type == 0:
        return [nonce, fee, gas, to, value, data]
    if tx_type == 1:
        return [chain_id, nonce, fee, gas, to, value, data, access]
    base = [chain_id, nonce, fee // 2, fee, gas, to, value, data, access]
    if tx_type == 3:
        return [*base, 3, blob_hashes]
    if tx_type == 4:
        return [*base, auths]
    return base


# -- strategies -------------------------------------------------------------------------------------

u64 = st.integers(0, 2**64 - 1)
u256 = st.one_of(st.integers(0, 300), st.integers(0, 2**256 - 1))
address = st.binary(min_size=20, max_size=20)
access_lists = st.lists(st.tuples(address, st.lists(st.binary(min_size=32, max_size=32), max_size=2))
                        .map(lambda e: [e[0], e[1]]), max_size=2)
auth = st.tuples(u256, address, u64, st.integers(0, 1), u256, u256).map(list)


@st.composite
def valid_txs(draw: st.DrawFn) -> tuple[int, list, int | None, PrivateKey]:
    """(tx_type, unsigned fields, chain id, key) of a well-formed transaction: type 0 is EIP-155 legacy
    (or pre-155 when the chain id is None), contract creation where the type allows it."""
    tx_type = draw(st.sampled_from([0, 0, 1, 2, 2, 3, 4]))
    chain_id: int | None = draw(st.sampled_from([CHAIN, CHAIN, CHAIN, CHAIN + 1, 1, 2**64 + 5]))
    if tx_type == 0 and draw(st.booleans()) and draw(st.booleans()):
        chain_id = None
    to = draw(st.sampled_from([b"\x11" * 20, b""]) if tx_type in (0, 1, 2) else st.just(b"\x11" * 20))
    fields = unsigned_fields(
        tx_type, chain_id or 0, draw(u64), draw(u256), draw(u64), to, draw(u256), draw(st.binary(max_size=80)),
        draw(access_lists), draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3)),
        draw(st.lists(auth, min_size=1, max_size=2)),
    )
    return tx_type, fields, chain_id, draw(st.sampled_from(KEYS))


hostile_values = st.one_of(
    st.just([]), st.just([b"\x01"]), st.just(b"\x00"), st.just(b"\x00\x05"), st.binary(max_size=40),
    st.just(2**64), st.just(2**256), st.just(b"\x01" * 33), st.just(b"\x11" * 19), st.just(b"\x11" * 21),
    st.just(Raw(b"\x81\x05")), st.just(Raw(b"\xb8\x01\x05")), st.just(Raw(b"\xb8\x00")),
    st.just(Raw(b"\xf8\x00")), st.just([[b"\x11" * 20]]), st.just([[b"\x11" * 20, [b"\x01" * 31]]]),
    st.just([[b"\x11" * 20, [b"\x01" * 32], b""]]), st.just([[1, b"\x11" * 20, 0, 1, 1]]),
    st.just([[]]), st.just([[b"\x01"]]), st.just(Raw(b"\xc1")), st.just(Raw(b"\xc2\xc0")),
)
"""Field values some field's rule refuses (or, by chance, one it accepts: both must agree)."""


# -- valid transactions: the fast path accepts them, and agrees on every hash ----------------------------


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_txs())
def test_valid_transactions_same_outcome_and_signing_hash(case: tuple[int, list, int | None, PrivateKey]) -> None:
    tx_type, fields, chain_id, key = case
    raw = signed(tx_type, fields, key, chain_id)
    outs = assert_same(raw)
    tx = decode_transaction(raw)
    view = signature_view(raw)
    assert view is not None
    assert view[0] == tx_type and view[1] == tx.chain_id == chain_id
    assert view[2] == signing_hash(tx) == signing_hash_of_fields(tx) == digest_of(tx_type, fields, chain_id)
    assert view[3] == tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big") and view[4] == tx.y_parity
    assert recover_sender(tx) == reference_recover_sender(tx) == keccak(key.public_key.format(False)[1:])[12:]
    accepted = chain_id == CHAIN and tx_type != 3
    assert (outs[0] is None) == accepted


def test_each_valid_type_takes_the_fast_path(no_full_check: None) -> None:
    # the full check is not reached for a transaction the policy accepts: the speed is real
    big = b"\x5b" * 70_000
    for tx_type, to, data in [(0, b"\x11" * 20, b""), (0, b"", big), (1, b"\x11" * 20, b"\xca\xfe"),
                              (2, b"", big), (3, b"\x11" * 20, b""), (4, b"\x11" * 20, b"\x01")]:
        fields = unsigned_fields(tx_type, CHAIN, 5, 10**9, 90_000, to, 10**18, data,
                                 [[b"\x22" * 20, [b"\x01" * 32]], [b"\x33" * 20, []]], [b"\x01" + b"\x00" * 31],
                                 [[CHAIN, b"\x44" * 20, 0, 1, 12345, 678]])
        EvmPolicy(CHAIN, frozenset({0, 1, 2, 3, 4})).check(signed(tx_type, fields, KEYS[0], CHAIN))


def test_hand_built_transaction_hashes_from_its_fields() -> None:
    # raw empty: signing_hash cannot slice it and re-encodes, as before
    fields = unsigned_fields(2, CHAIN, 1, 10**9, 21_000, b"\x11" * 20, 1, b"", [], [], [])
    tx = decode_transaction(signed(2, fields, KEYS[1], CHAIN))
    hand = evm_tx.EvmTransaction(**{f: getattr(tx, f) for f in tx.__slots__ if f != "raw"})
    assert hand.raw == b""
    assert signing_hash(hand) == signing_hash(tx) == digest_of(2, fields, CHAIN)
    assert recover_sender(hand) == recover_sender(tx)


# -- hostile transactions ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_txs(), st.data())
def test_mutated_bytes_same_outcome(case: tuple[int, list, int | None, PrivateKey], data: st.DataObject) -> None:
    tx_type, fields, chain_id, key = case
    raw = bytearray(signed(tx_type, fields, key, chain_id))
    how = data.draw(st.sampled_from(["flip", "set", "truncate", "trailing", "insert", "delete"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    if how == "flip":
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "set":
        raw[i] = data.draw(st.integers(0, 255))
    elif how == "truncate":
        del raw[i:]
    elif how == "trailing":
        raw += data.draw(st.binary(min_size=1, max_size=3))
    elif how == "insert":
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=2))
    else:
        del raw[i]
    assert_same(bytes(raw))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_txs(), st.data())
def test_hostile_fields_signed_same_outcome(case: tuple[int, list, int | None, PrivateKey],
                                            data: st.DataObject) -> None:
    # a field (or a nested one) replaced, added or removed, then signed: a rule the fast path forgot would
    # show as an acceptance the reference refuses, since the signature still recovers
    tx_type, fields, chain_id, key = case
    fields = list(fields)
    how = data.draw(st.sampled_from(["replace", "replace", "add", "remove"]))
    i = data.draw(st.integers(0, len(fields) - 1))
    if how == "replace":
        fields[i] = data.draw(hostile_values)
    elif how == "add":
        fields.insert(i, data.draw(hostile_values))
    else:
        del fields[i]
    assert_same(signed(tx_type, fields, key, chain_id))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_txs(), st.data())
def test_hostile_signatures_same_outcome(case: tuple[int, list, int | None, PrivateKey],
                                         data: st.DataObject) -> None:
    tx_type, fields, chain_id, key = case
    digest = digest_of(tx_type, fields, chain_id)
    sig = key.sign_recoverable(digest, hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    how = data.draw(st.sampled_from(["high_s", "r0", "s0", "r_n", "s_n", "r_big", "parity", "y2", "y_zero_byte",
                                     "y_list", "r_leading_zero", "r_not_x", "random_r", "infinity", "v"]))
    yv: object = y
    if how == "high_s":
        s, yv = SECP256K1_N - s, 1 - y
    elif how == "r0":
        r = 0
    elif how == "s0":
        s = 0
    elif how == "r_n":
        r = SECP256K1_N + data.draw(st.integers(-1, 1))
    elif how == "s_n":
        s = SECP256K1_N // 2 + data.draw(st.integers(0, 1))
    elif how == "r_big":
        r = 2**256 + r
    elif how == "parity":
        yv = 1 - y
    elif how == "y2":
        yv = data.draw(st.integers(2, 300))
    elif how == "y_zero_byte":
        yv = b"\x00"
    elif how == "y_list":
        yv = []
    elif how == "r_leading_zero":
        r = b"\x00" + r.to_bytes(32, "big")  # type: ignore[assignment]
    elif how == "r_not_x":
        r = not_an_x(data.draw(st.integers(1, 2**256 - 1)))
    elif how == "random_r":
        r = data.draw(st.integers(1, SECP256K1_N - 1))
    elif how == "infinity":
        r, s, yv = recovers_to_infinity(digest, data.draw(st.integers(1, SECP256K1_N - 1)))
    elif how == "v" and tx_type == 0:
        raw = enc([*fields, data.draw(st.sampled_from([0, 1, 26, 27, 28, 29, 34, 35, 36, 35 + 2 * CHAIN + 2])), r, s])
        assert_same(raw)
        return
    assert_same(with_sig(tx_type, fields, chain_id, yv, r, s))


def not_an_x(start: int) -> int:
    """The first r from `start` that is no curve point's x (x^3 + 7 not a square mod p): no key recovers."""
    r = start % SECP256K1_N or 1
    while pow((r**3 + 7) % P, (P - 1) // 2, P) != P - 1:
        r = r % (SECP256K1_N - 1) + 1
    return r


def recovers_to_infinity(digest: bytes, k: int) -> tuple[int, int, int]:
    """(r, s, y_parity) of a low-s signature over `digest` that recovers to the point at infinity: R = kG,
    s = m / k, so s*R - m*G = 0. libsecp256k1 refuses it, so must both checks; a fast path hashing
    anything but the true signing hash would accept it."""
    m = int.from_bytes(digest, "big") % SECP256K1_N
    point = PrivateKey.from_int(k).public_key.format(compressed=True)
    r, y = int.from_bytes(point[1:], "big"), point[0] - 2
    s = m * pow(k, -1, SECP256K1_N) % SECP256K1_N
    if s > SECP256K1_N // 2:  # -R, -s: the same x, the other parity
        s, y = SECP256K1_N - s, 1 - y
    return r, s, y


@pytest.fixture
def no_full_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """EvmPolicy.check_fully fails the test: the fast path decided alone."""
    def full(self: EvmPolicy, payload: bytes) -> None:
        raise AssertionError("the full check ran")

    monkeypatch.setattr(EvmPolicy, "check_fully", full)


def test_signature_recovering_to_infinity_is_refused_with_the_reference_message() -> None:
    fields = unsigned_fields(2, CHAIN, 3, 10**9, 21_000, b"\x11" * 20, 1, b"", [], [], [])
    digest = digest_of(2, fields, CHAIN)
    r, s, y = recovers_to_infinity(digest, 0x1234567)
    raw = with_sig(2, fields, CHAIN, y, r, s)
    view = signature_view(raw)
    assert view is not None and view[2] == digest  # it decodes: only the recovery refuses it
    assert not signature_recovers(view[2], view[3], view[4])
    outs = assert_same(raw)
    assert outs[0] is not None and outs[0][0] is BadInput and "cannot recover the sender" in outs[0][1]


def test_unrecoverable_r_is_refused_with_the_reference_message() -> None:
    fields = unsigned_fields(2, CHAIN, 3, 10**9, 21_000, b"\x11" * 20, 1, b"", [], [], [])
    r = not_an_x(5)
    raw = with_sig(2, fields, CHAIN, 0, r, 77)
    assert signature_view(raw) is not None
    outs = assert_same(raw)
    assert outs[0] == (BadInput, "payload: signature: cannot recover the sender (failed to recover ECDSA public key)")


def test_an_unrecoverable_signature_is_refused_without_the_full_check(no_full_check: None) -> None:
    # a flood of unrecoverable signatures costs one recovery each, not the fast path plus the full check
    fields = unsigned_fields(2, CHAIN, 3, 10**9, 21_000, b"\x11" * 20, 1, b"", [], [], [])
    for r, s, y in [(not_an_x(9), 77, 1), recovers_to_infinity(digest_of(2, fields, CHAIN), 99)]:
        with pytest.raises(BadInput) as exc:
            EvmPolicy(CHAIN).check(with_sig(2, fields, CHAIN, y, r, s))
        assert str(exc.value) == "payload: " + evm_tx.UNRECOVERABLE_SIGNATURE


def test_a_signature_that_does_not_parse_is_none_not_false() -> None:
    # r or s not below n: libsecp256k1 refuses to parse it, which the policy leaves to the full check
    digest = b"\x05" * 32
    assert signature_recovers(digest, SECP256K1_N.to_bytes(32, "big") + (5).to_bytes(32, "big"), 0) is None
    assert signature_recovers(digest, (5).to_bytes(32, "big") + SECP256K1_N.to_bytes(32, "big"), 0) is None
    assert signature_recovers(digest, (not_an_x(1)).to_bytes(32, "big") + (5).to_bytes(32, "big"), 0) is False


@pytest.mark.parametrize("payload", [
    b"", b"\x00", b"\x02", b"\x05\xc0", b"\x7f", b"\x80", b"\xc0", b"\x02\xc0", b"\x01" + b"\xc0" * 3,
    b"\x02" + b"\xff" * 40, b"\xc1\x80", b"\x02\xf8\x00", bytes(evm_tx.MAX_TX_BYTES + 1),
    b"\x02" + b"\xc1" * 20 + b"\x80",
])
def test_odd_payloads_same_outcome(payload: bytes) -> None:
    assert all(o is not None for o in assert_same(payload))


def test_deep_nesting_in_an_access_list_same_outcome() -> None:
    # the decoder's depth bound counts from the top list: the fast path decodes nested lists at that depth
    for depth in (13, 14, 15, 16):
        nested: object = b"\x01" * 32
        for _ in range(depth):
            nested = [nested]
        access = [[b"\x22" * 20, nested]]
        fields = unsigned_fields(1, CHAIN, 1, 10**9, 50_000, b"\x11" * 20, 0, b"", access, [], [])  # type: ignore[list-item]
        assert_same(signed(1, fields, KEYS[2], CHAIN))


nested_items = st.recursive(st.one_of(st.binary(max_size=33), st.sampled_from([b"\x11" * 20, b"\x01" * 32])),
                            lambda inner: st.lists(inner, max_size=3), max_leaves=8)


@st.composite
def hostile_nested(draw: st.DrawFn, tx_type: int) -> tuple[str, object]:
    """A value for a nested list field (access list, blob hashes, authorizations): near-valid or arbitrary."""
    good_entry = [b"\x22" * 20, [b"\x01" * 32]]
    good_auth = [CHAIN, b"\x44" * 20, 0, 1, 5, 6]
    near = {
        "access": [[], [good_entry, [b"\x22" * 19, []]], [[b"\x22" * 20, [b"\x01" * 31]]], [[b"\x22" * 20]],
                   [[b"\x22" * 20, [], b""]], [[b"\x22" * 20, b"\x01" * 32]], [[[b"\x22" * 20], []]], [b""],
                   [[b"\x22" * 20, [[b"\x01" * 32]]]]],
        "blob": [[], [b"\x01" * 32, []], [[b"\x01"]], b"", [b""]],
        "auth": [[], [good_auth[:5]], [[*good_auth, 0]], [[b"\x00\x01", *good_auth[1:]]],
                 [[CHAIN, b"\x44" * 21, 0, 1, 5, 6]], [[CHAIN, b"\x44" * 20, 2**64, 1, 5, 6]],
                 [[CHAIN, b"\x44" * 20, 0, 256, 5, 6]], [[CHAIN, b"\x44" * 20, 0, 1, 2**256, 6]],
                 [[CHAIN, b"\x44" * 20, 0, 1, 5, []]], [good_auth, b""], [[CHAIN, [], 0, 1, 5, 6]]],
    }
    kind = {1: "access", 2: "access", 3: draw(st.sampled_from(["access", "blob"])),
            4: draw(st.sampled_from(["access", "auth"]))}[tx_type]
    value = draw(st.one_of(st.sampled_from(near[kind]), nested_items))
    return kind, value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1, 2, 3, 4]), st.data())
def test_hostile_nested_lists_signed_same_outcome(tx_type: int, data: st.DataObject) -> None:
    kind, value = data.draw(hostile_nested(tx_type))
    fields = unsigned_fields(tx_type, CHAIN, 1, 10**9, 50_000, b"\x11" * 20, 0, b"", [], [b"\x01" * 32],
                             [[CHAIN, b"\x44" * 20, 0, 1, 5, 6]])
    index = {"access": 7 if tx_type == 1 else 8, "blob": 10, "auth": 9}[kind]
    fields[index] = value
    assert_same(signed(tx_type, fields, KEYS[0], CHAIN))


@pytest.mark.parametrize("tx_type", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("extra", [b"", b"\x01", [], b"\x00" * 40])
def test_an_item_after_the_signature_is_refused_alike(tx_type: int, extra: object) -> None:
    # the signature is the original's, so it recovers: only the field count refuses it
    fields = unsigned_fields(tx_type, CHAIN, 1, 10**9, 50_000, b"\x11" * 20, 0, b"", [], [b"\x01" * 32],
                             [[CHAIN, b"\x44" * 20, 0, 1, 5, 6]])
    sig = KEYS[0].sign_recoverable(digest_of(tx_type, fields, CHAIN), hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    v = 35 + 2 * CHAIN + y if tx_type == 0 else y
    raw = (bytes([tx_type]) if tx_type else b"") + enc([*fields, v, r, s, extra])
    assert all(o is not None for o in assert_same(raw))


@pytest.mark.parametrize("tx_type", [3, 4])
def test_blob_and_set_code_creation_refused_alike(tx_type: int) -> None:
    fields = unsigned_fields(tx_type, CHAIN, 1, 10**9, 50_000, b"", 0, b"\x60", [], [b"\x01" * 32],
                             [[CHAIN, b"\x44" * 20, 0, 1, 5, 6]])
    outs = assert_same(signed(tx_type, fields, KEYS[0], CHAIN))
    assert outs[1] is not None and "cannot create contracts" in outs[1][1]


@pytest.mark.parametrize("tx_type", [0, 2])
def test_over_the_size_limit_refused_alike(tx_type: int) -> None:
    for size in (evm_tx.MAX_TX_BYTES - 200, evm_tx.MAX_TX_BYTES):
        fields = unsigned_fields(tx_type, CHAIN, 1, 10**9, 50_000, b"\x11" * 20, 0, b"\x5b" * size, [], [], [])
        outs = assert_same(signed(tx_type, fields, KEYS[0], CHAIN))
        assert (outs[0] is None) == (size < evm_tx.MAX_TX_BYTES - 100)


SCALAR_HOSTILES: list[object] = [
    b"", b"\x00", b"\x00\x05", b"\x01", 2**64 - 1, 2**64, 2**256 - 1, 2**256, b"\x11" * 19, b"\x11" * 20,
    b"\x11" * 21, [], [b"\x01"], Raw(b"\x81\x05"), Raw(b"\xb8\x01\x05"), Raw(b"\xb8\x00"), Raw(b"\xc1\x05"),
]


@pytest.mark.parametrize("tx_type", [0, 1, 2, 3, 4])
def test_every_hostile_scalar_in_every_field_signed_same_outcome(tx_type: int) -> None:
    # deterministic: each scalar rule (width, leading zero, address length, bytes not list, canonical
    # header) at each position, re-signed so that only the rule can refuse it
    base = unsigned_fields(tx_type, CHAIN, 1, 10**9, 50_000, b"\x11" * 20, 7, b"\xca\xfe", [], [b"\x01" * 32],
                           [[CHAIN, b"\x44" * 20, 0, 1, 5, 6]])
    accepted = 0
    for i, field in enumerate(base):
        if isinstance(field, list):
            continue
        for value in SCALAR_HOSTILES:
            fields = list(base)
            fields[i] = value
            accepted += assert_same(signed(tx_type, fields, KEYS[1], CHAIN))[1] is None
    assert accepted  # some values fit some fields: both paths accept those


def test_a_payload_not_of_bytes_is_decided_alike() -> None:
    # the full decoder refuses a bytearray's fields (not bytes); the fast path must not accept it either
    fields = unsigned_fields(2, CHAIN, 1, 10**9, 21_000, b"\x11" * 20, 1, b"", [], [], [])
    raw = signed(2, fields, KEYS[0], CHAIN)
    assert assert_same(raw)[0] is None
    for payload in (bytearray(raw), memoryview(raw)):
        assert signature_view(payload) is None  # type: ignore[arg-type]
        assert_same(payload)  # type: ignore[arg-type]


def test_type_and_chain_refusals_on_the_fast_path_in_the_full_checks_words(no_full_check: None) -> None:
    # what the view reads is what the decoder would: the envelope refusals need no full check either
    cases = [(2, CHAIN + 1, EvmPolicy(CHAIN)), (3, CHAIN, EvmPolicy(CHAIN)), (1, CHAIN, POLICIES[2]),
             (0, None, EvmPolicy(CHAIN)), (0, None, POLICIES[2]), (4, 5, EvmPolicy(CHAIN))]
    for tx_type, chain_id, policy in cases:
        fields = unsigned_fields(tx_type, chain_id or 0, 1, 10**9, 50_000, b"\x11" * 20, 0, b"", [],
                                 [b"\x01" * 32], [[CHAIN, b"\x44" * 20, 0, 1, 5, 6]])
        raw = signed(tx_type, fields, KEYS[0], chain_id)
        expected = outcome(reference_check, policy, raw)
        assert expected is not None
        assert outcome(EvmPolicy.check, policy, raw) == expected
