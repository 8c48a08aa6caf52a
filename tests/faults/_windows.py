"""Counting a broker's rate-limit windows from what its simulator received.

A broker limit is "at most ``limit`` units in any ``period`` seconds". Given the instants (trio time, as
the simulator saw them) and units of the requests it counts, :func:`busiest_window` finds the window
holding the most units. Windows are half-open, ``[t, t + period)``: a request exactly one period after
another falls into the next window, as every simulator's fixed windows and orch's limiter count it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

# Instants are floats: 1.9 - 1.0 is a hair under 0.9, which would put a request exactly one period after
# another into the same window.
EPSILON = 1e-9


@frozen
class Window:
    """The busiest window found: ``units`` in ``[start, start + period)``."""

    units: int
    start: float
    period: float


def busiest_window(events: Iterable[tuple[float, int]], period: float) -> Window:
    """The window of ``period`` seconds holding the most units. ``events`` are (instant, units) pairs in
    any order; the busiest window always starts at an event, so only those starts are tried."""
    ordered = sorted((at, units) for at, units in events if units)
    best = Window(0, ordered[0][0] if ordered else 0.0, period)
    total = 0
    first = 0
    for at, units in ordered:
        total += units
        # Drop what began a period or more before this event (two pointers, linear time).
        while ordered[first][0] <= at - period + EPSILON:
            total -= ordered[first][1]
            first += 1
        if total > best.units:
            best = Window(total, ordered[first][0], period)
    return best


@frozen
class Charge:
    """One request as a simulator's own accounting saw it (its weight, its endpoint's name)."""

    time: float
    units: int
    what: str = ""


@frozen
class Limit:
    """One broker rule: ``units(event)`` says what an event the simulator recorded costs under it (0: not
    counted by this rule). ``source`` names the list of events: ``"requests"`` (the simulator's request
    records) or a list a simulator's own meter filled (Binance's weights)."""

    name: str
    limit: int
    period: float
    units: Callable[[Any], int]
    source: str = "requests"

    def busiest(self, events: Sequence[Any]) -> Window:
        return busiest_window(((e.time, self.units(e)) for e in events), self.period)


def over_limit(limits: Sequence[Limit], sources: Mapping[str, Sequence[Any]]) -> dict[str, tuple[Window, int]]:
    """Every rule whose busiest window holds more than its limit: name → (window, limit)."""
    found = {}
    for limit in limits:
        window = limit.busiest(sources[limit.source])
        if window.units > limit.limit:
            found[limit.name] = (window, limit.limit)
    return found
