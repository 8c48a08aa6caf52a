"""SimClock: calendar time moving with trio's clock, settable, freezable."""

from datetime import datetime, timedelta, timezone

import pytest
import trio

from orch.sim import ALL_CLOSED, ALL_OPEN, SimClock


async def test_now_follows_trios_clock_from_the_set_wall_time(autojump_clock):
    clock = SimClock(wall=ALL_OPEN)
    assert clock.now() == ALL_OPEN
    await trio.sleep(90)
    assert clock.now() == ALL_OPEN + timedelta(seconds=90)


async def test_a_frozen_clock_ignores_trio_time_but_advances_on_request(autojump_clock):
    clock = SimClock(wall=ALL_OPEN, frozen=True)
    await trio.sleep(3600)
    assert clock.now() == ALL_OPEN
    assert clock.advance(60) == ALL_OPEN + timedelta(seconds=60)
    clock.unfreeze()
    await trio.sleep(10)
    assert clock.now() == ALL_OPEN + timedelta(seconds=70)
    clock.freeze()
    await trio.sleep(10)
    assert clock.now() == ALL_OPEN + timedelta(seconds=70)


async def test_set_reanchors_and_reset_returns_to_the_real_wall_clock(autojump_clock):
    clock = SimClock()
    assert not clock.overridden
    clock.set(ALL_CLOSED)
    assert clock.overridden and clock.now() == ALL_CLOSED
    await trio.sleep(5)
    assert clock.now() == ALL_CLOSED + timedelta(seconds=5)
    clock.reset()
    assert not clock.overridden
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_an_explicit_source_works_without_trio():
    ticks = [100.0]
    clock = SimClock(wall=ALL_OPEN, source=lambda: ticks[0])
    assert clock.now() == ALL_OPEN
    ticks[0] += 2.5
    assert clock.now() == ALL_OPEN + timedelta(seconds=2.5)


def test_the_default_source_also_works_outside_trio():
    clock = SimClock(wall=ALL_OPEN)
    first = clock.now()
    assert first >= ALL_OPEN and first - ALL_OPEN < timedelta(minutes=1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(wall=datetime(2024, 6, 4, 14, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock().set(datetime(2024, 6, 4))


def test_times_are_reported_in_utc():
    clock = SimClock(wall=datetime(2024, 6, 4, 10, 0, tzinfo=timezone(timedelta(hours=-4))), frozen=True)
    assert clock.now() == ALL_OPEN
    assert clock.now().tzinfo is timezone.utc


def test_a_clock_read_in_one_trio_run_stays_sane_in_the_next():
    from trio.testing import MockClock

    clock = SimClock(wall=ALL_OPEN)

    async def read(sleep):
        start = clock.now()
        await trio.sleep(sleep)
        return start, clock.now()

    start, end = trio.run(read, 3600, clock=MockClock(autojump_threshold=0))
    assert (start, end) == (ALL_OPEN, ALL_OPEN + timedelta(hours=1))
    again, _ = trio.run(read, 0)  # a system clock with a different origin: no jump
    assert timedelta(0) <= again - end < timedelta(minutes=1)
