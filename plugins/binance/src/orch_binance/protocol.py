"""Binance Spot REST without I/O: requests as values (with their security type and request weight),
signing onto the wire, responses into orch models, Binance error codes onto orch errors.

:mod:`orch_binance.transport` sends what :func:`prepare` produces and hands back an :class:`HttpResponse`;
:func:`handle_response` turns it into data or one of orch's errors, keeping Binance's code and message.
JSON is decoded with ``parse_float=Decimal``; Binance sends decimals as strings anyway.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
from attrs import field, frozen

from orch import parsing
from orch.errors import (AuthError, BrokerError, BrokerUnavailable, ConfigError, InsufficientFunds,
                         OrderNotFound, OrderRejected, PermissionDenied, ProtocolError, RateLimited,
                         UnknownInstrument)
from orch.models import (Account, Balance, Fill, Instrument, Market, Order, OrderClass, OrderStatus, OrderType,
                         Position, Quote, Side, TimeInForce, to_decimal)
from orch.secret import REDACTED, Secret, mask

from orch_binance import signing

BROKER = "binance"
KEY_HEADER = "X-MBX-APIKEY"

NONE = "NONE"          # public
SIGNED = "SIGNED"      # TRADE / USER_DATA: key header + timestamp + signature
KEY_ONLY = "KEY"       # USER_STREAM (legacy)

STABLES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI")


# ------------------------------------------------------------------------------------- values on the wire


@frozen
class Credentials:
    api_key: Secret
    secret_key: Secret


def reveal_credentials(credentials: Credentials, *, broker: str = BROKER) -> tuple[str, str]:
    values = []
    for name, secret in (("api_key", credentials.api_key), ("secret_key", credentials.secret_key)):
        if not secret.is_set:
            raise ConfigError("is not set", path=f"brokers.{broker}.{name}",
                              hint=f"put it in the config or the environment ({secret.source})")
        values.append(secret.reveal())
    return values[0], values[1]


# The limiter rules Binance's order counts are kept in (see orch_binance.transport).
ORDERS_10S_RULE, ORDERS_1D_RULE = "orders-10s", "orders-1d"


@frozen
class HttpRequest:
    """One REST call. ``weight`` is Binance's request weight (charged to the limiter before sending);
    ``is_order`` counts toward the order-rate limits; ``resource`` says what -2013/-2011 "unknown" means;
    ``in_body``: POST parameters go in a form body (else everything rides in the query string)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    security: str = NONE
    weight: int = 1
    is_order: bool = False
    is_cancel: bool = False
    resource: str | None = None
    in_body: bool = True


@frozen
class WireRequest:
    """What goes out: ``query`` and ``body`` are the exact encoded strings that were signed."""

    method: str
    path: str
    query: str = ""
    body: str = ""
    headers: Mapping[str, str] = field(factory=dict, hash=False,
                                       repr=lambda h: repr({k: REDACTED if k == KEY_HEADER else v
                                                            for k, v in h.items()}))

    def url(self, base: str) -> str:
        return f"{base}{self.path}?{self.query}" if self.query else f"{base}{self.path}"


@frozen
class HttpResponse:
    """``headers`` keys are lower case."""

    status: int
    headers: Mapping[str, str] = field(factory=dict, hash=False)
    body: bytes = b""


def prepare(request: HttpRequest, credentials: Credentials | None = None, *, timestamp_ms: int | None = None,
            recv_window: int = 5000, broker: str = BROKER) -> WireRequest:
    """Encode, and for SIGNED requests add ``recvWindow``, ``timestamp`` and the ``signature`` of exactly
    the query + body that will be sent. The secret is revealed here and nowhere else."""
    params = list(request.params)
    headers = {"Accept": "application/json"}
    if request.security in (SIGNED, KEY_ONLY):
        if credentials is None:
            raise ConfigError("a signed request needs credentials", path=f"brokers.{broker}.api_key")
        api_key, secret = reveal_credentials(credentials, broker=broker)
        headers[KEY_HEADER] = api_key
    if request.security == SIGNED:
        if timestamp_ms is None:
            raise ValueError("a SIGNED request needs timestamp_ms")
        params += [("recvWindow", str(recv_window)), ("timestamp", str(timestamp_ms))]
    encoded = signing.encode(params)
    query, body = encoded, ""
    if request.method in ("POST", "PUT") and request.in_body and encoded:
        query, body = "", encoded
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if request.security == SIGNED:
        sig = signing.signature(secret, query, body)
        if body:
            body = f"{body}&signature={sig}"
        else:
            query = f"{query}&signature={sig}" if query else f"signature={sig}"
    return WireRequest(request.method, request.path, query, body, headers)


def wire_decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _params(**values: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Decimal):
            value = wire_decimal(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append((key, str(value)))
    return tuple(out)


# ------------------------------------------------------------------------------------- request builders


def server_time() -> HttpRequest:
    return HttpRequest("GET", "/api/v3/time")


def ping() -> HttpRequest:
    return HttpRequest("GET", "/api/v3/ping")


def exchange_info(symbols: Sequence[str] = ()) -> HttpRequest:
    if len(symbols) == 1:
        return HttpRequest("GET", "/api/v3/exchangeInfo", _params(symbol=symbols[0]), weight=20)
    if symbols:
        listed = "[" + ",".join(f'"{s}"' for s in symbols) + "]"
        return HttpRequest("GET", "/api/v3/exchangeInfo", (("symbols", listed),), weight=20)
    return HttpRequest("GET", "/api/v3/exchangeInfo", weight=20)


def ticker_price(symbol: str) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/ticker/price", _params(symbol=symbol), weight=2, resource="instrument")


def book_ticker(symbol: str) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/ticker/bookTicker", _params(symbol=symbol), weight=2,
                       resource="instrument")


def ticker_24hr(symbol: str) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/ticker/24hr", _params(symbol=symbol), weight=2, resource="instrument")


def account(omit_zero_balances: bool = True) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/account", _params(omitZeroBalances=omit_zero_balances), SIGNED,
                       weight=20)


def new_order(params: Sequence[tuple[str, str]]) -> HttpRequest:
    return HttpRequest("POST", "/api/v3/order", tuple(params), SIGNED, weight=1, is_order=True,
                       resource="instrument")


def new_oco(params: Sequence[tuple[str, str]]) -> HttpRequest:
    return HttpRequest("POST", "/api/v3/orderList/oco", tuple(params), SIGNED, weight=1, is_order=True,
                       resource="instrument")


def query_order(symbol: str, *, order_id: str | None = None, client_order_id: str | None = None) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/order",
                       _params(symbol=symbol, orderId=order_id, origClientOrderId=client_order_id), SIGNED,
                       weight=4, resource="order")


def cancel_order(symbol: str, *, order_id: str | None = None, client_order_id: str | None = None) -> HttpRequest:
    return HttpRequest("DELETE", "/api/v3/order",
                       _params(symbol=symbol, orderId=order_id, origClientOrderId=client_order_id), SIGNED,
                       weight=1, is_cancel=True, resource="order")


def open_orders(symbol: str | None = None) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/openOrders", _params(symbol=symbol), SIGNED,
                       weight=6 if symbol else 80)


def all_orders(symbol: str, *, start_time: int | None = None, limit: int = 500) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/allOrders",
                       _params(symbol=symbol, startTime=start_time, limit=max(1, min(limit, 1000))), SIGNED,
                       weight=20, resource="instrument")


def my_trades(symbol: str, *, order_id: str | None = None, start_time: int | None = None,
              limit: int = 1000) -> HttpRequest:
    return HttpRequest("GET", "/api/v3/myTrades",
                       _params(symbol=symbol, orderId=order_id, startTime=start_time, limit=limit), SIGNED,
                       weight=5 if order_id else 20, resource="instrument")


# ------------------------------------------------------------------------------------- usage headers


@frozen
class Usage:
    """``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-*`` of one response (None where absent)."""

    weight_1m: int | None = None
    orders_10s: int | None = None
    orders_1d: int | None = None
    retry_after: float | None = None


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(str(headers[name]).strip())
    except (KeyError, ValueError):
        return None


def parse_usage(headers: Mapping[str, str]) -> Usage:
    weight = _int(headers, "x-mbx-used-weight-1m")
    if weight is None:
        weight = _int(headers, "x-mbx-used-weight")
    retry = _int(headers, "retry-after")
    return Usage(weight_1m=weight, orders_10s=_int(headers, "x-mbx-order-count-10s"),
                 orders_1d=_int(headers, "x-mbx-order-count-1d"),
                 retry_after=None if retry is None else float(max(0, retry)))


# ------------------------------------------------------------------------------------- errors


def decode_json(body: bytes | str, *, broker: str = BROKER) -> Any:
    try:
        return parsing.json_loads(body)
    except ValueError:
        raw = body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else body[:120]
        raise ProtocolError(f"unreadable response (not JSON): {mask(raw)!r}", broker=broker) from None


def _one_line(text: str) -> str:
    # An HTML error page from a proxy has newlines; an orch error is one line.
    return " ".join(text.split())


def error_fields(body: bytes) -> tuple[int | None, str]:
    try:
        data = parsing.json_loads(body)
    except ValueError:
        return None, _one_line(mask(body[:200].decode("utf-8", "replace")))
    if isinstance(data, dict):
        code = data.get("code")
        return (code if isinstance(code, int) else None), _one_line(str(data.get("msg") or data.get("message") or ""))
    return None, _one_line(str(data))[:200]


class ClockSkew(BrokerError):
    """-1021: the timestamp fell outside recvWindow. Binance refused before processing, so the transport
    resynchronises its clock and sends once more."""


class DuplicateClientOrderId(BrokerUnavailable):
    """-2010 "Duplicate order sent.": an order with this newClientOrderId is open. Not a rejection of the
    order orch meant: it may be the very one that exists, so the core looks the id up."""


_YEAR_10000 = 253402300800.0
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")
_FILTER = re.compile(r"Filter failure: ([A-Z_]+)")


def ban_until_epoch(message: str) -> float | None:
    """Epoch seconds from "IP banned until 1700000000000." (ms), if the message says."""
    found = _BANNED_UNTIL.search(message)
    if not found:
        return None
    until = int(found.group(1)) / 1000
    # Past year 9999 the time cannot be shown (or trusted): the ban is then of unknown length.
    return until if until < _YEAR_10000 else None


def error_for(request: HttpRequest, response: HttpResponse, *, broker: str = BROKER,
              now_epoch: float | None = None) -> BrokerError:
    """The orch error for a non-2xx answer, keeping Binance's code and message."""
    status = response.status
    code, message = error_fields(response.body)
    common = {"broker": broker, "broker_code": code, "broker_message": message, "status": status}
    where = f"{request.method} {request.path}"
    usage = parse_usage(response.headers)
    lowered = message.lower()
    if status == 418:
        retry = usage.retry_after
        until = ban_until_epoch(message)
        if retry is None and until is not None and now_epoch is not None:
            retry = max(0.0, until - now_epoch)
        when = (datetime.fromtimestamp(until, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if until
                else f"{retry:.0f}s from now" if retry is not None else "an unknown time")
        return RateLimited(f"IP banned by Binance (HTTP 418) until {when}; orch sends nothing to Binance until "
                           "then", retry_after=retry, banned_until=None, **common)
    if status == 429 or code in (-1003, -1015):
        # -1015 is the order count (its own windows): waiting it out must not hold back quotes.
        window = None
        if code == -1015:
            window = ORDERS_1D_RULE if "DAY" in message.upper() else ORDERS_10S_RULE
        return RateLimited(f"rate limited ({message or 'too many requests'})", retry_after=usage.retry_after,
                           budget=window, **common)
    if status >= 500 or code in (-1000, -1001, -1006, -1007):
        return BrokerUnavailable(f"server error {status} on {where} ({message or 'no message'}); "
                                 "the outcome is unknown", **common)
    if code == -1021:
        return ClockSkew(f"clock skew: {message}", **common)
    if code in (-1022, -2014, -2015) or status == 401:
        return AuthError(f"Binance refused the API key or signature ({message})", **common,
                         hint="check api_key/secret_key; testnet and live keys differ")
    if status == 403:
        return PermissionDenied(f"forbidden (WAF) on {where}: {message}", **common)
    if code == -1121:
        return UnknownInstrument(f"unknown symbol ({message})", **common)
    if code == -2013 or (code == -2011 and "unknown order" in lowered):
        return OrderNotFound(f"no such order ({message})", **common)
    if code == -2011:
        return OrderRejected(f"cancel refused: {message}", **common)
    if request.is_order:
        if code == -2010 and "duplicate order" in lowered:
            return DuplicateClientOrderId(f"an order with this client order id is already open ({message})",
                                          **common)
        if code == -2010 and "insufficient balance" in lowered:
            return InsufficientFunds(message, **common)
        found = _FILTER.search(message)
        if found:
            return OrderRejected(f"{message} (the {found.group(1)} filter)", **common)
        if 400 <= status < 500:
            return OrderRejected(message or f"order refused with HTTP {status}", **common)
    return ProtocolError(f"HTTP {status} on {where}: {message or 'no message'}", **common)


def handle_response(request: HttpRequest, response: HttpResponse, *, broker: str = BROKER,
                    now_epoch: float | None = None) -> Any:
    if 200 <= response.status < 300:
        return decode_json(response.body, broker=broker) if response.body.strip() else None
    raise error_for(request, response, broker=broker, now_epoch=now_epoch)


# ------------------------------------------------------------------------------------- parsing


def reading(what: str, *, broker: str = BROKER) -> AbstractContextManager[None]:
    return parsing.reading(what, title="Binance", broker=broker)


def ms_time(value: Any) -> datetime | None:
    if value in (None, "", -1):
        return None
    number = parsing.integer(value)
    if number > 10 ** 14:  # microseconds (X-MBX-TIME-UNIT: MICROSECOND)
        number //= 1000
    # fromtimestamp raises OSError (not ValueError) for some values out of the platform's range.
    if not 0 <= number < _YEAR_10000 * 1000:
        raise ValueError(f"timestamp out of range: {number}")
    return datetime.fromtimestamp(number / 1000, timezone.utc)


def tidy(value: Decimal) -> Decimal:
    """Binance pads to 8 places ("0.01000000"); the same value without the padding or an exponent."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else tidy(to_decimal(value))


def _positive(value: Any) -> Decimal | None:
    result = _dec(value)
    return None if result is None or result == 0 else result


STATUS = {
    "NEW": OrderStatus.NEW, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED, "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED, "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED, "EXPIRED": OrderStatus.EXPIRED, "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "PENDING_NEW": OrderStatus.ACCEPTED,
}

TYPES = {
    "MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT, "LIMIT_MAKER": OrderType.LIMIT,
    "STOP_LOSS": OrderType.STOP, "TAKE_PROFIT": OrderType.STOP,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT, "TAKE_PROFIT_LIMIT": OrderType.STOP_LIMIT,
}

TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}


def instrument_for(symbol: str, quote_asset: str | None = None) -> Instrument:
    """An orch instrument for a Binance symbol; the quote asset is the currency when known."""
    currency = quote_asset
    if currency is None:
        currency = next((q for q in (*STABLES, "BTC", "ETH", "BNB", "EUR", "TRY") if symbol.endswith(q)
                         and len(symbol) > len(q)), "USDT")
    return Instrument(symbol, Market.CRYPTO, currency=currency)


def parse_order(data: Mapping[str, Any], *, broker: str = BROKER, instrument: Instrument | None = None,
                order_class: OrderClass = OrderClass.SIMPLE, legs: tuple[Order, ...] = ()) -> Order:
    """An orch Order from a Binance order (new-order RESULT/FULL, query, open orders, cancel)."""
    with reading("order", broker=broker):
        raw_status = str(data.get("status") or "NEW")
        raw_type = str(data.get("type") or "LIMIT")
        executed = _dec(data.get("executedQty")) or Decimal(0)
        quote_filled = _dec(data.get("cummulativeQuoteQty")) or Decimal(0)
        qty = _positive(data.get("origQty"))
        notional = _positive(data.get("origQuoteOrderQty"))
        if qty is None and notional is None:
            qty = executed or None
        if qty is not None and notional is not None:
            notional = None
        if qty is None and notional is None:
            raise ValueError("order has neither origQty nor origQuoteOrderQty")
        avg = tidy(quote_filled / executed) if executed > 0 and quote_filled > 0 else None
        created = ms_time(data.get("time") or data.get("transactTime") or data.get("workingTime"))
        updated = ms_time(data.get("updateTime") or data.get("transactTime"))
        # A cancel answer carries the cancel's own id in clientOrderId and the order's in origClientOrderId.
        coid = data.get("origClientOrderId") or data.get("clientOrderId") or None
        return Order(
            broker=broker, broker_order_id=str(data["orderId"]), client_order_id=coid,
            instrument=instrument or instrument_for(str(data["symbol"])), side=Side(str(data["side"]).lower()),
            type=TYPES[raw_type], status=STATUS.get(raw_status, OrderStatus.ACCEPTED), raw_status=raw_status,
            qty=qty, notional=notional, filled_qty=executed, avg_fill_price=avg,
            limit_price=_positive(data.get("price")) if raw_type not in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
            else None,
            stop_price=_positive(data.get("stopPrice")), time_in_force=TIFS.get(str(data.get("timeInForce"))),
            order_class=order_class, created_at=created, updated_at=updated, legs=legs,
            reject_reason=data.get("rejectReason") if raw_status == "REJECTED" else None)


def parse_orders(data: Any, *, broker: str = BROKER, instruments: Mapping[str, Instrument] | None = None
                 ) -> list[Order]:
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of orders, got {type(data).__name__}", broker=broker)
    instruments = instruments or {}
    out = []
    for item in data:
        symbol = item.get("symbol") if isinstance(item, dict) else None
        out.append(parse_order(item, broker=broker,
                               instrument=instruments.get(symbol) if isinstance(symbol, str) else None))
    return out


def parse_order_list(data: Mapping[str, Any], *, broker: str = BROKER,
                     instrument: Instrument | None = None) -> Order:
    """An OCO order list: the first report is the order, the other its leg (order_class OCO)."""
    with reading("order list", broker=broker):
        reports = list(data["orderReports"])
        orders = [parse_order(r, broker=broker, instrument=instrument, order_class=OrderClass.OCO)
                  for r in reports]
        if not orders:
            raise ValueError("order list without orderReports")
        return attrs.evolve(orders[0], legs=tuple(orders[1:]))


def parse_account(data: Mapping[str, Any], *, testnet: bool, home: str = "USDT", broker: str = BROKER) -> Account:
    """Spot balances; ``cash`` and ``buying_power`` are the free ``home`` asset (the first configured quote
    asset), ``equity`` the total of stablecoins (crypto holdings are not priced here)."""
    with reading("account", broker=broker):
        balances = tuple(Balance(asset=str(b["asset"]), free=_dec(b["free"]), locked=_dec(b["locked"]))
                         for b in data.get("balances") or ())
        free_home = sum((b.free for b in balances if b.asset == home), Decimal(0))
        stables = sum((b.total for b in balances if b.asset in STABLES), Decimal(0))
        raw = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()
               if isinstance(v, (str, int, bool, Decimal))}
        if isinstance(data.get("permissions"), list):
            raw["permissions"] = ",".join(str(p) for p in data["permissions"])
        status = "ACTIVE" if data.get("canTrade", True) else "TRADING_DISABLED"
        return Account(broker=broker, account_id=str(data.get("uid") or data.get("accountType") or "SPOT"),
                       currency=home, cash=free_home, equity=stables, buying_power=free_home, status=status,
                       paper=testnet, balances=balances, raw=raw)


def positions_from_account(account_: Account, *, home: str = "USDT", broker: str = BROKER) -> list[Position]:
    """Spot has no positions: each non-cash asset held is shown as a position in ``<ASSET><home>``."""
    cash = set(STABLES) | {home, "EUR", "USD", "GBP", "TRY", "BRL"}
    return [Position(broker=broker, instrument=Instrument(f"{b.asset}{home}", Market.CRYPTO, currency=home),
                     qty=b.total, currency=home)
            for b in account_.balances if b.asset not in cash and b.total != 0]


def parse_trades(data: Any, instrument: Instrument, *, broker: str = BROKER) -> list[Fill]:
    """myTrades → Fills (fee and fee asset included)."""
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of trades, got {type(data).__name__}", broker=broker)
    fills = []
    with reading("trade", broker=broker):
        for t in data:
            fills.append(Fill(broker=broker, broker_order_id=str(t["orderId"]), fill_id=str(t["id"]),
                              instrument=instrument, side=Side.BUY if t["isBuyer"] else Side.SELL,
                              qty=_dec(t["qty"]), price=_dec(t["price"]), timestamp=ms_time(t["time"]),
                              fee=_dec(t.get("commission") or "0"), fee_currency=t.get("commissionAsset")))
    return fills


def parse_quote(book: Mapping[str, Any], last: Mapping[str, Any] | None, instrument: Instrument, *,
                now: datetime, broker: str = BROKER) -> Quote:
    """bookTicker (+ ticker/price for ``last``). Binance's REST tickers carry no time: ``now`` is the
    receipt time."""
    with reading("bookTicker", broker=broker):
        return Quote(broker=broker, instrument=instrument, timestamp=now, bid=_positive(book.get("bidPrice")),
                     ask=_positive(book.get("askPrice")), bid_size=_dec(book.get("bidQty")),
                     ask_size=_dec(book.get("askQty")),
                     last=_positive(last.get("price")) if last else None)


def parse_ticker_24hr(data: Mapping[str, Any], instrument: Instrument, *, broker: str = BROKER) -> Quote:
    """``ticker/24hr`` for one symbol: bid/ask with sizes, the last price, and ``closeTime`` (the
    server's time of the latest statistics) as the quote's time."""
    with reading("24hr ticker", broker=broker):
        return Quote(broker=broker, instrument=instrument, timestamp=ms_time(data["closeTime"]),
                     bid=_positive(data.get("bidPrice")), ask=_positive(data.get("askPrice")),
                     bid_size=_dec(data.get("bidQty")), ask_size=_dec(data.get("askQty")),
                     last=_positive(data.get("lastPrice")))


def parse_price(data: Mapping[str, Any], *, broker: str = BROKER) -> Decimal:
    """``ticker/price`` for one symbol: ``{"symbol": "BTCUSDT", "price": "65000.01"}``."""
    with reading("ticker price", broker=broker):
        return to_decimal(data["price"])
