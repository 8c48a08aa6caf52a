"""What a broker connection reports about itself: call counts, latency percentiles, limiter and
breaker state, and the last error (masked)."""

from __future__ import annotations

import math
from collections import deque

from attrs import frozen

from orch.resilience.limiter import LimiterUsage


class LatencyReservoir:
    """The latest ``capacity`` latencies (seconds). Bounded memory, and recent enough that p99 says how
    the broker behaves now rather than since start-up."""

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._samples: deque[float] = deque(maxlen=capacity)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.count += 1

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile (``p`` in 0..100) of the samples held; None when there are none."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]


@frozen
class BrokerMetrics:
    """``calls`` and ``errors`` count public calls; ``attempts`` counts tries (retries included).
    Latencies are seconds, None before the first call."""

    broker: str
    connected: bool
    calls: int
    errors: int
    attempts: int
    latency_p50: float | None
    latency_p99: float | None
    limiter: LimiterUsage
    breaker_state: str
    consecutive_failures: int
    last_error: str | None
