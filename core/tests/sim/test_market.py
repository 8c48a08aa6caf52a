"""The market model: deterministic, plausible prices; quotes on the tick; symbols; FX; bars; pins."""

from datetime import timedelta
from decimal import Decimal

import pytest

from orch.models import Market
from orch.sim import ALL_CLOSED, ALL_OPEN, UNKNOWN_SYMBOL, MarketModel, UnknownSymbol, by_isin, classify
from orch.sim.instruments import AssetClass

SYMBOLS = ["AAPL", "MSFT", "TSLA", "SPY", "BTCUSDT", "BTC/USD", "ETHUSDT", "EURUSD", "GBPUSD", "USDJPY",
           "SAP.DE", "VOD.L", "US500", "GOLD", "ZZZQ"]


def moments(count=20, spacing=timedelta(minutes=7, seconds=3)):
    return [ALL_OPEN + i * spacing for i in range(count)]


def test_the_same_seed_gives_the_same_prices_in_any_order():
    a, b = MarketModel(seed=42), MarketModel(seed=42)
    forward = [(s, t, a.quote(s, t)) for s in SYMBOLS for t in moments()]
    backward = [(s, t, b.quote(s, t)) for s in reversed(SYMBOLS) for t in reversed(moments())]
    assert sorted(forward, key=lambda x: (x[0], x[1])) == sorted(backward, key=lambda x: (x[0], x[1]))


def test_another_seed_gives_another_path():
    a, b = MarketModel(seed=1), MarketModel(seed=2)
    assert [a.mid("AAPL", t) for t in moments()] != [b.mid("AAPL", t) for t in moments()]


def test_prices_move_with_time_but_not_within_a_step():
    market = MarketModel(seed=3)
    assert market.mid("AAPL", ALL_OPEN) == market.mid("AAPL", ALL_OPEN + timedelta(milliseconds=900))
    mids = {market.mid("AAPL", t) for t in moments(60, timedelta(seconds=1))}
    assert len(mids) > 3


@pytest.mark.parametrize("symbol, low, high", [
    ("AAPL", 140, 260), ("MSFT", 300, 560), ("TSLA", 100, 300), ("SPY", 420, 620),
    ("BTCUSDT", 35_000, 110_000), ("BTC/USD", 35_000, 110_000), ("ETHUSDT", 1_500, 5_500),
    ("EURUSD", Decimal("0.95"), Decimal("1.22")), ("GBPUSD", Decimal("1.1"), Decimal("1.45")),
    ("USDJPY", 125, 180), ("SAP.DE", 120, 240), ("VOD.L", 45, 110), ("US500", 4000, 6500),
])
def test_well_known_symbols_trade_near_realistic_prices(symbol, low, high):
    for seed in range(5):
        mid = MarketModel(seed=seed).mid(symbol, ALL_OPEN)
        assert low <= mid <= high, (symbol, seed, mid)


def test_quotes_are_two_sided_on_the_tick_with_sizes():
    market = MarketModel(seed=9)
    for symbol in SYMBOLS:
        info = market.info(symbol)
        for when in moments(5):
            q = market.quote(symbol, when)
            assert 0 < q.bid < q.ask, (symbol, q)
            assert q.bid % info.tick_size == 0 and q.ask % info.tick_size == 0
            assert q.ask - q.bid >= info.tick_size
            assert q.bid_size > 0 and q.ask_size > 0 and q.bid_size % info.qty_step == 0
            assert q.bid <= q.last <= q.ask
            assert q.symbol == info.symbol and q.timestamp == when


def test_spelling_variants_share_one_path():
    market = MarketModel(seed=5)
    spellings = ["BTCUSD", "BTC/USD", "btc-usd", "BTC_USD"]
    assert {market.canonical(s) for s in spellings} == {"BTCUSD"}
    assert len({market.mid(s, ALL_OPEN) for s in spellings}) == 1
    assert market.canonical("eur/usd") == "EURUSD"


def test_symbol_facts():
    assert classify("VOD.L").currency == "GBX" and classify("VOD.L").cash_currency == "GBP"
    assert classify("SAP.DE").session == "XETRA" and classify("SAP.DE").currency == "EUR"
    btc = classify("BTCUSDT")
    assert (btc.asset_class, btc.base_asset, btc.quote_asset, btc.position_key) == (
        AssetClass.CRYPTO, "BTC", "USDT", "BTC")
    assert btc.tick_size == Decimal("0.01") and btc.qty_step == Decimal("0.00001")
    assert classify("USDJPY").tick_size == Decimal("0.001")
    assert classify("EURUSD").tick_size == Decimal("0.00001") and classify("EURUSD").market is Market.FOREX
    assert classify("AAPL").tick_size == Decimal("0.01") and classify("AAPL").qty_step == 1
    assert classify("US500").market is Market.CFD
    assert by_isin("US0378331005") == "AAPL"
    with pytest.raises(UnknownSymbol):
        by_isin("XX0000000000")


def test_unlisted_symbols_get_a_stable_plausible_price_independent_of_the_seed():
    one, two = classify("QWERTY"), MarketModel(seed=99).info("QWERTY")
    assert one.start_price == two.start_price
    assert 5 <= one.start_price <= 500
    assert classify("FOOUSDT").asset_class is AssetClass.CRYPTO


def test_unknown_symbols():
    market = MarketModel()
    for symbol in (UNKNOWN_SYMBOL, "NOSUCHTHING", "", "has space", "x" * 40):
        assert not market.knows(symbol)
        with pytest.raises(UnknownSymbol):
            market.quote(symbol, ALL_OPEN)
    market.delist("AAPL")
    assert not market.knows("AAPL")


def test_strict_markets_know_only_registered_symbols_and_aliases():
    market = MarketModel(strict=True, symbols=["AAPL"])
    assert market.knows("AAPL") and not market.knows("MSFT")
    market.register("AAPL_US_EQ", alias_of="AAPL")
    assert market.canonical("AAPL_US_EQ") == "AAPL"
    assert market.mid("AAPL_US_EQ", ALL_OPEN) == market.mid("AAPL", ALL_OPEN)
    custom = market.register("FAKEPACA", start_price=Decimal("42"))
    assert custom.start_price == 42 and market.knows("FAKEPACA")


def test_pinned_prices_hold_until_released():
    market = MarketModel(seed=1)
    before = market.mid("AAPL", ALL_OPEN)
    market.set_price("AAPL", "150")
    q = market.quote("AAPL", ALL_OPEN + timedelta(hours=1))
    assert (q.bid, q.ask) == (Decimal("149.98"), Decimal("150.02"))
    market.set_price("AAPL", bid="10.00", ask="10.50", size=7)
    q = market.quote("AAPL", ALL_OPEN)
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (Decimal("10.00"), Decimal("10.50"), 7, 7)
    market.release("AAPL")
    assert market.mid("AAPL", ALL_OPEN) == before
    with pytest.raises(ValueError):
        market.set_price("AAPL", bid="2", ask="1")


def test_fx_rates_follow_the_pair_paths():
    market = MarketModel(seed=4)
    eurusd = market.mid("EURUSD", ALL_OPEN)
    assert market.fx_rate("EUR", "USD", ALL_OPEN) == eurusd
    assert abs(market.fx_rate("USD", "EUR", ALL_OPEN) * eurusd - 1) < Decimal("1e-10")
    assert market.fx_rate("GBX", "GBP", ALL_OPEN) == Decimal("0.01")
    assert market.fx_rate("USDT", "USD", ALL_OPEN) == 1
    assert market.fx_rate("BTC", "USD", ALL_OPEN) == market.mid("BTCUSD", ALL_OPEN)


def test_bars_are_consistent_and_can_skip_closed_hours():
    market = MarketModel(seed=8)
    bars = market.bars("AAPL", ALL_OPEN, ALL_OPEN + timedelta(hours=1), 300)
    assert len(bars) == 12
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) and bar.high >= max(bar.open, bar.close)
        assert bar.volume > 0
    assert [b.start for b in bars] == [ALL_OPEN + timedelta(minutes=5 * i) for i in range(12)]
    assert market.bars("AAPL", ALL_CLOSED, ALL_CLOSED + timedelta(hours=2), 600, only_open=True) == []
    assert len(market.bars("BTCUSDT", ALL_CLOSED, ALL_CLOSED + timedelta(hours=2), 600, only_open=True)) == 12
