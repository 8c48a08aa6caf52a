"""RateLimiter: exact windows under bursts, weights, order buckets, header corrections, 429/418."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.errors import BrokerUnavailable, ConfigError
from orch.models import RateLimitDefaults
from orch.resilience import BudgetHalted, MemoryBudgetStore, RateLimiter, Rule, deadline
from orch.settings import RateLimitSettings


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def max_in_window(grants: list[tuple[float, int]], period: float) -> int:
    """Largest total of units granted within any half-open window [t, t + period)."""
    grants = sorted(grants)
    best = 0
    for i, (start, _) in enumerate(grants):
        best = max(best, sum(units for t, units in grants[i:] if t < start + period))
    return best


async def burst(limiter: RateLimiter, n: int, cost: int = 1, *, order: bool = False):
    arrivals, grants = [], []

    async def one(i: int) -> None:
        arrivals.append(i)
        await limiter.acquire(cost, order=order)
        grants.append((trio.current_time(), i))

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    return arrivals, grants


async def test_ten_times_burst_never_exceeds_limit_and_is_fifo(clock):
    limiter = RateLimiter([Rule("requests", 10, 60.0)])
    arrivals, grants = await burst(limiter, 100)
    assert len(grants) == 100
    assert max_in_window([(t, 1) for t, _ in grants], 60.0) == 10
    assert [i for _, i in grants] == arrivals  # first come, first served
    assert [t for t, _ in grants] == [60.0 * (k // 10) for k in range(100)]


async def test_burst_rule_spreads_a_burst_at_the_minute_rate(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(requests_per_minute=60, burst_limit=5),
                                        RateLimitDefaults(requests_per_minute=1000))
    assert [(r.name, r.limit, r.period) for r in limiter.rules] == [("requests", 60, 60.0), ("burst", 5, 5.0)]
    _, grants = await burst(limiter, 20)
    assert sorted(t for t, _ in grants) == [5.0 * (k // 5) for k in range(20)]


async def test_weights_are_charged_to_the_weight_rule(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(weight_per_minute=100),
                                        RateLimitDefaults(requests_per_minute=1000))
    times = []
    for cost in (40, 40, 40, 1):
        await limiter.acquire(cost)
        times.append(trio.current_time())
    assert times == [0.0, 0.0, 60.0, 60.0]
    assert limiter.usage().used == 41


async def test_requests_rule_counts_requests_when_weights_are_configured(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(requests_per_minute=2, weight_per_minute=6000),
                                        RateLimitDefaults(requests_per_minute=1000))
    times = []
    for _ in range(3):
        await limiter.acquire(50)
        times.append(trio.current_time())
    assert times == [0.0, 0.0, 60.0]


async def test_order_bucket_applies_to_orders_only(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(orders_per_second=2),
                                        RateLimitDefaults(requests_per_minute=1000))
    _, grants = await burst(limiter, 5, order=True)
    assert sorted(t for t, _ in grants) == [0.0, 0.0, 1.0, 1.0, 2.0]
    before = trio.current_time()
    for _ in range(5):
        await limiter.acquire(1)
    assert trio.current_time() == before  # reads are not held back by the order bucket


async def test_used_header_raises_the_local_count_for_a_whole_window(clock):
    limiter = RateLimiter([Rule("weight", 10, 60.0)])
    limiter.observe(used=8)
    assert limiter.usage().used == 8
    await limiter.acquire(2)
    await limiter.acquire(1)
    assert trio.current_time() == 60.0


async def test_header_reset_time_bounds_the_correction(clock):
    limiter = RateLimiter([Rule("weight", 10, 60.0)])
    limiter.observe(remaining=0, limit=10, reset_after=7.0)
    await limiter.acquire(1)
    assert trio.current_time() == 7.0


async def test_a_lower_broker_count_does_not_lower_ours(clock):
    limiter = RateLimiter([Rule("weight", 10, 60.0)])
    await limiter.acquire(6)
    limiter.observe(used=2)  # the broker had not seen all of ours yet
    assert limiter.usage().used == 6


async def test_broker_limit_is_adopted_only_when_lower(clock):
    limiter = RateLimiter([Rule("weight", 10, 60.0)])
    limiter.observe(limit=50)
    assert limiter.usage().limit == 10
    limiter.observe(limit=4)
    assert limiter.usage().limit == 4
    _, grants = await burst(limiter, 8)
    assert sorted(t for t, _ in grants) == [0.0] * 4 + [60.0] * 4


async def test_observe_names_a_rule(clock):
    limiter = RateLimiter([Rule("weight", 100, 60.0), Rule("orders", 3, 10.0, weighted=False,
                                                              orders_only=True)])
    limiter.observe(used=3, rule="orders", reset_after=4.0)
    await limiter.acquire(1, order=True)
    assert trio.current_time() == 4.0
    with pytest.raises(ValueError, match="no rate-limit rule named 'nope'"):
        limiter.observe(used=1, rule="nope")


async def test_penalize_holds_everything_back_then_releases(clock):
    limiter = RateLimiter([Rule("requests", 100, 60.0)])
    limiter.penalize(3.0)
    assert limiter.usage().penalized_until == 3.0
    _, grants = await burst(limiter, 5)
    assert {t for t, _ in grants} == {3.0}
    assert limiter.usage().penalized_until is None


async def test_penalize_without_figure_uses_cool_down(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(cool_down_seconds=Decimal("2.5")),
                                        RateLimitDefaults(requests_per_minute=100))
    limiter.penalize()
    await limiter.acquire()
    assert trio.current_time() == 2.5


async def test_penalty_arriving_while_waiting_extends_the_wait(clock):
    limiter = RateLimiter([Rule("requests", 1, 10.0)])
    await limiter.acquire()
    granted = []

    async def waiter():
        await limiter.acquire()
        granted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(5)
        limiter.penalize(20.0)
    assert granted == [25.0]


async def test_halt_raises_naming_until_when_instead_of_waiting(clock):
    limiter = RateLimiter([Rule("requests", 100, 60.0)], name="binance")
    await trio.sleep(10)
    limiter.halt(130.0, "418 IP banned")
    with pytest.raises(BudgetHalted) as caught:
        await limiter.acquire()
    err = caught.value
    assert err.banned_until == 130.0 and err.retry_after == 120.0
    assert err.request_sent is False
    assert "418 IP banned" in str(err) and "120s" in str(err) and str(err).startswith("binance: ")
    assert trio.current_time() == 10.0  # it did not wait
    assert limiter.usage().halted_until == 130.0
    await trio.sleep(120)
    await limiter.acquire()


async def test_halt_wakes_a_queued_waiter_with_the_error(clock):
    limiter = RateLimiter([Rule("requests", 1, 60.0)])
    await limiter.acquire()
    outcome = []

    async def waiter():
        try:
            await limiter.acquire()
        except BudgetHalted as exc:
            outcome.append((trio.current_time(), exc.banned_until))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(1)
        assert limiter.usage().waiting == 1
        limiter.halt(500.0, "banned")
    assert outcome == [(1.0, 500.0)]
    assert limiter.usage().waiting == 0


async def test_acquire_zero_only_waits_out_penalties(clock):
    limiter = RateLimiter([Rule("requests", 1, 60.0)])
    await limiter.acquire()
    await limiter.acquire(0)  # the window is full, but nothing is charged
    assert trio.current_time() == 0.0
    limiter.penalize(4.0)
    await limiter.acquire(0)
    assert trio.current_time() == 4.0


async def test_usage_reports_fraction(clock):
    limiter = RateLimiter([Rule("requests", 8, 60.0)])
    for _ in range(2):
        await limiter.acquire()
    usage = limiter.usage()
    assert (usage.limit, usage.used, usage.fraction, usage.waiting) == (8, 2, 0.25, 0)


async def test_a_cost_that_can_never_fit_is_a_config_error(clock):
    limiter = RateLimiter.from_settings(RateLimitSettings(weight_per_minute=10),
                                        RateLimitDefaults(requests_per_minute=100), name="binance")
    with pytest.raises(ConfigError, match=r"brokers\.binance\.rate_limits: a request of weight 20 can "
                                          r"never fit"):
        await limiter.acquire(20)


def test_bad_settings_name_the_path():
    with pytest.raises(ConfigError, match=r"brokers\.alpaca\.rate_limits\.requests_per_minute: must be a "
                                          r"positive whole number, got 0"):
        RateLimiter.from_settings(RateLimitSettings(requests_per_minute=0),
                                  RateLimitDefaults(requests_per_minute=200), name="alpaca")


def test_defaults_fill_what_config_leaves_out():
    limiter = RateLimiter.from_settings(RateLimitSettings(),
                                        RateLimitDefaults(requests_per_minute=1200, weight_per_minute=6000,
                                                          orders_per_second=10, burst=50))
    assert [(r.name, r.limit, r.period, r.weighted, r.orders_only) for r in limiter.rules] == [
        ("weight", 6000, 60.0, True, False), ("requests", 1200, 60.0, False, False),
        ("burst", 50, 2.5, False, False), ("orders", 10, 1.0, False, True)]


rule_sets = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from([1.0, 2.5, 10.0]), st.booleans(), st.booleans()),
    min_size=1, max_size=3)
requests = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 4), st.booleans()), min_size=1,
                    max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets, requests)
def test_no_rule_is_ever_exceeded(specs, calls):
    rules = [Rule(f"r{i}", limit, period, weighted=weighted, orders_only=orders_only)
             for i, (limit, period, weighted, orders_only) in enumerate(specs)]
    grants: list[tuple[float, int, bool]] = []

    async def main():
        store = MemoryBudgetStore()
        limiter = RateLimiter(rules, store=store)

        async def call(delay: int, cost: int, order: bool):
            await trio.sleep(delay / 10)
            cost = min(cost, *(r.limit for r in rules))
            await limiter.acquire(cost, order=order)
            grants.append((trio.current_time(), cost, order))

        async with trio.open_nursery() as nursery:
            for delay, cost, order in calls:
                nursery.start_soon(call, delay, cost, order)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(grants) == len(calls)
    for rule in rules:
        charged = [(t, rule.charge(cost, order)) for t, cost, order in grants]
        assert max_in_window(charged, rule.period) <= rule.limit, rule


# ------------------------------------------------------------------------------------ separate budgets


async def test_a_separate_budget_has_its_own_window_and_penalty(clock):
    store = MemoryBudgetStore()
    main = RateLimiter([Rule("requests", 3, 60.0)], name="b", store=store, key="k")
    data = main.budget("market_data", [Rule("requests", 2, 60.0)], ops=("quote",))
    assert main.budget("market_data") is data and main.budgets == {"market_data": data}
    assert main.budgets_for("quote") == [data] and main.budgets_for("place_order") == []
    for _ in range(2):
        await data.acquire(1)
    data.penalize(30.0)
    # Spending and penalizing the data budget leaves the main one untouched.
    started = trio.current_time()
    for _ in range(3):
        await main.acquire(1)
    assert trio.current_time() == started
    assert main.usage().used == 3 and main.usage().penalized_until is None
    assert data.usage().penalized_until is not None
    await data.acquire(0)
    assert trio.current_time() - started >= 30.0


async def test_a_separate_budget_is_shared_through_the_store(clock):
    store = MemoryBudgetStore()
    one = RateLimiter([Rule("requests", 10, 60.0)], store=store, key="same-keys")
    other = RateLimiter([Rule("requests", 10, 60.0)], store=store, key="same-keys")
    rules = [Rule("requests", 2, 60.0)]
    await one.budget("market_data", rules).acquire(1)
    await other.budget("market_data", rules).acquire(1)
    assert one.budget("market_data").usage().used == 2


def test_a_separate_budget_needs_rules_the_first_time():
    main = RateLimiter([Rule("requests", 3, 60.0)])
    with pytest.raises(ValueError, match="market_data"):
        main.budget("market_data")


async def test_waiting_for_the_budget_does_not_eat_the_call_deadline(clock):
    """A call queued behind a spent budget waits its turn without timing out: nothing was sent, so the
    deadline (how long the broker may take to answer) runs only outside the limiter's wait."""
    limiter = RateLimiter([Rule("requests", 1, 60.0)])
    await limiter.acquire()
    started = trio.current_time()
    with deadline(5.0, what="place_order", broker="x"):
        await limiter.acquire()  # 60 s behind the first request, far past the 5 s deadline
        assert trio.current_time() - started >= 60.0 - 1e-6
        await trio.sleep(4.0)  # what is left of the deadline is still there after the wait

    with pytest.raises(BrokerUnavailable):
        with deadline(5.0, what="place_order", broker="x"):
            await trio.sleep(1.0)
            await limiter.acquire()  # a long wait, after which 4 s of deadline are left
            await trio.sleep(4.5)


async def test_an_adopted_rule_is_charged_and_keeps_the_lower_limit(clock):
    limiter = RateLimiter([Rule("weight", 100, 60.0)])
    limiter.adopt_rule(Rule("orders-10s", 2, 10.0, weighted=False, orders_only=True))
    limiter.adopt_rule(Rule("orders-10s", 5, 10.0, weighted=False, orders_only=True))
    assert [rule.limit for rule in limiter.rules] == [100, 2]
    await limiter.acquire(1, order=True)
    await limiter.acquire(1, order=True)
    started = trio.current_time()
    await limiter.acquire(1)  # not an order: the order window does not apply
    assert trio.current_time() == started
    await limiter.acquire(1, order=True)
    assert trio.current_time() - started >= 10.0 - 1e-6


async def test_fill_holds_back_only_what_the_rule_charges(clock):
    """Binance's -1015 (too many orders) must not hold back quotes, as a penalty would."""
    limiter = RateLimiter([Rule("weight", 100, 60.0), Rule("orders-10s", 5, 10.0, weighted=False,
                                                              orders_only=True)])
    limiter.fill("orders-10s", 10.0)
    started = trio.current_time()
    await limiter.acquire(2)
    assert trio.current_time() == started and limiter.usage().penalized_until is None
    await limiter.acquire(1, order=True)
    assert trio.current_time() - started >= 10.0 - 1e-6
