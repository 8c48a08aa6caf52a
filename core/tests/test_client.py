"""BrokerClient: hooks behind capability checks, limiter, breaker, deadlines, retries and metrics."""

from __future__ import annotations

import random
from contextlib import aclosing
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import trio
import trio.testing

from orch.client import BrokerClient
from orch.context import ConnectContext
from orch.errors import (BrokerUnavailable, InvalidOrder, NotSupported, OrderRejected, RateLimited)
from orch.models import (Account, BrokerInfo, Capabilities, Instrument, Market, Order, OrderRef,
                         OrderRequest, OrderStatus, OrderType, Quote, RateLimitDefaults, Side)
from orch.resilience import (BudgetHalted, CircuitBreaker, CircuitOpen, RateLimiter, RetryPolicy, Rule)
from orch.secret import Secret
from orch.settings import BrokerSettings

AAPL = Instrument("AAPL", Market.US_STOCKS)
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


class Conn:
    def __init__(self, context: ConnectContext) -> None:
        self.context = context
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class FakePlugin:
    """Hook implementations whose behaviour each test scripts: ``script[op]`` is a list of outcomes
    (an exception to raise, a number of seconds to sleep, or a value to return), used in turn."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.script: dict[str, list] = {}

    async def _run(self, op: str, default):
        self.calls[op] = self.calls.get(op, 0) + 1
        outcomes = self.script.get(op)
        outcome = outcomes.pop(0) if outcomes else default
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, (int, float)) and not isinstance(outcome, bool):
            await trio.sleep(outcome)
            return default
        return outcome

    def hooks(self) -> dict:
        async def orch_connect(settings, context):
            return await self._run("connect", Conn(context))

        async def orch_place_order(conn, request):
            return await self._run("place_order", order(request.client_order_id))

        async def orch_get_order(conn, ref):
            return await self._run("get_order", order(ref.client_order_id))

        async def orch_cancel_order(conn, ref):
            return await self._run("cancel_order", None)

        async def orch_list_orders(conn, filter):
            return await self._run("list_orders", [])

        async def orch_quote(conn, instrument):
            return await self._run("quote", Quote("fake", instrument, NOW, bid="1", ask="2"))

        async def orch_account(conn):
            return await self._run("account", Account("fake", "A1", "USD", cash="1", equity="1",
                                                      buying_power="1"))

        async def orch_positions(conn):
            return await self._run("positions", [])

        async def quotes(conn, instruments):
            for instrument in instruments:
                yield Quote("fake", instrument, NOW, last="3")

        def orch_stream_quotes(conn, instruments):
            self.calls["stream_quotes"] = self.calls.get("stream_quotes", 0) + 1
            return quotes(conn, instruments)

        return {name: fn for name, fn in locals().items() if name.startswith("orch_")}


def order(client_order_id: str | None) -> Order:
    return Order(broker="fake", broker_order_id="b-1", client_order_id=client_order_id, instrument=AAPL,
                 side=Side.BUY, type=OrderType.MARKET, status=OrderStatus.NEW, raw_status="new", qty="1")


def make_info(**caps) -> BrokerInfo:
    return BrokerInfo(name="fake", title="Fake", official=True, markets=frozenset({Market.US_STOCKS}),
                      capabilities=Capabilities(**caps), settings_type=BrokerSettings,
                      rate_limits=RateLimitDefaults(requests_per_minute=600))


def buy(**kwargs) -> OrderRequest:
    kwargs.setdefault("qty", "1")
    return OrderRequest(instrument=AAPL, side=Side.BUY, client_order_id="orch-1", **kwargs)


async def connected(nursery, plugin: FakePlugin, *, breaker=None, caps=None, **kwargs) -> BrokerClient:
    client = BrokerClient("fake", plugin.hooks(), BrokerSettings(timeout_seconds=Decimal(5)),
                          make_info(**(caps or {})), breaker=breaker,
                          retry=RetryPolicy(attempts=3, rng=random.Random(0)), **kwargs)
    await client.connect(nursery, live=False)
    return client


async def test_connect_hands_the_plugin_a_context(clock):
    plugin = FakePlugin()
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        conn = client._conn
        assert conn.context.broker == "fake" and conn.context.nursery is nursery
        assert conn.context.limiter is client.limiter and conn.context.live is False
        await client.aclose()
        assert conn.closed and not client.connected


async def test_place_order_is_never_retried(clock):
    plugin = FakePlugin()
    plugin.script["place_order"] = [BrokerUnavailable("connection reset"), order("orch-1")]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(BrokerUnavailable, match="connection reset"):
            await client.place_order(buy())
    assert plugin.calls["place_order"] == 1


async def test_place_order_timeout_is_broker_unavailable_and_sent_once(clock):
    plugin = FakePlugin()
    plugin.script["place_order"] = [60]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(BrokerUnavailable, match="fake: place_order timed out after 5s"):
            await client.place_order(buy())
    assert plugin.calls["place_order"] == 1
    assert trio.current_time() == 5.0


async def test_idempotent_calls_are_retried(clock):
    plugin = FakePlugin()
    plugin.script["get_order"] = [BrokerUnavailable("502"), 60]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        found = await client.get_order(OrderRef(client_order_id="orch-1"))
    assert found.client_order_id == "orch-1"
    assert plugin.calls["get_order"] == 3
    metrics = client.metrics()
    assert (metrics.calls, metrics.errors, metrics.attempts) == (2, 0, 4)  # connect + get_order


async def test_rejection_is_not_retried(clock):
    plugin = FakePlugin()
    plugin.script["cancel_order"] = [OrderRejected("already filled")]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(OrderRejected):
            await client.cancel_order(OrderRef(broker_order_id="b-1"))
    assert plugin.calls["cancel_order"] == 1


async def test_429_penalizes_the_shared_budget_and_retry_honours_it(clock):
    plugin = FakePlugin()
    plugin.script["quote"] = [RateLimited("too many requests", retry_after=12.0, status=429)]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        async with trio.open_nursery() as inner:
            inner.start_soon(client.quote, AAPL)
            await trio.sleep(1)
            assert client.limiter.usage().penalized_until == 12.0
        assert trio.current_time() == 12.0
    assert plugin.calls["quote"] == 2


async def test_a_refusal_naming_one_window_fills_that_window_only(clock):
    """Binance's -1015 (too many orders) names the order window: quotes are not held back, as a penalty
    of the whole budget would hold them."""
    from orch.resilience import Rule

    plugin = FakePlugin()
    plugin.script["account"] = [RateLimited("too many orders", retry_after=10.0, status=429, budget="orders-10s")]
    limiter = RateLimiter([Rule("requests", 100, 60.0), Rule("orders-10s", 5, 10.0, weighted=False,
                                                              orders_only=True)], name="fake")
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin, limiter=limiter)
        async with trio.open_nursery() as inner:
            inner.start_soon(client.account)  # refused once; its own retry waits the Retry-After
            await trio.sleep(1)
            assert limiter.usage().penalized_until is None
            await client.quote(AAPL)  # another call goes at once
            assert trio.current_time() == 1.0
            await limiter.acquire(1, order=True)  # an order waits for the window
            assert trio.current_time() >= 10.0 - 1e-6


async def test_418_halts_and_later_calls_fail_fast_without_sending(clock):
    plugin = FakePlugin()
    plugin.script["account"] = [RateLimited("IP banned", retry_after=120.0, status=418, broker="fake")]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(RateLimited, match="IP banned"):
            await client.account()
        with pytest.raises(BudgetHalted, match=r"^fake: requests halted \(IP banned\); nothing is sent for "
                                               r"another 120s") as caught:
            await client.positions()
        assert caught.value.banned_until == 120.0
    assert plugin.calls["account"] == 1 and "positions" not in plugin.calls


async def test_breaker_opens_and_refuses_without_calling_the_plugin(clock):
    plugin = FakePlugin()
    plugin.script["account"] = [BrokerUnavailable("503")] * 3
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin, caps={"stream_quotes": True},
                                 breaker=CircuitBreaker("fake", failure_threshold=3, cooldown=60.0))
        with pytest.raises(BrokerUnavailable):
            await client.account()  # three attempts, three failures
        assert client.metrics().breaker_state == "open"
        with pytest.raises(CircuitOpen, match="retry in"):
            await client.positions()
        assert "positions" not in plugin.calls
        with pytest.raises(CircuitOpen):
            client.stream_quotes([AAPL])
        await trio.sleep(60)
        assert client.metrics().breaker_state == "half_open"
        await client.positions()
        assert client.metrics().breaker_state == "closed"


@pytest.mark.parametrize("request_kwargs, capability", [
    ({"type": OrderType.STOP, "stop_price": "10"}, "order_type:stop"),
    ({"qty": "0.5"}, "fractional"),
    ({"qty": None, "notional": "100"}, "notional_orders"),
    ({"extended_hours": True}, "extended_hours"),
])
async def test_unsupported_orders_are_refused_before_io(clock, request_kwargs, capability):
    plugin = FakePlugin()
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(NotSupported) as caught:
            await client.place_order(buy(**request_kwargs))
    assert caught.value.capability == capability
    assert "place_order" not in plugin.calls


async def test_place_order_requires_a_client_order_id(clock):
    plugin = FakePlugin()
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(InvalidOrder, match="client_order_id"):
            await client.place_order(OrderRequest(instrument=AAPL, side=Side.BUY, qty="1"))
    assert "place_order" not in plugin.calls


async def test_optional_capabilities_are_checked_before_io(clock):
    plugin = FakePlugin()
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)  # stream_quotes capability is False
        with pytest.raises(NotSupported, match="fake: not supported: stream quotes"):
            client.stream_quotes([AAPL])
        with pytest.raises(NotSupported, match="replace order"):
            await client.replace_order(OrderRef(broker_order_id="b-1"), qty=Decimal(2))
        with pytest.raises(NotSupported) as caught:
            await client.list_fills()
        assert caught.value.capability == "list_fills"
    assert "stream_quotes" not in plugin.calls


async def test_stream_quotes_relays_the_plugin_stream(clock):
    plugin = FakePlugin()
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin, caps={"stream_quotes": True})
        msft = Instrument("MSFT", Market.US_STOCKS)
        async with aclosing(client.stream_quotes([AAPL, msft])) as stream:
            got = [quote.instrument.symbol async for quote in stream]
    assert got == ["AAPL", "MSFT"]


async def test_unexpected_plugin_exception_becomes_broker_unavailable(clock):
    plugin = FakePlugin()
    plugin.script["positions"] = [KeyError("qty")] * 3
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin)
        with pytest.raises(BrokerUnavailable, match="positions failed: KeyError") as caught:
            await client.positions()
    assert isinstance(caught.value.__cause__, KeyError)


async def test_metrics_latency_percentiles_and_masked_last_error(clock):
    secret = Secret("sk-live-0123456789abcdef")
    plugin = FakePlugin()
    plugin.script["quote"] = [i / 1000 for i in range(1, 101)]
    async with trio.open_nursery() as nursery:
        client = await connected(nursery, plugin, limiter=RateLimiter([Rule("requests", 1000, 60.0)]))
        for _ in range(100):
            await client.quote(AAPL)
        plugin.script["place_order"] = [OrderRejected(f"bad key {secret.reveal()}")]
        with pytest.raises(OrderRejected):
            await client.place_order(buy())
        metrics = client.metrics()
    assert metrics.calls == 102 and metrics.errors == 1
    # 102 samples: connect (0 s), 100 quotes of 1..100 ms, the rejected order (0 s).
    assert metrics.latency_p50 == pytest.approx(0.049)
    assert metrics.latency_p99 == pytest.approx(0.099)
    assert "sk-live" not in metrics.last_error and "********" in metrics.last_error
    assert metrics.last_error.startswith("OrderRejected: ")
    assert metrics.limiter.limit == 1000 and metrics.connected


async def test_calls_before_connect_are_a_programming_error():
    client = BrokerClient("fake", FakePlugin().hooks(), BrokerSettings(), make_info())
    with pytest.raises(RuntimeError, match="not connected"):
        await client.account()
