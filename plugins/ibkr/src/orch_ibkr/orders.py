"""What this client knows of each IB order: the local order book :class:`OrderRecord` entries are kept
in, fed by openOrder, orderStatus, execDetails and commissionReport, and turned into orch orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import trio
from attrs import define, field

from orch.errors import OrchError
from orch.models import Instrument, Order, OrderClass, OrderStatus, OrderType, Side, TimeInForce

from orch_ibkr import symbols
from orch_ibkr.protocol import Contract, Execution, IbOrder

OPEN_WORDS = {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"}
FINAL_WORDS = {"Filled", "Cancelled", "ApiCancelled", "Inactive"}
_TYPES_BACK = {v: k for k, v in symbols.ORDER_TYPES.items()}


@define(eq=False)
class OrderRecord:
    """What this client knows of one IB order."""

    order_id: int
    contract: Contract
    ib: IbOrder
    instrument: Instrument | None = None
    status: str = "PendingSubmit"
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    perm_id: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: OrchError | None = None
    reject_reason: str | None = None
    acked: trio.Event = field(factory=trio.Event)
    executions: dict[str, Execution] = field(factory=dict)
    fees: Decimal = Decimal(0)
    legs: list[int] = field(factory=list)
    order_class: OrderClass = OrderClass.SIMPLE
    source: str = ""
    epoch: int = 0  # the connection (count of reconnects) it was sent on

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_WORDS

    def orch_status(self) -> OrderStatus:
        if self.status == "Filled":
            return OrderStatus.FILLED
        if self.status in ("Cancelled", "ApiCancelled"):
            return OrderStatus.CANCELED
        if self.status == "Inactive":
            return OrderStatus.REJECTED
        if self.status == "PendingCancel":
            return OrderStatus.PENDING_CANCEL
        if self.status in ("PendingSubmit", "ApiPending"):
            return OrderStatus.NEW
        return OrderStatus.PARTIALLY_FILLED if self.filled > 0 else OrderStatus.ACCEPTED

    def to_order(self, broker: str, legs: tuple[Order, ...] = ()) -> Order:
        kind = _TYPES_BACK.get(self.ib.order_type, OrderType.MARKET)
        stop = self.ib.aux_price if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        tif = {"DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC}.get(self.ib.tif)
        return Order(broker=broker, broker_order_id=str(self.order_id),
                     instrument=self.instrument or symbols.to_instrument(self.contract, broker=broker),
                     side=Side.BUY if self.ib.action == "BUY" else Side.SELL, type=kind,
                     status=self.orch_status(), raw_status=self.status + self.source,
                     client_order_id=self.ib.order_ref or None, qty=self.ib.total_quantity or None,
                     filled_qty=self.filled, avg_fill_price=self.avg_fill_price,
                     limit_price=self.ib.lmt_price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                     stop_price=stop, time_in_force=tif, order_class=self.order_class,
                     created_at=self.created_at, updated_at=self.updated_at,
                     reject_reason=self.reject_reason, legs=legs)
