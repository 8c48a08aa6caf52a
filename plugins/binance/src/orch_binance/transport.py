"""Moving bytes for Binance REST: httpx, the rate limiter, the server clock.

Every request is charged its Binance weight (and one order for placements) before it leaves; the
``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-*`` answers correct the limiter afterwards. Binance counts
orders apart from weight (per account, per 10 s and per day): those windows are added to the limiter as
order-only rules, charged in the same step as the weight (so an order never holds a slot in one window
while it waits for the other), and a full order window holds back orders only, never quotes or account
reads. The day's limit, once reached, refuses orders at once (nothing sent) until Binance's day ends. A 418 halts
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
from orch.resilience.limiter import BudgetHalted

from orch_binance import protocol
from orch_binance.protocol import ClockSkew, Credentials, HttpRequest, HttpResponse
from orch_binance.signing import ServerClock

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.binance")

# Binance's published order limits, used until exchangeInfo says otherwise.
ORDERS_10S, ORDERS_1D = 100, 200_000
# An order that cannot get a slot within this long is refused (nothing sent) rather than left waiting.
ORDER_WAIT_LIMIT = 3600.0


def _seconds_to_utc_midnight(epoch: float) -> float:
    """Binance's daily order count restarts at 00:00 UTC."""
    return 86400.0 - epoch % 86400.0


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
        self.order_limit_1d: int | None = None
        self._orders_ruled = False
        self._day_closed_until: float | None = None
        self.resyncs = 0
        # Redirects stay off: following one would carry the key header to another host.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    def set_order_limits(self, ten_seconds: int | None = None, day: int | None = None) -> None:
        """Binance's order windows (exchangeInfo's figures, else the published ones) as order-only rules of
        the limiter. A limiter that cannot take rules (a test's stand-in) keeps its own orders rule."""
        from orch.resilience.budget import Rule

        if ten_seconds is not None:
            self.order_limit_10s = ten_seconds
        if day is not None:
            self.order_limit_1d = day
        adopt = getattr(self._limiter, "adopt_rule", None)
        if adopt is None:
            return
        adopt(Rule(protocol.ORDERS_10S_RULE, self.order_limit_10s or ORDERS_10S, 10.0, weighted=False,
                   orders_only=True))
        adopt(Rule(protocol.ORDERS_1D_RULE, self.order_limit_1d or ORDERS_1D, 86400.0, weighted=False,
                   orders_only=True))
        self._orders_ruled = True

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
        if request.is_order:
            self._refuse_when_day_closed()
            if not self._orders_ruled:
                self.set_order_limits()
            granted = False
            with trio.move_on_after(ORDER_WAIT_LIMIT):
                await self._limiter.acquire(request.weight, order=True)
                granted = True
            if not granted:
                raise BudgetHalted(f"no order slot within {ORDER_WAIT_LIMIT:.0f}s; the order was not sent",
                                   retry_after=None, broker=self._broker)
            self._refuse_when_day_closed()  # closed while this order waited: still nothing sent
        else:
            await self._limiter.acquire(request.weight)
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
            if exc.budget == protocol.ORDERS_1D_RULE:
                # Refused for the day (another client's orders, or a limit exchangeInfo did not give).
                self._day_closed_until = trio.current_time() + _seconds_to_utc_midnight(self._wall_clock())
            if exc.status == 418:
                seconds = exc.retry_after if exc.retry_after is not None else 120.0
                self._limiter.halt(trio.current_time() + seconds, f"Binance IP ban (HTTP 418): {exc.broker_message}")
            raise

    def _refuse_when_day_closed(self) -> None:
        until = self._day_closed_until
        if until is not None and trio.current_time() < until:
            left = until - trio.current_time()
            raise BudgetHalted(f"Binance's limit of {self.order_limit_1d or ORDERS_1D} orders a day is reached; "
                               f"no order is sent for another {left / 3600:.1f}h (until 00:00 UTC)",
                               retry_after=left, banned_until=until, broker=self._broker)

    def _observe(self, response: HttpResponse, request: HttpRequest) -> None:
        usage = protocol.parse_usage(response.headers)
        if usage.weight_1m is not None:
            self._limiter.observe(used=usage.weight_1m)
        if not request.is_order or not self._orders_ruled:
            return
        if usage.orders_10s is not None:
            # Counted for a whole window from now: a full window (other clients' orders included) holds
            # back the next order, and only orders, until it has passed.
            self._limiter.observe(used=usage.orders_10s, rule=protocol.ORDERS_10S_RULE)
        if usage.orders_1d is not None:
            left = _seconds_to_utc_midnight(self._wall_clock())
            self._limiter.observe(used=usage.orders_1d, rule=protocol.ORDERS_1D_RULE, reset_after=left)
            day = self.order_limit_1d or ORDERS_1D
            if usage.orders_1d >= day:
                log.warning("%s: %d orders today (limit %d); refusing orders until 00:00 UTC", self._broker,
                            usage.orders_1d, day)
                # A day-long wait would send a stale order tomorrow: refuse (nothing sent) instead.
                self._day_closed_until = trio.current_time() + left

    async def aclose(self) -> None:
        await self._client.aclose()
