"""Alpaca's websocket protocols without I/O: market data (JSON and msgpack) and trade_updates."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import msgpack
import pytest

from orch.errors import AuthError, BrokerUnavailable, PermissionDenied, ProtocolError
from orch.models import Instrument, Market, OrderStatus, Side
from orch.secret import Secret
from orch_alpaca import streams
from orch_alpaca.protocol import Credentials

AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTC/USD", Market.CRYPTO)


@pytest.fixture
def credentials(key, secret) -> Credentials:
    return Credentials(Secret(key), Secret(secret))


def streaming_session(credentials, **kwargs) -> streams.MarketDataSession:
    session = streams.MarketDataSession(credentials, {"AAPL": AAPL, "BTC/USD": BTC}, **kwargs)
    session.receive('[{"T":"success","msg":"connected"}]')
    session.receive('[{"T":"success","msg":"authenticated"}]')
    session.receive('[{"T":"subscription","trades":["AAPL","BTC/USD"],"quotes":["AAPL","BTC/USD"],"bars":[]}]')
    assert session.ready
    return session


def test_market_data_handshake(credentials, key, secret):
    session = streams.MarketDataSession(credentials, {"AAPL": AAPL, "MSFT": AAPL})
    assert session.start().send == ()  # the server speaks first
    out = session.receive('[{"T":"success","msg":"connected"}]')
    assert [json.loads(m) for m in out.send] == [{"action": "auth", "key": key, "secret": secret}]
    out = session.receive('[{"T":"success","msg":"authenticated"}]')
    assert [json.loads(m) for m in out.send] == [
        {"action": "subscribe", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"]}]
    assert not session.ready
    out = session.receive('[{"T":"subscription","trades":["AAPL"],"quotes":["AAPL"],"bars":[]}]')
    assert session.ready and out.send == ()
    (confirmed,) = out.items
    assert confirmed == streams.Subscribed(quotes=("AAPL",), trades=("AAPL",), missing=("MSFT",))


def test_quotes_and_trades_merge_into_quotes(credentials):
    session = streaming_session(credentials)
    out = session.receive('[{"T":"q","S":"AAPL","bx":"V","bp":189.2,"bs":2,"ax":"V","ap":189.25,"as":3,'
                          '"t":"2026-11-24T15:30:00.123456789Z","c":["R"],"z":"C"},'
                          '{"T":"q","S":"ZZZZ","bp":1,"ap":2,"t":"2026-11-24T15:30:00Z"}]')
    (quote,) = out.items  # a symbol not asked for is ignored
    assert (quote.instrument, quote.bid, quote.ask, quote.last) == (
        AAPL, Decimal("189.2"), Decimal("189.25"), None)
    # Alpaca's documented trade message: last price joins the latest bid/ask.
    out = session.receive('[{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,'
                          '"t":"2026-11-24T15:30:01.208Z","c":["@","I"],"z":"C"}]')
    (quote,) = out.items
    assert (quote.bid, quote.ask, quote.last) == (Decimal("189.2"), Decimal("189.25"), Decimal("126.55"))
    assert quote.timestamp == datetime(2026, 11, 24, 15, 30, 1, 208000, tzinfo=timezone.utc)
    # A trade before any quote still gives a Quote (last only).
    (first,) = session.receive('[{"T":"t","S":"BTC/USD","p":47990.5,"s":0.01,"t":"2026-11-24T15:30:02Z",'
                               '"i":1,"tks":"B"}]').items
    assert (first.instrument, first.last, first.bid) == (BTC, Decimal("47990.5"), None)


def test_data_before_subscription_is_ignored(credentials):
    session = streams.MarketDataSession(credentials, {"AAPL": AAPL})
    out = session.receive('[{"T":"q","S":"AAPL","bp":1,"ap":2,"t":"2026-11-24T15:30:00Z"}]')
    assert out.items == ()


def test_delayed_feed_marks_quotes(credentials):
    session = streaming_session(credentials, delayed=True)
    frame = '[{"T":"q","S":"AAPL","bp":1,"ap":2,"bs":1,"as":1,"t":"2026-11-24T15:30:00Z"}]'
    (quote,) = session.receive(frame).items
    assert quote.delayed


def test_msgpack_frames(credentials):
    session = streaming_session(credentials)
    stamp = msgpack.Timestamp(seconds=1764000000, nanoseconds=123456789)
    frame = msgpack.packb([{"T": "q", "S": "BTC/USD", "bp": 47982.6, "bs": 0.35901, "ap": 47993.71, "as": 0.2,
                            "t": stamp}])
    (quote,) = session.receive(frame).items
    # Floats on the wire come back as the decimals the server meant, never with binary noise.
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("47982.6"), Decimal("47993.71"), Decimal("0.35901"))
    assert quote.timestamp == datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("code, error", [(402, AuthError), (409, PermissionDenied), (405, PermissionDenied),
                                         (406, BrokerUnavailable), (407, BrokerUnavailable),
                                         (500, BrokerUnavailable), (400, ProtocolError)])
def test_stream_errors(credentials, code, error):
    session = streams.MarketDataSession(credentials, {"AAPL": AAPL})
    with pytest.raises(error) as caught:
        session.receive(json.dumps([{"T": "error", "code": code, "msg": "refused"}]))
    assert type(caught.value) is error and caught.value.broker_code == code


def test_unreadable_frames_are_protocol_errors(credentials):
    session = streams.MarketDataSession(credentials, {"AAPL": AAPL})
    for frame in ("not json", b"\xc1\xff", "[1, 2]"):
        with pytest.raises(ProtocolError):
            session.receive(frame)


# ----------------------------------------------------------------------------------------- trade_updates


def test_trade_updates_handshake(credentials, key, secret):
    session = streams.TradeUpdatesSession(credentials)
    (auth,) = session.start().send
    assert json.loads(auth) == {"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}
    # Paper sends binary frames holding JSON.
    out = session.receive(b'{"stream":"authorization","data":{"status":"authorized","action":"authenticate"}}')
    assert [json.loads(m) for m in out.send] == [{"action": "listen", "data": {"streams": ["trade_updates"]}}]
    assert not session.ready
    session.receive('{"stream":"listening","data":{"streams":["trade_updates"]}}')
    assert session.ready


def test_trade_updates_refused_key(credentials, secret):
    session = streams.TradeUpdatesSession(credentials)
    with pytest.raises(AuthError) as caught:
        session.receive('{"stream":"authorization","data":{"status":"unauthorized","action":"authenticate"}}')
    assert secret not in str(caught.value)


def test_documented_fill_event(credentials, load_raw):
    session = streams.TradeUpdatesSession(credentials)
    (update,) = session.receive(load_raw("trade_update_fill.json")).items
    assert update.event == "fill" and update.position_qty == Decimal("0")
    order = update.order
    assert (order.status, order.side, order.filled_qty) == (OrderStatus.FILLED, Side.SELL, Decimal("1790.86"))
    assert order.instrument == Instrument("SOL/USD", Market.CRYPTO)
    fill = update.fill
    assert (fill.fill_id, fill.qty, fill.price) == ("2f63ea93-423d-4169-b3f6-3fdafc10c418", Decimal("1790.86"),
                                                    Decimal("105.8988475"))
    assert (fill.broker_order_id, fill.client_order_id, fill.side) == (
        "4e7ad40f-2deb-4c2e-9c2a-31b7b0a0e2a1", "52e8bba4-ab9b-4d25-9e4a-8b4e4b8a4b67", Side.SELL)
    assert fill.timestamp == datetime(2022, 4, 19, 13, 45, 4, 320000, tzinfo=timezone.utc)


def test_non_fill_events_carry_no_fill(load):
    message = load("trade_update_fill.json")
    data = message["data"]
    canceled = {"event": "canceled", "timestamp": data["timestamp"],
                "order": {**data["order"], "status": "canceled", "filled_qty": "0"}}
    update = streams.parse_trade_update(canceled)
    assert update.fill is None and update.order.status is OrderStatus.CANCELED
    with pytest.raises(ProtocolError):
        streams.parse_trade_update({"event": "fill", "order": data["order"]})  # a fill without qty/price
