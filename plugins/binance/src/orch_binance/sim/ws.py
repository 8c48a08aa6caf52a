"""Binance's websockets on the simulator: market streams (``/ws``, ``/ws/<stream>``, ``/stream?streams=``)
with live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, and the WebSocket API (``/ws-api/v3``) serving
``userDataStream.subscribe.signature`` (the user data stream since the REST listenKey was retired).

Streams carry bookTicker (each top-of-book change), trade (each change of the last trade) and kline
(every 2 s per interval, 1 s for ``1s``), stamped with the simulated time. Fault injection (drops,
silence) is applied underneath by :class:`orch.sim.asgi.FaultMiddleware`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import trio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from orch.models import OrderStatus, Side
from orch.sim.orders import EventKind, OrderEvent

from orch_binance import signing
from orch_binance.sim import wire
from orch_binance.sim.state import BinanceSim

INTERVALS = {"1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
             "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800,
             "1M": 2592000}
_NAME = re.compile(r"^([a-z0-9]+)@(bookTicker|trade|kline_([0-9]+[smhdwM]))$")


class _Socket:
    """One frame at a time: the reader answering and the pump pushing share the socket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = trio.Lock()
        self.open = True

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            if not self.open:
                return
            try:
                await self.ws.send_text(json.dumps(message, separators=(",", ":")))
            except (WebSocketDisconnect, OSError, RuntimeError):
                self.open = False

    async def receive(self) -> str | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.open = False
            return None
        return message.get("text") if message.get("text") is not None else (message.get("bytes") or b"").decode()


class _Kline:
    def __init__(self, start: int) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = None
        self.trades = 0
        self.sent_at = 0.0

    def add(self, price: Decimal) -> None:
        self.open = self.open if self.open is not None else price
        self.high = price if self.high is None else max(self.high, price)
        self.low = price if self.low is None else min(self.low, price)
        self.close = price
        self.trades += 1


def _ms(when: datetime) -> int:
    return wire.ms(when)


async def market_streams(ws: WebSocket) -> None:
    sim: BinanceSim = ws.app.state.sim
    path = ws.url.path.rstrip("/")
    combined = path == "/stream"
    initial: list[str] = []
    if combined:
        initial = [s for s in (ws.query_params.get("streams") or "").split("/") if s]
    elif path.startswith("/ws/"):
        initial = [s for s in path[len("/ws/"):].split("/") if s]
    await ws.accept()
    sim.counters[f"ws {'/stream' if combined else '/ws'}"] += 1
    socket = _Socket(ws)
    subscribed: dict[str, tuple[str, str, str | None]] = {}  # name -> (symbol, kind, interval)
    quotes = sim.engine.subscribe_quotes()
    klines: dict[str, _Kline] = {}
    last_trade: dict[str, tuple[Any, Any]] = {}
    counter = {"u": 400_900_000, "t": 12_000_000}

    def valid(name: str) -> tuple[str, str, str | None] | None:
        found = _NAME.match(name)
        if not found:
            return None
        symbol = found.group(1).upper()
        interval = found.group(3)
        if not sim.listed(symbol) or (interval is not None and interval not in INTERVALS):
            return None
        return symbol, "kline" if interval else found.group(2), interval

    def follow() -> None:
        wanted = {value[0] for value in subscribed.values()}
        stale = quotes.symbols - wanted
        if stale:
            quotes.discard(*stale)
        quotes.add(*(wanted - quotes.symbols))
        sim.stream_subscribers = max(0, sim.stream_subscribers)

    def add(names: list[str]) -> str | None:
        for name in names:
            if not isinstance(name, str) or valid(name) is None:
                return f"Invalid request: unknown stream {name!r}"
        for name in names:
            subscribed[name] = valid(name)
        follow()
        return None

    async def emit(name: str, data: dict[str, Any]) -> None:
        await socket.send({"stream": name, "data": data} if combined else data)

    async def pump() -> None:
        async for quote in quotes:
            if not socket.open:
                return
            now = _ms(quote.timestamp)
            trade = (quote.last, quote.last_size)
            traded = last_trade.get(quote.symbol) != trade
            last_trade[quote.symbol] = trade
            if traded:
                counter["t"] += 1
            for name, (symbol, kind, interval) in list(subscribed.items()):
                if symbol != quote.symbol:
                    continue
                if kind == "bookTicker":
                    counter["u"] += 1
                    await emit(name, {"u": counter["u"], "s": symbol, "b": wire.dec(quote.bid),
                                      "B": wire.dec(quote.bid_size), "a": wire.dec(quote.ask),
                                      "A": wire.dec(quote.ask_size)})
                elif kind == "trade" and traded:
                    await emit(name, {"e": "trade", "E": now, "s": symbol, "t": counter["t"],
                                      "p": wire.dec(quote.last), "q": wire.dec(quote.last_size), "T": now,
                                      "m": quote.last <= quote.bid, "M": True})
                elif kind == "kline":
                    seconds = INTERVALS[interval]
                    start = now // (seconds * 1000) * seconds * 1000
                    bar = klines.get(name)
                    closed_bar = None
                    if bar is None or bar.start != start:
                        closed_bar, bar = bar, _Kline(start)
                        klines[name] = bar
                    bar.add(quote.last)
                    every = 1.0 if seconds == 1 else 2.0
                    if closed_bar is not None and closed_bar.open is not None:
                        await emit(name, _kline(symbol, interval, closed_bar, seconds, now, closed=True))
                    if now / 1000 - bar.sent_at >= every:
                        bar.sent_at = now / 1000
                        await emit(name, _kline(symbol, interval, bar, seconds, now, closed=False))

    problem = add(initial) if initial else None
    if problem:
        await socket.send({"code": 2, "msg": problem})
        await ws.close(1008)
        quotes.close()
        return
    sim.stream_subscribers += 1
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            while socket.open:
                frame = await socket.receive()
                if frame is None:
                    break
                await socket.send(_control(frame, subscribed, add, follow))
            nursery.cancel_scope.cancel()
    finally:
        sim.stream_subscribers -= 1
        quotes.close()


def _kline(symbol: str, interval: str, bar: _Kline, seconds: int, now: int, *, closed: bool) -> dict[str, Any]:
    return {"e": "kline", "E": now, "s": symbol, "k": {
        "t": bar.start, "T": bar.start + seconds * 1000 - 1, "s": symbol, "i": interval, "f": 100,
        "L": 100 + bar.trades,
        "o": wire.dec(bar.open), "c": wire.dec(bar.close), "h": wire.dec(bar.high), "l": wire.dec(bar.low),
        "v": wire.dec(Decimal(bar.trades)), "n": bar.trades, "x": closed, "q": wire.dec(bar.close * bar.trades),
        "V": "0.00000000", "Q": "0.00000000", "B": "0"}}


def _control(frame: str, subscribed: dict[str, Any], add: Any, follow: Any) -> dict[str, Any]:
    try:
        message = json.loads(frame)
    except ValueError:
        return {"code": 3, "msg": "Invalid JSON: expected a JSON object"}
    if not isinstance(message, dict) or "method" not in message:
        return {"code": 2, "msg": "Invalid request: missing method", "id": None}
    ident = message.get("id")
    method = message.get("method")
    params = message.get("params") or []
    if method == "SUBSCRIBE":
        problem = add(list(params))
        return {"code": 2, "msg": problem, "id": ident} if problem else {"result": None, "id": ident}
    if method == "UNSUBSCRIBE":
        for name in params:
            subscribed.pop(name, None)
        follow()
        return {"result": None, "id": ident}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(subscribed), "id": ident}
    return {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": ident}


# ------------------------------------------------------------------------------------- WebSocket API

_EXEC = {EventKind.NEW: "NEW", EventKind.ACTIVATED: "NEW", EventKind.PARTIAL_FILL: "TRADE", EventKind.FILL: "TRADE",
         EventKind.CANCELED: "CANCELED", EventKind.EXPIRED: "EXPIRED", EventKind.REJECTED: "REJECTED",
         EventKind.MODIFIED: "NEW"}


def execution_report(event: OrderEvent) -> dict[str, Any] | None:
    kind = _EXEC.get(event.kind)
    if kind is None:
        return None
    order = event.order
    result = wire.order_result(order)
    fill = event.fill
    now = _ms(event.timestamp)
    return {
        "e": "executionReport", "E": now, "s": order.canonical, "c": order.client_order_id or "",
        "S": "BUY" if order.side is Side.BUY else "SELL", "o": result["type"], "f": result["timeInForce"],
        "q": result["origQty"], "p": result["price"], "P": result.get("stopPrice", "0.00000000"),
        "F": result.get("icebergQty", "0.00000000"), "g": result["orderListId"], "C": "", "x": kind,
        "X": result["status"], "r": "NONE" if order.status is not OrderStatus.REJECTED else "OTHER",
        "i": int(order.id), "l": wire.dec(fill.qty if fill else None), "z": result["executedQty"],
        "L": wire.dec(fill.price if fill else None), "n": wire.dec(fill.fee if fill else None),
        "N": (fill.fee_currency if fill else None), "T": now, "t": fill.seq if fill else -1, "I": event.seq,
        "w": order.is_open and not order.held, "m": bool(fill and fill.liquidity == "maker"), "M": False,
        "O": _ms(order.created_at), "Z": result["cummulativeQuoteQty"],
        "Y": wire.dec(fill.qty * fill.price if fill else None), "Q": result["origQuoteOrderQty"],
        "W": _ms(order.created_at), "V": "EXPIRE_MAKER"}


async def ws_api(ws: WebSocket) -> None:
    sim: BinanceSim = ws.app.state.sim
    await ws.accept()
    sim.counters["ws /ws-api/v3"] += 1
    socket = _Socket(ws)
    feed = None
    subscription = None
    try:
        async with trio.open_nursery() as nursery:
            async def pump(events: Any, sub_id: int) -> None:
                async for event in events:
                    if not socket.open:
                        return
                    report = execution_report(event)
                    if report is not None:
                        await socket.send({"subscriptionId": sub_id, "event": report})

            while socket.open:
                frame = await socket.receive()
                if frame is None:
                    break
                try:
                    message = json.loads(frame)
                    ident, method, params = message.get("id"), message["method"], message.get("params") or {}
                except (ValueError, KeyError, AttributeError):
                    await socket.send({"id": None, "status": 400,
                                       "error": {"code": -1100, "msg": "Malformed request."}})
                    continue
                reply: dict[str, Any]
                if method == "ping":
                    reply = {"id": ident, "status": 200, "result": {}}
                elif method == "time":
                    reply = {"id": ident, "status": 200, "result": {"serverTime": int(sim.epoch() * 1000)}}
                elif method == "userDataStream.subscribe.signature":
                    error = _check_ws_signature(sim, params)
                    if error is not None:
                        reply = {"id": ident, "status": 400 if error[0] != -2015 else 401,
                                 "error": {"code": error[0], "msg": error[1]}}
                    else:
                        subscription = 0 if subscription is None else subscription
                        if feed is None:
                            feed = sim.engine.subscribe(sim.engine.account().account_id)
                            nursery.start_soon(pump, feed, subscription)
                            sim.user_streams += 1
                        reply = {"id": ident, "status": 200, "result": {"subscriptionId": subscription}}
                elif method == "userDataStream.unsubscribe":
                    if feed is not None:
                        feed.close()
                        feed = None
                        sim.user_streams -= 1
                    reply = {"id": ident, "status": 200, "result": {}}
                else:
                    reply = {"id": ident, "status": 400, "error": {"code": -1102, "msg": f"Unknown method {method}"}}
                reply["rateLimits"] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                        "limit": sim.options.weight_limit, "count": 2}]
                await socket.send(reply)
            nursery.cancel_scope.cancel()
    finally:
        if feed is not None:
            feed.close()
            sim.user_streams -= 1


def _check_ws_signature(sim: BinanceSim, params: dict[str, Any]) -> tuple[int, str] | None:
    key = params.get("apiKey")
    secret = sim.keys.get(str(key)) if key else None
    if secret is None:
        return -2015, "Invalid API-key, IP, or permissions for action."
    given = str(params.get("signature") or "")
    if not given or "timestamp" not in params:
        return -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
    expected = signing.ws_api_signature(secret, params)
    if expected != given.lower():
        return -1022, "Signature for this request is not valid."
    problem = signing.within_window(int(params["timestamp"]), int(sim.epoch() * 1000),
                                    float(params.get("recvWindow") or 5000))
    return (-1021, problem) if problem else None


def routes(sim: BinanceSim) -> list[WebSocketRoute]:
    return [WebSocketRoute("/ws", market_streams), WebSocketRoute("/ws/{streams:path}", market_streams),
            WebSocketRoute("/stream", market_streams), WebSocketRoute("/ws-api/v3", ws_api)]
