"""sequencer/core/evm_tx.py and the EVM admission policy, against real
transactions signed by eth-account."""

from __future__ import annotations

import sys

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.core.evm_tx import (
    MAX_TX_BYTES,
    SECP256K1_N,
    decode_transaction,
    encode_transaction,
    recover_sender,
)
from sequencer.core.policy import EvmPolicy, OpaquePolicy, make_policy
from sequencer.errors import BadInput, DecodeError

CHAIN_ID = 901
TO = "0x" + "11" * 20
ACCOUNT = Account.from_key(b"\x42" * 32)
SENDER = bytes.fromhex(ACCOUNT.address[2:])

UNSIGNED = {
    0: {"nonce": 7, "gasPrice": 10**9, "gas": 21_000, "to": TO, "value": 12345, "data": b"\x01\x02",
        "chainId": CHAIN_ID},
    1: {"type": 1, "chainId": CHAIN_ID, "nonce": 8, "gasPrice": 2 * 10**9, "gas": 50_000, "to": TO, "value": 0,
        "data": b"\xca\xfe",
        "accessList": [{"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 31 + "01"]}]},
    2: {"type": 2, "chainId": CHAIN_ID, "nonce": 9, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 3 * 10**9,
        "gas": 60_000, "to": TO, "value": 10**18, "data": b"",
        "accessList": [{"address": "0x" + "33" * 20, "storageKeys": []}]},
}
TYPE_NAMES = {0: "legacy", 1: "eip2930", 2: "eip1559"}


def sign(tx: dict, account=ACCOUNT):
    return account.sign_transaction(tx)


def raw_of(tx_type: int, **changes) -> bytes:
    return bytes(sign({**UNSIGNED[tx_type], **changes}).raw_transaction)


def split(raw: bytes) -> tuple[bytes, list]:
    """(type prefix, RLP fields) of a raw transaction."""
    if raw[0] >= 0xC0:
        return b"", rlp.decode(raw)
    return raw[:1], rlp.decode(raw[1:])


def join(prefix: bytes, fields: list) -> bytes:
    return prefix + rlp.encode(fields)


def rlp_list(items: list[bytes]) -> bytes:
    """A list around already-encoded items (to splice in non-canonical ones)."""
    body = b"".join(items)
    assert len(body) >= 56
    n = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(n)]) + n + body


# Field positions, by type: (nonce, gas, value, to, r, s, parity/v)
POS = {
    0: {"nonce": 0, "gas": 2, "to": 3, "value": 4, "v": 6, "r": 7, "s": 8},
    1: {"chain_id": 0, "nonce": 1, "gas": 3, "to": 4, "value": 5, "y_parity": 8, "r": 9, "s": 10},
    2: {"chain_id": 0, "nonce": 1, "gas": 4, "to": 5, "value": 6, "y_parity": 9, "r": 10, "s": 11},
}


# -- well-formed transactions -------------------------------------------------


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_decode_reencode_recover_hash(tx_type: int) -> None:
    account = Account.create()
    signed = sign(UNSIGNED[tx_type], account)
    raw = bytes(signed.raw_transaction)
    tx = decode_transaction(raw)
    assert tx.tx_type == tx_type
    assert tx.chain_id == CHAIN_ID
    assert tx.nonce == UNSIGNED[tx_type]["nonce"]
    assert tx.to == b"\x11" * 20
    assert tx.value == UNSIGNED[tx_type]["value"]
    assert tx.data == UNSIGNED[tx_type]["data"]
    assert encode_transaction(tx) == raw
    assert recover_sender(tx) == bytes.fromhex(account.address[2:])
    assert tx.hash == bytes(signed.hash)
    assert tx.protected
    assert tx.r == signed.r and tx.s == signed.s


def test_fields_of_each_type() -> None:
    legacy = decode_transaction(raw_of(0))
    assert legacy.gas_price == legacy.max_fee == legacy.max_priority_fee == 10**9
    assert legacy.v in (35 + 2 * CHAIN_ID, 36 + 2 * CHAIN_ID)
    assert legacy.y_parity == legacy.v - 35 - 2 * CHAIN_ID
    al = decode_transaction(raw_of(1))
    assert al.gas_price == 2 * 10**9 and al.gas == 50_000
    assert al.access_list == ((b"\x22" * 20, ((1).to_bytes(32, "big"),)),)
    dyn = decode_transaction(raw_of(2))
    assert (dyn.max_priority_fee, dyn.max_fee, dyn.gas_price) == (10**9, 3 * 10**9, 0)
    assert dyn.access_list == ((b"\x33" * 20, ()),)


def test_contract_creation_has_no_to() -> None:
    raw = raw_of(2, to=b"", data=b"\x60\x00")
    tx = decode_transaction(raw)
    assert tx.to is None
    assert encode_transaction(tx) == raw
    assert recover_sender(tx) == SENDER


def test_pre_eip155_legacy_decodes_without_chain_id() -> None:
    unsigned = {k: v for k, v in UNSIGNED[0].items() if k != "chainId"}
    signed = sign(unsigned)
    tx = decode_transaction(bytes(signed.raw_transaction))
    assert tx.chain_id is None and tx.v in (27, 28)
    assert not tx.protected
    assert recover_sender(tx) == SENDER
    assert encode_transaction(tx) == bytes(signed.raw_transaction)


# -- malformed transactions ---------------------------------------------------


def _malformed_cases() -> list[tuple[str, bytes, str]]:
    cases: list[tuple[str, bytes, str]] = [("empty", b"", "empty")]
    for t in (0, 1, 2):
        raw = raw_of(t)
        name = TYPE_NAMES[t]
        prefix, fields = split(raw)
        cases += [
            (f"{name}-truncated", raw[:-1], f"{name} transaction: malformed RLP"),
            (f"{name}-truncated-half", raw[: len(raw) // 2], f"{name} transaction: malformed RLP"),
            (f"{name}-trailing", raw + b"\x00", f"{name} transaction: malformed RLP"),
            (f"{name}-extra-field", join(prefix, fields + [b""]), f"{name} transaction: expected"),
            (f"{name}-missing-field", join(prefix, fields[:-1]), f"{name} transaction: expected"),
            (f"{name}-not-a-list", prefix + rlp.encode(b"x" * 80) if prefix else rlp.encode(b"x" * 80),
             "transaction" if prefix else "neither a type nor an RLP list"),
        ]
        # a field as a single byte in long form (0x81 0x05 instead of 0x05): non-canonical RLP
        items = [rlp.encode(f) for f in fields]
        items[POS[t]["nonce"]] = b"\x81\x05"
        cases.append((f"{name}-noncanonical-rlp", prefix + rlp_list(items), f"{name} transaction: malformed RLP"))
        # a short string written with a long-form length
        items = [rlp.encode(f) for f in fields]
        items[POS[t]["to"]] = b"\xb8\x14" + b"\x11" * 20
        cases.append((f"{name}-noncanonical-length", prefix + rlp_list(items), "malformed RLP"))
        for field in ("nonce", "gas", "value", "r", "s") + (("chain_id",) if t else ()):
            bad = list(fields)
            bad[POS[t][field]] = b"\x00" + bytes(bad[POS[t][field]] or b"\x01")
            cases.append((f"{name}-leading-zero-{field}", join(prefix, bad), f"{field}: integer has leading zero"))
        bad = list(fields)
        bad[POS[t]["nonce"]] = b"\x01" * 9
        cases.append((f"{name}-nonce-over-64-bits", join(prefix, bad), "nonce: integer over 64 bits"))
        bad = list(fields)
        bad[POS[t]["to"]] = b"\x11" * 19
        cases.append((f"{name}-short-address", join(prefix, bad), "to: address must be 20 bytes"))
        bad = list(fields)
        bad[POS[t]["value"]] = [b"\x01"]
        cases.append((f"{name}-list-for-int", join(prefix, bad), "value: expected an integer"))
        bad = list(fields)
        bad[POS[t]["r"]] = b""
        cases.append((f"{name}-zero-r", join(prefix, bad), "r: signature value out of range"))
        # high s: the same signature with s' = n - s is valid math but not EIP-2
        bad = list(fields)
        s = int.from_bytes(fields[POS[t]["s"]], "big")
        bad[POS[t]["s"]] = (SECP256K1_N - s).to_bytes(32, "big").lstrip(b"\x00")
        cases.append((f"{name}-high-s", join(prefix, bad), "s: signature value out of range or not low-s"))
    _, legacy = split(raw_of(0))
    for v in (0, 26, 29, 34):
        bad = list(legacy)
        bad[6] = bytes([v]) if v else b""
        cases.append((f"legacy-v-{v}", join(b"", bad), "v: invalid legacy v value"))
    prefix, typed = split(raw_of(2))
    bad = list(typed)
    bad[9] = b"\x02"
    cases.append(("eip1559-parity-2", join(prefix, bad), "y_parity: must be 0 or 1"))
    bad = list(typed)
    bad[8] = [[b"\x33" * 19, []]]
    cases.append(("eip1559-access-list-address", join(prefix, bad), "access_list[0].address"))
    bad = list(typed)
    bad[8] = [[b"\x33" * 20, [b"\x01" * 31]]]
    cases.append(("eip1559-storage-key", join(prefix, bad), "access_list[0].storage_keys[0]: must be 32 bytes"))
    bad = list(typed)
    bad[8] = b"\x01"
    cases.append(("eip1559-access-list-bytes", join(prefix, bad), "access_list: expected a list"))
    body = raw_of(2)[1:]
    for type_byte in (0x00, 0x05, 0x7F):
        cases.append((f"unknown-type-{type_byte:#04x}", bytes([type_byte]) + body, "tx_type: unsupported"))
    cases.append(("string-prefix", b"\x85hello", "neither a type nor an RLP list"))
    cases.append(("over-size-limit", b"\x02" + b"\x00" * MAX_TX_BYTES, "over the"))
    return cases


MALFORMED = _malformed_cases()


@pytest.mark.parametrize(("raw", "message"), [(c[1], c[2]) for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_is_a_decode_error_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as exc:
        decode_transaction(raw)
    assert message in str(exc.value)
    # and the policy turns it into BadInput, keeping the reason
    with pytest.raises(BadInput) as exc2:
        EvmPolicy(CHAIN_ID).check(raw)
    assert message in str(exc2.value)


def _nested_lists(depth: int) -> bytes:
    enc = b"\xc0"
    for _ in range(depth):
        n = len(enc)
        if n < 56:
            enc = bytes([0xC0 + n]) + enc
        else:
            ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
            enc = bytes([0xF7 + len(ln)]) + ln + enc
    return enc


@pytest.mark.parametrize("prefix", [b"", b"\x01", b"\x02"])
def test_deeply_nested_rlp_is_a_decode_error(prefix: bytes) -> None:
    # regression: pyrlp recurses once per nesting level, so 20,000 levels (60 kB, under the size
    # cap) ran out of stack with a RecursionError instead of a DecodeError. The recursion limit is
    # pinned to CPython's default: some test dependencies raise it on import, a server does not.
    raw = prefix + _nested_lists(20_000)
    assert len(raw) < MAX_TX_BYTES
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        with pytest.raises(DecodeError, match="transaction: malformed RLP"):
            decode_transaction(raw)
    finally:
        sys.setrecursionlimit(limit)


def test_bad_signature_point_is_a_decode_error() -> None:
    prefix, fields = split(raw_of(2))
    for r in range(1, 200):  # find an r that is not the x of any curve point
        bad = list(fields)
        bad[10] = bytes([r])
        tx = decode_transaction(join(prefix, bad))
        try:
            recover_sender(tx)
        except DecodeError as exc:
            assert "signature" in str(exc)
            with pytest.raises(BadInput, match="signature"):
                EvmPolicy(CHAIN_ID).check(tx.raw)
            return
    pytest.fail("no unrecoverable r below 200")


def test_tampered_transaction_recovers_another_sender() -> None:
    prefix, fields = split(raw_of(2))
    fields[6] = b"\x01"  # value
    assert recover_sender(decode_transaction(join(prefix, fields))) != SENDER


# -- fuzz -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_raise_only_decode_error(raw: bytes) -> None:
    try:
        tx = decode_transaction(raw)
    except DecodeError:
        return
    assert encode_transaction(tx) == raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0, 1, 2]), st.data())
def test_fuzz_mutated_transactions_raise_only_decode_error(tx_type: int, data: st.DataObject) -> None:
    raw = bytearray(raw_of(tx_type))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = bytes(raw)
    try:
        tx = decode_transaction(raw)
    except DecodeError:
        return
    assert encode_transaction(tx) == raw  # whatever decodes is canonical


# -- policies -----------------------------------------------------------------


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_evm_policy_accepts_each_type_for_its_chain(tx_type: int) -> None:
    EvmPolicy(CHAIN_ID).check(raw_of(tx_type))
    make_policy("evm", CHAIN_ID).check(raw_of(tx_type))


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_evm_policy_refuses_wrong_chain_id(tx_type: int) -> None:
    with pytest.raises(BadInput, match="chain id") as exc:
        EvmPolicy(CHAIN_ID + 1).check(raw_of(tx_type))
    assert str(CHAIN_ID) in str(exc.value)


def test_evm_policy_refuses_pre_eip155_legacy() -> None:
    unsigned = {k: v for k, v in UNSIGNED[0].items() if k != "chainId"}
    raw = bytes(sign(unsigned).raw_transaction)
    for policy in (EvmPolicy(CHAIN_ID), make_policy("evm-legacy", CHAIN_ID)):
        with pytest.raises(BadInput, match="EIP-155 chain id"):
            policy.check(raw)


def test_evm_legacy_policy_refuses_typed_transactions() -> None:
    policy = make_policy("evm-legacy", CHAIN_ID)
    assert policy.name == "evm-legacy"
    policy.check(raw_of(0))
    for tx_type in (1, 2):
        with pytest.raises(BadInput, match=f"{TYPE_NAMES[tx_type]} transactions are not accepted"):
            policy.check(raw_of(tx_type))


def test_opaque_policy() -> None:
    policy = make_policy("opaque", CHAIN_ID)
    assert isinstance(policy, OpaquePolicy)
    policy.check(b"\x00")
    policy.check(b"anything at all")
    with pytest.raises(BadInput, match="empty"):
        policy.check(b"")


def test_unknown_policy_name() -> None:
    with pytest.raises(BadInput, match="unknown admission policy"):
        make_policy("evm2", CHAIN_ID)
