"""Fee models: what each simulated broker charges per fill.

A fee model has ``markup_bps`` (how much worse than the quote a fill is priced: the "spread-only" brokers
earn this way) and ``fee(trade)`` returning a :class:`Fee` or None. The engine charges the fee to the
account when it applies the fill and records it on the order and the fill.

Ready-made models::

    ZeroFee()                                   # Alpaca, Trading 212 stocks
    PerShareFee()                               # IBKR fixed: USD 0.005/share, min 1, max 1% of value
    PercentFee(Decimal("0.001"))                # Binance spot 0.1%, charged in the asset received
    PercentFee(Decimal("0.001"), in_received_asset=False)   # 0.1% charged in the quote currency
    FlatFee(Decimal("2"), currency="EUR")       # DEGIRO-style fixed charge per order fill
    SpreadFee(Decimal("15"))                    # no commission, fills 15 bps worse than the quote (XTB)
    ByAssetClass(PerShareFee(), {AssetClass.FOREX: PercentFee(Decimal("0.00002"), minimum=Decimal(2),
                                                              in_received_asset=False)})
                                                # IBKR: per share for stocks, 0.2 bps (min 2) for forex
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from attrs import field, frozen

from orch.models import Side, to_decimal
from orch.sim.instruments import AssetClass, SymbolInfo
from orch.sim.numbers import tidy

__all__ = ["ByAssetClass", "Fee", "FeeModel", "FlatFee", "PercentFee", "PerShareFee", "SpreadFee", "Trade",
           "ZeroFee"]

_FEE_PLACES = Decimal("1e-8")


@frozen
class Trade:
    """One fill as a fee model sees it. ``value`` is qty × price in :attr:`SymbolInfo.cash_currency`
    (pence-quoted prices already converted to pounds)."""

    info: SymbolInfo
    side: Side
    qty: Decimal
    price: Decimal
    value: Decimal
    first_fill: bool = True


@frozen
class Fee:
    amount: Decimal = field(converter=to_decimal)
    currency: str


class FeeModel(Protocol):
    markup_bps: Decimal

    def fee(self, trade: Trade) -> Fee | None: ...


def _q(amount: Decimal) -> Decimal:
    return tidy(amount.quantize(_FEE_PLACES)) if amount else Decimal(0)


@frozen
class ZeroFee:
    markup_bps: Decimal = Decimal(0)

    def fee(self, trade: Trade) -> Fee | None:
        return None


@frozen
class PerShareFee:
    """A charge per share with a minimum per fill and a cap as a fraction of the trade value (IBKR's
    fixed pricing: 0.005 per share, at least 1, at most 1%)."""

    per_share: Decimal = field(default=Decimal("0.005"), converter=to_decimal)
    minimum: Decimal = field(default=Decimal(1), converter=to_decimal)
    max_fraction: Decimal | None = field(default=Decimal("0.01"))
    currency: str | None = None  # None: the trade's cash currency
    markup_bps: Decimal = Decimal(0)

    def fee(self, trade: Trade) -> Fee | None:
        amount = max(self.minimum, trade.qty * self.per_share)
        if self.max_fraction is not None:
            amount = min(amount, trade.value * self.max_fraction)
        return Fee(_q(amount), self.currency or trade.info.cash_currency)


@frozen
class PercentFee:
    """A fraction of the trade value (``rate=Decimal("0.001")`` is 0.1%). With ``in_received_asset``
    (Binance's default) a crypto buy pays in the base asset received (fraction of the quantity) and a sell
    in the quote currency received; otherwise the fee is always in the quote/cash currency."""

    rate: Decimal = field(default=Decimal("0.001"), converter=to_decimal)
    minimum: Decimal = field(default=Decimal(0), converter=to_decimal)
    in_received_asset: bool = True
    markup_bps: Decimal = Decimal(0)

    def fee(self, trade: Trade) -> Fee | None:
        if (self.in_received_asset and trade.info.asset_class is AssetClass.CRYPTO
                and trade.side is Side.BUY):
            return Fee(_q(trade.qty * self.rate), trade.info.base_asset)
        return Fee(_q(max(self.minimum, trade.value * self.rate)), trade.info.cash_currency)


@frozen
class FlatFee:
    """A fixed amount for each order, charged on its first fill."""

    amount: Decimal = field(converter=to_decimal)
    currency: str | None = None
    markup_bps: Decimal = Decimal(0)

    def fee(self, trade: Trade) -> Fee | None:
        if not trade.first_fill:
            return None
        return Fee(tidy(self.amount), self.currency or trade.info.cash_currency)


@frozen
class SpreadFee:
    """No commission; every fill is priced ``markup_bps`` basis points worse than the quote."""

    markup_bps: Decimal = field(default=Decimal(10), converter=to_decimal)

    def fee(self, trade: Trade) -> Fee | None:
        return None


@frozen
class ByAssetClass:
    """A broker whose schedule differs per asset class: ``overrides`` picks the model for a class, the
    ``default`` covers the rest. The price markup is the default's (one engine, one markup)."""

    default: FeeModel
    overrides: dict[AssetClass, FeeModel] = field(factory=dict)

    @property
    def markup_bps(self) -> Decimal:
        return self.default.markup_bps

    def fee(self, trade: Trade) -> Fee | None:
        return self.overrides.get(trade.info.asset_class, self.default).fee(trade)
