"""Keeping Binance websockets alive with trio-websocket: connect, let a fresh sans-IO session subscribe,
deliver what it yields; on a drop, a silent connection or a handshake nobody answers, back off (with
jitter) and start over, which resubscribes, and report the gap. Errors retrying cannot fix (refused keys,
a refused subscription) end the stream by raising.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import trio
from attrs import frozen

from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError

from orch_binance.streams import Gap

log = logging.getLogger("orch.broker.binance")


class WebSocket(Protocol):
    async def get_message(self) -> str | bytes: ...

    async def send_message(self, message: str | bytes) -> None: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connector = Callable[[str], AbstractAsyncContextManager[WebSocket]]


def open_websocket(url: str) -> AbstractAsyncContextManager[WebSocket]:
    import trio_websocket

    return trio_websocket.open_websocket_url(url)


@frozen
class StreamPolicy:
    """``silence``: seconds without a frame before a ping probe; ``probe``: seconds the pong may take;
    ``quiet_periods``: silent periods an answered ping excuses (a pong proves the socket, not the feed);
    ``handshake``: seconds to connect and be subscribed. Backoff doubles from ``backoff_initial`` to
    ``backoff_max`` with jitter and resets once a session streams."""

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
    return isinstance(exc, (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError, _Silent,
                            BrokerUnavailable))


def _fatal(exc: BaseException, url: str, broker: str) -> OrchError:
    import trio_websocket

    if isinstance(exc, trio_websocket.ConnectionRejected):
        return AuthError(f"{url} refused the connection (HTTP {exc.status_code})", broker=broker,
                         status=exc.status_code)
    return BrokerError(f"stream {url} failed: {type(exc).__name__}", broker=broker)


async def run_stream(url: str, make_session: Callable[[], Any], deliver: Callable[[Any], Awaitable[None]], *,
                     connect: Connector = open_websocket, policy: StreamPolicy = StreamPolicy(),
                     broker: str = "binance", logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random) -> None:
    attempt = 0
    down_since: float | None = None
    reason = ""
    while True:
        session = make_session()
        try:
            # The deadline covers connecting and subscribing; it is lifted once the session streams.
            with trio.CancelScope(deadline=trio.current_time() + policy.handshake) as setup:
                async with connect(url) as ws:
                    for message in session.start().send:
                        await ws.send_message(message)
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
                        if session.ready and setup.deadline != math.inf:
                            setup.deadline = math.inf
                            attempt = 0
                            if down_since is not None:
                                gap = Gap(seconds=trio.current_time() - down_since, reason=reason)
                                logger.warning("%s: stream %s resubscribed after a gap of %.1fs (%s); updates in "
                                               "between were missed", broker, url, gap.seconds, reason)
                                down_since = None
                                await deliver(gap)
                        for item in output.items:
                            await deliver(item)
            if setup.cancelled_caught:
                raise _Silent(f"no answer to the handshake within {policy.handshake:g}s")
        except Exception as exc:
            if isinstance(exc, OrchError) and not isinstance(exc, BrokerUnavailable):
                raise
            if not _retryable(exc):
                raise _fatal(exc, url, broker) from exc
            if down_since is None:
                down_since = trio.current_time()
            reason = f"{type(exc).__name__}: {exc}"
            delay = policy.delay(attempt, rng)
            attempt += 1
            logger.warning("%s: stream %s interrupted (%s); reconnecting in %.1fs", broker, url, reason, delay)
            await trio.sleep(delay)


Runner = Callable[[Callable[[Any], Awaitable[None]]], Awaitable[None]]


class BackgroundStream:
    """An async iterator fed by runners in the connection's nursery; they start on the first
    ``__anext__`` and stop on :meth:`aclose`. ``accept`` filters what reaches the consumer. With
    ``lossy`` (market data) items that would overflow the buffer are dropped rather than stalling the
    socket reader; order updates are never dropped."""

    def __init__(self, nursery: trio.Nursery, runners: Sequence[Runner], *, buffer: int = 1024, lossy: bool = False,
                 name: str = "stream", logger: logging.Logger = log,
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
        self.gaps: list[Gap] = []

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
        if isinstance(item, Gap):
            self.gaps.append(item)
        if not self._accept(item):
            return
        if not self._lossy:
            await self._send.send(item)
            return
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
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
