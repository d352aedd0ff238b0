// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Owned} from "./Owned.sol";

/// @dev geth's txpool txMaxSize (128 KiB): the ceiling of every rollup's forced-transaction limit, shared
///      by RollupRegistry.MAX_FORCED_TX_BYTES and SequencerInbox.MAX_FORCED_TX_BYTES.
uint32 constant FORCED_TX_BYTES_CEILING = 131072;

/// @title RollupRegistry
/// @notice The rollups the shared sequencer serves: id (the rollup's uint64 chain id) → batch format,
///         operator, opaque config, the largest forced transaction it accepts and a paused flag. Only the
///         owner changes entries; ownership moves in two steps (Owned).
contract RollupRegistry is Owned {
    /// @notice One registered rollup.
    /// @param format Batch format name, left-aligned ASCII in a bytes32 ("opstack", "nitro", "zkevm").
    /// @param operator The rollup operator's address.
    /// @param paused A paused rollup takes no batches and no forced transactions.
    /// @param name Human-readable name.
    /// @param config Opaque config, by convention abi.encode(uint64 blockTimeMs, uint64 genesisTimeMs).
    /// @param maxForcedTxBytes Largest forced transaction SequencerInbox.enqueueForced takes for this rollup
    ///        (1..MAX_FORCED_TX_BYTES). Set to what the rollup's batch format can carry, so a junk entry too
    ///        large for the format never reaches the batcher (deploy/deployer.py FORCED_TX_LIMITS gives the
    ///        per-format defaults and why).
    struct Rollup {
        bytes32 format;
        address operator;
        bool paused;
        uint32 maxForcedTxBytes;
        string name;
        bytes config;
    }

    /// @notice Ceiling of every rollup's maxForcedTxBytes: geth's txpool txMaxSize (128 KiB), the largest
    ///         transaction an EVM rollup's own mempool takes. SequencerInbox.MAX_FORCED_TX_BYTES is the same.
    uint32 public constant MAX_FORCED_TX_BYTES = FORCED_TX_BYTES_CEILING;

    /// @notice No rollup with this id is registered.
    error UnknownRollup(uint64 rollupId);
    /// @notice A rollup with this id is already registered.
    error RollupExists(uint64 rollupId);
    /// @notice Rollup id 0 and an empty format are not allowed.
    error InvalidRollup(uint64 rollupId);
    /// @notice maxForcedTxBytes must be 1..MAX_FORCED_TX_BYTES.
    error BadForcedTxLimit(uint64 rollupId, uint256 given, uint256 max);

    /// @notice A rollup was registered.
    event RollupRegistered(
        uint64 indexed rollupId, bytes32 format, address operator, string name, bytes config, uint32 maxForcedTxBytes
    );
    /// @notice A rollup's format, operator, name, config or forced-transaction limit changed.
    event RollupUpdated(
        uint64 indexed rollupId, bytes32 format, address operator, string name, bytes config, uint32 maxForcedTxBytes
    );
    /// @notice A rollup was paused or resumed.
    event RollupPaused(uint64 indexed rollupId, bool paused);

    mapping(uint64 => Rollup) private _rollups;
    mapping(uint64 => bool) private _registered;
    uint64[] private _ids;

    /// @param initialOwner The account allowed to register, update and pause rollups.
    constructor(address initialOwner) Owned(initialOwner) {}

    /// @notice Register a new rollup.
    /// @param rollupId The rollup's chain id (non-zero).
    /// @param format Batch format name as bytes32 (non-zero).
    /// @param operator The rollup operator.
    /// @param name Human-readable name.
    /// @param config Opaque config bytes.
    /// @param maxForcedTxBytes Largest forced transaction accepted for it, 1..MAX_FORCED_TX_BYTES.
    function register(
        uint64 rollupId,
        bytes32 format,
        address operator,
        string calldata name,
        bytes calldata config,
        uint32 maxForcedTxBytes
    ) external onlyOwner {
        if (rollupId == 0 || format == bytes32(0)) revert InvalidRollup(rollupId);
        if (_registered[rollupId]) revert RollupExists(rollupId);
        _checkLimit(rollupId, maxForcedTxBytes);
        _registered[rollupId] = true;
        _ids.push(rollupId);
        _rollups[rollupId] = Rollup(format, operator, false, maxForcedTxBytes, name, config);
        emit RollupRegistered(rollupId, format, operator, name, config, maxForcedTxBytes);
    }

    function _checkLimit(uint64 rollupId, uint32 maxForcedTxBytes) private pure {
        if (maxForcedTxBytes == 0 || maxForcedTxBytes > MAX_FORCED_TX_BYTES) {
            revert BadForcedTxLimit(rollupId, maxForcedTxBytes, MAX_FORCED_TX_BYTES);
        }
    }

    /// @notice Replace a registered rollup's format, operator, name, config and forced-transaction limit
    ///         (the paused flag stays). A new limit applies to later enqueues only: entries already queued
    ///         stay, and derivation skips any its format cannot carry (docs/settlement.md section 4).
    /// @param rollupId The rollup to update.
    /// @param format New batch format (non-zero).
    /// @param operator New operator.
    /// @param name New name.
    /// @param config New config bytes.
    /// @param maxForcedTxBytes New limit, 1..MAX_FORCED_TX_BYTES.
    function update(
        uint64 rollupId,
        bytes32 format,
        address operator,
        string calldata name,
        bytes calldata config,
        uint32 maxForcedTxBytes
    ) external onlyOwner {
        if (!_registered[rollupId]) revert UnknownRollup(rollupId);
        if (format == bytes32(0)) revert InvalidRollup(rollupId);
        _checkLimit(rollupId, maxForcedTxBytes);
        Rollup storage r = _rollups[rollupId];
        r.format = format;
        r.operator = operator;
        r.maxForcedTxBytes = maxForcedTxBytes;
        r.name = name;
        r.config = config;
        emit RollupUpdated(rollupId, format, operator, name, config, maxForcedTxBytes);
    }

    /// @notice Pause or resume a rollup.
    /// @param rollupId The rollup.
    /// @param paused True to pause, false to resume.
    function setPaused(uint64 rollupId, bool paused) external onlyOwner {
        if (!_registered[rollupId]) revert UnknownRollup(rollupId);
        _rollups[rollupId].paused = paused;
        emit RollupPaused(rollupId, paused);
    }

    /// @notice The full entry of a registered rollup; reverts UnknownRollup otherwise.
    /// @param rollupId The rollup.
    function getRollup(uint64 rollupId) external view returns (Rollup memory) {
        if (!_registered[rollupId]) revert UnknownRollup(rollupId);
        return _rollups[rollupId];
    }

    /// @notice Whether `rollupId` is registered (paused or not).
    /// @param rollupId The rollup.
    function isRegistered(uint64 rollupId) external view returns (bool) {
        return _registered[rollupId];
    }

    /// @notice Whether `rollupId` is registered and not paused.
    /// @param rollupId The rollup.
    function isActive(uint64 rollupId) external view returns (bool) {
        return _registered[rollupId] && !_rollups[rollupId].paused;
    }

    /// @notice The largest forced transaction `rollupId` takes now: its maxForcedTxBytes if it is registered
    ///         and not paused, else 0 (one call for SequencerInbox.enqueueForced).
    /// @param rollupId The rollup.
    function forcedTxLimit(uint64 rollupId) external view returns (uint256) {
        Rollup storage r = _rollups[rollupId];
        if (!_registered[rollupId] || r.paused) return 0;
        return r.maxForcedTxBytes;
    }

    /// @notice Every registered rollup id, in registration order.
    function rollupIds() external view returns (uint64[] memory) {
        return _ids;
    }

    /// @notice The number of registered rollups.
    function rollupCount() external view returns (uint256) {
        return _ids.length;
    }
}
