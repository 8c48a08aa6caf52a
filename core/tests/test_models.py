"""Models: Decimal-only money, aware datetimes, order validation, and JSON/TOML round trips."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import InvalidOrder
from orch.models import (Account, Balance, BrokerInfo, Capabilities, Fill, Instrument, Market, Order,
                         OrderClass, OrderRequest, OrderStatus, OrderType, Position, Quote,
                         RateLimitDefaults, Side, StopLoss, TakeProfit, TimeInForce, from_json, from_toml,
                         to_decimal, to_json, to_toml)
from orch.settings import BrokerSettings

AAPL = Instrument("AAPL", Market.US_STOCKS, broker_ids={"ibkr": "265598"})
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)


def _samples():
    order = Order(broker="alpaca", broker_order_id="b-1", client_order_id="orch-1", instrument=AAPL,
                  side=Side.BUY, type=OrderType.LIMIT, status=OrderStatus.PARTIALLY_FILLED,
                  raw_status="partially_filled", qty="10", filled_qty="4", avg_fill_price="189.12",
                  limit_price="190", time_in_force=TimeInForce.GTC, created_at=NOW, updated_at=NOW)
    return [
        AAPL,
        OrderRequest(instrument=AAPL, side=Side.BUY, qty="1.5", type=OrderType.STOP_LIMIT, limit_price="101",
                     stop_price="100", time_in_force=TimeInForce.GTC, client_order_id="orch-x"),
        OrderRequest(instrument=AAPL, side=Side.BUY, qty="1", type=OrderType.LIMIT, limit_price="100",
                     order_class=OrderClass.BRACKET, take_profit=TakeProfit("110"),
                     stop_loss=StopLoss("95", "94.5")),
        OrderRequest(instrument=AAPL, side=Side.SELL, qty="2", type=OrderType.TRAILING_STOP,
                     trail_percent="1.5"),
        order,
        Order(broker="alpaca", broker_order_id="p", instrument=AAPL, side=Side.BUY, type=OrderType.MARKET,
              status=OrderStatus.NEW, raw_status="new", legs=(order,)),
        Fill(broker="binance", broker_order_id="1", fill_id="f1", instrument=AAPL, side=Side.SELL, qty="0.001",
             price="45000.01", timestamp=NOW, fee="0.045", fee_currency="USDT"),
        Quote(broker="alpaca", instrument=AAPL, timestamp=NOW, bid="189.1", ask="189.2", bid_size="100"),
        Account(broker="binance", account_id="a", currency="USDT", cash="10", equity="10", buying_power="10",
                balances=(Balance("BTC", "0.5", "0.1"),)),
        Position(broker="alpaca", instrument=AAPL, qty="-3", avg_price="10"),
        Capabilities(order_types=frozenset(OrderType), stream_quotes=True),
        BrokerInfo(name="x", title="X", official=True, markets=frozenset({Market.CRYPTO}),
                   capabilities=Capabilities(), settings_type=BrokerSettings,
                   rate_limits=RateLimitDefaults(200), endpoints={"paper": "https://p", "live": "https://l"}),
    ]


@pytest.mark.parametrize("obj", _samples(), ids=lambda o: type(o).__name__)
def test_round_trips_through_json_and_toml(obj):
    assert from_json(to_json(obj), type(obj)) == obj
    assert from_toml(to_toml(obj), type(obj)) == obj


def test_json_carries_decimals_as_strings_never_floats():
    text = to_json(OrderRequest(instrument=AAPL, side=Side.BUY, qty="0.1", type=OrderType.LIMIT,
                                limit_price="0.3"))
    assert '"qty": "0.1"' in text and '"limit_price": "0.3"' in text


def test_floats_are_refused():
    with pytest.raises(TypeError, match="float"):
        to_decimal(0.1)
    with pytest.raises(TypeError):
        OrderRequest(instrument=AAPL, side=Side.BUY, qty=0.1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Quote(broker="a", instrument=AAPL, timestamp=datetime(2026, 1, 1), bid="1", ask="2")


@pytest.mark.parametrize("kwargs, problem", [
    ({}, "exactly one of qty and notional"),
    ({"qty": "1", "notional": "5"}, "exactly one of qty and notional"),
    ({"qty": "0"}, "qty must be positive"),
    ({"qty": "1", "type": OrderType.LIMIT}, "needs limit_price"),
    ({"qty": "1", "type": OrderType.STOP}, "needs stop_price"),
    ({"qty": "1", "type": OrderType.TRAILING_STOP}, "exactly one of trail_price and trail_percent"),
    ({"qty": "1", "order_class": OrderClass.BRACKET, "take_profit": TakeProfit("2")}, "bracket order needs"),
    ({"qty": "1", "order_class": OrderClass.OTO}, "exactly one of take_profit and stop_loss"),
    ({"qty": "1", "take_profit": TakeProfit("2")}, "need order_class"),
    ({"qty": "1", "post_only": True}, "post_only applies to limit"),
    ({"qty": "1", "client_order_id": "  "}, "client_order_id must not be blank"),
])
def test_invalid_orders_are_refused_with_the_problem_named(kwargs, problem):
    with pytest.raises(InvalidOrder, match=problem) as info:
        OrderRequest(instrument=AAPL, side=Side.BUY, **kwargs)
    assert "AAPL" in str(info.value)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=Decimal("0.00000001"),
                   max_value=Decimal("1e9")))
def test_any_positive_quantity_round_trips_exactly(qty):
    request = OrderRequest(instrument=AAPL, side=Side.BUY, qty=qty)
    assert from_json(to_json(request), OrderRequest).qty == qty


def test_final_and_open_statuses():
    assert {s for s in OrderStatus if s.is_final} == {OrderStatus.FILLED, OrderStatus.CANCELED,
                                                      OrderStatus.REJECTED, OrderStatus.EXPIRED}
    assert OrderStatus.PENDING_CANCEL.is_open
