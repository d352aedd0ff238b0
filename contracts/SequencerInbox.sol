// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Owned} from "./Owned.sol";
import {RollupRegistry} from "./RollupRegistry.sol";
import {SharedSeqLib} from "./SharedSeqLib.sol";

/// @title SequencerInbox
/// @notice Makes shared blocks firm on L1. Each posting window covers consecutive shared blocks:
///         it carries the signed header of the window's last block, the Merkle root (RFC 9162,
///         leaves = block hashes in height order) of the window's block hashes, and per rollup the
///         batch data covering the window (calldata, hashed and recorded; or EIP-4844 blobs, whose
///         versioned hashes are recorded: postWindowBlobs). Windows follow one another
///         without gaps or forks. The inbox also holds the forced-inclusion queue: anyone enqueues a
///         rollup transaction; once its deadline passes, no window can be posted until the sequencer
///         reports it read, and rollup nodes include it whatever the sequencer does.
/// @dev The EIP-712 domain is ("sharedseq", "1", block.chainid, address(this)), as in signing.py.
contract SequencerInbox is Owned {
    /// @notice What proves a window: the first header (unsigned) at leaf 0 and the last header
    ///         (signed) at leaf blockCount - 1 of `blocksRoot`.
    struct WindowProof {
        SharedSeqLib.BlockHeader first;
        bytes32[] firstProof;
        SharedSeqLib.BlockHeader last;
        bytes lastSignature;
        bytes32[] lastProof;
        uint64 blockCount;
        bytes32 blocksRoot;
    }

    /// @notice A recorded window (4 storage slots; the per-rollup hashes and the signer are in the event).
    /// @param batchesHash keccak256(abi.encode(uint64[] rollupIds, bytes32[] batchHashes)) of the posting.
    struct Window {
        uint64 firstHeight;
        uint64 lastHeight;
        uint64 l1Block;
        bytes32 lastBlockHash;
        bytes32 blocksRoot;
        bytes32 batchesHash;
    }

    /// @notice A queued forced transaction; its bytes are in the ForcedTxEnqueued event's calldata.
    struct ForcedTx {
        bytes32 txHash;
        uint64 l1Block;
        uint64 deadline;
    }

    /// @notice Largest forced transaction accepted, in bytes.
    uint256 public constant MAX_FORCED_TX_BYTES = 131072;

    /// @notice The rollups this inbox serves.
    RollupRegistry public immutable registry;
    /// @notice L1 blocks a forced transaction may wait before the sequencer must have read it.
    uint64 public immutable forceInclusionDelay;

    /// @notice Whether an address is in the sequencer's signing key set.
    mapping(address => bool) public isSigner;
    /// @notice Whether an address may post windows (a batcher).
    mapping(address => bool) public isPoster;
    /// @notice The height the next window must start at.
    uint64 public nextHeight;
    /// @notice The block hash of the last firm block (zero before the first window).
    bytes32 public lastBlockHash;
    /// @notice Per rollup, how many of its forced transactions the sequencer has included.
    mapping(uint64 => uint64) public forcedRead;

    address[] private _signers;
    Window[] private _windows;
    mapping(uint64 => ForcedTx[]) private _forced;

    /// @notice The caller is not an authorised poster.
    error NotPoster(address caller);
    /// @notice The last header's signature does not recover to a registered sequencer key.
    error UnknownSigner(address recovered);
    /// @notice A window must hold at least one block.
    error EmptyWindow();
    /// @notice The window does not start at nextHeight (gap or replay).
    error WrongFirstHeight(uint64 expected, uint64 got);
    /// @notice The first block's parent is not the last firm block.
    error WrongParent(bytes32 expected, bytes32 got);
    /// @notice last.height != first.height + blockCount - 1.
    error WrongLastHeight(uint64 expected, uint64 got);
    /// @notice The first (0) or last (1) header is not proven in the window root.
    error InvalidWindowProof(uint8 which);
    /// @notice A postWindowBlobs transaction carries `got` blobs (at least) where blobCounts need `expected`
    ///         (or a rollup was given zero blobs).
    error WrongBlobCount(uint256 expected, uint256 got);
    /// @notice Parallel arrays differ in length.
    error LengthMismatch();
    /// @notice Rollup ids in a posting must be strictly increasing.
    error RollupIdsNotSorted();
    /// @notice The rollup is not registered or is paused.
    error RollupNotActive(uint64 rollupId);
    /// @notice forcedRead must not go backwards.
    error ForcedReadBackwards(uint64 rollupId, uint64 current, uint64 given);
    /// @notice forcedRead must not exceed the queue length.
    error ForcedReadBeyondQueue(uint64 rollupId, uint64 given, uint64 queueLength);
    /// @notice A forced transaction's deadline passed and the sequencer has not read it.
    error ForcedTxOverdue(uint64 rollupId, uint64 seq, uint64 deadline);
    /// @notice A forced transaction must be 1..MAX_FORCED_TX_BYTES bytes.
    error BadForcedTxSize(uint256 size);
    /// @notice No window or forced transaction at that index.
    error OutOfRange(uint256 index);

    /// @notice A signer key was added (true) or removed (false).
    event SignerSet(address indexed signer, bool allowed);
    /// @notice A poster was added (true) or removed (false).
    event PosterSet(address indexed poster, bool allowed);
    /// @notice A window was recorded; blocks window.firstHeight..window.lastHeight are firm.
    ///         batchHashes[i] is keccak256 of the batch of rollupIds[i] (postWindow) or its blobs' versioned
    ///         hash(es) (postWindowBlobs, see there); `signer` signed the last header;
    ///         forcedRead[i] is the rollup's forced-queue read position after this window.
    event WindowPosted(
        uint256 indexed windowIndex,
        Window window,
        address signer,
        uint64[] rollupIds,
        bytes32[] batchHashes,
        uint64[] forcedRead
    );
    /// @notice A forced transaction was queued for `rollupId` at position `seq`.
    event ForcedTxEnqueued(
        uint64 indexed rollupId, uint64 indexed seq, bytes32 txHash, uint64 l1Block, uint64 deadline, bytes data
    );

    /// @param initialOwner Manages the key set and the posters.
    /// @param registry_ The rollup registry.
    /// @param forceInclusionDelay_ L1 blocks before a forced transaction becomes overdue.
    constructor(address initialOwner, RollupRegistry registry_, uint64 forceInclusionDelay_) Owned(initialOwner) {
        registry = registry_;
        forceInclusionDelay = forceInclusionDelay_;
    }

    modifier onlyPoster() {
        if (!isPoster[msg.sender]) revert NotPoster(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ administration

    /// @notice Add or remove a sequencer signing key.
    /// @param signer The key's address.
    /// @param allowed True to add, false to remove.
    function setSigner(address signer, bool allowed) external onlyOwner {
        if (isSigner[signer] == allowed) return;
        isSigner[signer] = allowed;
        if (allowed) {
            _signers.push(signer);
        } else {
            for (uint256 i = 0; i < _signers.length; i++) {
                if (_signers[i] == signer) {
                    _signers[i] = _signers[_signers.length - 1];
                    _signers.pop();
                    break;
                }
            }
        }
        emit SignerSet(signer, allowed);
    }

    /// @notice Authorise or revoke a poster (batcher).
    /// @param poster The batcher's address.
    /// @param allowed True to authorise, false to revoke.
    function setPoster(address poster, bool allowed) external onlyOwner {
        isPoster[poster] = allowed;
        emit PosterSet(poster, allowed);
    }

    /// @notice The current sequencer key set.
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    // ------------------------------------------------------------------ windows

    /// @notice Record a posting window and the batches covering it.
    /// @param w The first and last headers of the window with their proofs in `w.blocksRoot`.
    /// @param rollupIds Rollups with a batch in this posting, strictly increasing, each active.
    /// @param batches Batch data per rollup (may be empty), hashed with keccak256 and recorded.
    /// @param forcedRead_ Per rollup, forced transactions the sequencer has included so far (monotonic).
    /// @return windowIndex The new window's index.
    function postWindow(
        WindowProof calldata w,
        uint64[] calldata rollupIds,
        bytes[] calldata batches,
        uint64[] calldata forcedRead_
    ) external onlyPoster returns (uint256 windowIndex) {
        if (rollupIds.length != batches.length || rollupIds.length != forcedRead_.length) revert LengthMismatch();
        bytes32[] memory hashes = new bytes32[](rollupIds.length);
        for (uint256 i = 0; i < rollupIds.length; i++) {
            hashes[i] = keccak256(batches[i]);
        }
        return _recordWindow(w, rollupIds, hashes, forcedRead_);
    }

    /// @notice Record a posting window whose batches travel in this transaction's EIP-4844 blobs.
    ///         Rollup i's batch is the concatenation of the version-0 decoded contents of the next
    ///         blobCounts[i] blobs (in order: rollup 0's blobs first). Its recorded batch hash is the
    ///         blob's versioned hash (`blobhash`) when blobCounts[i] == 1, else keccak256 of its
    ///         blobs' versioned hashes packed in order. The transaction must carry exactly
    ///         sum(blobCounts) blobs. Same checks and WindowPosted event as postWindow.
    /// @param w The first and last headers of the window with their proofs in `w.blocksRoot`.
    /// @param rollupIds Rollups with a batch in this posting, strictly increasing, each active.
    /// @param blobCounts Per rollup, how many blobs carry its batch (at least 1).
    /// @param forcedRead_ Per rollup, forced transactions the sequencer has included so far (monotonic).
    /// @return windowIndex The new window's index.
    function postWindowBlobs(
        WindowProof calldata w,
        uint64[] calldata rollupIds,
        uint256[] calldata blobCounts,
        uint64[] calldata forcedRead_
    ) external onlyPoster returns (uint256 windowIndex) {
        if (rollupIds.length != blobCounts.length || rollupIds.length != forcedRead_.length) revert LengthMismatch();
        bytes32[] memory hashes = new bytes32[](rollupIds.length);
        uint256 next = 0;
        for (uint256 i = 0; i < rollupIds.length; i++) {
            uint256 n = blobCounts[i];
            if (n == 0) revert WrongBlobCount(next + 1, next);
            if (n == 1) {
                hashes[i] = _blobhash(next);
            } else {
                bytes32[] memory vh = new bytes32[](n);
                for (uint256 j = 0; j < n; j++) {
                    vh[j] = _blobhash(next + j);
                }
                hashes[i] = keccak256(abi.encodePacked(vh));
            }
            next += n;
        }
        if (blobhash(next) != bytes32(0)) revert WrongBlobCount(next, next + 1);
        return _recordWindow(w, rollupIds, hashes, forcedRead_);
    }

    /// @dev The versioned hash of blob `index`; reverts if the transaction has no such blob.
    function _blobhash(uint256 index) private view returns (bytes32 h) {
        h = blobhash(index);
        if (h == bytes32(0)) revert WrongBlobCount(index + 1, index);
    }

    /// @dev The checks and the record shared by postWindow and postWindowBlobs.
    function _recordWindow(
        WindowProof calldata w,
        uint64[] calldata rollupIds,
        bytes32[] memory hashes,
        uint64[] calldata forcedRead_
    ) private returns (uint256 windowIndex) {
        (bytes32 lastHash, address signer) = _checkWindow(w);
        windowIndex = _windows.length;
        _checkRollups(rollupIds, forcedRead_);
        _checkNoOverdue();
        Window memory win = Window({
            firstHeight: w.first.height,
            lastHeight: w.last.height,
            l1Block: uint64(block.number),
            lastBlockHash: lastHash,
            blocksRoot: w.blocksRoot,
            batchesHash: keccak256(abi.encode(rollupIds, hashes))
        });
        _windows.push(win);
        nextHeight = win.lastHeight + 1;
        lastBlockHash = lastHash;
        emit WindowPosted(windowIndex, win, signer, rollupIds, hashes, forcedRead_);
    }

    function _checkWindow(WindowProof calldata w) private view returns (bytes32 lastHash, address signer) {
        if (w.blockCount == 0) revert EmptyWindow();
        SharedSeqLib.BlockHeader memory first = w.first;
        SharedSeqLib.BlockHeader memory last = w.last;
        if (first.height != nextHeight) revert WrongFirstHeight(nextHeight, first.height);
        if (first.parentHash != lastBlockHash) revert WrongParent(lastBlockHash, first.parentHash);
        uint64 expectedLast = first.height + w.blockCount - 1;
        if (last.height != expectedLast) revert WrongLastHeight(expectedLast, last.height);
        bytes32 firstHash = SharedSeqLib.hashHeader(first);
        lastHash = SharedSeqLib.hashHeader(last);
        if (!SharedSeqLib.verifyInclusion(abi.encodePacked(firstHash), 0, w.blockCount, w.firstProof, w.blocksRoot)) {
            revert InvalidWindowProof(0);
        }
        if (
            !SharedSeqLib.verifyInclusion(
                abi.encodePacked(lastHash), w.blockCount - 1, w.blockCount, w.lastProof, w.blocksRoot
            )
        ) revert InvalidWindowProof(1);
        signer = SharedSeqLib.recover(SharedSeqLib.typedDigest(domainSeparator(), lastHash), w.lastSignature);
        if (signer == address(0) || !isSigner[signer]) revert UnknownSigner(signer);
    }

    function _checkRollups(uint64[] calldata rollupIds, uint64[] calldata forcedRead_) private {
        uint64 previous = 0;
        for (uint256 i = 0; i < rollupIds.length; i++) {
            uint64 id = rollupIds[i];
            if (id <= previous) revert RollupIdsNotSorted();
            previous = id;
            if (!registry.isActive(id)) revert RollupNotActive(id);
            _advanceForcedRead(id, forcedRead_[i]);
        }
    }

    function _advanceForcedRead(uint64 id, uint64 given) private {
        uint64 current = forcedRead[id];
        if (given < current) revert ForcedReadBackwards(id, current, given);
        uint64 queued = uint64(_forced[id].length);
        if (given > queued) revert ForcedReadBeyondQueue(id, given, queued);
        if (given != current) forcedRead[id] = given;
    }

    function _checkNoOverdue() private view {
        uint64[] memory ids = registry.rollupIds();
        for (uint256 i = 0; i < ids.length; i++) {
            uint64 id = ids[i];
            ForcedTx[] storage q = _forced[id];
            uint64 read = forcedRead[id];
            if (read < q.length && q[read].deadline < block.number && registry.isActive(id)) {
                revert ForcedTxOverdue(id, read, q[read].deadline);
            }
        }
    }

    /// @notice The number of recorded windows.
    function windowCount() external view returns (uint256) {
        return _windows.length;
    }

    /// @notice A recorded window by index.
    /// @param index The window index.
    function getWindow(uint256 index) external view returns (Window memory) {
        if (index >= _windows.length) revert OutOfRange(index);
        return _windows[index];
    }

    /// @notice Window.batchesHash for a posting: keccak256(abi.encode(rollupIds, batchHashes)).
    /// @param rollupIds The posting's rollup ids.
    /// @param batchHashes keccak256 of each rollup's batch.
    function batchesCommitment(uint64[] calldata rollupIds, bytes32[] calldata batchHashes)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(rollupIds, batchHashes));
    }

    /// @notice The height of the last firm block; meaningful only when nextHeight > 0.
    function firmHeight() external view returns (uint64) {
        return nextHeight == 0 ? 0 : nextHeight - 1;
    }

    // ------------------------------------------------------------------ forced inclusion

    /// @notice Queue a transaction for a registered, active rollup. The sequencer must include it
    ///         before block.number exceeds the returned deadline, or no further window can be posted.
    /// @param rollupId The rollup.
    /// @param data The rollup transaction bytes (for EVM rollups a raw signed transaction).
    /// @return seq The transaction's position in the rollup's forced queue.
    function enqueueForced(uint64 rollupId, bytes calldata data) external returns (uint64 seq) {
        if (!registry.isActive(rollupId)) revert RollupNotActive(rollupId);
        if (data.length == 0 || data.length > MAX_FORCED_TX_BYTES) revert BadForcedTxSize(data.length);
        ForcedTx[] storage q = _forced[rollupId];
        seq = uint64(q.length);
        uint64 deadline = uint64(block.number) + forceInclusionDelay;
        bytes32 txHash = keccak256(data);
        q.push(ForcedTx(txHash, uint64(block.number), deadline));
        emit ForcedTxEnqueued(rollupId, seq, txHash, uint64(block.number), deadline, data);
    }

    /// @notice The length of a rollup's forced queue.
    /// @param rollupId The rollup.
    function forcedQueueLength(uint64 rollupId) external view returns (uint256) {
        return _forced[rollupId].length;
    }

    /// @notice A queued forced transaction.
    /// @param rollupId The rollup.
    /// @param seq Its position in the queue.
    function forcedTx(uint64 rollupId, uint64 seq) external view returns (ForcedTx memory) {
        if (seq >= _forced[rollupId].length) revert OutOfRange(seq);
        return _forced[rollupId][seq];
    }

    /// @notice How many unread forced transactions of `rollupId` are past their deadline now
    ///         (positions forcedRead .. forcedRead + count - 1). Rollup nodes include these.
    /// @param rollupId The rollup.
    function overdue(uint64 rollupId) external view returns (uint64) {
        ForcedTx[] storage q = _forced[rollupId];
        uint256 lo = forcedRead[rollupId];
        uint256 hi = q.length;
        uint256 start = lo;
        // Deadlines are non-decreasing: find the first position whose deadline has not passed.
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (q[mid].deadline < block.number) lo = mid + 1;
            else hi = mid;
        }
        return uint64(lo - start);
    }

    // ------------------------------------------------------------------ commitments (shared with off-chain code)

    /// @notice This inbox's EIP-712 domain separator.
    function domainSeparator() public view returns (bytes32) {
        return SharedSeqLib.domainSeparator(block.chainid, address(this));
    }

    /// @notice hashStruct(BlockHeader), the block hash.
    /// @param h The header.
    function hashHeader(SharedSeqLib.BlockHeader calldata h) external pure returns (bytes32) {
        return SharedSeqLib.hashHeader(h);
    }

    /// @notice hashStruct(Preconfirmation).
    /// @param r The receipt fields.
    function hashReceipt(SharedSeqLib.Receipt calldata r) external pure returns (bytes32) {
        return SharedSeqLib.hashReceipt(r);
    }

    /// @notice The EIP-712 digest a sequencer key signs for `structHash` under this inbox's domain.
    /// @param structHash hashStruct of a BlockHeader or Preconfirmation.
    function typedDigest(bytes32 structHash) external view returns (bytes32) {
        return SharedSeqLib.typedDigest(domainSeparator(), structHash);
    }

    /// @notice The signer of a typed digest (address(0) if the signature is malformed or high-s).
    /// @param digest The EIP-712 digest.
    /// @param signature 65 bytes r ++ s ++ v.
    function recoverSigner(bytes32 digest, bytes calldata signature) external pure returns (address) {
        return SharedSeqLib.recover(digest, signature);
    }

    /// @notice RFC 9162 inclusion check, as merkle.verify_inclusion.
    /// @param leaf Leaf data (not hashed).
    /// @param index Leaf index.
    /// @param size Tree size.
    /// @param proof Audit path.
    /// @param root Expected root.
    function verifyInclusion(bytes calldata leaf, uint256 index, uint256 size, bytes32[] calldata proof, bytes32 root)
        external
        pure
        returns (bool)
    {
        return SharedSeqLib.verifyInclusion(leaf, index, size, proof, root);
    }
}
