"""Orchestrator.reconcile asks a failed lookup once more at the end of its pass when the broker answered
others in between (the 10,000-order soak: the first Trading 212 lookup failed on history the later ones
read, and its row stayed NEW until the next start)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from orch.config import config_from_data
from orch.errors import BrokerError, BrokerUnavailable
from orch.journal.model import JournalState
from orch.models import Instrument, Market, Order, OrderRequest, OrderStatus, OrderType, Side
from orch.orchestrator import Orchestrator

AAPL = Instrument("AAPL", Market.US_STOCKS)


class SettlingBroker:
    """Fails every lookup until it has answered one, as a broker whose lookups build on each other."""

    name = "fake"

    def __init__(self, failures: dict[str, Exception]) -> None:
        self.failures = failures
        self.asked: list[str] = []

    async def get_order(self, ref):
        self.asked.append(ref.client_order_id)
        error = self.failures.pop(ref.client_order_id, None)
        if error is not None:
            raise error
        return Order(broker="fake", broker_order_id=f"b-{ref.client_order_id}", instrument=AAPL, side=Side.BUY,
                     type=OrderType.MARKET, status=OrderStatus.FILLED, raw_status="filled",
                     client_order_id=ref.client_order_id, qty=Decimal(1), filled_qty=Decimal(1),
                     avg_fill_price=Decimal(100))


async def _reconciled(tmp_path: Path, failures: dict[str, Exception], coids: list[str]):
    config = config_from_data({"brokers": {}}, source="test")
    async with Orchestrator.open(config, journal_file=tmp_path / "journal.sqlite", reconcile=False) as orch:
        for coid in coids:
            request = OrderRequest(AAPL, Side.BUY, qty=Decimal(1), client_order_id=coid)
            orch.journal.record_intent("fake", request, mode="paper", quote_at_submit=None)
            orch.journal.mark_in_flight(coid, "timed out", source="submit")
        broker = SettlingBroker(failures)
        orch._clients["fake"] = broker
        await orch.reconcile()
        return broker.asked, {coid: orch.journal.get(coid).state for coid in coids}


async def test_a_lookup_that_failed_is_asked_again_once_the_broker_answered_others(tmp_path: Path):
    asked, states = await _reconciled(tmp_path, {"a": BrokerError("history deeper than read so far",
                                                                   broker="fake")}, ["a", "b", "c"])
    assert asked == ["a", "b", "c", "a"]
    assert set(states.values()) == {JournalState.FILLED}


async def test_a_broker_that_answers_nothing_is_not_asked_twice(tmp_path: Path):
    down = {c: BrokerUnavailable("down", broker="fake") for c in ("a", "b")}
    asked, states = await _reconciled(tmp_path, down, ["a", "b"])
    assert asked == ["a", "b"]
    assert set(states.values()) == {JournalState.IN_FLIGHT}
