"""At most once, end to end: Orchestrator.place() against the real Alpaca simulator with its fault injection,
and a process SIGKILLed between journaling an intent and sending it.

Whatever goes wrong on the wire, one place() call must leave at most one order at the broker, and the journal
row must end in the broker's true state (found by lookup), never "rejected" for an order that exists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from orch.config import config_from_data
from orch.errors import BrokerUnavailable
from orch.journal.model import JournalState
from orch.journal.store import Journal
from orch.models import Instrument, Market, OrderRequest, OrderType, Side
from orch.orchestrator import Orchestrator
from orch.sim import SimClock, start_simulator
from orch.simulators import session_time
from orch_alpaca.sim import SPEC, AlpacaSim

AAPL = Instrument("AAPL", Market.US_STOCKS, "USD")


def _request() -> OrderRequest:
    return OrderRequest(instrument=AAPL, side=Side.BUY, qty=Decimal("1"), type=OrderType.MARKET)


def _config(running) -> object:
    # A short request timeout keeps the "hang" variant (the answer never comes) quick.
    return config_from_data({"brokers": {"alpaca": {"enabled": True, "timeout_seconds": 1, **running.config}}},
                            source="test")


async def _sim(nursery: trio.Nursery):
    # Pinned inside US stock hours so the market order is accepted and fills whatever the wall-clock time.
    return await start_simulator(nursery, SPEC, clock=SimClock(wall=session_time()))


def _sim_orders(running) -> list:
    return running.engine.orders(None, status="all")


@pytest.mark.parametrize("drop_mode", ["reset", "hang"])
async def test_lost_response_after_accept_gives_one_order_and_its_true_state(tmp_path: Path, drop_mode: str):
    async with trio.open_nursery() as nursery:
        running = await _sim(nursery)
        counters = AlpacaSim.of(running.engine).counters
        async with Orchestrator.open(_config(running), journal_file=tmp_path / "journal.sqlite") as orch:
            await orch.client("alpaca")
            running.faults.set(drop_after_accept_burst=1, drop_mode=drop_mode)
            result = await orch.place(_request(), broker="alpaca")

            assert running.faults.counters["dropped_responses"] == 1
            assert counters.orders_created == 1
            assert len(_sim_orders(running)) == 1
            assert result.outcome == "found_after_uncertain"
            rows = orch.journal.history()
            assert len(rows) == 1
            entry = rows[0]
            assert entry.client_order_id == result.order.client_order_id
            assert entry.state not in (JournalState.REJECTED, JournalState.IN_FLIGHT,
                                       JournalState.NOT_FOUND_AT_BROKER, JournalState.PENDING_SUBMIT)
            assert entry.state is JournalState.of(result.order.status)
            assert entry.broker_order_id == result.order.broker_order_id
            assert [e.state for e in orch.journal.events(entry.client_order_id)].count(JournalState.IN_FLIGHT) == 1
        nursery.cancel_scope.cancel()


async def test_server_error_on_the_order_request_places_nothing_and_proves_it(tmp_path: Path):
    """The simulator's 5xx comes before the request is handled: nothing was created. orch must not trust
    that (a 5xx can follow a send), look the order up, find nothing, and say so, without resending."""
    async with trio.open_nursery() as nursery:
        running = await _sim(nursery)
        counters = AlpacaSim.of(running.engine).counters
        async with Orchestrator.open(_config(running), journal_file=tmp_path / "journal.sqlite") as orch:
            await orch.client("alpaca")
            running.faults.set(error_burst=1, error_status=503, paths=["/v2/orders"])
            outcome: object = None
            try:
                outcome = await orch.place(_request(), broker="alpaca")
            except BrokerUnavailable as exc:
                outcome = exc
            assert running.faults.counters["http_5xx"] == 1
            rows = orch.journal.history()
            assert len(rows) == 1
            entry = rows[0]
            # The 503 came before the simulator handled the request, and orch must not resend blindly:
            # no order at all, proven by the lookup, and the caller told it is safe to send again.
            assert counters.orders_created == 0 and _sim_orders(running) == []
            assert isinstance(outcome, BrokerUnavailable) and "safe to send it again" in (outcome.hint or "")
            assert entry.state is JournalState.NOT_FOUND_AT_BROKER
            assert JournalState.IN_FLIGHT in [e.state for e in orch.journal.events(entry.client_order_id)]
        nursery.cancel_scope.cancel()


_CRASHER = textwrap.dedent("""
    import os, signal, sys
    from decimal import Decimal
    from orch.journal.store import Journal
    from orch.models import Instrument, Market, OrderRequest, OrderType, Side
    journal = Journal.open(sys.argv[1])
    request = OrderRequest(instrument=Instrument("AAPL", Market.US_STOCKS, "USD"), side=Side.BUY,
                           qty=Decimal("1"), type=OrderType.MARKET)
    entry = journal.record_intent("alpaca", request, mode="paper")
    print(entry.client_order_id, flush=True)
    sys.stdin.read()   # "sending" never happens: the parent SIGKILLs us here
""")


async def test_intent_journaled_then_sigkill_is_reconciled_as_not_found(tmp_path: Path):
    journal_file = tmp_path / "journal.sqlite"
    crasher = subprocess.Popen([sys.executable, "-c", _CRASHER, str(journal_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        coid = (await trio.to_thread.run_sync(crasher.stdout.readline)).strip()
        assert coid
    finally:
        os.kill(crasher.pid, signal.SIGKILL)
        crasher.wait(10)
        crasher.stdin.close()
        crasher.stdout.close()
    assert crasher.returncode == -signal.SIGKILL

    with Journal.open(journal_file) as journal:
        assert journal.get(coid).state is JournalState.PENDING_SUBMIT

    async with trio.open_nursery() as nursery:
        running = await _sim(nursery)
        counters = AlpacaSim.of(running.engine).counters
        async with Orchestrator.open(_config(running), journal_file=journal_file) as orch:
            await orch.client("alpaca")   # connecting reconciles the broker's unresolved orders
            entry = orch.journal.get(coid)
            assert entry.state is JournalState.NOT_FOUND_AT_BROKER
            assert orch.journal.unresolved("alpaca") == []
        assert counters.orders_created == 0
        nursery.cancel_scope.cancel()
