"""The sans-IO pieces on documented facts: auth headers, error bodies (both styles), rate-limit headers,
pagination, ticker mapping, working schedules, settings and local refusals."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from orch.config import config_from_data
from orch.errors import (AuthError, ConfigError, InsufficientFunds, InvalidOrder, LiveTradingRefused, NotSupported,
                         OrderRejected, RateLimited, UnknownInstrument)
from orch.models import Instrument, Market, OrderClass, OrderRequest, OrderType, Side, TakeProfit, StopLoss, TimeInForce
from orch.secret import Secret

from orch_trading212 import protocol, rules, settings as settings_mod, symbols
from orch_trading212.protocol import Credentials, HttpResponse
from orch_trading212.settings import DEMO_URL, LIVE_URL, Trading212Settings, resolve_base_url
from orch_trading212.symbols import InstrumentMeta

GUIDE = {"enabled": True, "api_key": "YOUR_TRADING212_API_KEY", "practice": True,
         "base_url": "https://practice.trading212.com", "rate_limit": 120}

CATALOG = {m.ticker: m for m in (
    InstrumentMeta("AAPL_US_EQ", "AAPL", "USD", isin="US0378331005"), InstrumentMeta("BRK_B_US_EQ", "BRK.B", "USD"),
    InstrumentMeta("VUSAl_EQ", "VUSA", "GBX"), InstrumentMeta("SAPd_EQ", "SAP", "EUR", isin="DE0007164600"),
    InstrumentMeta("ASML_NL_EQ", "ASML", "EUR"), InstrumentMeta("AIRp_EQ", "AIR", "EUR"))}


# ------------------------------------------------------------------------------------------- auth


def test_basic_auth_is_key_colon_secret_base64_without_newline():
    assert protocol.authorization(Credentials(Secret("KEY"), Secret("SECRET"))) == "Basic S0VZOlNFQ1JFVA=="


def test_legacy_header_is_the_raw_key_when_no_secret_is_given():
    credentials = Credentials(Secret("only-a-key"))
    assert credentials.scheme == "legacy" and protocol.authorization(credentials) == "only-a-key"
    assert "only-a-key" not in repr(credentials)


# ------------------------------------------------------------------------------------------- errors


def _error(status, body, *, request=None, headers=None):
    request = request or protocol.list_orders()
    return protocol.error_for(request, HttpResponse(status, headers or {}, body), now=0.0)


def test_rfc7807_body_keeps_slug_title_detail_and_trace():
    body = (b'{"type":"/api-errors/instrument-close-only-mode","title":"Error while placing the order",'
            b'"status":400,"detail":"Close only mode","traceId":"abc"}')
    parsed = protocol.parse_error_body(body)
    assert (parsed.code, parsed.message, parsed.title, parsed.trace_id) == (
        "instrument-close-only-mode", "Close only mode", "Error while placing the order", "abc")
    order = protocol.place_order(OrderRequest(Instrument("AAPL", Market.US_STOCKS), Side.BUY, qty=1,
                                              client_order_id="c"), "AAPL_US_EQ")
    err = _error(400, body, request=order)
    assert type(err) is OrderRejected and err.broker_code == "instrument-close-only-mode"
    assert "Close only mode" in str(err)


def test_legacy_body_keeps_code_and_clarification():
    order = protocol.place_order(OrderRequest(Instrument("AAPL", Market.US_STOCKS), Side.SELL, qty=1,
                                              client_order_id="c"), "AAPL_US_EQ")
    err = _error(400, b'{"code":"SellingEquityNotOwned","clarification":"You do not own it"}', request=order)
    assert isinstance(err, InsufficientFunds) and err.broker_code == "SellingEquityNotOwned"
    assert err.broker_message == "You do not own it"
    err = _error(400, b'{"code":"PriceTooFar","clarification":"Price too far"}', request=order)
    assert type(err) is OrderRejected and err.broker_code == "PriceTooFar"


def test_status_codes_map_onto_the_core_tree():
    assert isinstance(_error(401, b""), AuthError)
    limited = _error(429, b"", headers={"x-ratelimit-reset": "1005", "date": "Thu, 01 Jan 1970 00:16:40 GMT"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 5.0
    assert isinstance(_error(429, b"", headers={"retry-after": "3"}), RateLimited)
    assert _error(429, b"", headers={"retry-after": "3"}).retry_after == 3.0
    assert type(_error(400, b'{"code":"X"}')).__name__ == "BrokerError"  # a 400 to a read is no rejection
    assert "unreadable" not in str(_error(502, b"<html>bad gateway</html>"))


def test_rate_limit_headers_use_the_server_clock():
    headers = {"x-ratelimit-limit": "6", "x-ratelimit-period": "60", "x-ratelimit-remaining": "4",
               "x-ratelimit-reset": "1060", "x-ratelimit-used": "2", "date": "Thu, 01 Jan 1970 00:16:40 GMT"}
    info = protocol.parse_rate_limit(headers, now=99999.0)
    assert (info.limit, info.remaining, info.used, info.period, info.reset_after) == (6, 4, 2, 60.0, 60.0)
    assert protocol.parse_rate_limit({}, now=0) is None


def test_every_endpoint_has_its_published_limit():
    assert protocol.LIMITS["account_summary"] == (1, 5.0) and protocol.LIMITS["place_limit"] == (1, 2.0)
    assert protocol.LIMITS["place_market"] == (50, 60.0) and protocol.LIMITS["history_orders"] == (6, 60.0)
    assert protocol.LIMITS["instruments"] == (1, 50.0)


# ------------------------------------------------------------------------------------------- pagination


def test_next_page_path_is_requested_verbatim_and_null_ends():
    first = protocol.history_orders(limit=2, cursor="1760346100000")
    assert protocol.url_for("https://demo.trading212.com", first) == (
        "https://demo.trading212.com/api/v0/equity/history/orders?limit=2&cursor=1760346100000")
    second = protocol.next_page("/api/v0/equity/history/orders?limit=2&cursor=1660015723000")
    assert second.endpoint == "history_orders" and not second.params
    assert protocol.url_for("https://demo.trading212.com", second) == (
        "https://demo.trading212.com/api/v0/equity/history/orders?limit=2&cursor=1660015723000")
    assert protocol.next_page(None) is None


def test_decimals_go_out_exact():
    written = protocol.dumps({"q": Decimal("0.10"), "p": Decimal("1E+2"), "n": Decimal("-3")})
    assert written == '{"q":0.1,"p":100,"n":-3}'


# ------------------------------------------------------------------------------------------- tickers


@pytest.mark.parametrize("symbol, market, ticker", [
    ("AAPL", Market.US_STOCKS, "AAPL_US_EQ"), ("BRK.B", Market.US_STOCKS, "BRK_B_US_EQ"),
    ("VUSA.L", Market.EU_STOCKS, "VUSAl_EQ"), ("SAP.DE", Market.EU_STOCKS, "SAPd_EQ"),
    ("ASML.AS", Market.EU_STOCKS, "ASML_NL_EQ"), ("AIR.PA", Market.EU_STOCKS, "AIRp_EQ"),
])
def test_tickers_map_both_ways(symbol, market, ticker):
    assert symbols.resolve(Instrument(symbol, market), CATALOG) == ticker
    back, back_market, _ = symbols.to_symbol(ticker, CATALOG[ticker])
    assert (back, back_market) == (symbol, market)


def test_gbx_lines_are_priced_in_pence():
    instrument = symbols.instrument_for("VUSAl_EQ", CATALOG["VUSAl_EQ"])
    assert instrument.currency == "GBX" and instrument.broker_ids["trading212"] == "VUSAl_EQ"
    assert symbols.money_per_price_unit("GBX") == Decimal("0.01")


def test_unknown_and_explicit_tickers():
    with pytest.raises(UnknownInstrument, match="TSLA"):
        symbols.resolve(Instrument("TSLA", Market.US_STOCKS), CATALOG)
    by_ticker = Instrument("X", Market.EU_STOCKS, broker_ids={"trading212": "SAPd_EQ"})
    by_isin = Instrument("SAP", Market.EU_STOCKS, broker_ids={"isin": "DE0007164600"})
    assert symbols.resolve(by_ticker, CATALOG) == symbols.resolve(by_isin, CATALOG) == "SAPd_EQ"


# ------------------------------------------------------------------------------------------- schedules


def test_working_schedule_open_and_close():
    data = [{"id": 1, "name": "NASDAQ", "workingSchedules": [{"id": 53, "timeEvents": [
        {"date": "2026-11-24T09:00:00Z", "type": "PRE_MARKET_OPEN"}, {"date": "2026-11-24T14:30:00Z", "type": "OPEN"},
        {"date": "2026-11-24T21:00:00Z", "type": "CLOSE"}, {"date": "2026-11-24T21:00:00Z", "type": "AFTER_HOURS_OPEN"},
        {"date": "2026-11-25T01:00:00Z", "type": "AFTER_HOURS_CLOSE"}]}]}]
    (name, events), = protocol.parse_exchanges(data).values()
    at = lambda text: datetime.fromisoformat(text).replace(tzinfo=timezone.utc)  # noqa: E731
    assert name == "NASDAQ"
    assert protocol.is_open(events, at("2026-11-24T15:00:00")) is True
    assert protocol.is_open(events, at("2026-11-24T10:00:00")) is False
    assert protocol.is_open(events, at("2026-11-24T10:00:00"), extended=True) is True
    assert protocol.is_open(events, at("2026-11-24T22:00:00")) is False
    assert protocol.is_open(events, at("2026-11-24T22:00:00"), extended=True) is True
    assert protocol.is_open(events, at("2026-11-23T22:00:00")) is None


# ------------------------------------------------------------------------------------------- settings


def _settings(**section):
    config = config_from_data({"brokers": {"trading212": section}}, source="<test>", env={})
    return config.brokers["trading212"]


def test_the_guide_block_loads_and_rate_limit_caps_the_total():
    settings = _settings(**GUIDE)
    assert isinstance(settings, Trading212Settings) and settings.practice is True
    assert settings.rate_limits.requests_per_minute == 120 and settings.rate_limit == 120
    with_secret = _settings(**GUIDE, secret_key="s3cr3t-value")
    assert with_secret.secret_key.reveal() == "s3cr3t-value" and "s3cr3t-value" not in repr(with_secret)


def test_practice_web_url_is_replaced_by_the_demo_api_host_with_one_warning(caplog):
    settings_mod._warned.clear()
    settings = _settings(**GUIDE)
    logger = logging.getLogger("test.t212")
    with caplog.at_level(logging.WARNING, logger="test.t212"):
        assert resolve_base_url(settings, live=False, logger=logger) == DEMO_URL
        assert resolve_base_url(settings, live=False, logger=logger) == DEMO_URL
    warnings = [r for r in caplog.records if "practice.trading212.com" in r.getMessage()]
    assert len(warnings) == 1 and DEMO_URL in warnings[0].getMessage()


def test_practice_and_live_never_mix():
    assert resolve_base_url(_settings(api_key="k"), live=False) == DEMO_URL
    with pytest.raises(LiveTradingRefused, match="--live"):
        resolve_base_url(_settings(api_key="k", practice=False), live=False)
    assert resolve_base_url(_settings(api_key="k", practice=False), live=True) == LIVE_URL
    with pytest.raises(ConfigError, match="live API but practice is true"):
        resolve_base_url(_settings(api_key="k", base_url=LIVE_URL), live=True)
    with pytest.raises(ConfigError, match="practice API but practice is false"):
        resolve_base_url(_settings(api_key="k", practice=False, base_url=DEMO_URL), live=True)
    assert resolve_base_url(_settings(api_key="k", base_url="http://127.0.0.1:9/api/v0"), live=False) == (
        "http://127.0.0.1:9")


def test_a_bad_rate_limit_is_one_clear_line():
    with pytest.raises(Exception) as caught:
        _settings(api_key="k", rate_limit=-1)
    assert "rate_limit" in str(caught.value)


# ------------------------------------------------------------------------------------------- local refusals


def _order(**kwargs):
    base = {"instrument": Instrument("AAPL", Market.US_STOCKS), "side": Side.BUY, "qty": Decimal(1),
            "client_order_id": "c"}
    return OrderRequest(**{**base, **kwargs})


@pytest.mark.parametrize("request_, capability", [
    (dict(qty=None, notional=Decimal(100)), "notional_orders"),
    (dict(type=OrderType.TRAILING_STOP, trail_percent=Decimal(1)), "order_type:trailing_stop"),
    (dict(type=OrderType.LIMIT, limit_price=Decimal(10), order_class=OrderClass.BRACKET,
          take_profit=TakeProfit(Decimal(12)), stop_loss=StopLoss(Decimal(9))), "order_class:bracket"),
    (dict(type=OrderType.LIMIT, limit_price=Decimal(10), time_in_force=TimeInForce.IOC), "time_in_force:ioc"),
    (dict(type=OrderType.LIMIT, limit_price=Decimal(10), post_only=True), "post_only"),
])
def test_what_the_api_lacks_is_not_supported(request_, capability):
    with pytest.raises(NotSupported) as caught:
        rules.check_order(_order(**request_), Trading212Settings())
    assert caught.value.capability == capability


def test_values_it_would_refuse_are_invalid_locally():
    with pytest.raises(InvalidOrder, match="decimals"):
        rules.check_order(_order(qty=Decimal("0.0000000001")), Trading212Settings())
    with pytest.raises(InvalidOrder, match="extended_hours"):
        rules.check_order(_order(type=OrderType.LIMIT, limit_price=Decimal(1), extended_hours=True),
                          Trading212Settings())
    rules.check_order(_order(qty=Decimal("0.1"), type=OrderType.LIMIT, limit_price=Decimal("100.23")),
                      Trading212Settings())
