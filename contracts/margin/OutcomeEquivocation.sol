// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarginLib} from "./MarginCore.sol";

/// @notice The one view of SequencerKeys this contract needs (contracts/SequencerKeys.sol).
interface ISequencerKeysView {
    function accountable(address key, uint64 height) external view returns (bool);
}

/// @title OutcomeEquivocation
/// @notice On L1: proves that the sequencer signed both BundleOutcome(bundleId, true) and
/// BundleOutcome(bundleId, false) - equivocation on a cross-rollup bundle (docs/margin.md). Both
/// signatures are checked under the sequencer's EIP-712 domain (this chain, the SequencerInbox) and
/// each signer must be a key SequencerKeys still holds accountable (registered, not past its
/// challenge period; an outcome carries no shared height, so the check is at the highest height).
/// A proof is recorded once, with its reporter. It does NOT slash: SequencerBond has no hook for
/// it yet, so this is objective evidence on L1, not a penalty (the trust model says so).
contract OutcomeEquivocation {
    error NotAccountable(address signer);
    error AlreadyProven(bytes32 bundleId);

    event OutcomeEquivocationProven(bytes32 indexed bundleId, address commitSigner, address abortSigner,
                                    address reporter);

    ISequencerKeysView public immutable keys;
    bytes32 public immutable domainSeparator;
    mapping(bytes32 => address) public provenBy;

    constructor(ISequencerKeysView keys_, address inbox) {
        require(address(keys_) != address(0) && inbox != address(0), "OutcomeEquivocation: zero address");
        keys = keys_;
        domainSeparator = MarginLib.domainSeparator(block.chainid, inbox);
    }

    function prove(bytes32 bundleId, bytes calldata commitSig, bytes calldata abortSig) external {
        if (provenBy[bundleId] != address(0)) revert AlreadyProven(bundleId);
        address a = MarginLib.recover(MarginLib.outcomeDigest(domainSeparator, bundleId, true), commitSig);
        address b = MarginLib.recover(MarginLib.outcomeDigest(domainSeparator, bundleId, false), abortSig);
        if (a == address(0) || !keys.accountable(a, type(uint64).max)) revert NotAccountable(a);
        if (b == address(0) || !keys.accountable(b, type(uint64).max)) revert NotAccountable(b);
        provenBy[bundleId] = msg.sender;
        emit OutcomeEquivocationProven(bundleId, a, b, msg.sender);
    }
}
