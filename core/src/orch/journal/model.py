"""What the journal stores and returns: states, entries, events, the halt flag, and its errors."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs
from attrs import field, frozen

from orch.errors import OrchError
from orch.models import (Order, OrderRequest, OrderStatus, Quote, _aware, _optional_decimal,
                         to_decimal)

MODES = ("paper", "live")

# Where a piece of news about an order came from; stored on every event.
SOURCES = frozenset({"submit", "lookup", "stream", "reconcile", "cancel", "user"})


class JournalError(OrchError):
    """The journal cannot do what was asked (unreadable file, unknown order, contradictory data). When
    raised by :meth:`Journal.record_intent` the intent is *not* durable, so the order must not be sent."""


class DuplicateClientOrderId(JournalError):
    """The client order id is already in the journal: sending it again could duplicate an order."""


class JournalState(str, enum.Enum):
    """An order's state in the journal: orch's own states around the broker's normalized statuses."""

    PENDING_SUBMIT = "pending_submit"  # intent durable, request not known to have left
    IN_FLIGHT = "in_flight"  # the request left; its outcome is unknown
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    NOT_FOUND_AT_BROKER = "not_found_at_broker"  # proven absence: a resend with a new id is allowed

    @classmethod
    def of(cls, status: OrderStatus) -> JournalState:
        return cls(status.value)

    @property
    def broker_status(self) -> OrderStatus | None:
        try:
            return OrderStatus(self.value)
        except ValueError:
            return None

    @property
    def is_final(self) -> bool:
        """A final broker status: nothing the broker says later changes it."""
        status = self.broker_status
        return status is not None and status.is_final

    @property
    def is_open(self) -> bool:
        status = self.broker_status
        return status is not None and status.is_open

    @property
    def is_unresolved(self) -> bool:
        """Needs a look at the broker on start-up: the order may be live, or its fate is unknown."""
        return self in (JournalState.PENDING_SUBMIT, JournalState.IN_FLIGHT) or self.is_open


def _mode(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in MODES:
        raise ValueError(f"{attribute.name} must be 'paper' or 'live', got {value!r}")


@frozen(kw_only=True)
class JournalEntry:
    """One order as the journal knows it. ``request`` carries the client order id it was sent with;
    ``order`` is the latest broker view that was applied; ``filled_qty``/``avg_fill_price`` merge that
    view with the recorded fills (never decreasing). ``replaces``/``replaced_by`` link a resend to the
    order whose absence was proven."""

    id: int
    client_order_id: str
    broker: str
    mode: str = field(validator=_mode)
    state: JournalState
    request: OrderRequest
    created_at: datetime = field(validator=_aware)
    updated_at: datetime = field(validator=_aware)
    source: str
    broker_order_id: str | None = None
    raw_status: str | None = None
    filled_qty: Decimal = field(default=Decimal(0), converter=to_decimal)
    avg_fill_price: Decimal | None = field(default=None, converter=_optional_decimal)
    broker_updated_at: datetime | None = field(default=None, validator=_aware)
    reject_reason: str | None = None
    broker_code: str | None = None
    message: str | None = None
    quote_at_submit: Quote | None = None
    order: Order | None = None
    replaces: str | None = None
    replaced_by: str | None = None

    @property
    def symbol(self) -> str:
        return self.request.instrument.symbol

    @property
    def is_resendable(self) -> bool:
        """Absence proven and not yet resent: the one case where the same intent may go out again."""
        return self.state is JournalState.NOT_FOUND_AT_BROKER and self.replaced_by is None


@frozen(kw_only=True)
class JournalEvent:
    """One line of an order's audit trail. ``state`` is the journal state *after* the event;
    ``broker_status`` the broker's raw word if the news came from the broker; ``applied`` is False for
    news that changed nothing because it was stale (a late ``new`` after ``filled``) or contradicted a
    settled state. ``filled_qty`` is the quantity the broker reported, or for a fill the order's total."""

    seq: int
    client_order_id: str
    time: datetime = field(validator=_aware)
    state: JournalState
    source: str
    applied: bool = True
    broker_status: str | None = None
    message: str | None = None
    filled_qty: Decimal | None = field(default=None, converter=_optional_decimal)


@frozen
class HaltState:
    """The kill switch: while set, the orchestrator sends no new orders."""

    reason: str
    since: datetime = field(validator=_aware)
