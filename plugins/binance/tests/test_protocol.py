"""The sans-IO protocol: Binance's documented payloads into orch models; error codes onto orch errors;
order parameters (rounding, types, OCO) from orch requests."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from orch.errors import (AuthError, BrokerUnavailable, InsufficientFunds, InvalidOrder, NotSupported, OrderNotFound,
                         OrderRejected, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Instrument, Market, OrderClass, OrderRequest, OrderStatus, OrderType, Side, StopLoss,
                         TakeProfit, TimeInForce)
from orch_binance import filters, protocol, rules
from orch_binance.protocol import HttpResponse
from orch_binance.settings import BinanceSettings
from orch.settings import Toggle, TradingSettings


D = Decimal
BTCUSDT = json.loads((Path(__file__).parent / "fixtures" / "exchange_info_btcusdt.json").read_text())
BTC = Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")

# rest-api.md, "New order" RESULT response.
ORDER_RESULT = {
    "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
    "transactTime": 1507725176595, "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
    "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "10.00000000", "status": "FILLED",
    "timeInForce": "GTC", "type": "MARKET", "side": "SELL", "workingTime": 1507725176595,
    "selfTradePreventionMode": "NONE"}

QUERY_ORDER = {
    "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1", "price": "0.1",
    "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0", "status": "NEW", "timeInForce": "GTC",
    "type": "LIMIT", "side": "BUY", "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
    "updateTime": 1499827319559, "isWorking": True, "workingTime": 1499827319559, "origQuoteOrderQty": "0.000000",
    "selfTradePreventionMode": "NONE"}

CANCEL = {**QUERY_ORDER, "origClientOrderId": "myOrder1", "clientOrderId": "cancelMyOrder1", "status": "CANCELED",
          "transactTime": 1684804350068}


def body(data) -> bytes:
    return json.dumps(data).encode()


def test_parse_market_result():
    order = protocol.parse_order(json.loads(body(ORDER_RESULT), parse_float=D))
    assert order.status is OrderStatus.FILLED and order.type is OrderType.MARKET and order.side is Side.SELL
    assert order.qty == D(10) and order.filled_qty == D(10) and order.avg_fill_price == D(1)
    assert order.limit_price is None and order.broker_order_id == "28"
    assert order.created_at.year == 2017


def test_parse_query_and_cancel_keep_the_orders_own_client_id():
    order = protocol.parse_order(QUERY_ORDER)
    assert order.limit_price == D("0.1") and order.stop_price is None and order.status is OrderStatus.NEW
    canceled = protocol.parse_order(CANCEL)
    assert canceled.client_order_id == "myOrder1" and canceled.status is OrderStatus.CANCELED


def test_parse_quote_order_qty_market():
    data = {**ORDER_RESULT, "origQty": "0.00000000", "origQuoteOrderQty": "100.00000000", "executedQty": "0.00150000",
            "cummulativeQuoteQty": "99.75000000"}
    order = protocol.parse_order(data)
    assert order.qty is None and order.notional == D(100) and order.avg_fill_price == D(66500)


def test_parse_account_and_positions():
    data = {"makerCommission": 15, "canTrade": True, "canWithdraw": False, "accountType": "SPOT", "uid": 354937868,
            "balances": [{"asset": "BTC", "free": "4723846.89208129", "locked": "0.00000000"},
                         {"asset": "USDT", "free": "100.5", "locked": "20"}], "permissions": ["SPOT"]}
    account = protocol.parse_account(data, testnet=True)
    assert account.cash == D("100.5") and account.equity == D("120.5") and account.paper
    assert account.raw["canTrade"] == "true" and account.raw["permissions"] == "SPOT"
    positions = protocol.positions_from_account(account)
    assert [(p.instrument.symbol, p.qty) for p in positions] == [("BTCUSDT", D("4723846.89208129"))]


def test_parse_my_trades_with_fees():
    trades = [{"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100",
               "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB",
               "time": 1499865549590, "isBuyer": True, "isMaker": False, "isBestMatch": True}]
    fill = protocol.parse_trades(trades, BTC)[0]
    assert fill.fee == D("10.1") and fill.fee_currency == "BNB" and fill.side is Side.BUY and fill.fill_id == "28457"


def test_usage_headers():
    usage = protocol.parse_usage({"x-mbx-used-weight-1m": "120", "x-mbx-order-count-10s": "3",
                                  "x-mbx-order-count-1d": "40", "retry-after": "7"})
    assert (usage.weight_1m, usage.orders_10s, usage.orders_1d, usage.retry_after) == (120, 3, 40, 7.0)


def _error(status: int, code: int, msg: str, request=None, headers=None):
    request = request or protocol.new_order((("symbol", "BTCUSDT"),))
    return protocol.error_for(request, HttpResponse(status, headers or {}, body({"code": code, "msg": msg})),
                              now_epoch=1_700_000_000)


@pytest.mark.parametrize("status, code, msg, cls", [
    (400, -1013, "Filter failure: LOT_SIZE", OrderRejected),
    (400, -2010, "Account has insufficient balance for requested action.", InsufficientFunds),
    (400, -2010, "Order would immediately match and take.", OrderRejected),
    (400, -2010, "Duplicate order sent.", BrokerUnavailable),
    (400, -1022, "Signature for this request is not valid.", AuthError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthError),
    (400, -1121, "Invalid symbol.", UnknownInstrument),
    (429, -1003, "Too much request weight used", RateLimited),
    (503, -1001, "Internal error", BrokerUnavailable),
])
def test_error_mapping(status, code, msg, cls):
    error = _error(status, code, msg)
    assert type(error) is cls or isinstance(error, cls)
    assert error.broker_code == code and error.broker_message == msg


def test_filter_failure_names_the_filter():
    error = _error(400, -1013, "Filter failure: NOTIONAL")
    assert "NOTIONAL filter" in str(error) and not isinstance(error, InsufficientFunds)


def test_cancel_errors_are_the_cancels_own():
    cancel = protocol.cancel_order("BTCUSDT", order_id="1")
    assert isinstance(_error(400, -2011, "Unknown order sent.", cancel), OrderNotFound)
    refused = _error(400, -2011, "Order was not canceled due to cancel restrictions.", cancel)
    assert type(refused) is OrderRejected
    assert isinstance(_error(400, -2013, "Order does not exist.", protocol.query_order("BTCUSDT", order_id="1")),
                      OrderNotFound)


def test_429_and_418_carry_retry_after_and_the_ban_end():
    limited = _error(429, -1003, "Too much request weight used", headers={"retry-after": "12"})
    assert limited.retry_after == 12.0
    banned = _error(418, -1003, "Way too much request weight used; IP banned until 1700000120000. Please use…")
    assert banned.status == 418 and banned.retry_after == pytest.approx(120.0)
    assert "2023-11-14 22:15:20 UTC" in str(banned)


def test_non_order_4xx_is_a_protocol_error():
    error = _error(400, -1100, "Illegal characters", request=protocol.account())
    assert isinstance(error, ProtocolError)


# ------------------------------------------------------------------------------------- order parameters

RULES = filters.parse_symbol(BTCUSDT)
SETTINGS = BinanceSettings()


def _params(request: OrderRequest, settings=SETTINGS):
    kind, params = rules.order_params(request, RULES, settings)
    return kind, dict(params)


def test_limit_order_rounds_and_carries_the_client_id():
    kind, p = _params(OrderRequest(BTC, Side.BUY, qty=D("0.0100009"), type=OrderType.LIMIT,
                                   limit_price=D("45000.019"), time_in_force=TimeInForce.GTC,
                                   client_order_id="orch-1"))
    assert kind == "order"
    assert p == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                 "price": "45000.01", "newClientOrderId": "orch-1", "newOrderRespType": "RESULT"}


def test_market_by_quote_qty_and_post_only_and_iceberg_and_stops():
    _, p = _params(OrderRequest(BTC, Side.BUY, notional=D("100.123456789"), time_in_force=TimeInForce.GTC))
    assert p["type"] == "MARKET" and p["quoteOrderQty"] == "100.12345678" and "timeInForce" not in p
    _, p = _params(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.LIMIT, limit_price=D("70000.001"),
                                time_in_force=TimeInForce.GTC, post_only=True))
    assert p["type"] == "LIMIT_MAKER" and p["price"] == "70000.01" and "timeInForce" not in p
    _, p = _params(OrderRequest(BTC, Side.BUY, qty=D("1"), type=OrderType.LIMIT, limit_price=D("45000"),
                                time_in_force=TimeInForce.GTC, iceberg_qty=D("0.2")))
    assert p["icebergQty"] == "0.2"
    _, p = _params(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP_LIMIT, stop_price=D("40000"),
                                limit_price=D("39900"), time_in_force=TimeInForce.IOC))
    assert (p["type"], p["stopPrice"], p["price"], p["timeInForce"]) == ("STOP_LOSS_LIMIT", "40000", "39900", "IOC")
    stop = OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP, stop_price=D("40000"),
                        time_in_force=TimeInForce.GTC)
    with pytest.raises(NotSupported, match="does not take STOP_LOSS"):  # not in BTCUSDT's orderTypes
        _params(stop)
    allowing = filters.parse_symbol({**BTCUSDT, "orderTypes": [*BTCUSDT["orderTypes"], "STOP_LOSS"]})
    _, p = rules.order_params(stop, allowing, SETTINGS)
    assert dict(p)["type"] == "STOP_LOSS" and "price" not in dict(p)


def test_oco_sell_legs():
    kind, p = _params(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.LIMIT, limit_price=D("70000"),
                                   time_in_force=TimeInForce.GTC, order_class=OrderClass.OCO,
                                   take_profit=TakeProfit(D("70000")), stop_loss=StopLoss(D("60000"), D("59900")),
                                   client_order_id="orch-oco"))
    assert kind == "oco"
    assert (p["aboveType"], p["abovePrice"], p["aboveClientOrderId"]) == ("LIMIT_MAKER", "70000", "orch-oco")
    assert (p["belowType"], p["belowStopPrice"], p["belowPrice"]) == ("STOP_LOSS_LIMIT", "60000", "59900")
    assert p["listClientOrderId"] == "orch-oco"


def test_local_refusals():
    with pytest.raises(InvalidOrder, match="Filter failure: NOTIONAL"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("0.0001"), type=OrderType.LIMIT, limit_price=D("49999.99"),
                             time_in_force=TimeInForce.GTC))
    with pytest.raises(InvalidOrder, match="LOT_SIZE"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("0.000001"), time_in_force=TimeInForce.GTC))
    with pytest.raises(NotSupported, match="not day"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("0.01")))
    with pytest.raises(NotSupported, match="futures"):
        rules.to_symbol(Instrument("BTCUSDT", Market.FUTURES))
    with pytest.raises(InvalidOrder, match="gtc"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("1"), type=OrderType.LIMIT, limit_price=D("45000"),
                             time_in_force=TimeInForce.IOC, iceberg_qty=D("0.2")))


def test_config_refusals_name_the_setting():
    settings = BinanceSettings(trading_settings=TradingSettings(min_notional=D(10), max_notional=D(900000)),
                               order_types={"market": Toggle(enabled=False)})
    with pytest.raises(InvalidOrder, match="trading_settings.min_notional"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("0.0001"), type=OrderType.LIMIT, limit_price=D("60000"),
                             time_in_force=TimeInForce.GTC), settings)
    with pytest.raises(NotSupported, match="order_types.market.enabled is false"):
        _params(OrderRequest(BTC, Side.BUY, qty=D("0.01"), time_in_force=TimeInForce.GTC), settings)


def test_take_profit_by_trigger_side():
    sell = OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP_LIMIT, stop_price=D("70000"),
                        limit_price=D("69900"), time_in_force=TimeInForce.GTC)
    assert rules.is_take_profit(sell, D("65000")) and not rules.is_take_profit(sell, D("71000"))
    _, p = rules.order_params(sell, RULES, SETTINGS, take_profit=True)
    assert dict(p)["type"] == "TAKE_PROFIT_LIMIT" and dict(p)["stopPrice"] == "70000"
    buy = OrderRequest(BTC, Side.BUY, qty=D("0.01"), type=OrderType.STOP, stop_price=D("60000"),
                       time_in_force=TimeInForce.GTC)
    assert rules.is_take_profit(buy, D("65000"))
