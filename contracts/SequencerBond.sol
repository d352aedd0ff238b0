// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Owned} from "./Owned.sol";
import {SequencerInbox} from "./SequencerInbox.sol";
import {SharedSeqLib} from "./SharedSeqLib.sol";

/// @title SequencerBond
/// @notice The sequencer's ETH bond, slashed by anyone who proves it lied: two signed headers at one
///         height (equivocation), or a signed preconfirmation receipt that the signed block at its
///         height contradicts. The reporter receives `reporterShareBps` of the bond; the rest stays
///         locked in this contract forever (burnt). Each offence is punished once.
/// @dev Signatures are checked under the inbox's EIP-712 domain and against the inbox's key set.
contract SequencerBond is Owned {
    /// @notice The inbox whose key set and domain the signatures belong to.
    SequencerInbox public immutable inbox;
    /// @notice The reporter's share of a slashed bond, in basis points.
    uint16 public immutable reporterShareBps;
    /// @notice L1 blocks between a withdrawal request and the withdrawal.
    uint64 public immutable withdrawalDelay;

    /// @notice The bond currently at stake, in wei.
    uint256 public bond;
    /// @notice Wei slashed and locked forever.
    uint256 public burnt;
    /// @notice Pending withdrawal: amount and the block from which it may be taken.
    uint256 public withdrawalAmount;
    uint64 public withdrawalReadyAt;
    /// @notice Offences already punished (keccak of the offence's identity).
    mapping(bytes32 => bool) public punished;

    /// @notice A signature does not recover to a key of the inbox's key set.
    error NotSequencerSignature(address recovered);
    /// @notice Two headers of an equivocation proof must share a height.
    error HeightsDiffer(uint64 a, uint64 b);
    /// @notice Two headers with equal hashes are one header, not an equivocation.
    error SameHeader();
    /// @notice The header is not at the receipt's height.
    error HeaderHeightMismatch(uint64 receiptHeight, uint64 headerHeight);
    /// @notice The namespace leaf is not proven under the header's namespaces root.
    error InvalidNamespaceProof();
    /// @notice The transaction is not proven at the receipt's index under the namespace's tx root.
    error InvalidTxProof();
    /// @notice The block holds the receipted transaction where promised: nothing to punish.
    error ReceiptKept();
    /// @notice The neighbours given do not prove the rollup's namespace absent.
    error InvalidAbsenceProof();
    /// @notice This offence was already punished.
    error AlreadyPunished(bytes32 offence);
    /// @notice There is no bond left to slash.
    error NothingToSlash();
    /// @notice Share above 10000 basis points.
    error BadShare();
    /// @notice No withdrawal pending, too early, or more than the bond.
    error WithdrawalNotAllowed();
    /// @notice An ETH transfer failed.
    error TransferFailed();

    /// @notice Bond added.
    event Deposited(address indexed from, uint256 amount, uint256 bond);
    /// @notice A withdrawal was requested.
    event WithdrawalRequested(uint256 amount, uint64 readyAt);
    /// @notice Bond withdrawn to the owner.
    event Withdrawn(address indexed to, uint256 amount);
    /// @notice The bond was slashed for `offence`.
    event Slashed(bytes32 indexed offence, uint8 kind, address indexed reporter, uint256 reward, uint256 burnt);

    uint8 internal constant KIND_EQUIVOCATION = 1;
    uint8 internal constant KIND_BROKEN_RECEIPT = 2;

    /// @param initialOwner The sequencer operator (may withdraw after the delay).
    /// @param inbox_ The inbox holding the key set and the EIP-712 domain.
    /// @param reporterShareBps_ Reporter's share of a slashed bond (e.g. 5000 = 50%).
    /// @param withdrawalDelay_ L1 blocks a withdrawal waits, so evidence can still be brought.
    constructor(address initialOwner, SequencerInbox inbox_, uint16 reporterShareBps_, uint64 withdrawalDelay_)
        Owned(initialOwner)
    {
        if (reporterShareBps_ > 10000) revert BadShare();
        inbox = inbox_;
        reporterShareBps = reporterShareBps_;
        withdrawalDelay = withdrawalDelay_;
    }

    /// @notice Add ETH to the bond.
    function deposit() external payable {
        bond += msg.value;
        emit Deposited(msg.sender, msg.value, bond);
    }

    /// @notice Start a withdrawal of `amount`; it may be taken after withdrawalDelay blocks if not slashed.
    /// @param amount Wei to withdraw.
    function requestWithdrawal(uint256 amount) external onlyOwner {
        if (amount == 0 || amount > bond) revert WithdrawalNotAllowed();
        withdrawalAmount = amount;
        withdrawalReadyAt = uint64(block.number) + withdrawalDelay;
        emit WithdrawalRequested(amount, withdrawalReadyAt);
    }

    /// @notice Take the requested withdrawal to the owner.
    function withdraw() external onlyOwner {
        uint256 amount = withdrawalAmount;
        if (amount == 0 || block.number < withdrawalReadyAt || amount > bond) revert WithdrawalNotAllowed();
        withdrawalAmount = 0;
        bond -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Prove that the sequencer signed two different headers at one height.
    /// @param a The first header.
    /// @param sigA Its signature (65 bytes r ++ s ++ v).
    /// @param b The second header.
    /// @param sigB Its signature.
    function proveEquivocation(
        SharedSeqLib.BlockHeader calldata a,
        bytes calldata sigA,
        SharedSeqLib.BlockHeader calldata b,
        bytes calldata sigB
    ) external {
        if (a.height != b.height) revert HeightsDiffer(a.height, b.height);
        bytes32 hashA = SharedSeqLib.hashHeader(a);
        bytes32 hashB = SharedSeqLib.hashHeader(b);
        if (hashA == hashB) revert SameHeader();
        _requireSequencer(hashA, sigA);
        _requireSequencer(hashB, sigB);
        _slash(keccak256(abi.encode(KIND_EQUIVOCATION, a.height)), KIND_EQUIVOCATION);
    }

    /// @notice Prove that a signed receipt was broken by the signed block at its height: the rollup's
    ///         namespace has fewer than index + 1 transactions, or another transaction sits at the index.
    /// @param receipt The receipt fields.
    /// @param receiptSig The sequencer's signature over the receipt.
    /// @param header The header at receipt.height.
    /// @param headerSig The sequencer's signature over the header.
    /// @param ns The rollup's namespace leaf (rollupId must equal receipt.rollupId) with its audit path.
    /// @param actualTxHash The transaction at receipt.index (ignored when receipt.index >= ns.txCount).
    /// @param txPath Its audit path under ns.txRoot.
    function proveBrokenReceipt(
        SharedSeqLib.Receipt calldata receipt,
        bytes calldata receiptSig,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig,
        SharedSeqLib.NamespaceLeaf calldata ns,
        bytes32 actualTxHash,
        bytes32[] calldata txPath
    ) external {
        bytes32 offence = _checkReceiptAndHeader(receipt, receiptSig, header, headerSig);
        if (ns.rollupId != receipt.rollupId || !SharedSeqLib.verifyNamespaceLeaf(ns, header.namespaceCount, header.namespacesRoot)) {
            revert InvalidNamespaceProof();
        }
        if (receipt.index < ns.txCount) {
            if (!SharedSeqLib.verifyInclusion(abi.encodePacked(actualTxHash), receipt.index, ns.txCount, txPath, ns.txRoot)) {
                revert InvalidTxProof();
            }
            if (actualTxHash == receipt.txHash) revert ReceiptKept();
        }
        _slash(offence, KIND_BROKEN_RECEIPT);
    }

    /// @notice Prove that a signed receipt was broken because the block at its height has no namespace
    ///         for the receipt's rollup: two adjacent leaves bracket the id, or one end leaf does, or the
    ///         header has no namespaces at all (as commitments.verify_namespace).
    /// @param receipt The receipt fields.
    /// @param receiptSig The sequencer's signature over the receipt.
    /// @param header The header at receipt.height.
    /// @param headerSig The sequencer's signature over the header.
    /// @param neighbours Zero, one or two namespace leaves with audit paths, in index order.
    function proveReceiptNamespaceAbsent(
        SharedSeqLib.Receipt calldata receipt,
        bytes calldata receiptSig,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig,
        SharedSeqLib.NamespaceLeaf[] calldata neighbours
    ) external {
        bytes32 offence = _checkReceiptAndHeader(receipt, receiptSig, header, headerSig);
        uint256 count = header.namespaceCount;
        for (uint256 i = 0; i < neighbours.length; i++) {
            if (!SharedSeqLib.verifyNamespaceLeaf(neighbours[i], count, header.namespacesRoot)) {
                revert InvalidAbsenceProof();
            }
        }
        uint64 id = receipt.rollupId;
        bool absent;
        if (count == 0) {
            absent = neighbours.length == 0;
        } else if (neighbours.length == 2) {
            absent = neighbours[1].index == neighbours[0].index + 1 && neighbours[0].rollupId < id
                && id < neighbours[1].rollupId;
        } else if (neighbours.length == 1) {
            SharedSeqLib.NamespaceLeaf calldata n = neighbours[0];
            absent = (n.index == 0 && id < n.rollupId) || (n.index == count - 1 && n.rollupId < id);
        }
        if (!absent) revert InvalidAbsenceProof();
        _slash(offence, KIND_BROKEN_RECEIPT);
    }

    function _checkReceiptAndHeader(
        SharedSeqLib.Receipt calldata receipt,
        bytes calldata receiptSig,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig
    ) private view returns (bytes32 offence) {
        if (header.height != receipt.height) revert HeaderHeightMismatch(receipt.height, header.height);
        bytes32 receiptHash = SharedSeqLib.hashReceipt(receipt);
        _requireSequencer(receiptHash, receiptSig);
        _requireSequencer(SharedSeqLib.hashHeader(header), headerSig);
        offence = keccak256(abi.encode(KIND_BROKEN_RECEIPT, receiptHash));
    }

    function _requireSequencer(bytes32 structHash, bytes calldata signature) private view {
        bytes32 separator = SharedSeqLib.domainSeparator(block.chainid, address(inbox));
        address signer = SharedSeqLib.recover(SharedSeqLib.typedDigest(separator, structHash), signature);
        if (signer == address(0) || !inbox.isSigner(signer)) revert NotSequencerSignature(signer);
    }

    function _slash(bytes32 offence, uint8 kind) private {
        if (punished[offence]) revert AlreadyPunished(offence);
        uint256 amount = bond;
        if (amount == 0) revert NothingToSlash();
        punished[offence] = true;
        bond = 0;
        withdrawalAmount = 0;
        uint256 reward = amount * reporterShareBps / 10000;
        burnt += amount - reward;
        emit Slashed(offence, kind, msg.sender, reward, amount - reward);
        if (reward > 0) {
            (bool ok,) = msg.sender.call{value: reward}("");
            if (!ok) revert TransferFailed();
        }
    }
}
