"""The websocket endpoints: market data (``/v2/{feed}``, ``/v1beta3/crypto/us``) and trade_updates
(``/stream``). The protocol state lives in :mod:`.streams`; this module moves frames, feeds the sessions
and pushes engine quotes and order events. Fault injection (drops, silence) is applied underneath by
:class:`orch.sim.asgi.FaultMiddleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from orch.sim.instruments import SymbolInfo, UnknownSymbol
from orch.sim.orders import EventKind, OrderEvent

from orch_alpaca.sim import streams, wire
from orch_alpaca.sim.http import KEY_HEADER, SECRET_HEADER
from orch_alpaca.sim.state import AlpacaSim
from orch_alpaca.sim.trading import render

log = logging.getLogger("orch.sim.alpaca")

STOCK_FEEDS = ("iex", "sip", "delayed_sip", "boats", "overnight", "otc", "test")
CRYPTO_PATHS = ("/v1beta3/crypto/us", "/v1beta2/crypto")
EVENTS = {
    EventKind.NEW: "new",
    EventKind.ACTIVATED: "new",  # a bracket leg leaves "held" and starts working
    EventKind.PARTIAL_FILL: "partial_fill",
    EventKind.FILL: "fill",
    EventKind.CANCELED: "canceled",
    EventKind.EXPIRED: "expired",
    EventKind.REJECTED: "rejected",
    EventKind.REPLACED: "replaced",
}


class _Socket:
    """Sends one frame at a time (a reader answering and a pump pushing share the socket)."""

    def __init__(self, ws: WebSocket, sim: AlpacaSim, path: str) -> None:
        self.ws = ws
        self.sim = sim
        self.path = path
        self._lock = trio.Lock()
        self.open = True

    async def send(self, frame: str | bytes) -> None:
        async with self._lock:
            if not self.open:
                return
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_text(frame)
            except (WebSocketDisconnect, OSError):
                # The client left mid-send: stop talking; the reader sees the disconnect and ends.
                self.open = False
                return
            self.sim.counters.ws_sent(self.path)

    async def close(self, code: int = 1000) -> None:
        async with self._lock:
            if self.open:
                self.open = False
                await self.ws.close(code)

    async def receive(self) -> str | bytes | None:
        """The next client frame; None once the client is gone."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.open = False
            return None
        if message.get("text") is not None:
            return message["text"]
        return message.get("bytes") or b""


# ------------------------------------------------------------------------------------- market data


def _canonical_for(sim: AlpacaSim, *, crypto: bool, names: dict[str, str]) -> Callable[[str], str | None]:
    def canonical(symbol: str) -> str | None:
        if crypto and "/" not in symbol:
            return None
        try:
            info = sim.listing.resolve(symbol)
        except UnknownSymbol:
            return None
        if wire.is_crypto(info) != crypto:
            return None
        name = wire.order_symbol(info)
        names[info.symbol] = name
        return name

    return canonical


async def market_data(ws: WebSocket) -> None:
    sim: AlpacaSim = ws.app.state.sim
    path = ws.url.path.rstrip("/")
    crypto = path in CRYPTO_PATHS
    if not crypto and path.rsplit("/", 1)[-1] not in STOCK_FEEDS:
        await ws.close(1008)
        return
    test_feed = path.endswith("/test")
    msgpack_mode = ws.headers.get("content-type", "").lower().startswith("application/msgpack")
    await ws.accept()
    sim.counters.ws_connection(path)
    socket = _Socket(ws, sim, path)
    names: dict[str, str] = {}  # canonical → the symbol as this feed names it
    session = streams.MarketDataSession(
        crypto=crypto, check_key=sim.check_key, claim=lambda key: sim.claim(key, path),
        release=lambda key: sim.release(key, path), symbol_limit=sim.options.md_symbol_limit,
        canonical=_canonical_for(sim, crypto=crypto, names=names))
    quotes = sim.engine.subscribe_quotes()

    async def send(messages: list[dict[str, Any]]) -> None:
        if messages:
            await socket.send(streams.encode_market(messages, msgpack_mode=msgpack_mode))

    async def auth_deadline(scope: trio.CancelScope) -> None:
        await trio.sleep(sim.options.auth_timeout)
        if not session.authenticated:
            await send([streams.error(404, "auth timeout")])
            await socket.close(1008)
            scope.cancel()  # the reader may wait forever on a client that never answers the close

    async def pump() -> None:
        last_trade: dict[str, tuple[Any, Any]] = {}
        async for quote in quotes:
            if not socket.open:
                return
            name = names.get(quote.symbol)
            if name is None or not session.authenticated:
                continue
            if not crypto and not test_feed and sim.options.gate_stock_data and \
                    not sim.engine.market.symbol_is_open(quote.symbol, quote.timestamp, extended=True):
                continue
            batch = []
            if session.wants("quotes", name):
                batch.append(streams.quote_message(name, wire.quote_record(quote, crypto=crypto)))
            trade = (quote.last, quote.last_size)
            if session.wants("trades", name) and last_trade.get(name) != trade:
                last_trade[name] = trade
                batch.append(streams.trade_message(name, wire.trade_record(
                    quote.last, quote.last_size, quote.timestamp, sim.next_trade_id(), crypto=crypto)))
            await send(batch)

    def follow() -> None:
        """Keep the engine's quote feed on exactly the symbols this connection wants."""
        wanted = set(session.symbols())
        if session.wildcard:
            wanted |= {wire.order_symbol(i) for i in sim.listing.assets() if wire.is_crypto(i) == crypto}
        canonical = set()
        for name in wanted:
            info = sim.listing.resolve(name)
            names[info.symbol] = name
            canonical.add(info.symbol)
        stale = quotes.symbols - canonical
        if stale:
            quotes.discard(*stale)
        quotes.add(*(canonical - quotes.symbols))

    subscribed = False
    try:
        async with trio.open_nursery() as nursery:
            await send(session.greet(ws.headers.get(KEY_HEADER), ws.headers.get(SECRET_HEADER)))
            if session.closing:
                await socket.close(1008)
                return
            if not session.authenticated:
                nursery.start_soon(auth_deadline, nursery.cancel_scope)
            nursery.start_soon(pump)
            while socket.open:
                frame = await socket.receive()
                if frame is None:
                    break
                try:
                    message = streams.decode_client(frame)
                except ValueError:
                    await send([streams.error(400, "invalid syntax")])
                    continue
                await send(session.receive(message))
                if session.closing:
                    await socket.close(1008)
                    break
                follow()
                if bool(quotes.symbols) != subscribed:
                    subscribed = not subscribed
                    sim.stream_count("md_subscribers", 1 if subscribed else -1)
            nursery.cancel_scope.cancel()
    finally:
        if subscribed:
            sim.stream_count("md_subscribers", -1)
        session.close()
        quotes.close()


# ------------------------------------------------------------------------------------- trade_updates


def event_message(sim: AlpacaSim, event: OrderEvent) -> dict[str, Any] | None:
    name = EVENTS.get(event.kind)
    if name is None:
        return None
    order = event.order
    info: SymbolInfo = sim.info(order.canonical)
    body = render(sim, order)
    if event.kind is EventKind.NEW:
        body["status"] = "new" if not order.held else "held"
    body["symbol"] = wire.position_symbol(info)  # trade_updates name crypto without the slash
    fill = event.fill
    if event.kind is EventKind.FILL and fill is None and order.fills:
        fill = order.fills[-1]  # closed by a remainder too small to trade: report the last execution
    if fill is None:
        return streams.trade_update(name, body, event.timestamp)
    position = sim.engine.account(event.account_id).position_qty(info.position_key)
    return streams.trade_update(name, body, event.timestamp, execution_id=wire.stable_uuid("fill", fill.id),
                                price=wire.dec(fill.price), qty=wire.dec(fill.qty), position_qty=wire.dec(position))


async def trade_updates(ws: WebSocket) -> None:
    sim: AlpacaSim = ws.app.state.sim
    path = ws.url.path
    await ws.accept()
    sim.counters.ws_connection(path)
    socket = _Socket(ws, sim, path)
    session = streams.TradeUpdatesSession(check_key=sim.check_key)
    session.header_auth(ws.headers.get(KEY_HEADER), ws.headers.get(SECRET_HEADER))
    feed = None
    try:
        async with trio.open_nursery() as nursery:
            async def pump(events: Any) -> None:
                async for event in events:
                    if not socket.open:
                        return
                    if not session.listening:
                        continue
                    message = event_message(sim, event)
                    if message is not None:
                        await socket.send(streams.encode_trade(message))

            while socket.open:
                frame = await socket.receive()
                if frame is None:
                    break
                try:
                    message = streams.decode_client(frame)
                except ValueError:
                    message = None
                for reply in session.receive(message):
                    await socket.send(streams.encode_trade(reply))
                if session.listening and feed is None:
                    feed = sim.engine.subscribe(sim.account_id(session.key))
                    nursery.start_soon(pump, feed)
                    sim.stream_count("trade_listeners", 1)
                elif not session.listening and feed is not None:
                    feed.close()
                    feed = None
                    sim.stream_count("trade_listeners", -1)
            nursery.cancel_scope.cancel()
    finally:
        if feed is not None:
            feed.close()
            sim.stream_count("trade_listeners", -1)


def routes() -> list[WebSocketRoute]:
    return [
        WebSocketRoute("/stream", trade_updates),
        WebSocketRoute("/v1beta3/crypto/us", market_data),
        WebSocketRoute("/v1beta2/crypto", market_data),
        WebSocketRoute("/v2/{feed}", market_data),
    ]
