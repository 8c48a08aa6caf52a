"""Engine records in Binance's wire shapes (order RESULT, fills, myTrades, account, exchangeInfo)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from orch.models import OrderStatus, OrderType, Side
from orch.sim.orders import SimFill, SimOrder

_STATUS = {OrderStatus.NEW: "NEW", OrderStatus.ACCEPTED: "NEW", OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
           OrderStatus.FILLED: "FILLED", OrderStatus.CANCELED: "CANCELED", OrderStatus.PENDING_CANCEL: "CANCELED",
           OrderStatus.REJECTED: "REJECTED", OrderStatus.EXPIRED: "EXPIRED"}
_TYPES = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "STOP_LOSS",
          OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT"}


def ms(when: datetime | None) -> int:
    return int(when.timestamp() * 1000) if when is not None else -1


def dec(value: Decimal | None, places: int = 8) -> str:
    """Binance's fixed-width decimals: ``"0.01000000"``."""
    return format((value or Decimal(0)).quantize(Decimal(1).scaleb(-places)), "f")


def wire_type(order: SimOrder) -> str:
    return order.extra.get("wire_type") or _TYPES.get(order.type, "LIMIT")


def order_result(order: SimOrder, *, list_id: int = -1, query: bool = False) -> dict[str, Any]:
    """The RESULT shape (plus the query fields with ``query``)."""
    kind = wire_type(order)
    price = order.extra.get("wire_price", order.limit_price)
    stop = order.extra.get("wire_stop", order.stop_price)
    data: dict[str, Any] = {
        "symbol": order.canonical, "orderId": int(order.id), "orderListId": order.extra.get("list_id", list_id),
        "clientOrderId": order.client_order_id or "", "transactTime": ms(order.created_at),
        "price": dec(price), "origQty": dec(order.qty),
        "executedQty": dec(order.filled_qty), "origQuoteOrderQty": dec(order.notional),
        "cummulativeQuoteQty": dec(order.filled_value), "status": _STATUS[order.status],
        "timeInForce": order.extra.get("wire_tif", order.time_in_force.value.upper()), "type": kind,
        "side": "BUY" if order.side is Side.BUY else "SELL",
        "workingTime": ms(order.created_at) if order.status is not OrderStatus.REJECTED else -1,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if stop is not None:
        data["stopPrice"] = dec(stop)
    if order.extra.get("iceberg"):
        data["icebergQty"] = dec(order.extra["iceberg"])
    if query:
        del data["transactTime"]
        data.update({"stopPrice": dec(stop), "icebergQty": dec(order.extra.get("iceberg")),
                     "time": ms(order.created_at), "updateTime": ms(order.updated_at or order.created_at),
                     "isWorking": order.is_open and not order.held, "origQuoteOrderQty": dec(order.notional)})
    return data


def full_fills(order: SimOrder) -> list[dict[str, Any]]:
    return [{"price": dec(f.price), "qty": dec(f.qty), "commission": dec(f.fee),
             "commissionAsset": f.fee_currency or "", "tradeId": f.seq} for f in order.fills]


def my_trade(fill: SimFill, symbol: str, *, list_id: int = -1) -> dict[str, Any]:
    return {"symbol": symbol, "id": fill.seq, "orderId": int(fill.order_id), "orderListId": list_id,
            "price": dec(fill.price), "qty": dec(fill.qty), "quoteQty": dec(fill.qty * fill.price),
            "commission": dec(fill.fee), "commissionAsset": fill.fee_currency or "", "time": ms(fill.timestamp),
            "isBuyer": fill.side is Side.BUY, "isMaker": fill.liquidity == "maker", "isBestMatch": True}
