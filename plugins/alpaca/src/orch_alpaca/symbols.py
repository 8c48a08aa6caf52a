"""orch instruments ↔ Alpaca symbols.

Alpaca names stocks by ticker (``AAPL``, class shares with a dot: ``BRK.B``) and crypto by pair with a slash
(``BTC/USD``). Orders and market data take the slashed pair; positions and trade_updates report it without
the slash (``BTCUSD``), and a path segment cannot hold a slash, so both forms are handled here.
"""

from __future__ import annotations

import re

from orch.errors import UnknownInstrument
from orch.models import Instrument, Market

# Quote currencies Alpaca lists crypto against; longest first so BTCUSDT is not read as BTCUSD + T.
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "BTC")

_STOCK = re.compile(r"^[A-Z0-9]+(\.[A-Z0-9]+)?$")
_ASSET = re.compile(r"^[A-Z0-9]+$")


def _unknown(symbol: str, why: str, broker: str) -> UnknownInstrument:
    return UnknownInstrument(f"{symbol!r}: {why}", broker=broker)


def crypto_pair(symbol: str, currency: str | None = None, *, broker: str = "alpaca") -> str:
    """``BTC/USD`` from ``BTC/USD``, ``btc-usd``, ``BTCUSD``, ``BTCUSDT`` (→ ``BTC/USDT``) or ``BTC`` plus
    the instrument's currency."""
    text = symbol.strip().upper()
    for separator in ("/", "-", "_"):
        if separator in text:
            base, _, quote = text.partition(separator)
            break
    else:
        base, quote = text, ""
        candidates = ([currency.upper()] if currency else []) + list(CRYPTO_QUOTES)
        for candidate in candidates:
            if text.endswith(candidate) and len(text) > len(candidate):
                base, quote = text[: -len(candidate)], candidate
                break
        if not quote and currency:
            quote = currency.upper()
    if not (_ASSET.match(base) and _ASSET.match(quote or "")):
        raise _unknown(symbol, "not a crypto pair Alpaca can name (expected e.g. BTC/USD)", broker)
    return f"{base}/{quote}"


def stock_symbol(symbol: str, *, broker: str = "alpaca") -> str:
    """Upper-case ticker; class shares written ``BRK-B``, ``BRK/B`` or ``BRK B`` become ``BRK.B``."""
    text = re.sub(r"[-/ ]", ".", symbol.strip().upper())
    if not _STOCK.match(text):
        raise _unknown(symbol, "not a US stock ticker", broker)
    return text


def to_alpaca(instrument: Instrument, *, broker: str = "alpaca") -> str:
    """The symbol Alpaca's orders and market data expect. ``instrument.broker_ids[broker]`` wins if set."""
    explicit = instrument.broker_ids.get(broker)
    if explicit:
        return explicit
    if instrument.market is Market.CRYPTO:
        return crypto_pair(instrument.symbol, instrument.currency, broker=broker)
    if instrument.market is Market.US_STOCKS:
        return stock_symbol(instrument.symbol, broker=broker)
    raise _unknown(instrument.symbol, f"Alpaca trades US_STOCKS and CRYPTO, not {instrument.market.value}",
                   broker)


def is_crypto_symbol(symbol: str) -> bool:
    return "/" in symbol


def compact(symbol: str) -> str:
    """The slash-less form positions use (``BTCUSD``), also safe as a URL path segment."""
    return symbol.replace("/", "")


def from_alpaca(symbol: str, asset_class: str | None = None, *, broker: str = "alpaca") -> Instrument:
    """An orch instrument from what Alpaca reports. Crypto comes back as ``BTC/USD`` whichever form
    Alpaca used, with the quote currency as the instrument's currency."""
    if asset_class == "crypto" or (asset_class is None and is_crypto_symbol(symbol)):
        pair = crypto_pair(symbol, broker=broker)
        return Instrument(pair, Market.CRYPTO, currency=pair.partition("/")[2])
    if asset_class == "us_option":
        return Instrument(symbol, Market.OPTIONS)
    return Instrument(symbol, Market.US_STOCKS)
