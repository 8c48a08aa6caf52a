"""Trade Republic's topics without I/O: subscription payloads, answers into orch models, errors onto
orch's tree.

Topic shapes follow the protocol notes (``compactPortfolioByType`` with the securities account number;
prices arrive as strings and become Decimals). Where Trade Republic's answers are not publicly pinned
down (the order objects of ``orders`` and ``simpleCreateOrder``, the ``neonSearch`` results), the shape
read here is the one the web app shows and the simulator serves; fields are read defensively and a
surprise is one ProtocolError naming the object.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from attrs import frozen

from orch import parsing
from orch.errors import (AuthError, BrokerError, BrokerUnavailable, InsufficientFunds, OrderNotFound,
                         OrderRejected, PermissionDenied, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Instrument, Market, Order, OrderRequest, OrderStatus, OrderType, Quote, Side,
                         TimeInForce, to_decimal)

from orch_trade_republic.frames import BROKER, Failed

ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
# A stable namespace: the same orch client order id always gives the same clientProcessId.
CLIENT_PROCESS_NAMESPACE = uuid.UUID("6f1d7c52-2a7e-4f0e-9a43-0b8f3c1e9d21")

MODES = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stopMarket"}
EXPIRY = {TimeInForce.DAY: "gfd", TimeInForce.GTC: "gtc"}


# ------------------------------------------------------------------------------------- payloads


def ticker(isin: str, exchange: str) -> dict[str, Any]:
    return {"type": "ticker", "id": f"{isin}.{exchange}"}


def instrument(isin: str) -> dict[str, Any]:
    return {"type": "instrument", "id": isin}


def search(query: str, *, asset_type: str = "stock", page_size: int = 10) -> dict[str, Any]:
    return {"type": "neonSearch", "data": {"q": query, "page": 1, "pageSize": page_size,
                                            "filter": [{"key": "type", "value": asset_type}]}}


def portfolio(sec_acc_no: str) -> dict[str, Any]:
    return {"type": "compactPortfolioByType", "secAccNo": sec_acc_no}


def cash() -> dict[str, Any]:
    return {"type": "cash"}


def available_cash() -> dict[str, Any]:
    return {"type": "availableCash"}


def orders(*, terminated: bool) -> dict[str, Any]:
    return {"type": "orders", "terminated": terminated}


def client_process_id(client_order_id: str) -> str:
    """The ``clientProcessId`` (a UUID) standing for an orch client order id: derived, so a lookup after
    a lost answer can name the same process without any local state."""
    return str(uuid.uuid5(CLIENT_PROCESS_NAMESPACE, client_order_id))


def wire_decimal(value: Decimal) -> Decimal:
    # Sent as a JSON number written exactly (frames.dumps keeps the Decimal's digits).
    return Decimal(format(value, "f"))


def create_order(request: OrderRequest, isin: str, exchange: str, *,
                 expiry_date: date | None = None) -> dict[str, Any]:
    """``simpleCreateOrder``. Validation is :mod:`.rules`' job. ``expiry_date`` makes it a ``gtd``
    order (Trade Republic's good-till-date), which orch's time-in-force values cannot name."""
    assert request.qty is not None and request.client_order_id is not None
    parameters: dict[str, Any] = {
        "instrumentId": isin, "exchangeId": exchange,
        "type": request.side.value, "mode": MODES[request.type], "size": wire_decimal(request.qty),
    }
    if expiry_date is not None:
        parameters["expiry"] = {"type": "gtd", "value": expiry_date.isoformat()}
    else:
        parameters["expiry"] = {"type": EXPIRY[request.time_in_force]}
    if request.type is OrderType.LIMIT:
        parameters["limit"] = wire_decimal(request.limit_price)
    if request.type is OrderType.STOP:
        parameters["stop"] = wire_decimal(request.stop_price)
    if request.type is OrderType.MARKET:
        parameters["sellFractions"] = False
    return {"type": "simpleCreateOrder", "clientProcessId": client_process_id(request.client_order_id),
            "warningsShown": [], "parameters": parameters}


def cancel_order(order_id: str) -> dict[str, Any]:
    return {"type": "cancelOrder", "orderId": order_id}


# ------------------------------------------------------------------------------------- errors

_AUTH = {"AUTHENTICATION_ERROR", "UNAUTHORIZED", "SESSION_EXPIRED"}
_FUNDS = {"INSUFFICIENT_FUNDS", "NOT_ENOUGH_CASH", "INSUFFICIENT_CASH", "INSUFFICIENT_SIZE",
          "NOT_ENOUGH_SIZE"}
_UNAVAILABLE = {"SERVICE_UNAVAILABLE", "INTERNAL_ERROR", "TIMEOUT", "UNAVAILABLE"}
_NOT_FOUND = {"NOT_FOUND", "ORDER_NOT_FOUND"}
_UNKNOWN_INSTRUMENT = {"INSTRUMENT_NOT_FOUND", "UNKNOWN_INSTRUMENT", "INSTRUMENT_NOT_TRADABLE"}


def error_for(failed: Failed, topic: str, *, broker: str = BROKER) -> BrokerError:
    """The orch error for an ``E`` answer to a subscription of type ``topic``, keeping Trade
    Republic's ``errorCode`` and ``errorMessage``."""
    code, message = failed.code or "UNKNOWN", failed.message
    common = {"broker": broker, "broker_code": code, "broker_message": message}
    text = f"{topic}: {message or code}"
    if code == "TOO_MANY_REQUESTS":
        return RateLimited(f"rate limited ({text})", retry_after=_seconds(failed.meta.get("nextAttemptInSeconds")),
                           **common)
    if code in _AUTH or "validate connection token failed" in message:
        return AuthError(f"session not accepted ({text})", **common,
                         hint="log in again: orch trade_republic login")
    if code in _UNAVAILABLE:
        return BrokerUnavailable(text, **common)
    if code == "BAD_SUBSCRIPTION_TYPE":
        return ProtocolError(f"topic refused ({text}); Trade Republic removes topics without notice", **common)
    if topic in ("ticker", "instrument", "neonSearch") and code in ({"FORBIDDEN", "JSON_PARSE_ERROR"}
                                                                   | _NOT_FOUND | _UNKNOWN_INSTRUMENT):
        return UnknownInstrument(f"not quoted there ({text})", **common)
    if topic == "simpleCreateOrder":
        if code in ("ALREADY_PROCESSED", "DUPLICATE_CLIENT_PROCESS_ID"):
            # An order with this clientProcessId exists: maybe the one being sent. Unknown outcome, so the
            # core looks it up instead of marking it rejected or sending it again.
            return BrokerUnavailable(f"an order with this clientProcessId exists already ({text})", **common)
        if code in _FUNDS:
            return InsufficientFunds(text, **common)
        if code in _UNKNOWN_INSTRUMENT:
            return UnknownInstrument(text, **common)
        return OrderRejected(text, **common)
    if topic == "cancelOrder":
        if code in _NOT_FOUND:
            return OrderNotFound(f"no such order ({text})", **common)
        return OrderRejected(text, **common)
    if code == "FORBIDDEN":
        return PermissionDenied(text, **common)
    return ProtocolError(text, **common)


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------- parsing


def reading(what: str, *, broker: str = BROKER) -> AbstractContextManager[None]:
    return parsing.reading(what, title="Trade Republic", broker=broker)


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else to_decimal(value)


def millis(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parsing.utc_from_millis(value)


def market_of(isin: str) -> Market:
    country = isin[:2]
    if country == "US":
        return Market.US_STOCKS
    if country in _EUROPE:
        return Market.EU_STOCKS
    return Market.GLOBAL_STOCKS


_EUROPE = frozenset("AT BE CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI "
                    "SK XS".split())


def parse_ticker(data: Any, instrument_: Instrument, *, broker: str = BROKER) -> Quote:
    """``{"bid":{"time","price","size"},"ask":…,"last":…}``; prices are strings (numbers in older
    answers, read the same way)."""
    with reading("ticker", broker=broker):
        sides = {name: data.get(name) or {} for name in ("bid", "ask", "last")}
        times = [millis(side.get("time")) for side in sides.values() if side.get("time") is not None]
        if not times:
            raise ValueError("no time on any side")

        def price(name: str) -> Decimal | None:
            value = _dec(sides[name].get("price"))
            return None if value is None or value <= 0 else value

        return Quote(broker=broker, instrument=instrument_, timestamp=max(t for t in times if t),
                     bid=price("bid"), ask=price("ask"), bid_size=_dec(sides["bid"].get("size")),
                     ask_size=_dec(sides["ask"].get("size")), last=price("last"),
                     delayed=str(data.get("qualityId") or "realtime") != "realtime")


@frozen
class Venue:
    slug: str
    active: bool
    symbol: str | None = None
    name: str | None = None


@frozen
class InstrumentInfo:
    isin: str
    name: str
    short_name: str
    type_id: str
    active: bool
    venues: tuple[Venue, ...]
    symbols: tuple[str, ...] = ()  # intlSymbol, homeSymbol: the tickers the instrument is known by

    def known_as(self, ticker: str) -> bool:
        wanted = ticker.strip().upper()
        return any(s.upper() == wanted for s in (*self.symbols, *(v.symbol for v in self.venues if v.symbol)))

    def active_venues(self) -> list[str]:
        return [v.slug for v in self.venues if v.active] if self.active else []

    def symbol(self, exchange: str | None = None) -> str | None:
        for venue in self.venues:
            if venue.symbol and (exchange is None or venue.slug == exchange):
                return venue.symbol
        return None


def parse_instrument(data: Any, *, broker: str = BROKER) -> InstrumentInfo:
    with reading("instrument", broker=broker):
        venues = tuple(Venue(slug=str(v["slug"]), active=bool(v.get("active", True)),
                             symbol=v.get("symbolAtExchange") or None, name=v.get("nameAtExchange") or None)
                       for v in data.get("exchanges") or ())
        return InstrumentInfo(isin=str(data["isin"]), name=str(data.get("name") or ""),
                              short_name=str(data.get("shortName") or data.get("name") or ""),
                              type_id=str(data.get("typeId") or ""), active=bool(data.get("active", True)),
                              venues=venues,
                              symbols=tuple(str(data[k]) for k in ("intlSymbol", "homeSymbol") if data.get(k)))


def parse_search(data: Any, *, broker: str = BROKER) -> list[tuple[str, str]]:
    """(ISIN, name) of each ``neonSearch`` result, best first."""
    with reading("search answer", broker=broker):
        results = data.get("results") if isinstance(data, Mapping) else data
        return [(str(r["isin"]), str(r.get("name") or "")) for r in results or () if r.get("isin")]


@frozen
class Holding:
    isin: str
    qty: Decimal
    avg_price: Decimal | None
    name: str
    instrument_type: str


def parse_portfolio(data: Any, *, broker: str = BROKER) -> list[Holding]:
    """``compactPortfolioByType``: categories of positions; numbers are strings and there is no price."""
    with reading("portfolio", broker=broker):
        holdings = []
        for category in data.get("categories") or ():
            for position in category.get("positions") or ():
                qty = to_decimal(position["netSize"])
                if qty == 0:
                    continue
                holdings.append(Holding(isin=str(position["isin"]), qty=qty,
                                        avg_price=_dec(position.get("averageBuyIn")),
                                        name=str(position.get("name") or ""),
                                        instrument_type=str(position.get("instrumentType") or
                                                            category.get("categoryType") or "")))
        return holdings


@frozen
class CashBalance:
    account_number: str
    currency: str
    amount: Decimal


def parse_cash(data: Any, *, broker: str = BROKER) -> list[CashBalance]:
    with reading("cash", broker=broker):
        if not isinstance(data, list):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        return [CashBalance(account_number=str(item.get("accountNumber") or ""), currency=str(item["currencyId"]),
                            amount=to_decimal(item["amount"])) for item in data]


_STATUS = {
    "open": OrderStatus.NEW, "pending": OrderStatus.ACCEPTED, "created": OrderStatus.ACCEPTED,
    "partiallyExecuted": OrderStatus.PARTIALLY_FILLED, "executed": OrderStatus.FILLED,
    "cancelPending": OrderStatus.PENDING_CANCEL, "cancelled": OrderStatus.CANCELED,
    "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED,
}
_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stopMarket": OrderType.STOP}
_TIF = {"gfd": TimeInForce.DAY, "gtc": TimeInForce.GTC}


def parse_order(data: Any, instrument_: Instrument, *, broker: str = BROKER,
                client_order_id: str | None = None) -> Order:
    """An order object (``orders`` items, the answers of ``simpleCreateOrder`` and ``cancelOrder``).
    An unknown status is read as open (ACCEPTED): an order wrongly taken for final would be forgotten."""
    with reading("order", broker=broker):
        raw_status = str(data["status"])
        expiry = data.get("expiry") or {}
        filled = _dec(data.get("executedSize")) or Decimal(0)
        return Order(
            broker=broker, broker_order_id=str(data["id"]), client_order_id=client_order_id,
            instrument=instrument_, side=Side(str(data["type"]).lower()), type=_TYPES[str(data["mode"])],
            status=_STATUS.get(raw_status, OrderStatus.ACCEPTED), raw_status=raw_status,
            qty=_dec(data.get("size")), filled_qty=filled, avg_fill_price=_dec(data.get("averageExecutionPrice")),
            limit_price=_dec(data.get("limit")), stop_price=_dec(data.get("stop")),
            time_in_force=_TIF.get(str(expiry.get("type"))), created_at=millis(data.get("createdAt")),
            updated_at=millis(data.get("updatedAt")), reject_reason=data.get("rejectionReason") or None)


def order_items(data: Any, *, broker: str = BROKER) -> list[Mapping[str, Any]]:
    with reading("orders", broker=broker):
        items = data["orders"] if isinstance(data, Mapping) else data
        if not isinstance(items, list):
            raise ValueError("orders is not a list")
        return items
