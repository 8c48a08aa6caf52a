"""orch's Alpaca plugin, through its hooks, against the Alpaca simulator over loopback: the simulator's own
``config_for`` section goes through orch's config validation, ``orch_connect`` opens a connection, and
orders, streams and quotes travel over real sockets."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.config import config_from_data
from orch.context import ConnectContext
from orch.models import (Instrument, Market, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType, Side,
                         TimeInForce)
from orch.plugins import load_plugin
from orch.resilience import RateLimiter
from orch.sim.clock import ALL_OPEN, SimClock
from orch.sim.runner import start_simulator

from orch_alpaca.sim import AlpacaSim

AAPL = Instrument("AAPL", Market.US_STOCKS)
WAIT = 15


@pytest.fixture
def plugin():
    return load_plugin("alpaca")


@pytest.fixture
async def running(nursery, plugin):
    spec = plugin.hooks["orch_simulator"]()
    return await start_simulator(nursery, spec, clock=SimClock(wall=ALL_OPEN))


@pytest.fixture
async def conn(nursery, plugin, running):
    config = config_from_data({"brokers": {"alpaca": running.config}}, source="<test>", env={})
    settings = config.brokers["alpaca"]
    assert settings.paper is True and settings.base_url == running.url
    limiter = RateLimiter.from_settings(settings.rate_limits, plugin.info.rate_limits, name="alpaca")
    connection = await plugin.hooks["orch_connect"](settings, ConnectContext("alpaca", nursery, limiter))
    yield connection
    await connection.aclose()


async def wait_for_listener(sim: AlpacaSim) -> None:
    with trio.fail_after(WAIT):
        while sim.trade_listeners < 1:
            await trio.sleep(0.01)


async def test_market_order_fills(nursery, plugin, running, conn):
    sim = AlpacaSim.of(running.engine)
    hooks = plugin.hooks
    updates = hooks["orch_stream_orders"](conn)
    seen: list = []
    done = trio.Event()

    async def follow() -> None:
        async for order in updates:
            seen.append(order)
            if order.status is OrderStatus.FILLED:
                done.set()
                return

    nursery.start_soon(follow)
    await wait_for_listener(sim)
    request = OrderRequest(instrument=AAPL, side=Side.BUY, qty=Decimal(5), type=OrderType.MARKET,
                           time_in_force=TimeInForce.DAY, client_order_id="orch-mkt-1")
    placed = await hooks["orch_place_order"](conn, request)
    assert placed.status is OrderStatus.NEW and placed.client_order_id == "orch-mkt-1"
    ask = running.engine.quote("AAPL").ask
    running.engine.step()
    with trio.fail_after(WAIT):
        await done.wait()
    await updates.aclose()
    final = seen[-1]
    assert final.broker_order_id == placed.broker_order_id
    assert (final.filled_qty, final.avg_fill_price) == (Decimal(5), ask)

    fetched = await hooks["orch_get_order"](conn, OrderRef(client_order_id="orch-mkt-1"))
    assert fetched.status is OrderStatus.FILLED
    positions = await hooks["orch_positions"](conn)
    assert [(p.instrument.symbol, p.qty, p.avg_price) for p in positions] == [("AAPL", Decimal(5), ask)]
    account = await hooks["orch_account"](conn)
    assert account.paper and account.cash == Decimal(100_000) - 5 * ask
    fills = await hooks["orch_list_fills"](conn, None, AAPL)
    assert [(f.broker_order_id, f.qty, f.price) for f in fills] == [(placed.broker_order_id, Decimal(5), ask)]
    assert sim.counters.orders_created == 1
    assert sim.counters.endpoints["POST /v2/orders"] == 1


async def test_limit_order_rests_and_cancels(plugin, running, conn):
    sim = AlpacaSim.of(running.engine)
    hooks = plugin.hooks
    request = OrderRequest(instrument=Instrument("MSFT", Market.US_STOCKS), side=Side.BUY, qty=Decimal(2),
                           type=OrderType.LIMIT, limit_price=Decimal("100.25"), time_in_force=TimeInForce.GTC,
                           client_order_id="orch-lmt-1")
    placed = await hooks["orch_place_order"](conn, request)
    assert placed.status is OrderStatus.NEW and placed.limit_price == Decimal("100.25")
    running.engine.advance(5)  # prices move; the bid is far above the limit, so nothing fills
    resting = await hooks["orch_get_order"](conn, OrderRef(broker_order_id=placed.broker_order_id))
    assert resting.status is OrderStatus.NEW and resting.filled_qty == 0
    open_orders = await hooks["orch_list_orders"](conn, OrderFilter())
    assert [o.broker_order_id for o in open_orders] == [placed.broker_order_id]

    assert await hooks["orch_cancel_order"](conn, OrderRef(client_order_id="orch-lmt-1")) is None
    canceled = await hooks["orch_get_order"](conn, OrderRef(broker_order_id=placed.broker_order_id))
    assert canceled.status is OrderStatus.CANCELED
    assert await hooks["orch_list_orders"](conn, OrderFilter()) == []
    assert sim.counters.endpoints["DELETE /v2/orders/{order_id}"] == 1


async def test_quote_and_quote_stream(nursery, plugin, running, conn):
    hooks = plugin.hooks
    quote = await hooks["orch_quote"](conn, AAPL)
    engine_quote = running.engine.quote("AAPL")
    assert quote.bid is not None and quote.ask is not None and quote.bid < quote.ask
    assert abs(quote.ask - engine_quote.ask) < 5
    btc = await hooks["orch_quote"](conn, Instrument("BTC/USD", Market.CRYPTO, currency="USD"))
    assert btc.bid < btc.ask

    stream = hooks["orch_stream_quotes"](conn, [AAPL])
    with trio.fail_after(WAIT):
        async for streamed in stream:
            if streamed.bid is not None:
                break
    await stream.aclose()
    assert streamed.instrument == AAPL and streamed.bid < streamed.ask
