// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarginLib, OpenIntent, CloseIntent, LiquidationIntent, Intents, Conditional, PriceOracle,
        SequencerKeyMirror} from "./MarginCore.sol";

/// @title Venue
/// @notice A trading venue on a venue rollup whose margin lives in the MarginAccount on the margin
/// rollup (docs/margin.md). It cannot see that rollup: it opens a position only *pending* under the
/// open bundle's id, and the position becomes real only when the sequencer commits that bundle,
/// which it does only if the MarginAccount's leg - reserving exactly the margin bound into the same
/// bundle id - succeeded. Positions are valued at this rollup's PriceOracle.
abstract contract Venue is Conditional {
    enum PState { None, Opening, Open, Closing, Closed }

    struct Position {
        address trader;
        PState state;
        bool isCall;
        int256 size;
        uint256 entryPrice;
        uint256 margin;
        uint256 strike;
        uint256 premium;
    }

    uint8 internal constant KIND_OPEN = 1;
    uint8 internal constant KIND_CLOSE = 2;
    uint8 internal constant KIND_LIQUIDATE = 3;

    error NotTrader(address caller, address trader);
    error BadLegs(uint8 legs);
    error MarginBelowInitial(uint256 margin, uint256 required);
    error PositionNotOpen(bytes32 openId, PState state);
    error WrongPnl(int256 declared, int256 actual);
    error WrongMaintenance(uint256 declared, uint256 actual);

    event PositionFinalized(bytes32 indexed openId, PState state);

    PriceOracle public immutable oracle;
    uint256 public immutable initialMarginBps;
    uint256 public immutable maintenanceMarginBps;

    mapping(bytes32 => Position) public positions;
    /// For a pending close or liquidation bundle: the position it closes.
    mapping(bytes32 => bytes32) public closes;
    /// Per trader, the margin of its positions that are open (or closing): committed opens not yet
    /// closed. At every shared height it must equal, summed over the venues, the trader's margin
    /// account reservations of open positions (MarginAccount.reserved - opening).
    mapping(address => uint256) public committedMargin;

    constructor(SequencerKeyMirror keys_, uint256 l1ChainId, address inbox, uint256 timeoutBlocks_,
                bytes32 deployment_, PriceOracle oracle_, uint256 imBps, uint256 mmBps)
        Conditional(keys_, l1ChainId, inbox, timeoutBlocks_, deployment_)
    {
        require(mmBps > 0 && mmBps <= imBps && imBps <= MarginLib.BPS, "Venue: bad margin parameters");
        oracle = oracle_;
        initialMarginBps = imBps;
        maintenanceMarginBps = mmBps;
    }

    function legBit() public pure virtual returns (uint8);
    function pnlOf(bytes32 openId) public view virtual returns (int256);
    function maintenanceOf(bytes32 openId) public view virtual returns (uint256);
    function _newPosition(OpenIntent calldata i, uint256 price) internal view virtual returns (Position memory);
    function _declared(CloseIntent calldata c) internal pure virtual returns (int256);
    function _declaredLiq(LiquidationIntent calldata l) internal pure virtual returns (int256, uint256);

    /// @notice This venue's leg of an open bundle.
    function open(OpenIntent calldata i) external {
        if (msg.sender != i.trader) revert NotTrader(msg.sender, i.trader);
        _checkDeployment(i.deployment);
        if ((i.legs & MarginLib.LEG_MARGIN) == 0 || (i.legs & legBit()) == 0) revert BadLegs(i.legs);
        bytes32 id = Intents.openId(i);
        Position memory p = _newPosition(i, oracle.price());
        p.state = PState.Opening;
        positions[id] = p;
        _begin(id, i.legs, KIND_OPEN);
    }

    /// @notice This venue's leg of a close bundle: the declared PnL must be what this venue computes.
    function close(CloseIntent calldata c) external {
        if (msg.sender != c.trader) revert NotTrader(msg.sender, c.trader);
        _checkDeployment(c.deployment);
        if ((c.legs & legBit()) == 0) revert BadLegs(c.legs);
        _openPosition(c.openId, c.trader);
        int256 actual = pnlOf(c.openId);
        if (_declared(c) != actual) revert WrongPnl(_declared(c), actual);
        bytes32 id = Intents.closeId(c);
        positions[c.openId].state = PState.Closing;
        closes[id] = c.openId;
        _begin(id, c.legs, KIND_CLOSE);
    }

    /// @notice This venue's leg of a liquidation bundle (anyone may be the keeper).
    function liquidate(LiquidationIntent calldata l) external {
        if (msg.sender != l.keeper) revert NotTrader(msg.sender, l.keeper);
        _checkDeployment(l.deployment);
        if ((l.legs & legBit()) == 0) revert BadLegs(l.legs);
        _openPosition(l.openId, l.trader);
        (int256 pnl, uint256 mm) = _declaredLiq(l);
        int256 actual = pnlOf(l.openId);
        if (pnl != actual) revert WrongPnl(pnl, actual);
        uint256 actualMm = maintenanceOf(l.openId);
        if (mm != actualMm) revert WrongMaintenance(mm, actualMm);
        bytes32 id = Intents.liquidationId(l);
        positions[l.openId].state = PState.Closing;
        closes[id] = l.openId;
        _begin(id, l.legs, KIND_LIQUIDATE);
    }

    function _openPosition(bytes32 openId, address trader) private view {
        Position storage p = positions[openId];
        if (p.state != PState.Open) revert PositionNotOpen(openId, p.state);
        if (p.trader != trader) revert NotTrader(trader, p.trader);
    }

    function _commit(bytes32 id) internal override {
        bytes32 openId = closes[id];
        if (openId == bytes32(0)) {
            Position storage p = positions[id];
            p.state = PState.Open;
            committedMargin[p.trader] += p.margin;
            emit PositionFinalized(id, PState.Open);
        } else {
            Position storage p = positions[openId];
            p.state = PState.Closed;
            committedMargin[p.trader] -= p.margin;
            emit PositionFinalized(openId, PState.Closed);
        }
    }

    function _abort(bytes32 id) internal override {
        bytes32 openId = closes[id];
        if (openId == bytes32(0)) {
            positions[id].state = PState.Closed;
            emit PositionFinalized(id, PState.Closed);
        } else {
            positions[openId].state = PState.Open;
            emit PositionFinalized(openId, PState.Open);
        }
    }
}

/// @title PerpMarket
/// @notice Linear perpetual futures (no funding): PnL = size * (price - entry); initial margin
/// imBps of the notional at entry, maintenance mmBps of the notional at the current price.
contract PerpMarket is Venue {
    constructor(SequencerKeyMirror keys_, uint256 l1ChainId, address inbox, uint256 timeoutBlocks_,
                bytes32 deployment_, PriceOracle oracle_, uint256 imBps, uint256 mmBps)
        Venue(keys_, l1ChainId, inbox, timeoutBlocks_, deployment_, oracle_, imBps, mmBps) {}

    function legBit() public pure override returns (uint8) {
        return MarginLib.LEG_PERP;
    }

    function pnlOf(bytes32 openId) public view override returns (int256) {
        Position storage p = positions[openId];
        return p.size * (int256(oracle.price()) - int256(p.entryPrice)) / int256(MarginLib.ONE);
    }

    function maintenanceOf(bytes32 openId) public view override returns (uint256) {
        return MarginLib.notional(positions[openId].size, oracle.price()) * maintenanceMarginBps / MarginLib.BPS;
    }

    function _newPosition(OpenIntent calldata i, uint256 price) internal view override returns (Position memory p) {
        if (i.perpSize == 0) revert BadLegs(i.legs);
        uint256 required = MarginLib.notional(i.perpSize, price) * initialMarginBps / MarginLib.BPS;
        if (i.perpMargin < required) revert MarginBelowInitial(i.perpMargin, required);
        p = Position(i.trader, PState.None, false, i.perpSize, price, i.perpMargin, 0, 0);
    }

    function _declared(CloseIntent calldata c) internal pure override returns (int256) {
        return c.perpPnl;
    }

    function _declaredLiq(LiquidationIntent calldata l) internal pure override returns (int256, uint256) {
        return (l.perpPnl, l.perpMm);
    }
}

/// @title OptionsMarket
/// @notice Cash-settled calls and puts against the house. Premium per unit = intrinsic value at the
/// entry price + timeValueBps of that price; closing pays the intrinsic value at the oracle price, so
/// PnL = size * (intrinsic_now - premium) (size < 0 is a written option). The premium is settled in
/// the close, out of the reserved margin, which must cover it. Initial margin: a bought option, its
/// premium; a written one, intrinsic + imBps of the price per unit. Maintenance: a bought option
/// needs none (its loss is the premium, already reserved); a written one intrinsic + mmBps per unit.
contract OptionsMarket is Venue {
    uint256 public immutable timeValueBps;

    constructor(SequencerKeyMirror keys_, uint256 l1ChainId, address inbox, uint256 timeoutBlocks_,
                bytes32 deployment_, PriceOracle oracle_, uint256 imBps, uint256 mmBps, uint256 timeValueBps_)
        Venue(keys_, l1ChainId, inbox, timeoutBlocks_, deployment_, oracle_, imBps, mmBps)
    {
        timeValueBps = timeValueBps_;
    }

    function legBit() public pure override returns (uint8) {
        return MarginLib.LEG_OPTION;
    }

    function intrinsic(bool isCall, uint256 strike, uint256 price) public pure returns (uint256) {
        if (isCall) return price > strike ? price - strike : 0;
        return strike > price ? strike - price : 0;
    }

    function premiumPerUnit(bool isCall, uint256 strike, uint256 price) public view returns (uint256) {
        return intrinsic(isCall, strike, price) + price * timeValueBps / MarginLib.BPS;
    }

    function pnlOf(bytes32 openId) public view override returns (int256) {
        Position storage p = positions[openId];
        int256 value = int256(intrinsic(p.isCall, p.strike, oracle.price()));
        return p.size * (value - int256(p.premium)) / int256(MarginLib.ONE);
    }

    function maintenanceOf(bytes32 openId) public view override returns (uint256) {
        Position storage p = positions[openId];
        if (p.size >= 0) return 0;
        uint256 price = oracle.price();
        uint256 perUnit = intrinsic(p.isCall, p.strike, price) + price * maintenanceMarginBps / MarginLib.BPS;
        return MarginLib.abs(p.size) * perUnit / MarginLib.ONE;
    }

    function _newPosition(OpenIntent calldata i, uint256 price) internal view override returns (Position memory p) {
        if (i.optSize == 0 || i.optStrike == 0) revert BadLegs(i.legs);
        uint256 premium = premiumPerUnit(i.optIsCall, i.optStrike, price);
        uint256 perUnit = i.optSize > 0 ? premium
            : intrinsic(i.optIsCall, i.optStrike, price) + price * initialMarginBps / MarginLib.BPS;
        uint256 required = MarginLib.abs(i.optSize) * perUnit / MarginLib.ONE;
        if (i.optMargin < required) revert MarginBelowInitial(i.optMargin, required);
        p = Position(i.trader, PState.None, i.optIsCall, i.optSize, price, i.optMargin, i.optStrike, premium);
    }

    function _declared(CloseIntent calldata c) internal pure override returns (int256) {
        return c.optPnl;
    }

    function _declaredLiq(LiquidationIntent calldata l) internal pure override returns (int256, uint256) {
        return (l.optPnl, l.optMm);
    }
}
