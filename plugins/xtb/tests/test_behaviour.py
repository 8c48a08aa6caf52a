"""The plugin and its simulator together, beyond the conformance kit: closing trades, sl/tp, pending
orders (modify, fill), refusals, the 200 ms rule, re-login after a lost socket. Trio's mock clock, real
loopback sockets (orch.testing's harness)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio_websocket
from trio.testing import MockClock

from orch.errors import InsufficientFunds, InvalidOrder
from orch.models import (Instrument, Market, OrderClass, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType,
                         Side, StopLoss, TakeProfit, TimeInForce)
from orch.testing.harness import open_harness

from orch_xtb.protocol import to_json
from orch_xtb.sim import SIM_PASSWORD, SIM_USER, XtbSim

EURUSD = Instrument("EURUSD", Market.FOREX)


@pytest.fixture
def clock() -> MockClock:
    return MockClock(autojump_threshold=0)


def market(side: Side, qty: str, coid: str, **extra) -> OrderRequest:
    return OrderRequest(EURUSD, side, qty=Decimal(qty), type=OrderType.MARKET, time_in_force=TimeInForce.GTC,
                        client_order_id=coid, **extra)


async def test_a_sell_against_a_long_closes_the_trade(clock):
    async with open_harness("xtb") as h:
        ledger = XtbSim.of(h.sim.running.engine)
        bought = await h.client.place_order(market(Side.BUY, "3000", "open-1"))
        assert bought.status is OrderStatus.FILLED
        sold = await h.client.place_order(market(Side.SELL, "1000", "close-1"))
        assert (sold.status, sold.side, sold.qty, sold.raw_status) == (OrderStatus.FILLED, Side.SELL, 1000, "close")
        [trade] = ledger.trades.values()
        assert (trade.order, trade.volume) == (int(bought.broker_order_id), Decimal("0.02"))
        positions = await h.client.positions()
        assert [(p.instrument.symbol, p.qty) for p in positions] == [("EURUSD", 2000)]
        found = await h.client.get_order(OrderRef(client_order_id="close-1"))
        assert found is not None and found.broker_order_id == sold.broker_order_id
        with pytest.raises(InvalidOrder, match="one trade per request"):
            await h.client.place_order(market(Side.SELL, "5000", "close-2"))
        await h.client.place_order(market(Side.SELL, "2000", "close-3"))
        assert await h.client.positions() == [] and ledger.trades == {}
        assert (await h.client.get_order(OrderRef(client_order_id="open-1"))).raw_status == "closed"


async def test_bracket_sets_sl_tp_and_the_stop_loss_closes_the_trade(clock):
    async with open_harness("xtb") as h:
        engine = h.sim.running.engine
        ledger = XtbSim.of(engine)
        ask = (await h.client.quote(EURUSD)).ask
        sl, tp = (ask - Decimal("0.01")).quantize(Decimal("0.00001")), (ask + Decimal("0.01")).quantize(
            Decimal("0.00001"))
        await h.client.place_order(market(Side.BUY, "1000", "bracket-1", order_class=OrderClass.BRACKET,
                                          take_profit=TakeProfit(tp), stop_loss=StopLoss(sl)))
        [trade] = ledger.trades.values()
        assert (trade.sl, trade.tp) == (sl, tp)
        engine.market.set_price("EURUSD", sl - Decimal("0.001"))
        assert await h.client.positions() == []
        closed = ledger.closed[trade.order]
        assert closed.comment == "[S/L]" and closed.close_price < sl
        with pytest.raises(InvalidOrder):
            await h.client.place_order(market(Side.BUY, "1000", "bracket-2", order_class=OrderClass.BRACKET,
                                              take_profit=TakeProfit(tp), stop_loss=StopLoss(sl, limit_price=sl)))


async def test_pending_limit_is_modified_then_fills(clock):
    async with open_harness("xtb") as h:
        engine = h.sim.running.engine
        bid = (await h.client.quote(EURUSD)).bid
        low = (bid - Decimal("0.02")).quantize(Decimal("0.00001"))
        placed = await h.client.place_order(OrderRequest(EURUSD, Side.BUY, qty=Decimal(1000), type=OrderType.LIMIT,
                                                         limit_price=low, time_in_force=TimeInForce.GTC,
                                                         client_order_id="limit-1"))
        assert placed.status is OrderStatus.ACCEPTED and placed.limit_price == low
        lower = low - Decimal("0.001")
        moved = await h.client.replace_order(OrderRef(broker_order_id=placed.broker_order_id), limit_price=lower)
        assert moved.limit_price == lower and moved.broker_order_id == placed.broker_order_id
        assert [o.broker_order_id for o in await h.client.list_orders(OrderFilter())] == [placed.broker_order_id]
        engine.market.set_price("EURUSD", lower - Decimal("0.001"))
        await trio.sleep(2)  # the engine steps and fills the limit
        filled = await h.client.get_order(OrderRef(client_order_id="limit-1"))
        assert filled.status is OrderStatus.FILLED and filled.avg_fill_price <= lower
        assert await h.client.list_orders(OrderFilter()) == []


async def test_not_enough_money_is_an_explicit_refusal(clock):
    async with open_harness("xtb") as h:
        with pytest.raises(InsufficientFunds, match="Not enough money"):
            await h.client.place_order(market(Side.BUY, "10000000", "too-big"))
        assert await h.client.get_order(OrderRef(client_order_id="too-big")) is None


async def test_a_lost_command_socket_is_replaced_with_a_new_login(clock):
    async with open_harness("xtb") as h:
        socket = h.conn.socket
        before = socket.logins
        h.sim.drop_streams(after_messages=0)  # the next answer closes the connection instead
        with pytest.raises(Exception):  # noqa: B017 - BrokerUnavailable after the client's retries
            await h.hook("orch_account")(h.conn)
        h.sim.drop_streams(None)
        account = await h.client.account()
        assert account.currency == "USD" and socket.logins > before


async def test_the_simulator_drops_a_client_that_ignores_the_200ms_rule():
    # Real trio time: the rule is about real spacing (the simulator only counts it under a mock clock).
    async with open_harness("xtb", connect=False) as h:
        url = h.sim.running.ws_url + "/demo"
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(to_json({"command": "login", "arguments": {"userId": SIM_USER,
                                                                              "password": SIM_PASSWORD}}))
            assert '"status":true' in await ws.get_message()
            answers = 0
            with pytest.raises(trio_websocket.ConnectionClosed):
                for _ in range(10):
                    await ws.send_message(to_json({"command": "ping"}))
                    await ws.get_message()
                    answers += 1
        assert answers == 5  # the sixth violation in a row closes the connection


async def test_xtbs_own_host_fails_with_the_shutdown_notice():
    from contextlib import asynccontextmanager

    from orch.context import ConnectContext
    from orch.errors import BrokerUnavailable
    from orch.models import RateLimitDefaults
    from orch.resilience import RateLimiter
    from orch.settings import RateLimitSettings

    from orch_xtb.connection import XtbConnection
    from orch_xtb.settings import XtbSettings

    tried: list[str] = []

    @asynccontextmanager
    async def unreachable(url: str):
        tried.append(url)
        raise OSError("connection refused")
        yield  # pragma: no cover

    settings = XtbSettings(enabled=True, api_key="58203917", secret_key="pw-canary-4321")
    async with trio.open_nursery() as nursery:
        limiter = RateLimiter.from_settings(RateLimitSettings(), RateLimitDefaults(300, burst=1))
        connection = XtbConnection(settings, ConnectContext("xtb", nursery, limiter), connect=unreachable)
        with pytest.raises(BrokerUnavailable) as caught:
            await connection.open()
    assert tried == ["wss://ws.xtb.com/demo"]
    text = str(caught.value)
    assert "2025-03-14" in text and "brokers.xtb.server" in text and "pw-canary-4321" not in text


async def test_symbol_cache_is_bounded_and_falls_back_to_get_symbol(clock):
    from orch.errors import UnknownInstrument

    async with open_harness("xtb", connect=False) as h:
        client = await h.connect(h.settings_from({**h.section, "max_instruments": 3}))
        conn = h.connections[client]
        assert len(conn.symbols) == 3 and conn.symbols.truncated
        before = h.sim.request_count()
        quote = await client.quote(Instrument("US500", Market.CFD))
        assert quote.bid < quote.ask
        assert [r.path for r in h.sim.requests_since(before)] == ["getSymbol", "getTickPrices"]
        assert len(conn.symbols) == 3  # the bound holds: US500 was looked up, not cached
        with pytest.raises(UnknownInstrument):
            await client.quote(Instrument("NOSUCHCFD", Market.CFD))
