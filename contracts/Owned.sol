// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Owned
/// @notice Single-owner access control with a two-step-free transfer (kept minimal on purpose).
abstract contract Owned {
    /// @notice The caller is not the owner.
    error NotOwner(address caller);
    /// @notice The zero address cannot own the contract.
    error ZeroOwner();

    /// @notice Emitted when ownership moves.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice The account allowed to administer this contract.
    address public owner;

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert ZeroOwner();
        owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Hand the contract to `newOwner`.
    /// @param newOwner The new owner; must not be zero.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroOwner();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
