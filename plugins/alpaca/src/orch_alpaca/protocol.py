"""Alpaca's REST protocol without I/O: requests as values, responses into orch models and errors.

Nothing here awaits or touches a socket. :mod:`orch_alpaca.transport` sends what these functions build and
hands back an :class:`HttpResponse`; :func:`handle_response` turns it into data or one of orch's errors.

Decimals go out as JSON strings and come in through ``parse_float=Decimal``, so no price or quantity ever
passes through a float. :func:`reveal_credentials` is the only place a secret is revealed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import attrs
from attrs import field, frozen

from orch import parsing
from orch.errors import (AuthError, BrokerError, BrokerUnavailable, ConfigError, InsufficientFunds,
                         OrderNotFound, OrderRejected, PermissionDenied, ProtocolError, RateLimited,
                         UnknownInstrument)
from orch.models import (Account, Fill, Instrument, Order, OrderClass, OrderRequest, OrderStatus, OrderType,
                         Position, Quote, Side, TimeInForce, to_decimal)
from orch.secret import REDACTED, Secret, mask

from orch_alpaca import symbols

BROKER = "alpaca"
KEY_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"
_SENSITIVE = frozenset({KEY_HEADER.lower(), SECRET_HEADER.lower()})

TRADING = "trading"
DATA = "data"
# Alpaca limits its market-data API apart from its trading API: the rate limiter's separate budget for it.
DATA_BUDGET = "market_data"

MAX_ORDERS_PAGE = 500


# ------------------------------------------------------------------------------------- values on the wire


def _masked_headers(headers: Mapping[str, str]) -> str:
    return repr({k: (REDACTED if k.lower() in _SENSITIVE else v) for k, v in headers.items()})


@frozen
class HttpRequest:
    """One REST call. ``api`` picks the host (trading or market data); ``resource`` says what a 404 means
    (``"order"`` → OrderNotFound, ``"instrument"`` → UnknownInstrument); with ``none_on_404`` a 404 is an
    answer (None), not an error. ``is_order`` tells the rate limiter the call creates an order."""

    method: str
    path: str
    api: str = TRADING
    params: Mapping[str, str] = field(factory=dict, hash=False)
    headers: Mapping[str, str] = field(factory=dict, hash=False, repr=_masked_headers)
    json: Any = field(default=None, hash=False)
    is_order: bool = False
    resource: str | None = None
    none_on_404: bool = False


@frozen
class HttpResponse:
    """``headers`` keys are lower case."""

    status: int
    headers: Mapping[str, str] = field(factory=dict, hash=False)
    body: bytes = b""


@frozen
class Credentials:
    key_id: Secret
    secret_key: Secret


def reveal_credentials(credentials: Credentials, *, broker: str = BROKER) -> tuple[str, str]:
    """(key id, secret key) for the wire. A placeholder or missing value is a config error, never sent."""
    values = []
    for name, secret in (("api_key", credentials.key_id), ("secret_key", credentials.secret_key)):
        if not secret.is_set:
            raise ConfigError("is not set", path=f"brokers.{broker}.{name}",
                              hint=f"put it in the config or the environment ({secret.source})")
        values.append(secret.reveal())
    return values[0], values[1]


def sign(request: HttpRequest, credentials: Credentials, *, broker: str = BROKER) -> HttpRequest:
    key_id, secret_key = reveal_credentials(credentials, broker=broker)
    return attrs.evolve(request, headers={**request.headers, KEY_HEADER: key_id, SECRET_HEADER: secret_key})


def wire_decimal(value: Decimal) -> str:
    """Plain notation: ``str(Decimal("1E+2"))`` would send ``1E+2``."""
    return format(value, "f")


def wire_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------- request builders


def get_account() -> HttpRequest:
    return HttpRequest("GET", "/v2/account")


def list_positions() -> HttpRequest:
    return HttpRequest("GET", "/v2/positions")


def get_position(symbol: str) -> HttpRequest:
    """No position is a 404, which is an answer here (None)."""
    return HttpRequest("GET", f"/v2/positions/{quote(symbols.compact(symbol), safe='')}",
                       none_on_404=True)


def order_body(request: OrderRequest, symbol: str) -> dict[str, Any]:
    """The JSON body of ``POST /v2/orders``. Validation is :mod:`orch_alpaca.rules`' job."""
    body: dict[str, Any] = {"symbol": symbol, "side": request.side.value, "type": request.type.value,
                            "time_in_force": request.time_in_force.value}
    if request.qty is not None:
        body["qty"] = wire_decimal(request.qty)
    else:
        body["notional"] = wire_decimal(request.notional)
    oco = request.order_class is OrderClass.OCO
    # An OCO's limit price is its take-profit leg; Alpaca takes it there only.
    if request.limit_price is not None and not oco:
        body["limit_price"] = wire_decimal(request.limit_price)
    for name in ("stop_price", "trail_price", "trail_percent"):
        value = getattr(request, name)
        if value is not None:
            body[name] = wire_decimal(value)
    if request.extended_hours:
        body["extended_hours"] = True
    if request.client_order_id is not None:
        body["client_order_id"] = request.client_order_id
    if request.order_class is not OrderClass.SIMPLE:
        body["order_class"] = request.order_class.value
    if request.take_profit is not None:
        body["take_profit"] = {"limit_price": wire_decimal(request.take_profit.limit_price)}
    if request.stop_loss is not None:
        body["stop_loss"] = {"stop_price": wire_decimal(request.stop_loss.stop_price)}
        if request.stop_loss.limit_price is not None:
            body["stop_loss"]["limit_price"] = wire_decimal(request.stop_loss.limit_price)
    return body


def create_order(request: OrderRequest, symbol: str) -> HttpRequest:
    return HttpRequest("POST", "/v2/orders", json=order_body(request, symbol), is_order=True,
                       resource="instrument")


def _order_path(order_id: str) -> str:
    return f"/v2/orders/{quote(order_id, safe='')}"


def get_order(order_id: str) -> HttpRequest:
    return HttpRequest("GET", _order_path(order_id), params={"nested": "true"}, resource="order")


def get_order_by_client_id(client_order_id: str) -> HttpRequest:
    # The colon belongs to the path: it is Alpaca's custom-method syntax, not a port or a scheme.
    return HttpRequest("GET", "/v2/orders:by_client_order_id",
                       params={"client_order_id": client_order_id, "nested": "true"}, resource="order")


def list_orders(*, status: str = "open", limit: int = 50, after: datetime | None = None,
                until: datetime | None = None, direction: str = "desc", symbols_: Sequence[str] = (),
                side: Side | None = None, nested: bool = True) -> HttpRequest:
    params = {"status": status, "limit": str(max(1, min(limit, MAX_ORDERS_PAGE))), "direction": direction,
              "nested": "true" if nested else "false"}
    if after is not None:
        params["after"] = wire_time(after)
    if until is not None:
        params["until"] = wire_time(until)
    if symbols_:
        params["symbols"] = ",".join(symbols_)
    if side is not None:
        params["side"] = side.value
    return HttpRequest("GET", "/v2/orders", params=params)


def cancel_order(order_id: str) -> HttpRequest:
    """204 with no body on success; 422 when the order can no longer be cancelled."""
    return HttpRequest("DELETE", _order_path(order_id), resource="order")


def replace_order(order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None,
                  stop_price: Decimal | None = None, trail: Decimal | None = None,
                  time_in_force: TimeInForce | None = None, client_order_id: str | None = None) -> HttpRequest:
    body: dict[str, Any] = {}
    for name, value in (("qty", qty), ("limit_price", limit_price), ("stop_price", stop_price),
                        ("trail", trail)):
        if value is not None:
            body[name] = wire_decimal(value)
    if time_in_force is not None:
        body["time_in_force"] = time_in_force.value
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return HttpRequest("PATCH", _order_path(order_id), json=body, is_order=True, resource="order")


def list_assets(*, status: str | None = "active", asset_class: str | None = None,
                exchange: str | None = None) -> HttpRequest:
    params = {k: v for k, v in (("status", status), ("asset_class", asset_class), ("exchange", exchange))
              if v is not None}
    return HttpRequest("GET", "/v2/assets", params=params)


def get_asset(symbol: str) -> HttpRequest:
    return HttpRequest("GET", f"/v2/assets/{quote(symbols.compact(symbol), safe='')}", resource="instrument")


def get_clock() -> HttpRequest:
    return HttpRequest("GET", "/v2/clock")


def latest_stock_quotes(symbols_: Sequence[str], *, feed: str) -> HttpRequest:
    return HttpRequest("GET", "/v2/stocks/quotes/latest", api=DATA,
                       params={"symbols": ",".join(symbols_), "feed": feed}, resource="instrument")


def latest_stock_trades(symbols_: Sequence[str], *, feed: str) -> HttpRequest:
    return HttpRequest("GET", "/v2/stocks/trades/latest", api=DATA,
                       params={"symbols": ",".join(symbols_), "feed": feed}, resource="instrument")


def latest_crypto_quotes(symbols_: Sequence[str]) -> HttpRequest:
    return HttpRequest("GET", "/v1beta3/crypto/us/latest/quotes", api=DATA,
                       params={"symbols": ",".join(symbols_)}, resource="instrument")


def latest_crypto_trades(symbols_: Sequence[str]) -> HttpRequest:
    return HttpRequest("GET", "/v1beta3/crypto/us/latest/trades", api=DATA,
                       params={"symbols": ",".join(symbols_)}, resource="instrument")


def list_fill_activities(*, after: datetime | None = None, until: datetime | None = None,
                         direction: str = "desc", page_size: int = 100,
                         page_token: str | None = None) -> HttpRequest:
    params = {"activity_types": "FILL", "direction": direction, "page_size": str(page_size)}
    if after is not None:
        params["after"] = wire_time(after)
    if until is not None:
        params["until"] = wire_time(until)
    if page_token is not None:
        params["page_token"] = page_token
    return HttpRequest("GET", "/v2/account/activities", params=params)


# ------------------------------------------------------------------------------------- rate-limit headers


@frozen
class RateLimitInfo:
    """What the ``X-RateLimit-*`` headers said, with the reset turned into seconds from now."""

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(str(headers[name]).strip())
    except (KeyError, ValueError):
        return None


def server_now(headers: Mapping[str, str], fallback: float) -> float:
    """The server's clock from its ``Date`` header: resets are in the server's epoch seconds, and using its
    own clock keeps a skewed local clock out of the arithmetic."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return fallback


def parse_rate_limit(headers: Mapping[str, str], *, now: float) -> RateLimitInfo | None:
    """``None`` when the response carries none of the headers."""
    limit = _int_header(headers, "x-ratelimit-limit")
    remaining = _int_header(headers, "x-ratelimit-remaining")
    reset = _int_header(headers, "x-ratelimit-reset")
    if limit is None and remaining is None and reset is None:
        return None
    reset_after = None if reset is None else max(0.0, reset - server_now(headers, now))
    return RateLimitInfo(limit=limit, remaining=remaining, reset_after=reset_after)


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    explicit = _int_header(headers, "retry-after")
    if explicit is not None:
        return float(max(0, explicit))
    info = parse_rate_limit(headers, now=now)
    return info.reset_after if info else None


# ------------------------------------------------------------------------------------- responses, errors


def decode_json(body: bytes | str, *, broker: str = BROKER) -> Any:
    try:
        return parsing.json_loads(body)
    except ValueError:
        snippet = mask(body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else body[:120])
        raise ProtocolError(f"unreadable response (not JSON): {snippet!r}", broker=broker) from None


def _one_line(text: str) -> str:
    # An HTML error page from a proxy has newlines; an orch error is one line.
    return " ".join(text.split())


def _error_fields(body: bytes) -> tuple[int | None, str]:
    try:
        data = parsing.json_loads(body)
    except ValueError:
        return None, _one_line(mask(body[:200].decode("utf-8", "replace")))
    if isinstance(data, dict):
        code = data.get("code")
        message = data.get("message") or data.get("msg") or ""
        return (code if isinstance(code, int) else None), _one_line(str(message))
    return None, _one_line(str(data))[:200]


def _is_duplicate_client_id(message: str) -> bool:
    text = message.lower()
    return "client_order_id" in text and "unique" in text


class DuplicateClientOrderId(BrokerUnavailable):
    """Alpaca already has an order with this client order id. That is not a rejection: the order orch meant
    to send may be the one that exists, so it is reported as an unknown outcome, which makes the core look
    the id up instead of marking the order rejected or sending it again."""


def error_for(request: HttpRequest, response: HttpResponse, *, now: float, broker: str = BROKER) -> BrokerError:
    """The orch error for a non-2xx answer, keeping Alpaca's code and message."""
    status = response.status
    code, message = _error_fields(response.body)
    where = f"{request.method} {request.path}"
    common = {"broker": broker, "broker_code": code, "broker_message": message, "status": status}
    lowered = message.lower()
    if status == 401:
        return AuthError(f"Alpaca refused the API key ({message or 'unauthorized'})", **common,
                         hint="check api_key/secret_key; paper and live keys differ")
    if status == 403:
        if "insufficient buying power" in lowered or "insufficient qty" in lowered:
            return InsufficientFunds(message, **common)
        return PermissionDenied(f"forbidden: {message or where}", **common)
    if status == 404:
        if request.resource == "order":
            return OrderNotFound(f"no such order ({message or where})", **common)
        if request.resource == "instrument":
            return UnknownInstrument(f"unknown symbol ({message or where})", **common)
        return ProtocolError(f"{where} not found ({message or 'no message'}); is base_url right?", **common)
    if status == 429:
        return RateLimited(f"rate limited ({message or 'too many requests'})",
                           retry_after=retry_after(response.headers, now=now),
                           budget=DATA_BUDGET if request.api == DATA else None, **common)
    if status >= 500:
        return BrokerUnavailable(f"server error {status} on {where} ({message or 'no message'})", **common)
    if status in (400, 422) and request.is_order:
        if _is_duplicate_client_id(message):
            return DuplicateClientOrderId(f"an order with this client_order_id already exists ({message})",
                                          **common)
        return OrderRejected(message or f"order refused with HTTP {status}", **common)
    if status == 422 and request.method == "DELETE" and request.resource == "order":
        return OrderRejected(message or "order cannot be cancelled", **common)
    if status in (400, 422) and request.resource == "instrument":
        return UnknownInstrument(f"unknown or unusable symbol ({message or where})", **common)
    return ProtocolError(f"HTTP {status} on {where} ({message or 'no message'})", **common)


def handle_response(request: HttpRequest, response: HttpResponse, *, now: float, broker: str = BROKER) -> Any:
    """Decoded JSON of a successful answer; None for an empty body (204) or an allowed 404."""
    if 200 <= response.status < 300:
        if not response.body.strip():
            return None
        return decode_json(response.body, broker=broker)
    if response.status == 404 and request.none_on_404:
        return None
    raise error_for(request, response, now=now, broker=broker)


# ------------------------------------------------------------------------------------- parsing


def reading(what: str, *, broker: str = BROKER) -> AbstractContextManager[None]:
    return parsing.reading(what, title="Alpaca", broker=broker)


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        result = value
    else:
        result = datetime.fromisoformat(str(value))
    if result.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return result


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else to_decimal(value)


def _price(value: Any) -> Decimal | None:
    """Market data uses 0 for "no price" (an empty book side); orch says None."""
    result = _dec(value)
    return None if result is None or result == 0 else result


_WORKING = "working"
_STATUS = {
    "new": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    # The old order is finished once replaced; its successor carries on under a new id (replaced_by).
    "replaced": OrderStatus.CANCELED,
    # Received but not yet working at the venue.
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "pending_review": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    # Still alive; whether anything filled decides between NEW and PARTIALLY_FILLED.
    "done_for_day": _WORKING,
    "pending_replace": _WORKING,
    "stopped": _WORKING,
    "calculated": _WORKING,
}


def normalize_status(raw: str, *, filled_qty: Decimal, qty: Decimal | None) -> OrderStatus:
    """orch's status for Alpaca's. An unknown word is treated as open (ACCEPTED): the journal keeps asking
    about an open order, while a wrongly final one would be forgotten."""
    mapped = _STATUS.get(raw, OrderStatus.ACCEPTED)
    if mapped != _WORKING:
        return mapped
    if raw == "calculated" and qty is not None and filled_qty >= qty > 0:
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED if filled_qty > 0 else OrderStatus.NEW


def _order_class(raw: Any) -> OrderClass:
    try:
        return OrderClass(raw) if raw else OrderClass.SIMPLE
    except ValueError:
        return OrderClass.SIMPLE  # mleg and future classes: the legs still say what they hold


def _tif(raw: Any) -> TimeInForce | None:
    try:
        return TimeInForce(raw)
    except ValueError:
        return None


def parse_order(data: Mapping[str, Any], *, broker: str = BROKER, instrument: Instrument | None = None) -> Order:
    """An orch Order from Alpaca's order object (legs included). ``instrument`` (the one the user asked
    for) replaces the one rebuilt from the symbol, so a placed order compares equal to its request."""
    with reading("order", broker=broker):
        raw_status = str(data["status"])
        qty = _dec(data.get("qty"))
        filled = _dec(data.get("filled_qty")) or Decimal(0)
        legs = tuple(parse_order(leg, broker=broker) for leg in (data.get("legs") or ()))
        return Order(
            broker=broker,
            broker_order_id=str(data["id"]),
            client_order_id=data.get("client_order_id") or None,
            instrument=instrument or symbols.from_alpaca(data["symbol"], data.get("asset_class"), broker=broker),
            side=Side(data["side"]),
            type=OrderType(data.get("type") or data["order_type"]),
            status=normalize_status(raw_status, filled_qty=filled, qty=qty),
            raw_status=raw_status,
            qty=qty,
            notional=_dec(data.get("notional")),
            filled_qty=filled,
            avg_fill_price=_dec(data.get("filled_avg_price")),
            limit_price=_dec(data.get("limit_price")),
            stop_price=_dec(data.get("stop_price")),
            time_in_force=_tif(data.get("time_in_force")),
            order_class=_order_class(data.get("order_class")),
            created_at=parse_time(data.get("created_at") or data.get("submitted_at")),
            updated_at=parse_time(data.get("updated_at")),
            legs=legs,
        )


def parse_orders(data: Any, *, broker: str = BROKER) -> list[Order]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of orders, got {type(data).__name__}", broker=broker)
    return [parse_order(item, broker=broker) for item in data]


def parse_account(data: Mapping[str, Any], *, paper: bool, broker: str = BROKER) -> Account:
    with reading("account", broker=broker):
        raw = {k: str(v) for k, v in data.items() if isinstance(v, (str, int, Decimal, bool))}
        return Account(
            broker=broker,
            account_id=str(data.get("account_number") or data["id"]),
            currency=str(data.get("currency") or "USD"),
            cash=to_decimal(data["cash"]),
            equity=to_decimal(data["equity"]),
            buying_power=to_decimal(data["buying_power"]),
            status=str(data.get("status") or "ACTIVE"),
            paper=paper,
            raw=raw,
        )


def parse_position(data: Mapping[str, Any], *, broker: str = BROKER) -> Position:
    with reading("position", broker=broker):
        return Position(
            broker=broker,
            instrument=symbols.from_alpaca(data["symbol"], data.get("asset_class"), broker=broker),
            qty=to_decimal(data["qty"]),
            avg_price=_dec(data.get("avg_entry_price")),
            market_value=_dec(data.get("market_value")),
            unrealized_pl=_dec(data.get("unrealized_pl")),
        )


def parse_positions(data: Any, *, broker: str = BROKER) -> list[Position]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of positions, got {type(data).__name__}", broker=broker)
    return [parse_position(item, broker=broker) for item in data]


def quote_from_record(record: Mapping[str, Any], instrument: Instrument, *, broker: str = BROKER,
                      delayed: bool = False, last: Decimal | None = None) -> Quote:
    """A Quote from Alpaca's compact quote record (``bp``, ``bs``, ``ap``, ``as``, ``t``), REST or stream."""
    with reading("quote", broker=broker):
        return Quote(broker=broker, instrument=instrument, timestamp=parse_time(record["t"]),
                     bid=_price(record.get("bp")), ask=_price(record.get("ap")),
                     bid_size=_dec(record.get("bs")), ask_size=_dec(record.get("as")), last=last,
                     delayed=delayed)


def _latest(data: Any, key: str, symbol: str, *, broker: str) -> Mapping[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise ProtocolError(f"expected {{{key!r}: {{symbol: …}}}} in the latest-{key} answer", broker=broker)
    record = data[key].get(symbol)
    if not isinstance(record, dict):
        raise UnknownInstrument(f"no market data for {symbol!r}", broker=broker)
    return record


def parse_latest_quote(data: Any, symbol: str, instrument: Instrument, *, broker: str = BROKER,
                       delayed: bool = False) -> Quote:
    """From ``{"quotes": {"AAPL": {…}}}`` (stocks and crypto alike). A symbol missing from the answer is
    one Alpaca has no data for."""
    return quote_from_record(_latest(data, "quotes", symbol, broker=broker), instrument, broker=broker,
                             delayed=delayed)


def parse_latest_trade_price(data: Any, symbol: str, *,
                             broker: str = BROKER) -> tuple[Decimal | None, datetime | None]:
    """(price, time) of the last trade from ``{"trades": {"AAPL": {"p": …, "t": …}}}``."""
    record = _latest(data, "trades", symbol, broker=broker)
    with reading("trade", broker=broker):
        return _price(record.get("p")), parse_time(record.get("t"))


@frozen
class Clock:
    timestamp: datetime
    is_open: bool
    next_open: datetime | None
    next_close: datetime | None


def parse_clock(data: Mapping[str, Any], *, broker: str = BROKER) -> Clock:
    with reading("clock", broker=broker):
        return Clock(timestamp=parse_time(data["timestamp"]), is_open=bool(data["is_open"]),
                     next_open=parse_time(data.get("next_open")), next_close=parse_time(data.get("next_close")))


@frozen
class Asset:
    """What orch uses of Alpaca's asset object (note: the JSON key is ``class``, not ``asset_class``)."""

    symbol: str
    asset_class: str
    exchange: str
    status: str
    tradable: bool
    fractionable: bool
    shortable: bool
    marginable: bool
    min_order_size: Decimal | None = None
    min_trade_increment: Decimal | None = None
    price_increment: Decimal | None = None


def parse_asset(data: Mapping[str, Any], *, broker: str = BROKER) -> Asset:
    with reading("asset", broker=broker):
        return Asset(symbol=str(data["symbol"]), asset_class=str(data.get("class") or data.get("asset_class")),
                     exchange=str(data.get("exchange") or ""), status=str(data.get("status") or ""),
                     tradable=bool(data.get("tradable")), fractionable=bool(data.get("fractionable")),
                     shortable=bool(data.get("shortable")), marginable=bool(data.get("marginable")),
                     min_order_size=_dec(data.get("min_order_size")),
                     min_trade_increment=_dec(data.get("min_trade_increment")),
                     price_increment=_dec(data.get("price_increment")))


def parse_fill_activity(data: Mapping[str, Any], *, broker: str = BROKER) -> Fill:
    """A Fill from one ``activity_type: FILL`` account activity. Activities carry no asset class: a pair
    with a slash is crypto, anything else is read as a stock (callers holding the instrument pass it on)."""
    with reading("fill activity", broker=broker):
        return Fill(broker=broker, broker_order_id=str(data["order_id"]), fill_id=str(data["id"]),
                    instrument=symbols.from_alpaca(str(data["symbol"]), broker=broker),
                    side=Side(_activity_side(data["side"])), qty=to_decimal(data["qty"]),
                    price=to_decimal(data["price"]), timestamp=parse_time(data["transaction_time"]))


def _activity_side(raw: str) -> str:
    # Activities report a short sale as "sell_short".
    return "sell" if raw.startswith("sell") else raw


def parse_fill_activities(data: Any, *, broker: str = BROKER) -> list[Fill]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of activities, got {type(data).__name__}", broker=broker)
    return [parse_fill_activity(item, broker=broker) for item in data
            if isinstance(item, dict) and item.get("activity_type", "FILL") == "FILL"]
