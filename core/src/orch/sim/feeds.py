"""Fan-out of engine events to trio memory channels, safe to publish from any thread.

The engine publishes while it holds its own lock (so every feed sees events in the order they happened)
by appending to each feed's queue; afterwards it asks each feed to deliver. Delivery happens in the trio
run that subscribed: directly if the publisher is that run, otherwise through
``TrioToken.run_sync_soon`` (never blocking, so a test thread poking a threaded simulator cannot deadlock
with it). A subscriber that stops reading is cut off when its buffer is full: its channel ends after the
buffered items, the way a real server drops a slow consumer.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import trio

__all__ = ["Feed", "FanOut", "QuoteFeed"]

log = logging.getLogger("orch.sim.feeds")
T = TypeVar("T")


class Feed(Generic[T]):
    """One subscriber: a filter and the sending side of a memory channel. Iterate the feed (or its
    ``receive`` channel) in the trio run that created it."""

    def __init__(self, accept: Callable[[T], bool] | None = None, *, buffer: int = 10_000) -> None:
        self._token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[T](buffer)
        self._send = send
        self.receive: trio.MemoryReceiveChannel[T] = receive
        self._accept = accept or (lambda item: True)
        self._queue: deque[T] = deque()
        self._lock = threading.Lock()
        self.closed = False
        self.overflowed = False

    # ---------------------------------------------------------------- consumer side

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def __enter__(self) -> Feed[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving; the engine forgets the feed at its next publication."""
        self.closed = True
        self.receive.close()

    # ---------------------------------------------------------------- publisher side

    def offer(self, item: T) -> bool:
        if self.closed or not self._accept(item):
            return False
        with self._lock:
            self._queue.append(item)
        return True

    def deliver(self) -> None:
        """Hand queued items to the channel, from the right thread."""
        if self.closed or not self._queue:
            return
        try:
            in_our_run = trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            in_our_run = False
        if in_our_run:
            self._drain()
            return
        try:
            self._token.run_sync_soon(self._drain)
        except trio.RunFinishedError:
            self.closed = True

    def _drain(self) -> None:
        with self._lock:
            items, self._queue = list(self._queue), deque()
        for item in items:
            try:
                self._send.send_nowait(item)
            except trio.WouldBlock:
                log.warning("simulator feed dropped a subscriber that stopped reading")
                self.overflowed = True
                self._end()
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._end()
                return

    def _end(self) -> None:
        self.closed = True
        self._send.close()

    def end(self) -> None:
        """Close the sending side (the subscriber sees the end of the stream after buffered items)."""
        if self.closed:
            return
        try:
            in_our_run = trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            in_our_run = False
        if in_our_run:
            self._drain()
            self._end()
        else:
            try:
                self._token.run_sync_soon(lambda: (self._drain(), self._end()))
            except trio.RunFinishedError:
                self.closed = True


class QuoteFeed(Feed[Any]):
    """A quote subscription: the engine sends a :class:`~orch.sim.market.SimQuote` for each symbol in
    :attr:`symbols` whenever its bid, ask or sizes change (checked at every engine step). Add or remove
    symbols at any time with :meth:`add` / :meth:`discard` (canonical or broker spelling)."""

    def __init__(self, canonical: Callable[[str], str], symbols: Iterable[str] = (), *,
                 buffer: int = 10_000) -> None:
        super().__init__(buffer=buffer)
        self._canonical = canonical
        self.symbols: set[str] = set()
        self.last: dict[str, tuple[Any, ...]] = {}
        self.add(*symbols)

    def add(self, *symbols: str) -> None:
        for symbol in symbols:
            self.symbols.add(self._canonical(symbol))

    def discard(self, *symbols: str) -> None:
        for symbol in symbols:
            key = self._canonical(symbol)
            self.symbols.discard(key)
            self.last.pop(key, None)

    def offer_quote(self, quote: Any) -> bool:
        if quote.symbol not in self.symbols:
            return False
        signature = (quote.bid, quote.ask, quote.bid_size, quote.ask_size)
        if self.last.get(quote.symbol) == signature:
            return False
        self.last[quote.symbol] = signature
        return self.offer(quote)


class FanOut(Generic[T]):
    """The set of feeds of one kind. ``publish`` under the engine's lock, ``deliver`` after it."""

    def __init__(self) -> None:
        self._feeds: list[Feed[T]] = []
        self._lock = threading.Lock()

    def add(self, feed: Feed[T]) -> Feed[T]:
        with self._lock:
            self._feeds.append(feed)
        return feed

    @property
    def feeds(self) -> list[Feed[T]]:
        with self._lock:
            self._feeds = [f for f in self._feeds if not f.closed]
            return list(self._feeds)

    def publish(self, items: Iterable[T]) -> None:
        feeds = self.feeds
        for item in items:
            for feed in feeds:
                feed.offer(item)

    def deliver(self) -> None:
        for feed in self.feeds:
            feed.deliver()

    def close_all(self) -> None:
        for feed in self.feeds:
            feed.end()
