"""What the simulated market knows about a symbol: asset class, session, currency, reference price,
tick size, quantity step, volatility and spread.

Symbols are written the way most venues write them and normalised by :func:`classify`:

* US stocks and ETFs bare (``AAPL``, ``SPY``, ``BRK.B``); other exchanges with a Yahoo-style suffix
  (``SAP.DE`` Xetra in EUR, ``VOD.L`` London in **GBX** pence, ``ASML.AS``, ``MC.PA``, ``NESN.SW``…);
* crypto pairs with or without a separator (``BTCUSDT``, ``BTC/USD``, ``BTC-USD``, ``ETHBTC``);
* forex pairs of ISO currencies (``EURUSD``, ``EUR/USD``, ``USD_JPY``);
* CFD indices and commodities as XTB names them (``US500``, ``DE40``, ``GOLD``, ``OIL.WTI``).

Well-known symbols start near realistic prices; any other symbol gets a plausible price derived from a
hash of its name, so every simulator quotes the same price for the same symbol. Broker simulators map
their own identifiers (Trading 212 ``AAPL_US_EQ``, an IBKR conId, an ISIN) onto these symbols;
:func:`by_isin` helps with the ISINs of the well-known ones. Symbols starting with ``NOSUCH`` are
unknown everywhere, so conformance tests have a reliable unknown symbol (:data:`UNKNOWN_SYMBOL`).
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from attrs import frozen

from orch.models import Market

__all__ = ["AssetClass", "SymbolInfo", "UNKNOWN_SYMBOL", "UnknownSymbol", "by_isin", "canonical",
           "classify", "looks_valid", "usd_rate", "FX_CURRENCIES"]

UNKNOWN_SYMBOL = "NOSUCHSYMBOL"
"""A symbol every simulator must refuse as unknown."""


class UnknownSymbol(LookupError):
    """The simulated market does not list this symbol."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol {symbol!r}")
        self.symbol = symbol


class AssetClass(str, enum.Enum):
    STOCK = "stock"
    ETF = "etf"
    CRYPTO = "crypto"
    FOREX = "forex"
    INDEX = "index"
    COMMODITY = "commodity"


@frozen
class SymbolInfo:
    """Static facts about one symbol.

    ``symbol`` is the canonical spelling (``BTCUSD`` for ``BTC/USD``). ``currency`` is the price currency
    (``GBX`` for London shares); :attr:`cash_currency` and :attr:`cash_per_price_unit` say how a price
    turns into money (``GBP``, 0.01). A position in the symbol is kept under :attr:`position_key`: the
    symbol itself, or the base asset for crypto (buying ``BTCUSDT`` and ``BTC/USD`` both add to ``BTC``).
    ``spread_bps`` is the full bid/ask spread in basis points of the mid (never less than one tick);
    ``volatility`` the annualised volatility of the price path; ``typical_size`` the scale of the quoted
    bid/ask sizes.
    """

    symbol: str
    asset_class: AssetClass
    market: Market
    session: str
    currency: str
    start_price: Decimal
    tick_size: Decimal
    qty_step: Decimal
    volatility: float
    spread_bps: Decimal
    typical_size: Decimal
    base_asset: str
    quote_asset: str
    name: str = ""
    isin: str | None = None
    exchange: str | None = None

    @property
    def cash_currency(self) -> str:
        return "GBP" if self.currency == "GBX" else self.currency

    @property
    def cash_per_price_unit(self) -> Decimal:
        """Money per unit of price: 0.01 for pence-quoted London shares, else 1."""
        return Decimal("0.01") if self.currency == "GBX" else Decimal(1)

    @property
    def position_key(self) -> str:
        return self.base_asset if self.asset_class is AssetClass.CRYPTO else self.symbol


# ---------------------------------------------------------------------------------------- reference data
# Prices are rough mid-2024 levels: realistic enough that a human reading a demo is not surprised.

_US = {
    "AAPL": ("190", "Apple Inc.", "US0378331005"), "MSFT": ("420", "Microsoft Corp.", "US5949181045"),
    "TSLA": ("180", "Tesla Inc.", "US88160R1014"), "AMZN": ("180", "Amazon.com Inc.", "US0231351067"),
    "GOOGL": ("170", "Alphabet Inc. Class A", "US02079K3059"), "GOOG": ("172", "Alphabet Inc. Class C", None),
    "META": ("480", "Meta Platforms Inc.", "US30303M1027"), "NVDA": ("120", "NVIDIA Corp.", "US67066G1040"),
    "AMD": ("160", "Advanced Micro Devices", None), "NFLX": ("620", "Netflix Inc.", None),
    "INTC": ("31", "Intel Corp.", None), "JPM": ("200", "JPMorgan Chase & Co.", None),
    "BAC": ("39", "Bank of America Corp.", None), "V": ("275", "Visa Inc.", None),
    "MA": ("450", "Mastercard Inc.", None), "KO": ("62", "Coca-Cola Co.", None),
    "PEP": ("170", "PepsiCo Inc.", None), "DIS": ("100", "Walt Disney Co.", None),
    "BA": ("180", "Boeing Co.", None), "WMT": ("68", "Walmart Inc.", None),
    "XOM": ("115", "Exxon Mobil Corp.", None), "IBM": ("185", "IBM Corp.", None),
    "ORCL": ("125", "Oracle Corp.", None), "CRM": ("250", "Salesforce Inc.", None),
    "UBER": ("70", "Uber Technologies", None), "COIN": ("230", "Coinbase Global", None),
    "PLTR": ("25", "Palantir Technologies", None), "BRK.B": ("410", "Berkshire Hathaway B", None),
    "F": ("12", "Ford Motor Co.", None), "T": ("18", "AT&T Inc.", None),
    "FAKEPACA": ("100", "Alpaca test symbol", None),
}
_US_ETF = {
    "SPY": ("520", "SPDR S&P 500 ETF", "US78462F1030"), "QQQ": ("440", "Invesco QQQ Trust", None),
    "IWM": ("205", "iShares Russell 2000 ETF", None), "DIA": ("390", "SPDR Dow Jones ETF", None),
    "VOO": ("480", "Vanguard S&P 500 ETF", None), "VTI": ("255", "Vanguard Total Stock Market ETF", None),
    "GLD": ("215", "SPDR Gold Shares", None), "TLT": ("92", "iShares 20+ Year Treasury ETF", None),
}
_EU = {  # symbol: (price in local currency, name, ISIN)
    "SAP.DE": ("175", "SAP SE", "DE0007164600"), "SIE.DE": ("175", "Siemens AG", "DE0007236101"),
    "ALV.DE": ("250", "Allianz SE", "DE0008404005"), "BMW.DE": ("95", "BMW AG", "DE0005190003"),
    "MBG.DE": ("65", "Mercedes-Benz Group", None), "VOW3.DE": ("110", "Volkswagen AG Vz.", None),
    "DTE.DE": ("23", "Deutsche Telekom AG", None), "BAS.DE": ("47", "BASF SE", None),
    "BAYN.DE": ("27", "Bayer AG", None), "ADS.DE": ("220", "adidas AG", None),
    "DBK.DE": ("15", "Deutsche Bank AG", None), "IFX.DE": ("34", "Infineon Technologies", None),
    "RHM.DE": ("480", "Rheinmetall AG", None), "SXR8.DE": ("500", "iShares Core S&P 500 (Acc)", None),
    "EUNL.DE": ("90", "iShares Core MSCI World", None),
    "ASML.AS": ("900", "ASML Holding", "NL0010273215"), "INGA.AS": ("16", "ING Groep", None),
    "IWDA.AS": ("90", "iShares Core MSCI World", None),
    "AIR.PA": ("160", "Airbus SE", None), "MC.PA": ("750", "LVMH", None), "OR.PA": ("430", "L'Oréal", None),
    "TTE.PA": ("62", "TotalEnergies", None), "BNP.PA": ("62", "BNP Paribas", None),
    "SAN.MC": ("4.4", "Banco Santander", None), "ITX.MC": ("45", "Inditex", None),
    "ENEL.MI": ("6.5", "Enel", None), "ISP.MI": ("3.5", "Intesa Sanpaolo", None),
    "NESN.SW": ("92", "Nestlé", None), "NOVN.SW": ("90", "Novartis", None), "ROG.SW": ("250", "Roche", None),
    # London prices are in pence (GBX), as the exchange and Trading 212 quote them.
    "VOD.L": ("72", "Vodafone Group", "GB00BH4HKS39"), "HSBA.L": ("680", "HSBC Holdings", None),
    "BP.L": ("470", "BP plc", None), "SHEL.L": ("2800", "Shell plc", None),
    "AZN.L": ("12000", "AstraZeneca", None), "ULVR.L": ("4300", "Unilever", None),
    "LLOY.L": ("55", "Lloyds Banking Group", None), "BARC.L": ("210", "Barclays", None),
    "GSK.L": ("1600", "GSK plc", None), "RIO.L": ("5200", "Rio Tinto", None),
    "TSCO.L": ("300", "Tesco", None), "VUSA.L": ("8500", "Vanguard S&P 500 UCITS ETF", None),
}
_ETF_LIKE = frozenset({"SXR8.DE", "EUNL.DE", "IWDA.AS", "VUSA.L"})

# suffix: (session, currency, market, exchange)
_SUFFIXES = {
    "DE": ("XETRA", "EUR", Market.EU_STOCKS, "XETRA"), "F": ("XETRA", "EUR", Market.EU_STOCKS, "FWB"),
    "L": ("LSE", "GBX", Market.EU_STOCKS, "LSE"),
    "PA": ("EURONEXT", "EUR", Market.EU_STOCKS, "EPA"), "AS": ("EURONEXT", "EUR", Market.EU_STOCKS, "AEB"),
    "BR": ("EURONEXT", "EUR", Market.EU_STOCKS, "EBR"), "LS": ("EURONEXT", "EUR", Market.EU_STOCKS, "ELI"),
    "MI": ("MILAN", "EUR", Market.EU_STOCKS, "BIT"), "MC": ("MADRID", "EUR", Market.EU_STOCKS, "BME"),
    "SW": ("SIX", "CHF", Market.EU_STOCKS, "SIX"), "ST": ("NORDIC", "SEK", Market.EU_STOCKS, "STO"),
    "CO": ("NORDIC", "DKK", Market.EU_STOCKS, "CPH"), "HE": ("NORDIC", "EUR", Market.EU_STOCKS, "HEL"),
    "TO": ("TSX", "CAD", Market.GLOBAL_STOCKS, "TSX"), "T": ("TSE", "JPY", Market.GLOBAL_STOCKS, "TSE"),
    "HK": ("HKEX", "HKD", Market.GLOBAL_STOCKS, "HKEX"),
}

_CRYPTO_USD = {
    "BTC": "65000", "ETH": "3200", "SOL": "150", "BNB": "580", "XRP": "0.52", "ADA": "0.45",
    "DOGE": "0.15", "DOT": "7", "LTC": "80", "AVAX": "35", "LINK": "15", "MATIC": "0.7", "TRX": "0.12",
    "BCH": "450", "XLM": "0.11", "UNI": "10", "ATOM": "8", "ETC": "27", "FIL": "6", "NEAR": "6",
    "APT": "9", "ARB": "1.1", "OP": "2.3", "SHIB": "0.000022", "PEPE": "0.000010", "AAVE": "95",
    "USDT": "1", "USDC": "1", "FDUSD": "1", "BUSD": "1", "TUSD": "1", "DAI": "1",
}
_STABLE = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"})
# Quote assets a crypto pair may end in, longest first so USDT wins over USD.
_CRYPTO_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "TRY", "BTC", "ETH", "BNB")

# US dollars per unit of each currency.
_USD_PER = {
    "USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "AUD": Decimal("0.66"),
    "NZD": Decimal("0.61"), "CAD": 1 / Decimal("1.36"), "CHF": 1 / Decimal("0.885"),
    "JPY": 1 / Decimal("151.5"), "SEK": 1 / Decimal("10.5"), "NOK": 1 / Decimal("10.7"),
    "DKK": 1 / Decimal("6.9"), "PLN": 1 / Decimal("3.95"), "HUF": 1 / Decimal("360"),
    "CZK": 1 / Decimal("23"), "CNH": 1 / Decimal("7.25"), "HKD": 1 / Decimal("7.8"),
    "SGD": 1 / Decimal("1.35"), "MXN": 1 / Decimal("17"), "ZAR": 1 / Decimal("18.5"),
    "TRY": 1 / Decimal("32"),
}
FX_CURRENCIES = frozenset(_USD_PER)
_GOLD_SILVER = {"XAU": Decimal("2350"), "XAG": Decimal("28")}

# XTB-style CFD names: (price, currency, asset class, session)
_CFD = {
    "US500": ("5200", "USD", AssetClass.INDEX), "US100": ("18200", "USD", AssetClass.INDEX),
    "US30": ("39000", "USD", AssetClass.INDEX), "DE40": ("18500", "EUR", AssetClass.INDEX),
    "DE30": ("18500", "EUR", AssetClass.INDEX), "UK100": ("8100", "GBP", AssetClass.INDEX),
    "FRA40": ("8000", "EUR", AssetClass.INDEX), "EU50": ("4950", "EUR", AssetClass.INDEX),
    "JP225": ("38500", "JPY", AssetClass.INDEX), "GOLD": ("2350", "USD", AssetClass.COMMODITY),
    "SILVER": ("28", "USD", AssetClass.COMMODITY), "OIL": ("80", "USD", AssetClass.COMMODITY),
    "OIL.WTI": ("78", "USD", AssetClass.COMMODITY), "NATGAS": ("2.5", "USD", AssetClass.COMMODITY),
}

_VOLATILITY = {
    AssetClass.STOCK: 0.30, AssetClass.ETF: 0.15, AssetClass.CRYPTO: 0.60, AssetClass.FOREX: 0.08,
    AssetClass.INDEX: 0.15, AssetClass.COMMODITY: 0.25,
}
_VOLATILITY_OVERRIDES = {"TSLA": 0.55, "NVDA": 0.50, "COIN": 0.70, "PLTR": 0.60, "AMD": 0.45}
_SPREAD_BPS = {
    AssetClass.STOCK: Decimal(2), AssetClass.ETF: Decimal("0.5"), AssetClass.CRYPTO: Decimal(1),
    AssetClass.FOREX: Decimal("0.8"), AssetClass.INDEX: Decimal(1), AssetClass.COMMODITY: Decimal(3),
}

_VALID = re.compile(r"^[A-Z0-9][A-Z0-9./_\-]{0,31}$")
_SEPARATORS = re.compile(r"[/\-_ ]")


# ---------------------------------------------------------------------------------------- rules


def _hash_unit(text: str) -> float:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _log_uniform(text: str, low: float, high: float) -> Decimal:
    value = math.exp(math.log(low) + _hash_unit(text) * (math.log(high) - math.log(low)))
    return Decimal(f"{value:.6g}")


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def _magnitude(price: Decimal) -> int:
    return price.adjusted()  # floor(log10(price)) for a positive Decimal


def _stock_tick(price: Decimal, currency: str) -> Decimal:
    if currency == "GBX":
        return Decimal("0.01") if price < 100 else Decimal("0.1") if price < 1000 else Decimal("0.5")
    if currency == "JPY":
        return Decimal(1)
    if price < 1:
        return Decimal("0.0001")
    if currency in ("USD", "CAD"):
        return Decimal("0.01")
    return Decimal("0.001") if price < 10 else Decimal("0.01") if price < 1000 else Decimal("0.05")


def _crypto_tick(price: Decimal) -> Decimal:
    return max(_pow10(-8), min(Decimal("0.01"), _pow10(_magnitude(price) - 4)))


def _crypto_step(price: Decimal) -> Decimal:
    return min(Decimal(1), _pow10(-(_magnitude(price) + 1)))


def _size_for_notional(price: Decimal, notional: Decimal, step: Decimal) -> Decimal:
    size = (notional / price).quantize(step) if step < 1 else Decimal(int(notional / price))
    return max(size, step)


def looks_valid(symbol: str) -> bool:
    """Syntactically a symbol, and not one of the reserved unknown ones (``NOSUCH…``)."""
    text = symbol.strip().upper()
    return bool(_VALID.match(text)) and not text.startswith("NOSUCH")


def usd_rate(currency: str) -> Decimal:
    """Reference US dollars per unit of ``currency`` (fiat, precious metal or known crypto asset)."""
    currency = currency.upper()
    if currency == "GBX":
        return _USD_PER["GBP"] / 100
    if currency in _USD_PER:
        return _USD_PER[currency]
    if currency in _GOLD_SILVER:
        return _GOLD_SILVER[currency]
    if currency in _CRYPTO_USD:
        return Decimal(_CRYPTO_USD[currency])
    raise UnknownSymbol(currency)


def _split_pair(text: str, bases: Mapping[str, object], quotes: tuple[str, ...] | frozenset[str]
                ) -> tuple[str, str] | None:
    parts = [p for p in _SEPARATORS.split(text) if p]
    if len(parts) == 2:
        return (parts[0], parts[1]) if parts[1] in quotes else None
    if len(parts) != 1:
        return None
    for quote in sorted(quotes, key=len, reverse=True):
        if text.endswith(quote) and len(text) > len(quote) and text[: -len(quote)] in bases:
            return text[: -len(quote)], quote
    return None


def canonical(symbol: str) -> str:
    """The canonical spelling of ``symbol`` (upper case; pair separators removed)."""
    return classify(symbol).symbol


def classify(symbol: str) -> SymbolInfo:
    """Everything the simulated market assumes about ``symbol``. Raises :class:`UnknownSymbol` for a
    string that cannot be a symbol or starts with ``NOSUCH``."""
    if not looks_valid(symbol):
        raise UnknownSymbol(symbol)
    text = symbol.strip().upper()
    for build in (_known_stock, _cfd, _forex, _crypto, _suffixed_stock):
        info = build(text)
        if info is not None:
            return info
    return _stock(text, AssetClass.STOCK, _log_uniform(text, 5, 500), "US", "USD", Market.US_STOCKS, None)


def _stock(symbol: str, cls: AssetClass, price: Decimal, session: str, currency: str, market: Market,
           exchange: str | None, name: str = "", isin: str | None = None) -> SymbolInfo:
    return SymbolInfo(
        symbol=symbol, asset_class=cls, market=market, session=session, currency=currency,
        start_price=price, tick_size=_stock_tick(price, currency), qty_step=Decimal(1),
        volatility=_VOLATILITY_OVERRIDES.get(symbol, _VOLATILITY[cls]), spread_bps=_SPREAD_BPS[cls],
        typical_size=Decimal(500 if cls is AssetClass.ETF else 100), base_asset=symbol,
        quote_asset="GBP" if currency == "GBX" else currency, name=name, isin=isin, exchange=exchange)


def _known_stock(text: str) -> SymbolInfo | None:
    if text in _US or text in _US_ETF:
        price, name, isin = _US.get(text) or _US_ETF[text]
        cls = AssetClass.ETF if text in _US_ETF else AssetClass.STOCK
        return _stock(text, cls, Decimal(price), "US", "USD", Market.US_STOCKS, None, name, isin)
    if text in _EU:
        price, name, isin = _EU[text]
        session, currency, market, exchange = _SUFFIXES[text.rsplit(".", 1)[1]]
        cls = AssetClass.ETF if text in _ETF_LIKE else AssetClass.STOCK
        return _stock(text, cls, Decimal(price), session, currency, market, exchange, name, isin)
    return None


def _suffixed_stock(text: str) -> SymbolInfo | None:
    if "." not in text:
        return None
    suffix = text.rsplit(".", 1)[1]
    if suffix not in _SUFFIXES:
        return None
    session, currency, market, exchange = _SUFFIXES[suffix]
    low, high = {"GBX": (20, 2000), "JPY": (300, 10000), "SEK": (20, 2000), "DKK": (20, 2000)}.get(
        currency, (2, 200))
    return _stock(text, AssetClass.STOCK, _log_uniform(text, low, high), session, currency, market, exchange)


def _cfd(text: str) -> SymbolInfo | None:
    if text not in _CFD:
        return None
    price_text, currency, cls = _CFD[text]
    price = Decimal(price_text)
    tick = Decimal("0.1") if price >= 1000 else Decimal("0.01") if price >= 10 else Decimal("0.001")
    return SymbolInfo(symbol=text, asset_class=cls, market=Market.CFD, session="FOREX", currency=currency,
                      start_price=price, tick_size=tick, qty_step=Decimal("0.01"),
                      volatility=_VOLATILITY[cls], spread_bps=_SPREAD_BPS[cls], typical_size=Decimal(10),
                      base_asset=text, quote_asset=currency, name=text)


def _forex(text: str) -> SymbolInfo | None:
    currencies = FX_CURRENCIES | frozenset(_GOLD_SILVER)
    pair = _split_pair(text, {c: None for c in currencies}, currencies)
    if pair is None or pair[0] not in currencies or pair[0] == pair[1]:
        return None
    base, quote = pair
    price = usd_rate(base) / usd_rate(quote)
    metal = base in _GOLD_SILVER
    tick = Decimal("0.01") if metal else Decimal("0.001") if price >= 20 else Decimal("0.00001")
    price = price.quantize(tick)
    cls = AssetClass.COMMODITY if metal else AssetClass.FOREX
    return SymbolInfo(symbol=base + quote, asset_class=cls, market=Market.FOREX, session="FOREX",
                      currency=quote, start_price=price, tick_size=tick,
                      qty_step=Decimal("0.01") if metal else Decimal(1), volatility=_VOLATILITY[cls],
                      spread_bps=_SPREAD_BPS[cls],
                      typical_size=Decimal(100) if metal else Decimal(1_000_000),
                      base_asset=base, quote_asset=quote, name=f"{base}/{quote}")


def _crypto(text: str) -> SymbolInfo | None:
    pair = _split_pair(text, _CRYPTO_USD, _CRYPTO_QUOTES)
    if pair is None:
        # An unlisted coin still counts as crypto when written as a pair with a crypto quote (FOO/USD) or
        # quoted in a stablecoin (FOOUSDT).
        parts = [p for p in _SEPARATORS.split(text) if p]
        if len(parts) == 2 and parts[1] in _CRYPTO_QUOTES:
            pair = (parts[0], parts[1])
        elif len(parts) == 1:
            for quote in (q for q in _CRYPTO_QUOTES if q in _STABLE):
                if text.endswith(quote) and len(text) > len(quote):
                    pair = (text[: -len(quote)], quote)
                    break
    if pair is None:
        return None
    base, quote = pair
    base_usd = _usd_value(base)
    price = Decimal(f"{base_usd / usd_rate(quote):.8g}")
    step = _crypto_step(base_usd if quote in ("BTC", "ETH", "BNB") else price)
    stable = base in _STABLE and quote in _STABLE | {"USD"}
    return SymbolInfo(symbol=base + quote, asset_class=AssetClass.CRYPTO, market=Market.CRYPTO,
                      session="CRYPTO", currency=quote, start_price=price, tick_size=_crypto_tick(price),
                      qty_step=step, volatility=0.002 if stable else _VOLATILITY[AssetClass.CRYPTO],
                      spread_bps=_SPREAD_BPS[AssetClass.CRYPTO],
                      typical_size=_size_for_notional(base_usd, Decimal(100_000), step),
                      base_asset=base, quote_asset=quote, name=f"{base}/{quote}")


def _usd_value(asset: str) -> Decimal:
    try:
        return usd_rate(asset)
    except UnknownSymbol:
        return _log_uniform(asset, 0.01, 100)


_ISINS: Mapping[str, str] = MappingProxyType({
    isin: symbol for table in (_US, _US_ETF, _EU) for symbol, (_, _, isin) in table.items() if isin})


def by_isin(isin: str) -> str:
    """The symbol of a well-known ISIN (``US0378331005`` → ``AAPL``); :class:`UnknownSymbol` otherwise."""
    try:
        return _ISINS[isin.strip().upper()]
    except KeyError:
        raise UnknownSymbol(isin) from None
