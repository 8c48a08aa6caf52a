"""Moving frames: the xAPI command socket and the streaming socket, on trio-websocket.

The command socket answers one command at a time, in order, so :class:`CommandSocket` sends under a lock
and reads the next frame as the answer. Each command charges the shared limiter first and is also kept
≥ 200 ms after the previous one on the same socket (XTB drops a connection after repeated violations,
whatever the limiter was configured to). A command that times out or loses its socket leaves the socket
unusable (a late answer would be read as the next one's), so it is closed and the next command opens a
new one and logs in again. xAPI's rules live in :mod:`orch_xtb.protocol` and :mod:`orch_xtb.streams`.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import trio
from attrs import frozen

from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError, RateLimited

from orch_xtb import protocol
from orch_xtb.protocol import Command

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.xtb")

SPACING = 0.2  # XTB: at least 200 ms between requests on one connection


class WebSocket(Protocol):
    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connector = Callable[[str], AbstractAsyncContextManager[WebSocket]]


def open_websocket(url: str) -> AbstractAsyncContextManager[WebSocket]:
    import trio_websocket

    return trio_websocket.open_websocket_url(url)


def _network_errors() -> tuple[type[BaseException], ...]:
    import trio_websocket

    return (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError, trio.BrokenResourceError,
            trio.ClosedResourceError)


class CommandSocket:
    """The main xAPI connection. ``login`` is the login command (credentials inside, masked in reprs);
    ``unreachable`` is the hint added when the host cannot be reached (the shutdown notice for XTB's own
    host). ``stream_session`` holds the streamSessionId of the current login."""

    def __init__(self, url: str, login: Command, *, nursery: trio.Nursery, limiter: RateLimiter,
                 timeout: float, broker: str = protocol.BROKER, connect: Connector = open_websocket,
                 cool_down: float = 1.0, unreachable: str | None = None, logger: logging.Logger = log) -> None:
        self.url = url
        self._login = login
        self._nursery = nursery
        self._limiter = limiter
        self._timeout = timeout
        self._broker = broker
        self._connect = connect
        self._cool_down = cool_down
        self._unreachable = unreachable
        self._logger = logger
        self._lock = trio.Lock()
        self._ws: WebSocket | None = None
        self._close_socket: trio.Event | None = None
        self._last_send = -math.inf
        self._tag = 0
        self.last_activity = -math.inf
        self.stream_session: str | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return f"<CommandSocket {self.url} {'open' if self._ws is not None else 'closed'}>"

    # ------------------------------------------------------------------------------- socket lifetime

    async def _own(self, closed: trio.Event, *, task_status: trio.TaskStatus[WebSocket]) -> None:
        # This task lives in the connection's nursery: once started, nothing may escape it (a socket the
        # server closed is noticed by the next command, not by crashing the caller's nursery).
        started = False
        try:
            async with self._connect(self.url) as ws:
                task_status.started(ws)
                started = True
                await closed.wait()
        except Exception as exc:
            if not started:
                raise
            self._logger.debug("%s: command socket closed (%s)", self._broker, type(exc).__name__)

    async def _open(self) -> WebSocket:
        closed = trio.Event()
        try:
            with trio.fail_after(self._timeout):
                ws = await self._nursery.start(self._own, closed)
        except trio.TooSlowError:
            raise BrokerUnavailable(f"no websocket handshake from {self.url} within {self._timeout:g}s",
                                    broker=self._broker, hint=self._unreachable) from None
        except OrchError:
            raise
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            raise BrokerUnavailable(f"cannot connect to {self.url} ({type(exc).__name__}"
                                    f"{f' HTTP {status}' if status else ''})", broker=self._broker,
                                    status=status, hint=self._unreachable) from None
        self._ws, self._close_socket = ws, closed
        return ws

    def drop(self) -> None:
        """Forget the socket (its owner task closes it); the next command reconnects and logs in."""
        if self._close_socket is not None:
            self._close_socket.set()
        self._ws, self._close_socket = None, None
        self.stream_session = None

    async def _ensure(self) -> WebSocket:
        if self._ws is not None:
            return self._ws
        ws = await self._open()
        try:
            reply = await self._exchange(ws, self._login)
        except BaseException:
            self.drop()
            raise
        self.stream_session = protocol.stream_session_id(reply, broker=self._broker)
        self.logins += 1
        return ws

    # ------------------------------------------------------------------------------- commands

    async def call(self, command: Command) -> Any:
        """Send ``command`` and return its ``returnData`` (or raise the mapped orch error)."""
        async with self._lock:
            ws = await self._ensure()
            return await self._exchange(ws, command)

    async def stream_session_id(self) -> str:
        """The current login's streamSessionId, logging in first if the socket was lost."""
        async with self._lock:
            await self._ensure()
            assert self.stream_session is not None
            return self.stream_session

    async def _exchange(self, ws: WebSocket, command: Command) -> Any:
        await self._limiter.acquire(1, order=command.trade)
        wait = self._last_send + SPACING - trio.current_time()
        if wait > 0:
            await trio.sleep(wait)
        self._tag += 1
        tag = f"orch-{self._tag}"
        try:
            with trio.fail_after(self._timeout):
                await ws.send_message(protocol.encode(command, tag=tag))
                self._last_send = self.last_activity = trio.current_time()
                frame = await ws.get_message()
        except trio.TooSlowError:
            self.drop()
            raise BrokerUnavailable(f"no answer to {command.command} within {self._timeout:g}s",
                                    broker=self._broker, hint="the request may have reached XTB") from None
        except _network_errors() as exc:
            self.drop()
            raise BrokerUnavailable(f"connection to {self.url} lost during {command.command} "
                                    f"({type(exc).__name__})", broker=self._broker,
                                    hint=self._unreachable) from None
        reply = protocol.decode(frame, broker=self._broker)
        echoed = reply.get("customTag")
        if echoed is not None and echoed != tag:
            self.drop()
            raise BrokerUnavailable(f"answer to another command arrived for {command.command}", broker=self._broker)
        try:
            return protocol.result(reply, command, broker=self._broker, retry_after=self._cool_down)
        except RateLimited as exc:
            self._limiter.penalize(exc.retry_after)
            raise
        except BrokerUnavailable:
            if reply.get("errorCode") in ("BE103", "BE200"):
                self.drop()  # logged out on the server's side
            raise

    async def keepalive(self, idle: float) -> None:
        """Ping whenever the socket has been idle for ``idle`` seconds (XTB drops it after 10 minutes)."""
        while True:
            await trio.sleep(max(0.0, self.last_activity + idle - trio.current_time()) or idle)
            if self._ws is None or trio.current_time() - self.last_activity < idle:
                continue
            try:
                await self.call(protocol.ping())
            except OrchError as exc:
                self._logger.info("%s: keep-alive ping failed (%s); reconnecting on next use", self._broker,
                                  exc.message)

    async def aclose(self) -> None:
        if self._ws is not None and not self._lock.locked():
            with trio.move_on_after(1):
                try:
                    await self._ws.send_message(protocol.encode(protocol.logout()))
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
        self.drop()


# ------------------------------------------------------------------------------------- streams


class Session(Protocol):
    @property
    def ready(self) -> bool: ...

    def start(self) -> Any: ...

    def receive(self, frame: str | bytes) -> Any: ...


@frozen
class StreamPolicy:
    """``silence``: seconds without a frame before a ping probe; ``probe``: how long the pong may take;
    ``quiet_periods``: silent periods an answered ping excuses (a pong proves only the socket, not the
    feed behind it); backoff doubles from ``backoff_initial`` to ``backoff_max`` with jitter."""

    silence: float = 10.0
    probe: float = 5.0
    quiet_periods: int = 1
    handshake: float = 15.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** attempt))
        return ceiling / 2 + rng() * ceiling / 2


class _Silent(Exception):
    pass


async def run_stream(url: str, make_session: Callable[[], Awaitable[Session]],
                     deliver: Callable[[Any], Awaitable[None]], *, connect: Connector = open_websocket,
                     policy: StreamPolicy = StreamPolicy(), broker: str = protocol.BROKER,
                     logger: logging.Logger = log, rng: Callable[[], float] = random.random) -> None:
    """Keep one stream alive until cancelled: get a fresh session (a fresh streamSessionId: the login may
    have changed), connect, subscribe, deliver items; on a drop, silence or transient error wait (backoff)
    and start over. Errors retrying cannot fix end the stream by raising."""
    attempt = 0
    while True:
        try:
            session = await make_session()
            with trio.CancelScope(deadline=trio.current_time() + policy.handshake) as setup:
                async with connect(url) as ws:
                    for message in session.start().send:
                        await ws.send_message(message)
                        await trio.sleep(SPACING)
                    quiet = 0
                    while True:
                        frame = None
                        with trio.move_on_after(policy.silence):
                            frame = await ws.get_message()
                        if frame is None:
                            quiet += 1
                            if quiet > policy.quiet_periods:
                                raise _Silent(f"no frame for {quiet} x {policy.silence:g}s")
                            with trio.move_on_after(policy.probe):
                                await ws.ping()
                                continue
                            raise _Silent(f"no frame for {policy.silence:g}s and no answer to a ping")
                        quiet = 0
                        output = session.receive(frame)
                        for message in output.send:
                            await ws.send_message(message)
                        if session.ready:
                            setup.deadline = math.inf
                            attempt = 0
                        for item in output.items:
                            await deliver(item)
            if setup.cancelled_caught:
                raise _Silent(f"no answer within {policy.handshake:g}s of connecting")
        except Exception as exc:
            if isinstance(exc, OrchError) and not isinstance(exc, (BrokerUnavailable, RateLimited)):
                raise
            if isinstance(exc, AuthError):
                raise
            if not isinstance(exc, (_Silent, BrokerUnavailable, RateLimited, *_network_errors())):
                raise BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker) from exc
            delay = policy.delay(attempt, rng)
            attempt += 1
            logger.warning("%s: stream %s interrupted (%s); reconnecting in %.1fs", broker, url,
                           type(exc).__name__, delay)
            await trio.sleep(delay)


class BackgroundStream:
    """An async iterator fed by tasks in the connection's nursery; they start on the first ``__anext__``
    and stop on :meth:`aclose`. A task's fatal error is raised to the consumer. Quotes are lossy: a slow
    consumer loses the oldest rather than stalling the socket reader."""

    def __init__(self, nursery: trio.Nursery,
                 runners: Sequence[Callable[[Callable[[Any], Awaitable[None]]], Awaitable[None]]], *,
                 buffer: int = 1024, name: str = "stream") -> None:
        self._nursery = nursery
        self._runners = list(runners)
        self._send, self._receive = trio.open_memory_channel[Any](buffer)
        self._name = name
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
        self._started = True
        await self._receive.aclose()

    async def _deliver(self, item: Any) -> None:
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.dropped += 1

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
