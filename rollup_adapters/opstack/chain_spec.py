"""OP Stack forks: which rules and limits hold at a given time, from a rollup config
(op-node/rollup/chain_spec.go, op-node/rollup/types.go; the configs of
ethereum-optimism/superchain-registry superchain/configs/{mainnet,sepolia}/op.toml).

    rollup_config = {"genesis": {"l2_time": uint64, ...}, "block_time": uint64,
                     "l2_chain_id": uint64, "channel_timeout": uint64?,
                     "<fork>_time": uint64 | null, ...}            op-node rollup.json
    fork          = bedrock < regolith < canyon < delta < ecotone < fjord < granite
                    < holocene < isthmus < jovian                  (activation order)

A fork is active at time t when its `<fork>_time` is set and <= t; an absent or null time
means "not scheduled" (types.go IsFjord & co.). Bedrock is active from genesis. Fork times
must not decrease along the activation order (types.go checkForkOrder).

What a fork changes in the batch format, and the time that selects it:

    rule                                  from      timestamp that decides (op-node)
    MaxRLPBytesPerChannel 10e6 -> 100e6   Fjord     L1 inclusion block (channel_in_reader.go)
    MaxChannelBankSize 100e6 -> 1e9       Fjord     L1 inclusion block (channel_bank.go prune)
    brotli channels (version byte 0x01)   Fjord     L1 inclusion block (channel.go BatchReader)
    first ready channel read (not oldest) Canyon    L1 inclusion block (channel_bank.go Read)
    ChannelTimeout channel_timeout -> 50  Granite   L1 inclusion block (channel_bank.go,
      (L1 blocks; pipeline.py applies it                channel_assembler.go)
      when the blocks' numbers are given)
    span batches (batch type 1)           Delta     L1 inclusion block (channel_in_reader.go)
    set-code (type 4) transactions        Isthmus   the L2 block's timestamp (batches.go)
    frame queue pruning, one channel at   Holocene  L1 inclusion block (frame_queue.go,
      a time, in-order frames                         channel_assembler.go)

The L1 inclusion time is not in the batch data: the operator gives it (`--l1-timestamp`),
or, without it, the decoder takes every fork of the config as active.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sequencer.errors import BadInput

FORKS: tuple[str, ...] = (
    "bedrock", "regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene", "isthmus", "jovian",
)
"""The OP Stack forks in activation order (chain_spec.go ForkName, plus Isthmus and Jovian)."""

MAX_RLP_BYTES_PER_CHANNEL_BEDROCK = 10_000_000
MAX_RLP_BYTES_PER_CHANNEL_FJORD = 100_000_000
"""Bound on a channel's decompressed RLP bytes before and from Fjord (chain_spec.go)."""

MAX_CHANNEL_BANK_SIZE_BEDROCK = 100_000_000
MAX_CHANNEL_BANK_SIZE_FJORD = 1_000_000_000
"""Bound on the frame bytes (plus 200 per frame) the pre-Holocene channel bank holds (chain_spec.go)."""

CHANNEL_TIMEOUT_GRANITE = 50
"""Channel timeout in L1 blocks from Granite (op-node/params ChannelTimeoutGranite)."""

LATEST = 2**64 - 1
"""A time past every scheduled fork: what the decoder assumes when no L1 time is given."""


@dataclass(frozen=True, slots=True)
class RollupConfig:
    """The parts of an op-node rollup config that the batch format depends on.

    `fork_times[i]` is the activation time of FORKS[i] (None: not scheduled); bedrock's is 0.
    """

    name: str
    l2_chain_id: int
    genesis_l2_time: int
    block_time: int
    fork_times: tuple[int | None, ...]
    channel_timeout: int = 300

    def activation(self, fork: str) -> int | None:
        """When `fork` activates, or None if it is not scheduled."""
        return self.fork_times[_fork_index(fork)]

    def is_active(self, fork: str, t: int) -> bool:
        """types.go Is<Fork>(t): the fork's time is set and not after t."""
        at = self.activation(fork)
        return at is not None and at <= t

    def fork_at(self, t: int) -> str:
        """The newest fork active at t (chain_spec.go CheckForkActivation's currentFork)."""
        active = [f for f in FORKS if self.is_active(f, t)]
        return active[-1]

    def max_rlp_bytes_per_channel(self, t: int) -> int:
        """chain_spec.go MaxRLPBytesPerChannel."""
        return MAX_RLP_BYTES_PER_CHANNEL_FJORD if self.is_active("fjord", t) else MAX_RLP_BYTES_PER_CHANNEL_BEDROCK

    def max_channel_bank_size(self, t: int) -> int:
        """chain_spec.go MaxChannelBankSize."""
        return MAX_CHANNEL_BANK_SIZE_FJORD if self.is_active("fjord", t) else MAX_CHANNEL_BANK_SIZE_BEDROCK

    def channel_timeout_at(self, t: int) -> int:
        """chain_spec.go ChannelTimeout."""
        return CHANNEL_TIMEOUT_GRANITE if self.is_active("granite", t) else self.channel_timeout


def _fork_index(fork: str) -> int:
    try:
        return FORKS.index(fork)
    except ValueError:
        raise BadInput(f"fork: unknown OP Stack fork {fork!r}; forks: {', '.join(FORKS)}") from None


def all_forks_at_genesis(name: str = "devnet", l2_chain_id: int = 0, genesis_l2_time: int = 0,
                         block_time: int = 2) -> RollupConfig:
    """A devnet config with every fork active from time 0: the default of our own rollups."""
    return RollupConfig(name, l2_chain_id, genesis_l2_time, block_time, tuple(0 for _ in FORKS))


def _uint(doc: dict[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise BadInput(f"rollup config: {where}{key}: expected a uint64, got {value!r}")
    return value


def parse_rollup_config(doc: Any, name: str = "rollup.json") -> RollupConfig:
    """An op-node rollup.json document -> RollupConfig (types.go Config; Check's fork order)."""
    if not isinstance(doc, dict):
        raise BadInput(f"rollup config: expected a JSON object, got {type(doc).__name__}")
    genesis = doc.get("genesis")
    if not isinstance(genesis, dict):
        raise BadInput("rollup config: genesis: expected an object with l2_time")
    l2_time = _uint(genesis, "l2_time", "genesis.")
    block_time = _uint(doc, "block_time", "")
    if block_time == 0:
        raise BadInput("rollup config: block_time: must be positive")
    chain_id = _uint(doc, "l2_chain_id", "")
    timeout = _uint(doc, "channel_timeout", "") if "channel_timeout" in doc else 300
    times: list[int | None] = [0]
    for fork in FORKS[1:]:
        key = f"{fork}_time"
        times.append(None if doc.get(key) is None else _uint(doc, key, ""))
    # types.go checkForkOrder: a scheduled fork may not come before one scheduled earlier in order,
    # nor be scheduled while an earlier one is not.
    last, last_fork = 0, "bedrock"
    for fork, at in zip(FORKS[1:], times[1:], strict=True):
        if at is None:
            last = LATEST + 1
            continue
        if last > LATEST:
            raise BadInput(f"rollup config: {fork}_time: set although an earlier fork is not scheduled")
        if at < last:
            raise BadInput(f"rollup config: {fork}_time: {at} is before {last_fork}_time {last}")
        last, last_fork = at, fork
    return RollupConfig(name, chain_id, l2_time, block_time, tuple(times), timeout)


def _builtin(name: str, chain_id: int, l2_time: int, times: dict[str, int]) -> RollupConfig:
    doc: dict[str, Any] = {"genesis": {"l2_time": l2_time}, "block_time": 2, "l2_chain_id": chain_id,
                           "channel_timeout": 300, "regolith_time": 0, **{f"{k}_time": v for k, v in times.items()}}
    return parse_rollup_config(doc, name)


OP_MAINNET = _builtin("op-mainnet", 10, 1686068903, {
    "canyon": 1704992401, "delta": 1708560000, "ecotone": 1710374401, "fjord": 1720627201,
    "granite": 1726070401, "holocene": 1736445601, "isthmus": 1746806401, "jovian": 1764691201,
})
"""OP Mainnet (superchain-registry superchain/configs/mainnet/op.toml at 8336d2ae; Regolith at genesis)."""

OP_SEPOLIA = _builtin("op-sepolia", 11155420, 1691802540, {
    "canyon": 1699981200, "delta": 1703203200, "ecotone": 1708534800, "fjord": 1716998400,
    "granite": 1723478400, "holocene": 1732633200, "isthmus": 1744905600, "jovian": 1763568001,
})
"""OP Sepolia (superchain-registry superchain/configs/sepolia/op.toml at 8336d2ae; Regolith at genesis)."""

BUILTIN: dict[str, RollupConfig] = {c.name: c for c in (OP_MAINNET, OP_SEPOLIA)}


def load_rollup_config(source: str) -> RollupConfig:
    """A built-in config by name (op-mainnet, op-sepolia) or an op-node rollup.json file."""
    if source in BUILTIN:
        return BUILTIN[source]
    try:
        text = Path(source).read_text()
    except OSError as exc:
        raise BadInput(f"rollup config: cannot read {source!r} ({exc.strerror}); built in: "
                       f"{', '.join(BUILTIN)}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"rollup config: {source}: not JSON ({exc.msg} at {exc.pos})") from exc
    return parse_rollup_config(doc, source)
