"""The websocket framing and topic parsers on documented payloads (protocol notes, §3.3–3.6), the
error mapping, the order payloads, and the local refusals."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from orch.errors import (AuthError, BrokerUnavailable, InsufficientFunds, InvalidOrder, NotSupported,
                         OrderNotFound, OrderRejected, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Instrument, Market, OrderClass, OrderRequest, OrderStatus, OrderType, Side, StopLoss,
                         TakeProfit, TimeInForce)
from orch.settings import Toggle, TradingSettings
from orch_trade_republic import protocol, rules
from orch_trade_republic.frames import Answer, Complete, Failed, WsSession, connect_message, dumps
from orch_trade_republic.settings import TradeRepublicSettings

BASF = Instrument("BAS", Market.EU_STOCKS, currency="EUR")
TICKER_A = ('{"bid":{"time":1746723164930,"price":"42.85","size":349},"ask":{"time":1746723164930,"price":"42.92",'
            '"size":349},"last":{"time":1746723164930,"price":"42.85","size":349},"pre":{"time":1746651587908,'
            '"price":"42.14","size":0},"open":{"time":1746682200581,"price":"42.24","size":0},"qualityId":"realtime",'
            '"leverage":null,"delta":null}')
E_REMOVED = ('{"errors":[{"errorCode":"BAD_SUBSCRIPTION_TYPE","errorField":null,'
             '"errorMessage":"Unknown topic type: compactPortfolio.31","meta":{"source":"MAPPER"}}]}')


def connected() -> WsSession:
    session = WsSession()
    session.receive("connected")
    return session


def test_the_handshake_is_the_documented_connect_31():
    assert connect_message("en") == ('connect 31 {"locale":"en","platformId":"webtrading","platformVersion":'
                                     '"chrome - 94.0.4606","clientId":"app.traderepublic.com","clientVersion":"5582"}')
    with pytest.raises(ProtocolError, match="instead of 'connected'"):
        WsSession().receive("error")


def test_subscriptions_are_numbered_per_connection_and_unsubscribed_by_id():
    session = connected()
    first, frame = session.subscribe(protocol.ticker("DE000BASF111", "LSX"))
    second, _ = session.subscribe(protocol.instrument("DE000BASF111"))
    assert (first, second) == (1, 2)
    assert frame == 'sub 1 {"type":"ticker","id":"DE000BASF111.LSX"}'
    assert session.unsubscribe(1) == "unsub 1"
    assert session.echo(1746723164930) == "echo 1746723164930"


def test_a_ticker_with_string_prices_becomes_an_exact_quote():
    session = connected()
    sub, _ = session.subscribe(protocol.ticker("DE000BASF111", "LSX"))
    answer = session.receive(f"{sub} A {TICKER_A}")
    assert isinstance(answer, Answer)
    quote = protocol.parse_ticker(answer.data, BASF)
    assert (quote.bid, quote.ask, quote.last) == (Decimal("42.85"), Decimal("42.92"), Decimal("42.85"))
    assert quote.bid_size == 349 and not quote.delayed
    assert quote.timestamp == datetime(2025, 5, 8, 16, 52, 44, 930000, tzinfo=timezone.utc)


def test_older_numeric_prices_arrive_exact_too():
    data = json.loads('{"bid":{"time":1611928659702,"price":13.873,"size":1},"ask":{"time":1611928659702,'
                      '"price":13.915,"size":1},"last":null}', parse_float=Decimal)
    quote = protocol.parse_ticker(data, BASF)
    assert quote.bid == Decimal("13.873") and quote.ask == Decimal("13.915") and quote.last is None


def test_unreadable_payloads_are_one_protocol_error():
    with pytest.raises(ProtocolError, match="ticker"):
        protocol.parse_ticker({"bid": {"price": "1"}}, BASF)
    with pytest.raises(ProtocolError, match="portfolio"):
        protocol.parse_portfolio({"categories": [{"positions": [{"isin": "X"}]}]})


def test_a_removed_topic_answers_bad_subscription_type():
    session = connected()
    sub, _ = session.subscribe({"type": "compactPortfolio"})
    failed = session.receive(f"{sub} E {E_REMOVED}")
    assert isinstance(failed, Failed) and failed.code == "BAD_SUBSCRIPTION_TYPE"
    error = protocol.error_for(failed, "compactPortfolio")
    assert isinstance(error, ProtocolError) and error.broker_code == "BAD_SUBSCRIPTION_TYPE"
    assert "compactPortfolio.31" in str(error)
    assert sub not in session.active


def test_complete_ends_a_subscription():
    session = connected()
    sub, _ = session.subscribe(protocol.cash())
    assert session.receive(f"{sub} C") == Complete(sub) and sub not in session.active


def _failed(code: str, meta: dict | None = None) -> Failed:
    return Failed(1, ({"errorCode": code, "errorMessage": code.lower(), "meta": meta or {}},))


@pytest.mark.parametrize("code, topic, expected", [
    ("AUTHENTICATION_ERROR", "cash", AuthError),
    ("FORBIDDEN", "ticker", UnknownInstrument),
    ("JSON_PARSE_ERROR", "ticker", UnknownInstrument),
    ("INSUFFICIENT_FUNDS", "simpleCreateOrder", InsufficientFunds),
    ("VALIDATION_ERROR", "simpleCreateOrder", OrderRejected),
    ("ALREADY_PROCESSED", "simpleCreateOrder", BrokerUnavailable),
    ("NOT_FOUND", "cancelOrder", OrderNotFound),
    ("ORDER_NOT_CANCELLABLE", "cancelOrder", OrderRejected),
    ("SERVICE_UNAVAILABLE", "orders", BrokerUnavailable),
])
def test_errors_map_onto_orchs_tree_keeping_the_code(code, topic, expected):
    error = protocol.error_for(_failed(code), topic)
    assert type(error) is expected and error.broker_code == code


def test_too_many_requests_carries_the_wait():
    error = protocol.error_for(_failed("TOO_MANY_REQUESTS", {"nextAttemptInSeconds": 3}), "ticker")
    assert isinstance(error, RateLimited) and error.retry_after == 3.0


def _request(**kwargs) -> OrderRequest:
    base = {"instrument": BASF, "side": Side.BUY, "qty": Decimal(1), "client_order_id": "orch-1"}
    return OrderRequest(**{**base, **kwargs})


def test_the_documented_limit_order_payload():
    request = _request(type=OrderType.LIMIT, limit_price=Decimal("42.0"))
    payload = protocol.create_order(request, "DE000BASF111", "LSX")
    assert payload["clientProcessId"] == protocol.client_process_id("orch-1")
    body = json.loads(dumps(payload))
    assert body == {"type": "simpleCreateOrder", "clientProcessId": payload["clientProcessId"], "warningsShown": [],
                    "parameters": {"instrumentId": "DE000BASF111", "exchangeId": "LSX", "type": "buy",
                                   "mode": "limit", "size": 1, "expiry": {"type": "gfd"}, "limit": 42.0}}
    assert '"limit":42.0' in dumps(payload)  # the Decimal's digits, never a float's


def test_market_stop_and_expiry_payloads():
    market = protocol.create_order(_request(side=Side.SELL, time_in_force=TimeInForce.GTC), "X", "LSX")["parameters"]
    assert market["mode"] == "market" and market["sellFractions"] is False and market["expiry"] == {"type": "gtc"}
    stop = protocol.create_order(_request(type=OrderType.STOP, stop_price=Decimal("39.5")), "X", "TDG",
                                 expiry_date=date(2026, 12, 31))["parameters"]
    assert stop["mode"] == "stopMarket" and stop["stop"] == Decimal("39.5") and "limit" not in stop
    assert stop["expiry"] == {"type": "gtd", "value": "2026-12-31"}
    assert protocol.cancel_order("abc") == {"type": "cancelOrder", "orderId": "abc"}


def test_client_process_ids_are_stable_uuids():
    assert protocol.client_process_id("orch-1") == protocol.client_process_id("orch-1")
    assert protocol.client_process_id("orch-1") != protocol.client_process_id("orch-2")
    assert len(protocol.client_process_id("orch-1")) == 36


def test_portfolio_cash_and_orders_parse_exactly():
    holdings = protocol.parse_portfolio({"categories": [{"categoryType": "stocksAndETFs", "positions": [
        {"isin": "DE000BASF111", "averageBuyIn": "41.20", "netSize": "3", "instrumentType": "stock"},
        {"isin": "US0378331005", "averageBuyIn": "150", "netSize": "0"}]}]})
    assert [(h.isin, h.qty, h.avg_price) for h in holdings] == [("DE000BASF111", Decimal(3), Decimal("41.20"))]
    cash = protocol.parse_cash(json.loads('[{"accountNumber":"1","currencyId":"EUR","amount":1234.56}]',
                                          parse_float=Decimal))
    assert cash[0].amount == Decimal("1234.56") and cash[0].currency == "EUR"
    order = protocol.parse_order({"id": "o1", "instrumentId": "DE000BASF111", "type": "buy", "mode": "stopMarket",
                                  "size": "2", "stop": "39.5", "status": "partiallyExecuted", "executedSize": "1",
                                  "averageExecutionPrice": "39.6", "expiry": {"type": "gtc"},
                                  "createdAt": 1746723164930}, BASF, client_order_id="orch-9")
    assert (order.type, order.status, order.time_in_force) == (OrderType.STOP, OrderStatus.PARTIALLY_FILLED,
                                                                TimeInForce.GTC)
    assert order.filled_qty == 1 and order.stop_price == Decimal("39.5") and order.client_order_id == "orch-9"
    unknown = protocol.parse_order({"id": "o2", "type": "sell", "mode": "limit", "status": "somethingNew"}, BASF)
    assert unknown.status is OrderStatus.ACCEPTED  # open until proven final


SETTINGS = TradeRepublicSettings()


@pytest.mark.parametrize("kwargs, capability", [
    ({"type": OrderType.TRAILING_STOP, "trail_percent": Decimal(5)}, "order_type:trailing_stop"),
    ({"type": OrderType.STOP_LIMIT, "stop_price": Decimal(2), "limit_price": Decimal(2)}, "order_type:stop_limit"),
    ({"time_in_force": TimeInForce.IOC}, "time_in_force:ioc"),
    ({"qty": Decimal("0.5")}, "fractional"),
    ({"qty": None, "notional": Decimal(100)}, "notional_orders"),
    ({"type": OrderType.LIMIT, "limit_price": Decimal(1), "post_only": True}, "post_only"),
    ({"type": OrderType.LIMIT, "limit_price": Decimal(1), "extended_hours": True}, "extended_hours"),
    ({"type": OrderType.LIMIT, "limit_price": Decimal(10), "order_class": OrderClass.BRACKET,
      "take_profit": TakeProfit(Decimal(12)), "stop_loss": StopLoss(Decimal(8))}, "order_class:bracket"),
])
def test_what_trade_republic_cannot_do_is_refused_locally(kwargs, capability):
    with pytest.raises(NotSupported) as refused:
        rules.check_order(_request(**kwargs), SETTINGS)
    assert refused.value.capability == capability


def test_config_limits_and_price_precision_are_refused_locally():
    limited = TradeRepublicSettings(trading_settings=TradingSettings(max_order_size=Decimal(10)),
                                    order_types={"limit": Toggle(enabled=False)})
    with pytest.raises(InvalidOrder, match="max_order_size"):
        rules.check_order(_request(qty=Decimal(11)), limited)
    with pytest.raises(NotSupported, match="order_types.limit.enabled is false"):
        rules.check_order(_request(type=OrderType.LIMIT, limit_price=Decimal(1)), limited)
    with pytest.raises(InvalidOrder, match="decimals"):
        rules.check_order(_request(type=OrderType.LIMIT, limit_price=Decimal("1.00001")), SETTINGS)
