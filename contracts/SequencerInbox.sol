// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISequencerBond, ISequencerKeys} from "./Interfaces.sol";
import {Owned} from "./Owned.sol";
import {FORCED_TX_BYTES_CEILING, RollupRegistry} from "./RollupRegistry.sol";
import {SharedSeqLib} from "./SharedSeqLib.sol";

/// @title SequencerInbox
/// @notice Makes shared blocks firm on L1 (docs/settlement.md sections 3 and 4). Each posting carries a
///         Window commitment the sequencer signed end to end (heights, parent, blocks root, timestamps, L1
///         origin, every rollup's batch hash and forced-queue position, the header witness), the batches
///         (calldata, or EIP-4844 blobs: postWindowBlobs) and the witness. The inbox checks every field it
///         can check on L1 and records the window; windows follow one another without gaps or forks.
///
///         The inbox also holds the forced-inclusion queues. Anyone enqueues a rollup transaction; it
///         records its L1 block E. A window listing rollup R must say, as forcedTo, exactly how many of R's
///         entries were enqueued at an L1 block <= the window's L1 origin (the inbox counts them itself),
///         and the origin of a live window (one whose last block is at most catchUpAfterMs older than
///         the posting block) may lag the posting block by at most maxOriginLag. So every live posting
///         that lists R from L1 block E + maxOriginLag on applies the entry, whatever the sequencer
///         chooses. An older (catch-up) window, which a poster or L1 outage leaves behind, may carry an
///         origin older than that, so such an outage never bricks the inbox; a sequencer that posts only
///         catch-up windows keeps its firm chain more than catchUpAfterMs behind L1, for all to see; rollup
///         nodes apply exactly the entries [previous forcedTo, forcedTo) (rule F). A rollup that is paused
///         or not served is simply left out of postings: it never blocks another rollup.
/// @dev The EIP-712 domain is ("sharedseq", "1", block.chainid, address(this)), as in signing.py.
contract SequencerInbox is Owned {
    /// @notice A recorded window (2 storage slots; its fields, signer and per-rollup values are in the event).
    /// @param l1Block The L1 block the posting landed in.
    /// @param l1OriginNumber The window's (signed) L1 origin.
    /// @param windowHash hashStruct(Window) of the signed commitment.
    struct WindowRecord {
        uint64 firstHeight;
        uint64 lastHeight;
        uint64 l1Block;
        uint64 l1OriginNumber;
        bytes32 windowHash;
    }

    /// @notice A queued forced transaction; its bytes are in the ForcedTxEnqueued event's calldata.
    /// @param l1Block E, the L1 block it was enqueued in: a window whose origin is >= E applies it.
    /// @param deadline E + maxOriginLag: from this L1 block on, every posting listing the rollup applies it.
    /// @param l1Timestamp block.timestamp of E (seconds): a catch-up window whose last timestamp is
    ///        catchUpAfterMs or more past it must apply the entry (ForcedEntryDue), so a sequencer cannot
    ///        censor by keeping its clock just over catchUpAfterMs behind L1 on a frozen origin.
    struct ForcedTx {
        bytes32 txHash;
        uint64 l1Block;
        uint64 deadline;
        uint64 l1Timestamp;
    }

    /// @notice Largest forced transaction any rollup may accept (geth's txpool txMaxSize, 128 KiB); each
    ///         rollup's own limit is RollupRegistry.maxForcedTxBytes, never above this.
    uint256 public constant MAX_FORCED_TX_BYTES = FORCED_TX_BYTES_CEILING;
    /// @notice maxOriginLag is at most 255 so that blockhash(origin) is always available to check.
    uint64 public constant MAX_ORIGIN_LAG = 255;
    /// @notice Largest window (blocks); equals window.py MAX_WITNESS_BLOCKS, the most a node decodes.
    uint64 public constant MAX_WINDOW_BLOCKS = 4096;
    /// @notice Bounds of maxClockDriftMs: at least one second (an L1 block's timestamp is its slot start,
    ///         so a posting can land up to a slot after the last block was sealed), at most one hour.
    uint64 public constant MIN_CLOCK_DRIFT_MS = 1_000;
    uint64 public constant MAX_CLOCK_DRIFT_MS = 3_600_000;
    /// @notice Bounds of catchUpAfterMs: at least ten seconds, at most seven days.
    uint64 public constant MIN_CATCH_UP_AFTER_MS = 10_000;
    uint64 public constant MAX_CATCH_UP_AFTER_MS = 7 days * 1000;

    /// @notice The rollups this inbox serves.
    RollupRegistry public immutable registry;
    /// @notice The sequencer's key history: who may sign a window (canSign).
    ISequencerKeys public immutable keys;
    /// @notice L1 blocks a window's L1 origin may lag the posting block (1..255). Also the forced-inclusion
    ///         bound: an entry enqueued at E is applied by every posting listing its rollup from E + maxOriginLag.
    uint64 public immutable maxOriginLag;
    /// @notice Most blocks one window may cover (1..4096).
    uint64 public immutable maxWindowBlocks;
    /// @notice How far (ms) a window's last timestamp may be ahead of the posting block's timestamp.
    uint64 public immutable maxClockDriftMs;
    /// @notice A window whose last timestamp is more than this (ms) older than the posting block is a
    ///         catch-up window: its origin must still be real, in the past and never go back, but may lag
    ///         more than maxOriginLag. Choose it below maxOriginLag L1 block times, so that an honest
    ///         window is either live with a recent origin or old enough to catch up.
    uint64 public immutable catchUpAfterMs;

    /// @notice The sequencer's bond; set once by the owner. No window is accepted before, or while it is
    ///         not sufficient.
    ISequencerBond public bond;
    /// @notice The height the next window must start at.
    uint64 public nextHeight;
    /// @notice The last firm block's timestamp (Unix ms; zero before the first window).
    uint64 public lastTimestamp;
    /// @notice The last window's L1 origin number (origins never go back).
    uint64 public lastOriginNumber;
    /// @notice The block hash of the last firm block (zero before the first window).
    bytes32 public lastBlockHash;
    /// @notice Whether an address may post windows (a batcher). Posting is restricted so that only the
    ///         operator's batchers spend the sequencer's signed windows; it protects nothing else.
    mapping(address => bool) public isPoster;
    /// @notice Per rollup, how many of its forced entries the windows posted so far apply (the forcedTo of
    ///         the last window that listed it).
    mapping(uint64 => uint64) public forcedTo;

    WindowRecord[] private _windows;
    mapping(uint64 => ForcedTx[]) private _forced;

    /// @notice A constructor argument is the zero address.
    error ZeroAddress();
    /// @notice A constructor bound is outside its range.
    error MaxOriginLagOutOfRange(uint64 given, uint64 min, uint64 max);
    error MaxWindowBlocksOutOfRange(uint64 given, uint64 min, uint64 max);
    error MaxClockDriftOutOfRange(uint64 given, uint64 min, uint64 max);
    /// @notice catchUpAfterMs is outside MIN_CATCH_UP_AFTER_MS..MAX_CATCH_UP_AFTER_MS.
    error CatchUpAfterOutOfRange(uint64 given, uint64 min, uint64 max);
    /// @notice The bond can be set once only.
    error BondAlreadySet(address bond);
    /// @notice No bond contract is set yet: no window can be posted.
    error BondNotSet();
    /// @notice The bond is below its minimum or being withdrawn: no window can be posted.
    error BondInsufficient();
    /// @notice The caller is not an authorised poster.
    error NotPoster(address caller);
    /// @notice The signature is malformed, has a high s or a bad v, or does not recover.
    error BadSignature();
    /// @notice The window's signer may not sign these heights now (SequencerKeys.canSign).
    error UnknownSigner(address recovered);
    /// @notice The window does not start at nextHeight (gap or replay).
    error WrongFirstHeight(uint64 expected, uint64 got);
    /// @notice The first block's parent is not the last firm block.
    error WrongParent(bytes32 expected, bytes32 got);
    /// @notice lastHeight < firstHeight.
    error EmptyWindow(uint64 firstHeight, uint64 lastHeight);
    /// @notice The window covers more than maxWindowBlocks blocks.
    error WindowTooLong(uint64 blocks, uint64 max);
    /// @notice The window ends at the largest uint64: no height could follow it.
    error HeightOverflow();
    /// @notice The first timestamp is before the last firm block's.
    error TimestampBackwards(uint64 previous, uint64 given);
    /// @notice The last timestamp is before the first.
    error TimestampsReversed(uint64 first, uint64 last);
    /// @notice The last timestamp is ahead of block.timestamp * 1000 + maxClockDriftMs.
    error TimestampInFuture(uint64 given, uint64 limit);
    /// @notice The L1 origin is not an L1 block before the posting's.
    error OriginNotInPast(uint64 origin, uint256 blockNumber);
    /// @notice The L1 origin lags the posting block by more than maxOriginLag.
    error OriginTooOld(uint64 origin, uint256 oldestAllowed);
    /// @notice The L1 origin hash is not blockhash(origin).
    error WrongOriginHash(uint64 origin, bytes32 expected, bytes32 got);
    /// @notice The L1 origin is below the previous window's.
    error OriginBackwards(uint64 previous, uint64 given);
    /// @notice A postWindowBlobs transaction carries `got` blobs (at least) where blobCounts need `expected`
    ///         (or a rollup was given zero blobs).
    error WrongBlobCount(uint256 expected, uint256 got);
    /// @notice Parallel arrays differ in length.
    error LengthMismatch();
    /// @notice Rollup ids in a posting must be strictly increasing.
    error RollupIdsNotSorted();
    /// @notice The rollup is not registered or is paused.
    error RollupNotActive(uint64 rollupId);
    /// @notice keccak256(abi.encode(rollupIds, batchHashes, forcedTo)) of the posting is not w.rollupsHash.
    error WrongRollupsHash(bytes32 expected, bytes32 got);
    /// @notice keccak256(witness) is not w.witnessHash.
    error WrongWitnessHash(bytes32 expected, bytes32 got);
    /// @notice forcedTo of a rollup is not the number of its entries enqueued at or before the window's origin.
    error WrongForcedTo(uint64 rollupId, uint64 expected, uint64 got);
    /// @notice A catch-up window leaves out entry `seq`, enqueued catchUpAfterMs or more before the window's
    ///         last timestamp: its origin must reach the entry's L1 block.
    error ForcedEntryDue(uint64 rollupId, uint64 seq, uint64 enqueuedAtMs, uint64 windowLastTimestamp);
    /// @notice A forced transaction must be 1..limit bytes (the rollup's maxForcedTxBytes).
    error BadForcedTxSize(uint256 size, uint256 limit);
    /// @notice No window or forced transaction at that index.
    error OutOfRange(uint256 index);

    /// @notice A poster was added (true) or removed (false).
    event PosterSet(address indexed poster, bool allowed);
    /// @notice The bond contract was set.
    event BondSet(address indexed bond);
    /// @notice A window was recorded; blocks window.firstHeight..window.lastHeight are firm.
    ///         `windowHash` is hashStruct(window), `signer` signed it; batchHashes[i] is keccak256 of the batch
    ///         of rollupIds[i] (postWindow) or its blobs' versioned hash(es) (postWindowBlobs, see there);
    ///         forcedTo[i] is the rollup's forced-queue position after this window.
    event WindowPosted(
        uint256 indexed windowIndex,
        bytes32 indexed windowHash,
        SharedSeqLib.Window window,
        address signer,
        uint64[] rollupIds,
        bytes32[] batchHashes,
        uint64[] forcedTo
    );
    /// @notice A forced transaction was queued for `rollupId` at position `seq` in L1 block `l1Block`;
    ///         every posting listing the rollup from L1 block `deadline` on applies it.
    event ForcedTxEnqueued(
        uint64 indexed rollupId, uint64 indexed seq, bytes32 txHash, uint64 l1Block, uint64 deadline, bytes data
    );

    /// @param initialOwner Manages the posters and sets the bond once.
    /// @param registry_ The rollup registry.
    /// @param keys_ The sequencer's key history (SequencerKeys).
    /// @param maxOriginLag_ L1 blocks a window's origin may lag the posting, 1..255.
    /// @param maxWindowBlocks_ Most blocks per window, 1..4096.
    /// @param maxClockDriftMs_ How far a window's last timestamp may run ahead of L1, 1 s..1 h.
    /// @param catchUpAfterMs_ Age (ms) past which a window is a catch-up window, 10 s..7 days.
    constructor(
        address initialOwner,
        RollupRegistry registry_,
        ISequencerKeys keys_,
        uint64 maxOriginLag_,
        uint64 maxWindowBlocks_,
        uint64 maxClockDriftMs_,
        uint64 catchUpAfterMs_
    ) Owned(initialOwner) {
        if (address(registry_) == address(0) || address(keys_) == address(0)) revert ZeroAddress();
        if (maxOriginLag_ < 1 || maxOriginLag_ > MAX_ORIGIN_LAG) {
            revert MaxOriginLagOutOfRange(maxOriginLag_, 1, MAX_ORIGIN_LAG);
        }
        if (maxWindowBlocks_ < 1 || maxWindowBlocks_ > MAX_WINDOW_BLOCKS) {
            revert MaxWindowBlocksOutOfRange(maxWindowBlocks_, 1, MAX_WINDOW_BLOCKS);
        }
        if (maxClockDriftMs_ < MIN_CLOCK_DRIFT_MS || maxClockDriftMs_ > MAX_CLOCK_DRIFT_MS) {
            revert MaxClockDriftOutOfRange(maxClockDriftMs_, MIN_CLOCK_DRIFT_MS, MAX_CLOCK_DRIFT_MS);
        }
        if (catchUpAfterMs_ < MIN_CATCH_UP_AFTER_MS || catchUpAfterMs_ > MAX_CATCH_UP_AFTER_MS) {
            revert CatchUpAfterOutOfRange(catchUpAfterMs_, MIN_CATCH_UP_AFTER_MS, MAX_CATCH_UP_AFTER_MS);
        }
        registry = registry_;
        keys = keys_;
        catchUpAfterMs = catchUpAfterMs_;
        maxOriginLag = maxOriginLag_;
        maxWindowBlocks = maxWindowBlocks_;
        maxClockDriftMs = maxClockDriftMs_;
    }

    modifier onlyPoster() {
        if (!isPoster[msg.sender]) revert NotPoster(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ administration

    /// @notice Authorise or revoke a poster (batcher).
    /// @param poster The batcher's address.
    /// @param allowed True to authorise, false to revoke.
    function setPoster(address poster, bool allowed) external onlyOwner {
        isPoster[poster] = allowed;
        emit PosterSet(poster, allowed);
    }

    /// @notice Set the bond contract, once (it is deployed after the inbox, which it reads).
    /// @param bond_ The SequencerBond.
    function setBond(ISequencerBond bond_) external onlyOwner {
        if (address(bond) != address(0)) revert BondAlreadySet(address(bond));
        if (address(bond_) == address(0)) revert ZeroAddress();
        bond = bond_;
        emit BondSet(address(bond_));
    }

    // ------------------------------------------------------------------ windows

    /// @notice Record a signed window and the calldata batches covering it.
    /// @param w The signed commitment (docs/settlement.md section 1).
    /// @param sig The sequencer's EIP-712 signature over w (65 bytes r ++ s ++ v, low s).
    /// @param rollupIds Rollups with a batch in this posting, strictly increasing, each active.
    /// @param batches Batch data per rollup (may be empty); batch hash = keccak256(batch).
    /// @param forcedTo_ Per rollup, its forced entries enqueued at an L1 block <= w.l1OriginNumber.
    /// @param witness The header witness; keccak256(witness) == w.witnessHash.
    /// @return windowIndex The new window's index.
    function postWindow(
        SharedSeqLib.Window calldata w,
        bytes calldata sig,
        uint64[] calldata rollupIds,
        bytes[] calldata batches,
        uint64[] calldata forcedTo_,
        bytes calldata witness
    ) external onlyPoster returns (uint256 windowIndex) {
        if (rollupIds.length != batches.length || rollupIds.length != forcedTo_.length) revert LengthMismatch();
        bytes32[] memory hashes = new bytes32[](rollupIds.length);
        for (uint256 i = 0; i < rollupIds.length; i++) {
            hashes[i] = keccak256(batches[i]);
        }
        return _recordWindow(w, sig, rollupIds, hashes, forcedTo_, keccak256(witness));
    }

    /// @notice Record a signed window whose batches travel in this transaction's EIP-4844 blobs.
    ///         Rollup i's batch is the concatenation of the version-0 decoded contents of the next
    ///         blobCounts[i] blobs (in order: rollup 0's blobs first). Its batch hash is the blob's
    ///         versioned hash (`blobhash`) when blobCounts[i] == 1, else keccak256 of its blobs' versioned
    ///         hashes packed in order. The transaction must carry exactly sum(blobCounts) blobs. Same checks
    ///         and WindowPosted event as postWindow.
    /// @param w The signed commitment.
    /// @param sig The sequencer's signature over w.
    /// @param rollupIds Rollups with a batch in this posting, strictly increasing, each active.
    /// @param blobCounts Per rollup, how many blobs carry its batch (at least 1).
    /// @param forcedTo_ Per rollup, its forced entries enqueued at an L1 block <= w.l1OriginNumber.
    /// @param witness The header witness.
    /// @return windowIndex The new window's index.
    function postWindowBlobs(
        SharedSeqLib.Window calldata w,
        bytes calldata sig,
        uint64[] calldata rollupIds,
        uint256[] calldata blobCounts,
        uint64[] calldata forcedTo_,
        bytes calldata witness
    ) external onlyPoster returns (uint256 windowIndex) {
        if (rollupIds.length != blobCounts.length || rollupIds.length != forcedTo_.length) revert LengthMismatch();
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
        return _recordWindow(w, sig, rollupIds, hashes, forcedTo_, keccak256(witness));
    }

    /// @dev The versioned hash of blob `index`; reverts if the transaction has no such blob.
    function _blobhash(uint256 index) private view returns (bytes32 h) {
        h = blobhash(index);
        if (h == bytes32(0)) revert WrongBlobCount(index + 1, index);
    }

    /// @dev The checks and the record shared by postWindow and postWindowBlobs.
    function _recordWindow(
        SharedSeqLib.Window calldata w,
        bytes calldata sig,
        uint64[] calldata rollupIds,
        bytes32[] memory hashes,
        uint64[] calldata forcedTo_,
        bytes32 witnessHash
    ) private returns (uint256 windowIndex) {
        if (address(bond) == address(0)) revert BondNotSet();
        if (!bond.isSufficient()) revert BondInsufficient();
        _checkChain(w);
        _checkOrigin(w);
        {
            bytes32 rh = SharedSeqLib.rollupsHash(rollupIds, hashes, forcedTo_);
            if (rh != w.rollupsHash) revert WrongRollupsHash(rh, w.rollupsHash);
        }
        if (witnessHash != w.witnessHash) revert WrongWitnessHash(witnessHash, w.witnessHash);
        _applyForced(rollupIds, forcedTo_, w);
        (bytes32 windowHash, address signer) = _checkSigner(w, sig);

        windowIndex = _windows.length;
        _windows.push(WindowRecord(w.firstHeight, w.lastHeight, uint64(block.number), w.l1OriginNumber, windowHash));
        nextHeight = w.lastHeight + 1;
        lastTimestamp = w.lastTimestamp;
        lastOriginNumber = w.l1OriginNumber;
        lastBlockHash = w.lastBlockHash;
        emit WindowPosted(windowIndex, windowHash, w, signer, rollupIds, hashes, forcedTo_);
    }

    /// @dev The window's struct hash and its signer, a key that may sign these heights now.
    function _checkSigner(SharedSeqLib.Window calldata w, bytes calldata sig)
        private
        view
        returns (bytes32 windowHash, address signer)
    {
        windowHash = SharedSeqLib.hashWindow(w);
        signer = SharedSeqLib.recover(SharedSeqLib.typedDigest(domainSeparator(), windowHash), sig);
        if (signer == address(0)) revert BadSignature();
        if (!keys.canSign(signer, w.firstHeight, w.lastHeight)) revert UnknownSigner(signer);
    }

    /// @dev Heights contiguous and capped (so no window can jump ahead or end at the top of uint64),
    ///      the parent is the last firm block, timestamps never go back nor run ahead of L1.
    function _checkChain(SharedSeqLib.Window calldata w) private view {
        uint64 first = w.firstHeight;
        uint64 last = w.lastHeight;
        if (first != nextHeight) revert WrongFirstHeight(nextHeight, first);
        if (w.parentHash != lastBlockHash) revert WrongParent(lastBlockHash, w.parentHash);
        if (last < first) revert EmptyWindow(first, last);
        // A window ending at 2^64 - 1 would leave nextHeight unrepresentable and brick every later posting.
        if (last == type(uint64).max) revert HeightOverflow();
        uint64 blocks = last - first + 1;
        if (blocks > maxWindowBlocks) revert WindowTooLong(blocks, maxWindowBlocks);
        if (w.firstTimestamp < lastTimestamp) revert TimestampBackwards(lastTimestamp, w.firstTimestamp);
        if (w.lastTimestamp < w.firstTimestamp) revert TimestampsReversed(w.firstTimestamp, w.lastTimestamp);
        uint256 limit = block.timestamp * 1000 + maxClockDriftMs;
        if (w.lastTimestamp > limit) revert TimestampInFuture(w.lastTimestamp, uint64(limit));
    }

    /// @dev The origin is a real L1 block in the past that never goes back; for a live window it is also
    ///      recent (at most maxOriginLag old) and its hash is checked. A catch-up window's hash is checked
    ///      while the EVM still has it.
    function _checkOrigin(SharedSeqLib.Window calldata w) private view {
        uint64 origin = w.l1OriginNumber;
        if (origin >= block.number) revert OriginNotInPast(origin, block.number);
        if (origin < lastOriginNumber) revert OriginBackwards(lastOriginNumber, origin);
        bool live = uint256(w.lastTimestamp) + catchUpAfterMs >= block.timestamp * 1000;
        if (live && block.number - origin > maxOriginLag) revert OriginTooOld(origin, block.number - maxOriginLag);
        bytes32 h = blockhash(origin);
        if ((live || h != bytes32(0)) && h != w.l1OriginHash) revert WrongOriginHash(origin, h, w.l1OriginHash);
    }

    /// @notice Would a window whose last block has timestamp `lastTimestampMs` be live if posted now?
    /// @param lastTimestampMs The window's last timestamp (Unix ms).
    function isLive(uint64 lastTimestampMs) external view returns (bool) {
        return uint256(lastTimestampMs) + catchUpAfterMs >= block.timestamp * 1000;
    }

    /// @dev Each listed rollup is active and its forcedTo is exactly the inbox's own count at the origin.
    ///      Origins never go back, so the count never goes back either. A catch-up window's origin is not
    ///      bounded by maxOriginLag, and whether a window is catch-up is decided by the timestamps the
    ///      sequencer signs; so it must also apply every entry enqueued catchUpAfterMs or more before its
    ///      last timestamp (an honest block sealed that late had an origin past the entry). Entries are in
    ///      enqueue order, so the first one not applied is the only one to check.
    function _applyForced(uint64[] calldata rollupIds, uint64[] calldata forcedTo_, SharedSeqLib.Window calldata w)
        private
    {
        uint64 origin = w.l1OriginNumber;
        bool catchUp = uint256(w.lastTimestamp) + catchUpAfterMs < block.timestamp * 1000;
        uint64 previous = 0;
        for (uint256 i = 0; i < rollupIds.length; i++) {
            uint64 id = rollupIds[i];
            if (id <= previous) revert RollupIdsNotSorted();
            previous = id;
            if (!registry.isActive(id)) revert RollupNotActive(id);
            uint64 current = forcedTo[id];
            uint64 expected = _countForcedAt(id, origin, current);
            if (forcedTo_[i] != expected) revert WrongForcedTo(id, expected, forcedTo_[i]);
            if (catchUp && expected < _forced[id].length) {
                uint64 enqueuedAtMs = _forced[id][expected].l1Timestamp * 1000;
                if (uint256(enqueuedAtMs) + catchUpAfterMs <= w.lastTimestamp) {
                    revert ForcedEntryDue(id, expected, enqueuedAtMs, w.lastTimestamp);
                }
            }
            if (expected != current) forcedTo[id] = expected;
        }
    }

    /// @dev The number of `id`'s entries enqueued at an L1 block <= `l1BlockNumber`, knowing the first `lo`
    ///      are. Enqueue blocks are non-decreasing along the queue: binary search for the first later one.
    function _countForcedAt(uint64 id, uint64 l1BlockNumber, uint64 lo) private view returns (uint64) {
        ForcedTx[] storage q = _forced[id];
        uint256 hi = q.length;
        if (hi == lo || q[hi - 1].l1Block <= l1BlockNumber) return uint64(hi);
        uint256 low = lo;
        while (low < hi) {
            uint256 mid = (low + hi) / 2;
            if (q[mid].l1Block <= l1BlockNumber) low = mid + 1;
            else hi = mid;
        }
        return uint64(low);
    }

    /// @notice The number of recorded windows.
    function windowCount() external view returns (uint256) {
        return _windows.length;
    }

    /// @notice A recorded window by index.
    /// @param index The window index.
    function getWindow(uint256 index) external view returns (WindowRecord memory) {
        if (index >= _windows.length) revert OutOfRange(index);
        return _windows[index];
    }

    /// @notice The height of the last firm block; meaningful only when nextHeight > 0.
    function firmHeight() external view returns (uint64) {
        return nextHeight == 0 ? 0 : nextHeight - 1;
    }

    // ------------------------------------------------------------------ forced inclusion

    /// @notice Queue a transaction for a registered, active rollup. Every posting that lists the rollup
    ///         from L1 block block.number + maxOriginLag on applies it (earlier ones may already).
    /// @param rollupId The rollup.
    /// @param data The rollup transaction bytes (for EVM rollups a raw signed transaction), 1 to the
    ///        rollup's maxForcedTxBytes bytes.
    /// @return seq The transaction's position in the rollup's forced queue.
    function enqueueForced(uint64 rollupId, bytes calldata data) external returns (uint64 seq) {
        uint256 limit = registry.forcedTxLimit(rollupId);
        if (limit == 0) revert RollupNotActive(rollupId);
        if (data.length == 0 || data.length > limit) revert BadForcedTxSize(data.length, limit);
        ForcedTx[] storage q = _forced[rollupId];
        seq = uint64(q.length);
        uint64 deadline = uint64(block.number) + maxOriginLag;
        bytes32 txHash = keccak256(data);
        q.push(ForcedTx(txHash, uint64(block.number), deadline, uint64(block.timestamp)));
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

    /// @notice The forcedTo a window with L1 origin `l1BlockNumber` must give for `rollupId`: the number of its
    ///         entries enqueued at an L1 block <= l1BlockNumber. Final once l1BlockNumber < block.number.
    /// @param rollupId The rollup.
    /// @param l1BlockNumber A window's L1 origin number.
    function forcedCountAt(uint64 rollupId, uint64 l1BlockNumber) external view returns (uint64) {
        return _countForcedAt(rollupId, l1BlockNumber, 0);
    }

    /// @notice How many of `rollupId`'s entries are due but not applied yet: enqueued at an L1 block
    ///         <= block.number - maxOriginLag (so any posting listing the rollup now must apply them) and beyond
    ///         forcedTo(rollupId). Non-zero means no window has listed the rollup for at least maxOriginLag
    ///         blocks since: the rollup is paused or not served, and its queue waits (others are unaffected).
    /// @param rollupId The rollup.
    function overdue(uint64 rollupId) external view returns (uint64) {
        if (block.number < maxOriginLag) return 0;
        uint64 applied = forcedTo[rollupId];
        return _countForcedAt(rollupId, uint64(block.number) - maxOriginLag, applied) - applied;
    }

    // ------------------------------------------------------------------ commitments (shared with off-chain code)

    /// @notice This inbox's EIP-712 domain separator.
    function domainSeparator() public view returns (bytes32) {
        return SharedSeqLib.domainSeparator(block.chainid, address(this));
    }

    /// @notice hashStruct(Window), as window.py window_struct_hash.
    /// @param w The window commitment.
    function hashWindow(SharedSeqLib.Window calldata w) external pure returns (bytes32) {
        return SharedSeqLib.hashWindow(w);
    }

    /// @notice The EIP-712 digest the sequencer signs for window `w` under this inbox's domain.
    /// @param w The window commitment.
    function windowDigest(SharedSeqLib.Window calldata w) external view returns (bytes32) {
        return SharedSeqLib.typedDigest(domainSeparator(), SharedSeqLib.hashWindow(w));
    }

    /// @notice Window.rollupsHash: keccak256(abi.encode(rollupIds, batchHashes, forcedTo)), as window.py rollups_hash.
    /// @param rollupIds The posting's rollup ids.
    /// @param batchHashes Each rollup's batch hash.
    /// @param forcedTo_ Each rollup's forced-queue position after the window.
    function rollupsHash(uint64[] calldata rollupIds, bytes32[] calldata batchHashes, uint64[] calldata forcedTo_)
        external
        pure
        returns (bytes32)
    {
        return SharedSeqLib.rollupsHash(rollupIds, batchHashes, forcedTo_);
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

    /// @notice hashStruct(PreconfirmationBatch).
    /// @param b The batch.
    function hashReceiptBatch(SharedSeqLib.ReceiptBatch calldata b) external pure returns (bytes32) {
        return SharedSeqLib.hashReceiptBatch(b);
    }

    /// @notice The EIP-712 digest a sequencer key signs for `structHash` under this inbox's domain.
    /// @param structHash hashStruct of a BlockHeader, Preconfirmation(Batch) or Window.
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
