"""A minimal simulator of an invented REST + websocket broker: the template for real ones.

It shows every duty of a broker simulator in a few lines: authenticate requests, translate wire fields
onto :meth:`Engine.place_order` and back, map rejections and errors onto HTTP statuses, call
``faults.after_order_accepted()`` between accepting an order and answering, and stream order events from
:meth:`Engine.subscribe` over a websocket. The runner adds latency/5xx/429 and websocket faults.

Wire format (all numbers are strings)::

    GET    /v1/account                   -> {"account_id", "currency", "cash", "equity", "buying_power"}
    GET    /v1/positions                 -> [{"symbol", "qty", "avg_price", "market_value"}]
    GET    /v1/quotes/{symbol}           -> {"symbol", "bid", "ask", "bid_size", "ask_size", "time"}
    POST   /v1/orders {symbol, side, qty, type, limit_price, stop_price, time_in_force, client_order_id}
                                         -> 201 order | 404 unknown symbol | 422 {"code", "message"}
    GET    /v1/orders?status=open|closed|all ; GET /v1/orders/{id} ; GET /v1/orders:by_client_id/{cid}
    DELETE /v1/orders/{id}               -> 200 order | 404 | 409 not cancelable
    WS     /v1/stream                    -> one JSON message per order event

Every request needs the header ``X-Api-Key: example-key``. Used by orch's own tests and as
``python -m orch.sim.runner orch.sim.example:SPEC``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.orders import OrderEvent, RejectCode, SimError, SimOrder
from orch.sim.spec import SimulatorSpec, engine_factory

API_KEY = "example-key"


def _order_json(order: SimOrder) -> dict[str, Any]:
    return {"id": order.id, "client_order_id": order.client_order_id, "symbol": order.symbol,
            "side": order.side.value, "type": order.type.value, "qty": _s(order.qty),
            "limit_price": _s(order.limit_price), "stop_price": _s(order.stop_price),
            "time_in_force": order.time_in_force.value, "status": order.status.value,
            "filled_qty": _s(order.filled_qty), "avg_fill_price": _s(order.avg_fill_price),
            "created_at": order.created_at.isoformat(), "reject_reason": order.reject_reason}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def build(engine: Engine, faults: Faults) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"code": code, "message": message}, status_code=status)

    def authorized(request: Request | WebSocket) -> bool:
        return request.headers.get("x-api-key") == API_KEY

    async def account(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        state = engine.account_state()
        return JSONResponse({"account_id": state.account_id, "currency": state.currency,
                             "cash": str(state.cash.get(state.currency, Decimal(0))), "equity": str(state.equity),
                             "buying_power": str(state.buying_power)})

    async def positions(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        return JSONResponse([{"symbol": p.symbol, "qty": str(p.qty), "avg_price": str(p.avg_price),
                              "market_value": str(p.market_value)} for p in engine.account_state().positions])

    async def quote(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        symbol = request.path_params["symbol"]
        if not engine.market.knows(symbol):
            return error(404, "unknown_symbol", f"unknown symbol {symbol}")
        q = engine.quote(symbol)
        return JSONResponse({"symbol": symbol, "bid": str(q.bid), "ask": str(q.ask), "bid_size": str(q.bid_size),
                             "ask_size": str(q.ask_size), "time": q.timestamp.isoformat()})

    async def place(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
            order = engine.place_order(
                symbol=body["symbol"], side=body["side"], qty=body.get("qty"), type=body.get("type", "market"),
                limit_price=body.get("limit_price"), stop_price=body.get("stop_price"),
                time_in_force=body.get("time_in_force", "day"), client_order_id=body.get("client_order_id"))
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, "bad_request", f"malformed order: {exc}")
        except SimError as exc:
            return error(400, "bad_request", exc.message)
        if order.reject_code is RejectCode.UNKNOWN_SYMBOL:
            return error(404, order.reject_code.value, order.reject_reason or "")
        if order.reject_code is not None:
            return error(422, order.reject_code.value, order.reject_reason or "")
        faults.after_order_accepted()  # if True, the middleware cuts this response off
        return JSONResponse(_order_json(order), status_code=201)

    async def list_orders(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        status = request.query_params.get("status", "open")
        try:
            return JSONResponse([_order_json(o) for o in engine.orders(status=status)])
        except SimError as exc:
            return error(400, "bad_request", exc.message)

    async def get_order(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        try:
            return JSONResponse(_order_json(engine.get_order(request.path_params["order_id"])))
        except SimError as exc:
            return error(404, exc.code, exc.message)

    async def by_client_id(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        order = engine.find_order(client_order_id=request.path_params["cid"])
        if order is None:
            return error(404, "order_not_found", "no order with this client order id")
        return JSONResponse(_order_json(order))

    async def cancel(request: Request) -> JSONResponse:
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong X-Api-Key")
        try:
            return JSONResponse(_order_json(engine.cancel_order(request.path_params["order_id"])))
        except SimError as exc:
            return error(404 if exc.code == "order_not_found" else 409, exc.code, exc.message)

    async def stream(websocket: WebSocket) -> None:
        if not authorized(websocket):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        with engine.subscribe() as events:
            async for event in events:
                await websocket.send_json(_event_json(event))

    return Starlette(routes=[
        Route("/v1/account", account), Route("/v1/positions", positions), Route("/v1/quotes/{symbol}", quote),
        Route("/v1/orders", place, methods=["POST"]), Route("/v1/orders", list_orders, methods=["GET"]),
        Route("/v1/orders:by_client_id/{cid}", by_client_id), Route("/v1/orders/{order_id}", get_order),
        Route("/v1/orders/{order_id}", cancel, methods=["DELETE"]), WebSocketRoute("/v1/stream", stream),
    ])


def _event_json(event: OrderEvent) -> dict[str, Any]:
    payload = {"event": event.kind.value, "seq": event.seq, "order": _order_json(event.order)}
    if event.fill is not None:
        payload["fill"] = {"qty": str(event.fill.qty), "price": str(event.fill.price)}
    return payload


SPEC = SimulatorSpec(
    broker="example", kind="asgi", build=build, title="Example broker (orch.sim template)",
    make_engine=engine_factory("example", account_id="EX0001", currency="USD", cash=100_000),
    config_for=lambda host, port: {"api_key": API_KEY, "base_url": f"http://{host}:{port}"},
)
