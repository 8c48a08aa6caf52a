"""What the core hands a plugin when it connects."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from attrs import frozen

if TYPE_CHECKING:
    import trio

    from orch.resilience import RateLimiter


@frozen
class ConnectContext:
    """``nursery`` owns the connection's background tasks; ``limiter`` must be charged before each request
    (``await limiter.acquire(cost)``) and told about the broker's usage headers; ``live`` is True only
    when config and the command line both asked for the live endpoint; ``broker`` is the configured name."""

    broker: str
    nursery: trio.Nursery
    limiter: RateLimiter
    live: bool = False
    logger: logging.Logger = logging.getLogger("orch.broker")
