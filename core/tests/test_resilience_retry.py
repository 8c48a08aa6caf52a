"""Retry: full-jitter backoff schedule, Retry-After, and what is never retried."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from orch.errors import (AuthError, BrokerUnavailable, InvalidOrder, NotSupported, OrderRejected,
                         ProtocolError, RateLimited)
from orch.resilience import BudgetHalted, CircuitOpen, RetryPolicy


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


class Flaky:
    """Fails with the given errors in turn, then returns "ok"; records when each attempt started."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.starts: list[float] = []

    async def __call__(self) -> str:
        self.starts.append(trio.current_time())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


async def test_backoff_is_full_jitter_under_an_exponential_ceiling(clock):
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=4.0, rng=random.Random(7))
    call = Flaky(*[BrokerUnavailable("down")] * 5)
    with pytest.raises(BrokerUnavailable):
        await policy.run(call, idempotent=True)
    assert len(call.starts) == 5
    ceilings = [1.0, 2.0, 4.0, 4.0]
    assert [policy.ceiling(n) for n in range(1, 5)] == ceilings
    twin = random.Random(7)
    assert gaps(call.starts) == pytest.approx([twin.uniform(0, c) for c in ceilings])
    assert all(0 <= gap <= c for gap, c in zip(gaps(call.starts), ceilings))


async def test_same_seed_same_schedule(clock):
    schedules = []
    for _ in range(2):
        call = Flaky(*[BrokerUnavailable("down")] * 3)
        await RetryPolicy(attempts=4, rng=random.Random(3)).run(call, idempotent=True)
        schedules.append(gaps(call.starts))
    assert schedules[0] == pytest.approx(schedules[1], abs=1e-9)


async def test_retry_after_is_honoured(clock):
    policy = RetryPolicy(base_delay=0.25, rng=random.Random(1))
    call = Flaky(RateLimited("slow down", retry_after=10.0))
    assert await policy.run(call, idempotent=True) == "ok"
    assert call.starts == [0.0, 10.0]


async def test_retry_after_beyond_the_cap_is_not_waited_out(clock):
    call = Flaky(RateLimited("slow down", retry_after=600.0))
    with pytest.raises(RateLimited):
        await RetryPolicy(max_retry_after=30.0).run(call, idempotent=True)
    assert call.starts == [0.0]


async def test_unavailable_then_success(clock):
    call = Flaky(BrokerUnavailable("502"), BrokerUnavailable("timeout"))
    assert await RetryPolicy(attempts=3).run(call, idempotent=True) == "ok"
    assert len(call.starts) == 3


async def test_not_idempotent_is_never_retried(clock):
    call = Flaky(BrokerUnavailable("reset after send"))
    with pytest.raises(BrokerUnavailable):
        await RetryPolicy(attempts=5).run(call, idempotent=False)
    assert call.starts == [0.0]


@pytest.mark.parametrize("error", [
    OrderRejected("insufficient margin"), AuthError("bad key"), NotSupported("stream_quotes"),
    ProtocolError("unparseable"), InvalidOrder("bad tick"), CircuitOpen("open", retry_in=5.0),
    RateLimited("banned", retry_after=5.0, banned_until=105.0), RateLimited("teapot", status=418),
    BudgetHalted("halted", retry_after=5.0, banned_until=5.0), ValueError("a bug"),
])
async def test_errors_that_waiting_does_not_fix_are_not_retried(clock, error):
    call = Flaky(error)
    with pytest.raises(type(error)):
        await RetryPolicy(attempts=5).run(call, idempotent=True)
    assert len(call.starts) == 1


async def test_gives_up_with_the_last_error(clock):
    call = Flaky(BrokerUnavailable("one"), BrokerUnavailable("two"), BrokerUnavailable("three"))
    with pytest.raises(BrokerUnavailable, match="three"):
        await RetryPolicy(attempts=3).run(call, idempotent=True)
