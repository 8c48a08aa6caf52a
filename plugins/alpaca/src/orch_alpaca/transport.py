"""Moving bytes: httpx for REST, trio-websocket for the streams. Alpaca's rules live in
:mod:`orch_alpaca.protocol` and :mod:`orch_alpaca.streams`; this module only sends, receives, charges the
rate limiter, reconnects and maps network failures to BrokerUnavailable.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import trio
from attrs import frozen

from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError

from orch_alpaca import protocol
from orch_alpaca.protocol import Credentials, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.alpaca")


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


class WebSocket(Protocol):
    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connector = Callable[[str], AbstractAsyncContextManager[WebSocket]]


def open_websocket(url: str) -> AbstractAsyncContextManager[WebSocket]:
    import trio_websocket

    return trio_websocket.open_websocket_url(url)


class Session(Protocol):
    """A sans-IO stream session (:mod:`orch_alpaca.streams`)."""

    @property
    def ready(self) -> bool: ...

    def start(self) -> Any: ...

    def receive(self, frame: str | bytes) -> Any: ...


@frozen
class StreamPolicy:
    """``silence``: seconds without a frame before the connection is probed with a ping; ``probe``:
    seconds the pong may take before the connection counts as dead; ``quiet_periods``: how many silent
    periods an answered ping excuses before the stream is replaced anyway. Backoff doubles from
    ``backoff_initial`` up to ``backoff_max``, with jitter, and resets once a session is streaming."""

    silence: float = 30.0
    probe: float = 10.0
    quiet_periods: int = 1
    handshake: float = 15.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** attempt))
        return ceiling / 2 + rng() * ceiling / 2


class _Silent(Exception):
    pass


def _retryable(exc: BaseException) -> bool:
    import trio_websocket

    if isinstance(exc, trio_websocket.ConnectionRejected):
        return exc.status_code not in (401, 403)
    return isinstance(exc, (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError,
                            _Silent, BrokerUnavailable))


def _fatal(exc: BaseException, url: str, broker: str) -> OrchError:
    import trio_websocket

    if isinstance(exc, trio_websocket.ConnectionRejected):
        return AuthError(f"{url} refused the connection (HTTP {exc.status_code})", broker=broker,
                         status=exc.status_code)
    return BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker)


async def run_stream(url: str, make_session: Callable[[], Session], deliver: Callable[[Any], Awaitable[None]],
                     *, connect: Connector = open_websocket, policy: StreamPolicy = StreamPolicy(),
                     broker: str = protocol.BROKER, logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random) -> None:
    """Keep one stream alive until cancelled: connect, let a fresh session authenticate and subscribe,
    pass every item it yields to ``deliver``; on a drop, a silent connection or a transient error, wait
    (backoff) and start over, which resubscribes. Errors retrying cannot fix (refused keys, a missing
    subscription, an unreadable frame) end the stream by raising."""
    attempt = 0
    while True:
        session = make_session()
        try:
            # trio-websocket starts its reader before the handshake, so its own connect timeout cannot end a
            # handshake the server never answers: this scope's deadline covers handshake and subscription
            # and is lifted once the session is ready.
            with trio.CancelScope(deadline=trio.current_time() + policy.handshake) as setup:
                async with connect(url) as ws:
                    for message in session.start().send:
                        await ws.send_message(message)
                    quiet_periods = 0
                    while True:
                        frame = None
                        with trio.move_on_after(policy.silence):
                            frame = await ws.get_message()
                        if frame is None:
                            quiet_periods += 1
                            # A pong proves only the socket: the server's websocket layer answers pings even
                            # when the feed behind it is dead. One answered probe buys one more quiet period.
                            if quiet_periods > policy.quiet_periods:
                                raise _Silent(f"no frame for {quiet_periods} x {policy.silence:g}s")
                            with trio.move_on_after(policy.probe):
                                await ws.ping()
                                continue
                            raise _Silent(f"no frame for {policy.silence:g}s and no answer to a ping")
                        quiet_periods = 0
                        output = session.receive(frame)
                        for message in output.send:
                            await ws.send_message(message)
                        if session.ready:
                            setup.deadline = math.inf
                            attempt = 0
                        for item in output.items:
                            await deliver(item)
            if setup.cancelled_caught:
                raise _Silent(f"no answer to the handshake within {policy.handshake:g}s")
        except Exception as exc:
            if isinstance(exc, OrchError) and not isinstance(exc, BrokerUnavailable):
                raise
            if not _retryable(exc):
                raise _fatal(exc, url, broker) from exc
            delay = policy.delay(attempt, rng)
            attempt += 1
            logger.warning("%s: stream %s interrupted (%s: %s); reconnecting in %.1fs", broker, url,
                           type(exc).__name__, exc, delay)
            await trio.sleep(delay)


class BackgroundStream:
    """An async iterator fed by tasks that run in the connection's nursery. The tasks start on the first
    ``__anext__`` and stop on :meth:`aclose` (or when the connection closes, which ends the iteration).
    An error that ends a task is raised to the consumer. With ``lossy`` (quotes), items that would
    overflow the buffer are dropped rather than stalling the socket reader, since Alpaca disconnects
    slow clients; order updates are never dropped."""

    def __init__(self, nursery: trio.Nursery,
                 runners: Sequence[Callable[[Callable[[Any], Awaitable[None]]], Awaitable[None]]], *,
                 buffer: int = 1024, lossy: bool = False, name: str = "stream",
                 logger: logging.Logger = log) -> None:
        self._nursery = nursery
        self._runners = list(runners)
        self._send, self._receive = trio.open_memory_channel[Any](buffer)
        self._lossy = lossy
        self._name = name
        self._logger = logger
        self._scope = trio.CancelScope()
        self._error: BaseException | None = None
        self._started = False
        self.dropped = 0

    def __aiter__(self) -> BackgroundStream:
        return self

    async def __anext__(self) -> Any:
        if not self._started:
            self._started = True
            self._nursery.start_soon(self._run, name=self._name)
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._scope.cancel()
        self._started = True  # a closed stream never starts
        await self._receive.aclose()

    async def _deliver(self, item: Any) -> None:
        if not self._lossy:
            await self._send.send(item)
            return
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                self._logger.warning("%s: consumer is slow; %d items dropped", self._name, self.dropped)

    async def _guard(self, runner: Callable[[Callable[[Any], Awaitable[None]]], Awaitable[None]]) -> None:
        try:
            await runner(self._deliver)
        except Exception as exc:
            if self._error is None:
                self._error = exc
            self._scope.cancel()

    async def _run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as tasks:
                    for runner in self._runners:
                        tasks.start_soon(self._guard, runner)
        finally:
            self._send.close()
