"""Deploy the L1 contracts and keep a manifest of what was deployed.

    manifest = deploy_all(w3, deployer_key, config)          # fresh deployment
    manifest, sent = ensure_deployed(w3, key, config, path)  # idempotent: verify, converge, or deploy

Order (docs/settlement.md): RollupRegistry(owner) → SequencerKeys(owner, sequencer key,
keyActivationDelay, keyChallengePeriod) → SequencerInbox(owner, registry, keys, ...) →
keys.setInbox(inbox) → SequencerBond(owner, keys, inbox, params) → inbox.setBond(bond); then the
batcher poster is authorised, every `[[rollups]]` entry is registered and `bond_wei` is deposited.
The sequencer key is SequencerKeys' genesis key (signs from height 0, usable at once); a signer
added to the config later is added with `addKey(key, inbox.nextHeight())` and signs windows after
the activation delay. A second run against the same manifest sends nothing.

Config (TOML, every key but `rollups` optional; bounds are the contracts' and are checked first):

    [l1]
    force_inclusion_delay = 50        # L1 blocks (1..255): every posting listing a rollup applies a forced tx
                                      # enqueued this long ago; also how far a window's L1 origin may lag
                                      # its posting (the inbox's maxOriginLag)
    max_window_blocks = 4096          # most shared blocks per posting (1..4096)
    max_clock_drift_ms = 30000        # how far a window's last timestamp may run ahead of L1 (1000..3600000)
    catch_up_after_ms = 300000        # a window older than this is a catch-up window whose origin may lag
                                      # more than force_inclusion_delay (10000..604800000); keep it below
                                      # force_inclusion_delay L1 block times
    key_activation_delay = 10         # L1 blocks before a newly added key may sign windows (1..50400)
    key_challenge_period = 100        # L1 blocks a retired key stays slashable (100..1000000)
    minimum_bond_wei = 10**17         # the inbox refuses windows while less is at stake (> 0)
    bond_wei = minimum_bond_wei       # deposited from the deployer on a fresh deployment (0 or >= minimum)
    reporter_share_bps = 1000         # reporter's share of a slashed bond (0..2000 = 20%)
    max_reward_wei = 10**18           # absolute cap on a reporter's reward (> 0)
    withdrawal_delay = 100            # L1 blocks a bond withdrawal waits (1..1000000)
    withdrawal_window = 100           # L1 blocks a ready withdrawal stays usable, then expires (1..50400)
    claim_delay = 10                  # L1 blocks before a reporter's reward is paid (10..50400)

    [sequencer]
    address = "0x..."                 # the signing key's address, or
    key_file = "sequencer.key"        # a file holding the hex private key (relative to the config)

    [batcher]
    address = "0x..."                 # the poster; or key_file; default: the deployer

    [[rollups]]
    id = 901                          # the rollup's chain id (uint64)
    name = "op-devnet"
    format = "opstack"                # "opstack" | "nitro" | "zkevm"
    block_time_ms = 2000
    genesis_time_ms = 0               # optional
    operator = "0x..."                # optional, default: the deployer
    max_forced_tx_bytes = 120000      # optional, default FORCED_TX_LIMITS[format]; 1..131072

The registry stores config = abi.encode(uint64 block_time_ms, uint64 genesis_time_ms) and the format as
left-aligned ASCII in a bytes32. Transactions are signed locally with eth_account and sent raw.

Manifest (JSON, `Manifest.to_json`, version 2):

    {"version": 2, "chain_id": int, "deployer": address,
     "contracts": {name: {"address", "block", "tx_hash", "code_hash", "artifact_hash", "source_hash"}}
                  for RollupRegistry, SequencerKeys, SequencerInbox, SequencerBond,
     "signers": [address, ...],       # keys registered in SequencerKeys (the first is the genesis key)
     "posters": [address, ...],       # accounts allowed to post windows
     "rollups": [{"id", "name", "format", "block_time_ms", "genesis_time_ms", "operator"}, ...],
     "params": {every [l1] key above: int},
     "extra": {}}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.types import TxParams

from contracts import load_artifact
from contracts.compile import artifacts_fresh, compile_all, write_artifacts
from rollup_adapters.registry import ByFormat, names
from sequencer.configfile import defaults_of, load_table, read_toml
from sequencer.errors import ConfigError, SharedSeqError

CONTRACT_NAMES = ("RollupRegistry", "SequencerKeys", "SequencerInbox", "SequencerBond")
FORCED_TX_LIMITS = ByFormat("max_forced_tx_bytes")
"""Default RollupRegistry maxForcedTxBytes per format, from each format's registry entry
(rollup_adapters/spec.py FormatLimits; a mapping of every registered format): the largest forced
transaction the format can carry, so the inbox refuses at enqueue what the rollup could never apply
(issue 8, finding 5).

The built-in formats' figures, and why:

- opstack: 120,000 bytes, OptimismPortal's limit on the data of an L1-forced (deposit) transaction
  (`LargeCalldata`, `_data.length > 120_000`), the OP Stack's own bound for what L1 may force in.
- nitro: 117,964 bytes, the Arbitrum One Inbox's `maxDataSize` for an L2 message sent through the
  delayed inbox (`DataTooLarge`), which is how Nitro receives forced transactions.
- zkevm: 4,900 bytes. A forced transaction becomes a forced batch, at most 5,000 bytes
  (PolygonRollupBaseEtrog `_MAX_FORCE_BATCH_BYTE_LENGTH`, rollup_adapters/zkevm batch_v2.py); its batch
  entry is the raw legacy transaction re-encoded with fixed 32-byte r and s, chain id fields and the
  effective-percentage byte, at most 66 bytes longer, so 4,900 always fits with room to spare. (The
  120,000-byte `_MAX_TRANSACTIONS_BYTE_LENGTH` bounds sequenced batches, not forced ones.)
"""
MANIFEST_VERSION = 2

PARAM_BOUNDS: dict[str, tuple[int, int | None]] = {
    "force_inclusion_delay": (1, 255),
    "max_window_blocks": (1, 4096),
    "max_clock_drift_ms": (1_000, 3_600_000),
    "catch_up_after_ms": (10_000, 7 * 86_400_000),
    "key_activation_delay": (1, 50_400),
    "key_challenge_period": (100, 1_000_000),
    "minimum_bond_wei": (1, None),
    "bond_wei": (0, None),
    "reporter_share_bps": (0, 2000),
    "max_reward_wei": (1, None),
    "withdrawal_delay": (1, 1_000_000),
    "withdrawal_window": (1, 50_400),
    "claim_delay": (10, 50_400),
}
"""Every [l1] parameter with the bounds its contract enforces (SequencerKeys / SequencerBond constants;
tests/contracts/test_deploy.py compares them), checked before anything is sent."""


class DeployError(SharedSeqError):
    """A deployment step failed, the config is wrong, or a manifest does not match the chain."""


class DeployConfigError(DeployError, ConfigError):
    """The deploy config file cannot work; the message names `table.key` (exit code 78, sequencer/cli.py)."""


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class RollupSpec:
    """One `[[rollups]]` entry."""

    id: int
    name: str
    format: str
    block_time_ms: int
    operator: str | None = None
    genesis_time_ms: int = 0
    max_forced_tx_bytes: int | None = None  # None: FORCED_TX_LIMITS[format]

    @property
    def forced_tx_limit(self) -> int:
        """RollupRegistry maxForcedTxBytes: the entry's own value, else the format's default."""
        return FORCED_TX_LIMITS[self.format] if self.max_forced_tx_bytes is None else self.max_forced_tx_bytes

    def format_bytes32(self) -> bytes:
        return self.format.encode().ljust(32, b"\x00")

    def config_bytes(self) -> bytes:
        return abi_encode(["uint64", "uint64"], [self.block_time_ms, self.genesis_time_ms])


@dataclass(frozen=True, slots=True)
class DeployConfig:
    """What to deploy: parameters, the sequencer signer, the batcher, the rollups."""

    rollups: tuple[RollupSpec, ...]
    sequencer_address: str | None = None
    batcher_address: str | None = None
    force_inclusion_delay: int = 50
    max_window_blocks: int = 4096
    max_clock_drift_ms: int = 30_000
    catch_up_after_ms: int = 300_000
    key_activation_delay: int = 10
    key_challenge_period: int = 100
    minimum_bond_wei: int = 10**17
    bond_wei: int | None = None  # None: deposit minimum_bond_wei
    reporter_share_bps: int = 1000
    max_reward_wei: int = 10**18
    withdrawal_delay: int = 100
    withdrawal_window: int = 100
    claim_delay: int = 10

    def params(self) -> dict[str, int]:
        """The [l1] parameters as the manifest records them (bond_wei resolved)."""
        out = {name: getattr(self, name) for name in PARAM_BOUNDS}
        out["bond_wei"] = self.minimum_bond_wei if self.bond_wei is None else self.bond_wei
        return out

    def check(self) -> None:
        """Raise DeployError naming every [l1] parameter outside the contracts' bounds."""
        problems = []
        params = self.params()
        for name, (lo, hi) in PARAM_BOUNDS.items():
            value = params[name]
            if value < lo or (hi is not None and value > hi):
                problems.append(f"[l1] {name} = {value}: must be in {lo}..{'' if hi is None else hi}")
        if 0 < params["bond_wei"] < params["minimum_bond_wei"]:
            problems.append(f"[l1] bond_wei = {params['bond_wei']}: must be 0 or at least minimum_bond_wei "
                            f"({params['minimum_bond_wei']}), or the inbox refuses every window")
        if problems:
            raise DeployError("config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | None = None) -> DeployConfig:
        """The config from a parsed file (sequencer/configfile.py): [l1] parameters, [sequencer] and
        [batcher] address or key file, [[rollups]]. Options the sequencer or the batcher read from the
        same tables are accepted, so one file can feed both."""
        try:
            return cls._from_dict(data, base_dir)
        except DeployConfigError:
            raise
        except ConfigError as exc:
            raise DeployConfigError(exc.key, exc.problem, str(exc)) from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], base_dir: Path | None) -> DeployConfig:
        from sequencer.config import RollupTable, SequencerTable
        from sequencer.configfile import options_of
        from sequencer.l1.batcher import BatcherFile

        params = load_table(L1Params, data.get("l1", {}), "l1")
        rollups = []
        entries = data.get("rollups", [])
        if not isinstance(entries, list):
            raise DeployConfigError("rollups", f"expected an array of tables ([[rollups]]), got {entries!r}")
        for i, r in enumerate(entries):
            where = f"rollups[{i}]"
            if isinstance(r, dict) and "id" in r and "name" not in r:
                r = {**r, "name": f"rollup-{r['id']}"}
            # The sequencer's own options of the entry (policy) are its to check.
            spec = load_table(RollupSpec, r, where, table="rollups",
                              ignore=frozenset(options_of(RollupTable)) - frozenset(options_of(RollupSpec)))
            if spec.format not in names():
                raise DeployConfigError(f"{where}.format", f"format {spec.format!r} not one of {', '.join(names())}")
            if not 0 < spec.id < 2**64:
                raise DeployConfigError(f"{where}.id", "id must be a non-zero uint64")
            if spec.operator is not None:
                spec = replace(spec, operator=_checksum(spec.operator, f"{where}.operator"))
            rollups.append(spec)
        ids = [r.id for r in rollups]
        if len(set(ids)) != len(ids):
            raise DeployConfigError("rollups", "duplicate id")
        return cls(
            rollups=tuple(rollups),
            sequencer_address=_address_from(data.get("sequencer", {}), base_dir, "sequencer",
                                            frozenset(options_of(SequencerTable))),
            batcher_address=_address_from(data.get("batcher", {}), base_dir, "batcher",
                                          frozenset(options_of(BatcherFile))),
            **{name: getattr(params, name) for name in PARAM_BOUNDS},
        )


_DEPLOY_DEFAULTS = defaults_of(DeployConfig)


@dataclass(frozen=True, slots=True)
class L1Params:
    """The [l1] table: every contract parameter (PARAM_BOUNDS), defaults DeployConfig's. Bounds are
    checked by `DeployConfig.check`, before anything is sent."""

    force_inclusion_delay: int = _DEPLOY_DEFAULTS["force_inclusion_delay"]
    max_window_blocks: int = _DEPLOY_DEFAULTS["max_window_blocks"]
    max_clock_drift_ms: int = _DEPLOY_DEFAULTS["max_clock_drift_ms"]
    catch_up_after_ms: int = _DEPLOY_DEFAULTS["catch_up_after_ms"]
    key_activation_delay: int = _DEPLOY_DEFAULTS["key_activation_delay"]
    key_challenge_period: int = _DEPLOY_DEFAULTS["key_challenge_period"]
    minimum_bond_wei: int = _DEPLOY_DEFAULTS["minimum_bond_wei"]
    bond_wei: int | None = _DEPLOY_DEFAULTS["bond_wei"]
    reporter_share_bps: int = _DEPLOY_DEFAULTS["reporter_share_bps"]
    max_reward_wei: int = _DEPLOY_DEFAULTS["max_reward_wei"]
    withdrawal_delay: int = _DEPLOY_DEFAULTS["withdrawal_delay"]
    withdrawal_window: int = _DEPLOY_DEFAULTS["withdrawal_window"]
    claim_delay: int = _DEPLOY_DEFAULTS["claim_delay"]


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """[sequencer] or [batcher] of a deploy config: the account's address, or its key file."""

    address: str | None = None
    key_file: Path | None = None


def load_config(path: str | Path) -> DeployConfig:
    """Parse a deploy TOML file (key files resolve relative to it)."""
    path = Path(path)
    try:
        data = read_toml(path)
    except ConfigError as exc:
        raise DeployConfigError(exc.key, exc.problem, str(exc)) from None
    return DeployConfig.from_dict(data, path.parent)


def read_key_file(path: str | Path) -> bytes:
    """A 32-byte private key stored as hex (0x optional) in a text file."""
    text = Path(path).read_text().strip()
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise DeployError(f"{path}: not a hex private key") from exc
    if len(key) != 32:
        raise DeployError(f"{path}: a private key is 32 bytes, got {len(key)}")
    return key


def _checksum(addr: str, key: str = "address") -> str:
    try:
        return to_checksum_address(addr)
    except ValueError as exc:
        raise DeployConfigError(key, f"not an address: {addr!r}") from exc


def _address_from(table: Any, base_dir: Path | None, what: str, ignore: frozenset[str]) -> str | None:
    """The account of a [sequencer] / [batcher] table: `address`, else the key in `key_file`; the
    other options of that table (`ignore`) belong to the program of that name."""
    holder = load_table(KeyHolder, table, what, ignore=ignore - {"address", "key_file"})
    if holder.address:
        return _checksum(holder.address, f"{what}.address")
    if holder.key_file is not None:
        p = holder.key_file
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        try:
            return Account.from_key(read_key_file(p)).address
        except OSError as exc:
            raise DeployConfigError(f"{what}.key_file", f"cannot read {p} ({exc.strerror or exc})") from None
    return None


# ---------------------------------------------------------------------------- manifest


@dataclass(slots=True)
class ContractRecord:
    """One deployed contract."""

    address: str
    block: int
    tx_hash: str
    code_hash: str  # keccak of the runtime code on chain
    artifact_hash: str  # keccak of the artifact's creation bytecode
    source_hash: str


@dataclass(slots=True)
class Manifest:
    """What `deploy` wrote: chain, contracts, signer, poster, rollups and parameters."""

    chain_id: int
    deployer: str
    contracts: dict[str, ContractRecord]
    signers: list[str]
    posters: list[str]
    rollups: list[dict[str, Any]]
    params: dict[str, int]
    version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def address(self, name: str) -> str:
        return self.contracts[name].address

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        d = json.loads(text)
        d["contracts"] = {k: ContractRecord(**v) for k, v in d["contracts"].items()}
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        try:
            return cls.from_json(Path(path).read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DeployError(f"{path}: not a deploy manifest ({exc})") from exc


# ---------------------------------------------------------------------------- transactions


class Sender:
    """Signs transactions locally with eth_account and sends them raw, one after the other."""

    def __init__(self, w3: Web3, key: bytes, log: Callable[[str], None] = lambda _m: None) -> None:
        self.w3 = w3
        self.account = Account.from_key(key)
        self.chain_id = w3.eth.chain_id
        self.log = log
        self.sent = 0

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def send(self, tx: dict[str, Any], what: str) -> Any:
        tx = dict(tx)
        tx.setdefault("from", self.address)
        tx.setdefault("value", 0)
        tx["chainId"] = self.chain_id
        tx["nonce"] = self.w3.eth.get_transaction_count(self.address, "pending")
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = self.w3.to_wei(1, "gwei")
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * base + tip
        tx.pop("gasPrice", None)
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(cast(TxParams, tx)) * 1.2) + 10_000
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        self.sent += 1
        if receipt["status"] != 1:
            raise DeployError(f"{what}: transaction {tx_hash.hex()} reverted")
        self.log(f"  {what}: block {receipt['blockNumber']}, gas {receipt['gasUsed']}")
        return receipt

    def transact(self, fn: Any, what: str, value: int = 0) -> Any:
        """Send a contract function call (web3 ContractFunction) and wait for its receipt."""
        return self.send(_without_gas(fn.build_transaction({"from": self.address, "value": value})), what)


def _without_gas(tx: dict[str, Any]) -> dict[str, Any]:
    tx = dict(tx)
    for k in ("gas", "nonce", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
        tx.pop(k, None)
    return tx


def contract_at(w3: Web3, name: str, address: str) -> Any:
    """A web3 contract object for a deployed contract."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name)["abi"])


def _masked_runtime(code: bytes, artifact: dict) -> bytes:
    """Runtime code with the immutable slots zeroed, as solc leaves them in the artifact."""
    out = bytearray(code)
    for refs in artifact.get("immutableReferences", {}).values():
        for ref in refs:
            out[ref["start"]: ref["start"] + ref["length"]] = b"\x00" * ref["length"]
    return bytes(out)


def _artifact_hash(artifact: dict) -> str:
    return "0x" + keccak(hexstr=artifact["bytecode"]).hex()


# ---------------------------------------------------------------------------- deploy


def ensure_artifacts(log: Callable[[str], None] = lambda _m: None) -> None:
    """Compile the contracts if the committed artifacts do not match the sources."""
    if not artifacts_fresh():
        log("compiling contracts (artifacts missing or stale)")
        write_artifacts(compile_all())


def _deploy_contract(w3: Web3, sender: Sender, name: str, *args: Any) -> ContractRecord:
    art = load_artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = _without_gas(factory.constructor(*args).build_transaction({"from": sender.address}))
    receipt = sender.send(tx, f"deploy {name}")
    address = receipt["contractAddress"]
    code = bytes(w3.eth.get_code(address))
    if _masked_runtime(code, art) != bytes.fromhex(art["deployedBytecode"][2:]):
        raise DeployError(f"{name}: deployed code at {address} does not match the artifact")
    return ContractRecord(
        address=address,
        block=receipt["blockNumber"],
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        code_hash="0x" + keccak(code).hex(),
        artifact_hash=_artifact_hash(art),
        source_hash=art["sourceHash"],
    )


def _rollup_record(spec: RollupSpec, operator: str) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "format": spec.format,
        "block_time_ms": spec.block_time_ms,
        "genesis_time_ms": spec.genesis_time_ms,
        "operator": operator,
        "max_forced_tx_bytes": spec.forced_tx_limit,
    }


def _inbox_constructor_args(me: str, registry: str, keys: str, config: DeployConfig) -> list[Any]:
    """SequencerInbox's constructor arguments, matched by parameter name so the inbox's signature and
    this table cannot silently disagree (a parameter missing here is a DeployError naming it)."""
    known: dict[str, Any] = {
        "initialOwner": me,
        "registry_": registry,
        "keys_": keys,
        "maxOriginLag_": config.force_inclusion_delay,
        "maxWindowBlocks_": config.max_window_blocks,
        "maxClockDriftMs_": config.max_clock_drift_ms,
        "catchUpAfterMs_": config.catch_up_after_ms,
    }
    abi = load_artifact("SequencerInbox")["abi"]
    ctor: dict[str, Any] = next((i for i in abi if i["type"] == "constructor"), {"inputs": []})
    missing = [i["name"] for i in ctor["inputs"] if i["name"] not in known]
    if missing:
        raise DeployError(f"SequencerInbox constructor takes {', '.join(missing)}, unknown to deploy/deployer.py "
                          "(_inbox_constructor_args)")
    return [known[i["name"]] for i in ctor["inputs"]]


def _has_function(contract: Any, name: str) -> bool:
    return any(i.get("type") == "function" and i.get("name") == name for i in contract.abi)


def _bond_params(params: dict[str, int]) -> tuple[int, int, int, int, int, int]:
    """SequencerBond.Params(minimumBond, reporterShareBps, maxReward, withdrawalDelay, withdrawalWindow, claimDelay)."""
    return (params["minimum_bond_wei"], params["reporter_share_bps"], params["max_reward_wei"],
            params["withdrawal_delay"], params["withdrawal_window"], params["claim_delay"])


def deploy_all(w3: Web3, deployer_key: bytes, config: DeployConfig | dict[str, Any],
               log: Callable[[str], None] = lambda _m: None) -> Manifest:
    """Deploy registry, keys, inbox and bond; wire them; authorise the poster; register the rollups;
    deposit the bond."""
    if isinstance(config, dict):
        config = DeployConfig.from_dict(config)
    config.check()
    ensure_artifacts(log)
    sender = Sender(w3, deployer_key, log)
    me = sender.address
    signer = config.sequencer_address
    if signer is None:
        raise DeployError("config: [sequencer] needs `address` or `key_file` (the header signing key)")
    poster = config.batcher_address or me
    params = config.params()
    log(f"deploying to chain {sender.chain_id} from {me}")
    records = {
        "RollupRegistry": _deploy_contract(w3, sender, "RollupRegistry", me),
        "SequencerKeys": _deploy_contract(w3, sender, "SequencerKeys", me, signer, config.key_activation_delay,
                                          config.key_challenge_period),
    }
    records["SequencerInbox"] = _deploy_contract(
        w3, sender, "SequencerInbox",
        *_inbox_constructor_args(me, records["RollupRegistry"].address, records["SequencerKeys"].address, config))
    keys = contract_at(w3, "SequencerKeys", records["SequencerKeys"].address)
    sender.transact(keys.functions.setInbox(records["SequencerInbox"].address), "keys: set inbox")
    records["SequencerBond"] = _deploy_contract(
        w3, sender, "SequencerBond", me, records["SequencerKeys"].address, records["SequencerInbox"].address,
        _bond_params(params))
    manifest = Manifest(
        chain_id=sender.chain_id,
        deployer=me,
        contracts=records,
        signers=[signer],
        posters=[poster],
        rollups=[_rollup_record(r, r.operator or me) for r in config.rollups],
        params=params,
    )
    _converge(w3, sender, manifest)
    if params["bond_wei"]:
        bond = contract_at(w3, "SequencerBond", records["SequencerBond"].address)
        sender.transact(bond.functions.deposit(), f"bond deposit {params['bond_wei']} wei", value=params["bond_wei"])
    return manifest


def _converge(w3: Web3, sender: Sender | None, manifest: Manifest) -> list[str]:
    """Bring wiring, keys, posters and registrations to what the manifest says.

    With `sender=None` nothing is sent: the differences are returned instead.
    """
    inbox = contract_at(w3, "SequencerInbox", manifest.address("SequencerInbox"))
    registry = contract_at(w3, "RollupRegistry", manifest.address("RollupRegistry"))
    keys = contract_at(w3, "SequencerKeys", manifest.address("SequencerKeys"))
    bond_address = manifest.address("SequencerBond")
    todo: list[tuple[str, Any]] = []
    if int(keys.functions.inbox().call(), 16) == 0:
        todo.append(("keys: set inbox", keys.functions.setInbox(inbox.address)))
    if _has_function(inbox, "setBond") and _checksum(inbox.functions.bond().call()) != _checksum(bond_address):
        todo.append(("inbox: set bond", inbox.functions.setBond(bond_address)))
    for s in manifest.signers:
        _first, added_at, _active, retired_at, _rh, _until = keys.functions.keyInfo(s).call()
        if retired_at:
            raise DeployError(f"signer {s} is retired in SequencerKeys and cannot come back: use a new key")
        if not added_at:
            todo.append((f"add key {s}", keys.functions.addKey(s, inbox.functions.nextHeight().call())))
        if _has_function(inbox, "setSigner") and not inbox.functions.isSigner(s).call():
            todo.append((f"add signer {s} (inbox key set)", inbox.functions.setSigner(s, True)))
    for p in manifest.posters:
        if not inbox.functions.isPoster(p).call():
            todo.append((f"add poster {p}", inbox.functions.setPoster(p, True)))
    for r in manifest.rollups:
        spec = RollupSpec(r["id"], r["name"], r["format"], r["block_time_ms"], r["operator"], r["genesis_time_ms"],
                          r.get("max_forced_tx_bytes"))
        want = (spec.format_bytes32(), _checksum(r["operator"]), spec.name, spec.config_bytes(), spec.forced_tx_limit)
        args = (spec.id, *want)
        if not registry.functions.isRegistered(spec.id).call():
            todo.append((f"register rollup {spec.id} ({spec.name}, {spec.format})", registry.functions.register(*args)))
            continue
        fmt, operator, _paused, limit, name, cfg = registry.functions.getRollup(spec.id).call()
        if (bytes(fmt), _checksum(operator), name, bytes(cfg), limit) != want:
            todo.append((f"update rollup {spec.id} ({spec.name})", registry.functions.update(*args)))
    if sender is None:
        return [what for what, _ in todo]
    for what, fn in todo:
        sender.transact(fn, what)
    return [what for what, _ in todo]


def verify_manifest(w3: Web3, manifest: Manifest) -> list[str]:
    """Problems that make the manifest unusable on this chain (empty list: code matches)."""
    if manifest.version != MANIFEST_VERSION:
        return [f"manifest version {manifest.version}, this deploy writes version {MANIFEST_VERSION} "
                "(the contracts changed): deploy afresh with a new --manifest"]
    problems = []
    chain_id = w3.eth.chain_id
    if chain_id != manifest.chain_id:
        return [f"manifest is for chain {manifest.chain_id}, the RPC serves chain {chain_id}"]
    for name in CONTRACT_NAMES:
        rec = manifest.contracts.get(name)
        if rec is None:
            problems.append(f"{name}: not in the manifest")
            continue
        code = bytes(w3.eth.get_code(to_checksum_address(rec.address)))
        if not code:
            problems.append(f"{name}: no code at {rec.address}")
            continue
        if "0x" + keccak(code).hex() != rec.code_hash:
            problems.append(f"{name}: code hash at {rec.address} differs from the manifest")
        art = load_artifact(name)
        if _artifact_hash(art) != rec.artifact_hash:
            problems.append(f"{name}: the artifact changed since this manifest was written (redeploy)")
        elif _masked_runtime(code, art) != bytes.fromhex(art["deployedBytecode"][2:]):
            problems.append(f"{name}: code at {rec.address} does not match the artifact")
    return problems


def manifest_for_config(manifest: Manifest, config: DeployConfig) -> Manifest:
    """The manifest updated with the config's signer, poster and rollups (addresses unchanged)."""
    signers = list(manifest.signers)
    if config.sequencer_address and config.sequencer_address not in signers:
        signers.append(config.sequencer_address)
    posters = list(manifest.posters)
    if config.batcher_address and config.batcher_address not in posters:
        posters.append(config.batcher_address)
    by_id = {r["id"]: r for r in manifest.rollups}
    for spec in config.rollups:
        by_id[spec.id] = _rollup_record(spec, spec.operator or manifest.deployer)
    return Manifest(
        chain_id=manifest.chain_id, deployer=manifest.deployer, contracts=manifest.contracts, signers=signers,
        posters=posters, rollups=[by_id[k] for k in sorted(by_id)], params=manifest.params,
        version=manifest.version, extra=manifest.extra,
    )


def param_differences(manifest: Manifest, config: DeployConfig) -> list[str]:
    """The config's [l1] parameters that differ from those the manifest was deployed with."""
    return [f"{name}: config has {value}, deployed with {manifest.params[name]}"
            for name, value in config.params().items()
            if name in manifest.params and int(manifest.params[name]) != value]


def ensure_deployed(w3: Web3, deployer_key: bytes, config: DeployConfig, manifest_path: str | Path | None,
                    log: Callable[[str], None] = lambda _m: None) -> tuple[Manifest, int]:
    """Deploy, or verify an existing manifest and converge registrations; returns (manifest, txs sent).

    With an existing manifest whose contracts match the chain and whose registrations match the
    config, no transaction is sent. The config's [l1] parameters must equal the manifest's (they are
    fixed at deployment); a difference is a DeployError listing each one.
    """
    config.check()
    path = Path(manifest_path) if manifest_path else None
    if path is None or not path.exists():
        sender_before = w3.eth.get_transaction_count(Account.from_key(deployer_key).address)
        manifest = deploy_all(w3, deployer_key, config, log)
        if path is not None:
            manifest.save(path)
        sent = w3.eth.get_transaction_count(Account.from_key(deployer_key).address) - sender_before
        return manifest, sent
    ensure_artifacts(log)
    manifest = Manifest.load(path)
    changed = param_differences(manifest, config)
    if changed:
        raise DeployError(
            f"{path}: the config's [l1] settings differ from the deployment:\n  " + "\n  ".join(changed)
            + "\nthe [l1] parameters are fixed when the contracts are deployed (and the bond is deposited only "
              "then): deploy afresh with a new --manifest, or restore the deployed values in the config")
    problems = verify_manifest(w3, manifest)
    if problems:
        raise DeployError(f"{path} does not match the chain:\n  " + "\n  ".join(problems))
    wanted = manifest_for_config(manifest, config)
    pending = _converge(w3, None, wanted)
    if not pending:
        log(f"{path}: contracts and registrations verified on chain {manifest.chain_id}; nothing to do")
        return manifest, 0
    sender = Sender(w3, deployer_key, log)
    log(f"{path}: contracts verified; {len(pending)} change(s) to apply")
    _converge(w3, sender, wanted)
    wanted.save(path)
    return wanted, sender.sent
