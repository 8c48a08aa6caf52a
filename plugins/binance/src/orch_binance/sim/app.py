"""The Binance simulator as one ASGI app, and its :class:`~orch.sim.spec.SimulatorSpec`.

One server answers for Binance's REST host (``/api/v3/…``), the market streams (``/ws/<stream>``,
``/stream?streams=…``) and the WebSocket API (``/ws-api/v3``). :func:`config_for` points the
``brokers.binance`` section at it (testnet mode, the simulator's own keys).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orch.sim.engine import Engine
from orch.sim.faults import Faults
from orch.sim.fees import PercentFee
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_binance.sim import rest
from orch_binance.sim.state import SIM_ACCOUNT, SIM_API_KEY, SIM_SECRET_KEY, BinanceSim, Options

DEFAULT_PORT = 18002
STATE_PATH = "/__binance__/state"


def build(engine: Engine, faults: Faults, *, keys: dict[str, str] | None = None,
          options: Options | None = None) -> Starlette:
    sim = BinanceSim(engine, faults, keys=keys, options=options)

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    routes: list[Any] = [*rest.routes(sim), Route(STATE_PATH, state, methods=["GET"])]
    try:
        from orch_binance.sim import ws
    except ImportError:  # streams not built yet
        pass
    else:
        routes += ws.routes(sim)
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


def error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Injected faults answer the way Binance's errors look."""
    if status == 429:
        body = {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 "
                                      "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}
    elif status == 418:
        body = {"code": -1003, "msg": "Way too much request weight used; IP banned. Please use WebSocket Streams "
                                      "for live updates to avoid bans."}
    elif status >= 500:
        body = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
    else:
        body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"content-length", str(len(content)).encode())]
    if retry_after is not None and status in (429, 418, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, content


def config_for(host: str, port: int) -> dict[str, Any]:
    where = f"[{host}]" if ":" in host else host
    http = f"http://{where}:{port}"
    socket = f"ws://{where}:{port}"
    return {"enabled": True, "testnet": True, "api_key": SIM_API_KEY, "secret_key": SIM_SECRET_KEY,
            "base_url": http, "endpoints": {"base_url": http, "websocket": f"{socket}/ws",
                                            "ws_api": f"{socket}/ws-api/v3"},
            "market_data": {"streaming": {"enabled": True, "symbols": ["BTCUSDT", "ETHUSDT", "BNBUSDT"],
                                          "intervals": ["1m"]}}}


# Testnet-like balances; Binance's 0.1% commission, charged in the quote asset (as when the account pays
# fees from its quote balance) so a bought quantity arrives whole. Orders execute at
# submission where they can (the answer shows the fills, as Binance's FULL response does).
make_engine = engine_factory(
    "binance", account_id=SIM_ACCOUNT, currency="USDT",
    cash={"USDT": 100_000, "USDC": 10_000, "BUSD": 10_000, "BTC": 1, "ETH": 10, "BNB": 50},
    fee_model=PercentFee("0.001", in_received_asset=False), auto_fx=False, fill_on_submit=True,
    client_order_id_unique="open",
    order_ids="seq", first_order_seq=1000)

SPEC = SimulatorSpec(broker="binance", kind="asgi", build=build, make_engine=make_engine, config_for=config_for,
                     default_port=DEFAULT_PORT, title="Binance Spot (REST v3, streams, WebSocket API)",
                     step_interval=0.25, error_response=error_response)
