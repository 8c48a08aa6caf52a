"""At most once across a crash: a process SIGKILLed between journaling an intent and sending it; the restart
reconciles the row as not found, and nothing was sent.

What goes wrong on the wire (lost answers, 5xx, 429/418, latency past the timeout) is proven for every
plugin by tests/faults/test_fault_matrix.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import trio

from orch.config import config_from_data
from orch.journal.model import JournalState
from orch.journal.store import Journal
from orch.orchestrator import Orchestrator
from orch.sim import SimClock, start_simulator
from orch.simulators import session_time
from orch_alpaca.sim import SPEC, AlpacaSim


def _config(running) -> object:
    return config_from_data({"brokers": {"alpaca": {"enabled": True, "timeout_seconds": 1, **running.config}}},
                            source="test")


async def _sim(nursery: trio.Nursery):
    # Pinned inside US stock hours so the market order is accepted and fills whatever the wall-clock time.
    return await start_simulator(nursery, SPEC, clock=SimClock(wall=session_time()))


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
