"""EIP-712 header and receipt signatures (sequencer/core/signing.py), checked
by an independent path: eth-account's typed-data encoder and recovery."""

from __future__ import annotations

import dataclasses
import re

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from sequencer.core import signing
from sequencer.core.evm_tx import SECP256K1_N
from sequencer.core.signing import (
    Domain,
    Signer,
    block_hash,
    header_struct_hash,
    receipt_struct_hash,
    recover_signer,
)
from sequencer.core.types import BlockHeader

SECRET = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
DOMAIN = Domain(chain_id=31337, verifying_contract=bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"))

# Written out by hand from the EIP-712 type strings in signing.py's docstring.
EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
HEADER_FIELDS = [
    {"name": "height", "type": "uint64"},
    {"name": "parentHash", "type": "bytes32"},
    {"name": "timestamp", "type": "uint64"},
    {"name": "l1OriginNumber", "type": "uint64"},
    {"name": "l1OriginHash", "type": "bytes32"},
    {"name": "namespacesRoot", "type": "bytes32"},
    {"name": "namespaceCount", "type": "uint32"},
    {"name": "bundlesRoot", "type": "bytes32"},
]
RECEIPT_FIELDS = [
    {"name": "rollupId", "type": "uint64"},
    {"name": "txHash", "type": "bytes32"},
    {"name": "height", "type": "uint64"},
    {"name": "index", "type": "uint32"},
]

HEADER = BlockHeader(
    height=42,
    parent_hash=b"\x01" * 32,
    timestamp_ms=1_700_000_000_123,
    l1_origin_number=19_000_000,
    l1_origin_hash=b"\x02" * 32,
    namespaces_root=b"\x03" * 32,
    namespace_count=3,
    bundles_root=b"\x04" * 32,
)


def type_string(name: str, fields: list[dict]) -> str:
    return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


def domain_json(domain: Domain) -> dict:
    return {"name": "sharedseq", "version": "1", "chainId": domain.chain_id,
            "verifyingContract": "0x" + domain.verifying_contract.hex()}


def header_message(h: BlockHeader, domain: Domain = DOMAIN):
    return encode_typed_data(full_message={
        "types": {"EIP712Domain": EIP712_DOMAIN, "BlockHeader": HEADER_FIELDS},
        "primaryType": "BlockHeader",
        "domain": domain_json(domain),
        "message": {
            "height": h.height, "parentHash": h.parent_hash, "timestamp": h.timestamp_ms,
            "l1OriginNumber": h.l1_origin_number, "l1OriginHash": h.l1_origin_hash,
            "namespacesRoot": h.namespaces_root, "namespaceCount": h.namespace_count,
            "bundlesRoot": h.bundles_root,
        },
    })


def receipt_message(rollup_id: int, tx_hash: bytes, height: int, index: int, domain: Domain = DOMAIN):
    return encode_typed_data(full_message={
        "types": {"EIP712Domain": EIP712_DOMAIN, "Preconfirmation": RECEIPT_FIELDS},
        "primaryType": "Preconfirmation",
        "domain": domain_json(domain),
        "message": {"rollupId": rollup_id, "txHash": tx_hash, "height": height, "index": index},
    })


def recover(message, signature: bytes) -> bytes:
    return bytes.fromhex(Account.recover_message(message, signature=signature)[2:])


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(SECRET, DOMAIN)


def test_type_strings_are_the_documented_ones() -> None:
    doc = re.sub(r"\s+", "", signing.__doc__ or "")
    for name, fields, const in [
        ("EIP712Domain", EIP712_DOMAIN, signing.DOMAIN_TYPE),
        ("BlockHeader", HEADER_FIELDS, signing.HEADER_TYPE),
        ("Preconfirmation", RECEIPT_FIELDS, signing.RECEIPT_TYPE),
    ]:
        ts = type_string(name, fields)
        assert const.decode() == ts
        assert re.sub(r"\s+", "", ts) in doc


def test_signer_address_is_the_keys_address(signer: Signer) -> None:
    assert signer.address == bytes.fromhex(Account.from_key(SECRET).address[2:])
    assert SECRET.hex() not in repr(signer)


def test_header_hashes_match_eth_account(signer: Signer) -> None:
    msg = header_message(HEADER)
    assert msg.header == DOMAIN.separator()
    assert msg.body == header_struct_hash(HEADER) == block_hash(HEADER)


def test_header_signature_recovers_by_eth_account(signer: Signer) -> None:
    sig = signer.sign_header(HEADER)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2
    assert recover(header_message(HEADER), sig) == signer.address
    assert recover_signer(DOMAIN, header_struct_hash(HEADER), sig) == signer.address


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(BlockHeader)])
def test_changed_header_field_recovers_another_address(signer: Signer, field: str) -> None:
    sig = signer.sign_header(HEADER)
    value = getattr(HEADER, field)
    changed = dataclasses.replace(HEADER, **{field: value + 1 if isinstance(value, int) else b"\x09" * 32})
    assert block_hash(changed) != block_hash(HEADER)
    assert recover(header_message(changed), sig) != signer.address
    assert recover_signer(DOMAIN, header_struct_hash(changed), sig) != signer.address


@pytest.mark.parametrize("other", [Domain(1, DOMAIN.verifying_contract), Domain(DOMAIN.chain_id, b"\x07" * 20)])
def test_other_domain_recovers_another_address(signer: Signer, other: Domain) -> None:
    sig = signer.sign_header(HEADER)
    assert recover(header_message(HEADER, other), sig) != signer.address
    assert recover_signer(other, header_struct_hash(HEADER), sig) != signer.address
    # the block hash is domain-free: the parent chain survives an inbox move
    assert Signer(SECRET, other).sign_header(HEADER) != sig
    assert block_hash(HEADER) == header_message(HEADER, other).body


def test_receipt_signature_recovers_by_eth_account(signer: Signer) -> None:
    args = (2**64 - 1, b"\xab" * 32, 7, 2**32 - 1)  # uint64 and uint32 extremes
    sig = signer.sign_receipt(*args)
    msg = receipt_message(*args)
    assert msg.body == receipt_struct_hash(*args)
    assert recover(msg, sig) == signer.address
    assert recover_signer(DOMAIN, receipt_struct_hash(*args), sig) == signer.address


@pytest.mark.parametrize("i", range(4))
def test_changed_receipt_field_recovers_another_address(signer: Signer, i: int) -> None:
    args = [10, b"\xab" * 32, 7, 3]
    sig = signer.sign_receipt(*args)
    args[i] = b"\xac" * 32 if i == 1 else args[i] + 1
    assert recover(receipt_message(*args), sig) != signer.address
    assert recover_signer(DOMAIN, receipt_struct_hash(*args), sig) != signer.address
    assert recover(receipt_message(10, b"\xab" * 32, 7, 3, Domain(1, DOMAIN.verifying_contract)), sig) \
        != signer.address


@pytest.mark.parametrize("bad", [b"", b"\x00" * 64, b"\x00" * 64 + b"\x00", b"\x01" * 64 + b"\x1d"])
def test_recover_signer_rejects_malformed_signatures(bad: bytes) -> None:
    with pytest.raises(ValueError, match="65 bytes"):
        recover_signer(DOMAIN, block_hash(HEADER), bad)
