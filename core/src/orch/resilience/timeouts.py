"""Every broker call has a deadline; running past it is a :class:`~orch.errors.BrokerUnavailable`
(the outcome is unknown), not a ``trio.TooSlowError`` leaking out of the core.

The deadline bounds how long the broker takes to answer, so time spent waiting for the rate limiter's
turn (nothing sent yet) does not count: :func:`paused` stops the clock of the call's deadline while it
waits. Without that, a burst larger than the budget would turn a queued order into "timed out, outcome
unknown" although it never left the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import trio

from orch.errors import BrokerUnavailable

# The deadline scope of the broker call running in this task, with the task (None outside one). Tasks
# spawned meanwhile inherit the variable; the task check keeps them from touching the call's deadline.
_CALL_SCOPE: ContextVar[tuple[trio.CancelScope, object] | None] = ContextVar("orch_call_deadline", default=None)


@contextmanager
def deadline(seconds: float | None, *, what: str, broker: str | None = None) -> Iterator[None]:
    """``with deadline(30, what="get_order", broker="alpaca"): await ...``; None means no deadline."""
    if seconds is None:
        yield
        return
    try:
        with trio.fail_after(seconds) as scope:
            token = _CALL_SCOPE.set((scope, trio.lowlevel.current_task()))
            try:
                yield
            finally:
                _CALL_SCOPE.reset(token)
    except trio.TooSlowError:
        raise BrokerUnavailable(f"{what} timed out after {seconds:g}s; the outcome is unknown",
                                broker=broker) from None


@contextmanager
def paused() -> Iterator[None]:
    """Inside the block the enclosing call's deadline is suspended; on leaving it, the time that was
    left is given back in full. For waits before anything is sent (the rate limiter's queue)."""
    call = _CALL_SCOPE.get()
    scope = call[0] if call is not None and call[1] is trio.lowlevel.current_task() else None
    if scope is None or scope.cancel_called or math.isinf(scope.deadline):
        yield
        return
    left = scope.deadline - trio.current_time()
    scope.deadline = math.inf
    try:
        yield
    finally:
        scope.deadline = trio.current_time() + left
