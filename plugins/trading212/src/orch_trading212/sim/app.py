"""The Trading 212 simulator as one ASGI app, and its :class:`~orch.sim.spec.SimulatorSpec`.

It answers Trading 212's Public API v0 under ``/api/v0`` (the current endpoints and the legacy
``account/cash``, ``account/info`` and ``portfolio`` ones) on :mod:`orch.sim`'s engine, with the practice
account's semantics: integer order ids, sells as negative quantities, pending-only ``GET /orders/{id}``,
cancelled and filled orders in the paginated history, per-account per-endpoint limits with
``x-ratelimit-*`` headers, and both error body styles (``Options.error_style``).
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

from orch_trading212.sim import routes, wire
from orch_trading212.sim.state import SIM_ACCOUNT, SIM_KEY, SIM_SECRET, Options, Trading212Sim

DEFAULT_PORT = 18212
STATE_PATH = "/__trading212__/state"
OPTIONS_PATH = "/__trading212__/options"


def build(engine: Engine, faults: Faults, *, options: Options | None = None,
          keys: dict[str, tuple[str, str]] | None = None) -> Starlette:
    sim = Trading212Sim(engine, faults, options=options, keys=keys)
    engine._trading212_sim = sim  # type: ignore[attr-defined]

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    async def set_options(request: Request) -> JSONResponse:
        # Test control (loopback only): e.g. {"limit_scale": 0.01} so wall-clock CLI tests need not wait 5 s.
        changes = json.loads(await request.body() or b"{}")
        for name in ("enforce_limits", "limit_scale", "error_style"):
            if name in changes:
                setattr(sim.options, name, changes[name])
        return JSONResponse(sim.snapshot())

    app = Starlette(routes=[*routes.routes(sim), Route(STATE_PATH, state, methods=["GET"]),
                            Route(OPTIONS_PATH, set_options, methods=["POST"])])
    app.state.sim = sim
    return app


def error_response(status: int, retry_after: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Injected faults answer the way Trading 212's errors look."""
    if status == 429:
        error = wire.limited(1, 1)
    elif status == 401:
        error = wire.unauthorized()
    else:
        error = wire.ApiError(status, "internal-error", "Internal Server Error", "simulated error")
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None and status in (429, 503):
        headers.append((b"retry-after", str(max(0, round(retry_after))).encode()))
    return headers, body


def config_for(host: str, port: int) -> dict[str, Any]:
    """The ``brokers.trading212`` section for a simulator on ``host:port`` (practice, its test keys)."""
    where = f"[{host}]" if ":" in host else host
    return {"enabled": True, "practice": True, "api_key": SIM_KEY, "secret_key": SIM_SECRET,
            "base_url": f"http://{where}:{port}", "markets": ["EU_STOCKS", "US_STOCKS"]}


# A practice Invest account in EUR with fractional shares, no shorting. Orders answer NEW and fill at the
# next engine step; integer order ids.
make_engine = engine_factory("trading212", account_id=SIM_ACCOUNT, currency="EUR", cash=50_000, fractional=True,
                             allow_short=False, fill_on_submit=False, order_ids="seq",
                             client_order_id_unique="never")

SPEC = SimulatorSpec(broker="trading212", kind="asgi", build=build, make_engine=make_engine, config_for=config_for,
                     default_port=DEFAULT_PORT, title="Trading 212 (Public API v0, practice)",
                     step_interval=0.25, error_response=error_response)
