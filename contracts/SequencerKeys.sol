// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISequencerKeys} from "./Interfaces.sol";
import {Owned} from "./Owned.sol";

/// @notice The part of the inbox the key registry reads: the first height not yet firm.
interface IFirmHeight {
    function nextHeight() external view returns (uint64);
}

/// @title SequencerKeys
/// @notice The sequencer's signing keys and the history of every change (docs/settlement.md section 2).
///         A key is added with the first shared height it may sign (never below the inbox's firm
///         height); the inbox accepts windows signed by it only `activationDelay` L1 blocks later, so
///         watchers see a key before it can make anything firm. A key is retired, never deleted: it
///         stops signing windows at once (a leaked key must stop making history firm without delay)
///         and stays accountable for every height from its first one until `challengePeriod` L1 blocks
///         after its retirement. A key can be registered once only, so its record never changes
///         meaning and a signature once provable stays provable for the whole period.
/// @dev Accountability is deliberately not cut at the retirement height: a key may have signed soft
///      headers or receipts above the firm height before it was retired, and narrowing its range would
///      make exactly those lies unprovable (the escape of issue 8, finding 1).
contract SequencerKeys is ISequencerKeys, Owned {
    /// @notice One key's record. The first four fields share one storage slot, so canSign and accountable
    ///         (read by the inbox on every posting and by the bond on every proof) cost one SLOAD.
    /// @param firstHeight First shared height the key may sign.
    /// @param addedAt L1 block of the addition (from then on its signatures are the sequencer's).
    /// @param activeFrom L1 block from which the inbox accepts windows it signed.
    /// @param accountableUntil Last L1 block at which its signatures are slashable (0: not retired, no end).
    /// @param retiredAt L1 block of the retirement (0: not retired).
    /// @param retiredHeight The inbox's nextHeight at retirement: windows it signed end below it.
    struct Key {
        uint64 firstHeight;
        uint64 addedAt;
        uint64 activeFrom;
        uint64 accountableUntil;
        uint64 retiredAt;
        uint64 retiredHeight;
    }

    /// @notice Smallest and largest activation delay (L1 blocks): at least one block of notice, at most ~1 week.
    uint64 public constant MIN_ACTIVATION_DELAY = 1;
    uint64 public constant MAX_ACTIVATION_DELAY = 50_400;
    /// @notice Smallest and largest challenge period (L1 blocks): long enough to land a proof (~20 min at
    ///         12 s), short enough that an honest operator can leave (~140 days).
    uint64 public constant MIN_CHALLENGE_PERIOD = 100;
    uint64 public constant MAX_CHALLENGE_PERIOD = 1_000_000;
    /// @notice Most keys ever registered (bounds every loop over the history).
    uint256 public constant MAX_KEYS = 256;

    /// @notice L1 blocks between adding a key and the inbox accepting windows it signed.
    uint64 public immutable activationDelay;
    /// @notice L1 blocks a retired key stays accountable.
    uint64 public immutable challengePeriod;

    /// @notice The inbox whose firm height bounds new keys (set once by the owner).
    IFirmHeight public inbox;
    /// @notice Keys not retired yet.
    uint256 public liveKeys;
    /// @notice The latest accountableUntil of all retired keys.
    uint64 public lastAccountableUntil;

    mapping(address => Key) private _keys;
    address[] private _history;

    /// @notice A constructor parameter is outside its bounds.
    error ActivationDelayOutOfRange(uint64 given, uint64 min, uint64 max);
    error ChallengePeriodOutOfRange(uint64 given, uint64 min, uint64 max);
    /// @notice The zero address is not a key.
    error ZeroKey();
    /// @notice A key can be registered once only (retired keys cannot come back).
    error KeyAlreadyRegistered(address key);
    /// @notice The key was never registered.
    error UnknownKey(address key);
    /// @notice The key is already retired.
    error KeyAlreadyRetired(address key);
    /// @notice A new key's first height is below the inbox's firm height.
    error FirstHeightBelowFirm(uint64 firstHeight, uint64 nextHeight);
    /// @notice The inbox is not set yet (keys after the genesis key need its firm height).
    error InboxNotSet();
    /// @notice The inbox can be set once only, to a non-zero address.
    error InboxAlreadySet(address inbox);
    error ZeroInbox();
    /// @notice MAX_KEYS keys are registered.
    error TooManyKeys();

    /// @notice A key was added: it may sign heights >= firstHeight, in windows from L1 block activeFrom.
    event KeyAdded(address indexed key, uint64 firstHeight, uint64 activeFrom);
    /// @notice A key was retired at L1 block retiredAt (the firm height was retiredHeight); its signatures
    ///         stay slashable through L1 block accountableUntil.
    event KeyRetired(address indexed key, uint64 retiredAt, uint64 retiredHeight, uint64 accountableUntil);
    /// @notice The inbox was set.
    event InboxSet(address indexed inbox);

    /// @param initialOwner Manages the keys.
    /// @param genesisKey The first key, from height 0, usable at once (nothing is firm yet, so there is
    ///        nothing a notice period would protect); zero for none.
    /// @param activationDelay_ L1 blocks before a later key may sign windows.
    /// @param challengePeriod_ L1 blocks a retired key stays accountable.
    constructor(address initialOwner, address genesisKey, uint64 activationDelay_, uint64 challengePeriod_)
        Owned(initialOwner)
    {
        if (activationDelay_ < MIN_ACTIVATION_DELAY || activationDelay_ > MAX_ACTIVATION_DELAY) {
            revert ActivationDelayOutOfRange(activationDelay_, MIN_ACTIVATION_DELAY, MAX_ACTIVATION_DELAY);
        }
        if (challengePeriod_ < MIN_CHALLENGE_PERIOD || challengePeriod_ > MAX_CHALLENGE_PERIOD) {
            revert ChallengePeriodOutOfRange(challengePeriod_, MIN_CHALLENGE_PERIOD, MAX_CHALLENGE_PERIOD);
        }
        activationDelay = activationDelay_;
        challengePeriod = challengePeriod_;
        if (genesisKey != address(0)) _add(genesisKey, 0, uint64(block.number));
    }

    /// @notice Point the registry at the inbox (once; the inbox is deployed after the keys).
    /// @param inbox_ The SequencerInbox.
    function setInbox(address inbox_) external onlyOwner {
        if (address(inbox) != address(0)) revert InboxAlreadySet(address(inbox));
        if (inbox_ == address(0)) revert ZeroInbox();
        inbox = IFirmHeight(inbox_);
        emit InboxSet(inbox_);
    }

    /// @notice Add a signing key. Its signatures are the sequencer's from this block on; the inbox
    ///         accepts windows it signed from block.number + activationDelay.
    /// @param key The key's address.
    /// @param firstHeight First shared height it may sign; not below the inbox's nextHeight.
    function addKey(address key, uint64 firstHeight) external onlyOwner {
        if (address(inbox) == address(0)) revert InboxNotSet();
        uint64 next = inbox.nextHeight();
        if (firstHeight < next) revert FirstHeightBelowFirm(firstHeight, next);
        _add(key, firstHeight, uint64(block.number) + activationDelay);
    }

    /// @notice Retire a key: no window signed by it is accepted from now on; its signatures stay
    ///         slashable for challengePeriod more L1 blocks.
    /// @param key The key's address.
    function retireKey(address key) external onlyOwner {
        Key storage k = _keys[key];
        if (k.addedAt == 0) revert UnknownKey(key);
        if (k.retiredAt != 0) revert KeyAlreadyRetired(key);
        uint64 nowBlock = uint64(block.number);
        uint64 until = nowBlock + challengePeriod;
        k.retiredAt = nowBlock;
        k.retiredHeight = address(inbox) == address(0) ? 0 : inbox.nextHeight();
        k.accountableUntil = until;
        liveKeys -= 1;
        if (until > lastAccountableUntil) lastAccountableUntil = until;
        emit KeyRetired(key, nowBlock, k.retiredHeight, until);
    }

    function _add(address key, uint64 firstHeight, uint64 activeFrom) private {
        if (key == address(0)) revert ZeroKey();
        if (_keys[key].addedAt != 0) revert KeyAlreadyRegistered(key);
        if (_history.length >= MAX_KEYS) revert TooManyKeys();
        // addedAt doubles as the "registered" flag: block.number is never 0 for a transaction.
        _keys[key] = Key(firstHeight, uint64(block.number), activeFrom, 0, 0, 0);
        _history.push(key);
        liveKeys += 1;
        emit KeyAdded(key, firstHeight, activeFrom);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ISequencerKeys
    function canSign(address key, uint64 firstHeight, uint64 lastHeight) external view returns (bool) {
        Key storage k = _keys[key];
        // accountableUntil is set exactly when the key is retired (and is never 0 then).
        return k.addedAt != 0 && k.accountableUntil == 0 && block.number >= k.activeFrom
            && firstHeight >= k.firstHeight && lastHeight >= firstHeight;
    }

    /// @inheritdoc ISequencerKeys
    function accountable(address key, uint64 height) public view returns (bool) {
        Key storage k = _keys[key];
        if (k.addedAt == 0 || height < k.firstHeight) return false;
        return k.accountableUntil == 0 || block.number <= k.accountableUntil;
    }

    /// @notice True when every key ever registered is retired and past its challenge period: no signature
    ///         by any of them can be proven any more, so the bond may leave (SequencerBond.withdraw).
    function settled() external view returns (bool) {
        return liveKeys == 0 && block.number > lastAccountableUntil;
    }

    /// @notice A key's record (all zero if never registered).
    /// @param key The key's address.
    function keyInfo(address key) external view returns (Key memory) {
        return _keys[key];
    }

    /// @notice Every key ever registered, in registration order (never shrinks).
    function keys() external view returns (address[] memory) {
        return _history;
    }
}
