"""What the simulated XTB server lists: forex pairs and CFDs with xAPI's symbol facts (contract size, lot
limits, precision). Prices, ticks and sessions come from :mod:`orch.sim`'s market model, so every
simulator quotes the same EURUSD. Contract sizes are illustrative, in XTB's style (1 forex lot is
100 000 units of the base currency)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import frozen

from orch.sim.instruments import SymbolInfo
from orch.sim.market import MarketModel

FOREX = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD", "NZDUSD", "EURGBP", "EURJPY", "EURCHF",
         "GBPJPY", "EURPLN", "USDPLN")
# symbol: (category, group, contract size, lot max, leverage)
CFDS = {
    "US500": ("IND", "US", Decimal(50), Decimal(100), 20), "US100": ("IND", "US", Decimal(20), Decimal(100), 20),
    "US30": ("IND", "US", Decimal(5), Decimal(100), 20), "DE40": ("IND", "Europe", Decimal(25), Decimal(100), 20),
    "UK100": ("IND", "Europe", Decimal(10), Decimal(100), 20),
    "FRA40": ("IND", "Europe", Decimal(10), Decimal(100), 20),
    "EU50": ("IND", "Europe", Decimal(10), Decimal(100), 20), "GOLD": ("CMD", "Metals", Decimal(100), Decimal(50), 20),
    "SILVER": ("CMD", "Metals", Decimal(5000), Decimal(50), 10),
    "OIL.WTI": ("CMD", "Energy", Decimal(1000), Decimal(50), 10),
    "NATGAS": ("CMD", "Energy", Decimal(30000), Decimal(50), 10),
}
FOREX_CONTRACT = Decimal(100_000)
FOREX_LEVERAGE = 30
LOT_MIN = Decimal("0.01")
LOT_STEP = Decimal("0.01")


@frozen
class SimSymbol:
    symbol: str
    category: str
    group: str
    contract_size: Decimal
    lot_max: Decimal
    leverage: int
    info: SymbolInfo

    @property
    def precision(self) -> int:
        exponent = self.info.tick_size.normalize().as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0

    @property
    def currency(self) -> str:
        return self.info.cash_currency


class Catalog:
    def __init__(self, market: MarketModel) -> None:
        self._market = market
        self._symbols: dict[str, SimSymbol] = {}
        for name in FOREX:
            self._symbols[name] = SimSymbol(name, "FX", "Major", FOREX_CONTRACT, Decimal(100), FOREX_LEVERAGE,
                                            market.info(name))
        for name, (category, group, size, lot_max, leverage) in CFDS.items():
            self._symbols[name] = SimSymbol(name, category, group, size, lot_max, leverage, market.info(name))

    def get(self, symbol: str) -> SimSymbol | None:
        return self._symbols.get(str(symbol))

    def all(self) -> list[SimSymbol]:
        return list(self._symbols.values())

    def record(self, sym: SimSymbol, quote: Any, now_ms: int) -> dict[str, Any]:
        """A SYMBOL_RECORD as getSymbol/getAllSymbols return it."""
        info = sym.info
        fx = sym.category == "FX"
        return {
            "symbol": sym.symbol, "description": info.name or sym.symbol, "categoryName": sym.category,
            "groupName": sym.group, "type": 21 if fx else 34, "currency": sym.currency,
            "currencyProfit": sym.currency, "currencyPair": fx, "precision": sym.precision,
            "contractSize": sym.contract_size, "lotMin": LOT_MIN, "lotMax": sym.lot_max, "lotStep": LOT_STEP,
            "tickSize": info.tick_size, "tickValue": info.tick_size * sym.contract_size, "bid": quote.bid,
            "ask": quote.ask, "high": quote.ask, "low": quote.bid, "time": now_ms, "timeString": "",
            "spreadRaw": quote.ask - quote.bid, "spreadTable": (quote.ask - quote.bid).scaleb(sym.precision - 1),
            "leverage": Decimal(100) / sym.leverage, "marginMode": 101 if fx else 104, "profitMode": 5 if fx else 6,
            "quoteId": 2, "shortSelling": True, "longOnly": False, "trailingEnabled": True, "swapEnable": True,
            "swapLong": Decimal("-0.5"), "swapShort": Decimal("0.1"), "swapType": 1, "stopsLevel": 0,
            "instantMaxVolume": 2147483647, "marginHedged": 0, "marginHedgedStrong": False,
            "marginMaintenance": 0, "initialMargin": 0, "exemode": 1, "pipsPrecision": max(sym.precision - 1, 0),
            "stepRuleId": 1, "percentage": Decimal(100), "expiration": None, "starting": None,
        }
