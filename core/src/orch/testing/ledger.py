"""Compare what the brokers (simulators) hold with what the journal says: the soak's and the crash
test's one verdict.

:func:`compare` takes the simulators' orders as :class:`BrokerOrder` records (the truth) and the journal's
rows, and counts three things that must all be zero:

* **duplicates**: two broker orders with one client order id, or more broker orders than ``place()``
  calls (the only test for brokers without client order ids);
* **lost**: an order at the broker that the journal does not know, or whose row says no order exists
  (rejected, not found, no broker order id);
* **mis-stated**: a row whose state, filled quantity, broker order id, side or quantity differs from the
  broker's, a row claiming an order the broker does not have, two rows claiming one broker order, or a
  row still pending/in flight after the final reconcile.

Pure: no I/O, so a unit test can plant each kind of error and see it counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from orch.journal.model import JournalEntry, JournalState
from orch.models import OrderStatus, Side

__all__ = ["BrokerOrder", "Finding", "LedgerReport", "compare"]

KINDS = ("duplicates", "lost", "mis_stated")
_NO_ORDER = (JournalState.REJECTED, JournalState.NOT_FOUND_AT_BROKER)
_UNRESOLVED = (JournalState.PENDING_SUBMIT, JournalState.IN_FLIGHT)


@frozen
class BrokerOrder:
    """One order as the simulator holds it. ``qty`` in the instrument's units (orch's, not lots)."""

    broker: str
    broker_order_id: str
    client_order_id: str | None
    status: OrderStatus
    filled_qty: Decimal
    side: Side | None = None
    qty: Decimal | None = None


@frozen
class Finding:
    kind: str  # one of KINDS
    broker: str
    detail: str
    client_order_id: str | None = None
    broker_order_id: str | None = None

    def __str__(self) -> str:
        ids = " ".join(f"{k}={v}" for k, v in (("coid", self.client_order_id), ("id", self.broker_order_id)) if v)
        return f"{self.kind:<10} {self.broker:<10} {ids}: {self.detail}"


@frozen
class LedgerReport:
    brokers: tuple[str, ...]
    findings: tuple[Finding, ...] = field(converter=tuple)
    broker_orders: Mapping[str, int] = field(factory=dict)
    journal_rows: Mapping[str, int] = field(factory=dict)
    place_calls: Mapping[str, int] = field(factory=dict)

    def count(self, kind: str, broker: str | None = None) -> int:
        return sum(1 for f in self.findings if f.kind == kind and (broker is None or f.broker == broker))

    @property
    def duplicates(self) -> int:
        return self.count("duplicates")

    @property
    def lost(self) -> int:
        return self.count("lost")

    @property
    def mis_stated(self) -> int:
        return self.count("mis_stated")

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "duplicates": self.duplicates, "lost": self.lost, "mis_stated": self.mis_stated,
            "brokers": {b: {"place_calls": self.place_calls.get(b, 0), "broker_orders": self.broker_orders.get(b, 0),
                            "journal_rows": self.journal_rows.get(b, 0),
                            **{k: self.count(k, b) for k in KINDS}} for b in self.brokers},
            "findings": [str(f) for f in self.findings[:50]],
        }


def compare(truth: Iterable[BrokerOrder], journal: Iterable[JournalEntry],
            place_calls: Mapping[str, int] | None = None) -> LedgerReport:
    """The verdict on ``truth`` (every order every simulator holds) against ``journal`` (every row)."""
    orders = list(truth)
    rows = list(journal)
    calls = dict(place_calls or {})
    brokers = tuple(sorted({o.broker for o in orders} | {r.broker for r in rows} | set(calls)))
    findings: list[Finding] = []
    for broker in brokers:
        findings += _compare_broker(broker, [o for o in orders if o.broker == broker],
                                    [r for r in rows if r.broker == broker], calls.get(broker))
    return LedgerReport(brokers, findings,
                        broker_orders=Counter(o.broker for o in orders), journal_rows=Counter(r.broker for r in rows),
                        place_calls=calls)


def _compare_broker(broker: str, orders: list[BrokerOrder], rows: list[JournalEntry],
                    calls: int | None) -> list[Finding]:
    found: list[Finding] = []
    by_coid: dict[str, list[BrokerOrder]] = defaultdict(list)
    for order in orders:
        if order.client_order_id:
            by_coid[order.client_order_id].append(order)
    for coid, same in by_coid.items():
        for extra in same[1:]:
            found.append(Finding("duplicates", broker, f"{len(same)} broker orders carry this client order id",
                                 coid, extra.broker_order_id))
    if calls is not None and len(orders) > calls:
        found.append(Finding("duplicates", broker, f"{len(orders)} broker orders for {calls} place() calls"))

    row_by_coid = {r.client_order_id: r for r in rows}
    claims: dict[str, list[JournalEntry]] = defaultdict(list)
    for row in rows:
        if row.broker_order_id is not None:
            claims[row.broker_order_id].append(row)
    matched: set[str] = set()
    for order in orders:
        row = row_by_coid.get(order.client_order_id) if order.client_order_id else None
        if row is None:
            claimed = claims.get(order.broker_order_id, [])
            row = claimed[0] if claimed else None
        if row is None:
            found.append(Finding("lost", broker, f"at the broker ({order.status.value}), unknown to the journal",
                                 order.client_order_id, order.broker_order_id))
            continue
        matched.add(row.client_order_id)
        if order.status is OrderStatus.REJECTED and row.state is JournalState.REJECTED:
            continue
        if row.state in _NO_ORDER or row.broker_order_id is None:
            found.append(Finding("lost", broker, f"the broker holds it ({order.status.value}) but the journal says "
                                 f"{row.state.value} with broker id {row.broker_order_id}",
                                 row.client_order_id, order.broker_order_id))
            continue
        wrong = _differences(order, row)
        if wrong:
            found.append(Finding("mis_stated", broker, "; ".join(wrong), row.client_order_id, order.broker_order_id))

    for broker_order_id, claimed in claims.items():
        for extra in claimed[1:]:
            found.append(Finding("mis_stated", broker, f"{len(claimed)} journal rows claim one broker order",
                                 extra.client_order_id, broker_order_id))
    for row in rows:
        if row.client_order_id in matched or row.state in _NO_ORDER:
            continue
        if row.state in _UNRESOLVED:
            found.append(Finding("mis_stated", broker, f"still {row.state.value} after the final reconcile",
                                 row.client_order_id, row.broker_order_id))
        else:
            found.append(Finding("mis_stated", broker, f"journal says {row.state.value} but the broker has no such "
                                 "order", row.client_order_id, row.broker_order_id))
    return found


def _working(status: OrderStatus | None) -> OrderStatus | None:
    # "new" and "accepted" both mean working with nothing filled; brokers (and the engine) pick either.
    return OrderStatus.NEW if status is OrderStatus.ACCEPTED else status


def _differences(order: BrokerOrder, row: JournalEntry) -> list[str]:
    wrong = []
    if row.broker_order_id != order.broker_order_id:
        wrong.append(f"broker order id {row.broker_order_id} != {order.broker_order_id}")
    if _working(row.state.broker_status) != _working(order.status):
        wrong.append(f"state {row.state.value} != {order.status.value}")
    if Decimal(row.filled_qty) != order.filled_qty:
        wrong.append(f"filled {row.filled_qty} != {order.filled_qty}")
    if order.side is not None and row.request.side is not order.side:
        wrong.append(f"side {row.request.side.value} != {order.side.value}")
    if order.qty is not None and row.request.qty is not None and row.request.qty != order.qty:
        wrong.append(f"qty {row.request.qty} != {order.qty}")
    return wrong
