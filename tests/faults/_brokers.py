"""Every official and unofficial plugin as the fault suites see it: which simulator, what to trade, where its
order request goes (to aim a fault at it), how to count the orders the simulator holds, and which streams
it offers.

:func:`open_rig` starts a broker's own simulator on loopback in the caller's trio run (time is trio's clock,
so a ``MockClock`` drives latency, Retry-After and timeouts for free) and opens an
:class:`~orch.orchestrator.Orchestrator` on it exactly as the CLI does, with a journal in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
from attrs import field, frozen

from orch.config import config_from_data
from orch.models import Instrument, Market, OrderRequest, OrderType, Side, TimeInForce
from orch.orchestrator import Orchestrator
from orch.resilience.budget import MemoryBudgetStore
from orch.sim import SimClock, start_simulator
from orch.simulators import session_time, simulator_spec

__all__ = ["BROKERS", "Broker", "Rig", "STREAMING", "open_rig"]


@frozen
class Broker:
    """One plugin. ``order_paths``: the fault plan's ``paths`` that hit the order request and nothing
    before it (an HTTP path prefix, or the message name a socket simulator passes to the fault plan).
    ``streams``: what the plugin streams (``quotes``, ``orders``). ``tcp``: its simulator speaks a socket
    protocol (TWS), where an injected 5xx is a dropped connection. ``latency``: a per-request delay that
    keeps every operation within a 10 s timeout (socket protocols take several messages per operation,
    and the simulators delay each message). ``finds_lost_orders``: after a lost answer the plugin can find
    the order it sent (DEGIRO, which has no client order ids, finds it by matching what it sent)."""

    name: str
    instrument: Instrument
    qty: Decimal
    order_paths: tuple[str, ...]
    time_in_force: TimeInForce = TimeInForce.DAY
    streams: tuple[str, ...] = ()
    tcp: bool = False
    latency: float = 4.0
    finds_lost_orders: bool = True
    config: dict[str, Any] = field(factory=dict)

    def request(self, **changes: Any) -> OrderRequest:
        return OrderRequest(**{"instrument": self.instrument, "side": Side.BUY, "qty": self.qty,
                               "type": OrderType.MARKET, "time_in_force": self.time_in_force, **changes})

    def __str__(self) -> str:
        return self.name


_US = Instrument("AAPL", Market.US_STOCKS, "USD")

BROKERS: dict[str, Broker] = {b.name: b for b in (
    Broker("alpaca", _US, Decimal(1), ("/v2/orders",), streams=("quotes", "orders")),
    Broker("binance", Instrument("BTC/USDT", Market.CRYPTO, "USDT"), Decimal("0.01"), ("/api/v3/order",),
           time_in_force=TimeInForce.GTC, streams=("quotes", "orders")),
    Broker("ibkr", _US, Decimal(1), ("place_order",), streams=("orders",), tcp=True,
           latency=0.5),
    Broker("trading212", _US, Decimal(1), ("/api/v0/equity/orders/market",)),
    Broker("xtb", Instrument("EUR/USD", Market.FOREX, "USD"), Decimal(1000), ("tradeTransaction",),
           streams=("quotes",), latency=0.5),
    Broker("degiro", _US, Decimal(1), ("/trading/secure/v5/order/",)),
    Broker("trade_republic", Instrument("SAP", Market.EU_STOCKS, "EUR"), Decimal(1),
           ("/ws/simpleCreateOrder",), streams=("quotes",), latency=0.5),
)}

STREAMING = [(b, kind) for b in BROKERS.values() for kind in b.streams]


class Rig:
    """A broker's simulator and an orchestrator connected to it."""

    def __init__(self, broker: Broker, running: Any, orch: Orchestrator) -> None:
        self.broker = broker
        self.running = running
        self.orch = orch

    @property
    def name(self) -> str:
        return self.broker.name

    @property
    def faults(self) -> Any:
        return self.running.faults

    @property
    def engine(self) -> Any:
        return self.running.engine

    def sim_orders(self) -> list[Any]:
        """Every order the simulated broker holds (top-level orders; bracket legs are not separate sends)."""
        return self.engine.orders(None, status="all", include_legs=False)

    def on_orders(self) -> Callable[[], bool]:
        """A predicate for :meth:`orch.sim.engine.Engine` counts: at least one more order than now."""
        before = len(self.sim_orders())
        return lambda: len(self.sim_orders()) > before

    async def place(self, **changes: Any) -> Any:
        """``orch.place()`` as a user calls it: its PlaceResult, or the exception it raised."""
        try:
            return await self.orch.place(self.broker.request(**changes), broker=self.name)
        except Exception as exc:  # the test asserts what it is
            return exc

    async def client(self) -> Any:
        return await self.orch.client(self.name)


@contextlib.asynccontextmanager
async def open_rig(broker: Broker, tmp_path: Path, *, timeout: float = 10.0,
                   **config: Any) -> AsyncIterator[Rig]:
    """``broker``'s simulator (pinned inside stock and forex hours) and a connected orchestrator whose
    calls time out after ``timeout`` seconds of trio time."""
    spec = simulator_spec(broker.name)
    async with trio.open_nursery() as nursery:
        running = await start_simulator(nursery, spec, clock=SimClock(wall=session_time()))
        section = {"enabled": True, **running.config, "timeout_seconds": str(timeout), **broker.config, **config}
        settings = config_from_data({"brokers": {broker.name: section}}, source="<faults>", env={})
        # The budget on trio's clock: the shared SQLite budget runs on the wall clock, which a MockClock
        # does not move.
        async with Orchestrator.open(settings, journal_file=tmp_path / "journal.sqlite",
                                     budget_store=MemoryBudgetStore()) as orch:
            await orch.client(broker.name)
            yield Rig(broker, running, orch)
        nursery.cancel_scope.cancel()
