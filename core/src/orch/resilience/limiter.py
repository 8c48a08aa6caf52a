"""The per-broker rate limiter plugins charge before every request.

Plugins call ``await limiter.acquire(cost)`` before each request (``order=True`` for a placement),
feed the broker's usage headers back with :meth:`RateLimiter.observe`, and report a 429 with
:meth:`RateLimiter.penalize` or a 418 ban with :meth:`RateLimiter.halt`. Waiters are served first come,
first served within a process (``trio.Lock`` is fair); processes sharing a
:class:`~orch.resilience.sqlite_budget.SqliteBudgetStore` share the budget but not the queue.

All instants in this API (``halt(until)``, ``LimiterUsage.penalized_until``,
``RateLimited.banned_until``) are on trio's clock, ``trio.current_time()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import attrs
import trio
from attrs import frozen

from orch.errors import ConfigError, RateLimited
from orch.models import RateLimitDefaults
from orch.resilience.budget import HALT, PENALTY, BudgetStore, MemoryBudgetStore, Rule
from orch.resilience.timeouts import paused
from orch.settings import RateLimitSettings

# A wait computed as zero by float rounding would spin; any positive step lets the clock pass the edge.
_MIN_WAIT = 1e-6


class BudgetHalted(RateLimited):
    """The limiter refused before anything was sent: the broker banned this budget (HTTP 418) until
    ``banned_until`` (trio's clock); ``retry_after`` is the seconds left."""

    request_sent = False


@frozen
class LimiterUsage:
    """The main rule's state: ``used`` of ``limit`` units in the current window, ``waiting`` tasks in
    :meth:`RateLimiter.acquire`, and any penalty or halt (trio-clock instants)."""

    limit: int
    used: int
    fraction: float
    waiting: int
    penalized_until: float | None = None
    halted_until: float | None = None
    halt_reason: str | None = None
    rule: str = ""


def _config_path(name: str) -> str:
    return f"brokers.{name}.rate_limits" if name else "rate_limits"


def _positive(value: int | None, path: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ConfigError(f"must be a positive whole number, got {value!r}", path=path)
    return value


def rules_from_settings(settings: RateLimitSettings, defaults: RateLimitDefaults, *,
                        path: str = "rate_limits") -> list[Rule]:
    """The windows a broker's config (falling back to the plugin's published defaults) asks for.

    With ``weight_per_minute`` the weight rule comes first (it is what Binance's headers report) and
    ``requests_per_minute`` counts requests; without it, requests_per_minute is charged the cost.
    """
    rpm = (_positive(settings.requests_per_minute, f"{path}.requests_per_minute")
           or defaults.requests_per_minute)
    weight = (_positive(settings.weight_per_minute, f"{path}.weight_per_minute")
              or defaults.weight_per_minute)
    burst = _positive(settings.burst_limit, f"{path}.burst_limit") or defaults.burst
    orders = (_positive(settings.orders_per_second, f"{path}.orders_per_second")
              or defaults.orders_per_second)
    rules = []
    if weight:
        rules.append(Rule("weight", weight, 60.0, weighted=True))
    rules.append(Rule("requests", rpm, 60.0, weighted=not weight))
    if burst and burst < rpm:
        # The token-bucket shape: `burst` at once, then refilled at the per-minute rate.
        rules.append(Rule("burst", burst, burst * 60.0 / rpm, weighted=not weight))
    if orders:
        rules.append(Rule("orders", orders, 1.0, weighted=False, orders_only=True))
    return rules


class RateLimiter:
    """Sliding-window budget for one broker (see :mod:`orch.resilience.budget` for the rules)."""

    def __init__(self, rules: Sequence[Rule], *, name: str = "", store: BudgetStore | None = None,
                 key: str | None = None, cool_down: float = 1.0) -> None:
        if not rules:
            raise ValueError("a rate limiter needs at least one rule")
        self.name = name
        self._rules = list(rules)
        self._store: BudgetStore = store if store is not None else MemoryBudgetStore()
        self.key = key or f"local-{uuid.uuid4().hex[:16]}"
        self.cool_down = cool_down
        self._lock = trio.Lock()
        self._changed = trio.Event()
        self._waiting = 0
        self._budgets: dict[str, RateLimiter] = {}
        self.serves: frozenset[str] = frozenset()  # for a separate budget: the client operations using it

    @classmethod
    def from_settings(cls, settings: RateLimitSettings, defaults: RateLimitDefaults, *,
                      store: BudgetStore | None = None, key: str | None = None,
                      name: str = "") -> RateLimiter:
        path = _config_path(name)
        cool_down = float(settings.cool_down_seconds) if settings.cool_down_seconds is not None else 1.0
        if cool_down < 0:
            raise ConfigError(f"must not be negative, got {settings.cool_down_seconds}",
                              path=f"{path}.cool_down_seconds")
        return cls(rules_from_settings(settings, defaults, path=path), name=name, store=store, key=key,
                   cool_down=cool_down)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    @property
    def store(self) -> BudgetStore:
        return self._store

    def budget(self, name: str, rules: Sequence[Rule] | None = None, *,
               ops: Iterable[str] = ()) -> RateLimiter:
        """A separate budget of the same broker, for an API the broker limits apart from the main one
        (Alpaca's market data): its own rules, penalties and halts, in the same store under its own key,
        so it is shared between processes as the main one is but a 429 on it holds back nothing else.
        ``ops`` names the client operations that use it (``"quote"``): the client waits out this
        budget's penalty before their deadline starts, as it does the main one's for every operation.
        Made by the first call, which must give ``rules``; later calls return the same limiter."""
        found = self._budgets.get(name)
        if found is None:
            if not rules:
                raise ValueError(f"no budget named {name!r} yet: give its rules")
            found = self._budgets[name] = RateLimiter(rules, name=self.name, store=self._store,
                                                      key=f"{self.key}/{name}", cool_down=self.cool_down)
        found.serves = found.serves | frozenset(ops)
        return found

    def budgets_for(self, op: str) -> list[RateLimiter]:
        """The separate budgets whose ``ops`` include ``op``."""
        return [child for child in self._budgets.values() if op in child.serves]

    @property
    def budgets(self) -> Mapping[str, RateLimiter]:
        """The separate budgets made with :meth:`budget`, by name."""
        return MappingProxyType(self._budgets)

    def _rule(self, name: str | None) -> int:
        if name is None:
            return 0
        for index, rule in enumerate(self._rules):
            if rule.name == name:
                return index
        raise ValueError(f"no rate-limit rule named {name!r} (have {', '.join(r.name for r in self._rules)})")

    def _wake(self) -> None:
        # Whoever is waiting at the head re-reads the budget: a halt must raise now, not after the wait.
        self._changed.set()
        self._changed = trio.Event()

    async def acquire(self, cost: int = 1, *, order: bool = False) -> None:
        """Wait until ``cost`` units (and one order, if ``order``) fit every rule, then charge them.

        Raises :class:`BudgetHalted` while a halt is in force; ``acquire(0)`` only waits out a penalty.
        """
        if cost < 0:
            raise ValueError(f"cost must not be negative, got {cost}")
        self._charges(cost, order)  # refuse an impossible cost before queueing
        self._waiting += 1
        # Waiting for our turn is not the broker being slow: the call's deadline stands still meanwhile.
        try:
            with paused():
                async with self._lock:
                    while True:
                        # Rebuilt each pass: observe() may have lowered a limit while we waited.
                        decision = self._store.take(self.key, self._charges(cost, order))
                        if decision.granted:
                            return
                        if decision.halted_for is not None:
                            raise self._halted(decision.halted_for, decision.halt_reason or "halted")
                        changed = self._changed
                        with trio.move_on_after(max(decision.wait, _MIN_WAIT)):
                            await changed.wait()
        finally:
            self._waiting -= 1

    def _charges(self, cost: int, order: bool) -> list[tuple[Rule, int]]:
        charges = [(rule, rule.charge(cost, order)) for rule in self._rules]
        for rule, units in charges:
            if units > rule.limit:
                raise ConfigError(f"a request of weight {units} can never fit the {rule.name} limit of "
                                  f"{rule.limit} per {rule.period:g}s", path=_config_path(self.name))
        return charges

    def _halted(self, seconds_left: float, reason: str) -> BudgetHalted:
        # The wall-clock time is for the reader only; every figure code uses is on trio's clock.
        shown = (datetime.now(timezone.utc) + timedelta(seconds=seconds_left)).strftime("%H:%M:%S UTC")
        return BudgetHalted(f"requests halted ({reason}); nothing is sent for another {seconds_left:.0f}s "
                            f"(until about {shown})", retry_after=seconds_left,
                            banned_until=trio.current_time() + seconds_left, broker=self.name or None)

    def observe(self, *, used: int | None = None, remaining: int | None = None, limit: int | None = None,
                reset_after: float | None = None, rule: str | None = None) -> None:
        """Correct the count from the broker's own usage headers (``X-MBX-USED-WEIGHT-1M``,
        ``X-RateLimit-Remaining`` / ``-Limit`` / ``-Reset``). ``reset_after`` is seconds until the broker's
        window resets; ``rule`` names the rule the headers describe (default: the first, main one).

        The count is only ever raised: a lower figure from the broker may simply predate requests of
        ours still in flight. A ``limit`` below the configured one is adopted (the broker knows best);
        a higher one is ignored (a lower configured limit is the operator's choice).
        """
        index = self._rule(rule)
        target = self._rules[index]
        if limit is not None and 0 < limit < target.limit:
            target = self._rules[index] = attrs.evolve(target, limit=limit)
            self._wake()
        if used is None and remaining is not None:
            used = max(0, (limit if limit is not None else target.limit) - remaining)
        if used is not None and used > 0:
            self._store.raise_usage(self.key, target, used, reset_after)

    def adopt_rule(self, rule: Rule) -> None:
        """Add a window the broker announced (Binance's orders per 10 s and per day, read from its
        exchangeInfo), charged with the others from the next :meth:`acquire` on. A rule of that name
        already there keeps the lower limit."""
        for index, existing in enumerate(self._rules):
            if existing.name == rule.name:
                if rule.limit < existing.limit:
                    self._rules[index] = attrs.evolve(existing, limit=rule.limit)
                    self._wake()
                return
        self._rules.append(rule)

    def fill(self, rule: str, seconds: float | None = None) -> None:
        """After a refusal that concerns one rule only (Binance's -1015, too many orders): that rule counts
        as full for ``seconds`` (``cool_down`` without a figure), so what it charges waits and nothing else
        does, unlike :meth:`penalize`, which holds back every request."""
        target = self._rules[self._rule(rule)]
        seconds = self.cool_down if seconds is None else seconds
        if seconds > 0:
            self._store.raise_usage(self.key, target, target.limit, seconds)
            self._wake()

    def penalize(self, retry_after: float | None = None) -> None:
        """After a 429: nothing is sent for ``retry_after`` seconds (``cool_down`` when the broker gave
        no figure). Waiting callers wait; they are not failed."""
        seconds = self.cool_down if retry_after is None else retry_after
        if seconds > 0:
            self._store.block(self.key, PENALTY, seconds, "rate limited")
            self._wake()

    def halt(self, until: float, reason: str) -> None:
        """After a 418 ban: until ``until`` (trio's clock) every :meth:`acquire` raises
        :class:`BudgetHalted` naming the time, instead of waiting."""
        seconds = until - trio.current_time()
        if seconds > 0:
            self._store.block(self.key, HALT, seconds, reason)
            self._wake()

    def usage(self) -> LimiterUsage:
        main = self._rules[0]
        used = self._store.used(self.key, main)
        blocks = self._store.blocks(self.key)
        now = trio.current_time()
        return LimiterUsage(
            limit=main.limit, used=used, fraction=used / main.limit, waiting=self._waiting,
            penalized_until=None if blocks.penalty_left is None else now + blocks.penalty_left,
            halted_until=None if blocks.halt_left is None else now + blocks.halt_left,
            halt_reason=blocks.halt_reason, rule=main.name)

    def __repr__(self) -> str:
        rules = ", ".join(f"{r.name}={r.limit}/{r.period:g}s" for r in self._rules)
        return f"<RateLimiter {self.name or self.key} {rules}>"
