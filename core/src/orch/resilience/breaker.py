"""Circuit breaker: stop calling a broker that keeps failing, then probe it.

closed → (``failure_threshold`` consecutive failures) → open → (``cooldown`` seconds) → half-open,
which lets exactly one probe through: its success closes the circuit, its failure reopens it for another
cooldown. Only failures that say the broker is unwell count (:func:`is_unhealthy`); a rejected order or
a refused key is the broker answering, which proves it is up. Time is ``trio.current_time()``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from orch.errors import BrokerUnavailable, OrchError, ProtocolError, RateLimited
from orch.secret import mask


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(BrokerUnavailable):
    """Refused by the breaker before anything was sent; ``retry_in`` seconds until the next probe.
    Routing treats it as "broker unavailable" and tries the fallback; retries do not wait for it."""

    request_sent = False

    def __init__(self, message: str, *, retry_in: float, **kwargs) -> None:
        self.retry_in = retry_in
        super().__init__(message, **kwargs)


def is_unhealthy(exc: BaseException) -> bool:
    """Failures that mean the broker (or the path to it) is unwell: unreachable, timing out, answering
    gibberish, or banning us."""
    if isinstance(exc, CircuitOpen):
        return False
    if isinstance(exc, RateLimited):
        return exc.banned_until is not None or exc.status == 418
    return isinstance(exc, (BrokerUnavailable, ProtocolError))


class CircuitBreaker:
    def __init__(self, name: str = "", *, failure_threshold: int = 5, cooldown: float = 30.0) -> None:
        if failure_threshold < 1 or cooldown <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._open = False
        self._opened_at = 0.0
        self._failures = 0
        self._probing = False
        self.last_failure: str | None = None

    @property
    def state(self) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        if trio.current_time() >= self._opened_at + self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def check(self) -> None:
        """Raise :class:`CircuitOpen` while open, without claiming the half-open probe (for streams)."""
        if self.state is BreakerState.OPEN:
            self.before_call()

    def before_call(self) -> None:
        """Admit a call or raise :class:`CircuitOpen`. In half-open state the first caller becomes the
        probe; the others are refused until it reports."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        retry_in = max(0.0, self._opened_at + self.cooldown - trio.current_time())
        if state is BreakerState.HALF_OPEN:
            if not self._probing:
                self._probing = True
                return
            raise CircuitOpen(f"circuit half-open: a probe is in flight; retry in {retry_in:.0f}s",
                              retry_in=retry_in, broker=self.name or None)
        last = f" (last: {self.last_failure})" if self.last_failure else ""
        raise CircuitOpen(f"circuit open after {self._failures} consecutive failures{last}; "
                          f"retry in {retry_in:.0f}s", retry_in=retry_in, broker=self.name or None)

    def record_success(self) -> None:
        self._open = False
        self._failures = 0
        self._probing = False

    def record_failure(self, exc: BaseException | None = None) -> None:
        if exc is not None:
            self.last_failure = mask(str(exc))
        if self._probing:
            self._probing = False
            self._trip()
            return
        self._failures += 1
        if not self._open and self._failures >= self.failure_threshold:
            self._trip()

    def release(self) -> None:
        """The admitted call ended without a verdict (cancelled): let another caller probe."""
        self._probing = False

    def _trip(self) -> None:
        self._open = True
        self._opened_at = trio.current_time()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """``with breaker.guard(): await call()``: admit, then record the outcome."""
        self.before_call()
        try:
            yield
        except BaseException as exc:
            if is_unhealthy(exc):
                self.record_failure(exc)
            elif isinstance(exc, OrchError):
                self.record_success()  # the broker answered
            else:
                self.release()
            raise
        else:
            self.record_success()
