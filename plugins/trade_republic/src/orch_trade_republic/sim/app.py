"""The Trade Republic simulator as one ASGI app, and its :class:`~orch.sim.spec.SimulatorSpec`."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_trade_republic.sim import catalogue, rest, ws
from orch_trade_republic.sim.state import SIM_ACCOUNT, SIM_PHONE, SIM_PIN, Options, TradeRepublicSim

DEFAULT_PORT = 18010
STATE_PATH = "/__trade_republic__/state"


def build(engine: Engine, faults: Faults, *, options: Options | None = None) -> Starlette:
    catalogue.register(engine.market)
    sim = TradeRepublicSim(engine, faults, options)
    engine._tr_sim = sim  # type: ignore[attr-defined]

    async def state(request: Request) -> JSONResponse:
        return JSONResponse({"counters": sim.counters, "sessions": len(sim.sessions)})

    app = Starlette(routes=[*rest.routes(sim), *ws.routes(), Route(STATE_PATH, state, methods=["GET"])])
    app.state.sim = sim
    return app


def error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Injected faults answer the way Trade Republic's errors look."""
    code = {429: "TOO_MANY_REQUESTS", 418: "TOO_MANY_REQUESTS"}.get(status, "SERVICE_UNAVAILABLE")
    meta = {"nextAttemptInSeconds": retry_after} if retry_after is not None and status in (429, 418) else {}
    body = json.dumps({"errors": [{"errorCode": code, "errorMessage": code, "meta": meta}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None and status in (429, 418, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, body


def config_for(host: str, port: int) -> dict[str, Any]:
    """The ``brokers.trade_republic`` section for a simulator on ``host:port``: opted in (the plugin is
    unofficial), the simulator's phone number and PIN, and the session kept in memory (a simulator's
    session has no business in the user's state directory)."""
    where = f"[{host}]" if ":" in host else host
    return {"enabled": True, "acknowledge_unofficial": True, "username": SIM_PHONE, "pin": SIM_PIN,
            "secure_session": False, "api_url": f"http://{where}:{port}", "ws_url": f"ws://{where}:{port}/",
            "markets": ["EU_STOCKS", "US_STOCKS"]}


make_engine = engine_factory("trade_republic", account_id=SIM_ACCOUNT, currency="EUR", cash=25_000,
                             fill_on_submit=True, client_order_id_unique="always")

SPEC = SimulatorSpec(broker="trade_republic", kind="asgi", build=build, make_engine=make_engine,
                     config_for=config_for, default_port=DEFAULT_PORT,
                     title="Trade Republic (web login v2, websocket topics; unofficial)", step_interval=1.0,
                     error_response=error_response)
