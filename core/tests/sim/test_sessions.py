"""Trading sessions: regular and extended hours, week-long windows, always-open markets, forcing."""

from datetime import date, datetime, timezone

import pytest

from orch.models import Market
from orch.sim import ALL_CLOSED, ALL_OPEN, SESSIONS, US_PREMARKET, MarketModel, Session, is_open
from orch.sim.sessions import phase, session_for


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("when, expected", [
    (utc(2024, 6, 4, 7, 59), "closed"),     # 03:59 New York (EDT)
    (utc(2024, 6, 4, 8, 0), "pre"),         # 04:00
    (utc(2024, 6, 4, 13, 29, 59), "pre"),
    (utc(2024, 6, 4, 13, 30), "regular"),   # 09:30
    (utc(2024, 6, 4, 19, 59, 59), "regular"),
    (utc(2024, 6, 4, 20, 0), "post"),       # 16:00
    (utc(2024, 6, 5, 0, 0), "closed"),      # 20:00
    (utc(2024, 1, 9, 14, 29), "pre"),       # 09:29 New York in winter (EST)
    (utc(2024, 1, 9, 14, 30), "regular"),
    (utc(2024, 6, 8, 15, 0), "closed"),     # Saturday
])
def test_us_session_phases_follow_new_york_time(when, expected):
    assert phase("US", when) == expected
    assert is_open("US", when) is (expected == "regular")
    assert is_open("US", when, extended=True) is (expected != "closed")


@pytest.mark.parametrize("when, expected", [
    (utc(2024, 6, 7, 20, 59), True),        # Friday 16:59 New York
    (utc(2024, 6, 7, 21, 0), False),        # Friday 17:00: the week ends
    (utc(2024, 6, 8, 12, 0), False),        # Saturday
    (utc(2024, 6, 9, 20, 59), False),       # Sunday 16:59
    (utc(2024, 6, 9, 21, 0), True),         # Sunday 17:00: the week starts
    (utc(2024, 6, 5, 3, 0), True),          # Wednesday night
])
def test_forex_trades_from_sunday_to_friday_evening_new_york(when, expected):
    assert is_open("FOREX", when) is expected
    assert is_open(Market.FOREX, when) is expected


def test_crypto_never_closes():
    for when in (ALL_OPEN, ALL_CLOSED, utc(2024, 12, 25, 3, 0)):
        assert is_open("CRYPTO", when)
        assert is_open(Market.CRYPTO, when)


def test_european_exchanges_use_their_local_hours():
    assert is_open("XETRA", utc(2024, 6, 4, 7, 0))          # 09:00 Frankfurt (CEST)
    assert not is_open("XETRA", utc(2024, 6, 4, 6, 59))
    assert not is_open("XETRA", utc(2024, 6, 4, 15, 30))    # 17:30
    assert is_open("LSE", utc(2024, 6, 4, 7, 0))            # 08:00 London (BST)
    assert not is_open("LSE", utc(2024, 6, 4, 15, 30))      # 16:30
    assert is_open(Market.EU_STOCKS, utc(2024, 6, 4, 12, 0))


def test_the_named_moments_mean_what_they_say():
    for name in ("US", "XETRA", "LSE", "EURONEXT", "MILAN", "MADRID", "SIX", "NORDIC", "FOREX", "CRYPTO"):
        assert is_open(name, ALL_OPEN), name
    for name in ("US", "XETRA", "LSE", "FOREX", "CME"):
        assert not is_open(name, ALL_CLOSED, extended=True), name
    assert phase("US", US_PREMARKET) == "pre"


def test_next_open_and_close():
    us = SESSIONS["US"]
    assert us.next_close(ALL_OPEN) == utc(2024, 6, 4, 20, 0)
    assert us.next_close(ALL_OPEN, extended=True) == utc(2024, 6, 5, 0, 0)
    assert us.next_open(ALL_OPEN) == ALL_OPEN  # already open
    saturday = utc(2024, 6, 8, 15, 0)
    assert us.next_open(saturday) == utc(2024, 6, 10, 13, 30)
    assert us.next_open(saturday, extended=True) == utc(2024, 6, 10, 8, 0)
    assert us.next_close(utc(2024, 6, 4, 21, 0)) == utc(2024, 6, 5, 20, 0)  # after the close: tomorrow's
    assert SESSIONS["FOREX"].next_open(saturday) == utc(2024, 6, 9, 21, 0)
    assert SESSIONS["FOREX"].next_close(ALL_OPEN) == utc(2024, 6, 7, 21, 0)
    assert SESSIONS["CRYPTO"].next_close(ALL_OPEN) == utc(2024, 6, 5, 0, 0)


def test_holidays_close_a_daily_session():
    session = Session(name="HOLI", tz="America/New_York", open=SESSIONS["US"].open,
                      close=SESSIONS["US"].close, holidays=frozenset({date(2024, 6, 4)}))
    assert not session.is_open(ALL_OPEN)
    assert session.next_open(ALL_OPEN) == utc(2024, 6, 5, 13, 30)


def test_unknown_sessions_are_named_in_the_error():
    with pytest.raises(ValueError, match="unknown market or session 'MOON'.*XETRA"):
        session_for("MOON")
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open("US", datetime(2024, 6, 4, 12, 0))


def test_market_model_forcing_beats_the_clock():
    market = MarketModel()
    assert not market.is_open("US", ALL_CLOSED)
    market.force_sessions(True)
    assert market.is_open("US", ALL_CLOSED) and market.symbol_is_open("SAP.DE", ALL_CLOSED)
    market.force_sessions(False, "CRYPTO")
    assert not market.symbol_is_open("BTCUSDT", ALL_OPEN)
    assert market.is_open("US", ALL_CLOSED)
    market.force_sessions(None, "CRYPTO")
    assert market.symbol_is_open("BTCUSDT", ALL_OPEN)
    market.force_sessions(None)
    assert not market.is_open("US", ALL_CLOSED)
    assert market.forced_sessions == {}
