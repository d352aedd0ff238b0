// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Owned
/// @notice Single-owner access control with a two-step transfer: the owner names a successor, and
///         ownership moves only when that successor accepts. A typo in the new address therefore
///         never hands the contract to an account nobody controls (the owner can re-name or cancel).
abstract contract Owned {
    /// @notice The caller is not the owner.
    error NotOwner(address caller);
    /// @notice The zero address cannot own the contract.
    error ZeroOwner();
    /// @notice The caller is not the account named by transferOwnership.
    error NotPendingOwner(address caller);

    /// @notice Emitted when the owner names a successor (`newOwner` zero: the offer is cancelled).
    event OwnershipTransferStarted(address indexed owner, address indexed newOwner);
    /// @notice Emitted when ownership moves.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice The account allowed to administer this contract.
    address public owner;
    /// @notice The account that may accept ownership (zero: no transfer under way).
    address public pendingOwner;

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert ZeroOwner();
        owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Offer the contract to `newOwner`, who must call acceptOwnership. A later offer replaces
    ///         this one; the zero address cancels it.
    /// @param newOwner The proposed owner.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    /// @notice Take ownership offered by transferOwnership.
    function acceptOwnership() external {
        if (msg.sender != pendingOwner || msg.sender == address(0)) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }
}
