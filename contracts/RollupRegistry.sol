// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Owned} from "./Owned.sol";

/// @title RollupRegistry
/// @notice The rollups the shared sequencer serves: id (the rollup's uint64 chain id) → batch format,
///         operator, opaque config and a paused flag. Only the owner changes entries.
contract RollupRegistry is Owned {
    /// @notice One registered rollup.
    /// @param format Batch format name, left-aligned ASCII in a bytes32 ("opstack", "nitro", "zkevm").
    /// @param operator The rollup operator's address.
    /// @param paused A paused rollup takes no batches and no forced transactions.
    /// @param name Human-readable name.
    /// @param config Opaque config, by convention abi.encode(uint64 blockTimeMs, uint64 genesisTimeMs).
    struct Rollup {
        bytes32 format;
        address operator;
        bool paused;
        string name;
        bytes config;
    }

    /// @notice No rollup with this id is registered.
    error UnknownRollup(uint64 rollupId);
    /// @notice A rollup with this id is already registered.
    error RollupExists(uint64 rollupId);
    /// @notice Rollup id 0 and an empty format are not allowed.
    error InvalidRollup(uint64 rollupId);

    /// @notice A rollup was registered.
    event RollupRegistered(uint64 indexed rollupId, bytes32 format, address operator, string name, bytes config);
    /// @notice A rollup's format, operator, name or config changed.
    event RollupUpdated(uint64 indexed rollupId, bytes32 format, address operator, string name, bytes config);
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
    function register(uint64 rollupId, bytes32 format, address operator, string calldata name, bytes calldata config)
        external
        onlyOwner
    {
        if (rollupId == 0 || format == bytes32(0)) revert InvalidRollup(rollupId);
        if (_registered[rollupId]) revert RollupExists(rollupId);
        _registered[rollupId] = true;
        _ids.push(rollupId);
        _rollups[rollupId] = Rollup(format, operator, false, name, config);
        emit RollupRegistered(rollupId, format, operator, name, config);
    }

    /// @notice Replace a registered rollup's format, operator, name and config (the paused flag stays).
    /// @param rollupId The rollup to update.
    /// @param format New batch format (non-zero).
    /// @param operator New operator.
    /// @param name New name.
    /// @param config New config bytes.
    function update(uint64 rollupId, bytes32 format, address operator, string calldata name, bytes calldata config)
        external
        onlyOwner
    {
        if (!_registered[rollupId]) revert UnknownRollup(rollupId);
        if (format == bytes32(0)) revert InvalidRollup(rollupId);
        Rollup storage r = _rollups[rollupId];
        r.format = format;
        r.operator = operator;
        r.name = name;
        r.config = config;
        emit RollupUpdated(rollupId, format, operator, name, config);
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

    /// @notice Every registered rollup id, in registration order.
    function rollupIds() external view returns (uint64[] memory) {
        return _ids;
    }

    /// @notice The number of registered rollups.
    function rollupCount() external view returns (uint256) {
        return _ids.length;
    }
}
