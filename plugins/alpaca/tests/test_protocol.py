"""Alpaca's REST protocol: the exact requests built, responses into orch models, every error mapping."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from orch.errors import (AuthError, BrokerUnavailable, ConfigError, InsufficientFunds, OrderNotFound,
                         OrderRejected, PermissionDenied, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Instrument, Market, OrderClass, OrderRequest, OrderStatus, OrderType, Side, StopLoss,
                         TakeProfit, TimeInForce)
from orch.secret import Secret
from orch_alpaca import protocol
from orch_alpaca.protocol import Credentials, HttpRequest, HttpResponse

AAPL = Instrument("AAPL", Market.US_STOCKS)
SPY = Instrument("SPY", Market.US_STOCKS)
BTC = Instrument("BTC/USD", Market.CRYPTO)
NOW = 1_764_000_000.0  # epoch seconds used as "now" where no Date header says otherwise


def order(**kwargs) -> OrderRequest:
    base = {"instrument": AAPL, "side": Side.BUY, "qty": "1", "client_order_id": "orch-1"}
    return OrderRequest(**{**base, **kwargs})


def body_of(request: OrderRequest, symbol: str = "AAPL") -> dict:
    built = protocol.create_order(request, symbol)
    assert (built.method, built.path, built.api, built.is_order) == ("POST", "/v2/orders", "trading", True)
    # What goes on the wire must survive plain json.dumps and carry no float anywhere.
    json.dumps(built.json)
    _assert_no_floats(built.json)
    return built.json


def _assert_no_floats(value) -> None:
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for item in value.values():
            _assert_no_floats(item)


# ----------------------------------------------------------------------------------------------- auth


def test_sign_adds_alpaca_key_headers_and_repr_hides_them(key, secret):
    credentials = Credentials(Secret(key), Secret(secret))
    signed = protocol.sign(protocol.get_account(), credentials)
    assert signed.headers == {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
    for text in (repr(signed), str(signed), repr(credentials)):
        assert key not in text and secret not in text
    assert "APCA-API-SECRET-KEY" in repr(signed)  # the header is shown, its value is not


def test_unset_credentials_are_a_config_error_naming_the_key(secret):
    credentials = Credentials(Secret("YOUR_API_KEY"), Secret(secret))
    with pytest.raises(ConfigError) as caught:
        protocol.sign(protocol.get_account(), credentials)
    assert caught.value.path == "brokers.alpaca.api_key"
    assert secret not in str(caught.value)


# ----------------------------------------------------------------------------------------------- requests


def test_account_positions_clock_assets_requests():
    assert protocol.get_account() == HttpRequest("GET", "/v2/account")
    assert protocol.list_positions() == HttpRequest("GET", "/v2/positions")
    assert protocol.get_clock() == HttpRequest("GET", "/v2/clock")
    assets = protocol.list_assets(asset_class="crypto")
    assert (assets.method, assets.path, dict(assets.params)) == ("GET", "/v2/assets",
                                                                 {"status": "active", "asset_class": "crypto"})
    asset = protocol.get_asset("BTC/USD")
    assert (asset.path, asset.resource) == ("/v2/assets/BTCUSD", "instrument")
    position = protocol.get_position("BTC/USD")
    assert (position.path, position.none_on_404) == ("/v2/positions/BTCUSD", True)


def test_market_order_body():
    assert body_of(order()) == {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day",
                                "qty": "1", "client_order_id": "orch-1"}


def test_notional_order_sends_notional_not_qty():
    body = body_of(order(qty=None, notional="500"))
    assert body["notional"] == "500" and "qty" not in body


def test_limit_order_with_extended_hours():
    body = body_of(order(type=OrderType.LIMIT, limit_price="190.5", qty="2.5", extended_hours=True))
    assert body == {"symbol": "AAPL", "side": "buy", "type": "limit", "time_in_force": "day", "qty": "2.5",
                    "limit_price": "190.5", "extended_hours": True, "client_order_id": "orch-1"}


def test_stop_and_stop_limit_bodies():
    stop = body_of(order(side=Side.SELL, type=OrderType.STOP, stop_price="180", time_in_force=TimeInForce.GTC))
    assert (stop["type"], stop["stop_price"], stop["time_in_force"]) == ("stop", "180", "gtc")
    assert "limit_price" not in stop
    stop_limit = body_of(order(type=OrderType.STOP_LIMIT, stop_price="100", limit_price="101"))
    assert (stop_limit["stop_price"], stop_limit["limit_price"]) == ("100", "101")


def test_trailing_stop_body_from_the_docs():
    # Alpaca's example: sell SPY qty 100, day, trail_price 6.15.
    body = body_of(order(instrument=SPY, side=Side.SELL, qty="100", type=OrderType.TRAILING_STOP,
                         trail_price="6.15"), "SPY")
    assert body == {"symbol": "SPY", "side": "sell", "type": "trailing_stop", "time_in_force": "day",
                    "qty": "100", "trail_price": "6.15", "client_order_id": "orch-1"}
    percent = body_of(order(side=Side.SELL, type=OrderType.TRAILING_STOP, trail_percent="1.5"))
    assert percent["trail_percent"] == "1.5" and "trail_price" not in percent


def test_bracket_body_from_the_docs():
    # Alpaca's example: buy SPY market qty 100 gtc, take profit 301, stop loss 299 with limit 298.5.
    body = body_of(order(instrument=SPY, qty="100", time_in_force=TimeInForce.GTC,
                         order_class=OrderClass.BRACKET, take_profit=TakeProfit("301"),
                         stop_loss=StopLoss("299", "298.5")), "SPY")
    assert body == {"symbol": "SPY", "side": "buy", "type": "market", "time_in_force": "gtc", "qty": "100",
                    "client_order_id": "orch-1", "order_class": "bracket",
                    "take_profit": {"limit_price": "301"},
                    "stop_loss": {"stop_price": "299", "limit_price": "298.5"}}


def test_oco_carries_its_limit_in_the_take_profit_leg_only():
    body = body_of(order(side=Side.SELL, type=OrderType.LIMIT, limit_price="301", time_in_force=TimeInForce.GTC,
                         order_class=OrderClass.OCO, take_profit=TakeProfit("301"), stop_loss=StopLoss("299")))
    assert "limit_price" not in body
    assert body["order_class"] == "oco"
    assert body["take_profit"] == {"limit_price": "301"} and body["stop_loss"] == {"stop_price": "299"}


def test_oto_with_a_stop_loss_only():
    body = body_of(order(type=OrderType.LIMIT, limit_price="100", order_class=OrderClass.OTO,
                         stop_loss=StopLoss("95")))
    assert body["order_class"] == "oto" and body["stop_loss"] == {"stop_price": "95"}
    assert "take_profit" not in body


def test_decimals_go_out_in_plain_notation():
    body = body_of(order(qty=Decimal("1E+2"), type=OrderType.LIMIT, limit_price=Decimal("0.00012")))
    assert (body["qty"], body["limit_price"]) == ("100", "0.00012")


def test_crypto_order_uses_the_slashed_pair():
    body = body_of(order(instrument=BTC, qty="0.001", time_in_force=TimeInForce.GTC), "BTC/USD")
    assert body["symbol"] == "BTC/USD" and body["qty"] == "0.001"


def test_order_lookups():
    by_id = protocol.get_order("61e69015-8549-4bfd-b9c3-01e75843f47d")
    assert (by_id.method, by_id.path, dict(by_id.params), by_id.resource) == (
        "GET", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", {"nested": "true"}, "order")
    by_client = protocol.get_order_by_client_id("orch-1")
    assert (by_client.path, dict(by_client.params)) == ("/v2/orders:by_client_order_id",
                                                        {"client_order_id": "orch-1", "nested": "true"})
    # An id can never escape its path segment.
    assert protocol.get_order("../account").path == "/v2/orders/..%2Faccount"


def test_list_orders_filters():
    since = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)
    request = protocol.list_orders(status="all", limit=1000, after=since, symbols_=["AAPL", "BTC/USD"],
                                   side=Side.BUY)
    assert (request.method, request.path) == ("GET", "/v2/orders")
    assert dict(request.params) == {"status": "all", "limit": "500", "direction": "desc", "nested": "true",
                                    "after": "2026-11-24T14:00:00Z", "symbols": "AAPL,BTC/USD", "side": "buy"}


def test_cancel_and_replace():
    cancel = protocol.cancel_order("abc")
    assert (cancel.method, cancel.path, cancel.json, cancel.is_order) == ("DELETE", "/v2/orders/abc", None, False)
    replace = protocol.replace_order("abc", qty=Decimal("5"), limit_price=Decimal("101.25"))
    assert (replace.method, replace.path, replace.is_order) == ("PATCH", "/v2/orders/abc", True)
    assert replace.json == {"qty": "5", "limit_price": "101.25"}


def test_market_data_requests():
    stock = protocol.latest_stock_quotes(["AAPL"], feed="iex")
    assert (stock.api, stock.path, dict(stock.params)) == ("data", "/v2/stocks/quotes/latest",
                                                           {"symbols": "AAPL", "feed": "iex"})
    trades = protocol.latest_stock_trades(["AAPL"], feed="sip")
    assert (trades.path, trades.params["feed"]) == ("/v2/stocks/trades/latest", "sip")
    crypto = protocol.latest_crypto_quotes(["BTC/USD"])
    assert (crypto.api, crypto.path, dict(crypto.params)) == ("data", "/v1beta3/crypto/us/latest/quotes",
                                                              {"symbols": "BTC/USD"})


def test_fill_activities_request():
    request = protocol.list_fill_activities(after=datetime(2026, 3, 10, tzinfo=timezone.utc), page_token="x")
    assert (request.path, dict(request.params)) == ("/v2/account/activities", {
        "activity_types": "FILL", "direction": "desc", "page_size": "100", "after": "2026-03-10T00:00:00Z",
        "page_token": "x"})


# ----------------------------------------------------------------------------------------------- parsing


def test_documented_notional_order(load):
    parsed = protocol.parse_order(load("order_notional_accepted.json"))
    assert parsed.broker_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    assert parsed.client_order_id == "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4"
    assert parsed.instrument == AAPL
    assert (parsed.side, parsed.type, parsed.time_in_force) == (Side.BUY, OrderType.MARKET, TimeInForce.DAY)
    assert (parsed.status, parsed.raw_status) == (OrderStatus.ACCEPTED, "accepted")
    assert (parsed.qty, parsed.notional, parsed.filled_qty) == (None, Decimal("500"), Decimal("0"))
    assert parsed.order_class is OrderClass.SIMPLE
    assert parsed.created_at == datetime(2021, 3, 16, 18, 38, 1, 942282, tzinfo=timezone.utc)


def test_bracket_with_nested_legs(load):
    parsed = protocol.parse_order(load("order_bracket_nested.json"))
    assert (parsed.status, parsed.order_class) == (OrderStatus.FILLED, OrderClass.BRACKET)
    assert parsed.avg_fill_price == Decimal("300.0734")
    take_profit, stop_loss = parsed.legs
    assert (take_profit.type, take_profit.limit_price, take_profit.status) == (
        OrderType.LIMIT, Decimal("301"), OrderStatus.NEW)
    assert (stop_loss.type, stop_loss.raw_status, stop_loss.status) == (
        OrderType.STOP_LIMIT, "held", OrderStatus.ACCEPTED)
    assert (stop_loss.stop_price, stop_loss.limit_price) == (Decimal("299"), Decimal("298.5"))
    # Nanosecond timestamps are read (to the microsecond), not refused.
    assert parsed.created_at == datetime(2026, 11, 24, 15, 30, 0, 123456, tzinfo=timezone.utc)


def test_crypto_order_and_user_instrument(load):
    parsed = protocol.parse_order(load("order_crypto_partial.json"))
    assert parsed.instrument == Instrument("BTC/USD", Market.CRYPTO, currency="USD")
    assert (parsed.status, parsed.filled_qty) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.2"))
    mine = Instrument("BTCUSD", Market.CRYPTO)
    assert protocol.parse_order(load("order_crypto_partial.json"), instrument=mine).instrument is mine


def test_order_list(load):
    trailing, resting = protocol.parse_orders(load("orders_list.json"))
    assert (trailing.type, trailing.stop_price, trailing.status) == (
        OrderType.TRAILING_STOP, Decimal("183.1"), OrderStatus.NEW)
    assert (resting.raw_status, resting.status) == ("done_for_day", OrderStatus.PARTIALLY_FILLED)


@pytest.mark.parametrize("raw, filled, qty, expected", [
    ("new", "0", "1", OrderStatus.NEW),
    ("partially_filled", "0.5", "1", OrderStatus.PARTIALLY_FILLED),
    ("filled", "1", "1", OrderStatus.FILLED),
    ("done_for_day", "0", "1", OrderStatus.NEW),
    ("done_for_day", "0.4", "1", OrderStatus.PARTIALLY_FILLED),
    ("canceled", "0", "1", OrderStatus.CANCELED),
    ("expired", "0", "1", OrderStatus.EXPIRED),
    ("replaced", "0", "1", OrderStatus.CANCELED),
    ("pending_cancel", "0", "1", OrderStatus.PENDING_CANCEL),
    ("pending_replace", "0", "1", OrderStatus.NEW),
    ("accepted", "0", "1", OrderStatus.ACCEPTED),
    ("pending_new", "0", "1", OrderStatus.ACCEPTED),
    ("accepted_for_bidding", "0", "1", OrderStatus.ACCEPTED),
    ("stopped", "0", "1", OrderStatus.NEW),
    ("rejected", "0", "1", OrderStatus.REJECTED),
    ("suspended", "0", "1", OrderStatus.ACCEPTED),
    ("calculated", "1", "1", OrderStatus.FILLED),
    ("calculated", "0.3", "1", OrderStatus.PARTIALLY_FILLED),
    ("pending_review", "0", "1", OrderStatus.ACCEPTED),
    ("held", "0", "1", OrderStatus.ACCEPTED),
    ("some_future_status", "0", "1", OrderStatus.ACCEPTED),
])
def test_every_alpaca_status_is_normalized(load, raw, filled, qty, expected):
    data = {**load("order_notional_accepted.json"), "status": raw, "filled_qty": filled, "qty": qty,
            "notional": None}
    parsed = protocol.parse_order(data)
    assert (parsed.status, parsed.raw_status) == (expected, raw)


def test_account(load):
    account = protocol.parse_account(load("account.json"), paper=True)
    assert (account.account_id, account.currency, account.status, account.paper) == (
        "PA2JRW8S5VY5", "USD", "ACTIVE", True)
    assert (account.cash, account.equity, account.buying_power) == (
        Decimal("-23140.2"), Decimal("103820.56"), Decimal("262113.632"))
    assert account.raw["non_marginable_buying_power"] == "131056.81"
    assert account.raw["shorting_enabled"] == "True"


def test_positions(load):
    aapl, btc, tsla = protocol.parse_positions(load("positions.json"))
    assert (aapl.instrument, aapl.qty, aapl.avg_price, aapl.market_value, aapl.unrealized_pl) == (
        AAPL, Decimal("5"), Decimal("100.0"), Decimal("600.0"), Decimal("100.0"))
    # Positions report crypto without the slash; orch names the pair.
    assert btc.instrument == Instrument("BTC/USD", Market.CRYPTO, currency="USD")
    assert btc.avg_price == Decimal("43000.123456789")
    assert tsla.qty == Decimal("-2")


def test_stock_quote_numbers_stay_exact(load):
    quote = protocol.parse_latest_quote(load("latest_stock_quotes.json"), "AAPL", AAPL)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
        Decimal("189.2"), Decimal("189.25"), Decimal("2"), Decimal("3"))
    assert isinstance(quote.bid, Decimal) and quote.delayed is False
    assert quote.timestamp == datetime(2026, 11, 24, 15, 30, 0, 123456, tzinfo=timezone.utc)


def test_an_empty_book_gives_no_prices(load):
    quote = protocol.parse_latest_quote(load("latest_stock_quotes_closed.json"), "AAPL", AAPL, delayed=True)
    assert (quote.bid, quote.ask, quote.delayed) == (None, None, True)


def test_crypto_quote_and_last_trade(load):
    quote = protocol.parse_latest_quote(load("latest_crypto_quotes.json"), "BTC/USD", BTC)
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("47982.6"), Decimal("47993.71"), Decimal("0.35901"))
    price, when = protocol.parse_latest_trade_price(load("latest_stock_trades.json"), "AAPL")
    assert price == Decimal("126.55")
    assert when == datetime(2021, 2, 22, 15, 51, 44, 208000, tzinfo=timezone.utc)


def test_a_symbol_missing_from_market_data_is_unknown(load):
    with pytest.raises(UnknownInstrument, match="ZZZZ"):
        protocol.parse_latest_quote(load("latest_stock_quotes.json"), "ZZZZ", AAPL)


def test_clock_and_asset(load):
    clock = protocol.parse_clock(load("clock.json"))
    assert clock.is_open is True and clock.next_close.utcoffset().total_seconds() == -5 * 3600
    asset = protocol.parse_asset(load("asset_btc.json"))
    assert (asset.asset_class, asset.symbol, asset.fractionable, asset.min_order_size) == (
        "crypto", "BTC/USD", True, Decimal("0.000018"))


def test_fill_activities(load):
    stock, crypto = protocol.parse_fill_activities(load("activities_fill.json"))
    assert (stock.fill_id, stock.broker_order_id, stock.qty, stock.price, stock.side) == (
        "20260310120000000::b3d29c1a-7e5f-4a2b-9c1d-8e7f6a5b4c3d", "61e69015-8549-4bab-b63c-cc230e7e2e8b",
        Decimal("10"), Decimal("187.25"), Side.BUY)
    assert stock.instrument == AAPL
    assert (crypto.side, crypto.instrument.market) == (Side.SELL, Market.CRYPTO)


@pytest.mark.parametrize("broken", [
    {"id": "x"},                                               # no status
    {"id": "x", "status": "new", "symbol": "AAPL", "side": "sideways", "type": "market"},
    {"id": "x", "status": "new", "symbol": "AAPL", "side": "buy", "type": "market", "qty": "lots"},
    {"id": "x", "status": "new", "symbol": "AAPL", "side": "buy", "type": "market", "created_at": "yesterday"},
])
def test_a_malformed_order_is_one_protocol_error(broken):
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_order(broken)
    assert "\n" not in str(caught.value) and "order" in str(caught.value)


# ----------------------------------------------------------------------------------------------- errors


def answer(status: int, body: dict | bytes | None = None, **headers: str) -> HttpResponse:
    data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    return HttpResponse(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, data)


def failure(request: HttpRequest, response: HttpResponse, now: float = NOW):
    with pytest.raises(Exception) as caught:
        protocol.handle_response(request, response, now=now)
    return caught.value


CREATE = protocol.create_order(order(), "AAPL")


def test_401_is_an_auth_error(secret):
    error = failure(protocol.get_account(), answer(401, {"message": "unauthorized."}))
    assert isinstance(error, AuthError) and error.status == 401
    assert "unauthorized" in str(error) and secret not in str(error)


@pytest.mark.parametrize("message", [
    "insufficient buying power",
    "insufficient qty available for order (requested: 10, available: 2)",
])
def test_403_for_money_or_quantity_is_insufficient_funds(message):
    error = failure(CREATE, answer(403, {"code": 40310000, "message": message, "buying_power": "0"}))
    assert type(error) is InsufficientFunds and isinstance(error, OrderRejected)
    assert (error.broker_code, error.broker_message, error.status) == (40310000, message, 403)


def test_other_403_is_permission_denied():
    error = failure(CREATE, answer(403, {"code": 40310000, "message": "new orders are rejected by user request"}))
    assert type(error) is PermissionDenied and "rejected by user request" in str(error)


def test_404_depends_on_what_was_asked():
    missing = answer(404, {"code": 40410000, "message": "order not found"})
    assert type(failure(protocol.get_order("x"), missing)) is OrderNotFound
    assert type(failure(protocol.get_order_by_client_id("x"), missing)) is OrderNotFound
    assert type(failure(protocol.cancel_order("x"), missing)) is OrderNotFound
    unknown = failure(protocol.get_asset("NOPE"), answer(404, {"message": "asset not found"}))
    assert type(unknown) is UnknownInstrument
    assert type(failure(protocol.get_account(), answer(404, b"404 page not found"))) is ProtocolError
    no_position = answer(404, {"message": "position does not exist"})
    assert protocol.handle_response(protocol.get_position("AAPL"), no_position, now=NOW) is None


def test_422_is_a_rejection_with_alpacas_code_and_message():
    message = ("invalid limit_price 290.123. sub-penny increment does not fulfill minimum pricing criteria")
    error = failure(CREATE, answer(422, {"code": 42210000, "message": message}))
    assert type(error) is OrderRejected
    assert (error.broker_code, error.reason, error.status) == (42210000, message, 422)
    assert "42210000" in str(error)


def test_duplicate_client_order_id_is_an_unknown_outcome_not_a_rejection():
    error = failure(CREATE, answer(422, {"code": 40010001, "message": "client_order_id must be unique"}))
    assert isinstance(error, BrokerUnavailable) and not isinstance(error, OrderRejected)
    assert isinstance(error, protocol.DuplicateClientOrderId)


def test_422_on_cancel_means_not_cancellable():
    refusal = answer(422, {"code": 42210000, "message": "order is not cancelable"})
    error = failure(protocol.cancel_order("x"), refusal)
    assert type(error) is OrderRejected and "not cancelable" in error.reason


def test_422_on_market_data_is_an_unknown_symbol():
    refusal = answer(400, {"message": "invalid symbol: ??"})
    error = failure(protocol.latest_stock_quotes(["??"], feed="iex"), refusal)
    assert type(error) is UnknownInstrument


def test_429_carries_retry_after_from_the_reset_header():
    # Reset is in the server's epoch seconds; the server's Date is the clock it is measured against.
    response = answer(429, {"code": 42910000, "message": "too many requests"},
                      X_RateLimit_Limit="200", X_RateLimit_Remaining="0", X_RateLimit_Reset="1764000017",
                      Date="Mon, 24 Nov 2025 16:00:05 GMT")
    error = failure(protocol.get_account(), response, now=0.0)
    assert type(error) is RateLimited and error.retry_after == 12.0
    explicit = answer(429, {"message": "slow down"}, Retry_After="3", X_RateLimit_Reset="1764000017")
    assert failure(protocol.get_account(), explicit).retry_after == 3.0
    assert failure(protocol.get_account(), answer(429, b"")).retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable(status):
    error = failure(CREATE, answer(status, b"<html>bad gateway</html>"))
    assert type(error) is BrokerUnavailable and error.status == status
    assert "bad gateway" in str(error)


def test_unparseable_success_is_a_protocol_error_and_204_is_none():
    error = failure(protocol.get_account(), answer(200, b"<html>maintenance</html>"))
    assert type(error) is ProtocolError and "maintenance" in str(error)
    assert protocol.handle_response(protocol.cancel_order("x"), answer(204), now=NOW) is None


def test_success_decodes_numbers_as_decimals():
    data = protocol.handle_response(protocol.get_clock(), answer(200, b'{"x": 0.1, "n": 3}'), now=NOW)
    assert data == {"x": Decimal("0.1"), "n": 3} and isinstance(data["x"], Decimal)


# ----------------------------------------------------------------------------------------------- rate limits


def test_rate_limit_headers():
    headers = {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "187", "x-ratelimit-reset": "1764000060"}
    info = protocol.parse_rate_limit(headers, now=1764000000.0)
    assert (info.limit, info.remaining, info.reset_after) == (200, 187, 60.0)
    # A reset already past is "now", not negative.
    assert protocol.parse_rate_limit(headers, now=1764000100.0).reset_after == 0.0
    assert protocol.parse_rate_limit({"content-type": "application/json"}, now=0.0) is None
    assert protocol.parse_rate_limit({"x-ratelimit-remaining": "junk", "x-ratelimit-limit": "200"},
                                     now=0.0).remaining is None
