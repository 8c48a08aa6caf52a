"""Market streams and the user data stream: the sans-IO sessions on documented payloads, and the plugin's
connection against the simulator (gap reported after a drop, executionReport from the WebSocket API)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import trio

from orch.config import config_from_data
from orch.context import ConnectContext
from orch.errors import AuthError, ProtocolError
from orch.models import Instrument, Market, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from orch.plugins import load_plugin
from orch.resilience import RateLimiter
from orch.secret import Secret
from orch.sim.runner import start_simulator

from orch_binance import signing
from orch_binance.connection import BinanceConnection
from orch_binance.sim import BinanceSim
from orch_binance.protocol import Credentials
from orch_binance.streams import Gap, Kline, MarketStreamSession, UserDataSession

BTC = Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")
D = Decimal

# web-socket-streams.md payloads.
BOOK = {"u": 400900217, "s": "BTCUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}
TRADE = {"e": "trade", "E": 1672515782136, "s": "BTCUSDT", "t": 12345, "p": "0.001", "q": "100", "T": 1672515782136,
         "m": True, "M": True}
KLINE = {"e": "kline", "E": 1672515782136, "s": "BTCUSDT", "k": {
    "t": 1672515780000, "T": 1672515839999, "s": "BTCUSDT", "i": "1m", "f": 100, "L": 200, "o": "0.0010",
    "c": "0.0020", "h": "0.0025", "l": "0.0015", "v": "1000", "n": 100, "x": False, "q": "1.0000", "V": "500",
    "Q": "0.500", "B": "123456"}}


def test_market_session_subscribes_then_builds_quotes_from_the_book_and_trades():
    session = MarketStreamSession({"BTCUSDT": BTC}, intervals=["1m", "5m"])
    sent = json.loads(session.start().send[0])
    assert sent == {"method": "SUBSCRIBE", "id": 1, "params": [
        "btcusdt@bookTicker", "btcusdt@trade", "btcusdt@kline_1m", "btcusdt@kline_5m"]}
    assert session.receive('{"result":null,"id":1}').items == () and session.ready
    assert session.receive(json.dumps(BOOK)).items == ()  # no server time seen yet
    assert session.receive(json.dumps({"stream": "btcusdt@trade", "data": TRADE})).items == ()  # no book yet
    (kline,) = session.receive(json.dumps(KLINE)).items
    assert isinstance(kline, Kline) and kline.close == D("0.0020") and kline.interval == "1m" and not kline.closed
    (quote,) = session.receive(json.dumps(BOOK)).items
    assert (quote.bid, quote.ask, quote.bid_size, quote.last) == (D("25.3519"), D("25.3652"), D("31.21"), D("0.001"))
    assert quote.timestamp.year == 2022
    (traded,) = session.receive(json.dumps({**TRADE, "p": "25.36"})).items
    assert traded.last == D("25.36") and traded.bid == quote.bid


def test_market_session_refusal_ends_the_stream():
    session = MarketStreamSession({"BTCUSDT": BTC})
    session.start()
    with pytest.raises(ProtocolError, match="Invalid request"):
        session.receive('{"code":2,"msg":"Invalid request: unknown stream","id":1}')


EXECUTION = {"e": "executionReport", "E": 1499405658658, "s": "BTCUSDT", "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY",
             "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000", "F": "0.00000000",
             "g": -1, "C": "", "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4293153, "l": "0.40000000",
             "z": "0.40000000", "L": "0.10264410", "n": "0.0004", "N": "BTC", "T": 1499405658657, "t": 77,
             "I": 8641984, "w": True, "m": False, "M": False, "O": 1499405658657, "Z": "0.04105764",
             "Y": "0.04105764", "Q": "0.00000000", "W": 1499405658657, "V": "NONE"}


def test_user_data_session_signs_its_subscription_and_reads_execution_reports():
    credentials = Credentials(Secret("key-0123456789"), Secret("secret-0123456789"))
    session = UserDataSession(credentials, timestamp_ms=lambda: 1700000000000)
    message = json.loads(session.start().send[0])
    assert message["method"] == "userDataStream.subscribe.signature"
    params = message["params"]
    assert params["signature"] == signing.ws_api_signature("secret-0123456789", params)
    session.receive('{"id":"orch-uds","status":200,"result":{"subscriptionId":0}}')
    assert session.ready and session.subscription == 0
    (report,) = session.receive(json.dumps({"subscriptionId": 0, "event": EXECUTION})).items
    assert report.order.status is OrderStatus.PARTIALLY_FILLED and report.order.filled_qty == D("0.4")
    assert report.fill.qty == D("0.4") and report.fill.fee == D("0.0004") and report.fill.fee_currency == "BTC"
    refused = UserDataSession(credentials, timestamp_ms=lambda: 1)
    with pytest.raises(AuthError, match="Signature"):
        refused.receive('{"id":"orch-uds","status":400,"error":{"code":-1022,"msg":"Signature for this request is '
                        'not valid."}}')


# ------------------------------------------------------------------------------------- against the simulator


@pytest.fixture
async def setup(nursery):
    plugin = load_plugin("binance")
    running = await start_simulator(nursery, plugin.hooks["orch_simulator"]())
    settings = config_from_data({"brokers": {"binance": running.config}}, source="<t>", env={}).brokers["binance"]
    limiter = RateLimiter.from_settings(settings.rate_limits, plugin.info.rate_limits, name="binance")
    conn = await BinanceConnection(settings, ConnectContext("binance", nursery, limiter)).open()
    yield running, conn
    await conn.aclose()


async def test_a_dropped_market_stream_resubscribes_and_reports_the_gap(setup, autojump_clock):
    running, conn = setup
    stream = conn.stream_market([BTC])
    kinds = set()
    with trio.fail_after(120):
        async for item in stream:
            kinds.add(type(item).__name__)
            if {"Quote", "Kline"} <= kinds:
                break
        running.faults.set(ws_drop_after=5)  # every connection is closed after five messages
        async for item in stream:
            if isinstance(item, Gap):
                break
        running.faults.set(ws_drop_after=None)
    assert stream.gaps and stream.gaps[0].seconds > 0
    await stream.aclose()


async def test_execution_reports_arrive_from_the_user_data_stream(setup):
    running, conn = setup
    stream = conn.user_data()
    with trio.fail_after(15):
        async def place() -> None:
            while BinanceSim.of(running.engine).user_streams < 1:  # subscribed before the order goes
                await trio.sleep(0.05)
            await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.01"), type=OrderType.MARKET,
                                                time_in_force=TimeInForce.GTC, client_order_id="orch-uds-1"))

        async with trio.open_nursery() as tasks:
            tasks.start_soon(place)
            reports = []
            async for report in stream:
                reports.append(report)
                if report.order.status is OrderStatus.FILLED:
                    break
    assert [r.execution_type for r in reports] == ["NEW", "TRADE"]
    assert reports[-1].order.client_order_id == "orch-uds-1" and reports[-1].fill.qty == D("0.01")
    await stream.aclose()
