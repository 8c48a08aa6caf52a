"""Moving bytes for Binance REST: httpx, the rate limiter, the server clock.

Every request is charged its Binance weight (and one order for placements) before it leaves; the
``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-*`` answers correct the limiter afterwards. A 418 halts
the limiter until the ban ends (nothing is sent in between); a 429's Retry-After reaches the core, which
stops sending for that long. A -1021 (timestamp outside recvWindow) resynchronises the clock from
``/api/v3/time`` and sends once more: Binance refused it before processing, so a second send is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import trio

from orch.errors import BrokerUnavailable, OrderRejected, ProtocolError, RateLimited

from orch_binance import protocol
from orch_binance.protocol import ClockSkew, Credentials, HttpRequest, HttpResponse
from orch_binance.signing import ServerClock

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.binance")


class HttpSession:
    """One httpx client for the REST host. ``wall_clock`` (epoch seconds) stamps signed requests."""

    def __init__(self, *, base_url: str, credentials: Credentials, limiter: RateLimiter, timeout: float,
                 recv_window: int = 5000, broker: str = protocol.BROKER,
                 transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] = time.time, order_limit_10s: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._limiter = limiter
        self._broker = broker
        self._wall_clock = wall_clock
        self.recv_window = recv_window
        self.clock = ServerClock()
        self.order_limit_10s = order_limit_10s
        self.resyncs = 0
        # Redirects stay off: following one would carry the key header to another host.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    def _local_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    async def sync_time(self) -> int:
        """Measure the server clock offset (``GET /api/v3/time``); returns it in ms."""
        sent = self._local_ms()
        data = await self._send(protocol.server_time())
        received = self._local_ms()
        try:
            server = int(data["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("cannot read serverTime from /api/v3/time", broker=self._broker) from None
        return self.clock.update(server, sent, received)

    async def call(self, request: HttpRequest) -> Any:
        """Send ``request``; return its decoded JSON or raise the orch error."""
        try:
            return await self._send(request)
        except ClockSkew as first:
            self.resyncs += 1
            log.warning("%s: %s; resynchronising with the server clock and sending once more", self._broker,
                        first.broker_message)
            await self.sync_time()
            try:
                return await self._send(request)
            except ClockSkew as again:
                if request.is_order:
                    # Refused before processing, twice: a proven rejection, nothing was placed.
                    raise OrderRejected(f"timestamp outside recvWindow even after resynchronising "
                                        f"({again.broker_message})", broker=self._broker,
                                        broker_code=again.broker_code, broker_message=again.broker_message,
                                        status=again.status) from None
                raise

    async def _send(self, request: HttpRequest) -> Any:
        await self._limiter.acquire(request.weight, order=request.is_order)
        # Stamped after the limiter's wait, so a long wait cannot push the request out of its recvWindow.
        timestamp = self.clock.timestamp(self._local_ms()) if request.security == protocol.SIGNED else None
        wire = protocol.prepare(request, self._credentials, timestamp_ms=timestamp, recv_window=self.recv_window,
                                broker=self._broker)
        url = wire.url(self.base_url)
        try:
            answer = await self._client.request(wire.method, url, headers=dict(wire.headers),
                                                content=wire.body.encode() if wire.body else None)
        except httpx.TimeoutException as exc:
            raise BrokerUnavailable(f"timed out on {request.method} {request.path}", broker=self._broker,
                                    hint="the request may have reached Binance") from exc
        except httpx.TransportError as exc:
            raise BrokerUnavailable(f"cannot reach {self.base_url} ({type(exc).__name__})",
                                    broker=self._broker) from exc
        response = HttpResponse(answer.status_code, {k.lower(): v for k, v in answer.headers.items()},
                                answer.content)
        self._observe(response, request)
        try:
            return protocol.handle_response(request, response, broker=self._broker, now_epoch=self._wall_clock())
        except RateLimited as exc:
            if exc.status == 418:
                seconds = exc.retry_after if exc.retry_after is not None else 120.0
                self._limiter.halt(trio.current_time() + seconds, f"Binance IP ban (HTTP 418): {exc.broker_message}")
            raise

    def _observe(self, response: HttpResponse, request: HttpRequest) -> None:
        usage = protocol.parse_usage(response.headers)
        if usage.weight_1m is not None:
            self._limiter.observe(used=usage.weight_1m)
        limit = self.order_limit_10s
        if request.is_order and usage.orders_10s is not None and limit and usage.orders_10s >= limit:
            # The 10-second order window is full: wait it out rather than collect -1015 refusals.
            log.warning("%s: %d orders in 10s (limit %d); pausing", self._broker, usage.orders_10s, limit)
            self._limiter.penalize(10.0)

    async def aclose(self) -> None:
        await self._client.aclose()
