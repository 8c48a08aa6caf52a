"""Retry with exponential backoff and full jitter, for idempotent calls only.

The n-th retry waits a uniformly random time in ``[0, min(max_delay, base_delay * 2**(n-1))]`` ("full
jitter": callers that failed together do not come back together), or the broker's ``Retry-After`` when
that is longer. Only :class:`~orch.errors.BrokerUnavailable` and :class:`~orch.errors.RateLimited` are
retried; a ban, an open circuit, a rejection, a refused key or an unparseable answer are not (waiting
does not change them). A call that is not idempotent (an order placement) is never retried: whether it
reached the broker is for the journal to find out.

Why not ``stamina``: it supports trio and per-exception waits, but its total-time limit runs on
tenacity's ``time.monotonic()`` rather than trio's clock (so ``trio.testing.MockClock`` cannot drive
it), and its jitter is additive and drawn from the global ``random`` module (neither full jitter nor
seedable per policy). This module is the few lines that do both.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio
from attrs import field, frozen

from orch.errors import BrokerUnavailable, RateLimited
from orch.resilience.breaker import CircuitOpen
from orch.secret import mask

T = TypeVar("T")

log = logging.getLogger("orch.retry")


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, CircuitOpen):
        return False
    if isinstance(exc, RateLimited):
        return exc.banned_until is None and exc.status != 418
    return isinstance(exc, BrokerUnavailable)


@frozen
class RetryPolicy:
    """``attempts`` counts the first call. A ``Retry-After`` longer than ``max_retry_after`` is not
    waited out: the error goes to the caller, who can route elsewhere. ``rng`` makes jitter
    reproducible (``RetryPolicy(rng=random.Random(seed))``)."""

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    rng: random.Random = field(factory=random.Random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("attempts must be >= 1 and delays non-negative")

    def ceiling(self, retry: int) -> float:
        """Upper bound of the jittered wait before retry number ``retry`` (1-based)."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 64))

    def delay(self, exc: BaseException, retry: int) -> float | None:
        """Seconds to wait before retry ``retry`` after ``exc``, or None when it must not be retried."""
        if not is_retryable(exc):
            return None
        wait = self.rng.uniform(0.0, self.ceiling(retry))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        return wait

    async def run(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool, what: str = "call",
                  logger: logging.Logger | None = None) -> T:
        """Await ``attempt()`` until it succeeds, a failure is not retryable, or attempts run out."""
        logger = logger or log
        retry = 0
        while True:
            try:
                return await attempt()
            except Exception as exc:
                retry += 1
                wait = self.delay(exc, retry) if idempotent and retry < self.attempts else None
                if wait is None:
                    raise
                logger.warning("%s failed (%s); retry %d of %d in %.2fs", what, mask(str(exc)), retry,
                               self.attempts - 1, wait)
            await trio.sleep(wait)
