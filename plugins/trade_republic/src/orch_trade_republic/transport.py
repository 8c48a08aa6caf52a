"""Moving bytes: httpx for the login and session calls, trio-websocket for everything else. Trade
Republic's rules live in :mod:`.auth`, :mod:`.frames` and :mod:`.protocol`; this module sends, receives,
charges the rate limiter, keeps connections alive, reconnects and maps network failures to
BrokerUnavailable.

* :class:`HttpSession` – one REST call at a time, cookies sent explicitly (never a client cookie jar).
* :class:`RequestSocket` – the shared websocket for one-shot subscriptions (``sub`` → first answer →
  ``unsub``): connects lazily, echoes to stay alive, and is replaced after a drop.
* :func:`run_stream` – a streaming subscription set on its own connection: silence detection with echoes,
  reconnect with backoff and jitter, resubscribe.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import trio

from orch import streaming
from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError, RateLimited
from orch.streaming import StreamPolicy  # an echo probes Trade Republic's socket as a ping does others'

from orch_trade_republic import auth, frames, protocol
from orch_trade_republic.frames import BROKER, Answer, Complete, Connected, Desynced, Echo, Failed, WsSession

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.trade_republic")


# ------------------------------------------------------------------------------------- REST


class HttpSession:
    def __init__(self, base_url: str, *, limiter: RateLimiter, timeout: float, broker: str = BROKER,
                 transport: httpx.AsyncBaseTransport | None = None,
                 wall_clock: Callable[[], float] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._limiter = limiter
        self._broker = broker
        self._wall_clock = wall_clock
        # Redirects stay off: following one would carry the cookies somewhere else.
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    async def call(self, request: auth.HttpRequest, cookies: Mapping[str, str] | None = None
                   ) -> tuple[Any, auth.HttpResponse]:
        """Send ``request``; return (decoded JSON, the response) or raise the orch error."""
        headers = dict(request.headers)
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items() if v)
        await self._limiter.acquire(1)
        try:
            answer = await self._client.request(request.method, self.base_url + request.path, headers=headers,
                                                json=request.json)
        except httpx.TimeoutException as exc:
            raise BrokerUnavailable(f"timed out on {request.method} {_where(request)}", broker=self._broker) from exc
        except httpx.TransportError as exc:
            raise BrokerUnavailable(f"cannot reach {self.base_url} ({type(exc).__name__})",
                                    broker=self._broker) from exc
        finally:
            self._client.cookies.clear()  # cookies are the session's job, never a hidden jar's
        response = auth.HttpResponse(answer.status_code, tuple(answer.headers.multi_items()), answer.content)
        if 200 <= response.status < 300:
            return auth.decode(response, broker=self._broker), response
        now = self._wall_clock() if self._wall_clock else None
        raise auth.error_for(request, response, now=now, broker=self._broker)

    async def aclose(self) -> None:
        await self._client.aclose()


def _where(request: auth.HttpRequest) -> str:
    # Login process ids stay out of messages.
    return request.path.split("/processes/")[0]


# ------------------------------------------------------------------------------------- websockets


class WebSocket(Protocol):
    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...


Connector = Callable[[str, list[tuple[bytes, bytes]]], AbstractAsyncContextManager[WebSocket]]


def open_websocket(url: str, headers: list[tuple[bytes, bytes]]) -> AbstractAsyncContextManager[WebSocket]:
    import trio_websocket

    return trio_websocket.open_websocket_url(url, extra_headers=headers, connect_timeout=15,
                                             disconnect_timeout=5)


def _network_error(exc: BaseException, url: str, broker: str) -> OrchError | None:
    """The orch error for a websocket failure, or None if it is not one."""
    import trio_websocket

    if isinstance(exc, trio_websocket.ConnectionRejected):
        status = exc.status_code
        if status in (401, 403):
            return AuthError(f"{url} refused the session (HTTP {status})", broker=broker, status=status,
                             hint="log in again: orch trade_republic login")
        if status == 429:
            retry = None
            for key, value in exc.headers or ():
                if key.lower() == b"retry-after":
                    try:
                        retry = float(value)
                    except ValueError:
                        retry = None
            return RateLimited(f"{url} refused the connection (HTTP 429)", retry_after=retry, broker=broker,
                               status=status)
        return BrokerUnavailable(f"{url} refused the connection (HTTP {status})", broker=broker, status=status)
    if isinstance(exc, (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError)):
        return BrokerUnavailable(f"websocket {url}: {type(exc).__name__}", broker=broker)
    return None


class _Pending:
    def __init__(self) -> None:
        self.event = trio.Event()
        self.result: Any = None


class _Ready:
    def __init__(self) -> None:
        self.event = trio.Event()
        self.live: _Live | None = None
        self.error: BaseException | None = None


class _Live:
    def __init__(self, ws: WebSocket, session: WsSession) -> None:
        self.ws = ws
        self.session = session
        self.pending: dict[int, _Pending] = {}
        self.dead = False
        self.scope = trio.CancelScope()


class RequestSocket:
    """The websocket for one-shot subscriptions. ``headers()`` gives the handshake headers (the session
    cookies) at each connect, so a reconnect after a refresh uses the fresh session."""

    def __init__(self, url: str, *, headers: Callable[[], list[tuple[bytes, bytes]]], locale: str,
                 limiter: RateLimiter, nursery: trio.Nursery, timeout: float, broker: str = BROKER,
                 connect: Connector = open_websocket, keepalive: float = 20.0,
                 logger: logging.Logger = log) -> None:
        self.url = url
        self._headers = headers
        self._locale = locale
        self._limiter = limiter
        self._nursery = nursery
        self._timeout = timeout
        self._broker = broker
        self._connect = connect
        self._keepalive = keepalive
        self._logger = logger
        self._live: _Live | None = None
        self._lock = trio.Lock()
        self.connections = 0

    async def _connection(self) -> _Live:
        async with self._lock:
            if self._live is not None and not self._live.dead:
                return self._live
            ready = _Ready()
            self._nursery.start_soon(self._run, ready)
            await ready.event.wait()
            if ready.error is not None:
                raise ready.error
            assert ready.live is not None
            self._live = ready.live
            return self._live

    async def _run(self, ready: _Ready) -> None:
        # The connection lives in the connection's nursery; the first caller waits on ``ready``.
        live: _Live | None = None
        try:
            with trio.CancelScope(deadline=trio.current_time() + self._timeout) as setup:
                async with self._connect(self.url, self._headers()) as ws:
                    session = WsSession(broker=self._broker)
                    await ws.send_message(frames.connect_message(self._locale))
                    event = session.receive(await ws.get_message())
                    if not isinstance(event, Connected):
                        raise BrokerUnavailable("no websocket handshake", broker=self._broker)
                    setup.deadline = math.inf
                    live = _Live(ws, session)
                    self.connections += 1
                    ready.live = live
                    ready.event.set()
                    with live.scope:
                        async with trio.open_nursery() as inner:
                            inner.start_soon(self._echo, live)
                            skipped = 0
                            while True:
                                frame = await ws.get_message()
                                try:
                                    event = live.session.receive(frame)
                                except Exception as exc:
                                    if not streaming.unreadable(exc):
                                        raise
                                    skipped += 1
                                    streaming.report_skipped(self._logger, self._broker, self.url, exc, skipped)
                                    continue
                                self._dispatch(live, event)
            if live is None:
                ready.error = BrokerUnavailable(f"no websocket handshake from {self.url} within "
                                                f"{self._timeout:g}s", broker=self._broker)
        except Exception as exc:  # noqa: BLE001 - every failure ends this connection; waiters learn why
            error = exc if isinstance(exc, OrchError) else _network_error(exc, self.url, self._broker)
            if live is None:
                ready.error = error or BrokerUnavailable(f"websocket {self.url}: {type(exc).__name__}",
                                                         broker=self._broker)
            else:
                self._logger.warning("%s: websocket closed (%s)", self._broker, type(exc).__name__)
        finally:
            ready.event.set()
            if live is not None:
                live.dead = True
                for pending in live.pending.values():
                    pending.event.set()

    async def _echo(self, live: _Live) -> None:
        while True:
            await trio.sleep(self._keepalive)
            await live.ws.send_message(WsSession.echo(int(trio.current_time() * 1000)))

    @staticmethod
    def _dispatch(live: _Live, event: Any) -> None:
        if isinstance(event, (Answer, Failed, Complete)):
            pending = live.pending.get(event.sub_id)
            if pending is not None and pending.result is None:
                pending.result = event
                pending.event.set()

    async def request(self, payload: Mapping[str, Any], *, topic: str, order: bool = False) -> Any:
        """The first answer to ``payload``'s subscription (then unsubscribed), or the mapped error."""
        await self._limiter.acquire(1, order=order)
        live = await self._connection()
        sub_id, frame = live.session.subscribe(payload)
        pending = live.pending[sub_id] = _Pending()
        try:
            try:
                await live.ws.send_message(frame)
            except Exception as exc:  # noqa: BLE001
                live.scope.cancel()
                raise (_network_error(exc, self.url, self._broker) or exc) from exc
            with trio.move_on_after(self._timeout):
                await pending.event.wait()
            result = pending.result
            if result is None:
                if not live.dead:
                    live.scope.cancel()  # a connection that leaves a request unanswered is replaced
                raise BrokerUnavailable(f"no answer to {topic} ({'connection lost' if live.dead else 'timeout'})",
                                        broker=self._broker)
        finally:
            live.pending.pop(sub_id, None)
            if sub_id in live.session.active and not live.dead:
                try:
                    await live.ws.send_message(live.session.unsubscribe(sub_id))
                except Exception:  # noqa: BLE001 - the connection is going anyway
                    live.scope.cancel()
        if isinstance(result, Failed):
            raise protocol.error_for(result, topic, broker=self._broker)
        if isinstance(result, Complete):
            raise BrokerUnavailable(f"{topic} closed without an answer", broker=self._broker)
        return result.data

    def reset(self) -> None:
        """Drop the connection (the next request reconnects with fresh headers)."""
        if self._live is not None:
            self._live.scope.cancel()
            self._live.dead = True

    async def aclose(self) -> None:
        self.reset()


# ------------------------------------------------------------------------------------- streams


class _Silent(Exception):
    pass


async def run_stream(url: str, headers: Callable[[], list[tuple[bytes, bytes]]],
                     subscriptions: Sequence[tuple[Mapping[str, Any], Any]],
                     on_answer: Callable[[Any, Answer], Awaitable[None]], *, locale: str = "en",
                     topic: str = "ticker", connect: Connector = open_websocket,
                     policy: StreamPolicy = StreamPolicy(), broker: str = BROKER, logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random,
                     on_auth_error: Callable[[], Awaitable[None]] | None = None
                     ) -> None:
    """Keep ``subscriptions`` (payload, tag) streaming until cancelled: connect, handshake, subscribe,
    hand every answer to ``on_answer(tag, answer)``; after a drop, a silent connection or a transient
    error, wait (backoff) and start over, which resubscribes. Errors retrying cannot fix end the stream."""
    attempt = 0
    auth_retried = False
    skipped = 0
    connected_at: float | None = None

    def read(session: WsSession, frame: str | bytes) -> Any:
        """The frame's event; None for an unreadable frame once connected (skipped with a warning, as
        orch.streaming does). A subscription whose deltas no longer fit is resubscribed by reconnecting."""
        nonlocal skipped
        try:
            return session.receive(frame)
        except Desynced as exc:
            raise BrokerUnavailable(f"{exc}; resubscribing", broker=broker) from None
        except Exception as exc:
            if not (session.connected and streaming.unreadable(exc)):
                raise
            skipped += 1
            streaming.report_skipped(logger, broker, url, exc, skipped)
            return None

    while True:
        session = WsSession(broker=broker)
        try:
            with trio.CancelScope(deadline=trio.current_time() + policy.handshake) as setup:
                async with connect(url, headers()) as ws:
                    await ws.send_message(frames.connect_message(locale))
                    tags: dict[int, Any] = {}
                    quiet = 0
                    while True:
                        frame = None
                        with trio.move_on_after(policy.silence):
                            frame = await ws.get_message()
                        if frame is None:
                            quiet += 1
                            if quiet > policy.quiet_periods or not session.connected:
                                raise _Silent(f"no frame for {quiet} x {policy.silence:g}s")
                            await ws.send_message(WsSession.echo(int(trio.current_time() * 1000)))
                            with trio.move_on_after(policy.probe):
                                while True:
                                    if isinstance(read(session, await ws.get_message()), Echo):
                                        break
                                continue
                            raise _Silent(f"no frame for {policy.silence:g}s and no answer to an echo")
                        event = read(session, frame)
                        if isinstance(event, Connected):
                            setup.deadline = math.inf
                            connected_at = trio.current_time()
                            for payload, tag in subscriptions:
                                sub_id, message = session.subscribe(payload)
                                tags[sub_id] = tag
                                await ws.send_message(message)
                        elif isinstance(event, Answer):
                            quiet = 0
                            auth_retried = False
                            try:
                                await on_answer(tags[event.sub_id], event)
                            except (trio.BrokenResourceError, trio.ClosedResourceError):
                                raise
                            except Exception as exc:
                                # An answer that does not read as a ticker: skipped like an unreadable frame.
                                if not streaming.unreadable(exc):
                                    raise
                                skipped += 1
                                streaming.report_skipped(logger, broker, url, exc, skipped)
                        elif isinstance(event, Failed):
                            raise protocol.error_for(event, topic, broker=broker)
                        elif isinstance(event, Complete):
                            raise _Silent(f"the server ended subscription {event.sub_id}")
            if setup.cancelled_caught:
                raise _Silent(f"no answer to the handshake within {policy.handshake:g}s")
        except Exception as exc:
            if isinstance(exc, AuthError) and on_auth_error is not None and not auth_retried:
                auth_retried = True
                await on_auth_error()
                continue
            if isinstance(exc, OrchError) and not isinstance(exc, (BrokerUnavailable, RateLimited)):
                raise
            if not isinstance(exc, (_Silent, OrchError)):
                error = _network_error(exc, url, broker)
                if error is None:
                    raise BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker) from exc
                if not isinstance(error, (BrokerUnavailable, RateLimited)):
                    raise error from exc
            if connected_at is not None and trio.current_time() - connected_at >= policy.stable:
                attempt = 0
            connected_at = None
            delay = policy.delay(attempt, rng)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                delay = max(delay, retry_after)
            attempt += 1
            logger.warning("%s: stream interrupted (%s: %s); reconnecting in %.1fs", broker, type(exc).__name__,
                           exc, delay)
            await trio.sleep(delay)
