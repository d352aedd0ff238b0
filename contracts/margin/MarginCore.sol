// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title MarginCore
/// @notice What every cross-rollup margin contract shares (docs/margin.md): the EIP-712 check of
/// the sequencer's signed BundleOutcome, the conditional-leg state machine keyed by bundle id, the
/// intents whose hash *is* the bundle id (so every leg of a bundle binds the same numbers), and the
/// fixed-point conventions.
///
/// Domain: EIP712Domain(string name,string version,uint256 chainId,address verifyingContract) with
/// ("sharedseq", "1", the L1 chain id, the L1 SequencerInbox), as in sequencer/core/signing.py; the
/// rollup's own chain id is NOT in the domain, so one signature is valid on every rollup and a
/// commit and an abort for one bundle id are comparable anywhere (equivocation).
/// Struct: BundleOutcome(bytes32 bundleId,bool commit).
///
/// Units: prices and sizes are 1e18 fixed point (a price is collateral-token wei per 1e18 base
/// units); margin and PnL are collateral-token wei.
library MarginLib {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant OUTCOME_TYPEHASH = keccak256("BundleOutcome(bytes32 bundleId,bool commit)");
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint256 internal constant ONE = 1e18;
    uint256 internal constant BPS = 10_000;

    /// Legs of a bundle (a bit mask carried in every intent and every Pending event).
    uint8 internal constant LEG_MARGIN = 1;
    uint8 internal constant LEG_PERP = 2;
    uint8 internal constant LEG_OPTION = 4;

    bytes32 internal constant OPEN_TAG = keccak256("sharedseq.margin.open");
    bytes32 internal constant CLOSE_TAG = keccak256("sharedseq.margin.close");
    bytes32 internal constant LIQUIDATE_TAG = keccak256("sharedseq.margin.liquidate");

    function domainSeparator(uint256 l1ChainId, address inbox) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("sharedseq"), keccak256("1"), l1ChainId, inbox));
    }

    function outcomeDigest(bytes32 separator, bytes32 bundleId, bool commit) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", separator, keccak256(abi.encode(OUTCOME_TYPEHASH, bundleId, commit))));
    }

    /// @notice ecrecover with the same refusals as SharedSeqLib.recover (65 bytes, v in {27, 28}, low s).
    function recover(bytes32 digest, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > HALF_N) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    /// |size| * price, in token wei.
    function notional(int256 size, uint256 price) internal pure returns (uint256) {
        return abs(size) * price / ONE;
    }
}

/// Every intent starts with the deployment id every contract of one deployment was built with, so a
/// bundle id (and the sequencer's outcome for it) can never be replayed onto another deployment
/// that shares the sequencer key.
/// @notice Open a hedged position: margin reserved on the margin rollup, a perp on one venue, an
/// option on another. bundleId = keccak256(abi.encode(OPEN_TAG, intent)); `legs` says which legs
/// the bundle has (a zero size means that venue is not part of it).
struct OpenIntent {
    bytes32 deployment;
    address trader;
    uint64 nonce;
    uint8 legs;
    int256 perpSize;
    uint256 perpMargin;
    bool optIsCall;
    uint256 optStrike;
    int256 optSize;
    uint256 optMargin;
}

/// @notice Close every leg of the position opened by `openId` at the PnL each venue computes at the
/// oracle price; a venue reverts its leg if the declared PnL is not its own.
struct CloseIntent {
    bytes32 deployment;
    address trader;
    uint64 nonce;
    uint8 legs;
    bytes32 openId;
    int256 perpPnl;
    int256 optPnl;
}

/// @notice A keeper's liquidation of the position `openId`: every venue checks its PnL and
/// maintenance requirement; the margin account checks equity < total maintenance.
struct LiquidationIntent {
    bytes32 deployment;
    address keeper;
    address trader;
    uint64 nonce;
    uint8 legs;
    bytes32 openId;
    int256 perpPnl;
    int256 optPnl;
    uint256 perpMm;
    uint256 optMm;
}

library Intents {
    function openId(OpenIntent calldata i) internal pure returns (bytes32) {
        return keccak256(abi.encode(MarginLib.OPEN_TAG, i));
    }

    function closeId(CloseIntent calldata i) internal pure returns (bytes32) {
        return keccak256(abi.encode(MarginLib.CLOSE_TAG, i));
    }

    function liquidationId(LiquidationIntent calldata i) internal pure returns (bytes32) {
        return keccak256(abi.encode(MarginLib.LIQUIDATE_TAG, i));
    }
}

/// @title SequencerKeyMirror
/// @notice This rollup's copy of the L1 SequencerKeys history, for the outcome signatures the margin
/// contracts check (docs/margin.md, "Key rotation"). A rollup cannot read L1, so an authorised
/// `relayer` - the sequencer's key manager, who owns SequencerKeys on L1 - mirrors each change: a key
/// added on L1 is added here, its outcomes accepted `delayBlocks` rollup blocks later (a notice
/// period, as SequencerKeys' activation delay); a key retired on L1 is retired here at once. The relayer sends each change as one bundle with a leg per
/// rollup, so every rollup switches keys at the same shared height. Like SequencerKeys, a key is
/// registered once and retired for good: the history only grows.
contract SequencerKeyMirror {
    struct Key {
        /// First rollup block whose outcomes signed by the key are accepted (0: never registered).
        uint64 activeFrom;
        /// Rollup block of the retirement (0: not retired); from then on its signatures are refused.
        uint64 retiredAt;
    }

    error NotRelayer(address caller);
    error ZeroKey();
    error KeyAlreadyRegistered(address key);
    error UnknownKey(address key);
    error KeyAlreadyRetired(address key);
    error TooManyKeys();

    event KeyAdded(address indexed key, uint64 activeFrom);
    event KeyRetired(address indexed key, uint64 retiredAt);

    /// @notice Most keys ever mirrored (SequencerKeys.MAX_KEYS).
    uint256 public constant MAX_KEYS = 256;
    /// @notice Who mirrors L1's SequencerKeys here (trusted for it: docs/margin.md, trust model).
    address public immutable relayer;

    mapping(address => Key) private _keys;
    address[] private _history;

    /// @param relayer_ The key manager's address on this rollup.
    /// @param genesisKey The sequencer key at deployment, accepted from this block on.
    constructor(address relayer_, address genesisKey) {
        require(relayer_ != address(0), "SequencerKeyMirror: zero relayer");
        relayer = relayer_;
        _add(genesisKey, uint64(block.number));
    }

    /// @notice Mirror a key added on L1: its outcome signatures are accepted from `delayBlocks` rollup
    /// blocks after this one (the same delay on every rollup, relayed in one bundle).
    function addKey(address key, uint64 delayBlocks) external {
        if (msg.sender != relayer) revert NotRelayer(msg.sender);
        _add(key, uint64(block.number) + delayBlocks);
    }

    /// @notice Mirror a retirement on L1: from this block on no outcome signed by `key` is accepted.
    function retireKey(address key) external {
        if (msg.sender != relayer) revert NotRelayer(msg.sender);
        Key storage k = _keys[key];
        if (k.activeFrom == 0) revert UnknownKey(key);
        if (k.retiredAt != 0) revert KeyAlreadyRetired(key);
        k.retiredAt = uint64(block.number);
        emit KeyRetired(key, k.retiredAt);
    }

    /// @notice Whether an outcome signed by `key` is accepted now.
    function isCurrent(address key) public view returns (bool) {
        Key storage k = _keys[key];
        return k.activeFrom != 0 && block.number >= k.activeFrom && k.retiredAt == 0;
    }

    /// @notice A key's record (all zero if never mirrored).
    function keyInfo(address key) external view returns (Key memory) {
        return _keys[key];
    }

    /// @notice Every key ever mirrored, in order (never shrinks).
    function keys() external view returns (address[] memory) {
        return _history;
    }

    function _add(address key, uint64 activeFrom) private {
        if (key == address(0)) revert ZeroKey();
        if (_keys[key].activeFrom != 0) revert KeyAlreadyRegistered(key);
        if (_history.length >= MAX_KEYS) revert TooManyKeys();
        _keys[key] = Key(activeFrom, 0);
        _history.push(key);
        emit KeyAdded(key, activeFrom);
    }
}

/// @title Conditional
/// @notice A conditional leg is recorded as Pending under its bundle id and takes effect only when
/// the sequencer's signed BundleOutcome says commit; an abort, or anyone after `timeoutBlocks`
/// rollup blocks without an outcome, undoes it. Each bundle id is used at most once per contract.
/// The outcome must be signed by a key this rollup's SequencerKeyMirror holds current when the
/// outcome executes: a retired key's outcomes are refused, even for bundles pending since before.
abstract contract Conditional {
    enum Status { None, Pending, Committed, Aborted }

    error UnknownBundle(bytes32 bundleId);
    error BundleNotPending(bytes32 bundleId, Status status);
    error BundleReused(bytes32 bundleId);
    error BadOutcomeSignature(bytes32 bundleId, address recovered);
    error NotExpired(bytes32 bundleId, uint256 expiresAt);
    error WrongDeployment(bytes32 deployment, bytes32 expected);
    error CommitExpired(bytes32 bundleId, uint256 expiresAt);

    event Pending(bytes32 indexed bundleId, uint8 legs, uint8 kind);
    event Finalized(bytes32 indexed bundleId, bool commit, bool expired);

    /// The mirror of the sequencer's L1 key history whose current keys may sign outcomes.
    SequencerKeyMirror public immutable sequencerKeys;
    bytes32 public immutable domainSeparator;
    /// Rollup blocks after which a pending bundle may be aborted by anyone.
    uint256 public immutable timeoutBlocks;
    /// The deployment id every intent for this deployment carries (see the intents).
    bytes32 public immutable deployment;

    mapping(bytes32 => Status) public status;
    mapping(bytes32 => uint256) public pendingSince;

    constructor(SequencerKeyMirror keys_, uint256 l1ChainId, address inbox, uint256 timeoutBlocks_,
                bytes32 deployment_) {
        require(address(keys_) != address(0) && timeoutBlocks_ > 0 && deployment_ != bytes32(0),
                "Conditional: bad parameters");
        deployment = deployment_;
        sequencerKeys = keys_;
        domainSeparator = MarginLib.domainSeparator(l1ChainId, inbox);
        timeoutBlocks = timeoutBlocks_;
    }

    function _checkDeployment(bytes32 deployment_) internal view {
        if (deployment_ != deployment) revert WrongDeployment(deployment_, deployment);
    }

    function _begin(bytes32 bundleId, uint8 legs, uint8 kind) internal {
        if (status[bundleId] != Status.None) revert BundleReused(bundleId);
        status[bundleId] = Status.Pending;
        pendingSince[bundleId] = block.number;
        emit Pending(bundleId, legs, kind);
    }

    /// @notice Apply (commit) or undo (abort) the pending leg of `bundleId`, on the sequencer's word.
    /// Anyone may relay the signature.
    function finalize(bytes32 bundleId, bool commit, bytes calldata signature) external {
        Status st = status[bundleId];
        if (st != Status.Pending) revert BundleNotPending(bundleId, st);
        // A commit after the timeout is refused: with every leg pending from one shared block and
        // equal rollup block times, expiry falls at the same shared time on every rollup, so the
        // outcome bundle (itself in one shared block) commits everywhere or nowhere, and can never
        // race an abortExpired on one rollup while committing on another.
        uint256 expiresAt = pendingSince[bundleId] + timeoutBlocks;
        if (commit && block.number > expiresAt) revert CommitExpired(bundleId, expiresAt);
        address signer = MarginLib.recover(MarginLib.outcomeDigest(domainSeparator, bundleId, commit), signature);
        // signer is address(0) for a malformed signature, which no mirror holds.
        if (!sequencerKeys.isCurrent(signer)) revert BadOutcomeSignature(bundleId, signer);
        _close(bundleId, commit, false);
    }

    /// @notice Abort a bundle whose outcome never arrived within `timeoutBlocks` rollup blocks.
    function abortExpired(bytes32 bundleId) external {
        Status st = status[bundleId];
        if (st != Status.Pending) revert BundleNotPending(bundleId, st);
        uint256 expiresAt = pendingSince[bundleId] + timeoutBlocks;
        if (block.number <= expiresAt) revert NotExpired(bundleId, expiresAt);
        _close(bundleId, false, true);
    }

    function _close(bytes32 bundleId, bool commit, bool expired) private {
        status[bundleId] = commit ? Status.Committed : Status.Aborted;
        if (commit) _commit(bundleId);
        else _abort(bundleId);
        emit Finalized(bundleId, commit, expired);
    }

    function _commit(bytes32 bundleId) internal virtual;
    function _abort(bytes32 bundleId) internal virtual;
}

/// @title PriceOracle
/// @notice One per rollup, written by a keeper whose update is a bundle with one leg per rollup:
/// atomic inclusion puts every leg in one shared block, so every rollup has the same price at the
/// same shared height (something separate sequencers cannot give). Rounds strictly increase.
contract PriceOracle {
    error NotKeeper(address caller);
    error StaleRound(uint64 round, uint64 current);
    error ZeroPrice();

    event PriceSet(uint64 indexed round, uint256 price);

    address public immutable keeper;
    uint64 public round;
    uint256 public price;

    constructor(address keeper_, uint256 initialPrice) {
        if (initialPrice == 0) revert ZeroPrice();
        keeper = keeper_;
        price = initialPrice;
    }

    function setPrice(uint64 newRound, uint256 newPrice) external {
        if (msg.sender != keeper) revert NotKeeper(msg.sender);
        if (newRound <= round) revert StaleRound(newRound, round);
        if (newPrice == 0) revert ZeroPrice();
        round = newRound;
        price = newPrice;
        emit PriceSet(newRound, newPrice);
    }
}

/// @title CollateralToken
/// @notice A minimal ERC-20 (EIP-20) minted by its owner on the devnet; the margin account's collateral.
contract CollateralToken {
    error NotOwner(address caller);
    error InsufficientBalance(address from, uint256 balance, uint256 amount);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 amount);

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    string public constant name = "sharedseq devnet USD";
    string public constant symbol = "sUSD";
    uint8 public constant decimals = 18;
    address public immutable owner;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 a = allowance[from][msg.sender];
        if (a < amount) revert InsufficientAllowance(from, msg.sender, a, amount);
        if (a != type(uint256).max) allowance[from][msg.sender] = a - amount;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        uint256 b = balanceOf[from];
        if (b < amount) revert InsufficientBalance(from, b, amount);
        balanceOf[from] = b - amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
