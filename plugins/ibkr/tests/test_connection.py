"""The plugin against the fake TWS over loopback: contracts per market, forex orders, rejections, market
data permissions, connectivity notices, client id clashes and the paper/live account guard."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from orch.errors import (BrokerUnavailable, ConfigError, InsufficientFunds, OrderRejected, PermissionDenied,
                         UnknownInstrument)
from orch.models import (Instrument, Market, OrderClass, OrderRef, OrderRequest, OrderStatus, OrderType, Side,
                         StopLoss, TakeProfit, TimeInForce)
from orch.testing.harness import open_harness

from orch_ibkr.sim import TwsState, wire

AAPL = Instrument("AAPL", Market.US_STOCKS)
EURUSD = Instrument("EURUSD", Market.FOREX)


def state(h) -> TwsState:
    return TwsState.of(h.sim.running.engine)


async def test_contracts_per_market_are_resolved_once_and_cached(autojump_clock):
    async with open_harness("ibkr") as h:
        stock = await h.conn.resolve(AAPL)
        assert (stock.contract.con_id, stock.contract.sec_type, stock.contract.exchange) == (265598, "STK", "SMART")
        fx = await h.conn.resolve(Instrument("EUR/USD", Market.FOREX))
        assert (fx.contract.symbol, fx.contract.currency, fx.contract.exchange) == ("EUR", "USD", "IDEALPRO")
        future = await h.conn.resolve(Instrument("ES 202612", Market.FUTURES))
        assert future.contract.sec_type == "FUT" and future.contract.last_trade_date == "202612"
        option = await h.conn.resolve(Instrument("AAPL 20261218 C 200", Market.OPTIONS))
        assert option.contract.sec_type == "OPT" and option.contract.right == "C"
        assert option.contract.strike == 200
        asked = state(h).counters["req_contract_data"]
        await h.conn.resolve(AAPL)
        await h.client.quote(AAPL)
        assert state(h).counters["req_contract_data"] == asked, "contract details not cached"
        with pytest.raises(UnknownInstrument):
            await h.conn.resolve(Instrument("NOSUCHSYMBOL", Market.US_STOCKS))
        with pytest.raises(UnknownInstrument):
            await h.conn.resolve(Instrument("ES", Market.FUTURES))


async def test_forex_market_order_fills(autojump_clock):
    async with open_harness("ibkr") as h:
        placed = await h.client.place_order(OrderRequest(EURUSD, Side.BUY, qty=Decimal(20000),
                                                         client_order_id="orch-fx-1"))
        with trio.fail_after(10):
            while (order := await h.client.get_order(OrderRef(client_order_id="orch-fx-1"))).status \
                    is not OrderStatus.FILLED:
                await trio.sleep(1)
        assert order.broker_order_id == placed.broker_order_id and order.filled_qty == 20000
        positions = {p.instrument.symbol: p for p in await h.client.positions()}
        assert positions["EURUSD"].qty == 20000 and positions["EURUSD"].instrument.market is Market.FOREX


async def test_order_types_and_tifs_reach_tws(autojump_clock):
    async with open_harness("ibkr") as h:
        engine = h.sim.running.engine
        bid = (await h.client.quote(AAPL)).bid
        cases = [
            (OrderType.STOP, dict(stop_price=(bid * 2).quantize(Decimal("0.01"))), TimeInForce.GTC),
            (OrderType.STOP_LIMIT, dict(stop_price=(bid * 2).quantize(Decimal("0.01")),
                                        limit_price=(bid * 2).quantize(Decimal("0.01"))), TimeInForce.DAY),
            (OrderType.TRAILING_STOP, dict(trail_percent=Decimal(5)), TimeInForce.GTC),
        ]
        for i, (kind, prices, tif) in enumerate(cases):
            coid = f"orch-types-{i}"
            placed = await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(1), type=kind,
                                                             time_in_force=tif, client_order_id=coid, **prices))
            assert placed.status is OrderStatus.ACCEPTED, placed
            sim = engine.find_order(client_order_id=coid)
            assert sim.type is kind and sim.time_in_force is tif
        ioc = await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(1), type=OrderType.LIMIT,
                                                      limit_price=(bid / 2).quantize(Decimal("0.01")),
                                                      time_in_force=TimeInForce.IOC, client_order_id="orch-ioc"))
        assert engine.find_order(client_order_id="orch-ioc").status is OrderStatus.EXPIRED
        assert (await h.client.get_order(OrderRef(broker_order_id=ioc.broker_order_id))).status \
            is OrderStatus.CANCELED


async def test_bracket_legs_and_transmit_flags(autojump_clock):
    async with open_harness("ibkr") as h:
        bid = (await h.client.quote(AAPL)).bid
        entry = (bid / 2).quantize(Decimal("0.01"))
        placed = await h.client.place_order(OrderRequest(
            AAPL, Side.BUY, qty=Decimal(3), type=OrderType.LIMIT, limit_price=entry, client_order_id="orch-br",
            order_class=OrderClass.BRACKET, take_profit=TakeProfit(entry * 3),
            stop_loss=StopLoss((entry / 2).quantize(Decimal("0.01")))))
        assert placed.order_class is OrderClass.BRACKET and len(placed.legs) == 2
        records = [h.conn.orders[int(o.broker_order_id)] for o in (placed, *placed.legs)]
        assert [r.ib.transmit for r in records] == [False, False, True]
        assert [r.ib.parent_id for r in records] == [0, records[0].order_id, records[0].order_id]
        assert [r.ib.order_type for r in records] == ["LMT", "LMT", "STP"]
        sim = h.sim.running.engine.find_order(client_order_id="orch-br")
        assert sim.order_class is OrderClass.BRACKET and len(sim.leg_ids) == 2
        await h.client.cancel_order(OrderRef(broker_order_id=placed.broker_order_id))
        after = await h.client.get_order(OrderRef(client_order_id="orch-br-sl"))
        assert after.status is OrderStatus.CANCELED


async def test_rejection_keeps_ib_reason_and_unknown_order_is_absent(autojump_clock):
    async with open_harness("ibkr") as h:
        with pytest.raises(InsufficientFunds) as caught:
            await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(900_000),
                                                    client_order_id="orch-too-big"))
        assert caught.value.broker_code == 201 and "buying power" in caught.value.reason.lower()
        found = await h.client.get_order(OrderRef(client_order_id="orch-too-big"))
        assert found is not None and found.status is OrderStatus.REJECTED
        assert await h.client.get_order(OrderRef(client_order_id="orch-never-sent")) is None
        with pytest.raises(OrderRejected):
            await h.client.cancel_order(OrderRef(broker_order_id=found.broker_order_id))


async def test_delayed_data_is_flagged_and_no_data_is_a_clear_error(autojump_clock, caplog):
    async with open_harness("ibkr") as h:
        state(h).live_data_permitted = False
        quote = await h.client.quote(AAPL)
        assert quote.delayed and quote.bid is not None
        assert "only delayed market data" in caplog.text
        state(h).delayed_data_permitted = False
        with pytest.raises(PermissionDenied, match="market_data_type") as caught:
            await h.client.quote(AAPL)
        assert caught.value.broker_code == 354


async def test_connectivity_notices(autojump_clock):
    async with open_harness("ibkr") as h:
        session = next(iter(state(h).sessions))
        await session.send(wire.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost."))
        with trio.fail_after(5):
            while h.conn.ib_link_ok:
                await trio.sleep(0.1)
        before = state(h).counters.get("req_open_orders", 0)
        await session.send(wire.error(-1, 1101, "Connectivity between IB and TWS has been restored- data lost."))
        with trio.fail_after(5):
            while state(h).counters.get("req_open_orders", 0) == before:
                await trio.sleep(0.1)
        assert h.conn.ib_link_ok


async def test_client_id_in_use_is_refused(autojump_clock):
    async with open_harness("ibkr") as h:
        with pytest.raises(BrokerUnavailable, match="client id") as caught:
            await h.connect()
        assert caught.value.broker_code == 326


async def test_paper_config_refuses_a_live_login(autojump_clock):
    async with open_harness("ibkr", connect=False) as h:
        h.sim.running.engine.open_account("U7654321")
        with pytest.raises(ConfigError, match="live account"):
            await h.connect()


async def test_stream_orders_yields_each_change(autojump_clock):
    async with open_harness("ibkr") as h:
        seen = []

        async def watch():
            async for order in h.client.stream_orders():
                seen.append((order.client_order_id, order.status))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(0)
            await h.client.place_order(OrderRequest(AAPL, Side.BUY, qty=Decimal(2), client_order_id="orch-stream"))
            with trio.fail_after(5):
                while ("orch-stream", OrderStatus.FILLED) not in seen:
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        assert seen[0] == ("orch-stream", OrderStatus.ACCEPTED)
