"""Keeping one broker websocket alive, shared by the plugins: connect, let a fresh sans-IO session
authenticate and subscribe, deliver what it yields; on a drop, a mute feed or a handshake nobody answers,
back off (with jitter) and start over, which resubscribes. What a broker counts as fatal, its sessions and
its extras (gap reports, keep-alives) stay in its plugin; this module only runs the loop. Once a session
streams, a frame it cannot read (:func:`unreadable`) is skipped with a warning: one garbage frame never
costs the connection, let alone the stream.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import trio
from attrs import frozen

from orch.errors import OrchError, ProtocolError

log = logging.getLogger("orch.streaming")


class WebSocket(Protocol):
    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connector = Callable[[str], AbstractAsyncContextManager[WebSocket]]
Deliver = Callable[[Any], Awaitable[None]]
Runner = Callable[[Deliver], Awaitable[None]]


def open_websocket(url: str) -> AbstractAsyncContextManager[WebSocket]:
    import trio_websocket

    return trio_websocket.open_websocket_url(url)


class Session(Protocol):
    """A sans-IO stream session: ``start()`` and ``receive(frame)`` return an output with ``send`` (frames
    to write) and ``items`` (things to deliver); ``ready`` once it streams."""

    @property
    def ready(self) -> bool: ...

    def start(self) -> Any: ...

    def receive(self, frame: str | bytes) -> Any: ...


@frozen
class StreamPolicy:
    """``silence``: seconds without a frame before the connection is probed with a ping; ``probe``:
    seconds the pong may take before the connection counts as dead; ``quiet_periods``: how many silent
    periods an answered ping excuses before the stream is replaced anyway; ``handshake``: seconds to
    connect and be subscribed. Backoff doubles from ``backoff_initial`` up to ``backoff_max``, with
    jitter, and resets once a session has streamed for ``stable`` seconds (a server that drops every
    connection right after it subscribes must not get a reconnect a second)."""

    silence: float = 30.0
    probe: float = 10.0
    quiet_periods: int = 1
    handshake: float = 15.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** attempt))
        return ceiling / 2 + rng() * ceiling / 2


class _Silent(Exception):
    """The connection (or the feed behind it) stopped talking: always worth a reconnect."""


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def unreadable(exc: Exception) -> bool:
    """Whether ``exc``, raised while reading one frame of a stream that is already streaming, only means
    that frame is unreadable (garbage, a missing field, a wrong type): the frame is skipped and the
    connection kept. A ProtocolError carrying the broker's own code is the broker saying something (a
    refused subscription) and goes to the plugin's classify like any other error."""
    if isinstance(exc, ProtocolError):
        return exc.broker_code is None
    return not isinstance(exc, OrchError)


def report_skipped(logger: logging.Logger, broker: str, where: str, exc: BaseException, count: int) -> None:
    """One warning per skipped frame, thinned out once a feed keeps sending garbage (1-10, then every
    100th) so a broken feed cannot flood the log."""
    if count <= 10 or count % 100 == 0:
        detail = str(exc) if isinstance(exc, OrchError) else describe(exc)
        logger.warning("%s: stream %s: skipped an unreadable frame (%s); %d so far", broker, where, detail, count)


# (exception, url, broker) -> None to retry, or the exception to end the stream with (the same object to
# re-raise it as is).
Classify = Callable[[Exception, str, str], BaseException | None]
# (seconds down, reason, deliver): called once a session streams again after an interruption.
OnResume = Callable[[float, str, Deliver], Awaitable[None]]


async def run_stream(url: str, make_session: Callable[[], Session | Awaitable[Session]], deliver: Deliver, *,
                     classify: Classify, connect: Connector = open_websocket,
                     policy: StreamPolicy = StreamPolicy(), broker: str = "broker", logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random, describe: Callable[[BaseException], str] = describe,
                     start_spacing: float = 0.0, on_resume: OnResume | None = None,
                     handshake_text: str = "no answer to the handshake within {handshake:g}s") -> None:
    """Keep one stream alive until cancelled. ``make_session`` may return the session or an awaitable of
    it (awaited inside the retry, so a failure getting it is retried like a drop). ``start_spacing``
    waits after each opening frame (brokers that drop fast senders)."""
    attempt = 0
    down_since: float | None = None
    reason = ""
    ready_at: float | None = None
    skipped = 0
    while True:
        made = make_session()
        try:
            session: Session = await made if inspect.isawaitable(made) else made
            # trio-websocket starts its reader before the handshake, so its own connect timeout cannot end a
            # handshake the server never answers: this scope's deadline covers handshake and subscription
            # and is lifted once the session is ready.
            with trio.CancelScope(deadline=trio.current_time() + policy.handshake) as setup:
                async with connect(url) as ws:
                    for message in session.start().send:
                        await ws.send_message(message)
                        if start_spacing:
                            await trio.sleep(start_spacing)
                    quiet = 0
                    while True:
                        frame = None
                        with trio.move_on_after(policy.silence):
                            frame = await ws.get_message()
                        if frame is None:
                            quiet += 1
                            # A pong proves only the socket: the server's websocket layer answers pings even
                            # when the feed behind it is dead. One answered probe buys one more quiet period.
                            if quiet > policy.quiet_periods:
                                raise _Silent(f"no frame for {quiet} x {policy.silence:g}s")
                            with trio.move_on_after(policy.probe):
                                await ws.ping()
                                continue
                            raise _Silent(f"no frame for {policy.silence:g}s and no answer to a ping")
                        quiet = 0
                        try:
                            output = session.receive(frame)
                        except Exception as exc:
                            if not (session.ready and unreadable(exc)):
                                raise
                            skipped += 1
                            report_skipped(logger, broker, url, exc, skipped)
                            continue
                        for message in output.send:
                            await ws.send_message(message)
                        if session.ready and setup.deadline != math.inf:
                            setup.deadline = math.inf
                            ready_at = trio.current_time()
                            if down_since is not None:
                                seconds, down_since = trio.current_time() - down_since, None
                                if on_resume is not None:
                                    await on_resume(seconds, reason, deliver)
                        for item in output.items:
                            await deliver(item)
            if setup.cancelled_caught:
                raise _Silent(handshake_text.format(handshake=policy.handshake))
        except Exception as exc:
            if not isinstance(exc, _Silent):
                fatal = classify(exc, url, broker)
                if fatal is exc:
                    raise
                if fatal is not None:
                    raise fatal from exc
            if ready_at is not None and trio.current_time() - ready_at >= policy.stable:
                attempt = 0
            ready_at = None
            if down_since is None:
                down_since = trio.current_time()
            reason = describe(exc)
            delay = policy.delay(attempt, rng)
            attempt += 1
            logger.warning("%s: stream %s interrupted (%s); reconnecting in %.1fs", broker, url, reason, delay)
            await trio.sleep(delay)


class BackgroundStream:
    """An async iterator fed by runners in the connection's nursery. The runners start on the first
    ``__anext__`` and stop on :meth:`aclose` (or when the connection closes, which ends the iteration).
    An error that ends a runner is raised to the consumer. ``accept`` filters what reaches the consumer.
    With ``lossy`` (quotes), items that would overflow the buffer are dropped rather than stalling the
    socket reader, since brokers disconnect slow clients; order updates are never dropped. Drops are
    logged to ``logger`` when one is given."""

    def __init__(self, nursery: trio.Nursery, runners: Sequence[Runner], *, buffer: int = 1024,
                 lossy: bool = False, name: str = "stream", logger: logging.Logger | None = log,
                 accept: Callable[[Any], bool] = lambda item: True) -> None:
        self._nursery = nursery
        self._runners = list(runners)
        self._send, self._receive = trio.open_memory_channel[Any](buffer)
        self._lossy = lossy
        self._name = name
        self._logger = logger
        self._accept = accept
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
        if not self._accept(item):
            return
        if not self._lossy:
            await self._send.send(item)
            return
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.dropped += 1
            if self._logger is not None and self.dropped in (1, 100, 10_000):
                self._logger.warning("%s: consumer is slow; %d items dropped", self._name, self.dropped)

    async def _guard(self, runner: Runner) -> None:
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
