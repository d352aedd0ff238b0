// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISequencerBond} from "./Interfaces.sol";
import {Owned} from "./Owned.sol";
import {SequencerKeys} from "./SequencerKeys.sol";
import {SharedSeqLib} from "./SharedSeqLib.sol";

/// @title SequencerBond
/// @notice The sequencer's ETH bond (docs/settlement.md section 6). Anyone who proves that the
///         sequencer's keys signed contradicting statements slashes the whole bond:
///         - two different headers at one height (proveEquivocation);
///         - a signed window whose block hash at a height differs from a signed header's, or two signed
///           windows that disagree on a height (proveWindowHeaderConflict, proveWindowsConflict);
///         - a receipt proven by a signed PreconfirmationBatch that the signed header at its height breaks
///           (proveBrokenReceipt, proveReceiptNamespaceAbsent);
///         - a signed header whose namespace tree is not strictly sorted (proveMalformedTree).
///         A signature counts only if its key is `accountable` in SequencerKeys for the height concerned,
///         so key changes never make a past lie unprovable, and a key added for the purpose still binds
///         the bond.
///
///         Reports are commit-reveal: commit keccak256(abi.encode(reporter, keccak256(calldata of the
///         proof call))) first, send the proof call at least one block later. The first reveal slashes at
///         once; the reward goes to the reporter with the earliest commitment revealed within
///         `claimDelay` blocks, so copying a proof seen in the mempool earns nothing. The reward is
///         min(bond * reporterShareBps / 10000, maxReward) with reporterShareBps <= 20%: the rest is
///         burnt (locked here forever), so an offender reporting itself loses at least 80%. Each offence
///         is punished once, and only with at least minimumBond at stake (BondBelowMinimum).
///
///         The bond leaves only to the owner, after a request that waits `withdrawalDelay` blocks and
///         expires `withdrawalWindow` blocks later, and only once every key ever registered is retired
///         and past its challenge period (SequencerKeys.settled): while any signature by its keys is
///         still provable, the bond stays.
/// @dev Signatures are EIP-712 under the inbox's domain ("sharedseq", "1", chainid, inbox).
contract SequencerBond is ISequencerBond, Owned {
    /// @notice Deployment parameters (each bounded in the constructor).
    struct Params {
        uint256 minimumBond; // wei the inbox requires at stake
        uint16 reporterShareBps; // reporter's share of a slashed bond, <= MAX_REPORTER_SHARE_BPS
        uint256 maxReward; // absolute cap on a reward, wei
        uint64 withdrawalDelay; // L1 blocks between request and withdrawal
        uint64 withdrawalWindow; // L1 blocks after that during which the request may be used
        uint64 claimDelay; // L1 blocks after a slash during which an earlier committer may take over
    }

    /// @notice Where a window puts the block hash a proof uses.
    /// @param kind CLAIM_LEAF: leaf height - firstHeight of blocksRoot (with `path`);
    ///        CLAIM_PARENT: parentHash, the hash at firstHeight - 1; CLAIM_LAST: lastBlockHash, at lastHeight.
    /// @param leaf The block hash (CLAIM_LEAF only; read from the window otherwise).
    /// @param path Audit path of `leaf` (CLAIM_LEAF only).
    struct WindowClaim {
        uint8 kind;
        bytes32 leaf;
        bytes32[] path;
    }

    /// @notice A preconfirmation receipt with what proves it signed: the group commit's signed
    ///         PreconfirmationBatch and the receipt's leaf (hashStruct(Preconfirmation)) and path in it.
    struct BatchedReceipt {
        SharedSeqLib.Receipt receipt;
        SharedSeqLib.ReceiptBatch batch;
        bytes batchSignature;
        uint256 leafIndex;
        bytes32[] path;
    }

    /// @notice A slashed offence: who is rewarded, and when (two storage slots).
    /// @param reporter The reporter with the earliest commitment revealed so far.
    /// @param commitBlock The L1 block of that commitment.
    /// @param claimableAt The first L1 block at which claimReward pays.
    /// @param reward Wei to pay; zero once paid.
    struct Report {
        address reporter;
        uint48 commitBlock;
        uint48 claimableAt;
        uint256 reward;
    }

    uint8 public constant CLAIM_LEAF = 0;
    uint8 public constant CLAIM_PARENT = 1;
    uint8 public constant CLAIM_LAST = 2;

    uint8 internal constant KIND_CONFLICT = 1;
    uint8 internal constant KIND_BROKEN_RECEIPT = 2;
    uint8 internal constant KIND_MALFORMED_TREE = 3;
    uint8 internal constant KIND_OUTCOME_EQUIVOCATION = 4;
    /// EIP-712 struct of a cross-rollup bundle's outcome (docs/margin.md, contracts/margin/MarginCore.sol).
    bytes32 internal constant OUTCOME_TYPEHASH = keccak256("BundleOutcome(bytes32 bundleId,bool commit)");

    /// @notice Bounds of the deployment parameters.
    uint16 public constant MAX_REPORTER_SHARE_BPS = 2000;
    uint64 public constant MAX_WITHDRAWAL_DELAY = 1_000_000;
    uint64 public constant MAX_WITHDRAWAL_WINDOW = 50_400;
    uint64 public constant MIN_CLAIM_DELAY = 10;
    uint64 public constant MAX_CLAIM_DELAY = 50_400;

    /// @notice The key registry that says whose signatures bind this bond.
    SequencerKeys public immutable keys;
    /// @notice The inbox: its address is the EIP-712 verifying contract of every signature.
    address public immutable inbox;
    /// @notice Wei the inbox requires at stake before it accepts a window.
    uint256 public immutable minimumBond;
    /// @notice The reporter's share of a slashed bond, in basis points.
    uint16 public immutable reporterShareBps;
    /// @notice The largest reward, in wei.
    uint256 public immutable maxReward;
    /// @notice L1 blocks between a withdrawal request and the withdrawal.
    uint64 public immutable withdrawalDelay;
    /// @notice L1 blocks a ready withdrawal request stays usable.
    uint64 public immutable withdrawalWindow;
    /// @notice L1 blocks after a slash before its reward can be claimed.
    uint64 public immutable claimDelay;

    uint256 private immutable _chainId;
    bytes32 private immutable _separator;

    /// @notice The bond currently at stake, in wei.
    uint256 public bond;
    /// @notice Wei slashed and locked forever.
    uint256 public burnt;
    /// @notice Pending withdrawal: amount, first block it may be taken, last block it may be taken.
    uint256 public withdrawalAmount;
    uint64 public withdrawalReadyAt;
    uint64 public withdrawalExpiresAt;
    /// @notice Report commitments: keccak256(abi.encode(reporter, keccak256(proof calldata))) → first L1 block.
    mapping(bytes32 => uint64) public commitBlock;
    /// @notice Slashed offences (keccak of the offence's identity) and their reports.
    mapping(bytes32 => Report) private _reports;

    error KeysInboxMismatch(address keysInbox, address inbox);
    error ZeroInbox();
    error MinimumBondOutOfRange(uint256 given);
    error ReporterShareOutOfRange(uint16 given, uint16 max);
    error MaxRewardOutOfRange(uint256 given);
    error WithdrawalDelayOutOfRange(uint64 given, uint64 max);
    error WithdrawalWindowOutOfRange(uint64 given, uint64 max);
    error ClaimDelayOutOfRange(uint64 given, uint64 min, uint64 max);

    /// @notice A signature does not recover to a key accountable for the height.
    error NotAccountable(address recovered, uint64 height);
    /// @notice Two headers of an equivocation proof must share a height.
    error HeightsDiffer(uint64 a, uint64 b);
    /// @notice The two statements name the same block hash: nothing contradicts.
    error SameHeader();
    /// @notice The window does not claim a block hash at that height in that way.
    error HeightNotInWindow(uint64 height, uint64 firstHeight, uint64 lastHeight);
    /// @notice lastHeight < firstHeight.
    error InvalidWindow();
    /// @notice The claimed leaf is not in the window's blocksRoot at the height's index.
    error InvalidWindowProof();
    /// @notice Unknown WindowClaim.kind.
    error InvalidClaimKind(uint8 kind);
    /// @notice The header is not at the receipt's height.
    error HeaderHeightMismatch(uint64 receiptHeight, uint64 headerHeight);
    /// @notice The receipt is not proven in the signed batch.
    error InvalidReceiptProof();
    /// @notice The namespace leaf is not proven under the header's namespaces root.
    error InvalidNamespaceProof();
    /// @notice The transaction is not proven at the receipt's index under the namespace's tx root.
    error InvalidTxProof();
    /// @notice The block holds the receipted transaction where promised: nothing to punish.
    error ReceiptKept();
    /// @notice The neighbours given do not prove the rollup's namespace absent.
    error InvalidAbsenceProof();
    /// @notice The two leaves are not adjacent (right.index == left.index + 1) in the header's tree.
    error LeavesNotAdjacent();
    /// @notice The adjacent leaves are strictly increasing: the tree is well formed.
    error TreeWellFormed();
    /// @notice No commitment by the caller to this exact proof call.
    error NotCommitted(bytes32 commitment);
    /// @notice The commitment is from this block: reveal at least one block later.
    error RevealTooEarly(uint64 committedAt);
    /// @notice This offence was already punished (and no earlier commitment is being revealed).
    error AlreadyPunished(bytes32 offence);
    /// @notice There is no bond left to slash.
    error NothingToSlash();
    /// @notice Less than minimumBond is at stake: the offence is not spent on it and stays provable until
    ///         a real bond is (otherwise a dust bond would let the operator burn offence ids in advance).
    error BondBelowMinimum(uint256 bond, uint256 minimum);
    /// @notice No report for this offence, not yours, already paid, or too early.
    error NoClaim(bytes32 offence);
    error ClaimTooEarly(uint64 claimableAt);
    /// @notice Withdrawal errors.
    error BadWithdrawalAmount(uint256 amount, uint256 bond);
    error NoWithdrawalPending();
    error WithdrawalNotReady(uint64 readyAt);
    error WithdrawalExpired(uint64 expiredAt);
    /// @notice A key is not retired or still within its challenge period: its signatures are provable.
    error KeysNotSettled();
    /// @notice An ETH transfer failed.
    error TransferFailed();

    /// @notice Bond added.
    event Deposited(address indexed from, uint256 amount, uint256 bond);
    /// @notice A withdrawal was requested.
    event WithdrawalRequested(uint256 amount, uint64 readyAt, uint64 expiresAt);
    /// @notice Bond withdrawn to the owner.
    event Withdrawn(address indexed to, uint256 amount);
    /// @notice A report commitment was recorded.
    event ReportCommitted(bytes32 indexed commitment, address indexed sender, uint64 l1Block);
    /// @notice The bond was slashed for `offence`; `reward` is claimable by the reporter from `claimableAt`.
    event Slashed(
        bytes32 indexed offence, uint8 kind, address indexed reporter, uint256 reward, uint256 burnt, uint64 claimableAt
    );
    /// @notice A reporter with an earlier commitment took over an offence's reward.
    event ReporterReplaced(bytes32 indexed offence, address indexed previous, address indexed reporter);
    /// @notice A reward was paid.
    event RewardClaimed(bytes32 indexed offence, address indexed reporter, uint256 reward);

    /// @param initialOwner The sequencer operator (may withdraw once its keys are settled).
    /// @param keys_ The key registry; its inbox must be `inbox_`.
    /// @param inbox_ The inbox: the EIP-712 verifying contract of the signatures.
    /// @param p The parameters, each within its bounds.
    constructor(address initialOwner, SequencerKeys keys_, address inbox_, Params memory p) Owned(initialOwner) {
        if (inbox_ == address(0)) revert ZeroInbox();
        if (address(keys_.inbox()) != inbox_) revert KeysInboxMismatch(address(keys_.inbox()), inbox_);
        if (p.minimumBond == 0) revert MinimumBondOutOfRange(p.minimumBond);
        if (p.reporterShareBps > MAX_REPORTER_SHARE_BPS) {
            revert ReporterShareOutOfRange(p.reporterShareBps, MAX_REPORTER_SHARE_BPS);
        }
        if (p.maxReward == 0) revert MaxRewardOutOfRange(p.maxReward);
        if (p.withdrawalDelay == 0 || p.withdrawalDelay > MAX_WITHDRAWAL_DELAY) {
            revert WithdrawalDelayOutOfRange(p.withdrawalDelay, MAX_WITHDRAWAL_DELAY);
        }
        if (p.withdrawalWindow == 0 || p.withdrawalWindow > MAX_WITHDRAWAL_WINDOW) {
            revert WithdrawalWindowOutOfRange(p.withdrawalWindow, MAX_WITHDRAWAL_WINDOW);
        }
        if (p.claimDelay < MIN_CLAIM_DELAY || p.claimDelay > MAX_CLAIM_DELAY) {
            revert ClaimDelayOutOfRange(p.claimDelay, MIN_CLAIM_DELAY, MAX_CLAIM_DELAY);
        }
        keys = keys_;
        inbox = inbox_;
        minimumBond = p.minimumBond;
        reporterShareBps = p.reporterShareBps;
        maxReward = p.maxReward;
        withdrawalDelay = p.withdrawalDelay;
        withdrawalWindow = p.withdrawalWindow;
        claimDelay = p.claimDelay;
        _chainId = block.chainid;
        _separator = SharedSeqLib.domainSeparator(block.chainid, inbox_);
    }

    // ------------------------------------------------------------------ bond

    /// @notice Add ETH to the bond (anyone may).
    function deposit() external payable {
        bond += msg.value;
        emit Deposited(msg.sender, msg.value, bond);
    }

    /// @inheritdoc ISequencerBond
    function isSufficient() external view returns (bool) {
        uint256 atStake = bond;
        if (_withdrawalPending()) atStake = withdrawalAmount >= atStake ? 0 : atStake - withdrawalAmount;
        return atStake >= minimumBond;
    }

    /// @notice Start a withdrawal of `amount`: it may be taken from withdrawalDelay blocks on, for
    ///         withdrawalWindow blocks, if by then every key is settled. Replaces an earlier request.
    /// @param amount Wei to withdraw.
    function requestWithdrawal(uint256 amount) external onlyOwner {
        if (amount == 0 || amount > bond) revert BadWithdrawalAmount(amount, bond);
        uint64 readyAt = uint64(block.number) + withdrawalDelay;
        uint64 expiresAt = readyAt + withdrawalWindow;
        withdrawalAmount = amount;
        withdrawalReadyAt = readyAt;
        withdrawalExpiresAt = expiresAt;
        emit WithdrawalRequested(amount, readyAt, expiresAt);
    }

    /// @notice Take the requested withdrawal to the owner.
    function withdraw() external onlyOwner {
        uint256 amount = withdrawalAmount;
        if (amount == 0) revert NoWithdrawalPending();
        if (block.number < withdrawalReadyAt) revert WithdrawalNotReady(withdrawalReadyAt);
        if (block.number > withdrawalExpiresAt) revert WithdrawalExpired(withdrawalExpiresAt);
        if (amount > bond) revert BadWithdrawalAmount(amount, bond);
        if (!keys.settled()) revert KeysNotSettled();
        withdrawalAmount = 0;
        bond -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    function _withdrawalPending() private view returns (bool) {
        return withdrawalAmount != 0 && block.number <= withdrawalExpiresAt;
    }

    // ------------------------------------------------------------------ reports

    /// @notice Commit to a report: `commitment` = keccak256(abi.encode(reporter, keccak256(calldata))) where
    ///         calldata is the exact proof call the reporter will send (from `reporter`) a block later or more.
    ///         The earliest block is kept; committing again changes nothing.
    /// @param commitment The commitment.
    function commitReport(bytes32 commitment) external {
        if (commitBlock[commitment] != 0) return;
        commitBlock[commitment] = uint64(block.number);
        emit ReportCommitted(commitment, msg.sender, uint64(block.number));
    }

    /// @notice The report of a slashed offence (reporter zero: not slashed).
    /// @param offence The offence id from the Slashed event.
    function report(bytes32 offence) external view returns (Report memory) {
        return _reports[offence];
    }

    /// @notice Pay a slashed offence's reward to its reporter, once claimDelay has passed.
    /// @param offence The offence id from the Slashed event.
    function claimReward(bytes32 offence) external {
        Report storage r = _reports[offence];
        if (r.reporter != msg.sender || r.reward == 0) revert NoClaim(offence);
        if (block.number < r.claimableAt) revert ClaimTooEarly(uint64(r.claimableAt));
        uint256 reward = r.reward;
        r.reward = 0;
        emit RewardClaimed(offence, msg.sender, reward);
        (bool ok,) = msg.sender.call{value: reward}("");
        if (!ok) revert TransferFailed();
    }

    // ------------------------------------------------------------------ proofs

    /// @notice Prove that the sequencer's keys signed two different headers at one height.
    function proveEquivocation(
        SharedSeqLib.BlockHeader calldata a,
        bytes calldata sigA,
        SharedSeqLib.BlockHeader calldata b,
        bytes calldata sigB
    ) external {
        uint64 committed = _revealed();
        if (a.height != b.height) revert HeightsDiffer(a.height, b.height);
        bytes32 hashA = SharedSeqLib.hashHeader(a);
        bytes32 hashB = SharedSeqLib.hashHeader(b);
        if (hashA == hashB) revert SameHeader();
        _requireAccountable(_signer(hashA, sigA), a.height, _signer(hashB, sigB), a.height);
        _punish(keccak256(abi.encode(KIND_CONFLICT, a.height)), KIND_CONFLICT, committed);
    }

    /// @notice Prove that the sequencer's keys signed both a commit and an abort of one cross-rollup
    ///         margin bundle (docs/margin.md). An outcome carries no shared height, so each signer must be
    ///         a key SequencerKeys still holds accountable at all (asked at the highest height).
    function proveOutcomeEquivocation(bytes32 bundleId, bytes calldata commitSig, bytes calldata abortSig)
        external
    {
        uint64 committed = _revealed();
        address a = _signer(keccak256(abi.encode(OUTCOME_TYPEHASH, bundleId, true)), commitSig);
        address b = _signer(keccak256(abi.encode(OUTCOME_TYPEHASH, bundleId, false)), abortSig);
        _requireAccountable(a, type(uint64).max, b, type(uint64).max);
        _punish(keccak256(abi.encode(KIND_OUTCOME_EQUIVOCATION, bundleId)), KIND_OUTCOME_EQUIVOCATION, committed);
    }

    /// @notice Prove that a signed window puts, at the signed header's height, another block hash.
    /// @param w The window.
    /// @param wSig The sequencer's signature over hashStruct(Window).
    /// @param claim Where the window names the block hash at h.height (a blocksRoot leaf, parentHash, lastBlockHash).
    /// @param h The header.
    /// @param hSig The sequencer's signature over it.
    function proveWindowHeaderConflict(
        SharedSeqLib.Window calldata w,
        bytes calldata wSig,
        WindowClaim calldata claim,
        SharedSeqLib.BlockHeader calldata h,
        bytes calldata hSig
    ) external {
        uint64 committed = _revealed();
        (bytes32 claimed, address windowSigner, uint64 windowHeight) = _windowClaim(w, wSig, claim, h.height);
        bytes32 headerHash = SharedSeqLib.hashHeader(h);
        if (claimed == headerHash) revert SameHeader();
        _requireAccountable(windowSigner, windowHeight, _signer(headerHash, hSig), h.height);
        _punish(keccak256(abi.encode(KIND_CONFLICT, h.height)), KIND_CONFLICT, committed);
    }

    /// @notice Prove that two signed windows (or one window's leaf and its own parentHash/lastBlockHash)
    ///         name different block hashes at `height`.
    function proveWindowsConflict(
        SharedSeqLib.Window calldata a,
        bytes calldata sigA,
        WindowClaim calldata claimA,
        SharedSeqLib.Window calldata b,
        bytes calldata sigB,
        WindowClaim calldata claimB,
        uint64 height
    ) external {
        uint64 committed = _revealed();
        (bytes32 hashA, address signerA, uint64 heightA) = _windowClaim(a, sigA, claimA, height);
        (bytes32 hashB, address signerB, uint64 heightB) = _windowClaim(b, sigB, claimB, height);
        if (hashA == hashB) revert SameHeader();
        _requireAccountable(signerA, heightA, signerB, heightB);
        _punish(keccak256(abi.encode(KIND_CONFLICT, height)), KIND_CONFLICT, committed);
    }

    /// @notice Prove that a batch-signed receipt was broken by the signed block at its height: the rollup's
    ///         namespace has fewer than index + 1 transactions, or another transaction sits at the index.
    /// @param r The receipt with its batch signature and path.
    /// @param header The header at r.receipt.height.
    /// @param headerSig The sequencer's signature over the header.
    /// @param ns The rollup's namespace leaf (rollupId must equal the receipt's) with its audit path.
    /// @param actualTxHash The transaction at the receipt's index (ignored when index >= ns.txCount).
    /// @param txPath Its audit path under ns.txRoot.
    function proveBrokenReceipt(
        BatchedReceipt calldata r,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig,
        SharedSeqLib.NamespaceLeaf calldata ns,
        bytes32 actualTxHash,
        bytes32[] calldata txPath
    ) external {
        uint64 committed = _revealed();
        bytes32 offence = _checkReceiptAndHeader(r, header, headerSig);
        SharedSeqLib.Receipt calldata receipt = r.receipt;
        if (ns.rollupId != receipt.rollupId || !SharedSeqLib.verifyNamespaceLeaf(ns, header.namespaceCount, header.namespacesRoot)) {
            revert InvalidNamespaceProof();
        }
        if (receipt.index < ns.txCount) {
            if (!SharedSeqLib.verifyInclusion(abi.encodePacked(actualTxHash), receipt.index, ns.txCount, txPath, ns.txRoot)) {
                revert InvalidTxProof();
            }
            if (actualTxHash == receipt.txHash) revert ReceiptKept();
        }
        _punish(offence, KIND_BROKEN_RECEIPT, committed);
    }

    /// @notice Prove that a batch-signed receipt was broken because the block at its height has no namespace
    ///         for the receipt's rollup: two adjacent leaves bracket the id, or one end leaf does, or the
    ///         header has no namespaces at all (as commitments.verify_namespace).
    /// @param r The receipt with its batch signature and path.
    /// @param header The header at the receipt's height.
    /// @param headerSig The sequencer's signature over the header.
    /// @param neighbours Zero, one or two namespace leaves with audit paths, in index order.
    function proveReceiptNamespaceAbsent(
        BatchedReceipt calldata r,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig,
        SharedSeqLib.NamespaceLeaf[] calldata neighbours
    ) external {
        uint64 committed = _revealed();
        bytes32 offence = _checkReceiptAndHeader(r, header, headerSig);
        uint256 count = header.namespaceCount;
        for (uint256 i = 0; i < neighbours.length; i++) {
            if (!SharedSeqLib.verifyNamespaceLeaf(neighbours[i], count, header.namespacesRoot)) {
                revert InvalidAbsenceProof();
            }
        }
        uint64 id = r.receipt.rollupId;
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
        _punish(offence, KIND_BROKEN_RECEIPT, committed);
    }

    /// @notice Prove that a signed header's namespace tree is malformed: two adjacent leaves whose rollup
    ///         ids are not strictly increasing (a repeated or out-of-order rollup can fake an absence or
    ///         split a rollup's transactions).
    /// @param h The header.
    /// @param sig The sequencer's signature over it.
    /// @param left The leaf at some index i, with its path.
    /// @param right The leaf at i + 1, with its path.
    function proveMalformedTree(
        SharedSeqLib.BlockHeader calldata h,
        bytes calldata sig,
        SharedSeqLib.NamespaceLeaf calldata left,
        SharedSeqLib.NamespaceLeaf calldata right
    ) external {
        uint64 committed = _revealed();
        if (right.index != left.index + 1) revert LeavesNotAdjacent();
        if (
            !SharedSeqLib.verifyNamespaceLeaf(left, h.namespaceCount, h.namespacesRoot)
                || !SharedSeqLib.verifyNamespaceLeaf(right, h.namespaceCount, h.namespacesRoot)
        ) revert InvalidNamespaceProof();
        if (left.rollupId < right.rollupId) revert TreeWellFormed();
        bytes32 headerHash = SharedSeqLib.hashHeader(h);
        address signer = _signer(headerHash, sig);
        _requireAccountable(signer, h.height, signer, h.height);
        _punish(keccak256(abi.encode(KIND_MALFORMED_TREE, headerHash)), KIND_MALFORMED_TREE, committed);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The block of the caller's commitment to this exact call; reverts unless it is from an earlier block.
    function _revealed() private view returns (uint64 committed) {
        bytes32 commitment = keccak256(abi.encode(msg.sender, keccak256(msg.data)));
        committed = commitBlock[commitment];
        if (committed == 0) revert NotCommitted(commitment);
        if (committed >= block.number) revert RevealTooEarly(committed);
    }

    /// @dev The block hash window `w` names at `height`, as `claim` says, the window's signer, and the height
    ///      its signer must be accountable for: `height`, except for a parent claim, which the window makes
    ///      as part of its first block (so a key's first window is bound by its parent link too).
    function _windowClaim(SharedSeqLib.Window calldata w, bytes calldata sig, WindowClaim calldata claim, uint64 height)
        private
        view
        returns (bytes32 claimed, address signer, uint64 accountableHeight)
    {
        accountableHeight = height;
        if (w.lastHeight < w.firstHeight) revert InvalidWindow();
        if (claim.kind == CLAIM_LEAF) {
            if (height < w.firstHeight || height > w.lastHeight) {
                revert HeightNotInWindow(height, w.firstHeight, w.lastHeight);
            }
            uint256 size = uint256(w.lastHeight - w.firstHeight) + 1;
            if (!SharedSeqLib.verifyInclusion(abi.encodePacked(claim.leaf), height - w.firstHeight, size, claim.path, w.blocksRoot)) {
                revert InvalidWindowProof();
            }
            claimed = claim.leaf;
        } else if (claim.kind == CLAIM_PARENT) {
            if (uint256(height) + 1 != w.firstHeight) revert HeightNotInWindow(height, w.firstHeight, w.lastHeight);
            claimed = w.parentHash;
            accountableHeight = w.firstHeight;
        } else if (claim.kind == CLAIM_LAST) {
            if (height != w.lastHeight) revert HeightNotInWindow(height, w.firstHeight, w.lastHeight);
            claimed = w.lastBlockHash;
        } else {
            revert InvalidClaimKind(claim.kind);
        }
        signer = _signer(SharedSeqLib.hashWindow(w), sig);
    }

    function _checkReceiptAndHeader(
        BatchedReceipt calldata r,
        SharedSeqLib.BlockHeader calldata header,
        bytes calldata headerSig
    ) private view returns (bytes32 offence) {
        uint64 height = r.receipt.height;
        if (header.height != height) revert HeaderHeightMismatch(height, header.height);
        bytes32 receiptHash = SharedSeqLib.hashReceipt(r.receipt);
        if (!SharedSeqLib.verifyInclusion(abi.encodePacked(receiptHash), r.leafIndex, r.batch.count, r.path, r.batch.receiptsRoot)) {
            revert InvalidReceiptProof();
        }
        _requireAccountable(
            _signer(SharedSeqLib.hashReceiptBatch(r.batch), r.batchSignature),
            height,
            _signer(SharedSeqLib.hashHeader(header), headerSig),
            height
        );
        offence = keccak256(abi.encode(KIND_BROKEN_RECEIPT, receiptHash));
    }

    /// @dev The signer of an EIP-712 struct under the inbox's domain (zero if the signature is invalid).
    function _signer(bytes32 structHash, bytes calldata signature) private view returns (address) {
        bytes32 separator =
            block.chainid == _chainId ? _separator : SharedSeqLib.domainSeparator(block.chainid, inbox);
        return SharedSeqLib.recover(SharedSeqLib.typedDigest(separator, structHash), signature);
    }

    /// @dev Signer `a` must be accountable for `ha` and `b` for `hb` (asked once when both are the same).
    function _requireAccountable(address a, uint64 ha, address b, uint64 hb) private view {
        if (a == address(0) || !keys.accountable(a, ha)) revert NotAccountable(a, ha);
        if ((b != a || hb != ha) && (b == address(0) || !keys.accountable(b, hb))) revert NotAccountable(b, hb);
    }

    function _punish(bytes32 offence, uint8 kind, uint64 committed) private {
        Report storage r = _reports[offence];
        if (r.reporter != address(0)) {
            // Already slashed: an earlier commitment revealed before the reward is claimable takes it over,
            // so whoever copied a proof from the mempool (and so committed later) ends up with nothing.
            if (committed >= r.commitBlock || block.number >= r.claimableAt) revert AlreadyPunished(offence);
            emit ReporterReplaced(offence, r.reporter, msg.sender);
            r.reporter = msg.sender;
            r.commitBlock = uint48(committed);
            return;
        }
        uint256 amount = bond;
        if (amount == 0) revert NothingToSlash();
        // An offence is punished once, keyed by its height (or receipt/header): slashing a dust bond would
        // spend that key for 1 wei, and the operator could pre-burn the heights it means to lie at.
        if (amount < minimumBond) revert BondBelowMinimum(amount, minimumBond);
        bond = 0;
        withdrawalAmount = 0;
        uint256 reward = amount * reporterShareBps / 10000;
        if (reward > maxReward) reward = maxReward;
        burnt += amount - reward;
        uint64 claimableAt = uint64(block.number) + claimDelay;
        _reports[offence] = Report(msg.sender, uint48(committed), uint48(claimableAt), reward);
        emit Slashed(offence, kind, msg.sender, reward, amount - reward, claimableAt);
    }
}
