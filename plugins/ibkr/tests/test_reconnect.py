"""A dropped TWS connection mid-session: the client reconnects with backoff, re-syncs, and no order
update is lost (an order that filled while it was away reads filled, and its update is delivered)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.errors import BrokerUnavailable
from orch.models import Instrument, Market, OrderRef, OrderRequest, OrderStatus, OrderType, Side
from orch.testing.harness import open_harness

from orch_ibkr.sim import TwsState

AAPL = Instrument("AAPL", Market.US_STOCKS)


async def _wait(predicate, limit: float = 120.0) -> None:
    with trio.fail_after(limit):
        while not predicate():
            await trio.sleep(0.1)


async def test_fill_during_a_drop_is_not_lost(autojump_clock):
    async with open_harness("ibkr") as h:
        conn = h.conn
        engine = h.sim.running.engine
        quote = await h.client.quote(AAPL)
        limit = (quote.bid * Decimal("0.9")).quantize(Decimal("0.01"))
        placed = await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(4), type=OrderType.LIMIT,
                                                         limit_price=limit, client_order_id="orch-drop-1"))
        assert placed.status is OrderStatus.ACCEPTED
        updates = []

        async def collect():
            async for order in conn.order_updates():
                updates.append(order)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await trio.sleep(0)
            connections = h.sim.connection_count()
            assert TwsState.of(engine).drop_connections() == 1
            # While the client is away, the market trades through the limit and the order fills.
            engine.market.set_price("AAPL", limit - Decimal("1"))
            filled = engine.step()
            assert any(e.order.client_order_id == "orch-drop-1" and e.kind.value == "fill" for e in filled)
            await _wait(lambda: conn.reconnects == 1)
            assert h.sim.connection_count() == connections + 1
            await _wait(lambda: any(u.status is OrderStatus.FILLED for u in updates))
            nursery.cancel_scope.cancel()

        last = [u for u in updates if u.broker_order_id == placed.broker_order_id][-1]
        assert last.status is OrderStatus.FILLED and last.filled_qty == 4
        found = await h.client.get_order(OrderRef(client_order_id="orch-drop-1"))
        assert found is not None and found.status is OrderStatus.FILLED
        assert found.filled_qty == 4 and found.avg_fill_price is not None
        assert found.broker_order_id == placed.broker_order_id
        positions = {p.instrument.symbol: p.qty for p in await h.client.positions()}
        assert positions.get("AAPL") == 4


async def test_requests_during_a_drop_fail_as_unavailable_then_recover(autojump_clock):
    async with open_harness("ibkr") as h:
        conn = h.conn
        state = TwsState.of(h.sim.running.engine)
        started = trio.current_time()
        h.sim.stall_new_connections()       # TWS down: reconnects hang until the network is back
        state.drop_connections()
        with pytest.raises(BrokerUnavailable):
            await h.hook("orch_account")(conn)
        await trio.sleep(60)
        attempts = [a for a in h.sim.attempts_since(1)]
        assert 2 <= len(attempts) <= 12, f"{len(attempts)} reconnect attempts in 60s: no backoff?"
        h.sim.resume_network()
        await _wait(lambda: conn.reconnects == 1)
        account = await h.client.account()
        assert account.account_id == "DU1234567"
        assert trio.current_time() - started >= 60


async def test_answer_lost_after_tws_accepted_the_order(autojump_clock):
    """TWS took the order, then the connection died before the acknowledgement: unknown outcome for
    the caller, and the lookup after the reconnect finds the order by its client order id."""
    async with open_harness("ibkr") as h:
        bid = (await h.client.quote(AAPL)).bid
        h.sim.running.faults.set(drop_after_accept_burst=1)
        request = OrderRequest(AAPL, Side.BUY, qty=Decimal(1), type=OrderType.LIMIT,
                               limit_price=(bid / 2).quantize(Decimal("0.01")), client_order_id="orch-lost-ack")
        with pytest.raises(BrokerUnavailable):
            await h.client.place_order(request)
        await _wait(lambda: h.conn.reconnects == 1)
        found = await h.client.get_order(OrderRef(client_order_id="orch-lost-ack"))
        assert found is not None and found.status is OrderStatus.ACCEPTED
        assert h.sim.running.engine.find_order(client_order_id="orch-lost-ack") is not None


async def test_order_lost_before_tws_read_it_is_proven_absent(autojump_clock):
    async with open_harness("ibkr") as h:
        await h.client.quote(AAPL)
        h.sim.running.faults.set(error_burst=1)  # TWS drops the connection on the next message
        request = OrderRequest(AAPL, Side.BUY, qty=Decimal(1), client_order_id="orch-never-arrived")
        with pytest.raises(BrokerUnavailable):
            await h.client.place_order(request)
        await _wait(lambda: h.conn.reconnects == 1)
        assert h.sim.running.engine.find_order(client_order_id="orch-never-arrived") is None
        assert await h.client.get_order(OrderRef(client_order_id="orch-never-arrived")) is None
