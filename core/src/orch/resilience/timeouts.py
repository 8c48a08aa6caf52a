"""Every broker call has a deadline; running past it is a :class:`~orch.errors.BrokerUnavailable`
(the outcome is unknown), not a ``trio.TooSlowError`` leaking out of the core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

from orch.errors import BrokerUnavailable


@contextmanager
def deadline(seconds: float | None, *, what: str, broker: str | None = None) -> Iterator[None]:
    """``with deadline(30, what="get_order", broker="alpaca"): await ...``; None means no deadline."""
    if seconds is None:
        yield
        return
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        raise BrokerUnavailable(f"{what} timed out after {seconds:g}s; the outcome is unknown",
                                broker=broker) from None
