"""The XTB simulator as an ASGI app: the command endpoint (``/demo``, ``/real``) and the streaming endpoint
(``/demoStream``, ``/realStream``), as ``wss://ws.xtb.com`` served them, on :mod:`orch.sim`.

Command socket rules kept from XTB: one JSON object per frame, answers in order with ``customTag``
echoed, every command but ``login`` refused with BE103 before login, at least 200 ms between commands
(the sixth violation in a row closes the connection), frames over 1 kB or invalid JSON close it. Each
command goes through the fault plan (a rate-limit fault answers BE014, a server fault EX001).
"""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_xtb.protocol import to_json
from orch_xtb.sim.state import REJECTED, SIM_ACCOUNT, SIM_PASSWORD, SIM_USER, XtbError, XtbSim, ms

log = logging.getLogger("orch.sim.xtb")

DEFAULT_PORT = 18005
MAX_FRAME = 1024
SPACING = 0.2
# Arrival times jitter: a client sending exactly 200 ms apart may be seen slightly closer.
SPACING_TOLERANCE = 0.02
MAX_VIOLATIONS = 6
KEEPALIVE_EVERY = 3.0
LEDGER_EVERY = 1.0


class _Socket:
    """One frame at a time (the reader answering and the pumps pushing share the socket)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = trio.Lock()
        self.open = True

    async def send(self, data: Any) -> None:
        async with self._lock:
            if not self.open:
                return
            try:
                await self.ws.send_text(to_json(data))
            except (WebSocketDisconnect, OSError):
                self.open = False

    async def receive(self) -> str | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.open = False
            return None
        if message.get("text") is not None:
            return message["text"]
        return (message.get("bytes") or b"").decode("utf-8", "replace")

    async def close(self, code: int = 1000) -> None:
        async with self._lock:
            if self.open:
                self.open = False
                await self.ws.close(code)


def _error(code: str, description: str, tag: Any = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"status": False, "errorCode": code, "errorDescr": description}
    if tag is not None:
        reply["customTag"] = tag
    return reply


# ------------------------------------------------------------------------------------------ commands


def _dispatch(sim: XtbSim, account: str, name: str, args: dict[str, Any]) -> Any:
    if name == "ping":
        return None
    if name == "getAllSymbols":
        return sim.all_symbols()
    if name == "getSymbol":
        sym = sim.symbol(args.get("symbol"))
        return sim.catalog.record(sym, sim.quote(sym), ms(sim.now()) or 0)
    if name == "getMarginLevel":
        return sim.margin_level(account)
    if name == "getCurrentUserData":
        currency = sim.engine.account(account).currency
        return {"companyUnit": 8, "currency": currency, "group": "demo", "ibAccount": False, "leverage": 1,
                "leverageMultiplier": Decimal("0.25"), "spreadType": "FLOAT", "trailingStop": False}
    if name == "getServerTime":
        now = sim.now()
        return {"time": ms(now), "timeString": now.strftime("%b %d, %Y, %I:%M:%S %p")}
    if name == "getVersion":
        return {"version": "2.5.0"}
    if name == "getTrades":
        return sim.open_records(account)
    if name == "getTradesHistory":
        return sim.history_records(account, int(args.get("start") or 0), int(args.get("end") or 0))
    if name == "getTradeRecords":
        orders = args.get("orders")
        if not isinstance(orders, list):
            raise XtbError("EX000", "Invalid parameters: orders")
        return sim.records_for(account, orders)
    if name == "getTickPrices":
        symbols = args.get("symbols")
        if not isinstance(symbols, list):
            raise XtbError("EX000", "Invalid parameters: symbols")
        return {"quotations": [sim.tick(sim.symbol(s)) for s in symbols]}
    if name == "tradeTransaction":
        return {"order": sim.transaction(account, args.get("tradeTransInfo"))}
    if name == "tradeTransactionStatus":
        return sim.status_of(account, args.get("order"))
    if name == "getCommissionDef":
        sim.symbol(args.get("symbol"))
        return {"commission": Decimal(0), "rateOfExchange": Decimal(1)}
    raise XtbError("BE104", f"Method {name} does not exist")


async def command_socket(ws: WebSocket) -> None:
    sim: XtbSim = ws.app.state.sim
    await ws.accept()
    socket = _Socket(ws)
    account: str | None = None
    session: str | None = None
    last = -math.inf
    violations = 0
    try:
        while socket.open:
            text = await socket.receive()
            if text is None:
                break
            now = trio.current_time()
            violations = violations + 1 if now - last < SPACING - SPACING_TOLERANCE else 0
            sim.counters.spacing_violations += 1 if violations else 0
            last = now
            if (violations >= MAX_VIOLATIONS and sim.enforce_spacing) or \
                    len(text.encode()) > MAX_FRAME:
                await socket.close(1008)  # XTB closes silently
                break
            try:
                request = json.loads(text, parse_float=Decimal)
            except ValueError:
                await socket.close(1008)
                break
            if not isinstance(request, dict) or not isinstance(request.get("command"), str):
                await socket.send(_error("BE110", "Incorrect command format"))
                continue
            name, tag = request["command"], request.get("customTag")
            sim.counters.commands[name] = sim.counters.commands.get(name, 0) + 1
            decision = sim.faults.before_request("WS", name)
            if decision.delay:
                await trio.sleep(decision.delay)
            if decision.status is not None:
                if decision.status in (429, 418):
                    await socket.send(_error("BE014", "Requests too frequent", tag))
                else:
                    await socket.send(_error("EX001", "Internal error", tag))
                continue
            args = request.get("arguments") or {}
            if not isinstance(args, dict):
                await socket.send(_error("EX000", "Invalid parameters", tag))
                continue
            reply: dict[str, Any]
            try:
                if name == "login":
                    account, session = sim.login(args.get("userId"), args.get("password"))
                    reply = {"status": True, "streamSessionId": session}
                elif account is None:
                    raise XtbError("BE103", "User is not logged")
                elif name == "logout":
                    sim.end_session(session)
                    await socket.send({"status": True, **({"customTag": tag} if tag is not None else {})})
                    await socket.close(1000)
                    break
                else:
                    data = _dispatch(sim, account, name, args)
                    reply = {"status": True} if name == "ping" else {"status": True, "returnData": data}
            except XtbError as exc:
                reply = _error(exc.code, exc.description)
            if tag is not None:
                reply["customTag"] = tag
            if name == "tradeTransaction" and _accepted(sim, reply) and sim.faults.after_order_accepted():
                # The transaction stands; its answer is lost: the fault middleware turns this send into a
                # closed socket (drop_mode "reset") or swallows it ("hang").
                sim.counters.lost_answers += 1
            await socket.send(reply)
    finally:
        # A dropped main connection ends its stream session, as on XTB.
        sim.end_session(session)


def _accepted(sim: XtbSim, reply: dict[str, Any]) -> bool:
    """Whether a tradeTransaction answer is for a transaction XTB took (not refused up front)."""
    number = (reply.get("returnData") or {}).get("order") if reply.get("status") else None
    request = sim.requests.get(number) if isinstance(number, int) else None
    return request is not None and request.request_status != REJECTED


# ------------------------------------------------------------------------------------------ streaming


class _Subscriptions:
    def __init__(self) -> None:
        self.keep_alive = False
        self.balance = False
        self.trades = False
        self.trade_status = False
        self.ticks: set[str] = set()


async def stream_socket(ws: WebSocket) -> None:
    sim: XtbSim = ws.app.state.sim
    await ws.accept()
    sim.counters.stream_connections += 1
    socket = _Socket(ws)
    subs = _Subscriptions()
    account: list[str] = []
    quotes = sim.engine.subscribe_quotes()

    async def keep_alive() -> None:
        while socket.open:
            await trio.sleep(KEEPALIVE_EVERY)
            if subs.keep_alive:
                await socket.send({"command": "keepAlive", "data": {"timestamp": ms(sim.now())}})

    async def ticks() -> None:
        async for quote in quotes:
            if not socket.open:
                return
            sym = sim.catalog.get(quote.symbol)
            if sym is not None and sym.symbol in subs.ticks:
                await socket.send({"command": "tickPrices", "data": sim.tick(sym)})

    async def ledger() -> None:
        seen_version = -1
        seen_request = max(sim.requests, default=0)
        balance: Any = None
        records: dict[int, Any] = {}
        while socket.open:
            await trio.sleep(LEDGER_EVERY)
            if not account:
                continue
            sim.refresh(account[0])
            if subs.balance:
                level = sim.margin_level(account[0])
                current = {"balance": level["balance"], "credit": level["credit"], "equity": level["equity"],
                           "margin": level["margin"], "marginFree": level["margin_free"],
                           "marginLevel": level["margin_level"]}
                if current != balance:
                    balance = current
                    await socket.send({"command": "balance", "data": current})
            if subs.trade_status:
                for number in sorted(n for n in list(sim.requests) if n > seen_request):
                    request = sim.requests[number]
                    if request.account_id == account[0]:
                        await socket.send({"command": "tradeStatus", "data": {
                            "customComment": request.custom_comment, "message": request.message,
                            "order": request.order, "price": request.price,
                            "requestStatus": request.request_status}})
                    seen_request = number
            if subs.trades and sim.version != seen_version:
                seen_version = sim.version
                current_records = {r["order"]: r for r in sim.open_records(account[0])}
                for number, record in current_records.items():
                    if records.get(number, {}).get("volume") != record["volume"] or \
                            records.get(number, {}).get("cmd") != record["cmd"]:
                        await socket.send({"command": "trade", "data": {**record, "state": "Modified",
                                                                        "type": 1 if record["cmd"] > 1 else 0}})
                for number in set(records) - set(current_records):
                    closed = sim.closed.get(number)
                    if closed is not None:
                        await socket.send({"command": "trade", "data": {**sim.trade_record(closed),
                                                                        "state": "Deleted", "type": 2}})
                records = current_records

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_alive)
            nursery.start_soon(ticks)
            nursery.start_soon(ledger)
            while socket.open:
                text = await socket.receive()
                if text is None:
                    break
                try:
                    request = json.loads(text, parse_float=Decimal)
                    name = str(request["command"])
                except (ValueError, KeyError, TypeError):
                    await socket.close(1008)
                    break
                if name == "ping":
                    continue
                if name.startswith("get"):
                    owner = sim.session_account(request.get("streamSessionId"))
                    if owner is None:
                        # An unknown or expired streamSessionId: the stream closes.
                        await socket.close(1008)
                        break
                    account[:] = [owner]
                if name == "getKeepAlive":
                    subs.keep_alive = True
                elif name == "stopKeepAlive":
                    subs.keep_alive = False
                elif name == "getTickPrices":
                    sym = sim.catalog.get(str(request.get("symbol")))
                    if sym is not None:
                        subs.ticks.add(sym.symbol)
                        quotes.add(sym.symbol)
                        await socket.send({"command": "tickPrices", "data": sim.tick(sym)})
                elif name == "stopTickPrices":
                    subs.ticks.discard(str(request.get("symbol")))
                elif name in ("getBalance", "stopBalance"):
                    subs.balance = name == "getBalance"
                elif name in ("getTrades", "stopTrades"):
                    subs.trades = name == "getTrades"
                elif name in ("getTradeStatus", "stopTradeStatus"):
                    subs.trade_status = name == "getTradeStatus"
            nursery.cancel_scope.cancel()
    finally:
        quotes.close()


# ------------------------------------------------------------------------------------------ the app


def build(engine: Engine, faults: Faults, *, users: dict[str, tuple[str, str]] | None = None) -> Starlette:
    sim = XtbSim(engine, faults, users=users)
    app = Starlette(routes=[WebSocketRoute("/demo", command_socket), WebSocketRoute("/real", command_socket),
                            WebSocketRoute("/demoStream", stream_socket),
                            WebSocketRoute("/realStream", stream_socket)])
    app.state.sim = sim
    return app


def config_for(host: str, port: int) -> dict[str, Any]:
    """The ``brokers.xtb`` section for a simulator on ``host:port`` (demo, its test account)."""
    where = f"[{host}]" if ":" in host else host
    return {"enabled": True, "demo": True, "server": f"ws://{where}:{port}/demo", "api_key": SIM_USER,
            "secret_key": SIM_PASSWORD, "markets": ["FOREX", "CFD"]}


# A USD demo account with retail CFD leverage (1:30 on forex) and shorting; executions at the quote (XTB
# earns the spread, no commission).
make_engine = engine_factory("xtb", account_id=SIM_ACCOUNT, currency="USD", cash=100_000, margin_multiplier=30,
                             allow_short=True, fill_on_submit=True, client_order_id_unique="never")

SPEC = SimulatorSpec(broker="xtb", kind="asgi", build=build, make_engine=make_engine, config_for=config_for,
                     default_port=DEFAULT_PORT, title="XTB xAPI (command and stream websockets, demo server)",
                     step_interval=0.5)
