"""Forex and CFD orders go to XTB when the config says so, through the real orchestrator (routing, journal,
client) against the XTB and Alpaca simulators on loopback."""

from __future__ import annotations

from decimal import Decimal

import trio

from orch.config import config_from_data
from orch.models import Instrument, Market, OrderRequest, OrderType, Side, TimeInForce
from orch.orchestrator import Orchestrator
from orch.sim import SimClock, start_simulator
from orch.sim.clock import ALL_OPEN

from orch_alpaca.sim import SPEC as ALPACA
from orch_xtb.sim import SPEC as XTB, XtbSim


async def test_forex_and_cfd_orders_are_routed_to_xtb(tmp_path):
    # Real trio time: the journal works on threads, which an autojump clock would race past.
    clock = SimClock(wall=ALL_OPEN)
    async with trio.open_nursery() as nursery:
        xtb = await start_simulator(nursery, XTB, clock=clock)
        alpaca = await start_simulator(nursery, ALPACA, clock=clock)
        for sim in (xtb, alpaca):
            sim.engine.market.force_sessions(True)
        data = {"brokers": {"xtb": {"enabled": True, **xtb.config}, "alpaca": {"enabled": True, **alpaca.config}},
                "broker_routing": {"default_broker": "alpaca", "forex_broker": "xtb"},
                "broker_selection": {"by_market": {"CFD": "xtb"}},
                "journal": {"path": str(tmp_path / "journal.sqlite")}, "logging": {"file": ""}}
        config = config_from_data(data, source="test", env={})
        async with Orchestrator.open(config, journal_file=tmp_path / "journal.sqlite") as orch:
            assert orch.router().route("EURUSD").broker == "xtb"
            assert orch.router().route("US500").broker == "xtb"
            assert orch.router().route("AAPL").broker == "alpaca"
            fx = await orch.place(OrderRequest(Instrument("EURUSD", Market.FOREX), Side.BUY, qty=Decimal(20000),
                                               type=OrderType.MARKET, time_in_force=TimeInForce.DAY))
            cfd = await orch.place(OrderRequest(Instrument("US500", Market.CFD), Side.SELL, qty=Decimal("0.5"),
                                                type=OrderType.MARKET, time_in_force=TimeInForce.GTC))
            assert fx.entry.broker == "xtb" and cfd.entry.broker == "xtb"
            positions = {p.instrument.symbol: p.qty for p in (await orch.positions(["xtb"]))["xtb"]}
        nursery.cancel_scope.cancel()
    ledger = XtbSim.of(xtb.engine)
    by_comment = {t.custom_comment: t for t in ledger.trades.values()}
    assert (by_comment[fx.entry.client_order_id].symbol, by_comment[fx.entry.client_order_id].volume) == (
        "EURUSD", Decimal("0.2"))
    assert (by_comment[cfd.entry.client_order_id].symbol, by_comment[cfd.entry.client_order_id].cmd) == ("US500", 1)
    assert positions == {"EURUSD": Decimal(20000), "US500": Decimal("-0.5")}
