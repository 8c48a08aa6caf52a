"""Simulated accounts: multi-currency cash, positions with average price, and the read-only views the
engine hands to simulators (:class:`AccountState`).

Cash is kept per currency (fiat and stablecoins). Positions are kept per :attr:`SymbolInfo.position_key`:
the symbol for stocks, forex and CFDs, the base asset for crypto, so a Binance-style balance list is cash
plus crypto positions. Quantities are signed (negative = short).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from attrs import define, field, frozen

from orch.models import Account, Balance, Instrument, Market, Position, Side
from orch.sim.fees import FeeModel, ZeroFee
from orch.sim.instruments import FX_CURRENCIES
from orch.sim.numbers import tidy

__all__ = ["AccountState", "BalanceState", "PositionState", "SimAccount", "SimPosition", "is_cash_asset"]

_STABLES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"})
_AVG_PLACES = Decimal("1e-10")


def is_cash_asset(asset: str) -> bool:
    """Fiat currencies, GBX and stablecoins are cash; anything else (BTC, ETH…) is a position."""
    asset = asset.upper()
    return asset in FX_CURRENCIES or asset in _STABLES or asset == "GBX"


@define
class SimPosition:
    """``avg_price`` is in the symbol's price currency (pence for London shares); ``realized_pl`` in its
    cash currency."""

    key: str
    symbol: str
    price_currency: str
    cash_per_price_unit: Decimal = Decimal(1)
    qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    realized_pl: Decimal = Decimal(0)

    def apply(self, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Add a fill; returns the profit or loss it realised (cash currency)."""
        signed = qty if side is Side.BUY else -qty
        realized = Decimal(0)
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + qty
            self.avg_price = tidy(((abs(self.qty) * self.avg_price + qty * price) / total)
                                  .quantize(_AVG_PLACES))
            self.qty += signed
        else:
            closing = min(qty, abs(self.qty))
            direction = 1 if self.qty > 0 else -1
            realized = (price - self.avg_price) * closing * direction * self.cash_per_price_unit
            self.qty += signed
            if self.qty == 0:
                self.avg_price = Decimal(0)
            elif (self.qty > 0) != (direction > 0):  # flipped through zero: the rest opens at this price
                self.avg_price = price
        self.realized_pl += realized
        return realized


@define
class SimAccount:
    """One account at one simulated broker.

    ``margin_multiplier`` 1 is a cash account; 2 or 4 gives Reg-T / day-trading style buying power.
    ``auto_fx`` settles trades in other currencies in the base ``currency`` at the market FX rate (Trading
    212, DEGIRO AutoFX); without it the account needs cash in the trade's own currency (Binance: USDT for
    BTCUSDT). ``fractional`` None follows the engine's setting.
    """

    account_id: str
    currency: str
    cash: dict[str, Decimal] = field(factory=dict)
    positions: dict[str, SimPosition] = field(factory=dict)
    margin_multiplier: Decimal = Decimal(1)
    allow_short: bool = False
    fee_model: FeeModel = field(factory=ZeroFee)
    auto_fx: bool = True
    fractional: bool | None = None
    fees_paid: dict[str, Decimal] = field(factory=dict)
    realized_pl: Decimal = Decimal(0)

    def add_cash(self, currency: str, amount: Decimal) -> None:
        self.cash[currency] = tidy(self.cash.get(currency, Decimal(0)) + amount)

    def position_qty(self, key: str) -> Decimal:
        position = self.positions.get(key)
        return position.qty if position else Decimal(0)


@frozen
class PositionState:
    """A position valued at the current quote. ``market_value`` and ``unrealized_pl`` are in
    ``currency`` (the cash currency of the symbol: GBP for pence-quoted shares)."""

    key: str
    symbol: str
    qty: Decimal
    avg_price: Decimal
    market_price: Decimal
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pl: Decimal
    realized_pl: Decimal
    currency: str
    price_currency: str

    @property
    def side(self) -> str:
        return "long" if self.qty >= 0 else "short"

    def to_model(self, broker: str, instrument: Instrument | None = None) -> Position:
        return Position(broker=broker, instrument=instrument or Instrument(self.symbol, Market.US_STOCKS),
                        qty=self.qty, avg_price=self.avg_price, market_value=self.market_value,
                        unrealized_pl=self.unrealized_pl, currency=self.currency)


@frozen
class BalanceState:
    """One asset as exchanges list it: ``free`` to use, ``locked`` in open orders."""

    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@frozen
class AccountState:
    """An account valued at ``timestamp``. Amounts without a currency are in the base ``currency``.
    ``reserved`` is what open buy orders (and short sales) hold back from ``buying_power``."""

    account_id: str
    currency: str
    timestamp: datetime
    cash: Mapping[str, Decimal]
    cash_total: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    equity: Decimal
    buying_power: Decimal
    reserved: Decimal
    margin_multiplier: Decimal
    realized_pl: Decimal
    positions: tuple[PositionState, ...] = ()
    balances: tuple[BalanceState, ...] = ()
    fees_paid: Mapping[str, Decimal] = field(factory=dict)

    def position(self, key: str) -> PositionState | None:
        for position in self.positions:
            if position.key == key or position.symbol == key:
                return position
        return None

    def balance(self, asset: str) -> BalanceState:
        for balance in self.balances:
            if balance.asset == asset:
                return balance
        return BalanceState(asset=asset, free=Decimal(0))

    def to_model(self, broker: str, *, paper: bool = True) -> Account:
        return Account(broker=broker, account_id=self.account_id, currency=self.currency,
                       cash=self.cash.get(self.currency, Decimal(0)), equity=self.equity,
                       buying_power=self.buying_power, paper=paper,
                       balances=tuple(Balance(asset=b.asset, free=b.free, locked=b.locked)
                                      for b in self.balances))
