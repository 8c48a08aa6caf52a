"""Keeping Binance websockets alive with trio-websocket: connect, let a fresh sans-IO session subscribe,
deliver what it yields; on a drop, a silent connection or a handshake nobody answers, back off (with
jitter) and start over, which resubscribes, and report the gap. Errors retrying cannot fix (refused keys,
a refused subscription) end the stream by raising.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from orch import streaming
from orch.errors import AuthError, BrokerError, BrokerUnavailable, OrchError
from orch.streaming import Connector, Runner, StreamPolicy, WebSocket, open_websocket

from orch_binance.streams import Gap

log = logging.getLogger("orch.broker.binance")

__all__ = ["BackgroundStream", "Connector", "Runner", "StreamPolicy", "WebSocket", "open_websocket", "run_stream"]


def _classify(exc: Exception, url: str, broker: str) -> BaseException | None:
    """None to reconnect; otherwise what ends the stream (refused keys, a refused subscription)."""
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


async def run_stream(url: str, make_session: Callable[[], Any], deliver: Callable[[Any], Awaitable[None]], *,
                     connect: Connector = open_websocket, policy: StreamPolicy = StreamPolicy(),
                     broker: str = "binance", logger: logging.Logger = log,
                     rng: Callable[[], float] = random.random) -> None:
    async def report_gap(seconds: float, reason: str, deliver: Callable[[Any], Awaitable[None]]) -> None:
        # Binance replays nothing on resubscribe: the consumer must hear what it missed.
        logger.warning("%s: stream %s resubscribed after a gap of %.1fs (%s); updates in between were missed",
                       broker, url, seconds, reason)
        await deliver(Gap(seconds=seconds, reason=reason))

    await streaming.run_stream(url, make_session, deliver, classify=_classify, connect=connect, policy=policy,
                               broker=broker, logger=logger, rng=rng, on_resume=report_gap)


class BackgroundStream(streaming.BackgroundStream):
    """:class:`orch.streaming.BackgroundStream` that also keeps every :class:`Gap` it passes in ``gaps``
    (whether or not ``accept`` lets it through)."""

    def __init__(self, nursery: trio.Nursery, runners: Sequence[Runner], *, buffer: int = 1024, lossy: bool = False,
                 name: str = "stream", logger: logging.Logger = log,
                 accept: Callable[[Any], bool] = lambda item: True) -> None:
        super().__init__(nursery, runners, buffer=buffer, lossy=lossy, name=name, logger=logger, accept=accept)
        self.gaps: list[Gap] = []

    async def _deliver(self, item: Any) -> None:
        if isinstance(item, Gap):
            self.gaps.append(item)
        await super()._deliver(item)
