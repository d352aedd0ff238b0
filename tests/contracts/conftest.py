"""Fixtures for the L1 contract tests: a real anvil on 127.0.0.1 per test module, the contracts
deployed by deploy.deployer, and helpers that build shared blocks with the Python core."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts import load_artifact
from deploy.anvil import start_anvil
from deploy.deployer import CONTRACT_NAMES, DeployConfig, Manifest, contract_at, deploy_all
from sequencer.core.commitments import namespaces_root
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace
from sequencer.l1.inbox import header_tuple, window_proof

ROLLUPS = (901, 902, 903)
FORCE_DELAY = 5


def _error_selectors() -> dict[str, str]:
    out = {}
    for name in (*CONTRACT_NAMES,):
        for item in load_artifact(name)["abi"]:
            if item["type"] == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                out["0x" + keccak(text=sig)[:4].hex()] = item["name"]
    return out


ERRORS = _error_selectors()


def revert_name(fn: Any, sender: str, value: int = 0) -> str | None:
    """The custom error `fn` reverts with when called from `sender` (None if it does not revert)."""
    try:
        fn.call({"from": sender, "value": value})
    except (ContractCustomError, ContractLogicError) as exc:
        data = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
        return ERRORS.get((data or "")[:10], f"unknown revert {data!r} {exc.message!r}")
    return None


@dataclass
class L1:
    """A deployed set of contracts and the keys around them."""

    w3: Web3
    anvil: Any
    manifest: Manifest
    registry: Any
    inbox: Any
    bond: Any
    owner: Any  # eth_account LocalAccount
    sequencer: Signer
    poster: Any
    outsider: Any
    rng: random.Random

    revert = staticmethod(revert_name)
    htuple = staticmethod(header_tuple)

    def transact(self, fn: Any, account: Any, value: int = 0, gas: int | None = None) -> Any:
        """Send a call signed by `account`; returns the receipt (status checked by the caller)."""
        tx = fn.build_transaction({"from": account.address, "value": value, "gas": gas or 3_000_000,
                                   "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tx.update(nonce=self.w3.eth.get_transaction_count(account.address, "pending"),
                  maxFeePerGas=2 * base + 10**9, maxPriorityFeePerGas=10**9, chainId=self.w3.eth.chain_id)
        signed = account.sign_transaction(tx)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(h, timeout=30)

    def ok(self, fn: Any, account: Any, value: int = 0) -> Any:
        """Send and require success (a revert shows its custom error name)."""
        err = revert_name(fn, account.address, value)
        assert err is None, f"unexpected revert {err}"
        receipt = self.transact(fn, account, value)
        assert receipt["status"] == 1
        return receipt

    def make_headers(self, start: int, parent: bytes, n: int,
                     rollups: tuple[int, ...] = (901, 902)) -> list[tuple[BlockHeader, tuple[Namespace, ...]]]:
        """`n` chained headers from `start` on top of `parent`, with random namespaces."""
        out = []
        for i in range(n):
            nss = tuple(Namespace(r, tuple(self.rng.randbytes(self.rng.randint(1, 80))
                                           for _ in range(self.rng.randint(1, 4)))) for r in rollups)
            h = BlockHeader(height=start + i, parent_hash=parent, timestamp_ms=1_700_000_000_000 + 100 * (start + i),
                            l1_origin_number=7, l1_origin_hash=b"\x07" * 32, namespaces_root=namespaces_root(nss),
                            namespace_count=len(nss), bundles_root=ZERO_HASH)
            out.append((h, nss))
            parent = block_hash(h)
        return out

    def next_headers(self, n: int) -> list[BlockHeader]:
        """`n` headers continuing the inbox's firm chain."""
        start = self.inbox.functions.nextHeight().call()
        parent = bytes(self.inbox.functions.lastBlockHash().call())
        return [h for h, _ in self.make_headers(start, parent, n)]

    def window(self, headers: list[BlockHeader], signer: Signer | None = None) -> tuple:
        """The WindowProof tuple for consecutive `headers`, last one signed."""
        return window_proof(headers, (signer or self.sequencer).sign_header(headers[-1]))

    def post(self, headers: list[BlockHeader], rollup_ids=(901,), batches=(b"batch",), forced=None, **kw) -> Any:
        forced = list(forced) if forced is not None else [self.inbox.functions.forcedRead(r).call() for r in rollup_ids]
        return self.inbox.functions.postWindow(self.window(headers, **kw), list(rollup_ids), list(batches), forced)


@pytest.fixture(scope="module")
def anvil():
    with start_anvil() as a:
        yield a


@pytest.fixture(scope="module")
def l1(anvil) -> L1:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    keys = [a.key for a in anvil.accounts]
    owner, seq_acct, poster, outsider = (Account.from_key(k) for k in keys[:4])
    config = DeployConfig(
        rollups=tuple(DeployConfig.from_dict({"rollups": [
            {"id": r, "name": f"r{r}", "format": f, "block_time_ms": 1000}
            for r, f in zip(ROLLUPS, ("opstack", "nitro", "zkevm"), strict=True)]}).rollups),
        sequencer_address=seq_acct.address,
        batcher_address=poster.address,
        force_inclusion_delay=FORCE_DELAY,
    )
    manifest = deploy_all(w3, owner.key, config)
    inbox_addr = manifest.address("SequencerInbox")
    sequencer = Signer(bytes(seq_acct.key), Domain(w3.eth.chain_id, bytes.fromhex(inbox_addr[2:])))
    return L1(
        w3=w3, anvil=anvil, manifest=manifest,
        registry=contract_at(w3, "RollupRegistry", manifest.address("RollupRegistry")),
        inbox=contract_at(w3, "SequencerInbox", inbox_addr),
        bond=contract_at(w3, "SequencerBond", manifest.address("SequencerBond")),
        owner=owner, sequencer=sequencer, poster=poster, outsider=outsider, rng=random.Random(1234),
    )
