"""Alpaca limits its market-data API apart from its trading API. A 429 from the data API (a burst of
quotes) must slow market data only: order placement goes on at once, on the trading API's own budget.
Against the simulator over loopback, through the BrokerClient the orchestrator uses, on trio's mock
clock (the simulator's rate window runs on it too), so a penalty's length is measured, never slept."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.client import BrokerClient
from orch.config import config_from_data
from orch.errors import RateLimited
from orch.models import Instrument, Market, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from orch.plugins import load_plugin
from orch.resilience import RateLimiter, RetryPolicy
from orch.sim.clock import ALL_OPEN, SimClock
from orch.sim.runner import start_simulator

from orch_alpaca import protocol
from orch_alpaca.sim import AlpacaSim

AAPL = Instrument("AAPL", Market.US_STOCKS)


@pytest.fixture
def plugin():
    return load_plugin("alpaca")


@pytest.fixture
async def running(nursery, plugin):
    spec = plugin.hooks["orch_simulator"]()
    return await start_simulator(nursery, spec, clock=SimClock(wall=ALL_OPEN))


@pytest.fixture
async def client(nursery, plugin, running):
    config = config_from_data({"brokers": {"alpaca": {"enabled": True, **running.config}}}, source="<test>",
                              env={})
    settings = config.brokers["alpaca"]
    limiter = RateLimiter.from_settings(settings.rate_limits, plugin.info.rate_limits, name="alpaca")
    # One attempt: the test wants to see the 429 itself, not the retry that waits it out.
    broker = BrokerClient("alpaca", plugin.hooks, settings, plugin.info, limiter, retry=RetryPolicy(attempts=1))
    await broker.connect(nursery)
    yield broker
    await broker.aclose()


def order(coid: str) -> OrderRequest:
    return OrderRequest(instrument=AAPL, side=Side.BUY, qty=Decimal(1), type=OrderType.MARKET,
                        time_in_force=TimeInForce.DAY, client_order_id=coid)


PENALTY = 40.0  # seconds of Retry-After, longer than nothing but shorter than the 30 s call timeout + slack


async def refused_quote(running, client: BrokerClient) -> RateLimited:
    """One quote answered 429 by the data API (the simulator's injected fault, which says Retry-After)."""
    running.faults.set(rate_limit_burst=1, retry_after=PENALTY)
    with pytest.raises(RateLimited) as caught:
        await client.quote(AAPL)
    running.faults.reset()
    return caught.value


async def test_a_data_api_429_does_not_delay_place_order(autojump_clock, running, client):
    refused = await refused_quote(running, client)
    assert refused.budget == protocol.DATA_BUDGET and refused.retry_after == PENALTY

    data = client.limiter.budgets[protocol.DATA_BUDGET]
    assert data.usage().penalized_until is not None
    assert client.limiter.usage().penalized_until is None

    started = trio.current_time()
    placed = await client.place_order(order("orch-data-429-1"))
    assert placed.status in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.FILLED)
    # On the mock clock: a penalty on the main budget would have held this back for PENALTY seconds.
    assert trio.current_time() - started < 1.0
    assert AlpacaSim.of(running.engine).counters.orders_created == 1


async def test_market_data_still_waits_out_its_own_429(autojump_clock, running, client):
    await refused_quote(running, client)
    started = trio.current_time()
    quote = await client.quote(AAPL)
    assert quote.bid is not None
    # Nothing was sent to the data API before its Retry-After had passed.
    assert trio.current_time() - started >= PENALTY - 1e-6


async def test_a_trading_api_429_still_penalizes_the_main_budget(autojump_clock, running, client):
    running.faults.set(rate_limit_burst=1, retry_after=PENALTY)
    with pytest.raises(RateLimited) as caught:
        await client.account()
    running.faults.reset()
    assert caught.value.budget is None
    assert client.limiter.usage().penalized_until is not None
    assert client.limiter.budgets[protocol.DATA_BUDGET].usage().penalized_until is None
