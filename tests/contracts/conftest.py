"""Fixtures for the L1 contract tests: a real anvil on 127.0.0.1 per test module, the contracts
deployed by deploy.deployer, and helpers that build shared blocks with the Python core."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts import load_artifact
from deploy.deployer import CONTRACT_NAMES, DeployConfig, Manifest, contract_at, deploy_all
from sequencer.core.commitments import namespaces_root
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.core.window import WindowCommitment, build_window, encode_witness, window_struct_hash
from sequencer.devtools.anvil import start_anvil
from sequencer.l1.bond import report_commitment
from sequencer.l1.inbox import header_tuple, window_tuple

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


def deploy_revert(w3: Web3, name: str, sender: str, *args: Any) -> str | None:
    """The custom error the constructor of `name` reverts with for `args` (None if it would deploy)."""
    art = load_artifact(name)
    data = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).data_in_transaction
    try:
        w3.eth.call({"from": sender, "data": data})
    except (ContractCustomError, ContractLogicError) as exc:
        raw = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
        return ERRORS.get((raw or "")[:10], f"unknown revert {raw!r} {exc.message!r}")
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
    keys: Any
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
        return self.w3.eth.wait_for_transaction_receipt(h, timeout=60)

    def ok(self, fn: Any, account: Any, value: int = 0) -> Any:
        """Send and require success (a revert shows its custom error name)."""
        err = revert_name(fn, account.address, value)
        assert err is None, f"unexpected revert {err}"
        receipt = self.transact(fn, account, value)
        assert receipt["status"] == 1
        return receipt

    def deploy_revert(self, name: str, *args: Any) -> str | None:
        """The custom error the constructor of `name` reverts with for `args` (None if it would deploy)."""
        return deploy_revert(self.w3, name, self.owner.address, *args)

    def commit(self, fn: Any, account: Any) -> bytes:
        """Commit `account` to the proof call `fn` (SequencerBond.commitReport) and mine a block, so the
        call can be revealed next; returns the call's data."""
        data = fn._encode_transaction_data()
        self.ok(self.bond.functions.commitReport(report_commitment(account.address, data)), account)
        self.mine(1)  # eth_call runs at the latest block's number: the reveal must come after it
        return data

    def report(self, fn: Any, account: Any) -> Any:
        """Commit, then send the proof `fn` from `account` (must succeed); returns the receipt."""
        self.commit(fn, account)
        return self.ok(fn, account)

    def report_revert(self, fn: Any, account: Any) -> str | None:
        """Commit to `fn`, then the custom error its reveal reverts with (None if it would succeed)."""
        self.commit(fn, account)
        return revert_name(fn, account.address)

    def snapshot(self) -> str:
        return self.w3.provider.make_request("evm_snapshot", [])["result"]

    def revert_to(self, snap: str) -> str:
        """Go back to `snap` (which anvil then forgets); returns a new snapshot of the same state."""
        assert self.w3.provider.make_request("evm_revert", [snap])["result"] is True
        return self.snapshot()

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

    # ------------------------------------------------------------------ signed windows (docs/settlement.md 3)

    def head(self) -> int:
        return self.w3.eth.block_number

    def block_hash_at(self, number: int) -> bytes:
        return bytes(self.w3.eth.get_block(number)["hash"])

    def mine(self, n: int = 1) -> None:
        """Mine `n` empty blocks (in chunks: one long anvil_mine can outlast the RPC timeout on a busy machine)."""
        while n > 0:
            self.anvil.mine(min(n, 25))
            n -= 25

    def origin(self, behind: int = 1) -> tuple[int, bytes]:
        """A real L1 origin `behind` blocks below the head (eth_call runs at the head, a transaction one
        block later, so 1 keeps both strictly in the past)."""
        n = self.head() - behind
        return n, self.block_hash_at(n)

    def build(self, n: int = 1, rollup_ids: tuple[int, ...] = (901,), batches: tuple[bytes, ...] | None = None,
              forced_to: tuple[int, ...] | None = None, origin: tuple[int, bytes] | None = None,
              start: int | None = None, parent: bytes | None = None, first_ts: int | None = None,
              signer: Signer | None = None, leaves: tuple[int, ...] = (901, 902),
              batch_hashes: tuple[bytes, ...] | None = None) -> Posting:
        """A signed posting of `n` fresh blocks continuing the inbox's firm chain (or from start/parent),
        every value what an honest sequencer would sign: forcedTo from the inbox's own count at the origin."""
        inbox = self.inbox.functions
        start = inbox.nextHeight().call() if start is None else start
        parent = bytes(inbox.lastBlockHash().call()) if parent is None else parent
        origin = origin or self.origin()
        if first_ts is None:
            now_ms = self.w3.eth.get_block("latest")["timestamp"] * 1000
            first_ts = max(inbox.lastTimestamp().call(), now_ms - 60_000)
        blocks = []
        for i in range(n):
            nss = tuple(Namespace(r, tuple(self.rng.randbytes(self.rng.randint(1, 40))
                                           for _ in range(self.rng.randint(1, 3)))) for r in leaves)
            h = BlockHeader(height=start + i, parent_hash=parent, timestamp_ms=first_ts + i,
                            l1_origin_number=origin[0], l1_origin_hash=origin[1], namespaces_root=namespaces_root(nss),
                            namespace_count=len(nss), bundles_root=ZERO_HASH)
            blocks.append(SharedBlock(h, self.sequencer.sign_header(h), nss))
            parent = block_hash(h)
        if batches is None:
            batches = tuple(self.rng.randbytes(30) for _ in rollup_ids)
        if forced_to is None:
            forced_to = tuple(inbox.forcedCountAt(r, origin[0]).call() for r in rollup_ids)
        witness = encode_witness(blocks)
        hashes = [keccak(b) for b in batches] if batch_hashes is None else list(batch_hashes)
        w = build_window(blocks, rollup_ids, hashes, forced_to, witness)
        return Posting(tuple(blocks), w, (signer or self.sequencer).sign_struct(window_struct_hash(w)),
                       tuple(rollup_ids), tuple(batches), tuple(forced_to), witness)

    def resign(self, p: Posting, signer: Signer | None = None, **fields: Any) -> Posting:
        """`p` with window fields replaced and signed again (by the sequencer unless `signer`)."""
        w = replace(p.window, **fields)
        return replace(p, window=w, signature=(signer or self.sequencer).sign_struct(window_struct_hash(w)))

    def post(self, p: Posting) -> Any:
        """The postWindow call of a posting."""
        return self.inbox.functions.postWindow(*p.args())


@dataclass(frozen=True)
class Posting:
    """A posting's arguments and the blocks it covers."""

    blocks: tuple[SharedBlock, ...]
    window: WindowCommitment
    signature: bytes
    rollup_ids: tuple[int, ...]
    batches: tuple[bytes, ...]
    forced_to: tuple[int, ...]
    witness: bytes

    def args(self) -> tuple:
        """postWindow(w, sig, rollupIds, batches, forcedTo, witness)."""
        return (window_tuple(self.window), self.signature, list(self.rollup_ids), list(self.batches),
                list(self.forced_to), self.witness)


@pytest.fixture(scope="module")
def anvil():
    with start_anvil(timeout=60) as a:
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
        keys=contract_at(w3, "SequencerKeys", manifest.address("SequencerKeys")),
        owner=owner, sequencer=sequencer, poster=poster, outsider=outsider, rng=random.Random(1234),
    )
