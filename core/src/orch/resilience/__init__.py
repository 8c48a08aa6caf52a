"""Resilience for broker calls: a shared rate budget, retries, a circuit breaker and deadlines.

One module per job: :mod:`.budget` (rules, store protocol, in-memory store), :mod:`.sqlite_budget`
(the budget shared between processes), :mod:`.limiter` (what plugins charge), :mod:`.retry`,
:mod:`.breaker`, :mod:`.timeouts`, :mod:`.metrics`. :class:`orch.client.BrokerClient` puts them together.
"""

from orch.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpen, is_unhealthy
from orch.resilience.budget import (Blocks, BudgetStore, Decision, MemoryBudgetStore, Rule,
                                    budget_key)
from orch.resilience.limiter import BudgetHalted, LimiterUsage, RateLimiter, rules_from_settings
from orch.resilience.metrics import BrokerMetrics, LatencyReservoir
from orch.resilience.retry import RetryPolicy, is_retryable
from orch.resilience.sqlite_budget import SqliteBudgetStore, default_budget_path
from orch.resilience.timeouts import deadline

__all__ = [
    "Blocks", "BreakerState", "BrokerMetrics", "BudgetHalted", "BudgetStore", "CircuitBreaker",
    "CircuitOpen", "Decision", "LatencyReservoir", "LimiterUsage", "MemoryBudgetStore", "RateLimiter",
    "RetryPolicy", "Rule", "SqliteBudgetStore", "budget_key", "deadline", "default_budget_path",
    "is_retryable", "is_unhealthy", "rules_from_settings",
]
