"""DEGIRO's web-trader protocol without I/O: requests as values, responses into orch models and errors.

Nothing here awaits or touches a socket; :mod:`orch_degiro.transport` sends what these functions build.
Facts and their certainty are in /work/shared/protocols/degiro-xtb-trade-republic.md (section 1); what is
only inferred there is marked ``[U]`` here too.

Session ids are credentials: :func:`session_params` and :func:`session_path` are the only places one is
put on the wire, and :class:`HttpRequest` never shows it in its repr. Prices and sizes go out as JSON
numbers written from Decimals (:func:`dumps`), never through a float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from attrs import field, frozen

from orch import parsing
from orch.errors import (AuthError, BrokerError, BrokerUnavailable, InsufficientFunds, OrchError,
                         OrderNotFound, OrderRejected, PermissionDenied, ProtocolError, RateLimited,
                         UnknownInstrument)
from orch.models import (Instrument, Order, OrderRequest, OrderStatus, OrderType, Position, Side,
                         TimeInForce, to_decimal)
from orch.secret import mask

BROKER = "degiro"

# The web trader refuses clients that do not look like a browser (HTML page or 400/429 since Dec 2022).
BROWSER_HEADERS: Mapping[str, str] = {
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-GB,en;q=0.9",
    "Content-Type": "application/json;charset=UTF-8",
    "Origin": "https://trader.degiro.nl",
    "Referer": "https://trader.degiro.nl/trader",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/124.0.0.0 Safari/537.36"),
}

# orderType and timeType codes of the order JSON.
ORDER_TYPE_CODES = {OrderType.LIMIT: 0, OrderType.STOP_LIMIT: 1, OrderType.MARKET: 2, OrderType.STOP: 3}
ORDER_TYPES_BY_CODE = {code: kind for kind, code in ORDER_TYPE_CODES.items()}
TIME_TYPE_CODES = {TimeInForce.DAY: 1, TimeInForce.GTC: 3}
TIME_TYPES_BY_CODE = {code: tif for tif, code in TIME_TYPE_CODES.items()}
_ORDER_TYPE_WORDS = {"LIMIT": OrderType.LIMIT, "STOPLIMIT": OrderType.STOP_LIMIT, "STOP_LIMIT": OrderType.STOP_LIMIT,
                     "MARKET": OrderType.MARKET, "STOPLOSS": OrderType.STOP, "STOP_LOSS": OrderType.STOP}
_TIME_WORDS = {"DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC, "PERMANENT": TimeInForce.GTC}

# Login statuses (section 1.3).
LOGIN_OK, LOGIN_BAD_CREDENTIALS, LOGIN_BLOCKED, LOGIN_TOTP, LOGIN_SMS, LOGIN_JOINT, LOGIN_IN_APP = 0, 3, 4, 6, 7, 10, 12

# vwd dates and times are the exchange's wall clock as the web trader shows it [U]: Amsterdam time.
VWD_ZONE = ZoneInfo("Europe/Amsterdam")
QUOTE_METRICS = ("BidPrice", "AskPrice", "LastPrice", "BidVolume", "AskVolume", "LastDate", "LastTime")


# ------------------------------------------------------------------------------------- values on the wire


@frozen
class HttpRequest:
    """One call. ``url`` is absolute and carries no session; ``session`` says how the session goes along
    (``"trading"``: ``;jsessionid=`` path parameter plus the query parameters, ``"query"``: query only,
    ``"cookie"``: the JSESSIONID cookie, None: not at all). ``resource`` says what a 404 means."""

    method: str
    url: str
    params: Mapping[str, str] = field(factory=dict, hash=False)
    body: bytes | None = field(default=None, repr=lambda b: "<body>" if b else "None")
    session: str | None = None
    is_order: bool = False
    resource: str | None = None


@frozen
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(factory=dict, hash=False)
    body: bytes = b""


def _number(value: Decimal | int) -> str:
    text = format(to_decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def dumps(data: Any) -> bytes:
    """JSON with Decimals written as plain numbers (``10``, ``12.5``): DEGIRO wants numbers, and a float
    would already have lost the exact value."""

    def encode(value: Any) -> str:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, (Decimal, int)):
            return _number(value)
        if isinstance(value, Mapping):
            return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ",".join(encode(v) for v in value) + "]"
        raise TypeError(f"cannot encode {type(value).__name__}")

    return encode(data).encode()


def loads(body: bytes) -> Any:
    """JSON with exact, bounded decimals; ValueError for anything unreadable (callers catch only that)."""
    return parsing.json_loads(body) if body else None


def reading(what: str, *, broker: str = BROKER) -> AbstractContextManager[None]:
    return parsing.reading(what, title="DEGIRO", broker=broker)


def with_session(request: HttpRequest, session_id: str, int_account: int | None) -> tuple[str, dict[str, str],
                                                                                          dict[str, str]]:
    """(url, params, cookies) for ``request`` carrying ``session_id`` the way its endpoint expects."""
    params = dict(request.params)
    cookies: dict[str, str] = {}
    url = request.url
    if request.session == "trading":
        url = f"{url};jsessionid={session_id}"
    if request.session in ("trading", "query"):
        if int_account is not None:
            params["intAccount"] = str(int_account)
        params["sessionId"] = session_id
    elif request.session == "cookie":
        cookies["JSESSIONID"] = session_id
    return url, params, cookies


# ------------------------------------------------------------------------------------- login


def login_body(username: str, password: str, *, one_time_password: str | None = None,
               in_app_token: str | None = None) -> bytes:
    body: dict[str, Any] = {"username": username, "password": password, "isPassCodeReset": False,
                            "isRedirectToMobile": False, "queryParams": {}}
    if one_time_password is not None:
        body["oneTimePassword"] = one_time_password
    if in_app_token is not None:
        body["inAppToken"] = in_app_token
    return dumps(body)


def login_request(base_url: str, body: bytes, step: str = "") -> HttpRequest:
    """``step`` is ``""`` (password), ``"totp"`` or ``"in-app"``."""
    path = "/login/secure/login" + (f"/{step}" if step else "")
    return HttpRequest("POST", base_url.rstrip("/") + path, body=body)


@frozen
class LoginAnswer:
    """What a login call said. ``session_id`` only with status 0; ``in_app_token`` with status 12."""

    status: int
    status_text: str = ""
    session_id: str | None = field(default=None, repr=False)
    in_app_token: str | None = field(default=None, repr=False)
    captcha_required: bool = False
    login_failures: int | None = None


def parse_login(response: HttpResponse, *, broker: str = BROKER) -> LoginAnswer:
    """The login answer; raises only for what is not a login status at all (maintenance, 5xx, HTML)."""
    if response.status == 405:
        raise BrokerUnavailable("DEGIRO is in scheduled maintenance (login answered 405)", broker=broker,
                                status=405, hint="try again later")
    if response.status == 429:
        raise RateLimited("too many login attempts", broker=broker, status=429,
                          retry_after=retry_after(response.headers))
    if response.status >= 500:
        raise BrokerUnavailable(f"login failed with HTTP {response.status}", broker=broker, status=response.status)
    try:
        data = loads(response.body)
    except ValueError:
        data = None
    if not isinstance(data, Mapping) or "status" not in data:
        raise ProtocolError(f"login answered HTTP {response.status} without a login status "
                            "(an HTML page means the web trader did not take us for a browser)",
                            broker=broker, status=response.status)
    try:
        status = int(data["status"])
    except (TypeError, ValueError):
        raise ProtocolError(f"login status {data['status']!r} is not a number", broker=broker) from None
    return LoginAnswer(status=status, status_text=str(data.get("statusText") or ""),
                       session_id=data.get("sessionId") or None, in_app_token=data.get("inAppToken") or None,
                       captcha_required=data.get("captchaRequired") is True,
                       login_failures=data.get("loginFailures"))


def login_error(answer: LoginAnswer, *, broker: str = BROKER) -> OrchError:
    """The error for a login status that ends the attempt."""
    code = answer.status
    if answer.captcha_required:
        return AuthError("DEGIRO asks for a captcha after failed logins", broker=broker, broker_code=code,
                         broker_message=answer.status_text,
                         hint="log in once through the browser to solve it; orch will not retry")
    if code == LOGIN_BAD_CREDENTIALS:
        failures = f" ({answer.login_failures} failed attempts)" if answer.login_failures else ""
        return AuthError(f"DEGIRO refused the username or password{failures}", broker=broker,
                         broker_code=code, broker_message=answer.status_text or "badCredentials",
                         hint="check brokers.degiro.username/password; repeated failures lock the account")
    if code == LOGIN_BLOCKED:
        return PermissionDenied("DEGIRO says the account is blocked", broker=broker, broker_code=code,
                                broker_message=answer.status_text)
    if code == LOGIN_TOTP:
        return AuthError("DEGIRO wants a one-time code (2FA is on) and none is available", broker=broker,
                         broker_code=code, broker_message=answer.status_text or "totpNeeded",
                         hint="set mfa = true and totp_secret (ORCH_DEGIRO_TOTP_SECRET), or run interactively")
    if code == LOGIN_SMS:
        return AuthError("DEGIRO wants an SMS code, which orch does not support", broker=broker,
                         broker_code=code, broker_message=answer.status_text or "smsNeeded",
                         hint="switch the account to an authenticator app (TOTP)")
    if code == LOGIN_JOINT:
        return AuthError("DEGIRO asks which person of a joint account logs in; orch does not support it",
                         broker=broker, broker_code=code, broker_message=answer.status_text)
    return AuthError(f"DEGIRO login failed with status {code}", broker=broker, broker_code=code,
                     broker_message=answer.status_text)


# ------------------------------------------------------------------------------------- config and client


@frozen
class ServiceUrls:
    """Where each service lives, from the config endpoint (each ends with ``/``)."""

    trading: str
    pa: str
    product_search: str
    reporting: str
    quotecast: str | None
    client_id: int | None


def config_request(base_url: str) -> HttpRequest:
    return HttpRequest("GET", base_url.rstrip("/") + "/login/secure/config", session="cookie")


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def parse_config(data: Any, *, base_url: str, broker: str = BROKER) -> ServiceUrls:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping):
        raise ProtocolError("config answer has no data object", broker=broker)
    root = base_url.rstrip("/")

    def url(key: str, default: str) -> str:
        value = inner.get(key)
        return _slash(str(value)) if isinstance(value, str) and value else root + default

    reporting = inner.get("reportingUrl")
    if not isinstance(reporting, str) or "portfolio-reports" not in reporting:
        reporting = root + "/portfolio-reports/secure/"
    quotecast = inner.get("vwdQuotecastServiceUrl")
    client_id = inner.get("clientId")
    return ServiceUrls(trading=url("tradingUrl", "/trading/secure/"), pa=url("paUrl", "/pa/secure/"),
                       product_search=url("productSearchUrl", "/product_search/secure/"),
                       reporting=_slash(reporting),
                       quotecast=_slash(quotecast) if isinstance(quotecast, str) and quotecast else None,
                       client_id=int(client_id) if isinstance(client_id, (int, str)) and str(client_id).isdigit()
                       else None)


@frozen
class ClientInfo:
    int_account: int
    client_id: int | None
    base_currency: str | None = None


def client_request(urls: ServiceUrls) -> HttpRequest:
    return HttpRequest("GET", urls.pa + "client", session="query")


def parse_client(data: Any, *, broker: str = BROKER) -> ClientInfo:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping) or inner.get("intAccount") is None:
        raise ProtocolError("client answer has no intAccount", broker=broker)
    try:
        int_account = parsing.integer(inner["intAccount"])
    except (TypeError, ValueError, ArithmeticError):
        raise ProtocolError(f"intAccount {inner['intAccount']!r} is not a number", broker=broker) from None
    client_id = inner.get("id")
    return ClientInfo(int_account=int_account, client_id=int(client_id) if isinstance(client_id, int) else None)


def account_info_request(urls: ServiceUrls, int_account: int) -> HttpRequest:
    return HttpRequest("GET", f"{urls.trading}v5/account/info/{int_account}", session="trading")


def parse_account_info(data: Any) -> str | None:
    """The account's base currency (the payload may or may not be wrapped in ``data`` [U])."""
    inner = data.get("data", data) if isinstance(data, Mapping) else {}
    value = inner.get("baseCurrency") if isinstance(inner, Mapping) else None
    return str(value) if isinstance(value, str) and value else None


def logout_request(urls: ServiceUrls) -> HttpRequest:
    return HttpRequest("PUT", urls.trading + "logout", session="trading")


# ------------------------------------------------------------------------------------- update (portfolio, cash, orders)

UPDATE_SECTIONS = ("portfolio", "totalPortfolio", "cashFunds", "orders", "historicalOrders", "transactions", "alerts")


def update_request(urls: ServiceUrls, int_account: int, sections: Sequence[str]) -> HttpRequest:
    """A full snapshot (counter 0) of ``sections``; the answer holds only those."""
    for name in sections:
        if name not in UPDATE_SECTIONS:
            raise ValueError(f"unknown update section {name!r}")
    return HttpRequest("GET", f"{urls.trading}v5/update/{int_account}", params={name: "0" for name in sections},
                       session="trading")


def _values(row: Any) -> dict[str, Any]:
    """A name/value row (``{"name":..,"value":[{"name":k,"value":v},..]}``) as a dict. Entries flagged
    ``isRemoved`` are left out (a full snapshot has ``isAdded`` everywhere)."""
    out: dict[str, Any] = {}
    items = row.get("value") if isinstance(row, Mapping) else None
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, Mapping) and "name" in item and not item.get("isRemoved"):
            out[str(item["name"])] = item.get("value")
    return out


def _section_rows(data: Any, name: str) -> list[Any]:
    section = data.get(name) if isinstance(data, Mapping) else None
    if section is None:
        return []
    rows = section.get("value") if isinstance(section, Mapping) else None
    return [row for row in rows if isinstance(row, Mapping)] if isinstance(rows, list) else []


def parse_position_rows(data: Any) -> list[dict[str, Any]]:
    """Product rows of the portfolio (cash rows and zero sizes left out), each a dict of its values."""
    out = []
    for row in _section_rows(data, "portfolio"):
        values = _values(row)
        if values.get("positionType", "PRODUCT") != "PRODUCT":
            continue
        size = _decimal(values.get("size"))
        if size is None or size == 0:
            continue
        values["id"] = str(values.get("id", row.get("id")))
        out.append(values)
    return out


def parse_cash(data: Any) -> dict[str, Decimal]:
    """Cash per currency from ``cashFunds`` (rows whose values are id, currencyCode, value)."""
    cash: dict[str, Decimal] = {}
    for row in _section_rows(data, "cashFunds"):
        values = _values(row)
        currency, value = values.get("currencyCode"), _decimal(values.get("value"))
        if isinstance(currency, str) and value is not None:
            cash[currency] = cash.get(currency, Decimal(0)) + value
    return cash


def parse_total_portfolio(data: Any) -> dict[str, Decimal]:
    section = data.get("totalPortfolio") if isinstance(data, Mapping) else None
    out: dict[str, Decimal] = {}
    items = section.get("value") if isinstance(section, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and "name" in item:
            value = _decimal(item.get("value"))
            if value is not None:
                out[str(item["name"])] = value
    return out


def parse_order_rows(data: Any, section: str = "orders") -> list[dict[str, Any]]:
    return [{**_values(row), "id": str(_values(row).get("id", row.get("id")))} for row in _section_rows(data, section)]


def parse_transaction_rows(data: Any) -> list[dict[str, Any]]:
    return [_values(row) for row in _section_rows(data, "transactions")]


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        return None


def _side(value: Any) -> Side:
    text = str(value).upper()
    if text in ("B", "BUY"):
        return Side.BUY
    if text in ("S", "SELL"):
        return Side.SELL
    raise ProtocolError(f"unknown buy/sell value {value!r}", broker=BROKER)


def _order_type(row: Mapping[str, Any]) -> OrderType:
    code = row.get("orderTypeId")
    if isinstance(code, int) and code in ORDER_TYPES_BY_CODE:
        return ORDER_TYPES_BY_CODE[code]
    word = str(row.get("orderType", "")).upper().replace(" ", "")
    if word in _ORDER_TYPE_WORDS:
        return _ORDER_TYPE_WORDS[word]
    raise ProtocolError(f"unknown order type {row.get('orderTypeId', row.get('orderType'))!r}", broker=BROKER)


def _time_in_force(row: Mapping[str, Any]) -> TimeInForce | None:
    code = row.get("orderTimeTypeId")
    if isinstance(code, int) and code in TIME_TYPES_BY_CODE:
        return TIME_TYPES_BY_CODE[code]
    return _TIME_WORDS.get(str(row.get("orderTimeType", "")).upper())


def _price(row: Mapping[str, Any], key: str) -> Decimal | None:
    value = _decimal(row.get(key))
    return value if value is not None and value > 0 else None


def order_from_open_row(row: Mapping[str, Any], instrument: Instrument, *, broker: str = BROKER,
                        client_order_id: str | None = None) -> Order:
    """An order of the ``orders`` section: still working (partly filled if ``size`` < ``quantity`` [U])."""
    with reading("open order", broker=broker):
        return _order_from_open_row(row, instrument, broker=broker, client_order_id=client_order_id)


def _order_from_open_row(row: Mapping[str, Any], instrument: Instrument, *, broker: str,
                         client_order_id: str | None) -> Order:
    kind = _order_type(row)
    qty = _decimal(row.get("quantity")) or _decimal(row.get("size"))
    remaining = _decimal(row.get("size"))
    filled = qty - remaining if qty is not None and remaining is not None and remaining < qty else Decimal(0)
    return Order(broker=broker, broker_order_id=str(row["id"]), instrument=instrument, side=_side(row.get("buysell")),
                 type=kind, status=OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED,
                 raw_status="open", client_order_id=client_order_id, qty=qty, filled_qty=filled,
                 limit_price=_price(row, "price") if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                 stop_price=_price(row, "stopPrice") if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
                 time_in_force=_time_in_force(row))


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VWD_ZONE)


def order_from_history(rows: Sequence[Mapping[str, Any]], instrument: Instrument, *, broker: str = BROKER,
                       fills: Sequence[Mapping[str, Any]] = (), client_order_id: str | None = None) -> Order:
    """One order from its history rows (CREATE, MODIFY…, DELETE; oldest first) and its transactions."""
    with reading("order history", broker=broker):
        return _order_from_history(rows, instrument, broker=broker, fills=fills, client_order_id=client_order_id)


def _order_from_history(rows: Sequence[Mapping[str, Any]], instrument: Instrument, *, broker: str,
                        fills: Sequence[Mapping[str, Any]], client_order_id: str | None) -> Order:
    first, last = rows[0], rows[-1]
    kind = _order_type(first)
    qty = _decimal(last.get("size")) or _decimal(first.get("size"))
    traded = max((_decimal(r.get("totalTradedSize")) or Decimal(0) for r in rows), default=Decimal(0))
    deleted = any(str(r.get("type", "")).upper() == "DELETE" for r in rows)
    active = last.get("isActive") is True
    raw = str(last.get("status", "")).upper()
    if raw in ("REJECTED", "REFUSED"):
        status = OrderStatus.REJECTED
    elif qty is not None and traded >= qty > 0:
        status = OrderStatus.FILLED
    elif deleted:
        status = OrderStatus.CANCELED
    elif active:
        status = OrderStatus.PARTIALLY_FILLED if traded > 0 else OrderStatus.ACCEPTED
    else:
        status = OrderStatus.EXPIRED
    value = sum(((_decimal(f.get("price")) or Decimal(0)) * abs(_decimal(f.get("quantity")) or Decimal(0))
                 for f in fills), Decimal(0))
    size = sum((abs(_decimal(f.get("quantity")) or Decimal(0)) for f in fills), Decimal(0))
    average = (value / size) if size else None
    return Order(broker=broker, broker_order_id=str(first.get("orderId")), instrument=instrument,
                 side=_side(first.get("buysell")), type=kind, status=status,
                 raw_status=f"{raw or '?'}/{str(last.get('type', '?')).upper()}", client_order_id=client_order_id,
                 qty=qty, filled_qty=traded, avg_fill_price=average,
                 limit_price=_price(last, "price") if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                 stop_price=_price(last, "stopPrice") if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
                 time_in_force=_time_in_force(first), created_at=_when(first.get("created")),
                 updated_at=_when(last.get("last") or last.get("created")))


def history_request(urls: ServiceUrls, kind: str, start: date, end: date) -> HttpRequest:
    """``kind`` is ``order-history`` or ``transactions``; the window is at most 90 days."""
    params = {"fromDate": start.strftime("%d/%m/%Y"), "toDate": end.strftime("%d/%m/%Y")}
    if kind == "transactions":
        params["groupTransactionsByOrder"] = "false"
    return HttpRequest("GET", f"{urls.reporting}v4/{kind}", params=params, session="query")


def parse_data_list(data: Any, *, broker: str = BROKER) -> list[dict[str, Any]]:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, list):
        raise ProtocolError("expected a data list", broker=broker)
    return [dict(row) for row in inner if isinstance(row, Mapping)]


# ------------------------------------------------------------------------------------- orders


def order_body(request: OrderRequest, product_id: str) -> dict[str, Any]:
    """The order JSON for checkOrder and confirm; each type sends only its own fields."""
    if request.type not in ORDER_TYPE_CODES:
        raise ValueError(f"DEGIRO has no {request.type.value} orders")
    body: dict[str, Any] = {"buySell": "BUY" if request.side is Side.BUY else "SELL",
                            "orderType": ORDER_TYPE_CODES[request.type]}
    if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        body["price"] = request.limit_price
    body["productId"] = int(product_id) if product_id.isdigit() else product_id
    body["size"] = request.qty
    if request.type in (OrderType.STOP, OrderType.STOP_LIMIT):
        body["stopPrice"] = request.stop_price
    body["timeType"] = TIME_TYPE_CODES[request.time_in_force]
    return body


def check_order_request(urls: ServiceUrls, body: Mapping[str, Any]) -> HttpRequest:
    return HttpRequest("POST", urls.trading + "v5/checkOrder", body=dumps(body), session="trading",
                       is_order=True, resource="order_check")


def confirm_order_request(urls: ServiceUrls, confirmation_id: str, body: Mapping[str, Any]) -> HttpRequest:
    return HttpRequest("POST", f"{urls.trading}v5/order/{confirmation_id}", body=dumps(body), session="trading",
                       is_order=True, resource="order_confirm")


def delete_order_request(urls: ServiceUrls, order_id: str) -> HttpRequest:
    return HttpRequest("DELETE", f"{urls.trading}v5/order/{order_id}", session="trading", resource="order")


@frozen
class CheckResult:
    confirmation_id: str
    fee: Decimal | None = None
    free_space: Decimal | None = None


def parse_check(data: Any, *, broker: str = BROKER) -> CheckResult:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping) or not inner.get("confirmationId"):
        raise ProtocolError("checkOrder answer has no confirmationId", broker=broker)
    return CheckResult(confirmation_id=str(inner["confirmationId"]), fee=_decimal(inner.get("transactionFee")),
                       free_space=_decimal(inner.get("freeSpaceNew")))


def parse_confirm(data: Any, *, broker: str = BROKER) -> str:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping) or not inner.get("orderId"):
        raise ProtocolError("order confirmation has no orderId", broker=broker)
    return str(inner["orderId"])


# ------------------------------------------------------------------------------------- products


def lookup_request(urls: ServiceUrls, text: str, limit: int = 10) -> HttpRequest:
    return HttpRequest("GET", urls.product_search + "v5/products/lookup",
                       params={"searchText": text, "limit": str(limit), "offset": "0"}, session="query")


def products_info_request(urls: ServiceUrls, product_ids: Sequence[str]) -> HttpRequest:
    return HttpRequest("POST", urls.product_search + "v5/products/info", body=dumps([str(p) for p in product_ids]),
                       session="query")


def parse_lookup(data: Any, *, broker: str = BROKER) -> list[dict[str, Any]]:
    products = data.get("products") if isinstance(data, Mapping) else None
    if products is None and isinstance(data, Mapping) and "offset" in data:
        return []
    if not isinstance(products, list):
        raise ProtocolError("product search answer has no products list", broker=broker)
    return [dict(p) for p in products if isinstance(p, Mapping)]


def parse_products_info(data: Any, *, broker: str = BROKER) -> dict[str, dict[str, Any]]:
    inner = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping):
        raise ProtocolError("products info answer has no data object", broker=broker)
    return {str(k): dict(v) for k, v in inner.items() if isinstance(v, Mapping)}


# DEGIRO exchange ids for the suffixes orch symbols use [U]: only Euronext Paris (710) is documented; the
# others are what the web trader's product pages show and are used for choosing among search results only.
EXCHANGE_SUFFIXES: Mapping[str, str] = {
    "194": "DE", "710": "PA", "200": "AS", "570": "L", "663": "", "676": "", "1": "",
}
SUFFIX_EXCHANGES: Mapping[str, str] = {"DE": "194", "PA": "710", "AS": "200", "L": "570"}


def orch_symbol(product: Mapping[str, Any]) -> str:
    """``SAP.DE`` for DEGIRO's ``SAP`` on Xetra; bare for US listings and unknown exchanges."""
    symbol = str(product.get("symbol") or product.get("id"))
    suffix = EXCHANGE_SUFFIXES.get(str(product.get("exchangeId", "")), "")
    return f"{symbol}.{suffix}" if suffix else symbol


def split_symbol(symbol: str) -> tuple[str, str | None]:
    """(DEGIRO search text, the exchange id to prefer) for an orch symbol."""
    base, dot, suffix = symbol.strip().upper().rpartition(".")
    if dot and suffix in SUFFIX_EXCHANGES and base:
        return base, SUFFIX_EXCHANGES[suffix]
    return symbol.strip().upper(), None


ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


def choose_product(products: Sequence[Mapping[str, Any]], symbol: str, currency: str | None) -> dict[str, Any] | None:
    """The one product that is ``symbol`` (ISIN or ticker, suffix picking the exchange), or None."""
    text, exchange = split_symbol(symbol)
    if ISIN.match(text):
        matches = [p for p in products if str(p.get("isin", "")).upper() == text]
    else:
        matches = [p for p in products if str(p.get("symbol", "")).upper() == text]
    matches = [p for p in matches if p.get("tradable", True) is not False]
    if exchange is not None:
        matches = [p for p in matches if str(p.get("exchangeId", "")) == exchange]
    elif len(matches) > 1:
        bare = [p for p in matches if not EXCHANGE_SUFFIXES.get(str(p.get("exchangeId", "")), "")]
        matches = bare or matches
    if len(matches) > 1 and currency:
        matches = [p for p in matches if p.get("currency") == currency] or matches
    return dict(matches[0]) if matches else None


# ------------------------------------------------------------------------------------- quotes (vwd)


def vwd_session_request(quotecast_url: str, user_token: int) -> HttpRequest:
    return HttpRequest("POST", quotecast_url.rstrip("/") + "/request_session",
                       params={"version": "1.0.20201211", "userToken": str(user_token)},
                       body=dumps({"referrer": "https://trader.degiro.nl"}))


def parse_vwd_session(data: Any, *, broker: str = BROKER) -> str:
    if not isinstance(data, Mapping) or not data.get("sessionId"):
        raise ProtocolError("quotecast answered without a sessionId", broker=broker)
    return str(data["sessionId"])


def vwd_subscribe_request(quotecast_url: str, vwd_session: str, vwd_id: str,
                          metrics: Sequence[str] = QUOTE_METRICS) -> HttpRequest:
    control = "".join(f"a_req({vwd_id}.{metric});" for metric in metrics)
    return HttpRequest("POST", f"{quotecast_url.rstrip('/')}/{vwd_session}", body=dumps({"controlData": control}))


def vwd_poll_request(quotecast_url: str, vwd_session: str) -> HttpRequest:
    return HttpRequest("GET", f"{quotecast_url.rstrip('/')}/{vwd_session}")


@frozen
class VwdUpdate:
    values: Mapping[str, Any]          # "<vwdId>.<Metric>" -> value
    session_invalid: bool = False
    unavailable: tuple[str, ...] = ()


def parse_vwd_messages(data: Any, refs: dict[int, str], *, broker: str = BROKER) -> VwdUpdate:
    """Apply one long-poll answer: ``a_req`` registers a numeric ref for a key (kept in ``refs``), ``un``
    and ``us`` carry numbers and strings; ``sr`` says the session is gone; ``ue`` that a key has no data."""
    values: dict[str, Any] = {}
    invalid = False
    unavailable: list[str] = []
    with reading("quotecast message", broker=broker):
        for message in data if isinstance(data, list) else ():
            if not isinstance(message, Mapping):
                continue
            kind, value = message.get("m"), message.get("v")
            if kind == "sr":
                invalid = True
            elif kind == "a_req" and isinstance(value, list) and len(value) == 2:
                refs[int(value[1])] = str(value[0])
            elif kind in ("un", "us") and isinstance(value, list) and len(value) == 2:
                key = refs.get(int(value[0]))
                if key is not None:
                    values[key] = value[1]
            elif kind == "ue" and isinstance(value, (list, str)) and value:
                unavailable.append(str(value[0] if isinstance(value, list) else value))
    return VwdUpdate(values=values, session_invalid=invalid, unavailable=tuple(unavailable))


def vwd_timestamp(day: Any, clock: Any) -> datetime | None:
    if not isinstance(day, str) or not isinstance(clock, str):
        return None
    try:
        local = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    return local.replace(tzinfo=VWD_ZONE).astimezone(timezone.utc)


def position_from_row(row: Mapping[str, Any], instrument: Instrument, currency: str, *,
                      broker: str = BROKER) -> Position:
    with reading("position", broker=broker):
        return _position_from_row(row, instrument, currency, broker=broker)


def _position_from_row(row: Mapping[str, Any], instrument: Instrument, currency: str, *, broker: str) -> Position:
    qty = _decimal(row.get("size")) or Decimal(0)
    price = _decimal(row.get("price"))
    value = _decimal(row.get("value"))
    average = _decimal(row.get("breakEvenPrice"))
    unrealized = (price - average) * qty if price is not None and average is not None else None
    return Position(broker=broker, instrument=instrument, qty=qty, avg_price=average, market_value=value,
                    unrealized_pl=unrealized, currency=currency)


# ------------------------------------------------------------------------------------- errors


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_text(body: bytes) -> str | None:
    """The ``errors[].text`` of a DEGIRO error (``{"errors":[{"text":…}]}``), joined; None if absent."""
    try:
        data = loads(body)
    except ValueError:
        return None
    if isinstance(data, Mapping):
        errors = data.get("errors")
        if isinstance(errors, list):
            texts = [str(e.get("text") or e.get("message") or "") for e in errors if isinstance(e, Mapping)]
            joined = "; ".join(t for t in texts if t)
            return joined or None
        for key in ("message", "error", "statusText"):
            if isinstance(data.get(key), str):
                return data[key]
    return None


_FUNDS = re.compile(r"insufficient|not enough|free space|buying power|funds", re.IGNORECASE)
_UNKNOWN_PRODUCT = re.compile(r"product|unknown|not tradable|not found", re.IGNORECASE)


def error_for(request: HttpRequest, response: HttpResponse, *, broker: str = BROKER) -> BrokerError:
    """Map an HTTP error of a session call. 401 (the session is gone) is handled before this by the
    connection, which logs in again; here it is only an AuthError."""
    status = response.status
    text = mask(error_text(response.body) or "")
    where = f"{request.method} {request.url.rsplit('/', 2)[-2]}/{request.url.rsplit('/', 1)[-1]}"
    common = dict(broker=broker, status=status, broker_message=text or None)
    if status == 429:
        # DEGIRO's 429 is its order pacing: it holds back orders (the limiter's "orders" window), not quotes.
        return RateLimited(f"rate limited on {where}", retry_after=retry_after(response.headers),
                           budget="orders" if request.is_order else None, **common)
    if status >= 500:
        return BrokerUnavailable(f"HTTP {status} on {where}", **common)
    if status == 401:
        return AuthError("the DEGIRO session is not valid", **common)
    if status == 403:
        return PermissionDenied(f"DEGIRO refused {where} (wrong intAccount or not allowed)", **common)
    if request.resource in ("order_check", "order_confirm") and 400 <= status < 500 and status != 404:
        reason = text or f"HTTP {status}"
        if status not in (400, 422) and text:
            # An unexpected 4xx (a 418, a 409): its status says more than DEGIRO's generic "Error".
            reason = f"HTTP {status}: {text}"
        if _FUNDS.search(reason):
            return InsufficientFunds(reason, **common)
        if _UNKNOWN_PRODUCT.search(reason) and "product" in reason.lower():
            return UnknownInstrument(reason, **common)
        return OrderRejected(reason, **common)
    if request.resource == "order" and status != 404:
        return OrderRejected(text or f"DEGIRO refused to delete the order (HTTP {status})", **common)
    if status == 404:
        if request.resource == "order":
            return OrderNotFound(text or "DEGIRO has no such order", **common)
        if request.resource == "order_confirm":
            # The confirmation id expired or was used: nothing was placed by this request.
            return OrderRejected(text or "confirmation id not found", **common)
        return BrokerError(text or f"not found: {where}", **common)
    return BrokerError(text or f"HTTP {status} on {where}", **common)


def parse_json(response: HttpResponse, *, broker: str = BROKER) -> Any:
    try:
        return loads(response.body)
    except ValueError:
        raise ProtocolError(f"answer (HTTP {response.status}) is not JSON", broker=broker) from None
