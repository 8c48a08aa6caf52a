"""Trading sessions: when each simulated market is open.

Three shapes cover the venues orch's brokers reach: exchanges with daily hours in their own time zone
(optionally with pre-market and after-hours phases), week-long windows (forex: Sunday 17:00 to Friday 17:00
New York), and markets that never close (crypto). Exchange holidays are not modelled unless given in
``Session.holidays``.

Example::

    from orch.sim.sessions import is_open, SESSIONS
    is_open("US", when)                      # regular hours, 09:30-16:00 America/New_York
    is_open("US", when, extended=True)       # 04:00-20:00 counts too
    is_open(Market.CRYPTO, when)             # always True
    SESSIONS["XETRA"].next_close(when)       # aware datetime of the next 17:30 Frankfurt close
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

from attrs import field, frozen

from orch.models import Market

__all__ = ["MARKET_SESSIONS", "Phase", "SESSIONS", "Session", "is_open", "phase", "session_for"]

Phase = Literal["closed", "pre", "regular", "post"]

MON_FRI = frozenset(range(5))
_SEARCH_DAYS = 15  # enough to cross any weekend plus a run of holidays


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"session times need a timezone-aware datetime, got {when!r}")
    return when


@frozen
class Session:
    """The hours of one market.

    Daily exchanges set ``open``/``close`` (regular hours, local time in ``tz``) and optionally
    ``pre_open``/``post_close`` for extended hours, on ``weekdays`` (0 = Monday). Week-long windows set
    ``weekly_open``/``weekly_close`` as ``(weekday, time)``. With neither, the market never closes; its
    "day" (for DAY orders) ends at midnight UTC.
    """

    name: str
    tz: str = "UTC"
    open: time | None = None
    close: time | None = None
    pre_open: time | None = None
    post_close: time | None = None
    weekdays: frozenset[int] = MON_FRI
    weekly_open: tuple[int, time] | None = None
    weekly_close: tuple[int, time] | None = None
    holidays: frozenset[date] = field(factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def always_open(self) -> bool:
        return self.open is None and self.weekly_open is None

    # -------------------------------------------------------------------------------- phase

    def phase(self, when: datetime) -> Phase:
        """``regular``, ``pre`` (before the open, extended hours), ``post`` (after the close, extended
        hours) or ``closed``."""
        when = _aware(when)
        if self.always_open:
            return "regular"
        local = when.astimezone(self.zone)
        if self.weekly_open is not None:
            return "regular" if self._in_week_window(local) else "closed"
        if not self._trading_day(local.date()):
            return "closed"
        assert self.open is not None and self.close is not None
        now = local.time()
        if self.open <= now < self.close:
            return "regular"
        if self.pre_open is not None and self.pre_open <= now < self.open:
            return "pre"
        if self.post_close is not None and self.close <= now < self.post_close:
            return "post"
        return "closed"

    def is_open(self, when: datetime, *, extended: bool = False) -> bool:
        current = self.phase(when)
        return current == "regular" or (extended and current in ("pre", "post"))

    # -------------------------------------------------------------------------------- boundaries

    def next_open(self, when: datetime, *, extended: bool = False) -> datetime:
        """``when`` itself if the session is open then, else the next moment it opens (UTC)."""
        when = _aware(when)
        if self.is_open(when, extended=extended):
            return when.astimezone(timezone.utc)
        if self.weekly_open is not None:
            return self._next_weekly(when, self.weekly_open)
        local_day = when.astimezone(self.zone).date()
        for offset in range(_SEARCH_DAYS):
            day = local_day + timedelta(days=offset)
            if not self._trading_day(day):
                continue
            start = self._at(day, self.pre_open if extended and self.pre_open else self.open)
            if start >= when:
                return start
        raise ValueError(f"session {self.name} does not open within {_SEARCH_DAYS} days of {when}")

    def next_close(self, when: datetime, *, extended: bool = False) -> datetime:
        """The end of the session in progress at ``when``, or of the next one (UTC). For a market that
        never closes: the next midnight UTC, which is where a DAY order there ends."""
        when = _aware(when)
        if self.always_open:
            utc = when.astimezone(timezone.utc)
            return datetime.combine(utc.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
        if self.weekly_close is not None:
            return self._next_weekly(when, self.weekly_close, strictly_after=True)
        local_day = when.astimezone(self.zone).date()
        for offset in range(-1, _SEARCH_DAYS):
            day = local_day + timedelta(days=offset)
            if not self._trading_day(day):
                continue
            end = self._at(day, self.post_close if extended and self.post_close else self.close)
            if end > when:
                return end
        raise ValueError(f"session {self.name} does not close within {_SEARCH_DAYS} days of {when}")

    # -------------------------------------------------------------------------------- helpers

    def _trading_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def _at(self, day: date, at: time | None) -> datetime:
        assert at is not None
        return datetime.combine(day, at, tzinfo=self.zone).astimezone(timezone.utc)

    def _in_week_window(self, local: datetime) -> bool:
        assert self.weekly_open is not None and self.weekly_close is not None
        pos = _week_position(local.weekday(), local.time())
        start = _week_position(*self.weekly_open)
        end = _week_position(*self.weekly_close)
        if start <= end:
            return start <= pos < end
        return pos >= start or pos < end

    def _next_weekly(self, when: datetime, mark: tuple[int, time], *, strictly_after: bool = False) -> datetime:
        weekday, at = mark
        local = when.astimezone(self.zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() != weekday:
                continue
            candidate = self._at(day, at)
            if candidate > when or (candidate == when and not strictly_after):
                return candidate
        raise AssertionError("a weekly mark always recurs within 8 days")


def _week_position(weekday: int, at: time) -> int:
    return weekday * 86400 + at.hour * 3600 + at.minute * 60 + at.second


def _daily(name: str, tz: str, open_: str, close: str, pre: str | None = None,
           post: str | None = None) -> Session:
    return Session(name=name, tz=tz, open=time.fromisoformat(open_), close=time.fromisoformat(close),
                   pre_open=time.fromisoformat(pre) if pre else None,
                   post_close=time.fromisoformat(post) if post else None)


SESSIONS: Mapping[str, Session] = MappingProxyType({s.name: s for s in (
    _daily("US", "America/New_York", "09:30", "16:00", pre="04:00", post="20:00"),
    _daily("TSX", "America/Toronto", "09:30", "16:00"),
    _daily("XETRA", "Europe/Berlin", "09:00", "17:30"),
    # Lang & Schwarz, the venue behind Trade Republic, quotes far longer than Xetra.
    _daily("LSX", "Europe/Berlin", "07:30", "23:00"),
    _daily("LSE", "Europe/London", "08:00", "16:30"),
    _daily("EURONEXT", "Europe/Paris", "09:00", "17:30"),
    _daily("MILAN", "Europe/Rome", "09:00", "17:30"),
    _daily("MADRID", "Europe/Madrid", "09:00", "17:30"),
    _daily("SIX", "Europe/Zurich", "09:00", "17:30"),
    _daily("NORDIC", "Europe/Stockholm", "09:00", "17:30"),
    _daily("TSE", "Asia/Tokyo", "09:00", "15:30"),
    _daily("HKEX", "Asia/Hong_Kong", "09:30", "16:00"),
    Session(name="CRYPTO"),
    Session(name="FOREX", tz="America/New_York", weekly_open=(6, time(17)), weekly_close=(4, time(17))),
    Session(name="CME", tz="America/New_York", weekly_open=(6, time(18)), weekly_close=(4, time(17))),
)})
"""Every built-in session by name."""

MARKET_SESSIONS: Mapping[Market, str] = MappingProxyType({
    Market.US_STOCKS: "US",
    Market.EU_STOCKS: "XETRA",
    Market.GLOBAL_STOCKS: "US",
    Market.CRYPTO: "CRYPTO",
    Market.FOREX: "FOREX",
    Market.CFD: "FOREX",
    Market.OPTIONS: "US",
    Market.FUTURES: "CME",
})
"""The representative session of each orch market (a symbol's own session is more precise: see
:func:`orch.sim.instruments.classify`)."""


def session_for(market: str | Market | Session) -> Session:
    """A session by name (``"US"``, ``"XETRA"``, ``"FOREX"``…), by orch :class:`~orch.models.Market`, or
    the session itself."""
    if isinstance(market, Session):
        return market
    if isinstance(market, Market):
        return SESSIONS[MARKET_SESSIONS[market]]
    try:
        return SESSIONS[market.upper()]
    except KeyError:
        try:
            return SESSIONS[MARKET_SESSIONS[Market(market.upper())]]
        except (KeyError, ValueError):
            known = ", ".join(sorted(SESSIONS))
            raise ValueError(f"unknown market or session {market!r} (known sessions: {known})") from None


def is_open(market: str | Market | Session, when: datetime, *, extended: bool = False) -> bool:
    """Whether ``market`` trades at ``when`` (regular hours, or extended hours too if ``extended``)."""
    return session_for(market).is_open(when, extended=extended)


def phase(market: str | Market | Session, when: datetime) -> Phase:
    return session_for(market).phase(when)
