"""Two bugs the soak (tests/faults/test_soak.py, bench/soak.py) found, pinned down on their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.errors import BrokerUnavailable
from orch.models import Instrument, Market, OrderRef, OrderRequest, OrderStatus, OrderType, Side
from orch.testing.harness import open_harness

AAPL = Instrument("AAPL", Market.US_STOCKS)


async def test_history_pages_do_not_skip_orders_created_in_the_same_millisecond(autojump_clock):
    # On a MockClock every order below is created at the same instant: the history's millisecond cursor
    # used to end page one inside that run, and page two (strictly older) skipped the rest of it.
    async with open_harness("trading212") as h:
        h.sim.running.engine.deposit(10**7, "EUR")
        placed = [await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(1), client_order_id=f"c{i}"))
                  for i in range(60)]
        await trio.sleep(10)  # all filled: now only the history knows them
        first = await h.client.get_order(OrderRef(broker_order_id=placed[0].broker_order_id, instrument=AAPL))
        assert first is not None and first.status is OrderStatus.FILLED


async def test_a_lost_answer_is_not_matched_while_an_identical_order_is_being_sent(autojump_clock):
    async with open_harness("trading212") as h:
        request = OrderRequest(AAPL, Side.BUY, qty=Decimal(2), type=OrderType.LIMIT, limit_price=Decimal(50),
                               client_order_id="lost-1")
        h.sim.running.faults.set(drop_after_accept_burst=1)
        with pytest.raises(BrokerUnavailable):
            await h.client.place_order(request)
        # A twin of ours is on its way (its answer not back yet): the order found could be either.
        h.conn._sending["twin-1"] = h.conn._intents["lost-1"]
        with pytest.raises(BrokerUnavailable, match="identical order"):
            await h.hook("orch_get_order")(h.conn, OrderRef(client_order_id="lost-1", instrument=AAPL))
        del h.conn._sending["twin-1"]
        found = await h.hook("orch_get_order")(h.conn, OrderRef(client_order_id="lost-1", instrument=AAPL))
        assert found is not None and found.qty == 2 and found.limit_price == 50
