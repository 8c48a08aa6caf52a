"""Moving bytes: httpx for REST, trio-websocket for the streams. Alpaca's rules live in
:mod:`orch_alpaca.protocol` and :mod:`orch_alpaca.streams`; this module only sends, receives, charges the
rate limiter, reconnects and maps network failures to BrokerUnavailable.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import trio

from orch import streaming
from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError
from orch.streaming import Connector, Runner, Session, StreamPolicy, WebSocket, open_websocket

from orch_alpaca import protocol
from orch_alpaca.protocol import Credentials, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.alpaca")

__all__ = ["BackgroundStream", "Connector", "HttpSession", "Session", "StreamPolicy", "WebSocket",
           "market_data_limiter", "open_websocket", "run_stream"]


# ------------------------------------------------------------------------------------- REST


def market_data_limiter(limiter: RateLimiter, requests_per_minute: int) -> RateLimiter:
    """The limiter's separate budget for the market-data API, which Alpaca limits apart from trading: a
    burst of quotes, or a 429 it earns, must not hold back order placement. A limiter without separate
    budgets (a test's stand-in) serves both."""
    make = getattr(limiter, "budget", None)
    if make is None:
        return limiter
    from orch.resilience.budget import Rule

    # `quote` is the client operation that calls the data API: its penalties are waited out before the
    # call's deadline starts, not inside it.
    return make(protocol.DATA_BUDGET, [Rule("requests", requests_per_minute, 60.0, weighted=False)],
                ops=("quote",))


class HttpSession:
    """One httpx client for both Alpaca hosts. Each call is charged to its API's limiter (``data_limiter``
    for market data, the main ``limiter`` otherwise) before it leaves and the broker's ``X-RateLimit-*``
    answer is fed back to the same one after. ``wall_clock`` (epoch seconds) is only the fallback for
    turning ``X-RateLimit-Reset`` into a delay when the response has no ``Date``."""

    def __init__(self, *, trading_url: str, data_url: str, credentials: Credentials, limiter: RateLimiter,
                 timeout: float, broker: str = protocol.BROKER,
                 transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time, data_limiter: RateLimiter | None = None) -> None:
        self._bases = {protocol.TRADING: trading_url.rstrip("/"), protocol.DATA: data_url.rstrip("/")}
        self._credentials = credentials
        self._limiters = {protocol.TRADING: limiter, protocol.DATA: data_limiter or limiter}
        self._broker = broker
        self._wall_clock = wall_clock
        # Redirects stay off: following one would carry the key headers to another host.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    async def call(self, request: HttpRequest) -> Any:
        """Send ``request``; return its decoded JSON (None for an empty answer) or raise the orch error."""
        signed = protocol.sign(request, self._credentials, broker=self._broker)
        url = self._bases[request.api] + request.path
        limiter = self._limiters[request.api]
        await limiter.acquire(1, order=request.is_order)
        try:
            answer = await self._client.request(signed.method, url, params=dict(signed.params) or None,
                                                headers=dict(signed.headers), json=signed.json)
        except httpx.TimeoutException as exc:
            raise BrokerUnavailable(f"timed out on {request.method} {request.path}", broker=self._broker,
                                    hint="the request may have reached Alpaca") from exc
        except httpx.TransportError as exc:
            raise BrokerUnavailable(f"cannot reach {self._bases[request.api]} ({type(exc).__name__})",
                                    broker=self._broker) from exc
        response = HttpResponse(answer.status_code, {k.lower(): v for k, v in answer.headers.items()},
                                answer.content)
        now = self._wall_clock()
        info = protocol.parse_rate_limit(response.headers, now=now)
        if info is not None:
            limiter.observe(remaining=info.remaining, limit=info.limit, reset_after=info.reset_after)
        return protocol.handle_response(request, response, now=now, broker=self._broker)

    async def aclose(self) -> None:
        await self._client.aclose()


# ------------------------------------------------------------------------------------- websockets


def _classify(exc: Exception, url: str, broker: str) -> BaseException | None:
    """None to reconnect; otherwise what ends the stream (refused keys, a missing subscription, an
    unreadable frame)."""
    import trio_websocket

    if isinstance(exc, OrchError) and not isinstance(exc, BrokerUnavailable):
        return exc
    if isinstance(exc, trio_websocket.ConnectionRejected):
        if exc.status_code in (401, 403):
            return AuthError(f"{url} refused the connection (HTTP {exc.status_code})", broker=broker,
                             status=exc.status_code)
        return None
    if isinstance(exc, (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError,
                        BrokerUnavailable)):
        return None
    return BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker)


async def run_stream(url: str, make_session: Callable[[], Session], deliver: Callable[[Any], Awaitable[None]],
                     *, connect: Connector = open_websocket, policy: StreamPolicy = StreamPolicy(),
                     broker: str = protocol.BROKER, logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random) -> None:
    """Keep one stream alive until cancelled (:func:`orch.streaming.run_stream`); errors retrying cannot
    fix (refused keys, a missing subscription, an unreadable frame) end the stream by raising."""
    await streaming.run_stream(url, make_session, deliver, classify=_classify, connect=connect, policy=policy,
                               broker=broker, logger=logger, rng=rng)


class BackgroundStream(streaming.BackgroundStream):
    """:class:`orch.streaming.BackgroundStream` logging to Alpaca's logger by default."""

    def __init__(self, nursery: trio.Nursery, runners: Sequence[Runner], *, buffer: int = 1024,
                 lossy: bool = False, name: str = "stream", logger: logging.Logger = log) -> None:
        super().__init__(nursery, runners, buffer=buffer, lossy=lossy, name=name, logger=logger)
