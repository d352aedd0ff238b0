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
from sequencer.core.merkle import merkle_root
from sequencer.core.signing import (
    Domain,
    InvalidSignature,
    Signer,
    block_hash,
    header_struct_hash,
    receipt_batch_struct_hash,
    receipt_from_batch,
    receipt_struct_hash,
    recover_signer,
    verify_receipt,
)
from sequencer.core.types import BlockHeader, Receipt

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
BATCH_FIELDS = [
    {"name": "receiptsRoot", "type": "bytes32"},
    {"name": "count", "type": "uint32"},
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


def batch_message(root: bytes, count: int, domain: Domain = DOMAIN):
    return encode_typed_data(full_message={
        "types": {"EIP712Domain": EIP712_DOMAIN, "PreconfirmationBatch": BATCH_FIELDS},
        "primaryType": "PreconfirmationBatch",
        "domain": domain_json(domain),
        "message": {"receiptsRoot": root, "count": count},
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
        ("PreconfirmationBatch", BATCH_FIELDS, signing.RECEIPT_BATCH_TYPE),
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


@pytest.mark.parametrize("bad", [b"", b"\x00" * 64, b"\x01" * 66])
def test_recover_signer_rejects_malformed_signatures(bad: bytes) -> None:
    with pytest.raises(InvalidSignature, match="65 bytes"):
        recover_signer(DOMAIN, block_hash(HEADER), bad)
    with pytest.raises(ValueError):  # callers that caught ValueError still do
        recover_signer(DOMAIN, block_hash(HEADER), bad)


# -- Python and Solidity agree on valid signatures (SharedSeqLib.recover) ----------------------------


def _eth_account_header_signature() -> tuple[object, bytes]:
    msg = header_message(HEADER)
    return msg, bytes(Account.from_key(SECRET).sign_message(msg).signature)


def test_eth_account_signatures_are_accepted() -> None:
    _, sig = _eth_account_header_signature()
    assert sig[64] in (27, 28) and int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2
    assert recover_signer(DOMAIN, header_struct_hash(HEADER), sig) == bytes.fromhex(
        Account.from_key(SECRET).address[2:])


def test_high_s_twin_is_refused_though_eth_account_recovers_it() -> None:
    # EIP-2 malleability: (r, n - s, v ^ 1) recovers the same key. eth-account accepts it; the contract's
    # SharedSeqLib.recover returns address(0) for it, so Python must refuse it too.
    msg, sig = _eth_account_header_signature()
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    assert recover(msg, twin) == bytes.fromhex(Account.from_key(SECRET).address[2:])
    with pytest.raises(InvalidSignature, match="low s"):
        recover_signer(DOMAIN, header_struct_hash(HEADER), twin)
    # the boundary: s = n/2 is low, n/2 + 1 is high
    assert signing.HALF_N == SECP256K1_N // 2


@pytest.mark.parametrize("v", [0, 1, 26, 29, 255])
def test_v_outside_27_28_is_refused(v: int) -> None:
    _, sig = _eth_account_header_signature()
    with pytest.raises(InvalidSignature, match="v must be 27 or 28"):
        recover_signer(DOMAIN, header_struct_hash(HEADER), sig[:64] + bytes([v]))
    if v == sig[64] - 27:  # eth-account reads v = 0/1 as 27/28; the contract does not, so neither do we
        assert recover(header_message(HEADER), sig[:64] + bytes([v])) == \
            bytes.fromhex(Account.from_key(SECRET).address[2:])


@pytest.mark.parametrize("rs", [(0, 1), (1, 0), (SECP256K1_N, 1)])
def test_r_s_out_of_range_are_refused(rs: tuple[int, int]) -> None:
    r, s = rs
    with pytest.raises(InvalidSignature):
        recover_signer(DOMAIN, header_struct_hash(HEADER), r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x1b")


# -- preconfirmations signed per group commit ------------------------------------------------------------

ITEMS = [(2**64 - 1, b"\xab" * 32, 7, 2**32 - 1), (10, b"\x01" * 32, 8, 0), (10, b"\x02" * 32, 8, 1),
         (11, b"\x03" * 32, 9, 5), (12, b"\x04" * 32, 9, 0)]


def test_receipt_leaf_hash_matches_eth_account(signer: Signer) -> None:
    for it in ITEMS:
        assert receipt_message(*it).body == receipt_struct_hash(*it)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_batch_signature_recovers_by_eth_account(signer: Signer, n: int) -> None:
    batch, receipts = signer.sign_receipt_batch(ITEMS[:n])
    leaves = [receipt_struct_hash(*it) for it in ITEMS[:n]]
    assert batch.leaves == tuple(leaves) and batch.count == n and batch.receipts_root == merkle_root(leaves)
    msg = batch_message(batch.receipts_root, n)
    assert msg.body == receipt_batch_struct_hash(batch.receipts_root, n)
    assert recover(msg, batch.signature) == signer.address
    assert len(receipts) == n
    for i, (r, it) in enumerate(zip(receipts, ITEMS, strict=False)):
        assert (r.rollup_id, r.tx_hash, r.height, r.index) == it
        assert (r.leaf_index, r.batch_count, r.batch_signature) == (i, n, batch.signature)
        assert verify_receipt(DOMAIN, r) == signer.address
        assert receipt_from_batch(batch, i, *it) == r


def test_one_signature_per_batch(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = Signer.sign_struct
    monkeypatch.setattr(Signer, "sign_struct", lambda self, h: calls.append(h) or real(self, h))
    signer.sign_receipt_batch(ITEMS * 40)
    assert len(calls) == 1


@pytest.mark.parametrize("field", ["rollup_id", "tx_hash", "height", "index", "leaf_index", "batch_count", "path"])
def test_a_changed_receipt_does_not_verify_as_the_sequencer(signer: Signer, field: str) -> None:
    _, receipts = signer.sign_receipt_batch(ITEMS)
    r = receipts[2]
    value = getattr(r, field)
    if field == "tx_hash":
        changed = b"\xee" * 32
    elif field == "path":
        changed = (b"\xee" * 32, *value[1:])
    else:
        changed = value + 1
    forged = dataclasses.replace(r, **{field: changed})
    try:
        assert verify_receipt(DOMAIN, forged) != signer.address
    except InvalidSignature:
        pass
    # another receipt's path and position cannot carry this receipt's fields either
    other = receipts[3]
    moved = dataclasses.replace(r, leaf_index=other.leaf_index, path=other.path)
    assert verify_receipt(DOMAIN, moved) != signer.address
    assert verify_receipt(Domain(1, DOMAIN.verifying_contract), r) != signer.address


@pytest.mark.parametrize(("field", "value"), [
    ("batch_count", 0), ("batch_count", 2**32), ("leaf_index", 5), ("leaf_index", -1),
    ("path", (b"\x00" * 31,)), ("path", (b"\x00" * 32,) * 33), ("tx_hash", b"\x00" * 31), ("index", 2**32),
    ("batch_signature", b"\x00" * 65),
])
def test_malformed_receipts_are_refused(signer: Signer, field: str, value: object) -> None:
    _, receipts = signer.sign_receipt_batch(ITEMS)
    with pytest.raises(InvalidSignature):
        verify_receipt(DOMAIN, dataclasses.replace(receipts[0], **{field: value}))


def test_receipt_from_batch_checks_the_stored_leaf(signer: Signer) -> None:
    batch, _ = signer.sign_receipt_batch(ITEMS)
    with pytest.raises(ValueError, match="not the preconfirmation"):
        receipt_from_batch(batch, 1, *ITEMS[2])
    with pytest.raises(ValueError, match="not in a batch"):
        receipt_from_batch(batch, 5, *ITEMS[0])
    assert isinstance(receipt_from_batch(batch, 4, *ITEMS[4]), Receipt)


def test_docs_api_receipt_recipe() -> None:
    """docs/api.md, "Verifying a receipt", step by step with eth-account and a plain keccak only."""
    from core_testkit import make_core
    from eth_utils import keccak as eth_keccak

    from sequencer.core.types import Transaction
    from sequencer.service.convert import receipt_to_proto

    core = make_core()
    records = [rec for i in range(7) for rec in core.admit(Transaction(1 + i % 3, b"doc tx %d" % i))]
    _, receipts = core.sign_receipt_batch(records)
    info_chain_id, info_contract, info_address = (core.signer.domain.chain_id, core.signer.domain.verifying_contract,
                                                  core.signer.address)  # what GetSequencerInfo returns
    n = 2**256 - 432420386565659656852420866394968145599  # secp256k1 group order

    def verify(m) -> bool:  # a pb.Receipt, as a client gets it
        # 1. the domain
        domain = {"name": "sharedseq", "version": "1", "chainId": info_chain_id,
                  "verifyingContract": "0x" + info_contract.hex()}
        # 2. the leaf = hashStruct(Preconfirmation)
        leaf = encode_typed_data(full_message={
            "types": {"EIP712Domain": EIP712_DOMAIN, "Preconfirmation": RECEIPT_FIELDS},
            "primaryType": "Preconfirmation", "domain": domain,
            "message": {"rollupId": m.rollup_id, "txHash": bytes(m.tx_hash), "height": m.height, "index": m.index},
        }).body
        # 3. the root, RFC 9162 section 2.1.3.2
        if m.batch_count == 0 or m.leaf_index >= m.batch_count:
            return False
        fn, sn, r = m.leaf_index, m.batch_count - 1, eth_keccak(b"\x00" + leaf)
        for p in m.path:
            if sn == 0:
                return False
            if fn % 2 == 1 or fn == sn:
                r = eth_keccak(b"\x01" + bytes(p) + r)
                if fn % 2 == 0:
                    while fn != 0 and fn % 2 == 0:
                        fn >>= 1
                        sn >>= 1
            else:
                r = eth_keccak(b"\x01" + r + bytes(p))
            fn >>= 1
            sn >>= 1
        if sn != 0:
            return False
        # 4. the signer of PreconfirmationBatch(receiptsRoot, count)
        sig = bytes(m.batch_signature)
        signer = Account.recover_message(encode_typed_data(full_message={
            "types": {"EIP712Domain": EIP712_DOMAIN, "PreconfirmationBatch": BATCH_FIELDS},
            "primaryType": "PreconfirmationBatch", "domain": domain,
            "message": {"receiptsRoot": r, "count": m.batch_count},
        }), signature=sig)
        # 5. low s, v in {27, 28}
        if int.from_bytes(sig[32:64], "big") > n // 2 or sig[64] not in (27, 28):
            return False
        # 6. the sequencer's key
        return bytes.fromhex(signer[2:]) == info_address

    messages = [receipt_to_proto(r) for r in receipts]
    assert all(verify(m) for m in messages)
    # and it refuses what verify_receipt refuses: a changed field, a moved leaf, a borrowed path, a high s
    tampered = [receipt_to_proto(r) for r in receipts[:4]]
    tampered[0].index += 1
    tampered[1].leaf_index = 2
    del tampered[2].path[:]
    tampered[2].path.extend(messages[5].path)
    sig = bytes(tampered[3].batch_signature)
    tampered[3].batch_signature = sig[:32] + (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + \
        bytes([55 - sig[64]])
    assert not any(verify(m) for m in tampered)
