"""Where a rate budget is counted: the rules, the store protocol, and the in-memory store.

A budget is a set of sliding-window rules (``limit`` units per ``period`` seconds) charged atomically:
a request is granted only when every rule it touches has room, and then all of them are charged at
once. Sliding windows are exact: no window of ``period`` seconds ever holds more than ``limit`` units,
which a classic token bucket cannot promise (it lets ``burst + limit`` through in one window). Burst
control is one more, shorter rule (``burst`` units per ``burst / rate`` seconds), so "a burst, then a
steady rate" keeps the token-bucket shape without its overshoot.

Stores keep the windows, penalties (after a 429) and halts (after a 418 ban) under a key. The key
names one budget: :func:`budget_key` derives it from the broker name and the credential identity, so
every limiter (and every process, with :class:`~orch.resilience.sqlite_budget.SqliteBudgetStore`) using
the same credentials draws on one budget. Stores take durations, not instants, so each store may keep
its own clock (trio's for the in-memory store; the system clock, shared by all processes, for SQLite).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

from attrs import frozen

from orch.secret import Secret

PENALTY = "penalty"
HALT = "halt"


@frozen
class Rule:
    """At most ``limit`` units in any ``period`` seconds. A ``weighted`` rule is charged the request's
    cost (Binance weight); an unweighted one counts requests. ``orders_only`` rules are charged only by
    order placements (``acquire(order=True)``)."""

    name: str
    limit: int
    period: float
    weighted: bool = True
    orders_only: bool = False

    @property
    def ident(self) -> str:
        # Limiters configured with different periods must not read each other's windows as their own.
        return f"{self.name}/{self.period:g}s"

    def charge(self, cost: int, order: bool) -> int:
        if self.orders_only and not order:
            return 0
        # acquire(0) charges nothing: it only waits out penalties and surfaces halts.
        return cost if self.weighted else min(cost, 1)


@frozen
class Decision:
    """A store's answer to :meth:`BudgetStore.take`. When not granted: ``halted_for`` (seconds of a halt
    left, with ``halt_reason``) or ``wait`` (seconds until the request may fit). ``at`` is the store-clock
    time of a grant."""

    granted: bool
    wait: float = 0.0
    halted_for: float | None = None
    halt_reason: str | None = None
    at: float | None = None


@frozen
class Blocks:
    """Seconds left in the current penalty and halt (None when there is none)."""

    penalty_left: float | None = None
    halt_left: float | None = None
    halt_reason: str | None = None


class BudgetStore(Protocol):
    """Storage of budgets. Every method is one short atomic step; ``take`` checks and charges in one."""

    def take(self, key: str, charges: Sequence[tuple[Rule, int]]) -> Decision: ...

    def used(self, key: str, rule: Rule) -> int: ...

    def raise_usage(self, key: str, rule: Rule, at_least: int, expires_in: float | None) -> None: ...

    def block(self, key: str, kind: str, seconds: float, reason: str) -> None: ...

    def blocks(self, key: str) -> Blocks: ...


def budget_key(broker: str, *identity: str | Secret) -> str:
    """The budget name for ``broker`` used with these credentials (an API key id, an account login).

    A truncated SHA-256: the key may sit in a shared file and in logs, the credential may not.
    """
    digest = hashlib.sha256(b"orch-budget-v1")
    for part in (broker, *identity):
        value = part.reveal() if isinstance(part, Secret) else str(part)
        digest.update(b"\0" + value.encode())
    return digest.hexdigest()[:32]


def blocks_at(now: float, penalty: tuple[float, str] | None, halt: tuple[float, str] | None) -> Blocks:
    """What is left at ``now`` of a penalty and a halt, each stored as (until, reason)."""
    penalty = penalty if penalty and penalty[0] > now else None
    halt = halt if halt and halt[0] > now else None
    return Blocks(penalty_left=penalty[0] - now if penalty else None,
                  halt_left=halt[0] - now if halt else None, halt_reason=halt[1] if halt else None)


def decide(now: float, blocks: Blocks, charges: Sequence[tuple[Rule, int]], total: Callable[[Rule], int],
           wait: Callable[[Rule, int], float], record: Callable[[list[tuple[Rule, int]]], None]) -> Decision:
    """The one grant decision both stores make: a halt refuses, a penalty or any full rule defers (for
    the longest of their waits), otherwise every rule is charged at once through ``record``."""
    if blocks.halt_left is not None:
        return Decision(False, halted_for=blocks.halt_left, halt_reason=blocks.halt_reason)
    longest = blocks.penalty_left or 0.0
    charged = [(rule, units) for rule, units in charges if units > 0]
    for rule, units in charged:
        over = total(rule) + units - rule.limit
        if over > 0:
            longest = max(longest, wait(rule, over))
    if longest > 0:
        return Decision(False, wait=longest)
    record(charged)
    return Decision(True, at=now)


def expiry_position(now: float, period: float, expires_in: float | None) -> float | None:
    """Timestamp for a usage correction that must count until ``now + expires_in`` (a whole window when
    the broker gave no reset time); None when the broker's window is already over."""
    if expires_in is None or expires_in >= period:
        return now
    if expires_in <= 0:
        return None
    return now - period + expires_in


class _Window:
    """One rule's grants under one key: (timestamp, units) sorted by time, with their running total."""

    __slots__ = ("times", "costs", "total")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.costs: list[int] = []
        self.total = 0

    def prune(self, now: float, period: float) -> None:
        # A grant at t counts while now < t + period.
        cut = bisect.bisect_right(self.times, now - period)
        if cut:
            self.total -= sum(self.costs[:cut])
            del self.times[:cut], self.costs[:cut]

    def add(self, at: float, units: int) -> None:
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.costs.insert(index, units)
        self.total += units

    def wait(self, now: float, period: float, room_needed: int) -> float:
        """Seconds until the oldest grants holding ``room_needed`` units have left the window."""
        freed = 0
        for at, units in zip(self.times, self.costs):
            freed += units
            if freed >= room_needed:
                return at + period - now
        return period  # unreachable while room_needed <= total; a safe answer all the same


class MemoryBudgetStore:
    """Budgets of one process, on trio's clock by default (so MockClock drives them in tests). Share one
    instance between limiters in a process to give them one budget."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        if clock is None:
            import trio

            clock = trio.current_time
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._blocks: dict[tuple[str, str], tuple[float, str]] = {}

    def _window(self, key: str, rule: Rule, now: float) -> _Window:
        window = self._windows.setdefault((key, rule.ident), _Window())
        window.prune(now, rule.period)
        return window

    def take(self, key: str, charges: Sequence[tuple[Rule, int]]) -> Decision:
        now = self._clock()
        windows = {rule.ident: self._window(key, rule, now) for rule, units in charges if units > 0}

        def record(charged: list[tuple[Rule, int]]) -> None:
            for rule, units in charged:
                windows[rule.ident].add(now, units)

        return decide(now, self._blocks_at(key, now), charges, lambda rule: windows[rule.ident].total,
                      lambda rule, over: windows[rule.ident].wait(now, rule.period, over), record)

    def used(self, key: str, rule: Rule) -> int:
        return self._window(key, rule, self._clock()).total

    def raise_usage(self, key: str, rule: Rule, at_least: int, expires_in: float | None) -> None:
        now = self._clock()
        window = self._window(key, rule, now)
        at = expiry_position(now, rule.period, expires_in)
        if at is not None and at_least > window.total:
            window.add(at, at_least - window.total)

    def block(self, key: str, kind: str, seconds: float, reason: str) -> None:
        until = self._clock() + seconds
        current = self._blocks.get((key, kind))
        if current is None or until > current[0]:
            self._blocks[(key, kind)] = (until, reason)

    def blocks(self, key: str) -> Blocks:
        return self._blocks_at(key, self._clock())

    def _blocks_at(self, key: str, now: float) -> Blocks:
        return blocks_at(now, self._blocks.get((key, PENALTY)), self._blocks.get((key, HALT)))
