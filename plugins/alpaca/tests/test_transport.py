"""The trio transport: REST through httpx.MockTransport, streams through in-memory websockets on trio's
mock clock (reconnect, resubscribe, silence detection), and the hooks on top."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest
import trio
import trio_websocket

from orch.context import ConnectContext
from orch.errors import (AuthError, BrokerUnavailable, InvalidOrder, LiveTradingRefused, NotSupported,
                         OrderRejected)
from orch.models import (Instrument, Market, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType, Side,
                         TimeInForce)
from orch_alpaca import plugin
from orch_alpaca.connection import AlpacaConnection
from orch_alpaca.settings import AlpacaSettings, MarketDataSettings, Subscription
from orch_alpaca.transport import StreamPolicy

AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTC/USD", Market.CRYPTO)
DATE = "Mon, 24 Nov 2025 16:00:00 GMT"  # = 1764000000


def encode(body) -> bytes:
    # The fixtures hold Decimals; a float's repr is the same shortest text, which is what the wire carries.
    return body if isinstance(body, bytes) else json.dumps(body, default=float).encode()


class FakeAlpaca:
    """An httpx MockTransport handler: routes by (method, path) to canned answers, records requests."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"message": "no route"})
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        status, body = answer
        return httpx.Response(status, content=encode(body), headers={
            "Date": DATE, "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "150",
            "X-RateLimit-Reset": "1764000030"})


@asynccontextmanager
async def connected(settings, limiter, routes, *, live=False, **kwargs):
    fake = FakeAlpaca(routes)
    async with trio.open_nursery() as nursery:
        context = ConnectContext(broker="alpaca", nursery=nursery, limiter=limiter, live=live)
        conn = AlpacaConnection(settings, context, http_transport=httpx.MockTransport(fake), **kwargs)
        try:
            yield conn, fake
        finally:
            await conn.aclose()
            nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------------------ REST


async def test_requests_are_signed_charged_and_observed(settings, limiter, load, key, secret):
    async with connected(settings, limiter, {("GET", "/v2/account"): (200, load("account.json"))}) as (conn, fake):
        assert await conn.open() is conn
        account = await conn.account()
    assert account.account_id == "PA2JRW8S5VY5" and account.paper
    sent = fake.requests[-1]
    assert str(sent.url) == "https://paper-api.alpaca.markets/v2/account"
    assert (sent.headers["APCA-API-KEY-ID"], sent.headers["APCA-API-SECRET-KEY"]) == (key, secret)
    assert limiter.acquired == [(1, False)] * 2
    assert limiter.observed[-1] == {"used": None, "remaining": 150, "limit": 200, "reset_after": 30.0}


async def test_refused_keys_fail_the_connect(settings, limiter, secret):
    routes = {("GET", "/v2/account"): (401, {"message": "unauthorized."})}
    async with connected(settings, limiter, routes) as (conn, _):
        with pytest.raises(AuthError) as caught:
            await conn.open()
    assert secret not in str(caught.value)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"),
                                     httpx.RemoteProtocolError("reset")])
async def test_network_failures_are_unavailable(settings, limiter, failure):
    async with connected(settings, limiter, {("POST", "/v2/orders"): failure}) as (conn, _):
        with pytest.raises(BrokerUnavailable):
            await conn.place_order(OrderRequest(instrument=AAPL, side=Side.BUY, qty="1", client_order_id="c1"))
    assert limiter.acquired == [(1, True)]  # charged as an order, and sent once: never retried here


async def test_place_order(settings, limiter, load):
    routes = {("POST", "/v2/orders"): (200, load("order_notional_accepted.json"))}
    request = OrderRequest(instrument=AAPL, side=Side.BUY, notional="500", client_order_id="orch-9")
    async with connected(settings, limiter, routes) as (conn, fake):
        placed = await plugin.orch_place_order(conn, request)
    assert placed.instrument is AAPL and placed.status is OrderStatus.ACCEPTED
    (sent,) = fake.requests
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day",
                                        "notional": "500", "client_order_id": "orch-9"}


async def test_local_refusal_sends_nothing(settings, limiter):
    request = OrderRequest(instrument=AAPL, side=Side.BUY, qty="1", type=OrderType.LIMIT, limit_price="10.001")
    async with connected(settings, limiter, {}) as (conn, fake):
        with pytest.raises(InvalidOrder, match="sub-penny"):
            await conn.place_order(request)
        with pytest.raises(NotSupported):
            await conn.place_order(OrderRequest(instrument=BTC, side=Side.BUY, qty="1", type=OrderType.STOP,
                                                stop_price="1", time_in_force=TimeInForce.GTC))
    assert fake.requests == [] and limiter.acquired == []


async def test_accepted_but_unreadable_order_is_an_unknown_outcome(settings, limiter):
    routes = {("POST", "/v2/orders"): (200, b"{}")}
    async with connected(settings, limiter, routes) as (conn, _):
        with pytest.raises(BrokerUnavailable) as caught:
            await conn.place_order(OrderRequest(instrument=AAPL, side=Side.BUY, qty="1", client_order_id="c1"))
    assert not isinstance(caught.value, OrderRejected)


async def test_get_order_by_client_id_and_proven_absence(settings, limiter, load):
    routes = {("GET", "/v2/orders:by_client_order_id"): (200, load("order_crypto_partial.json")),
              ("GET", "/v2/orders/gone"): (404, {"code": 40410000, "message": "order not found"})}
    async with connected(settings, limiter, routes) as (conn, fake):
        found = await plugin.orch_get_order(conn, OrderRef(client_order_id="orch-btc-1"))
        missing = await plugin.orch_get_order(conn, OrderRef(broker_order_id="gone"))
    assert found.client_order_id == "orch-btc-1" and missing is None
    assert fake.requests[0].url.params["client_order_id"] == "orch-btc-1"


async def test_cancel_by_client_id_looks_the_id_up_first(settings, limiter, load):
    order_id = "c0ffee00-1111-4222-8333-444455556666"
    routes = {("GET", "/v2/orders:by_client_order_id"): (200, load("order_crypto_partial.json")),
              ("DELETE", f"/v2/orders/{order_id}"): (204, b"")}
    async with connected(settings, limiter, routes) as (conn, fake):
        assert await plugin.orch_cancel_order(conn, OrderRef(client_order_id="orch-btc-1")) is None
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("GET", "/v2/orders:by_client_order_id"), ("DELETE", f"/v2/orders/{order_id}")]


async def test_replace_and_list(settings, limiter, load):
    def replaced(request):
        assert json.loads(request.content) == {"qty": "3", "limit_price": "401.25"}
        return httpx.Response(200, content=encode({**load("orders_list.json")[1], "id": "new", "replaces": "a2"}))

    routes = {("PATCH", "/v2/orders/a2"): replaced, ("GET", "/v2/orders"): (200, load("orders_list.json"))}
    async with connected(settings, limiter, routes) as (conn, fake):
        new = await plugin.orch_replace_order(conn, OrderRef(broker_order_id="a2"), "3", Decimal("401.25"), None)
        listed = await plugin.orch_list_orders(conn, OrderFilter(status="all", instrument=AAPL, limit=10))
    assert new.broker_order_id == "new"
    assert [o.broker_order_id for o in listed] == ["a1", "a2"]
    assert limiter.acquired == [(1, True), (1, False)]
    params = fake.requests[1].url.params
    assert (params["status"], params["symbols"], params["limit"], params["nested"]) == (
        "all", "AAPL", "10", "true")


async def test_positions_and_account(settings, limiter, load):
    routes = {("GET", "/v2/positions"): (200, load("positions.json")),
              ("GET", "/v2/account"): (200, load("account.json"))}
    async with connected(settings, limiter, routes) as (conn, _):
        positions = await plugin.orch_positions(conn)
        account = await plugin.orch_account(conn)
    assert [p.instrument.symbol for p in positions] == ["AAPL", "BTC/USD", "TSLA"]
    assert account.buying_power == Decimal("262113.632")


async def test_stock_quote_falls_back_to_the_last_trade_when_the_book_is_empty(settings, limiter, load):
    routes = {("GET", "/v2/stocks/quotes/latest"): (200, load("latest_stock_quotes_closed.json")),
              ("GET", "/v2/stocks/trades/latest"): (200, load("latest_stock_trades.json"))}
    async with connected(settings, limiter, routes) as (conn, fake):
        quote = await plugin.orch_quote(conn, AAPL)
    assert (quote.bid, quote.ask, quote.last, quote.mid) == (None, None, Decimal("126.55"), Decimal("126.55"))
    assert fake.requests[0].url.host == "data.alpaca.markets"
    assert fake.requests[0].url.params["feed"] == "iex"


async def test_crypto_quote_is_one_request(settings, limiter, load):
    routes = {("GET", "/v1beta3/crypto/us/latest/quotes"): (200, load("latest_crypto_quotes.json"))}
    async with connected(settings, limiter, routes) as (conn, fake):
        quote = await plugin.orch_quote(conn, BTC)
    assert quote.mid == (Decimal("47982.6") + Decimal("47993.71")) / 2
    (sent,) = fake.requests
    assert sent.url.params["symbols"] == "BTC/USD"


async def test_a_disabled_subscription_is_refused_locally(limiter):
    settings = AlpacaSettings(api_key="PKCANARYKEY0123456789", secret_key="canary-secret-3f9a1c7e5b2d",
                              market_data=MarketDataSettings(subscription=Subscription(crypto=False)))
    async with connected(settings, limiter, {}) as (conn, fake):
        with pytest.raises(NotSupported, match="brokers.alpaca.market_data.subscription.crypto is false"):
            await conn.quote(BTC)
    assert fake.requests == []


async def test_list_fills_pages_and_filters(settings, limiter, load):
    first = [{**load("activities_fill.json")[0], "id": f"a{i}"} for i in range(100)]
    pages = iter([first, load("activities_fill.json")[1:]])
    routes = {("GET", "/v2/account/activities"): lambda request: httpx.Response(200, content=encode(next(pages)))}
    async with connected(settings, limiter, routes) as (conn, fake):
        fills = await plugin.orch_list_fills(conn, None, BTC)
    assert [f.instrument for f in fills] == [BTC]
    assert "page_token" not in fake.requests[0].url.params
    assert fake.requests[1].url.params["page_token"] == "a99"


async def test_live_is_refused_before_any_request(limiter):
    settings = AlpacaSettings(api_key="PKCANARYKEY0123456789", secret_key="canary-secret-3f9a1c7e5b2d",
                              paper=False)
    async with trio.open_nursery() as nursery:
        with pytest.raises(LiveTradingRefused):
            AlpacaConnection(settings, ConnectContext(broker="alpaca", nursery=nursery, limiter=limiter))
    async with connected(settings, limiter, {("GET", "/v2/account"): (200, {})}, live=True) as (conn, fake):
        assert conn.endpoints.trading == "https://api.alpaca.markets" and "LIVE" in repr(conn)


async def test_missing_keys_are_a_config_error_naming_the_variable(limiter):
    from orch.errors import ConfigError

    async with trio.open_nursery() as nursery:
        with pytest.raises(ConfigError) as caught:
            AlpacaConnection(AlpacaSettings(secret_key="canary-secret-3f9a1c7e5b2d"),
                             ConnectContext(broker="alpaca", nursery=nursery, limiter=limiter))
    assert caught.value.path == "brokers.alpaca.api_key" and "ORCH_ALPACA_API_KEY" in str(caught.value)


async def test_no_secret_reaches_logs_or_reprs(settings, limiter, load, key, secret, caplog):
    caplog.set_level(logging.DEBUG)
    routes = {("GET", "/v2/account"): (200, load("account.json"))}
    async with connected(settings, limiter, routes) as (conn, _):
        await conn.open()
        texts = [repr(conn), repr(conn.settings), repr(conn.credentials)]
    texts += [r.getMessage() for r in caplog.records]
    assert not any(key in t or secret in t for t in texts)


# ------------------------------------------------------------------------------------------------ streams


class FakeSocket:
    """One in-memory websocket connection; the test's server script holds the other end."""

    def __init__(self, answers_ping: bool) -> None:
        self.to_client, self._incoming = trio.open_memory_channel(100)
        self.sent: list[str] = []
        self._read = 0
        self._sent_event = trio.Event()
        self.answers_ping = answers_ping
        self.pings = 0

    async def get_message(self):
        frame = await self._incoming.receive()
        if frame is None:
            raise trio_websocket.ConnectionClosed(None)
        return frame

    async def send_message(self, message):
        self.sent.append(message)
        self._sent_event.set()
        self._sent_event = trio.Event()

    async def ping(self, payload=None):
        self.pings += 1
        if not self.answers_ping:
            await trio.sleep_forever()

    async def next_sent(self) -> dict:
        """The next message the client sent that the script has not read yet."""
        while len(self.sent) <= self._read:
            await self._sent_event.wait()
        self._read += 1
        return json.loads(self.sent[self._read - 1])


class FakeServer:
    """Hands out FakeSockets and runs one script per connection."""

    def __init__(self, nursery, scripts, answers_ping=True) -> None:
        self.nursery = nursery
        self.scripts = list(scripts)
        self.urls: list[str] = []
        self.sockets: list[FakeSocket] = []
        self.answers_ping = answers_ping

    @asynccontextmanager
    async def connect(self, url):
        if not self.scripts:
            await trio.sleep_forever()
        self.urls.append(url)
        socket = FakeSocket(self.answers_ping)
        self.sockets.append(socket)
        self.nursery.start_soon(self.scripts.pop(0), socket)
        yield socket


async def market_handshake(socket: FakeSocket) -> dict:
    await socket.to_client.send('[{"T":"success","msg":"connected"}]')
    assert (await socket.next_sent())["action"] == "auth"
    await socket.to_client.send('[{"T":"success","msg":"authenticated"}]')
    subscribe = await socket.next_sent()
    await socket.to_client.send(json.dumps([{"T": "subscription", "quotes": subscribe["quotes"],
                                             "trades": subscribe["trades"]}]))
    return subscribe


def quote_frame(symbol: str, bid: str) -> str:
    return (f'[{{"T":"q","S":"{symbol}","bp":{bid},"bs":1,"ap":{Decimal(bid) + 1},"as":1,'
            f'"t":"2026-11-24T15:30:00Z"}}]')


@asynccontextmanager
async def streaming(settings, limiter, scripts, *, answers_ping=True, silence=5.0):
    # On the autojump clock a deadlock would spin forever in virtual time; this turns it into a failure.
    with trio.fail_after(3600):
        async with _streaming(settings, limiter, scripts, answers_ping=answers_ping, silence=silence) as pair:
            yield pair


@asynccontextmanager
async def _streaming(settings, limiter, scripts, *, answers_ping, silence):
    async with trio.open_nursery() as server_nursery:
        server = FakeServer(server_nursery, scripts, answers_ping)
        policy = StreamPolicy(silence=silence, probe=2.0, backoff_initial=1.0, backoff_max=8.0)
        async with connected(settings, limiter, {}, ws_connect=server.connect, stream_policy=policy) as (conn, _):
            yield conn, server
        server_nursery.cancel_scope.cancel()


async def test_quote_stream_reconnects_and_resubscribes(settings, limiter, autojump_clock):
    async def drops_after_one_quote(socket):
        await market_handshake(socket)
        await socket.to_client.send(quote_frame("AAPL", "100"))
        await socket.to_client.send(None)  # the server drops the connection

    async def second(socket):
        await market_handshake(socket)
        await socket.to_client.send(quote_frame("AAPL", "101"))

    async with streaming(settings, limiter, [drops_after_one_quote, second]) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [AAPL])
        start = trio.current_time()
        first = await stream.__anext__()
        again = await stream.__anext__()
        await stream.aclose()
    assert (first.bid, again.bid) == (Decimal("100"), Decimal("101"))
    assert server.urls == ["wss://stream.data.alpaca.markets/v2/iex"] * 2
    subscribes = [json.loads(s.sent[1]) for s in server.sockets]
    assert subscribes == [{"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"]}] * 2
    assert trio.current_time() - start >= 0.5  # it backed off before reconnecting


async def test_a_silent_connection_is_replaced(settings, limiter, autojump_clock):
    async def goes_silent(socket):
        await market_handshake(socket)

    async def second(socket):
        await market_handshake(socket)
        await socket.to_client.send(quote_frame("BTC/USD", "40000"))

    async with streaming(settings, limiter, [goes_silent, second], answers_ping=False) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [BTC])
        start = trio.current_time()
        quote = await stream.__anext__()
        await stream.aclose()
    assert quote.instrument == BTC and quote.bid == Decimal("40000")
    assert len(server.sockets) == 2 and server.sockets[0].pings == 1
    assert server.urls[0] == "wss://stream.data.alpaca.markets/v1beta3/crypto/us"
    assert trio.current_time() - start >= 5.0 + 2.0  # silence, then an unanswered probe


async def test_a_mute_connection_that_answers_pings_is_replaced(settings, limiter, autojump_clock):
    # A pong proves the socket, not the feed: after the excused quiet periods the stream reconnects.
    async def mute(socket):
        await market_handshake(socket)
        await trio.sleep(3600)

    async def serve(socket):
        await market_handshake(socket)
        await socket.to_client.send(quote_frame("AAPL", "100"))

    async with streaming(settings, limiter, [mute, serve]) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [AAPL])
        quote = await stream.__anext__()
        await stream.aclose()
    assert quote.bid == Decimal("100")
    assert len(server.sockets) == 2
    assert server.sockets[0].pings == StreamPolicy().quiet_periods


async def test_stocks_and_crypto_stream_together(settings, limiter, autojump_clock):
    async def serve(socket):
        subscribe = await market_handshake(socket)
        await socket.to_client.send(quote_frame(subscribe["quotes"][0], "7"))

    async with streaming(settings, limiter, [serve, serve]) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [AAPL, BTC])
        got = {(await stream.__anext__()).instrument for _ in range(2)}
        await stream.aclose()
    assert got == {AAPL, BTC}
    assert sorted(server.urls) == ["wss://stream.data.alpaca.markets/v1beta3/crypto/us",
                                   "wss://stream.data.alpaca.markets/v2/iex"]


async def test_a_refused_key_ends_the_stream_without_retrying(settings, limiter, autojump_clock):
    async def refuses(socket):
        await socket.to_client.send('[{"T":"success","msg":"connected"}]')
        await socket.next_sent()
        await socket.to_client.send('[{"T":"error","code":402,"msg":"auth failed"}]')

    async with streaming(settings, limiter, [refuses, refuses]) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [AAPL])
        with pytest.raises(AuthError, match="auth failed"):
            await stream.__anext__()
        await stream.aclose()
    assert len(server.sockets) == 1


async def test_stream_refused_when_streaming_is_disabled(limiter, autojump_clock):
    settings = AlpacaSettings(api_key="PKCANARYKEY0123456789", secret_key="canary-secret-3f9a1c7e5b2d",
                              market_data=MarketDataSettings(real_time_streaming=False))
    async with streaming(settings, limiter, []) as (conn, server):
        stream = plugin.orch_stream_quotes(conn, [AAPL])
        with pytest.raises(NotSupported, match="real_time_streaming is false"):
            await stream.__anext__()
    assert server.sockets == []


async def test_order_stream_from_trade_updates(settings, limiter, load_raw, key, autojump_clock):
    async def trade_updates(socket):
        auth = await socket.next_sent()
        assert auth["action"] == "authenticate" and auth["data"]["key_id"] == key
        await socket.to_client.send(b'{"stream":"authorization","data":{"status":"authorized",'
                                    b'"action":"authenticate"}}')
        assert (await socket.next_sent())["action"] == "listen"
        await socket.to_client.send(b'{"stream":"listening","data":{"streams":["trade_updates"]}}')
        await socket.to_client.send(load_raw("trade_update_fill.json"))

    async with streaming(settings, limiter, [trade_updates]) as (conn, server):
        stream = plugin.orch_stream_orders(conn)
        order = await stream.__anext__()
        await stream.aclose()
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, Decimal("1790.86"))
    assert server.urls == ["wss://paper-api.alpaca.markets/stream"]
