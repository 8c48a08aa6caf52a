"""Circuit breaker transitions and call deadlines."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from orch.errors import AuthError, BrokerUnavailable, OrderRejected, ProtocolError, RateLimited
from orch.resilience import BreakerState, CircuitBreaker, CircuitOpen, deadline


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def call(breaker: CircuitBreaker, error: BaseException | None = None) -> None:
    with breaker.guard():
        await trio.sleep(0)
        if error is not None:
            raise error


async def fail(breaker: CircuitBreaker, error: BaseException | None = None) -> None:
    with pytest.raises(type(error) if error else BrokerUnavailable):
        await call(breaker, error or BrokerUnavailable("502"))


async def test_opens_after_consecutive_failures_and_refuses_while_open(clock):
    breaker = CircuitBreaker("alpaca", failure_threshold=3, cooldown=30.0)
    for _ in range(2):
        await fail(breaker)
    assert breaker.state is BreakerState.CLOSED
    await fail(breaker, ProtocolError("garbage"))
    assert breaker.state is BreakerState.OPEN
    await trio.sleep(10)
    with pytest.raises(CircuitOpen, match=r"alpaca: circuit open after 3 consecutive failures "
                                          r"\(last: garbage\); retry in 20s") as caught:
        await call(breaker)
    assert caught.value.retry_in == 20.0 and caught.value.request_sent is False


async def test_a_success_resets_the_count(clock):
    breaker = CircuitBreaker(failure_threshold=2)
    await fail(breaker)
    await call(breaker)
    await fail(breaker)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("error", [OrderRejected("no funds"), AuthError("bad key"),
                                   RateLimited("slow down", retry_after=1.0)])
async def test_answers_from_a_healthy_broker_do_not_count(clock, error):
    breaker = CircuitBreaker(failure_threshold=1)
    await fail(breaker, error)
    assert breaker.state is BreakerState.CLOSED


async def test_a_ban_counts(clock):
    breaker = CircuitBreaker(failure_threshold=1)
    await fail(breaker, RateLimited("banned", status=418))
    assert breaker.state is BreakerState.OPEN


async def test_half_open_lets_one_probe_through_and_success_closes(clock):
    breaker = CircuitBreaker(failure_threshold=1, cooldown=30.0)
    await fail(breaker)
    await trio.sleep(30)
    assert breaker.state is BreakerState.HALF_OPEN
    refused = []

    async def probe():
        with breaker.guard():
            await trio.sleep(5)

    async def second():
        await trio.sleep(1)
        try:
            await call(breaker)
        except CircuitOpen as exc:
            refused.append(str(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        nursery.start_soon(second)
    assert refused == ["circuit half-open: a probe is in flight; retry in 0s"]
    assert breaker.state is BreakerState.CLOSED
    await call(breaker)


async def test_failed_probe_reopens_for_a_new_cooldown(clock):
    breaker = CircuitBreaker(failure_threshold=2, cooldown=30.0)
    await fail(breaker)
    await fail(breaker)
    await trio.sleep(30)
    await fail(breaker)
    assert breaker.state is BreakerState.OPEN
    await trio.sleep(29)
    assert breaker.state is BreakerState.OPEN
    await trio.sleep(1)
    assert breaker.state is BreakerState.HALF_OPEN


async def test_cancelled_probe_frees_the_slot(clock):
    breaker = CircuitBreaker(failure_threshold=1, cooldown=1.0)
    await fail(breaker)
    await trio.sleep(1)
    with trio.move_on_after(1):
        with breaker.guard():
            await trio.sleep(10)
    assert breaker.state is BreakerState.HALF_OPEN
    await call(breaker)
    assert breaker.state is BreakerState.CLOSED


async def test_check_refuses_only_while_open(clock):
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0)
    breaker.check()
    await fail(breaker)
    with pytest.raises(CircuitOpen):
        breaker.check()
    await trio.sleep(5)
    breaker.check()  # half-open: does not take the probe
    await call(breaker)
    assert breaker.state is BreakerState.CLOSED


async def test_deadline_turns_too_slow_into_broker_unavailable(clock):
    with pytest.raises(BrokerUnavailable, match=r"ibkr: get_order timed out after 2.5s"):
        with deadline(2.5, what="get_order", broker="ibkr"):
            await trio.sleep(10)
    assert trio.current_time() == 2.5
    with deadline(2.5, what="get_order"):
        await trio.sleep(1)
