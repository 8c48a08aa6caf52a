"""Pure rules for how news about an order changes its journal state (no I/O, unit-testable).

News arrives out of order: a stream can deliver ``filled`` before the HTTP answer that said ``new``, and a
look-up started before a fill can answer after it. The rules keep the journal moving forward only:

* a final status (filled, canceled, rejected, expired) is never replaced by another status;
* otherwise a final status is always taken;
* otherwise, when both sides carry the broker's own update time, the newer one wins (so a cancel the
  broker refused, going ``pending_cancel`` → ``new``, is followed);
* otherwise the status is taken only if it is not behind in the lifecycle (:data:`RANK`);
* the filled quantity never decreases, whatever the status does.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from attrs import frozen

from orch.journal.model import JournalState
from orch.models import Order

S = JournalState
RANK = {
    S.PENDING_SUBMIT: 0,
    S.IN_FLIGHT: 1,
    # Broker evidence that the order exists outranks an earlier finding that it did not.
    S.NOT_FOUND_AT_BROKER: 1,
    # Alpaca's order: accepted (received, not yet routed) comes before new (routed to the venue).
    S.ACCEPTED: 2,
    S.NEW: 3,
    S.PARTIALLY_FILLED: 4,
    S.PENDING_CANCEL: 5,
    S.FILLED: 6,
    S.CANCELED: 6,
    S.REJECTED: 6,
    S.EXPIRED: 6,
}

# Which states each of orch's own transitions may start from.
MAY_GO_IN_FLIGHT = frozenset({S.PENDING_SUBMIT, S.IN_FLIGHT})
MAY_BE_NOT_FOUND = frozenset({S.PENDING_SUBMIT, S.IN_FLIGHT})


@frozen
class Snapshot:
    """The journal's current view of an order, as far as these rules need it."""

    state: JournalState
    filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    broker_updated_at: datetime | None = None


@frozen
class Outcome:
    """The view after applying a broker update. ``adopted`` says whether the update's status was taken;
    ``changed`` whether anything at all moved; ``note`` explains an ignored or surprising update."""

    view: Snapshot
    adopted: bool
    changed: bool
    note: str | None = None


def adopts(current: Snapshot, incoming: JournalState, incoming_at: datetime | None) -> bool:
    if current.state.is_final:
        return incoming is current.state
    if incoming.is_final:
        return True
    known_at = current.broker_updated_at
    if known_at is not None and incoming_at is not None and incoming_at != known_at:
        return incoming_at > known_at
    return RANK[incoming] >= RANK[current.state]


def merge_fills(current: Snapshot, filled_qty: Decimal, avg_price: Decimal | None
                ) -> tuple[Decimal, Decimal | None]:
    """The larger filled quantity wins, with the average price that goes with it."""
    if filled_qty > current.filled_qty or (filled_qty == current.filled_qty and current.avg_fill_price is None):
        return filled_qty, avg_price if avg_price is not None else current.avg_fill_price
    return current.filled_qty, current.avg_fill_price


def apply_order(current: Snapshot, order: Order) -> Outcome:
    incoming = JournalState.of(order.status)
    adopted = adopts(current, incoming, order.updated_at)
    filled_qty, avg_price = merge_fills(current, order.filled_qty, order.avg_fill_price)
    state = incoming if adopted else current.state
    newest = current.broker_updated_at
    if order.updated_at is not None and (newest is None or order.updated_at > newest):
        newest = order.updated_at
    view = Snapshot(state, filled_qty, avg_price, newest)
    note = None
    if not adopted:
        note = f"ignored stale status {order.raw_status!r} ({incoming.value}) after {current.state.value}"
    elif current.state is S.NOT_FOUND_AT_BROKER:
        note = "found at the broker after its absence was recorded"
    return Outcome(view, adopted, changed=view != current, note=note)
