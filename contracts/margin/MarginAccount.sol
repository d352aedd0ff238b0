// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarginLib, OpenIntent, CloseIntent, LiquidationIntent, Intents, Conditional} from "./MarginCore.sol";
import {CollateralToken, SequencerKeyMirror} from "./MarginCore.sol";

/// @title MarginAccount
/// @notice Collateral posted once, on the margin rollup, backing positions on every venue rollup
/// (docs/margin.md). It knows every reservation: each open bundle reserves its margin here under the
/// bundle id, pending until the sequencer's signed outcome; a reservation is released only by an
/// abort (or the timeout), a committed close or a committed liquidation. Invariants, for every
/// account a: reserved[a] <= collateral[a]; the sum of collateral equals the token balance held.
///
/// The counterparty of every venue is `house` (a liquidity account with collateral here): a trader's
/// profit is paid from the house's collateral, a loss credited to it, so no token is created or lost.
contract MarginAccount is Conditional {
    enum RState { None, Opening, Active, Settling, Released }

    struct Reservation {
        address trader;
        uint8 legs;
        RState state;
        uint256 amount;
    }

    /// A pending close or liquidation: what its commit moves.
    struct Settlement {
        bytes32 openId;
        address keeper;
        int256 pnl;
        uint256 loss;
        uint256 reward;
    }

    uint8 internal constant KIND_OPEN = 1;
    uint8 internal constant KIND_CLOSE = 2;
    uint8 internal constant KIND_LIQUIDATE = 3;

    error NotTrader(address caller, address trader);
    error BadLegs(uint8 legs);
    error InsufficientFreeMargin(address account, uint256 free, uint256 amount);
    error ReservationNotActive(bytes32 openId, RState state);
    error LossExceedsMargin(bytes32 openId, uint256 loss, uint256 reserved);
    error NotLiquidatable(bytes32 openId, int256 equity, uint256 maintenance);
    error ZeroAmount();

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event Settled(bytes32 indexed openId, address indexed trader, int256 pnl, uint256 loss, uint256 reward);

    CollateralToken public immutable token;
    address public immutable house;
    /// Share of the margin left after losses that a liquidation pays its keeper.
    uint256 public immutable liquidationRewardBps;

    mapping(address => uint256) public collateral;
    mapping(address => uint256) public reserved;
    /// The part of reserved[a] held by open bundles not finalised yet. reserved[a] - opening[a] is
    /// the margin of a's open positions, which the venues' committedMargin must sum to at every
    /// shared height (tests/integration/test_margin.py checks it at every firm height).
    mapping(address => uint256) public opening;
    mapping(bytes32 => Reservation) public reservations;
    mapping(bytes32 => Settlement) public settlements;
    mapping(bytes32 => uint8) public kindOf;

    constructor(SequencerKeyMirror keys_, uint256 l1ChainId, address inbox, uint256 timeoutBlocks_,
                bytes32 deployment_, CollateralToken token_, address house_, uint256 liquidationRewardBps_)
        Conditional(keys_, l1ChainId, inbox, timeoutBlocks_, deployment_)
    {
        require(house_ != address(0) && liquidationRewardBps_ <= MarginLib.BPS, "MarginAccount: bad parameters");
        token = token_;
        house = house_;
        liquidationRewardBps = liquidationRewardBps_;
    }

    function free(address account) public view returns (uint256) {
        return collateral[account] - reserved[account];
    }

    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        token.transferFrom(msg.sender, address(this), amount);
        collateral[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @notice Withdraw collateral no reservation (pending or active) holds.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 f = free(msg.sender);
        if (amount > f) revert InsufficientFreeMargin(msg.sender, f, amount);
        collateral[msg.sender] -= amount;
        token.transfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------ conditional legs

    /// @notice The margin leg of an open bundle: reserve perpMargin + optMargin now (a pending
    /// reservation already counts against free margin, so two bundles can never use the same margin).
    function reserveOpen(OpenIntent calldata i) external {
        if (msg.sender != i.trader) revert NotTrader(msg.sender, i.trader);
        _checkDeployment(i.deployment);
        _checkOpenLegs(i);
        uint256 amount = i.perpMargin + i.optMargin;
        if (amount == 0) revert ZeroAmount();
        _hold(i.trader, amount);
        opening[i.trader] += amount;
        bytes32 id = Intents.openId(i);
        reservations[id] = Reservation(i.trader, i.legs, RState.Opening, amount);
        kindOf[id] = KIND_OPEN;
        _begin(id, i.legs, KIND_OPEN);
    }

    /// @notice The margin leg of a close bundle: settle the declared PnL (each venue checks its part).
    function settleClose(CloseIntent calldata c) external {
        if (msg.sender != c.trader) revert NotTrader(msg.sender, c.trader);
        _checkDeployment(c.deployment);
        Reservation storage r = _active(c.openId, c.trader, c.legs);
        int256 pnl = _legPnl(c.legs, c.perpPnl, c.optPnl);
        uint256 loss = pnl < 0 ? uint256(-pnl) : 0;
        if (loss > r.amount) revert LossExceedsMargin(c.openId, loss, r.amount);
        if (pnl > 0) _hold(house, uint256(pnl));
        r.state = RState.Settling;
        bytes32 id = Intents.closeId(c);
        settlements[id] = Settlement(c.openId, address(0), pnl, loss, 0);
        kindOf[id] = KIND_CLOSE;
        _begin(id, c.legs, KIND_CLOSE);
    }

    /// @notice The margin leg of a keeper's liquidation: equity (reserved margin + PnL on every venue)
    /// below the sum of the venues' maintenance requirements. The trader loses at most the reservation.
    function liquidate(LiquidationIntent calldata l) external {
        if (msg.sender != l.keeper) revert NotTrader(msg.sender, l.keeper);
        _checkDeployment(l.deployment);
        Reservation storage r = _active(l.openId, l.trader, l.legs);
        int256 pnl = _legPnl(l.legs, l.perpPnl, l.optPnl);
        uint256 mm = ((l.legs & MarginLib.LEG_PERP) != 0 ? l.perpMm : 0)
            + ((l.legs & MarginLib.LEG_OPTION) != 0 ? l.optMm : 0);
        int256 equity = int256(r.amount) + pnl;
        if (equity >= int256(mm)) revert NotLiquidatable(l.openId, equity, mm);
        uint256 loss = pnl < 0 ? (uint256(-pnl) < r.amount ? uint256(-pnl) : r.amount) : 0;
        uint256 reward = (r.amount - loss) * liquidationRewardBps / MarginLib.BPS;
        if (pnl > 0) _hold(house, uint256(pnl));
        r.state = RState.Settling;
        bytes32 id = Intents.liquidationId(l);
        settlements[id] = Settlement(l.openId, l.keeper, pnl, loss, reward);
        kindOf[id] = KIND_LIQUIDATE;
        _begin(id, l.legs, KIND_LIQUIDATE);
    }

    // ------------------------------------------------------------------ outcomes

    function _commit(bytes32 id) internal override {
        uint8 kind = kindOf[id];
        if (kind == KIND_OPEN) {
            Reservation storage o = reservations[id];
            o.state = RState.Active;
            opening[o.trader] -= o.amount;
            return;
        }
        Settlement memory s = settlements[id];
        Reservation storage r = reservations[s.openId];
        address trader = r.trader;
        reserved[trader] -= r.amount;
        r.state = RState.Released;
        if (s.pnl > 0) {
            uint256 gain = uint256(s.pnl);
            reserved[house] -= gain;
            collateral[house] -= gain;
            collateral[trader] += gain;
        }
        collateral[trader] -= s.loss + s.reward;
        collateral[house] += s.loss;
        if (s.reward > 0) collateral[s.keeper] += s.reward;
        emit Settled(s.openId, trader, s.pnl, s.loss, s.reward);
    }

    function _abort(bytes32 id) internal override {
        uint8 kind = kindOf[id];
        if (kind == KIND_OPEN) {
            Reservation storage r = reservations[id];
            reserved[r.trader] -= r.amount;
            opening[r.trader] -= r.amount;
            r.state = RState.Released;
            return;
        }
        Settlement memory s = settlements[id];
        reservations[s.openId].state = RState.Active;
        if (s.pnl > 0) reserved[house] -= uint256(s.pnl);
    }

    // ------------------------------------------------------------------ helpers

    function _hold(address account, uint256 amount) private {
        uint256 f = free(account);
        if (amount > f) revert InsufficientFreeMargin(account, f, amount);
        reserved[account] += amount;
    }

    function _active(bytes32 openId, address trader, uint8 legs) private view returns (Reservation storage r) {
        r = reservations[openId];
        if (r.state != RState.Active) revert ReservationNotActive(openId, r.state);
        if (r.trader != trader) revert NotTrader(trader, r.trader);
        if (r.legs != legs) revert BadLegs(legs);
    }

    function _legPnl(uint8 legs, int256 perpPnl, int256 optPnl) private pure returns (int256) {
        if ((legs & MarginLib.LEG_PERP) == 0 && perpPnl != 0) revert BadLegs(legs);
        if ((legs & MarginLib.LEG_OPTION) == 0 && optPnl != 0) revert BadLegs(legs);
        return perpPnl + optPnl;
    }

    function _checkOpenLegs(OpenIntent calldata i) private pure {
        uint8 legs = i.legs;
        bool perp = (legs & MarginLib.LEG_PERP) != 0;
        bool opt = (legs & MarginLib.LEG_OPTION) != 0;
        if ((legs & MarginLib.LEG_MARGIN) == 0 || legs > 7 || !(perp || opt)) revert BadLegs(legs);
        if (perp != (i.perpSize != 0) || opt != (i.optSize != 0)) revert BadLegs(legs);
        if ((!perp && i.perpMargin != 0) || (!opt && i.optMargin != 0)) revert BadLegs(legs);
    }
}
