"""Moving bytes for the DEGIRO plugin: one httpx client with the browser-like headers, the proxy the
settings ask for, the rate limiter charged before every request, and network failures mapped to
BrokerUnavailable. DEGIRO's rules are in :mod:`orch_degiro.protocol`; sessions and re-login in
:mod:`orch_degiro.connection`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from orch.errors import BrokerUnavailable

from orch_degiro import matching, protocol
from orch_degiro.protocol import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.degiro")


class SessionExpired(Exception):
    """A session call answered 401: the connection logs in again (once) and repeats the call."""


class HttpSession:
    """Sends :class:`~orch_degiro.protocol.HttpRequest` values. Cookies are not kept between calls (the
    session id goes along explicitly, so a stale cookie can never stand in for the current session)."""

    def __init__(self, *, limiter: RateLimiter, timeout: float, proxy: str | None = None,
                 broker: str = protocol.BROKER, transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._limiter = limiter
        self._broker = broker
        self._wall_clock = wall_clock
        self.server_offset = 0.0  # DEGIRO's clock minus ours, from the last Date header
        # Redirects stay off: a redirect to a login page would otherwise look like a success.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, proxy=proxy, follow_redirects=False,
                                         headers=dict(protocol.BROWSER_HEADERS))

    async def send(self, request: HttpRequest, *, session_id: str | None = None,
                   int_account: int | None = None, prepaid: bool = False) -> HttpResponse:
        """Send ``request`` (with the session where its endpoint wants it); any HTTP status comes back.
        ``prepaid``: the caller already charged the limiter for it (one charge for a short exchange whose
        steps must follow each other)."""
        url, params, cookies = request.url, dict(request.params), {}
        if request.session is not None:
            if session_id is None:
                raise SessionExpired("no session")
            url, params, cookies = protocol.with_session(request, session_id, int_account)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else None
        if not prepaid:
            await self._limiter.acquire(1, order=request.is_order)
        try:
            answer = await self._client.request(request.method, url, params=params or None, content=request.body,
                                                headers=headers)
        except httpx.TimeoutException:
            raise BrokerUnavailable(f"timed out on {request.method} {_path(request.url)}", broker=self._broker,
                                    hint="the request may have reached DEGIRO") from None
        except httpx.TransportError as exc:
            raise BrokerUnavailable(f"cannot reach {_host(request.url)} ({type(exc).__name__})",
                                    broker=self._broker) from None
        self._client.cookies.clear()
        server = matching.date_header(answer.headers)
        if server is not None:
            self.server_offset = server - self._wall_clock()
        return HttpResponse(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)

    async def call(self, request: HttpRequest, *, session_id: str | None = None,
                   int_account: int | None = None, prepaid: bool = False) -> Any:
        """Send; return the decoded JSON (None when empty) or raise the orch error (SessionExpired on 401)."""
        response = await self.send(request, session_id=session_id, int_account=int_account, prepaid=prepaid)
        if response.status == 401 and request.session is not None:
            raise SessionExpired(request.url)
        if not 200 <= response.status < 300:
            raise protocol.error_for(request, response, broker=self._broker)
        if not response.body.strip():
            return None
        return protocol.parse_json(response, broker=self._broker)

    def server_time(self) -> float:
        """DEGIRO's clock now (epoch seconds), as far as its Date headers tell."""
        return self._wall_clock() + self.server_offset

    async def prepay(self, requests: int) -> None:
        """Charge the limiter for ``requests`` plain requests at once; send them with ``prepaid=True``."""
        await self._limiter.acquire(requests)

    async def aclose(self) -> None:
        await self._client.aclose()


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].partition("/")[2]


def _host(url: str) -> str:
    return url.split("://", 1)[-1].partition("/")[0]
