"""Settings (both guide blocks), the paper/live port guard, instrument -> contract mapping, the local
order checks, and the 50 messages/second pacing rule."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from orch.config import config_from_data
from orch.errors import ConfigError, InvalidOrder, LiveTradingRefused, NotSupported, UnknownInstrument
from orch.models import Instrument, Market, OrderClass, OrderRequest, OrderType, Side, StopLoss, TakeProfit, TimeInForce
from orch.resilience import RateLimiter
from orch.settings import RateLimitSettings

from orch_ibkr import plugin, symbols
from orch_ibkr.settings import IbkrSettings, resolve_endpoint

GUIDE = Path(__file__).parents[3] / "core" / "tests" / "fixtures" / "guide"


def settings_of(section: dict) -> IbkrSettings:
    config = config_from_data({"brokers": {"ibkr": section}}, source="<test>", env={})
    found = config.brokers["ibkr"]
    assert isinstance(found, IbkrSettings), config.warnings
    return found


@pytest.mark.parametrize("name", ["ibkr_basic.json", "ibkr_advanced.json"])
def test_guide_blocks_are_accepted_as_written(name):
    section = json.loads((GUIDE / name).read_text())["brokers"]["ibkr"]
    s = settings_of(section)
    ep = resolve_endpoint(s, live=False)
    assert (ep.host, ep.port, ep.client_id, ep.paper) == ("127.0.0.1", 7497, 1, True)
    if name == "ibkr_advanced.json":
        assert ep.timeout == 60 and ep.retry_attempts == 3
        assert s.supported_markets.stocks.exchanges == ("SMART", "ARCA", "BATS", "NYSE", "NASDAQ")
        assert s.order_settings.default_order_type == "LMT" and s.order_types["bracket"].enabled


def test_paper_is_the_default_and_live_needs_both_flags():
    assert resolve_endpoint(IbkrSettings(), live=False).port == 7497
    with pytest.raises(ConfigError, match="live trading port"):
        resolve_endpoint(IbkrSettings(port=7496), live=False)
    with pytest.raises(ConfigError, match="live trading port"):
        resolve_endpoint(IbkrSettings(port=4001), live=True)
    with pytest.raises(LiveTradingRefused):
        resolve_endpoint(IbkrSettings(paper=False), live=False)
    live = resolve_endpoint(IbkrSettings(paper=False), live=True)
    assert (live.port, live.paper) == (7496, False)
    with pytest.raises(ConfigError, match="paper trading port"):
        resolve_endpoint(IbkrSettings(paper=False, port=7497), live=True)
    assert resolve_endpoint(IbkrSettings(port=4002), live=False).port == 4002


def test_market_data_type_names():
    assert IbkrSettings(market_data_type="delayed").market_data_type == 3
    assert IbkrSettings(market_data_type=4).market_data_type == 4
    with pytest.raises(ValueError):
        IbkrSettings(market_data_type=7)


def test_instruments_to_contracts():
    s = IbkrSettings()
    for text in ("EURUSD", "EUR/USD", "eur.usd"):
        c = symbols.to_contract(Instrument(text, Market.FOREX), s)
        assert (c.symbol, c.sec_type, c.exchange, c.currency) == ("EUR", "CASH", "IDEALPRO", "USD")
    stock = symbols.to_contract(Instrument("AAPL", Market.US_STOCKS, broker_ids={"ibkr": "265598"}), s)
    assert (stock.sec_type, stock.exchange, stock.con_id) == ("STK", "SMART", 265598)
    narrow = settings_of({"supported_markets": {"stocks": {"exchanges": ["ARCA"]}}})
    assert symbols.to_contract(Instrument("SPY", Market.US_STOCKS), narrow).exchange == "ARCA"
    with pytest.raises(InvalidOrder, match="exchanges"):
        symbols.to_contract(Instrument("SPY", Market.US_STOCKS, exchange="NYSE"), narrow)
    fut = symbols.to_contract(Instrument("ES:202612", Market.FUTURES), s)
    assert (fut.sec_type, fut.exchange, fut.last_trade_date) == ("FUT", "CME", "202612")
    opt = symbols.to_contract(Instrument("AAPL 20261218 P 150.5", Market.OPTIONS), s)
    assert (opt.right, opt.strike, opt.multiplier) == ("P", Decimal("150.5"), "100")
    with pytest.raises(UnknownInstrument):
        symbols.to_contract(Instrument("EURO", Market.FOREX), s)
    with pytest.raises(NotSupported):
        symbols.to_contract(Instrument("BTCUSD", Market.CRYPTO), s)
    off = settings_of({"supported_markets": {"forex": {"enabled": False}}})
    with pytest.raises(NotSupported, match="forex"):
        symbols.to_contract(Instrument("EURUSD", Market.FOREX), off)
    back = symbols.to_instrument(symbols.to_contract(Instrument("EURUSD", Market.FOREX), s))
    assert (back.symbol, back.market) == ("EURUSD", Market.FOREX)


AAPL = Instrument("AAPL", Market.US_STOCKS)


@pytest.mark.parametrize(("request_kwargs", "error", "match"), [
    (dict(qty=Decimal("1.5")), InvalidOrder, "whole"),
    (dict(qty=Decimal(2_000_000)), InvalidOrder, "max_order_qty"),
    (dict(qty=None, notional=Decimal(100)), NotSupported, "quantity"),
    (dict(qty=Decimal(1), time_in_force=TimeInForce.FOK), NotSupported, "fok"),
    (dict(qty=Decimal(1), type=OrderType.LIMIT, limit_price=Decimal(1), post_only=True), NotSupported, "post_only"),
    (dict(qty=Decimal(1), type=OrderType.LIMIT, limit_price=Decimal(10), order_class=OrderClass.BRACKET,
          take_profit=TakeProfit(Decimal(5)), stop_loss=StopLoss(Decimal(20))), InvalidOrder, "wrong sides"),
])
def test_local_refusals(request_kwargs, error, match):
    request = OrderRequest(AAPL, Side.BUY, client_order_id="x", **request_kwargs)
    with pytest.raises(error, match=match):
        symbols.check_order(request, IbkrSettings())


def test_disabled_order_type_is_refused():
    s = settings_of({"order_types": {"stop": {"enabled": False}}})
    with pytest.raises(NotSupported, match="disabled"):
        symbols.check_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(1), type=OrderType.STOP,
                                         stop_price=Decimal(5), client_order_id="x"), s)


async def test_default_pacing_is_fifty_messages_per_second(autojump_clock):
    limits = plugin.orch_broker_info().rate_limits
    limiter = RateLimiter.from_settings(RateLimitSettings(), limits, name="ibkr")
    start = trio.current_time()
    for _ in range(50):
        await limiter.acquire(1)
    assert trio.current_time() - start < 1e-9
    await limiter.acquire(1)
    assert trio.current_time() - start >= 1.0 - 1e-9
