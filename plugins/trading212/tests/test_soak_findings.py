"""Two bugs the soak (tests/faults/test_soak.py, bench/soak.py) found, pinned down on their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.errors import BrokerError, BrokerUnavailable
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


async def test_a_lookup_deeper_than_one_calls_page_budget_goes_on_where_the_last_one_stopped(autojump_clock,
                                                                                            monkeypatch):
    # The 10,000-order soak: orders filled long ago sat deeper than one lookup's page budget, so every
    # reconcile of them read the same newest pages and failed; they stayed NEW in the journal for good.
    from orch_trading212 import connection
    monkeypatch.setattr(connection, "MAX_HISTORY_PAGES", 3)
    async with open_harness("trading212") as h:
        h.sim.running.engine.deposit(10**7, "EUR")
        h.conn.history_page = 2
        placed = []
        for i in range(20):
            placed.append(await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(1),
                                                                  client_order_id=f"d{i}")))
            await trio.sleep(1)  # one order a second: pages cut between them
        await trio.sleep(10)  # all filled: only the history knows them
        oldest = OrderRef(broker_order_id=placed[0].broker_order_id, instrument=AAPL)
        lookup = h.hook("orch_get_order")
        failures = 0
        while True:
            try:
                found = await lookup(h.conn, oldest)
                break
            except BrokerError as exc:
                assert not isinstance(exc, BrokerUnavailable)  # our page budget, not the broker being down
                failures += 1
                assert failures < 10, "the lookups never got deeper"
        assert found is not None and found.status is OrderStatus.FILLED
        assert failures >= 2  # 20 orders, 2 a page, 3 pages a call: the budget really was too small
        before = h.sim.request_count()
        for order in placed[1:]:  # every page is read now: the rest come from what was read
            again = await lookup(h.conn, OrderRef(broker_order_id=order.broker_order_id, instrument=AAPL))
            assert again is not None and again.broker_order_id == order.broker_order_id
        assert all(r.path.endswith("/equity/history/orders") is False for r in h.sim.requests_since(before))
