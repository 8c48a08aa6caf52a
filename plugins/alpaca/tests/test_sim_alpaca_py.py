"""Alpaca's official SDK, alpaca-py, pointed at the simulator with ``url_override``: the proof that the
simulator speaks Alpaca's protocol as Alpaca's own client expects it.

alpaca-py is synchronous (its streams run their own asyncio loop), so the simulator runs on a thread
(:func:`orch.sim.runner.run_simulator_in_thread`). Market orders fill at submission here
(``fill_on_submit``) so the REST checks need no waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import CryptoLatestQuoteRequest, StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, OrderClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (GetAssetsRequest, GetCalendarRequest, GetOrderByIdRequest, GetOrdersRequest,
                                     LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest, StopLossRequest,
                                     TakeProfitRequest)
from alpaca.trading.stream import TradingStream

from orch.sim.clock import ALL_OPEN, SimClock
from orch.sim.runner import run_simulator_in_thread

from orch_alpaca.sim import SIM_KEY_ID, SIM_SECRET_KEY, SPEC, AlpacaSim

WAIT = 15.0


@pytest.fixture
def running() -> Iterator[Any]:
    with run_simulator_in_thread(SPEC, clock=SimClock(wall=ALL_OPEN)) as sim:
        sim.engine.config.fill_on_submit = True
        yield sim


@pytest.fixture
def trading(running) -> TradingClient:
    return TradingClient(SIM_KEY_ID, SIM_SECRET_KEY, paper=True, url_override=running.url)


def test_orders_round_trip(running, trading):
    market = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY,
                                                     time_in_force=TimeInForce.DAY, client_order_id="py-market"))
    assert market.status is OrderStatus.FILLED
    assert market.filled_qty == "2" and Decimal(market.filled_avg_price) > 0
    assert trading.get_order_by_id(market.id).status is OrderStatus.FILLED
    assert trading.get_order_by_client_id("py-market").id == market.id

    limit = trading.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=100.5,
                                                   time_in_force=TimeInForce.GTC))
    assert limit.status is OrderStatus.NEW and limit.limit_price == "100.5"

    bracket = trading.submit_order(MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=900), stop_loss=StopLossRequest(stop_price=300, limit_price=299.5)))
    assert bracket.order_class is OrderClass.BRACKET and bracket.status is OrderStatus.FILLED
    assert {leg.status for leg in bracket.legs} == {OrderStatus.NEW}  # the entry filled: legs work now
    nested = trading.get_order_by_id(bracket.id, GetOrderByIdRequest(nested=True))
    assert sorted(leg.type.value for leg in nested.legs) == ["limit", "stop_limit"]

    listed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True, limit=10))
    assert {o.id for o in listed} == {market.id, limit.id, bracket.id}
    open_msft = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=["MSFT"]))
    assert [o.id for o in open_msft] == [limit.id]

    replacement = trading.replace_order_by_id(limit.id, ReplaceOrderRequest(limit_price=101, qty=3))
    assert replacement.replaces == limit.id and replacement.qty == "3"
    assert trading.get_order_by_id(limit.id).status is OrderStatus.REPLACED
    trading.cancel_order_by_id(replacement.id)
    assert trading.get_order_by_id(replacement.id).status is OrderStatus.CANCELED

    canceled = trading.cancel_orders()
    assert canceled and all(c.status == 200 for c in canceled)
    assert trading.get_orders() == []
    assert AlpacaSim.of(running.engine).counters.orders_created == 4


def test_refusals_reach_alpaca_py_as_api_errors(trading):
    with pytest.raises(APIError) as caught:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=100_000, side=OrderSide.BUY,
                                                time_in_force=TimeInForce.DAY))
    assert (caught.value.status_code, caught.value.code) == (403, 40310000)
    assert caught.value.message == "insufficient buying power"
    trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=10,
                                           time_in_force=TimeInForce.GTC, client_order_id="twice"))
    with pytest.raises(APIError) as caught:
        trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=10,
                                               time_in_force=TimeInForce.GTC, client_order_id="twice"))
    assert (caught.value.status_code, caught.value.code) == (422, 40010001)
    assert caught.value.message == "client_order_id must be unique"


def test_account_positions_assets_clock(trading):
    account = trading.get_account()
    assert (account.account_number, account.status.value, account.cash) == ("PA3SIMALPACA", "ACTIVE", "100000")
    assert trading.get_all_positions() == []
    trading.submit_order(MarketOrderRequest(symbol="BTC/USD", qty=0.5, side=OrderSide.BUY,
                                            time_in_force=TimeInForce.GTC))
    trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    positions = {p.symbol: p for p in trading.get_all_positions()}
    assert set(positions) == {"AAPL", "BTCUSD"}
    assert (positions["BTCUSD"].qty, positions["BTCUSD"].asset_class) == ("0.5", AssetClass.CRYPTO)
    assert trading.get_open_position("AAPL").qty == "3"
    assert Decimal(trading.get_account().cash) < 100_000

    crypto = trading.get_all_assets(GetAssetsRequest(asset_class=AssetClass.CRYPTO))
    assert crypto and all(a.asset_class is AssetClass.CRYPTO for a in crypto)
    apple = trading.get_asset("AAPL")
    assert (apple.symbol, apple.tradable, apple.fractionable) == ("AAPL", True, True)

    clock = trading.get_clock()
    assert clock.is_open and clock.next_close > clock.timestamp
    days = trading.get_calendar(GetCalendarRequest(start="2024-06-03", end="2024-06-07"))
    assert [d.date.isoformat() for d in days] == ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06",
                                                  "2024-06-07"]
    assert days[0].open.hour == 9 and days[0].open.minute == 30


def test_historical_data_clients(running):
    engine = running.engine
    stocks = StockHistoricalDataClient(SIM_KEY_ID, SIM_SECRET_KEY, url_override=running.url)
    quotes = stocks.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    assert set(quotes) == {"AAPL", "MSFT"}
    assert 0 < quotes["AAPL"].bid_price < quotes["AAPL"].ask_price
    assert abs(quotes["AAPL"].ask_price - float(engine.quote("AAPL").ask)) < 5
    bars = stocks.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, limit=5))
    assert len(bars.data["AAPL"]) == 5
    crypto = CryptoHistoricalDataClient(url_override=running.url)  # crypto data needs no keys
    btc = crypto.get_crypto_latest_quote(CryptoLatestQuoteRequest(symbol_or_symbols="BTC/USD"))["BTC/USD"]
    assert 0 < btc.bid_price < btc.ask_price


def test_stock_data_stream_msgpack():
    received: list[Any] = []
    got = threading.Event()

    async def on_data(item: Any) -> None:
        received.append(item)
        if {type(i).__name__ for i in received} >= {"Quote", "Trade"}:
            got.set()

    with run_simulator_in_thread(SPEC, clock=SimClock(wall=ALL_OPEN)) as running:
        stream = StockDataStream(SIM_KEY_ID, SIM_SECRET_KEY, url_override=f"{running.ws_url}/v2/iex")
        stream.subscribe_quotes(on_data, "AAPL")
        stream.subscribe_trades(on_data, "AAPL")
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()
        try:
            assert got.wait(WAIT), "no quote and trade reached alpaca-py"
        finally:
            stream.stop()
        counters = AlpacaSim.of(running.engine).counters
        assert counters.ws_connections["/v2/iex"] == 1
    thread.join(WAIT)
    assert not thread.is_alive()
    quote = next(i for i in received if type(i).__name__ == "Quote")
    assert quote.symbol == "AAPL" and 0 < quote.bid_price < quote.ask_price
    assert quote.timestamp.year == 2024  # the msgpack Timestamp became a datetime


def test_trading_stream_receives_fill():
    updates: list[Any] = []
    filled = threading.Event()

    async def on_update(update: Any) -> None:
        updates.append(update)
        if update.event == "fill":
            filled.set()

    with run_simulator_in_thread(SPEC, clock=SimClock(wall=ALL_OPEN)) as running:
        sim = AlpacaSim.of(running.engine)
        stream = TradingStream(SIM_KEY_ID, SIM_SECRET_KEY, paper=True, url_override=f"{running.ws_url}/stream")
        stream.subscribe_trade_updates(on_update)
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()
        try:
            assert sim.wait_for_streams(trade_listeners=1, timeout=WAIT)
            trading = TradingClient(SIM_KEY_ID, SIM_SECRET_KEY, paper=True, url_override=running.url)
            placed = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                                             time_in_force=TimeInForce.DAY))
            assert filled.wait(WAIT), "no fill reached alpaca-py"
        finally:
            stream.stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    events = [(u.event, u.order.id) for u in updates]
    assert events[:2] == [("new", placed.id), ("fill", placed.id)]
    fill = updates[1]
    assert (fill.qty, fill.position_qty) == (1.0, 1.0) and fill.price > 0 and fill.execution_id is not None
