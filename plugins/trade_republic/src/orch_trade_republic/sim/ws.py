"""The simulator's websocket (``wss://api.traderepublic.com/`` → ``ws://host:port/``): the connect
handshake, ``sub``/``unsub`` with the client's ids, ``A`` then ``D`` (delta) answers while a topic
changes, ``C`` after ``unsub``, ``E`` errors, and echoes. Topics are rendered from the engine on every
step; only changed answers are sent, as deltas."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

import trio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from orch.models import OrderStatus, OrderType, Side, TimeInForce
from orch.sim.asgi import DropConnection
from orch.sim.instruments import UnknownSymbol
from orch.sim.orders import RejectCode, SimError, SimOrder

from orch_trade_republic.delta import make_delta
from orch_trade_republic.frames import dumps
from orch_trade_republic.sim import catalogue
from orch_trade_republic.sim.state import Session, TradeRepublicSim

TICKER_ID = re.compile(r"^([A-Z]{2}[A-Z0-9]{9}[0-9])\.([A-Z0-9]{2,5})$")
AUTH_TOPICS = frozenset({"compactPortfolioByType", "cash", "availableCash", "orders", "simpleCreateOrder",
                         "cancelOrder", "availableCashForPayout"})
REMOVED = frozenset({"portfolio", "compactPortfolio", "portfolioAggregateHistory"})
STATUS = {OrderStatus.NEW: "open", OrderStatus.ACCEPTED: "open", OrderStatus.PARTIALLY_FILLED: "partiallyExecuted",
          OrderStatus.FILLED: "executed", OrderStatus.PENDING_CANCEL: "cancelPending",
          OrderStatus.CANCELED: "cancelled", OrderStatus.EXPIRED: "expired", OrderStatus.REJECTED: "rejected"}
MODES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stopMarket": OrderType.STOP}
REJECTS = {RejectCode.INSUFFICIENT_BUYING_POWER: "INSUFFICIENT_FUNDS", RejectCode.INSUFFICIENT_QTY: "INSUFFICIENT_SIZE",
           RejectCode.UNKNOWN_SYMBOL: "INSTRUMENT_NOT_FOUND", RejectCode.DUPLICATE_CLIENT_ORDER_ID: "ALREADY_PROCESSED",
           RejectCode.TICK_SIZE: "INVALID_PRICE", RejectCode.MARKET_CLOSED: "EXCHANGE_CLOSED"}


class TopicError(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def _err(code: str, message: str) -> str:
    return dumps({"errors": [{"errorCode": code, "errorField": None, "errorMessage": message,
                              "meta": {"source": "MAPPER"}}]})


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize() if value == value.to_integral_value()
                                             else value, "f")


def render_order(sim: TradeRepublicSim, order: SimOrder) -> dict[str, Any]:
    extra = order.extra
    body: dict[str, Any] = {
        "id": order.id, "instrumentId": order.canonical, "exchangeId": extra.get("exchange", "LSX"),
        "type": order.side.value, "mode": {v: k for k, v in MODES.items()}[order.type], "size": _s(order.qty),
        "expiry": extra.get("expiry", {"type": "gfd"}), "status": STATUS[order.status],
        "executedSize": _s(order.filled_qty), "averageExecutionPrice": _s(order.avg_fill_price),
        "createdAt": _ms(order.created_at), "updatedAt": _ms(order.updated_at or order.created_at),
    }
    if order.limit_price is not None:
        body["limit"] = _s(order.limit_price)
    if order.stop_price is not None:
        body["stop"] = _s(order.stop_price)
    if order.reject_reason:
        body["rejectionReason"] = order.reject_reason
    if sim.options.echo_client_process_id and order.client_order_id:
        body["clientProcessId"] = order.client_order_id
    return body


class Connection:
    """One client connection's topics. ``render`` turns a subscription into its current answer."""

    def __init__(self, sim: TradeRepublicSim, session: Session | None, version: int) -> None:
        self.sim = sim
        self.session = session
        self.version = version

    @property
    def account(self) -> Any:
        return self.sim.accounts[self.session.phone] if self.session else None

    def authorized(self) -> None:
        if self.session is None:
            raise TopicError("AUTHENTICATION_ERROR", "No auth token")
        if not self.sim.connection_alive(self.session):
            raise TopicError("AUTHENTICATION_ERROR", "Unauthorized")

    def renderer(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
        """(render, streaming) for a subscription payload; TopicError for a refused one."""
        kind = str(payload.get("type") or "")
        if kind in REMOVED:
            raise TopicError("BAD_SUBSCRIPTION_TYPE", f"Unknown topic type: {kind}.{self.version}")
        if kind in AUTH_TOPICS:
            self.authorized()
        handler = getattr(self, f"topic_{kind}", None)
        if handler is None:
            raise TopicError("BAD_SUBSCRIPTION_TYPE", f"Unknown topic type: {kind}.{self.version}")
        return handler(payload)

    # ---------------------------------------------------------------------------------- topics

    def topic_ticker(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
        match = TICKER_ID.match(str(payload.get("id") or ""))
        if not match:
            raise TopicError("JSON_PARSE_ERROR", "Cannot parse ticker id")
        isin, venue = match.groups()
        listing = catalogue.BY_ISIN.get(isin)
        if listing is None:
            raise TopicError("NOT_FOUND", "Instrument not found")
        if not dict(listing.venues).get(venue, False):
            raise TopicError("FORBIDDEN", "Exchange not supported for instrument")
        engine = self.sim.engine

        def render() -> Any:
            q = engine.quote(isin)
            stamp = _ms(q.timestamp)
            session_open = engine.market.symbol_is_open(isin, q.timestamp)
            day_open = q.last
            return {"bid": {"time": stamp, "price": _s(q.bid), "size": int(q.bid_size)},
                    "ask": {"time": stamp, "price": _s(q.ask), "size": int(q.ask_size)},
                    "last": {"time": stamp, "price": _s(q.last), "size": int(q.last_size)},
                    "pre": {"time": stamp - 86_400_000, "price": _s(day_open), "size": 0},
                    "open": {"time": stamp, "price": _s(day_open), "size": 0},
                    "qualityId": "realtime" if session_open else "closed", "leverage": None, "delta": None}

        return render, True

    def topic_instrument(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
        listing = catalogue.BY_ISIN.get(str(payload.get("id") or "").upper())
        if listing is None:
            raise TopicError("NOT_FOUND", "Instrument not found")
        body = catalogue.instrument_body(listing)
        return (lambda: body), False

    def topic_neonSearch(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:  # noqa: N802
        data = payload.get("data") or {}
        results = catalogue.search(str(data.get("q") or ""), int(data.get("pageSize") or 20))
        body = {"results": results, "resultCount": len(results), "correlationId": "sim"}
        return (lambda: body), False

    def topic_compactPortfolioByType(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:  # noqa: N802
        if str(payload.get("secAccNo") or "") != self.account.sec_acc_no:
            raise TopicError("FORBIDDEN", "Unknown securities account")
        engine, account_id = self.sim.engine, self.account.account_id

        def render() -> Any:
            state = engine.account_state(account_id)
            positions = [{"isin": p.symbol, "averageBuyIn": _s(p.avg_price), "netSize": _s(p.qty),
                          "virtualSize": "0", "status": "active", "instrumentType": "stock",
                          "name": catalogue.BY_ISIN[p.symbol].name if p.symbol in catalogue.BY_ISIN else p.symbol,
                          "derivativeInfo": None, "bondInfo": None, "imageId": None}
                         for p in state.positions if p.qty != 0]
            return {"categories": [{"categoryType": "stocksAndETFs", "positions": positions}]}

        return render, True

    def _cash(self, available: bool) -> Callable[[], Any]:
        engine, account = self.sim.engine, self.account

        def render() -> Any:
            state = engine.account_state(account.account_id)
            amount = state.buying_power if available else state.cash.get("EUR", Decimal(0))
            return [{"accountNumber": account.cash_acc_no, "currencyId": "EUR", "amount": amount}]

        return render

    def topic_cash(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
        return self._cash(False), True

    def topic_availableCash(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:  # noqa: N802
        return self._cash(True), True

    def topic_orders(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
        terminated = bool(payload.get("terminated"))
        engine, account_id = self.sim.engine, self.account.account_id

        def render() -> Any:
            orders = engine.orders(account_id, status="closed" if terminated else "open")
            return {"orders": [render_order(self.sim, o) for o in orders], "unsupportedOrderCount": 0}

        return render, True

    def topic_simpleCreateOrder(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:  # noqa: N802
        p = payload.get("parameters")
        cpid = str(payload.get("clientProcessId") or "")
        if not isinstance(p, dict) or not cpid:
            raise TopicError("JSON_PARSE_ERROR", "parameters and clientProcessId are required")
        isin, venue = str(p.get("instrumentId") or ""), str(p.get("exchangeId") or "")
        listing = catalogue.BY_ISIN.get(isin)
        if listing is None:
            raise TopicError("INSTRUMENT_NOT_FOUND", "Instrument not found")
        if not dict(listing.venues).get(venue, False):
            raise TopicError("FORBIDDEN", "Exchange not supported for instrument")
        mode = MODES.get(str(p.get("mode")))
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(str(p.get("type")))
        expiry = p.get("expiry") if isinstance(p.get("expiry"), dict) else {}
        tif = {"gfd": TimeInForce.DAY, "gtc": TimeInForce.GTC, "gtd": TimeInForce.GTC}.get(str(expiry.get("type")))
        try:
            size = Decimal(str(p.get("size")))
        except ArithmeticError:
            size = Decimal(0)
        if mode is None or side is None or tif is None or size <= 0 or size != size.to_integral_value():
            raise TopicError("VALIDATION_ERROR", "Invalid order parameters")
        if expiry.get("type") == "gtd":
            try:
                if date.fromisoformat(str(expiry.get("value"))) < self.sim.engine.now().date():
                    raise ValueError
            except ValueError:
                raise TopicError("VALIDATION_ERROR", "Invalid expiry date") from None
        engine = self.sim.engine
        existing = engine.find_order(client_order_id=cpid, account_id=self.account.account_id)
        if existing is not None:
            raise TopicError("ALREADY_PROCESSED", "This clientProcessId was used already")
        try:
            order = engine.place_order(
                self.account.account_id, symbol=isin, side=side, qty=size, type=mode,
                limit_price=str(p["limit"]) if mode is OrderType.LIMIT and "limit" in p else None,
                stop_price=str(p["stop"]) if mode is OrderType.STOP and "stop" in p else None,
                time_in_force=tif, client_order_id=cpid, extra={"exchange": venue, "expiry": dict(expiry)})
        except (SimError, UnknownSymbol) as exc:
            raise TopicError("VALIDATION_ERROR", str(exc)) from None
        if order.status is OrderStatus.REJECTED:
            raise TopicError(REJECTS.get(order.reject_code, "ORDER_REJECTED"), order.reject_reason or "Rejected")
        if self.sim.faults.after_order_accepted():
            raise DropConnection
        body = render_order(self.sim, order)
        return (lambda: body), False

    def topic_cancelOrder(self, payload: dict[str, Any]) -> tuple[Callable[[], Any], bool]:  # noqa: N802
        engine = self.sim.engine
        try:
            order = engine.cancel_order(str(payload.get("orderId") or ""), account_id=self.account.account_id)
        except SimError as exc:
            if exc.code == "order_not_found":
                raise TopicError("NOT_FOUND", "Order not found") from None
            raise TopicError("ORDER_NOT_CANCELLABLE", exc.message) from None
        body = render_order(self.sim, order)
        return (lambda: body), False


def _session(sim: TradeRepublicSim, ws: WebSocket) -> Session | None:
    header = ws.headers.get("cookie")
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a bad cookie header is no session
        return None
    token = jar["tr_session"].value if "tr_session" in jar else None
    return sim.session_for_token(token)


async def endpoint(ws: WebSocket) -> None:
    sim: TradeRepublicSim = ws.app.state.sim
    await ws.accept()
    sim.count("ws_connections")
    lock = trio.Lock()
    open_ = True
    subs: dict[str, tuple[Callable[[], Any], str | None]] = {}  # id -> (render, last text)

    async def send(text: str) -> None:
        nonlocal open_
        async with lock:
            if not open_:
                return
            try:
                await ws.send_text(text)
            except (WebSocketDisconnect, OSError, RuntimeError):
                open_ = False

    async def receive() -> str | None:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        return message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")

    first = await receive()
    match = re.match(r"^connect (\d+)(?: (.*))?$", first or "", re.S)
    if not match:
        await ws.close(1008)
        return
    conn = Connection(sim, _session(sim, ws), int(match.group(1)))
    await send("connected")

    async def pump() -> None:
        while open_:
            await trio.sleep(1.0)
            for sub_id, (render, last) in list(subs.items()):
                if last is None:
                    continue
                try:
                    text = dumps(render())
                except Exception:  # noqa: BLE001 - a quote that cannot be rendered now is skipped
                    continue
                if sub_id in subs and text != last:
                    subs[sub_id] = (render, text)
                    await send(f"{sub_id} D {make_delta(last, text)}")

    recent: deque[float] = deque()  # trio time of this connection's subscriptions in the window
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump)
        while open_:
            frame = await receive()
            if frame is None:
                break
            if frame.startswith("echo"):
                sim.count("echo")
                await send(frame)
                continue
            head, _, rest = frame.partition(" ")
            if head == "unsub":
                sub_id = rest.strip()
                if subs.pop(sub_id, None) is not None:
                    await send(f"{sub_id} C")
                continue
            if head != "sub":
                continue
            sub_id, _, body = rest.partition(" ")
            try:
                payload = json.loads(body)
                if not isinstance(payload, dict):
                    raise ValueError
            except ValueError:
                await send(f"{sub_id} E {_err('JSON_PARSE_ERROR', 'Cannot parse subscription')}")
                continue
            decision = sim.faults.before_request("SUB", f"/ws/{payload.get('type')}")
            wait = _over_limit(sim, recent)
            if wait is not None:
                sim.count("rate_limited")
                await send(f"{sub_id} E " + dumps({"errors": [{
                    "errorCode": "TOO_MANY_REQUESTS", "errorField": None, "errorMessage": "TOO_MANY_REQUESTS",
                    "meta": {"nextAttemptInSeconds": round(wait, 3)}}]}))
                continue
            if decision.delay:
                await trio.sleep(decision.delay)
            if decision.status is not None:
                code = "TOO_MANY_REQUESTS" if decision.status in (429, 418) else "SERVICE_UNAVAILABLE"
                meta = {"nextAttemptInSeconds": decision.retry_after} if decision.retry_after is not None else {}
                await send(f"{sub_id} E " + dumps({"errors": [{"errorCode": code, "errorField": None,
                                                              "errorMessage": code, "meta": meta}]}))
                continue
            sim.count(f"sub:{payload.get('type')}")
            try:
                render, streaming = conn.renderer(payload)
                text = dumps(render())
            except TopicError as exc:
                await send(f"{sub_id} E {_err(exc.code, exc.message)}")
                continue
            subs[sub_id] = (render, text if streaming else None)
            await send(f"{sub_id} A {text}")
        open_ = False
        nursery.cancel_scope.cancel()


def _over_limit(sim: TradeRepublicSim, recent: deque[float]) -> float | None:
    """Count one subscription; the seconds until one would fit when the window is already full (the
    subscription is then refused and not counted), else None."""
    limit, period = sim.options.max_subscriptions, sim.options.subscription_window
    if limit is None:
        return None
    now = trio.current_time()
    while recent and recent[0] <= now - period:
        recent.popleft()
    if len(recent) >= limit:
        return recent[0] + period - now
    recent.append(now)
    return None


def routes() -> list[WebSocketRoute]:
    return [WebSocketRoute("/", endpoint)]
