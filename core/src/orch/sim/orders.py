"""The records the matching engine keeps: orders, fills, events, and the ways it says no.

These are what a simulator reads to write its wire format. :class:`SimOrder` is mutable inside the engine
but every copy handed out (return values, events, listings) is a snapshot: later changes to the order do
not show through it, and changing a snapshot does not change the engine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from attrs import define, field, frozen

from orch.models import (Fill, Instrument, Order, OrderClass, OrderStatus, OrderType, Side, TimeInForce)

__all__ = ["EventKind", "OrderEvent", "OrderPreview", "RejectCode", "SimError", "SimFill", "SimOrder"]


class RejectCode(str, enum.Enum):
    """Why the engine refused an order. Simulators map these onto their broker's own codes."""

    INVALID_ORDER = "invalid_order"                    # malformed: missing price, bad combination, float
    UNKNOWN_SYMBOL = "unknown_symbol"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    INSUFFICIENT_QTY = "insufficient_qty"              # selling more than held, shorting not allowed
    MARKET_CLOSED = "market_closed"                    # only with EngineConfig.reject_when_closed
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    DUPLICATE_ORDER_ID = "duplicate_order_id"          # a caller-chosen order id already used (IBKR)
    TICK_SIZE = "tick_size"                            # a price is not a multiple of the tick size
    LOT_SIZE = "lot_size"                              # quantity not a multiple of the step (fractions)
    TIF_NOT_ALLOWED = "tif_not_allowed"                # e.g. OPG once the session has opened
    EXTENDED_HOURS_NOT_ALLOWED = "extended_hours_not_allowed"


class SimError(Exception):
    """A request the engine cannot act on (not an order rejection): ``code`` is one of
    ``order_not_found``, ``account_not_found``, ``not_cancelable``, ``not_modifiable``, ``invalid``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EventKind(str, enum.Enum):
    NEW = "new"                      # accepted: working, waiting for its session, or held (a leg)
    ACTIVATED = "activated"          # a held leg became working (its parent filled)
    TRIGGERED = "triggered"          # a stop / trailing stop reached its trigger price
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"                    # the last fill: the order is filled
    CANCELED = "canceled"
    EXPIRED = "expired"              # DAY at the close, IOC/FOK remainder, OPG/CLS not executed
    REJECTED = "rejected"
    REPLACED = "replaced"            # this order was replaced by ``order.replaced_by``
    MODIFIED = "modified"            # changed in place (modify_order, or an OCO sibling resized)


@frozen
class SimFill:
    """One execution. ``seq`` counts fills engine-wide from 1 (handy for integer trade ids)."""

    id: str
    seq: int
    order_id: str
    account_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    timestamp: datetime
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    liquidity: str = "taker"           # "maker" when a resting order was hit
    client_order_id: str | None = None

    def to_model(self, broker: str, instrument: Instrument) -> Fill:
        return Fill(broker=broker, broker_order_id=self.order_id, fill_id=self.id, instrument=instrument,
                    side=self.side, qty=self.qty, price=self.price, timestamp=self.timestamp,
                    client_order_id=self.client_order_id, fee=self.fee, fee_currency=self.fee_currency)


@define(eq=False)
class SimOrder:
    """An order at the engine.

    ``symbol`` is what the client sent; ``canonical`` the market's spelling. ``seq`` counts orders
    engine-wide from ``EngineConfig.first_order_seq`` (integer order ids for Binance/Trading 212).
    Legs: a bracket/OTO entry has ``leg_ids``; each leg has ``parent_id`` and ``role``
    (``take_profit``/``stop_loss``) and stays ``held`` until the parent fills. Members of one OCO group
    list each other in ``sibling_ids``. ``triggered`` tells whether a stop has fired; ``hwm`` and
    ``trail_stop`` track a trailing stop. ``extra`` belongs to the simulator (wire-only fields).
    """

    id: str
    seq: int
    account_id: str
    symbol: str
    canonical: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    created_at: datetime
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)     # sum of qty × price over fills (price currency)
    avg_fill_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    fee_currency: str | None = None
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    expires_at: datetime | None = None     # DAY: the session close it dies at
    execute_at: datetime | None = None     # OPG: the open; CLS: the close
    reject_code: RejectCode | None = None
    reject_reason: str | None = None
    parent_id: str | None = None
    leg_ids: tuple[str, ...] = ()
    sibling_ids: tuple[str, ...] = ()
    role: str | None = None
    held: bool = False
    triggered: bool = False
    hwm: Decimal | None = None
    trail_stop: Decimal | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    fills: tuple[SimFill, ...] = ()
    extra: dict[str, Any] = field(factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def remaining_qty(self) -> Decimal | None:
        """Quantity still to fill; None for a notional order (see :attr:`remaining_notional`)."""
        return None if self.qty is None else self.qty - self.filled_qty

    @property
    def remaining_notional(self) -> Decimal | None:
        return None if self.notional is None else self.notional - self.filled_value

    @property
    def working(self) -> bool:
        """Open and able to execute (not a held leg)."""
        return self.is_open and not self.held

    def snapshot(self) -> SimOrder:
        return attrs.evolve(self, extra=dict(self.extra))

    def to_model(self, broker: str, instrument: Instrument | None = None, *, raw_status: str | None = None,
                 legs: tuple[Order, ...] = ()) -> Order:
        """This order as an orch :class:`~orch.models.Order` (for conformance tests and the demo)."""
        from orch.models import Market

        return Order(
            broker=broker, broker_order_id=self.id,
            instrument=instrument or Instrument(symbol=self.symbol, market=Market.US_STOCKS),
            side=self.side, type=self.type, status=self.status, raw_status=raw_status or self.status.value,
            client_order_id=self.client_order_id, qty=self.qty, notional=self.notional,
            filled_qty=self.filled_qty, avg_fill_price=self.avg_fill_price, limit_price=self.limit_price,
            stop_price=self.stop_price, time_in_force=self.time_in_force, order_class=self.order_class,
            created_at=self.created_at, updated_at=self.updated_at, reject_reason=self.reject_reason,
            legs=legs)


@frozen
class OrderEvent:
    """Something that happened to an order. ``seq`` counts events engine-wide from 1; ``order`` is a
    snapshot taken when it happened; ``fill`` is set for fill events."""

    seq: int
    kind: EventKind
    account_id: str
    timestamp: datetime
    order: SimOrder
    fill: SimFill | None = None
    detail: Mapping[str, Any] = field(factory=dict)


@frozen
class OrderPreview:
    """What :meth:`Engine.preview_order` found: whether the order would be accepted now and, if so, its
    estimated price (the touch or the limit, marked up for spread-only fee models), quantity, value and
    fee, the ``value`` in the ``currency`` it would settle in, and the buying power before it."""

    accepted: bool
    reject_code: RejectCode | None = None
    reject_reason: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    value: Decimal | None = None
    currency: str | None = None
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    buying_power: Decimal | None = None
