"""Gas of SequencerBond's proofs: `python -m deploy.bench_proofs` (also run by `make bench` through
deploy.bench_gas).

Starts a local anvil, deploys the contracts (deploy_all), and for each proof shape signs the offending
statements with the deployed sequencer key, commits to the proof (commitReport), reveals it and
records the reveal's gasUsed; every proof runs against the same state (an anvil snapshot, reverted),
so each slashes a bond of 1 ETH. Prints one JSON object: gas per proof, of the commitment and of
claimReward. Proof shapes: equivocation; a 16-block window against a header (leaf path of 4); two
16-block windows; a receipt from a 64-receipt PreconfirmationBatch (path of 6) broken by another tx at
its index (3 namespaces, 8 txs), by too few txs, and by an absent namespace; a malformed 4-leaf tree.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from web3 import Web3

from deploy.deployer import Sender, contract_at, deploy_all
from sequencer.core.commitments import namespaces_root, prove_namespace
from sequencer.core.hashing import keccak
from sequencer.core.merkle import inclusion_proof
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace
from sequencer.core.window import WindowCommitment, blocks_root, window_struct_hash
from sequencer.devtools.anvil import start_anvil
from sequencer.l1.bond import malformed_pair, report_commitment, sign_receipt_batch, window_leaf_claim
from sequencer.l1.inbox import absence_neighbours, header_tuple, namespace_leaf_tuple, window_tuple


def _header(height: int, parent: bytes, namespaces: tuple[Namespace, ...] = (), salt: int = 0) -> BlockHeader:
    return BlockHeader(height=height, parent_hash=parent, timestamp_ms=1_700_000_000_000 + height * 100 + salt,
                       l1_origin_number=1, l1_origin_hash=b"\x01" * 32, namespaces_root=namespaces_root(namespaces),
                       namespace_count=len(namespaces), bundles_root=ZERO_HASH)


def _chain(start: int, n: int, salt: int = 0) -> list[BlockHeader]:
    out, parent = [], ZERO_HASH
    for i in range(n):
        h = _header(start + i, parent, salt=salt)
        out.append(h)
        parent = block_hash(h)
    return out


def _window(headers: list[BlockHeader], signer: Signer) -> tuple[WindowCommitment, bytes]:
    w = WindowCommitment(headers[0].height, headers[-1].height, headers[0].parent_hash, block_hash(headers[-1]),
                         blocks_root(headers), headers[0].timestamp_ms, headers[-1].timestamp_ms, 1, b"\x01" * 32,
                         b"\x02" * 32, b"\x03" * 32)
    return w, signer.sign_struct(window_struct_hash(w))


def measure_proofs() -> dict[str, int]:
    """Deploy, then commit and reveal each proof shape against the same funded bond; gas per call."""
    gas: dict[str, int] = {}
    with start_anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        owner, seq, reporter = anvil.accounts[0], anvil.accounts[1], anvil.accounts[4]
        manifest = deploy_all(w3, owner.key, {"sequencer": {"address": seq.address}, "rollups": []})
        bond = contract_at(w3, "SequencerBond", manifest.address("SequencerBond"))
        signer = Signer(seq.key, Domain(w3.eth.chain_id, bytes.fromhex(manifest.address("SequencerInbox")[2:])))
        sender, funder = Sender(w3, reporter.key), Sender(w3, owner.key)
        funder.transact(bond.functions.deposit(), "deposit", value=10**18)

        def reveal(name: str, fn: Any) -> None:
            snap = anvil.rpc("evm_snapshot", [])
            data = fn._encode_transaction_data()
            r = sender.transact(bond.functions.commitReport(report_commitment(reporter.address, data)), "commit")
            gas["commitReport"] = int(r["gasUsed"])
            anvil.mine(1)
            r = sender.send({"to": bond.address, "data": data}, name)
            gas[name] = int(r["gasUsed"])
            if name == "proveEquivocation":
                offence = bond.events.Slashed().process_receipt(r)[0]["args"]["offence"]
                anvil.mine(int(bond.functions.claimDelay().call()))
                gas["claimReward"] = int(sender.transact(bond.functions.claimReward(offence), "claim")["gasUsed"])
            anvil.rpc("evm_revert", [snap])

        a = _header(1000, ZERO_HASH)
        b = replace(a, bundles_root=b"\x0b" * 32)
        reveal("proveEquivocation", bond.functions.proveEquivocation(
            header_tuple(a), signer.sign_header(a), header_tuple(b), signer.sign_header(b)))

        headers = _chain(2000, 16)
        w, wsig = _window(headers, signer)
        soft = replace(headers[5], bundles_root=b"\x0c" * 32)
        reveal("proveWindowHeaderConflict (16-block window)", bond.functions.proveWindowHeaderConflict(
            window_tuple(w), wsig, window_leaf_claim(headers, 2005), header_tuple(soft), signer.sign_header(soft)))
        other = _chain(2000, 16, salt=1)
        w2, w2sig = _window(other, signer)
        reveal("proveWindowsConflict (16-block windows)", bond.functions.proveWindowsConflict(
            window_tuple(w), wsig, window_leaf_claim(headers, 2005), window_tuple(w2), w2sig,
            window_leaf_claim(other, 2005), 2005))

        namespaces = (Namespace(901, tuple(b"tx%d" % i for i in range(8))), Namespace(902, (b"q",)),
                      Namespace(904, (b"z",)))
        h = _header(3000, ZERO_HASH, namespaces)
        hsig = signer.sign_header(h)
        hashes = [keccak(t) for t in namespaces[0].transactions]

        def batched(receipt: tuple[int, bytes, int, int]) -> Any:
            receipts = [(901, keccak(b"r%d" % i), 3000, i) for i in range(64)]
            receipts[37] = receipt
            return sign_receipt_batch(signer, receipts)[37]

        reveal("proveBrokenReceipt other tx (64-receipt batch)", bond.functions.proveBrokenReceipt(
            batched((901, keccak(b"mine"), 3000, 3)), header_tuple(h), hsig,
            namespace_leaf_tuple(prove_namespace(namespaces, 901)), hashes[3], list(inclusion_proof(hashes, 3))))
        reveal("proveBrokenReceipt too few txs", bond.functions.proveBrokenReceipt(
            batched((902, keccak(b"mine"), 3000, 5)), header_tuple(h), hsig,
            namespace_leaf_tuple(prove_namespace(namespaces, 902)), ZERO_HASH, []))
        reveal("proveReceiptNamespaceAbsent", bond.functions.proveReceiptNamespaceAbsent(
            batched((903, keccak(b"mine"), 3000, 0)), header_tuple(h), hsig,
            absence_neighbours(prove_namespace(namespaces, 903))))

        bad = (Namespace(10, (b"a",)), Namespace(30, (b"b",)), Namespace(20, (b"c",)), Namespace(40, (b"d",)))
        mh = _header(4000, ZERO_HASH, bad)
        pair = malformed_pair(bad)
        assert pair is not None
        reveal("proveMalformedTree (4 leaves)", bond.functions.proveMalformedTree(
            header_tuple(mh), signer.sign_header(mh), *pair))
    return gas


def main() -> int:
    print("proofs:", json.dumps(measure_proofs()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
