"""The Alpaca simulator's pure parts: order bodies, stream sessions and framing, the request budget, JSON
shapes. No sockets."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import msgpack
import pytest

from orch.sim.clock import ALL_OPEN, SimClock
from orch.sim.engine import Engine
from orch.sim.instruments import UnknownSymbol
from orch.sim.market import MarketModel

from orch_alpaca.sim import errors, orderbody, streams, wire
from orch_alpaca.sim.listing import Listing
from orch_alpaca.sim.ratelimit import RateLimiter

MARKET = MarketModel(seed=3)
LISTING = Listing(MARKET)


def parse(body, price=Decimal("100")):
    return orderbody.parse_new_order(body, LISTING.resolve, lambda info, side: price)


def refused(body, price=Decimal("100")) -> errors.AlpacaError:
    with pytest.raises(errors.AlpacaError) as caught:
        parse(body, price)
    return caught.value


BASE = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"}


# ------------------------------------------------------------------------------------- order bodies


def test_numbers_are_accepted_as_json_numbers_or_strings_without_float_noise():
    as_numbers = parse({**BASE, "type": "limit", "qty": 1.0, "limit_price": 190.1})
    as_strings = parse({**BASE, "type": "limit", "qty": "1", "limit_price": "190.10"})
    assert as_numbers.fields["qty"] == as_strings.fields["qty"] == Decimal(1)
    assert as_numbers.fields["limit_price"] == Decimal("190.1") == as_strings.fields["limit_price"]
    assert str(as_numbers.fields["limit_price"]) == "190.1"


@pytest.mark.parametrize("body, status, code, text", [
    ({**BASE, "symbol": "NOSUCHSYMBOL"}, 422, 40010001, "asset NOSUCHSYMBOL not found"),
    ({**BASE, "symbol": "SAP.DE"}, 422, 40010001, "asset SAP.DE not found"),
    ({k: v for k, v in BASE.items() if k != "symbol"}, 422, 40010001, "symbol is required"),
    ({**BASE, "qty": None}, 422, 40010001, "qty or notional is required"),
    ({**BASE, "notional": "10"}, 422, 40010001, "only one of qty or notional"),
    ({**BASE, "qty": "0"}, 422, 40010001, "qty must be > 0"),
    ({**BASE, "qty": "0.0000000001"}, 422, 40010001, "at most 9 decimal places"),
    ({**BASE, "side": "hold"}, 422, 40010001, "invalid side"),
    ({**BASE, "type": "iceberg"}, 422, 40010001, "invalid order type"),
    ({**BASE, "type": "limit"}, 422, 40010001, "limit orders require a limit price"),
    ({**BASE, "type": "stop"}, 422, 40010001, "stop orders require a stop price"),
    ({**BASE, "type": "limit", "limit_price": "190.123"}, 422, 42210000,
     "invalid limit_price 190.123. sub-penny increment does not fulfill minimum pricing criteria"),
    ({**BASE, "type": "limit", "limit_price": "0.12345"}, 422, 42210000, "sub-penny"),
    ({**BASE, "type": "trailing_stop"}, 422, 40010001, "exactly one of trail_price or trail_percent"),
    ({**BASE, "extended_hours": True}, 422, 40010001, 'only type="limit" is allowed for extended hours'),
    ({**BASE, "type": "limit", "limit_price": "10", "time_in_force": "gtc", "extended_hours": True}, 422,
     40010001, 'only time_in_force="day"'),
    ({**BASE, "qty": "0.5", "time_in_force": "gtc"}, 422, 40010001, "fractional orders must be DAY orders"),
    ({**BASE, "qty": None, "notional": "100", "type": "limit", "limit_price": "5"}, 422, 40010001,
     "notional orders must be market orders"),
    ({**BASE, "symbol": "BTC/USD", "type": "stop", "stop_price": "1", "time_in_force": "gtc"}, 422, 40010001,
     "invalid order type for crypto order"),
    ({**BASE, "symbol": "BTC/USD"}, 422, 40010001, "invalid crypto time_in_force"),
    ({**BASE, "client_order_id": "x" * 129}, 422, 40010001, "no more than 128 characters"),
    ("not an object", 400, 40010000, "request body format is invalid"),
])
def test_alpaca_refusals_carry_status_code_and_message(body, status, code, text):
    error = refused(body)
    assert (error.status, error.code) == (status, code)
    assert text in error.message
    assert error.body() == {"code": code, "message": error.message}


def test_bracket_legs_are_checked_against_the_base_price():
    bracket = {**BASE, "order_class": "bracket", "take_profit": {"limit_price": 110},
               "stop_loss": {"stop_price": 95, "limit_price": 94.5}}
    accepted = parse(bracket)
    assert accepted.fields["take_profit"] == Decimal(110)
    assert accepted.fields["stop_loss"] == Decimal(95)
    assert accepted.fields["stop_loss_limit_price"] == Decimal("94.5")
    assert "require take_profit" in refused({**bracket, "take_profit": None}).message
    assert "base_price - 0.01" in refused({**bracket, "stop_loss": {"stop_price": "100"}}).message
    assert "take_profit.limit_price must be >= base_price" in refused(
        {**bracket, "take_profit": {"limit_price": "99"}}).message
    assert "DAY or GTC" in refused({**bracket, "time_in_force": "ioc"}).message
    # A limit entry is its own base price.
    assert parse({**bracket, "type": "limit", "limit_price": "96"}, price=Decimal(500))


def test_oco_and_oto_shapes():
    oco = {**BASE, "side": "sell", "type": "limit", "order_class": "oco", "take_profit": {"limit_price": "120"},
           "stop_loss": {"stop_price": "90"}}
    parsed = parse(oco)
    assert parsed.fields["limit_price"] is None and parsed.fields["take_profit"] == Decimal(120)
    assert "oco orders must be limit orders" in refused({**oco, "type": "market"}).message
    oto = {**BASE, "order_class": "oto", "stop_loss": {"stop_price": "90"}}
    assert parse(oto).fields["stop_loss"] == Decimal(90)
    assert "exactly one of take_profit or stop_loss" in refused(
        {**oto, "take_profit": {"limit_price": "120"}}).message


def test_replace_body():
    change = orderbody.parse_replace({"qty": 2, "limit_price": "101.5", "time_in_force": "gtc"}, crypto=False)
    assert (change.qty, change.limit_price, change.time_in_force) == (Decimal(2), Decimal("101.5"), "gtc")
    with pytest.raises(errors.AlpacaError) as caught:
        orderbody.parse_replace({"limit_price": "1.001"}, crypto=False)
    assert caught.value.code == 42210000
    assert orderbody.parse_replace(None, crypto=True).qty is None


# ------------------------------------------------------------------------------------- listing


def test_listing_reads_alpaca_symbol_forms():
    assert LISTING.resolve("AAPL").symbol == "AAPL"
    assert LISTING.resolve("aapl:NASDAQ:us_equity").symbol == "AAPL"
    btc = LISTING.resolve("BTC/USD")
    assert LISTING.resolve("BTCUSD") == btc
    assert LISTING.resolve(wire.asset_id(btc)) == btc
    for unknown in ("NOSUCHSYMBOL", "EURUSD", "SAP.DE", "BTC/EUR", "AAPL::crypto"):
        with pytest.raises(UnknownSymbol):
            LISTING.resolve(unknown)
    assert LISTING.resolve("BTCUSD", legacy_crypto=True)
    with pytest.raises(UnknownSymbol):
        LISTING.resolve("BTCUSD", legacy_crypto=False)


# ------------------------------------------------------------------------------------- wire shapes


def test_order_json_has_every_documented_field_with_strings_for_decimals():
    engine = Engine("alpaca", clock=SimClock(wall=ALL_OPEN, frozen=True), market=MarketModel(seed=1))
    engine.open_account("A", cash=100_000)
    order = engine.place_order(symbol="AAPL", side="buy", qty="2", type="limit", limit_price="10",
                               time_in_force="gtc", client_order_id="c1")
    body = wire.order_json(order, engine.market.info("AAPL"))
    for name in ("id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at", "expired_at",
                 "expires_at", "canceled_at", "failed_at", "replaced_at", "replaced_by", "replaces", "asset_id",
                 "symbol", "asset_class", "notional", "qty", "filled_qty", "filled_avg_price", "order_class",
                 "order_type", "type", "side", "time_in_force", "limit_price", "stop_price", "status",
                 "extended_hours", "legs", "trail_percent", "trail_price", "hwm", "position_intent"):
        assert name in body, name
    assert (body["qty"], body["limit_price"], body["filled_qty"]) == ("2", "10", "0")
    assert body["created_at"] == "2024-06-04T14:00:00.000000Z"
    assert body["order_class"] == "" and body["status"] == "new" and body["asset_class"] == "us_equity"
    assert json.loads(json.dumps(body)) == body


def test_plain_notation_and_rfc3339():
    assert wire.dec(Decimal("1E+2")) == "100"
    assert wire.dec(Decimal("0.50")) == "0.5"
    assert wire.ts(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)) == "2024-01-02T03:04:05.000006Z"
    assert wire.num(Decimal("5.00")) == 5 and isinstance(wire.num(Decimal("5.5")), float)


# ------------------------------------------------------------------------------------- streams


def _md_session(**kwargs):
    claimed = []
    session = streams.MarketDataSession(crypto=False, check_key=lambda k, s: (k, s) == ("K", "S"),
                                        claim=lambda key: not claimed and not claimed.append(key),
                                        release=lambda key: claimed.remove(key), **kwargs)
    return session, claimed


def test_market_data_session_flow():
    session, claimed = _md_session(symbol_limit=2)
    assert session.greet() == [{"T": "success", "msg": "connected"}]
    assert session.receive({"action": "subscribe", "quotes": ["AAPL"]}) == [
        {"T": "error", "code": 401, "msg": "not authenticated"}]
    assert session.receive({"action": "auth", "key": "K", "secret": "S"}) == [
        {"T": "success", "msg": "authenticated"}]
    assert claimed == ["K"]
    assert session.receive({"action": "auth", "key": "K", "secret": "S"})[0]["code"] == 403
    reply = session.receive({"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL", "MSFT"]})[0]
    assert reply["T"] == "subscription"
    assert (reply["trades"], reply["quotes"], reply["bars"]) == (["AAPL"], ["AAPL", "MSFT"], [])
    # The reply is the full set, not the change.
    reply = session.receive({"action": "subscribe", "trades": ["MSFT"]})[0]
    assert (reply["trades"], reply["quotes"]) == (["AAPL", "MSFT"], ["AAPL", "MSFT"])
    assert session.receive({"action": "subscribe", "quotes": ["TSLA"]}) == [
        {"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
    reply = session.receive({"action": "unsubscribe", "trades": ["AAPL"]})[0]
    assert reply["trades"] == ["MSFT"]
    assert session.receive({"hello": 1}) == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
    session.close()
    assert claimed == []


def test_market_data_auth_failures():
    session, claimed = _md_session()
    session.greet()
    assert session.receive({"action": "auth", "key": "K", "secret": "wrong"}) == [
        {"T": "error", "code": 402, "msg": "auth failed"}]
    assert session.closing and claimed == []
    # Handshake headers authenticate at once; a key whose one connection is taken gets 406.
    first = streams.MarketDataSession(crypto=False, check_key=lambda k, s: True)
    assert first.greet("K", "S")[1] == {"T": "success", "msg": "authenticated"}
    second = streams.MarketDataSession(crypto=False, check_key=lambda k, s: True, claim=lambda key: False)
    assert second.greet("K", "S") == [{"T": "success", "msg": "connected"},
                                      {"T": "error", "code": 406, "msg": "connection limit exceeded"}]


def test_msgpack_frames_carry_timestamp_extensions():
    when = datetime(2024, 6, 4, 14, 0, 0, 123456, tzinfo=timezone.utc)
    record = {"T": "q", "S": "AAPL", "t": when, "bp": 1.5}
    frame = streams.encode_market([record], msgpack_mode=True)
    assert isinstance(frame, bytes)
    # What alpaca-py does with it: unpack with defaults, then call .to_datetime() on "t".
    unpacked = msgpack.unpackb(frame)
    assert isinstance(unpacked[0]["t"], msgpack.Timestamp)
    assert unpacked[0]["t"].to_datetime() == when
    ext = msgpack.unpackb(frame, ext_hook=lambda code, data: code, timestamp=0)
    assert ext[0]["t"].to_datetime() == when
    text = streams.encode_market([record], msgpack_mode=False)
    assert json.loads(text) == [{"T": "q", "S": "AAPL", "t": "2024-06-04T14:00:00.123456Z", "bp": 1.5}]


def test_trade_updates_session():
    session = streams.TradeUpdatesSession(check_key=lambda k, s: (k, s) == ("K", "S"))
    listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
    assert session.receive(listen) == [
        {"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}}]
    assert session.receive({"action": "authenticate", "data": {"key_id": "K", "secret_key": "x"}})[0][
        "data"]["status"] == "unauthorized"
    assert session.receive({"action": "authenticate", "data": {"key_id": "K", "secret_key": "S"}}) == [
        {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}]
    assert session.receive(listen) == [{"stream": "listening", "data": {"streams": ["trade_updates"]}}]
    assert session.listening
    assert session.receive({"action": "listen", "data": {"streams": []}})[0]["data"]["streams"] == []
    assert not session.listening
    frame = streams.encode_trade({"stream": "listening", "data": {"streams": []}})
    assert isinstance(frame, bytes) and json.loads(frame)["stream"] == "listening"


def test_client_frames_may_be_json_text_binary_or_msgpack():
    message = {"action": "auth", "key": "K", "secret": "S"}
    assert streams.decode_client(json.dumps(message)) == message
    assert streams.decode_client(json.dumps(message).encode()) == message
    assert streams.decode_client(msgpack.packb(message)) == message
    with pytest.raises(ValueError):
        streams.decode_client(b"\xc1")


# ------------------------------------------------------------------------------------- budget


def test_rate_limiter_window_and_headers():
    now = [100.0]
    limiter = RateLimiter(3, monotonic=lambda: now[0], epoch=lambda: 1_700_000_000.0 + now[0])
    budgets = [limiter.hit("k") for _ in range(4)]
    assert [b.allowed for b in budgets] == [True, True, True, False]
    assert [b.remaining for b in budgets] == [2, 1, 0, 0]
    assert budgets[0].headers() == {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2",
                                    "X-RateLimit-Reset": str(1_700_000_000 + 160)}
    assert limiter.hit("other").allowed
    now[0] += 59.5
    assert not limiter.hit("k").allowed
    now[0] += 0.5
    fresh = limiter.hit("k")
    assert fresh.allowed and fresh.remaining == 2
