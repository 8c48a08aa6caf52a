"""orch_degiro.protocol on the payloads documented in /work/shared/protocols (section 1): login statuses,
session placement, update sections, order JSON per type, check/confirm answers, errors and vwd messages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from orch.errors import (AuthError, BrokerUnavailable, InsufficientFunds, OrderNotFound, OrderRejected,
                         PermissionDenied, ProtocolError, RateLimited)
from orch.models import Instrument, Market, OrderRequest, OrderStatus, OrderType, Side, TimeInForce

from orch_degiro import protocol
from orch_degiro.protocol import HttpRequest, HttpResponse

AAPL = Instrument("AAPL", Market.US_STOCKS)


def answer(status: int, body, headers=None) -> HttpResponse:
    return HttpResponse(status, headers or {}, json.dumps(body).encode() if not isinstance(body, bytes) else body)


# ------------------------------------------------------------------------------------- login


def test_login_body_as_the_web_trader_sends_it():
    body = json.loads(protocol.login_body("me", "pw", one_time_password="123456"))
    assert body == {"username": "me", "password": "pw", "isPassCodeReset": False, "isRedirectToMobile": False,
                    "queryParams": {}, "oneTimePassword": "123456"}
    request = protocol.login_request("https://trader.degiro.nl/", b"{}", "totp")
    assert request.url == "https://trader.degiro.nl/login/secure/login/totp" and request.session is None


def test_login_success_and_statuses():
    ok = protocol.parse_login(answer(200, {"isPassCodeEnabled": False, "locale": "nl_NL", "redirectUrl": "x",
                                           "sessionId": "EE8D26C32435E074B0DEC73C04CD1901.prod_b_113_5",
                                           "status": 0, "statusText": "success"}))
    assert ok.status == 0 and ok.session_id.endswith(".prod_b_113_5")
    assert "EE8D26" not in repr(ok)
    assert protocol.parse_login(answer(202, {"status": 6, "statusText": "totpNeeded"})).status == 6
    in_app = protocol.parse_login(answer(202, {"status": 12, "statusText": "inAppTOTPNeeded", "inAppToken": "tok"}))
    assert in_app.in_app_token == "tok"


@pytest.mark.parametrize("body, kind, text", [
    ({"status": 3, "statusText": "badCredentials", "loginFailures": 2}, AuthError, "2 failed attempts"),
    ({"status": 3, "captchaRequired": True}, AuthError, "captcha"),
    ({"status": 4}, PermissionDenied, "blocked"),
    ({"status": 7, "statusText": "smsNeeded"}, AuthError, "SMS"),
    ({"status": 6, "statusText": "totpNeeded"}, AuthError, "one-time code"),
])
def test_login_errors(body, kind, text):
    error = protocol.login_error(protocol.parse_login(answer(400, body)))
    assert type(error) is kind and text in str(error) and error.broker_code == body["status"]


def test_maintenance_html_and_5xx_are_not_auth_errors():
    with pytest.raises(BrokerUnavailable, match="maintenance"):
        protocol.parse_login(HttpResponse(405, {}, b"<div id='under-const-content'>later</div>"))
    with pytest.raises(BrokerUnavailable):
        protocol.parse_login(HttpResponse(503, {}, b""))
    with pytest.raises(ProtocolError, match="browser"):
        protocol.parse_login(HttpResponse(200, {}, b"<html>You are not supposed to be here</html>"))
    with pytest.raises(RateLimited):
        protocol.parse_login(HttpResponse(429, {"retry-after": "3"}, b""))


# ------------------------------------------------------------------------------------- session


def test_session_goes_along_the_way_each_endpoint_wants():
    urls = protocol.ServiceUrls("https://t/trading/secure/", "https://t/pa/secure/", "https://t/product_search/secure/",
                                "https://t/portfolio-reports/secure/", None, 1)
    url, params, cookies = protocol.with_session(protocol.update_request(urls, 42, ["orders"]), "SID", 42)
    assert url == "https://t/trading/secure/v5/update/42;jsessionid=SID"
    assert params == {"orders": "0", "intAccount": "42", "sessionId": "SID"} and cookies == {}
    url, params, cookies = protocol.with_session(protocol.lookup_request(urls, "AAPL"), "SID", 42)
    assert ";jsessionid" not in url and params["sessionId"] == "SID" and params["searchText"] == "AAPL"
    url, params, cookies = protocol.with_session(protocol.config_request("https://t"), "SID", None)
    assert cookies == {"JSESSIONID": "SID"} and "sessionId" not in params
    assert "SID" not in repr(protocol.update_request(urls, 42, ["orders"]))


def test_config_gives_service_urls_and_the_vwd_user_token():
    urls = protocol.parse_config({"data": {
        "tradingUrl": "https://trader.degiro.nl/trading/secure/", "paUrl": "https://trader.degiro.nl/pa/secure/",
        "productSearchUrl": "https://trader.degiro.nl/product_search/secure/",
        "reportingUrl": "https://trader.degiro.nl/reporting/secure/",
        "vwdQuotecastServiceUrl": "https://degiro.quotecast.vwdservices.com/CORS", "clientId": 4242}},
        base_url="https://trader.degiro.nl")
    assert urls.trading.endswith("/trading/secure/") and urls.quotecast.endswith("/CORS/")
    assert urls.reporting == "https://trader.degiro.nl/portfolio-reports/secure/"  # older reportingUrl replaced
    assert urls.client_id == 4242
    assert protocol.parse_client({"data": {"id": 4242, "intAccount": 1234567}}).int_account == 1234567
    with pytest.raises(ProtocolError):
        protocol.parse_client({"data": {"id": 1}})


# ------------------------------------------------------------------------------------- update


UPDATE = {
    "portfolio": {"lastUpdated": 7, "name": "portfolio", "value": [
        {"name": "positionrow", "id": "8614787", "value": [
            {"name": "id", "value": "8614787", "isAdded": True},
            {"name": "positionType", "value": "PRODUCT", "isAdded": True},
            {"name": "size", "value": 10, "isAdded": True},
            {"name": "price", "value": 190.5, "isAdded": True},
            {"name": "value", "value": 1905.0, "isAdded": True},
            {"name": "breakEvenPrice", "value": 180.25, "isAdded": True}]},
        {"name": "positionrow", "id": "FLATEX_EUR", "value": [
            {"name": "id", "value": "FLATEX_EUR"}, {"name": "positionType", "value": "CASH"},
            {"name": "size", "value": 100}]},
        {"name": "positionrow", "id": "1", "value": [
            {"name": "id", "value": "1"}, {"name": "positionType", "value": "PRODUCT"},
            {"name": "size", "value": 0}]}]},
    "cashFunds": {"lastUpdated": 1, "name": "cashFunds", "value": [
        {"name": "cashFund", "id": "2", "value": [{"name": "id", "value": 2}, {"name": "currencyCode", "value": "EUR"},
                                                   {"name": "value", "value": 1234.56}]},
        {"name": "cashFund", "id": "3", "value": [{"name": "id", "value": 3}, {"name": "currencyCode", "value": "USD"},
                                                   {"name": "value", "value": 10}]}]},
    "orders": {"lastUpdated": 1, "name": "orders", "value": [
        {"name": "order", "id": "4c2b8e0e-0001", "value": [
            {"name": "id", "value": "4c2b8e0e-0001"}, {"name": "date", "value": "14:03"},
            {"name": "productId", "value": 8614787}, {"name": "buysell", "value": "B"},
            {"name": "size", "value": 5}, {"name": "quantity", "value": 5}, {"name": "price", "value": 150.25},
            {"name": "stopPrice", "value": 0}, {"name": "orderTypeId", "value": 0},
            {"name": "orderTimeTypeId", "value": 3}, {"name": "orderType", "value": "LIMIT"},
            {"name": "orderTimeType", "value": "GTC"}, {"name": "isDeletable", "value": True}]}]},
}


def decoded(data):
    return json.loads(json.dumps(data), parse_float=Decimal)


def test_portfolio_rows_skip_cash_and_zero_positions():
    rows = protocol.parse_position_rows(decoded(UPDATE))
    assert [r["id"] for r in rows] == ["8614787"]
    position = protocol.position_from_row(rows[0], AAPL, "USD")
    assert position.qty == 10 and position.avg_price == Decimal("180.25")
    assert position.unrealized_pl == Decimal("102.50")


def test_cash_per_currency():
    assert protocol.parse_cash(decoded(UPDATE)) == {"EUR": Decimal("1234.56"), "USD": Decimal(10)}


def test_open_order_row():
    row, = protocol.parse_order_rows(decoded(UPDATE))
    order = protocol.order_from_open_row(row, AAPL)
    assert (order.broker_order_id, order.side, order.type, order.time_in_force) == (
        "4c2b8e0e-0001", Side.BUY, OrderType.LIMIT, TimeInForce.GTC)
    assert order.limit_price == Decimal("150.25") and order.stop_price is None and order.status is OrderStatus.ACCEPTED


def test_history_rows_give_the_final_state_and_fill_price():
    create = {"orderId": "o1", "productId": 1, "size": 4, "price": 0, "buysell": "S", "orderTypeId": 2,
              "orderTimeTypeId": 1, "status": "CONFIRMED", "type": "CREATE", "isActive": False,
              "totalTradedSize": 4, "created": "2026-11-24T10:00:00+01:00"}
    fills = [{"orderId": "o1", "price": Decimal("10"), "quantity": -1}, {"orderId": "o1", "price": Decimal("11"),
                                                                           "quantity": -3}]
    order = protocol.order_from_history([create], AAPL, fills=fills)
    assert order.status is OrderStatus.FILLED and order.side is Side.SELL and order.type is OrderType.MARKET
    assert order.avg_fill_price == Decimal("10.75")
    cancelled = protocol.order_from_history([{**create, "totalTradedSize": 0, "isActive": True},
                                             {**create, "type": "DELETE", "totalTradedSize": 0}], AAPL)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.raw_status == "CONFIRMED/DELETE"


# ------------------------------------------------------------------------------------- orders


@pytest.mark.parametrize("kind, extra, fields", [
    (OrderType.LIMIT, {"limit_price": "12.5"}, {"buySell", "orderType", "price", "productId", "size", "timeType"}),
    (OrderType.STOP_LIMIT, {"limit_price": "12.5", "stop_price": "12"},
     {"buySell", "orderType", "price", "productId", "size", "stopPrice", "timeType"}),
    (OrderType.MARKET, {}, {"buySell", "orderType", "productId", "size", "timeType"}),
    (OrderType.STOP, {"stop_price": "12"}, {"buySell", "orderType", "productId", "size", "stopPrice", "timeType"}),
])
def test_order_json_sends_only_each_types_fields(kind, extra, fields):
    request = OrderRequest(AAPL, Side.SELL, qty=3, type=kind, time_in_force=TimeInForce.GTC, **extra)
    body = json.loads(protocol.dumps(protocol.order_body(request, "8614787")))
    assert set(body) == fields
    assert body["orderType"] == protocol.ORDER_TYPE_CODES[kind] and body["timeType"] == 3
    assert body["productId"] == 8614787 and body["size"] == 3 and body["buySell"] == "SELL"


def test_numbers_are_written_exactly():
    assert protocol.dumps({"price": Decimal("12.50"), "size": Decimal("1E+1")}) == b'{"price":12.5,"size":10}'


def test_check_and_confirm_answers():
    check = protocol.parse_check({"data": {"confirmationId": "c-1", "freeSpaceNew": Decimal("9000"),
                                           "transactionFee": Decimal("2"), "showExAnteReportLink": True}})
    assert check.confirmation_id == "c-1" and check.fee == 2
    assert protocol.parse_confirm({"data": {"orderId": "o-1"}}) == "o-1"
    with pytest.raises(ProtocolError):
        protocol.parse_confirm({"data": {}})


URLS = protocol.ServiceUrls("https://t/trading/secure/", "https://t/pa/", "https://t/ps/", "https://t/r/", None, None)


@pytest.mark.parametrize("request_, status, text, kind", [
    (protocol.check_order_request(URLS, {}), 400, "Insufficient free space", InsufficientFunds),
    (protocol.check_order_request(URLS, {}), 400, "The price is too far from the last price", OrderRejected),
    (protocol.confirm_order_request(URLS, "c", {}), 404, "No corresponding resource found", OrderRejected),
    (protocol.delete_order_request(URLS, "o"), 404, "No corresponding resource found", OrderNotFound),
    (protocol.delete_order_request(URLS, "o"), 400, "not deletable", OrderRejected),
    (protocol.update_request(URLS, 1, ["orders"]), 403, "Forbidden", PermissionDenied),
    (protocol.update_request(URLS, 1, ["orders"]), 502, "Bad gateway", BrokerUnavailable),
    (protocol.update_request(URLS, 1, ["orders"]), 429, "Too many", RateLimited),
])
def test_errors_keep_the_brokers_text(request_, status, text, kind):
    error = protocol.error_for(request_, answer(status, {"errors": [{"text": text}]}, {"retry-after": "2"}))
    assert type(error) is kind and error.broker_message == text and error.status == status
    if kind is RateLimited:
        assert error.retry_after == 2


def test_choose_product_by_ticker_suffix_isin_and_currency():
    products = [{"id": "1", "symbol": "SAP", "exchangeId": "194", "isin": "DE0007164600", "currency": "EUR"},
                {"id": "2", "symbol": "SAP", "exchangeId": "676", "isin": "US8030542042", "currency": "USD"},
                {"id": "3", "symbol": "SAPX", "exchangeId": "194", "currency": "EUR"}]
    assert protocol.choose_product(products, "SAP.DE", "EUR")["id"] == "1"
    assert protocol.choose_product(products, "SAP", "USD")["id"] == "2"
    assert protocol.choose_product(products, "DE0007164600", None)["id"] == "1"
    assert protocol.choose_product(products, "NOSUCH", None) is None
    assert protocol.orch_symbol(products[0]) == "SAP.DE" and protocol.orch_symbol(products[1]) == "SAP"


# ------------------------------------------------------------------------------------- vwd


def test_vwd_messages_register_refs_then_carry_values():
    refs: dict[int, str] = {}
    update = protocol.parse_vwd_messages([
        {"m": "a_req", "v": ["360015751.BidPrice", 101]}, {"m": "a_req", "v": ["360015751.LastTime", 102]},
        {"m": "un", "v": [101, Decimal("189.2")]}, {"m": "us", "v": [102, "15:30:01"]}, {"m": "h"}], refs)
    assert update.values == {"360015751.BidPrice": Decimal("189.2"), "360015751.LastTime": "15:30:01"}
    assert protocol.parse_vwd_messages([{"m": "sr"}], refs).session_invalid
    assert protocol.parse_vwd_messages([{"m": "ue", "v": ["9.BidPrice"]}], refs).unavailable == ("9.BidPrice",)
    control = json.loads(protocol.vwd_subscribe_request("https://q/CORS", "vs", "360015751", ("BidPrice",)).body)
    assert control == {"controlData": "a_req(360015751.BidPrice);"}


def test_vwd_timestamp_is_amsterdam_time():
    stamp = protocol.vwd_timestamp("2024-06-04", "16:00:00")
    assert stamp.isoformat() == "2024-06-04T14:00:00+00:00"


def test_requests_reveal_no_body_in_repr():
    request = HttpRequest("POST", "https://t/login/secure/login", body=protocol.login_body("me", "secret-pw"))
    assert "secret-pw" not in repr(request)
