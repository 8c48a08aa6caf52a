"""The HTTP plumbing every REST route shares: counting, the per-key budget with its ``X-RateLimit-*``
headers, authentication, JSON bodies and turning errors into Alpaca's answers.

A handler is ``async def handler(call: Call) -> Any``: it returns the JSON body (status 200), a
``(status, body)`` pair, or None for 204. It raises :class:`~.errors.AlpacaError` for refusals;
:class:`~orch.sim.orders.SimError` from the engine is mapped here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from attrs import define
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orch.sim.orders import SimError

from orch_alpaca.sim import errors
from orch_alpaca.sim.state import AlpacaSim

log = logging.getLogger("orch.sim.alpaca")

KEY_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"
TRADING = "trading"
DATA = "data"


@define
class Call:
    """One authenticated request as handlers see it. ``account_id`` is the engine account of the key
    (None for an anonymous crypto market-data request)."""

    sim: AlpacaSim
    request: Request
    key_id: str | None
    account_id: str | None

    @property
    def query(self) -> Any:
        return self.request.query_params

    async def json(self) -> Any:
        raw = await self.request.body()
        if not raw.strip():
            return None
        try:
            # Decimal straight from the text: a price never passes through a float.
            return json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise errors.malformed() from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        text = value.strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise errors.invalid(f"invalid {name}: {value!r}")
        return text in ("true", "1")


def sim_error(exc: SimError) -> errors.AlpacaError:
    if exc.code == "order_not_found":
        return errors.not_found("order not found")
    if exc.code == "not_cancelable":
        return errors.unprocessable("order is not cancelable")
    if exc.code == "not_modifiable":
        return errors.unprocessable("order is not replaceable")
    if exc.code == "account_not_found":
        return errors.not_found("account not found")
    return errors.invalid(exc.message)


def _response(status: int, body: Any, headers: dict[str, str]) -> Response:
    if body is None and status == 204:
        return Response(status_code=204, headers=headers)
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json; charset=UTF-8")


def endpoint(sim: AlpacaSim, name: str, handler: Callable[[Call], Awaitable[Any]], *, api: str = TRADING,
             auth: str = "required") -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler``. ``auth``: ``"required"``, or ``"optional"`` (crypto market data: anonymous is
    fine, but keys that are sent must be valid)."""

    async def run(request: Request) -> Response:
        sim.sync_limits()
        sim.counters.request(name)
        key_id = request.headers.get(KEY_HEADER)
        secret = request.headers.get(SECRET_HEADER)
        limiter = sim.trading_limiter if api == TRADING else sim.data_limiter
        client = request.client.host if request.client else "unknown"
        authenticated = key_id is not None and sim.check_key(key_id, secret)
        # A refused key is not charged to the real key's budget: only its owner can spend that.
        budget = limiter.hit(f"key:{key_id}" if authenticated else f"ip:{client}")
        headers = budget.headers()
        try:
            if not authenticated and (auth == "required" or key_id is not None or secret is not None):
                raise errors.unauthorized()
            if not budget.allowed:
                raise errors.too_many()
            account_id = sim.account_id(key_id) if authenticated and key_id else None
            result = await handler(Call(sim, request, key_id if authenticated else None, account_id))
            status, body = result if isinstance(result, tuple) else (204 if result is None else 200, result)
        except errors.AlpacaError as exc:
            status, body = exc.status, exc.body()
        except SimError as exc:
            error = sim_error(exc)
            status, body = error.status, error.body()
        sim.counters.status(status)
        return _response(status, body, headers)

    return run


def route(sim: AlpacaSim, path: str, method: str, handler: Callable[[Call], Awaitable[Any]], *,
          api: str = TRADING, auth: str = "required") -> Route:
    return Route(path, endpoint(sim, f"{method} {path}", handler, api=api, auth=auth), methods=[method])
