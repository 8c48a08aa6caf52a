"""Alpaca's request budget (200 per minute per API key by default) and the simulator's request counters.

The window is a fixed minute per (API, key), started by the key's first request, measured on the
simulator's monotonic clock (trio's, so a MockClock drives it). ``X-RateLimit-Reset`` is the window's end
in epoch seconds of ``epoch()``, the same clock the simulator writes into its ``Date`` header, so a
client subtracting the two gets the true wait.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable

from attrs import frozen

WINDOW_SECONDS = 60.0


@frozen
class Budget:
    """The state after one request was counted."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: float

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset_epoch)}


class RateLimiter:
    """Fixed one-minute windows per bucket. ``limit`` may be changed at any time (tests lower it)."""

    def __init__(self, limit: int, *, monotonic: Callable[[], float], epoch: Callable[[], float],
                 window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._monotonic = monotonic
        self._epoch = epoch
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, bucket: str) -> Budget:
        """Count one request against ``bucket``; a refused request counts too (Alpaca's does)."""
        now = self._monotonic()
        with self._lock:
            start, used = self._windows.get(bucket, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            used += 1
            self._windows[bucket] = (start, used)
        left = max(0.0, start + self.window - now)
        return Budget(allowed=used <= self.limit, limit=self.limit, remaining=max(0, self.limit - used),
                      reset_epoch=math.ceil(self._epoch() + left), retry_after=left)

    def peek(self, bucket: str) -> Budget:
        now = self._monotonic()
        with self._lock:
            start, used = self._windows.get(bucket, (now, 0))
        if now - start >= self.window:
            start, used = now, 0
        left = max(0.0, start + self.window - now)
        return Budget(allowed=used < self.limit, limit=self.limit, remaining=max(0, self.limit - used),
                      reset_epoch=math.ceil(self._epoch() + left), retry_after=left)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class Counters:
    """What tests count at the simulator. ``requests`` counts every HTTP request that reached a route
    (refused ones included); ``endpoints`` per ``"METHOD /route"`` template; ``orders_created`` counts
    orders the engine accepted (replacements included); ``rate_limited`` the 429s the budget sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zero()

    def _zero(self) -> None:
        self.endpoints: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.orders_created = 0
        self.orders_rejected = 0
        self.rate_limited = 0
        self.unauthorized = 0
        self.ws_connections: Counter[str] = Counter()
        self.ws_messages_sent: Counter[str] = Counter()

    def request(self, endpoint: str) -> None:
        with self._lock:
            self.requests += 1
            self.endpoints[endpoint] += 1

    def status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1
            if status == 429:
                self.rate_limited += 1
            elif status == 401:
                self.unauthorized += 1

    def order_created(self) -> None:
        with self._lock:
            self.orders_created += 1

    def order_rejected(self) -> None:
        with self._lock:
            self.orders_rejected += 1

    def ws_connection(self, path: str) -> None:
        with self._lock:
            self.ws_connections[path] += 1

    def ws_sent(self, path: str) -> None:
        with self._lock:
            self.ws_messages_sent[path] += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {"requests": self.requests, "orders_created": self.orders_created,
                    "orders_rejected": self.orders_rejected, "rate_limited": self.rate_limited,
                    "unauthorized": self.unauthorized, "endpoints": dict(self.endpoints),
                    "statuses": dict(self.statuses), "ws_connections": dict(self.ws_connections),
                    "ws_messages_sent": dict(self.ws_messages_sent)}

    def reset(self) -> None:
        with self._lock:
            self._zero()
