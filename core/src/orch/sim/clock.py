"""Simulated time: trio's clock for the passing of time, plus a wall clock that tests can set.

A simulator needs two things from time: *elapsed* time, which must follow trio's clock so that
``trio.testing.MockClock`` drives resting orders and rate limits without real sleeping, and a *calendar*
time (an aware UTC datetime) that decides whether a trading session is open and which price a symbol has.
:class:`SimClock` gives both: ``now()`` is an anchor datetime plus the trio time elapsed since the anchor
was set. By default the anchor is the real wall clock when the clock is first read; :meth:`SimClock.set`
moves it (for example to :data:`ALL_OPEN`, a moment when every session of :mod:`orch.sim.market` is open)
and ``frozen=True`` stops it from moving at all.

Example::

    clock = SimClock(wall=ALL_OPEN)          # US, EU, London, forex and crypto all open
    clock.now()                              # 2024-06-04 14:00 UTC, moves with trio's clock
    clock.advance(3600)                      # jump an hour (also works outside trio)
    clock.set(ALL_CLOSED, frozen=True)       # stock and forex sessions closed; time stands still
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import trio

__all__ = ["ALL_CLOSED", "ALL_OPEN", "SimClock", "US_PREMARKET", "trio_time"]

# Tuesday 4 June 2024, 10:00 in New York = 15:00 London = 16:00 Frankfurt/Paris/Zurich: the US and every
# European stock session of orch.sim.sessions is in regular hours, forex and crypto trade. The demo and most
# tests use this.
ALL_OPEN = datetime(2024, 6, 4, 14, 0, tzinfo=timezone.utc)
# Sunday 2 June 2024, 12:00 UTC: stock exchanges and forex are closed (forex opens Sunday 17:00 New York);
# crypto still trades.
ALL_CLOSED = datetime(2024, 6, 2, 12, 0, tzinfo=timezone.utc)
# Tuesday 4 June 2024, 08:00 in New York: US pre-market (extended hours) but not the regular session.
US_PREMARKET = datetime(2024, 6, 4, 12, 0, tzinfo=timezone.utc)


class _TrioTime:
    """Monotonic seconds that follow trio's clock inside a trio run and ``time.monotonic()`` outside.

    Inside a run the value is trio's time plus an offset fixed at the run's first reading, so differences
    within a run are exactly trio's (a MockClock drives them). The offset puts the value on the scale of
    ``time.monotonic()`` plus ``skew``, the lead that virtual time has taken over real time so far; readings
    from another thread, or in a later run, use the same scale, so the value never jumps back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: object | None = None
        self._offset = 0.0
        self._skew = 0.0

    def __call__(self) -> float:
        try:
            now = trio.current_time()
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            with self._lock:
                return time.monotonic() + self._skew
        with self._lock:
            real = time.monotonic()
            if token is not self._token:
                self._token = token
                self._offset = real + self._skew - now
            value = now + self._offset
            self._skew = max(self._skew, value - real)
            return value


trio_time: Callable[[], float] = _TrioTime()
"""The default time source of :class:`SimClock` (seconds, monotonic)."""


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"the simulated wall clock needs a timezone-aware datetime, got {when!r}")
    return when.astimezone(timezone.utc)


class SimClock:
    """The simulator's notion of "now".

    ``wall``: the calendar time to start from (default: the real wall clock at the first reading).
    ``frozen``: if True, ``now()`` does not move with trio's clock (only :meth:`advance` and :meth:`set`
    move it). ``source``: the monotonic seconds counter (default: trio's clock, see :data:`trio_time`).
    Thread-safe: a test thread may set the clock of a simulator running in another thread.
    """

    def __init__(self, *, wall: datetime | None = None, frozen: bool = False,
                 source: Callable[[], float] | None = None) -> None:
        self._source = source or trio_time
        self._lock = threading.RLock()
        self._anchor_wall: datetime | None = _utc(wall) if wall is not None else None
        self._anchor_mono: float | None = None
        self._overridden = wall is not None
        self._frozen = frozen

    # -------------------------------------------------------------------------------- reading

    def now(self) -> datetime:
        """The current simulated calendar time (aware, UTC)."""
        with self._lock:
            mono = self._source()
            if self._anchor_mono is None:
                self._anchor_mono = mono
                if self._anchor_wall is None:
                    self._anchor_wall = datetime.now(timezone.utc)
            assert self._anchor_wall is not None
            if self._frozen:
                return self._anchor_wall
            return self._anchor_wall + timedelta(seconds=mono - self._anchor_mono)

    def monotonic(self) -> float:
        """The underlying monotonic seconds (trio's clock): for measuring intervals, not for calendars."""
        return self._source()

    @property
    def overridden(self) -> bool:
        """True when the wall clock was set explicitly rather than taken from the real clock."""
        return self._overridden

    @property
    def frozen(self) -> bool:
        return self._frozen

    # -------------------------------------------------------------------------------- changing

    def set(self, when: datetime, *, frozen: bool | None = None) -> None:
        """Make ``now()`` return ``when`` from this moment on (then move on with trio's clock unless
        frozen). ``frozen=None`` keeps the current frozen state."""
        when = _utc(when)
        with self._lock:
            self._anchor_wall = when
            self._anchor_mono = self._source()
            self._overridden = True
            if frozen is not None:
                self._frozen = frozen

    def advance(self, seconds: float) -> datetime:
        """Move the wall clock forward (a negative value moves it back) without waiting; returns the new
        ``now()``. Trio's own clock is not touched: in a MockClock test use ``await trio.sleep`` to let
        background tasks run as well."""
        with self._lock:
            current = self.now()
            self._anchor_wall = current + timedelta(seconds=seconds)
            self._anchor_mono = self._source()
            return self._anchor_wall if self._frozen else self.now()

    def freeze(self) -> None:
        with self._lock:
            current = self.now()
            self._anchor_wall = current
            self._anchor_mono = self._source()
            self._frozen = True

    def unfreeze(self) -> None:
        with self._lock:
            current = self.now()
            self._anchor_wall = current
            self._anchor_mono = self._source()
            self._frozen = False

    def reset(self) -> None:
        """Back to the real wall clock (moving with trio's clock)."""
        with self._lock:
            self._anchor_wall = datetime.now(timezone.utc)
            self._anchor_mono = self._source()
            self._overridden = False
            self._frozen = False

    def __repr__(self) -> str:
        state = "frozen" if self._frozen else "running"
        kind = "set" if self._overridden else "real"
        return f"SimClock({kind}, {state}, now={self.now().isoformat()})"
