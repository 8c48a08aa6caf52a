"""orch instruments ↔ Alpaca symbols."""

from __future__ import annotations

import pytest

from orch.errors import UnknownInstrument
from orch.models import Instrument, Market
from orch_alpaca import symbols


@pytest.mark.parametrize("symbol, currency, expected", [
    ("BTC/USD", "USD", "BTC/USD"),
    ("btc/usd", "USD", "BTC/USD"),
    ("BTCUSD", "USD", "BTC/USD"),
    ("BTC-USD", "USD", "BTC/USD"),
    ("BTCUSDT", "USD", "BTC/USDT"),
    ("ETHBTC", "USD", "ETH/BTC"),
    ("USDTUSD", "USD", "USDT/USD"),
    ("BTC", "USD", "BTC/USD"),
    ("ETH", "USDC", "ETH/USDC"),
    ("SOLUSDC", "USD", "SOL/USDC"),
])
def test_crypto_inputs_become_slashed_pairs(symbol, currency, expected):
    assert symbols.to_alpaca(Instrument(symbol, Market.CRYPTO, currency=currency)) == expected


@pytest.mark.parametrize("symbol, expected", [("AAPL", "AAPL"), ("aapl", "AAPL"), ("BRK.B", "BRK.B"),
                                              ("BRK-B", "BRK.B"), ("BRK/B", "BRK.B")])
def test_stock_tickers(symbol, expected):
    assert symbols.to_alpaca(Instrument(symbol, Market.US_STOCKS)) == expected


def test_explicit_broker_id_wins():
    instrument = Instrument("Apple", Market.US_STOCKS, broker_ids={"alpaca": "AAPL"})
    assert symbols.to_alpaca(instrument) == "AAPL"


@pytest.mark.parametrize("instrument", [
    Instrument("SAP", Market.EU_STOCKS, currency="EUR"),
    Instrument("EURUSD", Market.FOREX),
    Instrument("AAPL; DROP", Market.US_STOCKS),
    Instrument("B/T/C", Market.CRYPTO),
])
def test_what_alpaca_cannot_name_is_an_unknown_instrument(instrument):
    with pytest.raises(UnknownInstrument) as caught:
        symbols.to_alpaca(instrument)
    assert instrument.symbol in str(caught.value)


def test_positions_report_crypto_without_the_slash():
    assert symbols.compact("BTC/USD") == "BTCUSD"
    assert symbols.from_alpaca("BTCUSD", "crypto") == Instrument("BTC/USD", Market.CRYPTO, currency="USD")
    assert symbols.from_alpaca("ETH/USDT", "crypto") == Instrument("ETH/USDT", Market.CRYPTO, currency="USDT")
    assert symbols.from_alpaca("SOLUSD", None) == Instrument("SOLUSD", Market.US_STOCKS)  # no class: a ticker
    assert symbols.from_alpaca("BTC/USD", None).market is Market.CRYPTO
    assert symbols.from_alpaca("AAPL", "us_equity") == Instrument("AAPL", Market.US_STOCKS)
