"""Deploy the cross-rollup margin contracts on the local rollups, through the sequencer.

    deployment = ensure_margin(engines, submit, params, record)    # idempotent

Rollup state only changes through the sequencer (the rollup nodes execute what it orders), so
every deployment transaction is signed here and submitted with `submit(rollup_id, raw_tx)`, then
waited for on that rollup's engine. Layout (docs/margin.md):

    every rollup:           SequencerKeyMirror (the sequencer's outcome keys, relayed from L1)
    margin rollup (first):  CollateralToken, PriceOracle, MarginAccount; tokens minted to `funded`,
                            the house's liquidity deposited
    perp rollup (second):   PriceOracle, PerpMarket
    option rollup (third):  PriceOracle, OptionsMarket

`record` is a dict (the deploy manifest's "margin" entry): when it holds a deployment whose code
is still on every engine, nothing is sent and the same deployment is returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from contracts.margin import load_margin_artifact
from sequencer.core import rlp_codec
from sequencer.errors import SharedSeqError
from sharedseq.margin import MarginDeployment, RollupAccount, calldata


class MarginDeployError(SharedSeqError):
    """A margin deployment transaction failed or a recorded deployment does not match the rollups."""


@dataclass(frozen=True, slots=True)
class MarginParams:
    """What the devnet deploys (docs/margin.md, "Parameters")."""

    l1_chain_id: int
    inbox: str
    sequencer: str
    """The sequencer's signing address at deployment: the genesis key of every SequencerKeyMirror."""
    rollups: tuple[int, int, int]
    """(margin rollup, perp rollup, option rollup)."""
    deployer_key: bytes
    """Deploys, owns the token, is the house (liquidity) and the oracle keeper."""
    funded: Mapping[str, int]
    """Addresses and the tokens minted to each."""
    house_liquidity: int = 10**24
    timeout_blocks: int = 20
    initial_price: int = 2000 * 10**18
    perp_im_bps: int = 1000
    perp_mm_bps: int = 500
    option_im_bps: int = 2000
    option_mm_bps: int = 1000
    option_time_value_bps: int = 200
    liquidation_reward_bps: int = 5000
    legacy_rollups: tuple[int, ...] = (903,)
    key_relayer: str | None = None
    """Who may mirror key changes onto the rollups (the owner of SequencerKeys on L1); default the deployer."""


def _create_address(sender: str, nonce: int) -> str:
    return to_checksum_address(keccak(rlp_codec.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def _init_code(name: str, types: list[str], args: list[Any]) -> bytes:
    return bytes.fromhex(load_margin_artifact(name)["bytecode"][2:]) + abi_encode(types, args)


def _wait(w3: Any, tx_hash: bytes, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except Exception:  # not executed yet (web3 raises TransactionNotFound)
            time.sleep(0.1)
            continue
        if receipt["status"] != 1:
            raise MarginDeployError(f"{what}: reverted (tx 0x{tx_hash.hex()})")
        return receipt
    raise MarginDeployError(f"{what}: not executed within {timeout}s (tx 0x{tx_hash.hex()})")


def _still_deployed(engines: Mapping[int, Any], d: MarginDeployment) -> bool:
    checks = [(d.margin_rollup, d.token), (d.margin_rollup, d.margin_account), (d.perp_rollup, d.perp_market),
              (d.option_rollup, d.options_market), *d.oracles.items(), *d.key_mirrors.items()]
    return all(rid in engines and len(engines[rid].eth.get_code(to_checksum_address(a))) > 0 for rid, a in checks)


def ensure_margin(engines: Mapping[int, Any], submit: Callable[[int, bytes], Any], params: MarginParams,
                  record: dict[str, Any] | None = None, log: Callable[[str], None] = lambda _m: None
                  ) -> MarginDeployment:
    """The deployment in `record` if its code is on the engines; otherwise deploy afresh and fill `record`."""
    if record and "token" in record and "key_mirrors" in record:  # older records had no key mirrors
        existing = MarginDeployment.from_dict(record)
        if _still_deployed(engines, existing):
            log(f"margin contracts already deployed (MarginAccount {existing.margin_account}); nothing sent")
            return existing
        log("margin record does not match the rollups (fresh engines?); deploying again")
    m, p, o = params.rollups
    me = RollupAccount(params.deployer_key)
    house = me.address
    sent: list[tuple[int, bytes, str]] = []

    def send(rid: int, to: str | None, data: bytes, what: str, gas: int = 3_000_000) -> None:
        raw = me.sign(rid, engines[rid], to=to, data=data, gas=gas, legacy=rid in params.legacy_rollups)
        submit(rid, raw)
        sent.append((rid, keccak(raw), what))

    def next_address(rid: int) -> str:
        if rid not in me.nonces:
            me.nonces[rid] = int(engines[rid].eth.get_transaction_count(house))
        return _create_address(house, me.nonces[rid])

    common = ["address", "uint256", "address", "uint256", "bytes32"]
    # The deployment id: the margin account's rollup and address (known before it is deployed), so no
    # two deployments share one and a bundle id cannot be replayed from one onto another.
    if m not in me.nonces:
        me.nonces[m] = int(engines[m].eth.get_transaction_count(house))
    margin_at = _create_address(house, me.nonces[m] + 3)  # after the key mirror, the oracle and the token
    deployment_id = keccak(abi_encode(["uint64", "address"], [m, margin_at]))
    relayer = to_checksum_address(params.key_relayer or house)
    mirrors: dict[int, str] = {}
    for rid in params.rollups:
        mirrors[rid] = next_address(rid)
        send(rid, None, _init_code("SequencerKeyMirror", ["address", "address"],
                                   [relayer, to_checksum_address(params.sequencer)]),
             f"rollup {rid}: SequencerKeyMirror")

    def base(rid: int) -> list[Any]:
        return [mirrors[rid], params.l1_chain_id, to_checksum_address(params.inbox), params.timeout_blocks,
                deployment_id]
    oracles: dict[int, str] = {}
    for rid in params.rollups:
        oracles[rid] = next_address(rid)
        send(rid, None, _init_code("PriceOracle", ["address", "uint256"], [house, params.initial_price]),
             f"rollup {rid}: PriceOracle")
    token = next_address(m)
    send(m, None, _init_code("CollateralToken", [], []), f"rollup {m}: CollateralToken")
    margin = next_address(m)
    if margin != margin_at:
        raise MarginDeployError(f"margin account would be at {margin}, expected {margin_at}")
    send(m, None, _init_code("MarginAccount", [*common, "address", "address", "uint256"],
                             [*base(m), token, house, params.liquidation_reward_bps]), f"rollup {m}: MarginAccount")
    perp = next_address(p)
    send(p, None, _init_code("PerpMarket", [*common, "address", "uint256", "uint256"],
                             [*base(p), oracles[p], params.perp_im_bps, params.perp_mm_bps]),
         f"rollup {p}: PerpMarket")
    options = next_address(o)
    send(o, None, _init_code("OptionsMarket", [*common, "address", "uint256", "uint256", "uint256"],
                             [*base(o), oracles[o], params.option_im_bps, params.option_mm_bps,
                              params.option_time_value_bps]), f"rollup {o}: OptionsMarket")
    mint = "mint(address,uint256)"
    for who, amount in {**params.funded, house: params.house_liquidity}.items():
        send(m, token, calldata(mint, ["address", "uint256"], [to_checksum_address(who), amount]),
             f"mint {amount} to {who}", gas=100_000)
    send(m, token, calldata("approve(address,uint256)", ["address", "uint256"], [margin, params.house_liquidity]),
         "house approve", gas=100_000)
    send(m, margin, calldata("deposit(uint256)", ["uint256"], [params.house_liquidity]), "house deposit",
         gas=200_000)
    for rid, tx_hash, what in sent:
        _wait(engines[rid], tx_hash, what)
    d = MarginDeployment(l1_chain_id=params.l1_chain_id, inbox=to_checksum_address(params.inbox),
                         sequencer=to_checksum_address(params.sequencer), margin_rollup=m, perp_rollup=p,
                         option_rollup=o, token=token, margin_account=margin, perp_market=perp,
                         options_market=options, oracles=oracles, house=house, keeper=house,
                         deployment_id="0x" + deployment_id.hex(), key_mirrors=mirrors, key_relayer=relayer)
    if not _still_deployed(engines, d):
        raise MarginDeployError("margin contracts deployed but their code is missing on an engine")
    log(f"margin: MarginAccount {margin} and token {token} on {m}, PerpMarket {perp} on {p}, "
        f"OptionsMarket {options} on {o}, oracles {oracles}")
    if record is not None:
        record.clear()
        record.update(d.to_dict())
    return d


def key_address(key: bytes) -> str:
    return str(Account.from_key(key).address)


DEVNET_ROLES = {"deployer": 6, "trader": 7, "trader2": 8, "relayer": 9, "keeper": 4}
"""anvil dev accounts the devnet's margin deployment uses (the demo's transfers use account 5)."""


async def start_devnet_margin(tg: Any, *, workdir: Any, sequencer: str, engines: Mapping[int, str], l1_chain_id: int,
                              inbox: str, sequencer_key: bytes, rollups: tuple[int, int, int],
                              say: Callable[[str], None], timeout_blocks: int = 20,
                              console: Any = None) -> dict[str, Any]:
    """Deploy (or find) the margin contracts through the running sequencer, record them in the
    manifest (`extra.margin`) and start the operator's coordinator in `tg`; returns the record.
    `console`: the console's Sampler, to which a MarginView (sequencer/console/margin.py) is added."""
    import json
    from pathlib import Path

    import anyio.to_thread
    import grpc
    from web3 import Web3

    from sequencer.core.signing import Domain, Signer
    from sequencer.devtools.anvil import dev_accounts
    from sequencer.margin.coordinator import Coordinator
    from sharedseq.v1 import sequencer_pb2 as pb
    from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc

    accts = dev_accounts()
    signer = Signer(sequencer_key, Domain(l1_chain_id, bytes.fromhex(inbox[2:])))
    manifest_path = Path(workdir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    record: dict[str, Any] = dict(manifest.get("extra", {}).get("margin", {}))
    params = MarginParams(l1_chain_id=l1_chain_id, inbox=inbox, sequencer="0x" + signer.address.hex(),
                          rollups=rollups, deployer_key=accts[DEVNET_ROLES["deployer"]].key,
                          funded={accts[DEVNET_ROLES[r]].address: 100_000 * 10**18 for r in ("trader", "trader2")},
                          timeout_blocks=timeout_blocks)
    w3s = {rid: Web3(Web3.HTTPProvider(url)) for rid, url in engines.items()}
    channel = grpc.insecure_channel(sequencer)
    stub = pb_grpc.SequencerServiceStub(channel)

    def submit(rid: int, raw: bytes) -> None:
        stub.SubmitTransaction(pb.SubmitTransactionRequest(transaction=pb.Transaction(rollup_id=rid, payload=raw)),
                               timeout=10)
    try:
        deployment = await anyio.to_thread.run_sync(lambda: ensure_margin(w3s, submit, params, record, log=say))
    finally:
        channel.close()
    manifest.setdefault("extra", {})["margin"] = record
    if manifest_path.exists():
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    coordinator = Coordinator(deployment, engines, sequencer, signer, accts[DEVNET_ROLES["relayer"]].key,
                              timeout_blocks=timeout_blocks, decisions_file=Path(workdir) / "margin-decisions.jsonl")
    await tg.start(coordinator.run)
    if console is not None:
        from sequencer.console.margin import MarginView
        from sharedseq.margin import MarginDesk

        def read_only(_legs: Any) -> None:
            raise MarginDeployError("the console's margin view never submits")
        view = MarginView(MarginDesk(deployment, w3s, submit_bundle=read_only),
                          {role: accts[DEVNET_ROLES[role]].address for role in ("trader", "trader2", "keeper")}
                          | {"house": deployment.house})
        await tg.start(view.run)
        console.sources.append(view)
    return {**record, "timeout_blocks": timeout_blocks}
