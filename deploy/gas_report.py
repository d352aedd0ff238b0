"""Gas used by the L1 contracts' main calls, measured on a throwaway anvil.

    python -m deploy.gas_report          prints one line per call
    measure_gas() -> dict[str, int]       for the benchmark (make bench)
"""

from __future__ import annotations

import sys
from typing import Any

from eth_account import Account
from web3 import Web3

from deploy.bench_proofs import measure_proofs
from sequencer.core.commitments import namespaces_root
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.devtools.anvil import start_anvil
from sequencer.l1.inbox import post_window_args

from .deployer import DeployConfig, RollupSpec, Sender, contract_at, deploy_all


def _blocks(start: int, parent: bytes, n: int, origin: tuple[int, bytes], signer: Signer) -> list[SharedBlock]:
    """`n` signed blocks from height `start` on L1 origin `origin` (a real L1 block: the inbox checks it)."""
    out = []
    for i in range(n):
        nss = (Namespace(901, (b"\x02" * 120,) * 3), Namespace(902, (b"\x04" * 120,) * 2))
        h = BlockHeader(start + i, parent, 1_700_000_000_000 + 100 * (start + i), origin[0], origin[1],
                        namespaces_root(nss), len(nss), ZERO_HASH)
        out.append(SharedBlock(h, signer.sign_header(h), nss))
        parent = block_hash(h)
    return out


def measure_gas() -> dict[str, int]:
    """Deploy, post windows of several shapes, enqueue a forced tx, slash once; gas per call."""
    gas: dict[str, int] = {}
    with start_anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        owner, seq, poster = (a.key for a in anvil.accounts[:3])
        config = DeployConfig(
            rollups=(RollupSpec(901, "op", "opstack", 2000), RollupSpec(902, "arb", "nitro", 250),
                     RollupSpec(903, "zk", "zkevm", 1000)),
            sequencer_address=Account.from_key(seq).address, batcher_address=Account.from_key(poster).address)
        deploy_log: list[str] = []
        manifest = deploy_all(w3, owner, config, log=deploy_log.append)
        for line in deploy_log:
            if line.startswith("  deploy "):
                name, rest = line[len("  deploy "):].split(":", 1)
                gas[f"deploy {name}"] = int(rest.rsplit("gas ", 1)[1])
        inbox = contract_at(w3, "SequencerInbox", manifest.address("SequencerInbox"))
        bond = contract_at(w3, "SequencerBond", manifest.address("SequencerBond"))
        signer = Signer(seq, Domain(w3.eth.chain_id, bytes.fromhex(inbox.address[2:])))
        batcher = Sender(w3, poster)
        anyone = Sender(w3, owner)

        def used(sender: Sender, fn: Any, value: int = 0) -> int:
            return int(sender.transact(fn, "measure", value=value)["gasUsed"])

        height, parent = 0, ZERO_HASH
        for blocks, batch_bytes in ((1, 0), (10, 1_000), (20, 10_000), (100, 10_000)):
            origin = w3.eth.block_number - 1  # before the block the gas estimate runs in
            window = _blocks(height, parent, blocks, (origin, bytes(w3.eth.get_block(origin)["hash"])), signer)
            fn = inbox.functions.postWindow(*post_window_args(window, [901, 902, 903], [b"\x5a" * batch_bytes] * 3,
                                                              [0, 0, 0], signer))
            gas[f"postWindow {blocks} blocks, 3 x {batch_bytes} B"] = used(batcher, fn)
            height, parent = window[-1].height + 1, block_hash(window[-1].header)
        gas["enqueueForced 200 B"] = used(anyone, inbox.functions.enqueueForced(901, b"\x02" * 200))
        gas["deposit bond"] = used(anyone, bond.functions.deposit(), value=10**18)
    # Every proof shape, committed and revealed (commit-reveal, SequencerBond): deploy/bench_proofs.py.
    gas.update(measure_proofs())
    return gas


def main() -> int:
    for name, g in measure_gas().items():
        print(f"{name:45} {g:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
