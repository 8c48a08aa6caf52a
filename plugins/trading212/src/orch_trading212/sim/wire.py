"""Engine objects as Trading 212's JSON, and Trading 212's error bodies."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orch.models import OrderStatus, OrderType, Side, TimeInForce
from orch.sim.orders import RejectCode, SimOrder
from orch.sim.sessions import SESSIONS

from orch_trading212.sim.state import SCHEDULES, Listing, Trading212Sim

STATUS = {OrderStatus.NEW: "NEW", OrderStatus.ACCEPTED: "CONFIRMED", OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
          OrderStatus.FILLED: "FILLED", OrderStatus.PENDING_CANCEL: "CANCELLING", OrderStatus.CANCELED: "CANCELLED",
          OrderStatus.REJECTED: "REJECTED", OrderStatus.EXPIRED: "CANCELLED"}
TYPES = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "STOP",
         OrderType.STOP_LIMIT: "STOP_LIMIT"}
VALIDITY = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GOOD_TILL_CANCEL"}


class ApiError(Exception):
    """An error answer: ``slug`` for the RFC 7807 ``type``, ``code`` for the legacy shape."""

    def __init__(self, status: int, slug: str, title: str, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.code = code or "".join(part.capitalize() for part in slug.split("-"))

    def body(self, style: str = "rfc7807", trace: str = "sim") -> dict[str, Any]:
        if style == "legacy":
            return {"code": self.code, "clarification": self.detail}
        return {"type": f"/api-errors/{self.slug}", "title": self.title, "status": self.status,
                "detail": self.detail, "traceId": trace}


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized", "Bad API key", code="AuthenticationFailed")


def limited(limit: int, period: float) -> ApiError:
    return ApiError(429, "too-many-requests", "Too Many Requests", f"Limited: {limit} / {period:g}s",
                    code="TooManyRequests")


def bad_request(slug: str, detail: str, *, code: str | None = None,
                title: str = "Error while placing the order") -> ApiError:
    return ApiError(400, slug, title, detail, code=code)


def not_found(detail: str = "Order not found") -> ApiError:
    return ApiError(404, "not-found", "Not Found", detail, code="NotFound")


REJECTIONS = {
    RejectCode.INSUFFICIENT_BUYING_POWER: ("insufficient-free-for-stocks-buy", "InsufficientFreeForStocksException",
                                           "Insufficient free funds"),
    RejectCode.INSUFFICIENT_QTY: ("selling-equity-not-owned", "SellingEquityNotOwned",
                                  "Selling more equities than owned"),
    RejectCode.LOT_SIZE: ("quantity-precision-mismatch", "QuantityPrecisionMismatch", None),
    RejectCode.TICK_SIZE: ("price-precision-mismatch", "PricePrecisionMismatch", None),
    RejectCode.UNKNOWN_SYMBOL: ("instrument-not-found", "InstrumentNotFound", "Instrument not found"),
}


def rejection(order: SimOrder) -> ApiError:
    slug, code, detail = REJECTIONS.get(order.reject_code, ("order-validation-failed", "OrderValidation", None))
    return bad_request(slug, detail or order.reject_reason or "order refused", code=code)


def iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def instrument(sim: Trading212Sim, listing: Listing) -> dict[str, Any]:
    info = sim.engine.market.info(listing.symbol)
    return {"ticker": listing.ticker, "name": info.name or listing.short_name, "isin": info.isin,
            "currency": info.currency}


def order(sim: Trading212Sim, o: SimOrder) -> dict[str, Any]:
    listing = sim.by_ticker[o.extra["ticker"]]
    sign = Decimal(-1) if o.side is Side.SELL else Decimal(1)
    return {
        "id": o.seq, "createdAt": iso(o.created_at), "currency": sim.engine.market.info(o.symbol).currency,
        "extendedHours": o.extended_hours, "filledQuantity": sign * o.filled_qty,
        "filledValue": o.filled_value if o.filled_qty else None, "initiatedFrom": "API",
        "instrument": instrument(sim, listing), "limitPrice": o.limit_price, "stopPrice": o.stop_price,
        "quantity": sign * (o.qty or Decimal(0)), "side": "SELL" if o.side is Side.SELL else "BUY",
        "status": STATUS[o.status], "strategy": "QUANTITY", "ticker": listing.ticker,
        "timeInForce": None if o.type is OrderType.MARKET else VALIDITY.get(o.time_in_force, "DAY"),
        "type": TYPES[o.type], "value": None,
    }


def history_item(sim: Trading212Sim, o: SimOrder) -> dict[str, Any]:
    fill = None
    if o.filled_qty and o.fills:
        last = o.fills[-1]
        sign = Decimal(-1) if o.side is Side.SELL else Decimal(1)
        account_ccy = sim.engine.account(o.account_id).currency
        info = sim.engine.market.info(o.symbol)
        rate = sim.engine.market.fx_rate(info.cash_currency, account_ccy, last.timestamp)
        net = (o.filled_value * info.cash_per_price_unit * rate).quantize(Decimal("0.01"))
        fill = {"id": last.seq, "filledAt": iso(last.timestamp), "price": o.avg_fill_price,
                "quantity": sign * o.filled_qty, "tradingMethod": "TOTV", "type": "TRADE",
                "walletImpact": {"currency": account_ccy, "fxRate": rate, "netValue": -sign * net,
                                 "realisedProfitLoss": Decimal(0), "taxes": []}}
    return {"order": order(sim, o), "fill": fill}


def tradable(sim: Trading212Sim, listing: Listing) -> dict[str, Any]:
    info = sim.engine.market.info(listing.symbol)
    return {"ticker": listing.ticker, "type": listing.type, "workingScheduleId": listing.schedule_id,
            "isin": info.isin or f"XX{zlib.crc32(listing.ticker.encode()):010d}", "currencyCode": info.currency,
            "name": info.name or listing.short_name, "shortName": listing.short_name,
            "maxOpenQuantity": Decimal(10_000), "extendedHours": listing.schedule_id == 53,
            "addedOn": sim.added_on}


def exchanges(sim: Trading212Sim) -> list[dict[str, Any]]:
    """Working schedules around the simulator's date, from orch.sim's session hours."""
    now = sim.engine.now()
    result = []
    for schedule_id, (exchange_id, name, session_name) in SCHEDULES.items():
        session = SESSIONS[session_name]
        events = []
        cursor = now - timedelta(days=3)
        end = now + timedelta(days=4)
        while cursor < end:
            opened = session.next_open(cursor)
            closed = session.next_close(opened)
            if opened >= end:
                break
            events += [{"date": iso(opened), "type": "OPEN"}, {"date": iso(closed), "type": "CLOSE"}]
            cursor = closed + timedelta(seconds=1)
        result.append({"id": exchange_id, "name": name,
                       "workingSchedules": [{"id": schedule_id, "timeEvents": events}]})
    return result
