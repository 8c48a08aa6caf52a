"""The plugin against its simulator over loopback (trio's MockClock, so limit waits cost no wall time):
what the conformance kit cannot see for a broker without client order ids, quotes or replace."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.errors import BrokerUnavailable, InsufficientFunds, NotSupported
from orch.models import Instrument, Market, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType, Side
from orch.testing.harness import open_harness

from orch_trading212.connection import MATCH_NOTE
from orch_trading212.sim import Trading212Sim

SAP = Instrument("SAP.DE", Market.EU_STOCKS, currency="EUR")
VUSA = Instrument("VUSA.L", Market.EU_STOCKS, currency="GBX")
AAPL = Instrument("AAPL", Market.US_STOCKS)


def limit_buy(coid: str, price: str = "50", qty: str = "2", instrument: Instrument = SAP) -> OrderRequest:
    return OrderRequest(instrument, Side.BUY, qty=Decimal(qty), type=OrderType.LIMIT, limit_price=Decimal(price),
                        client_order_id=coid)


def sim_of(h):
    return Trading212Sim.of(h.sim.running.engine)


async def test_a_lost_answer_is_found_by_ticker_quantity_type_and_time(autojump_clock):
    async with open_harness("trading212") as h:
        h.sim.running.faults.set(drop_after_accept_burst=1)
        with pytest.raises(BrokerUnavailable):
            await h.client.place_order(limit_buy("orch-lost-1"))
        assert sim_of(h).counters.orders_created == 1
        # A twin placed by hand at another price must not be taken for ours.
        await h.client.place_order(limit_buy("orch-other", price="51"))
        found = await h.client.get_order(OrderRef(client_order_id="orch-lost-1", instrument=SAP))
        assert found is not None and found.client_order_id == "orch-lost-1"
        assert found.limit_price == Decimal(50) and found.qty == Decimal(2) and found.status is OrderStatus.NEW
        assert MATCH_NOTE in found.raw_status
        # Once matched, the id is known: cancel works by client order id alone, and the lookup then finds it
        # in the history (GET /orders/{id} knows pending orders only).
        await h.client.cancel_order(OrderRef(client_order_id="orch-lost-1"))
        await trio.sleep(1)
        again = await h.client.get_order(OrderRef(client_order_id="orch-lost-1"))
        assert again.status is OrderStatus.CANCELED and again.broker_order_id == found.broker_order_id


async def test_a_request_refused_before_it_was_handled_is_a_proven_absence(autojump_clock):
    async with open_harness("trading212") as h:
        h.sim.running.faults.set(error_burst=1, error_status=503, paths=["/api/v0/equity/orders/limit"])
        with pytest.raises(BrokerUnavailable):
            await h.client.place_order(limit_buy("orch-never"))
        assert sim_of(h).counters.orders_created == 0
        assert await h.client.get_order(OrderRef(client_order_id="orch-never", instrument=SAP)) is None


async def test_a_metadata_failure_before_sending_says_nothing_was_sent(autojump_clock):
    async with open_harness("trading212") as h:
        h.sim.running.faults.set(error_burst=1, error_status=503, paths=["/api/v0/equity/metadata"])
        with pytest.raises(BrokerUnavailable) as caught:
            await h.hook("orch_place_order")(h.conn, limit_buy("orch-meta"))
        assert caught.value.request_sent is False and sim_of(h).counters.orders_created == 0


async def test_an_order_this_process_did_not_send_cannot_be_told_absent(autojump_clock):
    async with open_harness("trading212") as h:
        with pytest.raises(BrokerUnavailable, match="no client order ids"):
            await h.hook("orch_get_order")(h.conn, OrderRef(client_order_id="orch-from-yesterday"))


async def test_each_endpoint_waits_for_its_own_window(autojump_clock):
    async with open_harness("trading212") as h:
        await h.client.account()
        start = trio.current_time()
        await h.client.account()
        await h.client.account()
        assert trio.current_time() - start >= 5.0  # 1 per 5 s
        positions_start = trio.current_time()
        for _ in range(3):
            await h.client.positions()
        assert trio.current_time() - positions_start < 5.0  # 1 per 1 s, not the summary's window
        assert sim_of(h).counters.statuses.get("429", 0) == 0


async def test_another_client_on_the_same_account_hits_429_and_waits_for_the_reset(autojump_clock):
    async with open_harness("trading212") as h:
        other = await h.connect()  # its own limiter: only the answers tell it about the first client
        await h.client.account()
        before, limited = trio.current_time(), sim_of(h).counters.statuses.get("429", 0)
        await other.account()
        assert sim_of(h).counters.statuses.get("429", 0) == limited + 1
        assert trio.current_time() - before >= 4.0  # waited for x-ratelimit-reset, then succeeded


async def test_sells_fills_history_pages_and_positions_in_account_currency(autojump_clock):
    async with open_harness("trading212") as h:
        buy = await h.client.place_order(OrderRequest(VUSA, Side.BUY, qty=Decimal(3), client_order_id="b1"))
        await trio.sleep(2)
        sell = await h.client.place_order(OrderRequest(VUSA, Side.SELL, qty=Decimal(1), client_order_id="s1"))
        await trio.sleep(2)
        assert sell.side is Side.SELL
        [position] = [p for p in await h.client.positions() if p.instrument.symbol == "VUSA.L"]
        assert position.qty == 2 and position.currency == "EUR" and position.instrument.currency == "GBX"
        # GBX: 2 shares at ~8500 pence are ~170 GBP, ~200 EUR, not 17 000.
        assert 100 < position.market_value < 400

        h.conn.history_page = 1  # follow nextPagePath
        fills = await h.client.list_fills(instrument=VUSA)
        assert [(f.side, f.qty) for f in fills] == [(Side.BUY, 3), (Side.SELL, 1)]
        assert {f.broker_order_id for f in fills} == {buy.broker_order_id, sell.broker_order_id}
        closed = await h.client.list_orders(OrderFilter(status="closed"))
        assert [o.broker_order_id for o in closed] == [sell.broker_order_id, buy.broker_order_id]

        with pytest.raises(InsufficientFunds, match="Selling more"):
            await h.client.place_order(OrderRequest(VUSA, Side.SELL, qty=Decimal(5), client_order_id="s2"))


async def test_quotes_say_why_and_market_hours_come_from_the_schedules(autojump_clock):
    async with open_harness("trading212") as h:
        with pytest.raises(NotSupported) as refused:
            await h.hook("orch_quote")(h.conn, SAP)
        assert refused.value.hint and "another broker" in refused.value.hint
        assert isinstance(await h.conn.market_open(AAPL), bool)


async def test_the_orchestrator_journals_a_lost_answer_as_found_by_matching(tmp_path, autojump_clock):
    from orch.config import config_from_data
    from orch.journal.model import JournalState
    from orch.orchestrator import Orchestrator
    from orch.sim import start_simulator

    from orch_trading212.sim import SPEC

    async with trio.open_nursery() as nursery:
        running = await start_simulator(nursery, SPEC)
        running.engine.market.force_sessions(True)
        config = config_from_data({"brokers": {"trading212": {**running.config, "enabled": True}}}, source="test")
        async with Orchestrator.open(config, journal_file=tmp_path / "journal.sqlite") as orch:
            await orch.client("trading212")
            running.faults.set(drop_after_accept_burst=1)
            result = await orch.place(limit_buy(None, price="40"), broker="trading212")
            assert result.outcome == "found_after_uncertain"
            assert Trading212Sim.of(running.engine).counters.orders_created == 1
            (entry,) = orch.journal.history()
            assert entry.state is JournalState.of(result.order.status) and entry.broker_order_id
            assert MATCH_NOTE in entry.raw_status
            events = orch.journal.events(entry.client_order_id)
            assert any(MATCH_NOTE in (e.broker_status or "") for e in events)
        nursery.cancel_scope.cancel()


async def test_a_key_without_secret_uses_the_legacy_header(autojump_clock):
    async with open_harness("trading212") as h:
        section = {k: v for k, v in h.section.items() if k != "secret_key"}
        client = await h.connect(h.settings_from(section))
        assert h.connections[client].credentials.scheme == "legacy"
        assert (await client.account()).account_id == "21200001"


async def test_a_matched_order_is_never_matched_again_by_a_later_process(tmp_path, autojump_clock):
    from orch.resilience.sqlite_budget import SqliteBudgetStore
    from orch.resilience.limiter import RateLimiter

    async with open_harness("trading212") as h:
        def client_with_state():
            store = SqliteBudgetStore(tmp_path / "rate-budget.sqlite3", clock=trio.current_time)
            limiter = RateLimiter.from_settings(h.settings.rate_limits, h.loaded.info.rate_limits, store=store,
                                                key="k")
            return h.connect(limiter=limiter)

        first = await client_with_state()
        h.sim.running.faults.set(drop_after_accept_burst=2)
        for coid in ("twin-a", "twin-b"):
            with pytest.raises(BrokerUnavailable):  # the hook itself: the client's breaker would open
                await h.hook("orch_place_order")(h.connections[first], limit_buy(coid))
            await trio.sleep(3)
        assert sim_of(h).counters.orders_created == 2
        a = await first.get_order(OrderRef(client_order_id="twin-a"))
        # A new process (a new connection, same state directory) matches twin-b to the other order.
        later = await client_with_state()
        b = await later.get_order(OrderRef(client_order_id="twin-b"))
        assert a is not None and b is not None and a.broker_order_id != b.broker_order_id
        assert (tmp_path / "trading212").is_dir()


async def test_a_server_without_the_summary_falls_back_to_legacy_cash_and_info(autojump_clock):
    async with open_harness("trading212") as h:
        h.sim.running.faults.set(error_burst=1, error_status=404, paths=["/api/v0/equity/account/summary"])
        account = await h.client.account()
        assert account.account_id == "21200001" and account.currency == "EUR" and account.cash == 50000
        assert sim_of(h).counters.by_endpoint.get("account_cash") == 1


async def test_quotes_for_a_symbol_routed_here_come_from_a_broker_that_has_them(tmp_path, autojump_clock):
    from orch.config import config_from_data
    from orch.orchestrator import Orchestrator
    from orch.sim import start_simulator

    from orch_alpaca.sim import SPEC as ALPACA
    from orch_trading212.sim import SPEC

    async with trio.open_nursery() as nursery:
        t212 = await start_simulator(nursery, SPEC)
        alpaca = await start_simulator(nursery, ALPACA)
        config = config_from_data({
            "brokers": {"trading212": {**t212.config, "enabled": True, "markets": ["US_STOCKS", "EU_STOCKS"]},
                        "alpaca": {**alpaca.config, "enabled": True}},
            "broker_routing": {"default_broker": "trading212"}}, source="test")
        async with Orchestrator.open(config, journal_file=tmp_path / "journal.sqlite") as orch:
            decision, _ = await orch.route("AAPL")
            assert decision.broker == "trading212" and "alpaca" in decision.candidates
            quote = await orch.quote("AAPL")
            assert quote.broker == "alpaca" and quote.bid is not None
            with pytest.raises(NotSupported, match="quotes"):
                await orch.quote("AAPL", broker="trading212")
        nursery.cancel_scope.cancel()
