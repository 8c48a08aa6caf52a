"""How the connection reads TWS: every incoming message routed to the pending request it answers, or to
the local order book (openOrder, orderStatus, execDetails, commissionReport), or logged (notices).

A mixin of :class:`orch_ibkr.connection.IbkrConnection`; it uses the connection's request tables and
order book and never does I/O itself (a 1101 notice schedules a re-sync in the connection's nursery).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
import trio

from orch.errors import OrderRejected, ProtocolError, RateLimited

from orch_ibkr import protocol
from orch_ibkr.orders import FINAL_WORDS, OPEN_WORDS, OrderRecord
from orch_ibkr.protocol import ErrorMsg, IbOrder, In


class MessageHandlers:
    """Routing of received messages (see the module docstring)."""


    def _handle(self, fields: list[str]) -> None:
        if not fields or not fields[0]:
            raise ProtocolError(f"TWS message without an id: {fields[:1]}", broker=self.broker)
        msg_id = protocol.int_at(fields, 0, "message id")
        handler = _HANDLERS.get(msg_id)
        if handler is not None:
            handler(self, fields)
            return
        req_id = protocol.req_id_of(fields)
        pending = self._pending.get(req_id) if req_id is not None else None
        if pending is None:
            return
        if msg_id in (In.TICK_PRICE, In.TICK_SIZE, In.TICK_STRING, In.TICK_GENERIC):
            pending.items.append(protocol.parse_tick(fields))
        elif msg_id == In.MARKET_DATA_TYPE:
            kind = protocol.field_at(fields, 3, "marketDataType")
            pending.data_type = int(kind) if kind in ("1", "2", "3", "4") else 1
        elif msg_id == In.CONTRACT_DATA:
            pending.items.append(protocol.parse_contract_data(fields)[1])
        elif msg_id == In.ACCOUNT_SUMMARY:
            pending.items.append(protocol.parse_account_summary(fields))
        elif msg_id in (In.TICK_SNAPSHOT_END, In.CONTRACT_DATA_END, In.ACCOUNT_SUMMARY_END,
                        In.EXECUTION_DATA_END):
            pending.finish()

    def _on_error(self, fields: list[str]) -> None:
        err = protocol.parse_error(fields)
        code = err.code
        if code == protocol.CONNECTIVITY_LOST:
            self.ib_link_ok = False
            self.logger.warning("%s: TWS lost its connection to IB (1100): %s", self.broker, err.message)
            return
        if code in (protocol.RESTORED_DATA_LOST, protocol.RESTORED_DATA_KEPT):
            self.ib_link_ok = True
            self.logger.warning("%s: TWS connectivity restored (%d)", self.broker, code)
            if code == protocol.RESTORED_DATA_LOST:
                self._nursery.start_soon(self._resync)
            return
        pending = self._pending.get(err.req_id)
        if code == 10167 and pending is not None:
            pending.data_type = 3  # delayed data follows instead of live
            return
        if protocol.is_warning(code):
            self.logger.debug("%s: TWS notice %d: %s", self.broker, code, err.message)
            return
        if pending is not None:
            pending.finish(protocol.error_for(err, broker=self.broker, what=pending.what))
            return
        record = self.orders.get(err.req_id)
        if record is not None:
            self._order_error(record, err)
            return
        if code == 100 and err.req_id == -1:
            limited = protocol.error_for(err, broker=self.broker)
            for kind in list(self._unkeyed.values()):
                kind.finish(limited)
            return
        self.logger.info("%s: TWS error %d (id %d): %s", self.broker, code, err.req_id, err.message)

    def _order_error(self, record: OrderRecord, err: ErrorMsg) -> None:
        if err.code == 202:
            self._set_status(record, "Cancelled")
            record.acked.set()
            return
        error = protocol.error_for(err, broker=self.broker, what=f"order {record.order_id}")
        if err.code in (10147, 161):
            record.error = error  # about a cancel; the order itself is unchanged
            record.acked.set()
            return
        if isinstance(error, RateLimited):
            record.error = error
            record.acked.set()
            return
        if not record.acked.is_set() or isinstance(error, OrderRejected) or err.code == 200:
            # Refused: IB explicitly said no (201 with its reason, 200 unknown contract, ...).
            record.error = error
            record.reject_reason = err.message
            self._set_status(record, "Inactive")
            record.acked.set()
            return
        self.logger.info("%s: TWS message for order %d: %d %s", self.broker, record.order_id, err.code,
                         err.message)

    def _on_next_valid_id(self, fields: list[str]) -> None:
        self._next_id = max(self._next_id, protocol.int_at(fields, 2, "orderId"))

    def _on_managed_accounts(self, fields: list[str]) -> None:
        self.accounts = [a for a in protocol.field_at(fields, 2, "accountsList").split(",") if a]

    def _on_open_order(self, fields: list[str]) -> None:
        msg = protocol.parse_open_order(fields, self.server_version)
        record = self.orders.get(msg.order_id)
        if record is None:
            if msg.client_id != self.endpoint.client_id:
                return
            record = OrderRecord(order_id=msg.order_id, contract=msg.contract, ib=msg.order)
            self.orders[msg.order_id] = record
        else:
            record.ib = attrs.evolve(msg.order, transmit=record.ib.transmit,
                                     order_ref=msg.order.order_ref or record.ib.order_ref)
            if not record.contract.con_id:
                record.contract = msg.contract
        record.perm_id = msg.perm_id
        self._next_id = max(self._next_id, msg.order_id + 1)
        open_list = self._unkeyed.get("open_orders")
        if open_list is not None:
            open_list.items.append(msg.order_id)
        if msg.status:
            self._set_status(record, msg.status)
        record.acked.set()

    def _on_order_status(self, fields: list[str]) -> None:
        msg = protocol.parse_order_status(fields)
        record = self.orders.get(msg.order_id)
        if record is None:
            return
        record.perm_id = msg.perm_id or record.perm_id
        changed = msg.filled != record.filled
        record.filled = max(record.filled, msg.filled)
        if msg.avg_fill_price is not None:
            record.avg_fill_price = msg.avg_fill_price
        self._set_status(record, msg.status, force_notify=changed)
        record.acked.set()

    def _on_open_order_end(self, fields: list[str]) -> None:
        pending = self._unkeyed.get("open_orders")
        if pending is not None:
            pending.finish()

    def _on_execution(self, fields: list[str]) -> None:
        ex = protocol.parse_execution(fields)
        self.executions[ex.exec_id] = ex
        pending = self._pending.get(ex.req_id)
        if pending is not None:
            pending.items.append(ex)
        record = self.orders.get(ex.order_id)
        if record is None and ex.client_id == self.endpoint.client_id:
            side = "BUY" if ex.side == "BOT" else "SELL"
            record = OrderRecord(order_id=ex.order_id, contract=ex.contract, source=" (from executions)",
                                 ib=IbOrder(action=side, total_quantity=ex.cum_qty, order_type="MKT",
                                            order_ref=ex.order_ref), status="Submitted")
            self.orders[ex.order_id] = record
        if record is None:
            return
        if ex.exec_id not in record.executions:
            record.executions[ex.exec_id] = ex
            if ex.cum_qty > record.filled:
                record.filled = ex.cum_qty
                record.avg_fill_price = ex.avg_price
                if record.ib.total_quantity and record.filled >= record.ib.total_quantity:
                    self._set_status(record, "Filled", force_notify=True)
                else:
                    self._notify(record)

    def _on_commission(self, fields: list[str]) -> None:
        report = protocol.parse_commission(fields)
        if report.exec_id in self._commissions:
            return
        self._commissions[report.exec_id] = report
        ex = self.executions.get(report.exec_id)
        record = self.orders.get(ex.order_id) if ex else None
        if record is not None:
            record.fees += report.commission

    def _on_position(self, fields: list[str]) -> None:
        pending = self._unkeyed.get("positions")
        if pending is not None:
            pending.items.append(protocol.parse_position(fields))

    def _on_position_end(self, fields: list[str]) -> None:
        pending = self._unkeyed.get("positions")
        if pending is not None:
            pending.finish()

    def _on_current_time(self, fields: list[str]) -> None:
        pending = self._unkeyed.get("time")
        if pending is not None:
            pending.items.append(protocol.int_at(fields, 2, "time"))
            pending.finish()

    def _on_completed_orders_end(self, fields: list[str]) -> None:
        pending = self._unkeyed.get("completed")
        if pending is not None:
            pending.finish()

    def _set_status(self, record: OrderRecord, status: str, *, force_notify: bool = False) -> None:
        if record.status == status and not force_notify:
            return
        if record.status in FINAL_WORDS and status in OPEN_WORDS:
            return  # a stale open status never resurrects a finished order
        record.status = status
        record.updated_at = self._now()
        self._notify(record)

    def _notify(self, record: OrderRecord) -> None:
        if not self._subscribers:
            return
        order = record.to_order(self.broker)
        for send in list(self._subscribers):
            try:
                send.send_nowait(order)
            except trio.WouldBlock:
                self.logger.warning("%s: an order-update subscriber is not keeping up", self.broker)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subscribers.remove(send)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock(), timezone.utc)


_HANDLERS: dict[int, Callable[[Any, list[str]], None]] = {
    In.ERROR: MessageHandlers._on_error,
    In.NEXT_VALID_ID: MessageHandlers._on_next_valid_id,
    In.MANAGED_ACCTS: MessageHandlers._on_managed_accounts,
    In.OPEN_ORDER: MessageHandlers._on_open_order,
    In.ORDER_STATUS: MessageHandlers._on_order_status,
    In.OPEN_ORDER_END: MessageHandlers._on_open_order_end,
    In.EXECUTION_DATA: MessageHandlers._on_execution,
    In.COMMISSION_REPORT: MessageHandlers._on_commission,
    In.POSITION_DATA: MessageHandlers._on_position,
    In.POSITION_END: MessageHandlers._on_position_end,
    In.CURRENT_TIME: MessageHandlers._on_current_time,
    In.COMPLETED_ORDERS_END: MessageHandlers._on_completed_orders_end,
}
