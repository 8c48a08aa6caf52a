"""Moving bytes: one httpx client. Trading 212's rules live in :mod:`orch_trading212.protocol`; this
module only charges the limiters, sends, feeds the ``x-ratelimit-*`` answer back and maps network
failures to BrokerUnavailable.

Trading 212 limits each endpoint on its own (1 per 5 s for the account summary, 50 per minute for market
orders…), per account. Each endpoint gets its own :class:`~orch.resilience.limiter.RateLimiter` with one
:class:`~orch.resilience.budget.Rule`, kept in the shared limiter's store under the shared limiter's key
(so processes sharing a budget store share these too); the shared limiter (the guide's ``rate_limit``)
then caps the total.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from orch.errors import BrokerUnavailable, RateLimited
from orch.resilience.budget import Rule
from orch.resilience.limiter import RateLimiter

from orch_trading212 import protocol
from orch_trading212.protocol import Credentials, HttpRequest, HttpResponse

log = logging.getLogger("orch.broker.trading212")


def endpoint_limiters(shared: RateLimiter, *, name: str) -> dict[str, RateLimiter]:
    """One budget per endpoint. Made as separate budgets of the shared limiter where it has them, so a
    429 naming its endpoint (``RateLimited.budget``) holds back that endpoint alone, not every call."""
    make = getattr(shared, "budget", None)
    limiters = {}
    for endpoint, (limit, period) in protocol.LIMITS.items():
        rules = [Rule(endpoint, limit, period, weighted=False)]
        if make is not None:
            limiters[endpoint] = make(endpoint, rules)
        else:
            limiters[endpoint] = RateLimiter(rules, name=name, store=shared.store, key=f"{shared.key}:{endpoint}")
        limiters[endpoint].cool_down = period
    return limiters


class HttpSession:
    """``wall_clock`` (epoch seconds) is the fallback for turning ``x-ratelimit-reset`` into a delay when a
    response has no ``Date``; :attr:`server_offset` (server epoch − local epoch, from the last ``Date``)
    lets callers express times on the server's clock (order ``createdAt``)."""

    def __init__(self, *, base_url: str, credentials: Credentials, limiter: RateLimiter, timeout: float,
                 broker: str = protocol.BROKER, transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._base = base_url.rstrip("/")
        self._credentials = credentials
        self._limiter = limiter
        self._broker = broker
        self._wall_clock = wall_clock
        self.limiters = endpoint_limiters(limiter, name=broker)
        self.server_offset = 0.0
        # Redirects stay off: following one would carry the Authorization header to another host.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    def server_time(self) -> float:
        return self._wall_clock() + self.server_offset

    def _limiter_for(self, endpoint: str) -> RateLimiter | None:
        return self.limiters.get(endpoint)

    async def call(self, request: HttpRequest) -> Any:
        """Send ``request``; return its decoded JSON (None for an empty answer) or raise the orch error."""
        own = self._limiter_for(request.endpoint)
        # The endpoint's window, the one Trading 212 counts, is charged last, right before sending: charged
        # first, a wait on the shared cap could let several of its turns pass and send them together.
        await self._limiter.acquire(1, order=request.is_order)
        if own is not None:
            await own.acquire(1)
        headers = {"Authorization": protocol.authorization(self._credentials), "Accept": "application/json"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        url = protocol.url_for(self._base, request)
        try:
            answer = await self._client.request(request.method, url, headers=headers, content=request.body)
        except httpx.TimeoutException as exc:
            raise BrokerUnavailable(f"timed out on {request.method} {request.endpoint}", broker=self._broker,
                                    hint="the request may have reached Trading 212") from exc
        except httpx.TransportError as exc:
            raise BrokerUnavailable(f"cannot reach {self._base} ({type(exc).__name__})", broker=self._broker) from exc
        response = HttpResponse(answer.status_code, {k.lower(): v for k, v in answer.headers.items()},
                                answer.content)
        now = self._wall_clock()
        self.server_offset = protocol.server_now(response.headers, now) - now
        info = protocol.parse_rate_limit(response.headers, now=now)
        if own is not None and info is not None:
            used = info.used
            if used is None and info.remaining is not None and info.limit is not None:
                used = max(0, info.limit - info.remaining)
            own.observe(used=used, limit=info.limit, reset_after=info.reset_after)
            if info.remaining == 0 and info.reset_after is not None:
                # Our window opened when we asked, Trading 212's when the request arrived: wait for the
                # broker's reset (never longer than its period from now) so the next request is not early.
                wait = info.reset_after if info.period is None else min(info.reset_after, info.period)
                own.penalize(wait)
        try:
            return protocol.handle_response(request, response, now=now, broker=self._broker)
        except RateLimited as exc:
            if own is not None:
                # Nothing more goes to this endpoint until Trading 212's window resets.
                own.penalize(exc.retry_after if exc.retry_after is not None else None)
                if exc.retry_after is not None:
                    exc.retry_after = math.ceil(exc.retry_after * 1000) / 1000
            raise

    async def aclose(self) -> None:
        await self._client.aclose()
