"""Trading 212's Public API (v0) without I/O: requests as values, responses into orch models and errors.

Nothing here awaits or touches a socket: :mod:`orch_trading212.transport` sends what these functions build
and hands back an :class:`HttpResponse`; :func:`handle_response` turns it into data or one of orch's
errors. Numbers go out as exact JSON numbers written from Decimals and come in through
``parse_float=Decimal``. :func:`authorization` is the only place a secret is revealed.

Facts encoded here (see docs/design notes in the plugin README): sells are negative quantities, there is
no client order id, ``GET /equity/orders/{id}`` knows pending orders only (the rest is in
``/equity/history/orders``, paginated by ``nextPagePath``), every endpoint has its own small per-account
limit reported in ``x-ratelimit-*`` headers, and errors come either RFC 7807 style
(``{"type": "/api-errors/<slug>", "title", "status", "detail"}``) or in the older ``{"code",
"clarification"}`` shape.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from attrs import field, frozen

from orch import parsing
from orch.errors import (AuthError, BrokerError, BrokerUnavailable, InsufficientFunds, OrderNotFound,
                         OrderRejected, PermissionDenied, ProtocolError, RateLimited, UnknownInstrument)
from orch.models import (Account, Balance, Fill, Instrument, Order, OrderRequest, OrderStatus, OrderType,
                         Position, Side, TimeInForce, to_decimal)
from orch.secret import Secret, mask

from orch_trading212 import symbols
from orch_trading212.symbols import InstrumentMeta

BROKER = "trading212"
API = "/api/v0"
HISTORY_PAGE = 50

# endpoint -> (requests, seconds): Trading 212's published per-account limits.
LIMITS: dict[str, tuple[int, float]] = {
    "account_summary": (1, 5.0), "account_cash": (1, 2.0), "account_info": (1, 30.0),
    "positions": (1, 1.0), "orders": (1, 5.0), "order": (1, 1.0), "cancel": (50, 60.0),
    "place_market": (50, 60.0), "place_limit": (1, 2.0), "place_stop": (1, 2.0), "place_stop_limit": (1, 2.0),
    "instruments": (1, 50.0), "exchanges": (1, 30.0), "history_orders": (6, 60.0),
}

_PLACE_PATHS = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop",
                OrderType.STOP_LIMIT: "stop_limit"}
TIME_VALIDITY = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GOOD_TILL_CANCEL"}
_TIF_BACK = {"DAY": TimeInForce.DAY, "GOOD_TILL_CANCEL": TimeInForce.GTC, "GTC": TimeInForce.GTC}
_TYPES = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT, "STOP": OrderType.STOP,
          "STOP_LIMIT": OrderType.STOP_LIMIT}
STATUSES: dict[str, OrderStatus] = {
    "LOCAL": OrderStatus.ACCEPTED, "UNCONFIRMED": OrderStatus.ACCEPTED, "CONFIRMED": OrderStatus.ACCEPTED,
    "NEW": OrderStatus.NEW, "CANCELLING": OrderStatus.PENDING_CANCEL, "CANCELLED": OrderStatus.CANCELED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED, "FILLED": OrderStatus.FILLED,
    "REJECTED": OrderStatus.REJECTED, "REPLACING": OrderStatus.NEW, "REPLACED": OrderStatus.CANCELED,
}

# Error slugs (RFC 7807 `type`) and legacy codes, by what they mean for orch.
_FUNDS = frozenset({"insufficient-free-for-stocks-buy", "selling-equity-not-owned", "insufficient-funds",
                    "InsufficientFreeForStocksException", "SellingEquityNotOwned", "InsufficientFunds"})
_UNKNOWN = frozenset({"instrument-not-found", "ticker-not-found", "InstrumentNotFound", "TickerNotFound",
                      "instrument-not-tradable", "InstrumentNotTradable"})


# ------------------------------------------------------------------------------------- values on the wire


@frozen
class Credentials:
    """``api_key`` alone: the legacy raw-key header; with ``secret_key``: HTTP Basic (current API)."""

    api_key: Secret
    secret_key: Secret = field(factory=lambda: Secret(None))

    @property
    def scheme(self) -> str:
        return "basic" if self.secret_key.is_set else "legacy"

    def __repr__(self) -> str:
        return f"<Credentials {self.scheme}>"


def authorization(credentials: Credentials) -> str:
    """The ``Authorization`` header value. The only place a secret is revealed."""
    if credentials.secret_key.is_set:
        token = f"{credentials.api_key.reveal()}:{credentials.secret_key.reveal()}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")
    return credentials.api_key.reveal()


@frozen
class HttpRequest:
    """One REST call. ``endpoint`` names its rate limit (:data:`LIMITS`); ``path`` is from the host root
    (``/api/v0/…``, so a ``nextPagePath`` can be sent verbatim); ``resource`` says what a 404 means;
    ``is_order`` marks a placement for the limiter."""

    method: str
    path: str
    endpoint: str
    params: Mapping[str, str] = field(factory=dict, hash=False)
    body: bytes | None = None
    resource: str | None = None
    is_order: bool = False


@frozen
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(hash=False)
    body: bytes = b""


def dumps(value: Any) -> str:
    """JSON with Decimals written as exact numbers (json.dumps would need a float)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if text not in ("-0", "") else "0"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# ------------------------------------------------------------------------------------- requests


def account_summary() -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/account/summary", "account_summary")


def account_cash() -> HttpRequest:
    """Legacy (mid-2025 docs): ``{free, total, ppl, result, invested, pieCash, blocked}``."""
    return HttpRequest("GET", f"{API}/equity/account/cash", "account_cash")


def account_info() -> HttpRequest:
    """Legacy: ``{currencyCode, id}``."""
    return HttpRequest("GET", f"{API}/equity/account/info", "account_info")


def list_positions(ticker: str | None = None) -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/positions", "positions",
                       params={"ticker": ticker} if ticker else {})


def list_orders() -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/orders", "orders")


def get_order(order_id: str) -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/orders/{_order_id(order_id)}", "order", resource="order")


def cancel_order(order_id: str) -> HttpRequest:
    return HttpRequest("DELETE", f"{API}/equity/orders/{_order_id(order_id)}", "cancel", resource="order")


def _order_id(order_id: str) -> int:
    text = str(order_id).strip()
    if not text.lstrip("-").isdigit():
        raise OrderNotFound(f"{order_id!r} is not a Trading 212 order id (they are integers)", broker=BROKER)
    return int(text)


def signed_quantity(request: OrderRequest) -> Decimal:
    """Trading 212 has no side field: a sell is a negative quantity."""
    assert request.qty is not None
    return request.qty if request.side is Side.BUY else -request.qty


def place_order(request: OrderRequest, ticker: str) -> HttpRequest:
    """The body for ``POST /equity/orders/{market|limit|stop|stop_limit}``. The caller has already
    refused what Trading 212 cannot take (notional, other TIFs, classes)."""
    kind = _PLACE_PATHS[request.type]
    body: dict[str, Any] = {"ticker": ticker, "quantity": signed_quantity(request)}
    if request.type is OrderType.MARKET:
        body["extendedHours"] = request.extended_hours
    else:
        if request.type in (OrderType.STOP, OrderType.STOP_LIMIT):
            body["stopPrice"] = request.stop_price
        if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            body["limitPrice"] = request.limit_price
        body["timeValidity"] = TIME_VALIDITY[request.time_in_force]
    return HttpRequest("POST", f"{API}/equity/orders/{kind}", f"place_{kind}", body=dumps(body).encode(),
                       is_order=True)


def instruments() -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/metadata/instruments", "instruments")


def exchanges() -> HttpRequest:
    return HttpRequest("GET", f"{API}/equity/metadata/exchanges", "exchanges")


def history_orders(*, ticker: str | None = None, limit: int = HISTORY_PAGE, cursor: str | None = None
                   ) -> HttpRequest:
    params = {"limit": str(limit)}
    if ticker:
        params["ticker"] = ticker
    if cursor:
        params["cursor"] = cursor
    return HttpRequest("GET", f"{API}/equity/history/orders", "history_orders", params=params)


def next_page(path: str | None, endpoint: str = "history_orders") -> HttpRequest | None:
    """The request for a response's ``nextPagePath`` (sent verbatim), or None at the end."""
    if not path:
        return None
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith(API):
        # Some answers give the path below /api/v0.
        path = API + path
    return HttpRequest("GET", path, endpoint)


def url_for(base: str, request: HttpRequest) -> str:
    url = base.rstrip("/") + request.path
    if request.params:
        url += ("&" if "?" in url else "?") + urlencode(dict(request.params))
    return url


# ------------------------------------------------------------------------------------- rate limits


@frozen
class RateLimitInfo:
    limit: int | None
    remaining: int | None
    reset_after: float | None
    period: float | None = None
    used: int | None = None


_HEADER_MAX = Decimal(10) ** 15


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    # Infinity, NaN or an absurd size ("1e999999" would build a million-digit int) say nothing usable.
    if not number.is_finite() or abs(number) > _HEADER_MAX:
        return None
    return int(number)


def server_now(headers: Mapping[str, str], fallback: float) -> float:
    """The server's clock from its ``Date`` header, so a skewed local clock stays out of the arithmetic
    (``x-ratelimit-reset`` is in the server's epoch seconds)."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return fallback


def parse_rate_limit(headers: Mapping[str, str], *, now: float) -> RateLimitInfo | None:
    """``x-ratelimit-limit|period|remaining|reset|used``; None when absent."""
    limit = _int_header(headers, "x-ratelimit-limit")
    remaining = _int_header(headers, "x-ratelimit-remaining")
    reset = _int_header(headers, "x-ratelimit-reset")
    if limit is None and remaining is None and reset is None:
        return None
    period = _int_header(headers, "x-ratelimit-period")
    reset_after = None if reset is None else max(0.0, reset - server_now(headers, now))
    return RateLimitInfo(limit=limit, remaining=remaining, reset_after=reset_after,
                         period=None if period is None else float(period),
                         used=_int_header(headers, "x-ratelimit-used"))


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """How long to wait after a 429: ``Retry-After`` if sent (undocumented), else until
    ``x-ratelimit-reset``."""
    explicit = _int_header(headers, "retry-after")
    if explicit is not None:
        return float(max(0, explicit))
    info = parse_rate_limit(headers, now=now)
    return info.reset_after if info else None


# ------------------------------------------------------------------------------------- errors


def decode_json(body: bytes | str, *, broker: str = BROKER) -> Any:
    try:
        return parsing.json_loads(body)
    except ValueError:
        text = body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else body[:120]
        raise ProtocolError(f"unreadable response (not JSON): {mask(text)!r}", broker=broker) from None


@frozen
class ErrorBody:
    """Either style, normalised: ``code`` is the RFC 7807 slug (``selling-equity-not-owned``) or the legacy
    code (``SellingEquityNotOwned``); ``message`` the detail/clarification (or title)."""

    code: str | None
    message: str
    title: str | None = None
    trace_id: str | None = None


def parse_error_body(body: bytes) -> ErrorBody:
    try:
        data = parsing.json_loads(body) if body.strip() else None
    except ValueError:
        # An HTML error page from a proxy has newlines; an orch error is one line.
        return ErrorBody(None, " ".join(body[:200].decode("utf-8", "replace").split()))
    if not isinstance(data, dict):
        return ErrorBody(None, "" if data is None else str(data)[:200])
    if "type" in data or "title" in data or "detail" in data:
        kind = str(data.get("type") or "")
        slug = kind.rstrip("/").rsplit("/", 1)[-1] or None
        detail = " ".join(str(data.get("detail") or data.get("title") or "").split())
        return ErrorBody(slug, detail, title=data.get("title"), trace_id=data.get("traceId"))
    code = data.get("code")
    message = data.get("clarification") or data.get("message") or data.get("error") or ""
    return ErrorBody(None if code is None else str(code), " ".join(str(message).split()))


def error_for(request: HttpRequest, response: HttpResponse, *, now: float, broker: str = BROKER) -> BrokerError:
    status = response.status
    err = parse_error_body(response.body)
    code = err.code
    text = mask(err.message) or f"HTTP {status}"
    where = f"{request.method} {request.endpoint}"
    kwargs: dict[str, Any] = {"broker": broker, "broker_code": code, "broker_message": err.message or None,
                              "status": status}
    if status == 401:
        return AuthError(f"the API key was refused ({text})", hint="check api_key/secret_key and that the key "
                         "belongs to this environment (practice or live)", **kwargs)
    if status == 403:
        return PermissionDenied(f"{where}: the API key lacks the scope for this ({text})",
                                hint="enable the scope in the app's API settings", **kwargs)
    if status == 429:
        # Each endpoint has its own limit: the refusal holds back this endpoint's budget only.
        return RateLimited(f"{where}: rate limited ({text})", retry_after=retry_after(response.headers, now=now),
                           budget=request.endpoint, **kwargs)
    if status == 408 or status >= 500:
        return BrokerUnavailable(f"{where}: HTTP {status} ({text})", **kwargs)
    if status == 404:
        if request.resource == "order":
            return OrderNotFound(f"no such order ({text})", **kwargs)
        return BrokerError(f"{where}: not found ({text})", **kwargs)
    if request.is_order:
        # A 400 to a placement is the broker's explicit refusal: the order does not exist.
        if code in _FUNDS:
            return InsufficientFunds(text, **kwargs)
        if code in _UNKNOWN:
            return UnknownInstrument(text, **kwargs)
        # An unexpected 4xx (a 418, a 409) is still a refusal; its status says what kind.
        return OrderRejected(text if status in (400, 422) else f"HTTP {status} ({text})", **kwargs)
    if request.resource == "order" and request.method == "DELETE" and status == 400:
        return OrderRejected(f"cannot cancel: {text}", **kwargs)
    if code in _UNKNOWN:
        return UnknownInstrument(text, **kwargs)
    return BrokerError(f"{where}: HTTP {status} ({text})", **kwargs)


def handle_response(request: HttpRequest, response: HttpResponse, *, now: float, broker: str = BROKER) -> Any:
    """Decoded JSON of a successful answer; None for an empty body."""
    if 200 <= response.status < 300:
        if not response.body.strip():
            return None
        return decode_json(response.body, broker=broker)
    raise error_for(request, response, now=now, broker=broker)


# ------------------------------------------------------------------------------------- parsing


def reading(what: str, *, broker: str = BROKER) -> AbstractContextManager[None]:
    return parsing.reading(what, title="Trading 212", broker=broker)


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    result = datetime.fromisoformat(text)
    if result.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return result


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else to_decimal(value)


def _money(value: Any) -> Decimal:
    return Decimal(0) if value in (None, "") else to_decimal(value)


def parse_account(data: Mapping[str, Any], *, paper: bool, broker: str = BROKER) -> Account:
    """``GET /equity/account/summary``."""
    with reading("account summary", broker=broker):
        cash = data.get("cash") or {}
        investments = data.get("investments") or {}
        currency = str(data["currency"])
        free = _money(cash.get("availableToTrade"))
        reserved = _money(cash.get("reservedForOrders"))
        in_pies = _money(cash.get("inPies"))
        total = _money(data.get("totalValue"))
        raw = {"totalValue": str(total), "reservedForOrders": str(reserved), "inPies": str(in_pies),
               "investments.currentValue": str(_money(investments.get("currentValue"))),
               "investments.unrealizedProfitLoss": str(_money(investments.get("unrealizedProfitLoss"))),
               "investments.realizedProfitLoss": str(_money(investments.get("realizedProfitLoss")))}
        return Account(broker=broker, account_id=str(data["id"]), currency=currency, cash=free + reserved + in_pies,
                       equity=total, buying_power=free, paper=paper,
                       balances=(Balance(currency, free=free, locked=reserved + in_pies),), raw=raw)


def parse_legacy_account(cash: Mapping[str, Any], info: Mapping[str, Any], *, paper: bool,
                         broker: str = BROKER) -> Account:
    """The mid-2025 pair ``account/cash`` + ``account/info``."""
    with reading("account cash/info", broker=broker):
        free = _money(cash.get("free"))
        blocked = _money(cash.get("blocked")) + _money(cash.get("pieCash"))
        total = _money(cash.get("total"))
        currency = str(info["currencyCode"])
        return Account(broker=broker, account_id=str(info["id"]), currency=currency, cash=free + blocked,
                       equity=total, buying_power=free, paper=paper,
                       balances=(Balance(currency, free=free, locked=blocked),),
                       raw={"ppl": str(_money(cash.get("ppl"))), "invested": str(_money(cash.get("invested")))})


def _ticker_of(data: Mapping[str, Any]) -> str:
    instrument = data.get("instrument") or {}
    ticker = instrument.get("ticker") or data.get("ticker")
    if not ticker:
        raise KeyError("ticker")
    return str(ticker)


def parse_position(data: Mapping[str, Any], catalog: Mapping[str, InstrumentMeta], *, account_currency: str,
                   broker: str = BROKER) -> Position:
    """Current (``instrument``, ``averagePricePaid``, ``walletImpact``) or legacy (``ticker``,
    ``averagePrice``, ``ppl``) shape. Prices are in the instrument's currency; value and P/L in the
    account's (``walletImpact``)."""
    with reading("position", broker=broker):
        ticker = _ticker_of(data)
        meta = catalog.get(ticker)
        instrument = symbols.instrument_for(ticker, meta, broker=broker)
        nested = data.get("instrument") or {}
        if meta is None and nested.get("currency"):
            instrument = symbols.instrument_for(ticker, InstrumentMeta(ticker, "", str(nested["currency"])),
                                                broker=broker)
        qty = to_decimal(data["quantity"])
        avg = _dec(data.get("averagePricePaid", data.get("averagePrice")))
        wallet = data.get("walletImpact")
        if wallet:
            value = _dec(wallet.get("currentValue"))
            pl = _dec(wallet.get("unrealizedProfitLoss"))
            currency = str(wallet.get("currency") or account_currency)
        else:
            price = _dec(data.get("currentPrice"))
            unit = symbols.money_per_price_unit(instrument.currency)
            value = None if price is None else qty * price * unit
            pl = _dec(data.get("ppl"))
            currency = account_currency
        return Position(broker=broker, instrument=instrument, qty=qty, avg_price=avg, market_value=value,
                        unrealized_pl=pl, currency=currency)


def parse_order(data: Mapping[str, Any], catalog: Mapping[str, InstrumentMeta], *, broker: str = BROKER,
                instrument: Instrument | None = None, fill: Mapping[str, Any] | None = None,
                note: str | None = None) -> Order:
    """An Order object (current or legacy shape); ``fill`` is the history item's fill, if any."""
    with reading("order", broker=broker):
        ticker = _ticker_of(data)
        if instrument is None:
            instrument = symbols.instrument_for(ticker, catalog.get(ticker), broker=broker)
        quantity = _dec(data.get("quantity"))
        side_text = data.get("side")
        if side_text:
            side = Side.BUY if str(side_text).upper() == "BUY" else Side.SELL
        else:
            side = Side.SELL if quantity is not None and quantity < 0 else Side.BUY
        raw = str(data["status"])
        status = STATUSES.get(raw.upper())
        if status is None:
            raise ValueError(f"unknown order status {raw!r}")
        kind = _TYPES.get(str(data["type"]).upper())
        if kind is None:
            raise ValueError(f"unknown order type {data['type']!r}")
        filled = abs(_dec(data.get("filledQuantity")) or Decimal(0))
        filled_value = _dec(data.get("filledValue"))
        avg = None
        if fill and fill.get("price") is not None:
            avg = to_decimal(fill["price"])
        elif filled and filled_value is not None:
            avg = abs(filled_value) / filled
        value = _dec(data.get("value"))
        tif_text = data.get("timeInForce") or data.get("timeValidity")
        created = parse_time(data.get("createdAt") or data.get("creationTime"))
        updated = parse_time(fill.get("filledAt")) if fill else None
        return Order(
            broker=broker, broker_order_id=str(data["id"]), instrument=instrument, side=side, type=kind,
            status=status, raw_status=raw if note is None else f"{raw} ({note})",
            qty=None if quantity is None else abs(quantity),
            notional=None if quantity is not None or value is None else abs(value),
            filled_qty=filled, avg_fill_price=avg, limit_price=_dec(data.get("limitPrice")),
            stop_price=_dec(data.get("stopPrice")),
            time_in_force=_TIF_BACK.get(str(tif_text).upper()) if tif_text else None,
            created_at=created, updated_at=updated)


def parse_orders(data: Any, catalog: Mapping[str, InstrumentMeta], *, broker: str = BROKER) -> list[Order]:
    if not isinstance(data, list):
        raise ProtocolError("expected a list of orders", broker=broker)
    orders = [parse_order(item, catalog, broker=broker) for item in data]
    # (length, text) orders numeric ids as numbers without assuming every id is one.
    orders.sort(key=lambda o: (o.created_at is not None, o.created_at, len(o.broker_order_id), o.broker_order_id),
                reverse=True)
    return orders


@frozen
class HistoryPage:
    items: tuple[tuple[Order, Fill | None], ...]
    next_path: str | None


def parse_history_orders(data: Mapping[str, Any], catalog: Mapping[str, InstrumentMeta], *,
                         broker: str = BROKER) -> HistoryPage:
    """``{items: [{order, fill}], nextPagePath}``."""
    with reading("order history", broker=broker):
        items = []
        for item in data["items"]:
            fill_data = item.get("fill")
            order = parse_order(item["order"], catalog, broker=broker, fill=fill_data)
            fill = None
            if fill_data and fill_data.get("quantity") is not None and fill_data.get("price") is not None:
                wallet = fill_data.get("walletImpact") or {}
                taxes = sum((abs(_money(t.get("quantity"))) for t in wallet.get("taxes") or ()), Decimal(0))
                fill = Fill(broker=broker, broker_order_id=order.broker_order_id, fill_id=str(fill_data["id"]),
                            instrument=order.instrument, side=order.side,
                            qty=abs(to_decimal(fill_data["quantity"])), price=to_decimal(fill_data["price"]),
                            timestamp=parse_time(fill_data["filledAt"]), fee=taxes,
                            fee_currency=wallet.get("currency") if taxes else None)
            items.append((order, fill))
        next_path = data.get("nextPagePath")
        return HistoryPage(tuple(items), str(next_path) if next_path else None)


def parse_instruments(data: Any, *, broker: str = BROKER) -> dict[str, InstrumentMeta]:
    if not isinstance(data, list):
        raise ProtocolError("expected a list of instruments", broker=broker)
    catalog = {}
    with reading("instrument", broker=broker):
        for item in data:
            ticker = str(item["ticker"])
            catalog[ticker] = InstrumentMeta(
                ticker=ticker, short_name=str(item.get("shortName") or ""), currency=str(item["currencyCode"]),
                name=str(item.get("name") or ""), isin=item.get("isin"), type=str(item.get("type") or "STOCK"),
                working_schedule_id=item.get("workingScheduleId"),
                max_open_quantity=_dec(item.get("maxOpenQuantity")),
                extended_hours=bool(item.get("extendedHours", False)))
    return catalog


@frozen
class TimeEvent:
    at: datetime
    type: str


def parse_exchanges(data: Any, *, broker: str = BROKER) -> dict[int, tuple[str, tuple[TimeEvent, ...]]]:
    """working schedule id -> (exchange name, its time events in order)."""
    if not isinstance(data, list):
        raise ProtocolError("expected a list of exchanges", broker=broker)
    schedules: dict[int, tuple[str, tuple[TimeEvent, ...]]] = {}
    with reading("exchange", broker=broker):
        for exchange in data:
            for schedule in exchange.get("workingSchedules") or ():
                events = sorted((TimeEvent(parse_time(e["date"]), str(e["type"]))
                                 for e in schedule.get("timeEvents") or ()), key=lambda e: e.at)
                schedules[int(schedule["id"])] = (str(exchange.get("name") or ""), tuple(events))
    return schedules


_OPENING = frozenset({"OPEN", "BREAK_END"})
_CLOSING = frozenset({"CLOSE", "BREAK_START"})


def is_open(events: Sequence[TimeEvent], when: datetime, *, extended: bool = False) -> bool | None:
    """Whether a working schedule has its market open at ``when`` (None: no event before ``when``)."""
    opening = _OPENING | ({"PRE_MARKET_OPEN", "AFTER_HOURS_OPEN", "OVERNIGHT_OPEN"} if extended else set())
    closing = _CLOSING | ({"AFTER_HOURS_CLOSE"} if extended else {"PRE_MARKET_OPEN", "AFTER_HOURS_OPEN",
                                                                   "AFTER_HOURS_CLOSE", "OVERNIGHT_OPEN"})
    last = None
    for event in events:
        if event.at > when:
            break
        last = event
    if last is None:
        return None
    if last.type in opening:
        return True
    if last.type in closing:
        return False
    return None
