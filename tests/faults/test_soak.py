"""The soak in small: a few hundred orders through Orchestrator.place() across the five official brokers'
simulators while their fault plans change (latency, 5xx, 429/418, lost answers in reset and hang mode,
websocket drops), then a final reconcile. No order may be duplicated at a broker, lost to the journal or
mis-stated in it. ``bench/soak.py`` runs the same with 10,000 orders.

The ledger tests plant each kind of error, so the comparison the soak relies on is shown to catch it."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from orch.journal.model import JournalEntry, JournalState
from orch.models import Instrument, Market, OrderRequest, OrderStatus, OrderType, Side
from orch.testing.ledger import BrokerOrder, compare
from orch.testing.soak import OFFICIAL, SoakOptions, run_async

AAPL = Instrument("AAPL", Market.US_STOCKS, "USD")


async def test_a_faulty_soak_leaves_no_duplicate_lost_or_mis_stated_order(tmp_path: Path, autojump_clock):
    result = await run_async(SoakOptions(orders=250, seed=11, episode=(5, 20)), tmp_path)
    report = result.report
    assert (report.duplicates, report.lost, report.mis_stated) == (0, 0, 0), "\n".join(map(str, report.findings))
    assert sorted(report.brokers) == sorted(OFFICIAL)
    assert all(report.place_calls[b] == 50 for b in OFFICIAL)
    # The faults really happened, and some orders really took the uncertain path.
    injected = {k for counters in result.injected.values() for k, v in counters.items() if v}
    assert {"http_5xx", "dropped_responses"} <= injected
    assert any(c.get("found_after_uncertain") for c in result.outcomes.values())
    assert sum(report.broker_orders.values()) > 150


# ------------------------------------------------------------------------------------------- ledger


def _row(coid: str, state: JournalState, broker_order_id: str | None, filled: str = "0") -> JournalEntry:
    now = datetime(2026, 1, 5, 15, tzinfo=timezone.utc)
    request = OrderRequest(AAPL, Side.BUY, qty=Decimal(1), type=OrderType.MARKET, client_order_id=coid)
    return JournalEntry(id=abs(hash(coid)) % 10_000, client_order_id=coid, broker="alpaca", mode="paper", state=state,
                        request=request, created_at=now, updated_at=now, source="submit",
                        broker_order_id=broker_order_id, filled_qty=Decimal(filled))


def _order(coid: str | None, oid: str, status: OrderStatus = OrderStatus.FILLED, filled: str = "1") -> BrokerOrder:
    return BrokerOrder("alpaca", oid, coid, status, Decimal(filled), Side.BUY, Decimal(1))


def _clean() -> tuple[list[BrokerOrder], list[JournalEntry]]:
    return ([_order("a", "1"), _order("b", "2", OrderStatus.NEW, "0")],
            [_row("a", JournalState.FILLED, "1", "1"), _row("b", JournalState.ACCEPTED, "2"),
             _row("c", JournalState.NOT_FOUND_AT_BROKER, None), _row("d", JournalState.REJECTED, None)])


def test_the_ledger_passes_a_true_journal():
    orders, rows = _clean()
    report = compare(orders, rows, {"alpaca": 4})
    assert report.clean and (report.duplicates, report.lost, report.mis_stated) == (0, 0, 0)


@pytest.mark.parametrize("plant, kind", [
    (lambda o, r: o.append(_order("a", "9")), "duplicates"),                      # one coid placed twice
    (lambda o, r: o.append(_order(None, "9")), "lost"),                           # an order nobody journaled
    (lambda o, r: o.append(_order("c", "9")), "lost"),                            # "not found" but it exists
    (lambda o, r: r.__setitem__(0, _row("a", JournalState.IN_FLIGHT, None)), "lost"),
    (lambda o, r: r.__setitem__(0, _row("a", JournalState.NEW, "1")), "mis_stated"),     # state
    (lambda o, r: r.__setitem__(0, _row("a", JournalState.FILLED, "7", "1")), "mis_stated"),  # broker id
    (lambda o, r: r.__setitem__(0, _row("a", JournalState.PARTIALLY_FILLED, "1", "0.5")), "mis_stated"),
    (lambda o, r: r.append(_row("e", JournalState.PENDING_SUBMIT, None)), "mis_stated"),  # never reconciled
    (lambda o, r: r.append(_row("e", JournalState.FILLED, "2", "0")), "mis_stated"),     # two rows, one order
])
def test_the_ledger_catches_each_planted_error(plant, kind):
    orders, rows = _clean()
    plant(orders, rows)
    report = compare(orders, rows, {"alpaca": 5})
    assert report.count(kind) >= 1, report.findings
    assert not report.clean


def test_more_broker_orders_than_place_calls_is_a_duplicate_even_without_client_order_ids():
    orders = [_order(None, "1"), _order(None, "2")]
    rows = [_row("a", JournalState.FILLED, "1", "1")]
    report = compare(orders, rows, {"alpaca": 1})
    assert report.duplicates == 1 and report.lost == 1
