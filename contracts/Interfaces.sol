// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ISequencerKeys
/// @notice The sequencer's signing keys with the shared heights each may sign (SequencerKeys.sol).
///         Key changes are recorded on L1, take effect after a delay, and never make a past
///         signature unprovable.
interface ISequencerKeys {
    /// @notice May `key` sign blocks firstHeight..lastHeight now (used to accept a posting window)?
    function canSign(address key, uint64 firstHeight, uint64 lastHeight) external view returns (bool);
    /// @notice Is a signature by `key` over a statement about `height` attributable to the sequencer,
    ///         so that a conflict is slashable (used by SequencerBond)?
    function accountable(address key, uint64 height) external view returns (bool);
}

/// @title ISequencerBond
/// @notice What the inbox asks of the bond before it accepts a window.
interface ISequencerBond {
    /// @notice True while the bond at stake is at least the configured minimum and not being withdrawn.
    function isSufficient() external view returns (bool);
}
