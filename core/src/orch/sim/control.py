"""The ``/__sim__`` control endpoint: change a running simulator from outside its process.

Served by :class:`orch.sim.asgi.FaultMiddleware` in front of every ASGI simulator (and by the runner on a
separate port for TCP simulators when asked). JSON in, JSON out; numbers may be strings. Never subject to
faults.

=========================  ==================================================================
``GET  /__sim__``          broker, simulated time, fault plan and counters
``PUT  /__sim__/faults``   change fault settings: ``{"rate_limit_burst": 2}``; ``{"reset": true}``
``POST /__sim__/clock``    ``{"now": "2024-06-04T14:00:00Z", "frozen": false}``, ``{"advance": 60}``,
                           ``{"reset": true}``
``POST /__sim__/price``    ``{"symbol": "AAPL", "mid": "150"}``, ``{"symbol": "AAPL", "bid": "1",
                           "ask": "2", "size": "100"}``, ``{"symbol": "AAPL", "release": true}``
``POST /__sim__/sessions`` ``{"open": true}`` (all), ``{"open": false, "sessions": ["US"]}``,
                           ``{"open": null}`` (back to the clock)
``POST /__sim__/step``     re-evaluate resting orders now; returns the number of events
``GET  /__sim__/account``  ``?account_id=…``: the account valued now
=========================  ==================================================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import attrs

from orch.sim.faults import CONTROL_PREFIX, Faults

__all__ = ["control_app"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if attrs.has(type(value)):
        return {k: _jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    return value


class _BadRequest(Exception):
    pass


def control_app(engine: Any, faults: Faults) -> ASGIApp:
    """The control endpoint for one simulator's ``engine`` and ``faults``."""

    def status() -> dict[str, Any]:
        return {"broker": engine.broker, "now": engine.now().isoformat(), "clock": repr(engine.clock),
                **faults.snapshot()}

    def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        if body.pop("reset", False):
            faults.reset(counters=bool(body.pop("counters", False)))
        if body:
            try:
                faults.set(**{k: float(v) if isinstance(v, Decimal) else v for k, v in body.items()})
            except (TypeError, ValueError) as exc:
                raise _BadRequest(str(exc)) from None
        return faults.snapshot()

    def clock(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("reset"):
            engine.clock.reset()
        if "now" in body:
            try:
                when = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
                engine.clock.set(when, frozen=body.get("frozen"))
            except ValueError as exc:
                raise _BadRequest(f"now: {exc}") from None
        elif "frozen" in body:
            (engine.clock.freeze if body["frozen"] else engine.clock.unfreeze)()
        if "advance" in body:
            engine.clock.advance(float(body["advance"]))
        engine.step()
        return {"now": engine.now().isoformat(), "clock": repr(engine.clock)}

    def price(body: dict[str, Any]) -> dict[str, Any]:
        symbol = body.get("symbol")
        if not symbol:
            raise _BadRequest("symbol is required")
        try:
            if body.get("release"):
                engine.market.release(symbol)
            else:
                engine.market.set_price(symbol, body.get("mid"), bid=body.get("bid"), ask=body.get("ask"),
                                        size=body.get("size"))
        except (LookupError, TypeError, ValueError) as exc:
            raise _BadRequest(str(exc)) from None
        engine.step()
        return {"quote": _jsonable(engine.quote(symbol))}

    def sessions(body: dict[str, Any]) -> dict[str, Any]:
        state = body.get("open")
        try:
            engine.market.force_sessions(state, *body.get("sessions", ()))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        engine.step()
        return {"forced": engine.market.forced_sessions}

    def step(body: dict[str, Any]) -> dict[str, Any]:
        return {"events": len(engine.step())}

    def account(query: dict[str, list[str]]) -> dict[str, Any]:
        account_id = query.get("account_id", [None])[0]
        return _jsonable(engine.account_state(account_id))

    posts = {"/faults": set_faults, "/clock": clock, "/price": price, "/sessions": sessions, "/step": step}

    async def app(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
                  ) -> None:
        if scope["type"] == "lifespan":  # served on its own next to a TCP simulator
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        route = scope["path"][len(CONTROL_PREFIX):].rstrip("/")
        method = scope["method"]
        try:
            if method == "GET" and route == "":
                result, code = status(), 200
            elif method == "GET" and route == "/account":
                result, code = account(parse_qs(scope.get("query_string", b"").decode())), 200
            elif method == "GET" and route == "/faults":
                result, code = faults.snapshot(), 200
            elif method in ("POST", "PUT") and route in posts:
                try:
                    data = json.loads(body or b"{}", parse_float=Decimal)
                except ValueError as exc:
                    raise _BadRequest(f"body is not JSON: {exc}") from None
                if not isinstance(data, dict):
                    raise _BadRequest("body must be a JSON object")
                result, code = posts[route](data), 200
            else:
                result, code = {"error": f"no control route {method} {scope['path']}"}, 404
        except _BadRequest as exc:
            result, code = {"error": str(exc)}, 400
        except Exception as exc:  # the control plane must answer, whatever broke
            result, code = {"error": f"{type(exc).__name__}: {exc}"}, 500
        payload = json.dumps(_jsonable(result)).encode()
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return app
