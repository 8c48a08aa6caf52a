"""What the simulated Alpaca lists: US stocks and ETFs, and crypto pairs quoted in USD, USDT, USDC or BTC.

Symbols are read the way Alpaca reads them: ``AAPL``, ``AAPL:NASDAQ``, ``AAPL:NASDAQ:us_equity``, an asset
UUID, ``BTC/USD`` and (orders only, legacy) ``BTCUSD``. Everything else, including the market model's
European and forex symbols, is "not found" here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable

from orch.models import Market
from orch.sim.instruments import AssetClass, SymbolInfo, UnknownSymbol
from orch.sim.market import MarketModel

from orch_alpaca.sim import wire

CRYPTO_QUOTES = ("USD", "USDT", "USDC", "BTC")

# Listed from the start (GET /v2/assets shows these plus anything traded or looked up since).
DEFAULT_ASSETS = (
    "AAPL", "MSFT", "TSLA", "AMZN", "GOOGL", "GOOG", "META", "NVDA", "AMD", "NFLX", "INTC", "JPM", "BAC", "V",
    "MA", "KO", "PEP", "DIS", "BA", "WMT", "XOM", "IBM", "ORCL", "CRM", "UBER", "COIN", "PLTR", "BRK.B", "F",
    "T", "FAKEPACA", "SPY", "QQQ", "IWM", "DIA", "VOO", "VTI", "GLD", "TLT",
    "BTC/USD", "ETH/USD", "SOL/USD", "DOGE/USD", "LTC/USD", "AVAX/USD", "LINK/USD", "BCH/USD", "UNI/USD",
    "AAVE/USD", "BTC/USDT", "ETH/USDT", "BTC/USDC", "ETH/BTC",
)


class Listing:
    """Resolves Alpaca symbols to the market model's :class:`SymbolInfo`; remembers every asset it has
    resolved so asset ids can be looked up again. Thread-safe."""

    def __init__(self, market: MarketModel, symbols: Iterable[str] = DEFAULT_ASSETS) -> None:
        self.market = market
        self._lock = threading.Lock()
        self._by_id: dict[str, SymbolInfo] = {}
        self._listed: dict[str, SymbolInfo] = {}
        for symbol in symbols:
            try:
                self.resolve(symbol)
            except UnknownSymbol:
                continue

    def _remember(self, info: SymbolInfo) -> SymbolInfo:
        with self._lock:
            self._by_id[wire.asset_id(info)] = info
            self._listed.setdefault(wire.order_symbol(info), info)
        return info

    def resolve(self, text: str, *, legacy_crypto: bool = True) -> SymbolInfo:
        """The asset for ``text``. :class:`UnknownSymbol` if Alpaca would not know it."""
        raw = str(text).strip()
        if not raw:
            raise UnknownSymbol(raw)
        try:
            key = str(uuid.UUID(raw))
        except ValueError:
            key = None
        if key is not None:
            with self._lock:
                info = self._by_id.get(key)
            if info is None:
                raise UnknownSymbol(raw)
            return info
        parts = raw.split(":")
        symbol = parts[0].upper()
        wanted_class = parts[2].lower() if len(parts) >= 3 else None
        if "/" in symbol:
            base, _, quote = symbol.partition("/")
            if quote not in CRYPTO_QUOTES or not base:
                raise UnknownSymbol(raw)
        info = self.market.info(symbol)
        crypto = info.asset_class is AssetClass.CRYPTO
        if crypto:
            if info.quote_asset not in CRYPTO_QUOTES or ("/" not in symbol and not legacy_crypto):
                raise UnknownSymbol(raw)
        elif info.market is not Market.US_STOCKS or info.asset_class not in (AssetClass.STOCK, AssetClass.ETF):
            raise UnknownSymbol(raw)
        if wanted_class is not None and wanted_class != wire.asset_class(info):
            raise UnknownSymbol(raw)
        return self._remember(info)

    def assets(self) -> list[SymbolInfo]:
        with self._lock:
            return sorted(self._listed.values(), key=wire.order_symbol)
