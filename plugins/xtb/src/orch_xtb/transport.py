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
from typing import TYPE_CHECKING, Any

import trio
from attrs import frozen

from orch import streaming
from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError, RateLimited
from orch.streaming import Connector, Runner, Session, WebSocket, open_websocket

from orch_xtb import protocol
from orch_xtb.protocol import Command

if TYPE_CHECKING:
    from orch.resilience.limiter import RateLimiter

log = logging.getLogger("orch.broker.xtb")

SPACING = 0.2  # XTB: at least 200 ms between requests on one connection

__all__ = ["SPACING", "BackgroundStream", "CommandSocket", "Connector", "Session", "StreamPolicy", "WebSocket",
           "open_websocket", "run_stream"]


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


@frozen
class StreamPolicy(streaming.StreamPolicy):
    """:class:`orch.streaming.StreamPolicy` with XTB's shorter silence and probe."""

    silence: float = 10.0
    probe: float = 5.0


def _classify(exc: Exception, url: str, broker: str) -> BaseException | None:
    """None to reconnect; otherwise what ends the stream. A rate limit or a lost login is waited out."""
    if isinstance(exc, OrchError) and not isinstance(exc, (BrokerUnavailable, RateLimited)):
        return exc
    if isinstance(exc, AuthError):
        return exc
    if isinstance(exc, (BrokerUnavailable, RateLimited, *_network_errors())):
        return None
    return BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker)


async def run_stream(url: str, make_session: Callable[[], Awaitable[Session]],
                     deliver: Callable[[Any], Awaitable[None]], *, connect: Connector = open_websocket,
                     policy: StreamPolicy = StreamPolicy(), broker: str = protocol.BROKER,
                     logger: logging.Logger = log, rng: Callable[[], float] = random.random) -> None:
    """Keep one stream alive until cancelled (:func:`orch.streaming.run_stream`): each attempt gets a fresh
    session (a fresh streamSessionId: the login may have changed), and the subscriptions keep XTB's
    spacing. Errors retrying cannot fix end the stream by raising."""
    await streaming.run_stream(url, make_session, deliver, classify=_classify, connect=connect, policy=policy,
                               broker=broker, logger=logger, rng=rng, describe=lambda exc: type(exc).__name__,
                               start_spacing=SPACING,
                               handshake_text="no answer within {handshake:g}s of connecting")


class BackgroundStream(streaming.BackgroundStream):
    """:class:`orch.streaming.BackgroundStream` that is always lossy and silent about drops: XTB streams
    only quotes here, and a slow consumer loses the newest rather than stalling the socket reader."""

    def __init__(self, nursery: trio.Nursery, runners: Sequence[Runner], *, buffer: int = 1024,
                 name: str = "stream") -> None:
        super().__init__(nursery, runners, buffer=buffer, lossy=True, name=name, logger=None)
