"""The Alpaca simulator as one ASGI app, and its :class:`~orch.sim.spec.SimulatorSpec`.

One server answers for all of Alpaca's hosts: Trading API (``/v2/account``, ``/v2/orders``…), Market Data
REST (``/v2/stocks/…``, ``/v1beta3/crypto/us/…``), the market-data streams (``/v2/{feed}``,
``/v1beta3/crypto/us``) and trade_updates (``/stream``). :func:`config_for` points every URL of the
``brokers.alpaca`` section at it.
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
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_alpaca.sim import errors, marketdata, trading, ws
from orch_alpaca.sim.state import SIM_ACCOUNT, SIM_KEY_ID, SIM_SECRET_KEY, AlpacaSim, ApiKey, Options

DEFAULT_PORT = 18001
STATE_PATH = "/__alpaca__/state"


def build(engine: Engine, faults: Faults, *, keys: dict[str, ApiKey] | None = None,
          options: Options | None = None) -> Starlette:
    """The ASGI app for ``engine`` (the runner wraps it in the fault middleware). The simulator's own
    state is reachable afterwards as ``AlpacaSim.of(engine)``."""
    sim = AlpacaSim(engine, faults, keys=keys, options=options)

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    app = Starlette(routes=[*trading.routes(sim), *marketdata.routes(sim), *ws.routes(),
                            Route(STATE_PATH, state, methods=["GET"])])
    app.state.sim = sim
    return app


def error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Injected faults answer the way Alpaca's errors look."""
    if status == 429:
        error = errors.too_many()
    elif status == 401:
        error = errors.unauthorized()
    elif status >= 500:
        error = errors.internal(status)
    else:
        error = errors.AlpacaError(status, None, "simulated error")
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json; charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None and status in (429, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, body


def config_for(host: str, port: int) -> dict[str, Any]:
    """The ``brokers.alpaca`` section for a simulator on ``host:port`` (paper, with its test keys)."""
    where = f"[{host}]" if ":" in host else host
    http = f"http://{where}:{port}"
    socket = f"ws://{where}:{port}"
    return {"enabled": True, "paper": True, "api_key": SIM_KEY_ID, "secret_key": SIM_SECRET_KEY,
            "base_url": http, "data_url": http, "data_stream_url": socket, "stream_url": f"{socket}/stream",
            "market_data": {"data_feed": "iex"}}


# Paper defaults: $100k, Reg-T margin (2x) with shorting, fractional shares. Orders answer "new" and fill
# at the next engine step (a quarter second), as Alpaca's answer comes before the fill.
make_engine = engine_factory("alpaca", account_id=SIM_ACCOUNT, currency="USD", cash=100_000, margin_multiplier=2,
                             allow_short=True, fractional=True, fill_on_submit=False,
                             client_order_id_unique="open")

SPEC = SimulatorSpec(broker="alpaca", kind="asgi", build=build, make_engine=make_engine, config_for=config_for,
                     default_port=DEFAULT_PORT, title="Alpaca (Trading API v2, Market Data v2, streams)",
                     step_interval=0.25, error_response=error_response)
