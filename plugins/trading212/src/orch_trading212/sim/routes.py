"""The Trading 212 Public API v0 routes: auth (HTTP Basic key:secret, or the legacy raw key), the
per-account per-endpoint limits, and each endpoint's behaviour on the shared engine."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from attrs import define
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orch.models import OrderStatus, OrderType, Side, TimeInForce
from orch.sim.orders import SimError

from orch_trading212.sim import wire
from orch_trading212.sim.state import Trading212Sim
from orch_trading212.sim.wire import ApiError

API = "/api/v0"


@define
class Call:
    sim: Trading212Sim
    request: Request
    account: str

    async def json(self) -> Any:
        raw = await self.request.body()
        try:
            return json.loads(raw, parse_float=Decimal) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise wire.bad_request("malformed-request", "Malformed JSON body", title="Bad Request") from None


def dumps(value: Any) -> bytes:
    """JSON with Decimals written as exact numbers, as the real API sends them."""
    return _text(value).encode()


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text == "-0" else text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return json.dumps(value)


def authenticate(sim: Trading212Sim, header: str | None) -> str | None:
    """The account of a valid ``Authorization``: ``Basic base64(key:secret)`` or the raw key (legacy)."""
    if not header:
        return None
    if header.startswith("Basic "):
        try:
            key, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        known = sim.keys.get(key)
        return known[1] if known is not None and known[0] == secret else None
    known = sim.keys.get(header.strip())
    return known[1] if known is not None else None


def endpoint(sim: Trading212Sim, name: str, handler: Callable[[Call], Awaitable[Any]]
             ) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        sim.counters.requests += 1
        sim.counters.by_endpoint[name] = sim.counters.by_endpoint.get(name, 0) + 1
        account = authenticate(sim, request.headers.get("authorization"))
        headers: dict[str, str] = {}
        try:
            if account is None:
                raise wire.unauthorized()
            budget = sim.hit(account, name)
            headers = budget.headers()
            if not budget.allowed:
                raise wire.limited(budget.limit, budget.period)
            result = await handler(Call(sim, request, account))
            status, body = 200, result
        except ApiError as exc:
            status, body = exc.status, exc.body(sim.options.error_style)
        except SimError as exc:
            error = wire.not_found() if exc.code == "order_not_found" else wire.bad_request(
                "order-validation-failed", exc.message)
            status, body = error.status, error.body(sim.options.error_style)
        sim.counters.statuses[str(status)] = sim.counters.statuses.get(str(status), 0) + 1
        content = b"" if body is None else dumps(body)
        return Response(content, status_code=status, headers=headers, media_type="application/json")

    return run


# ------------------------------------------------------------------------------------------ account


def _summary(sim: Trading212Sim, account: str) -> dict[str, Any]:
    state = sim.engine.account_state(account)
    cash = state.cash.get(state.currency, Decimal(0))
    invested = sum((p.cost_basis for p in state.positions), Decimal(0))
    current = sum((p.market_value for p in state.positions), Decimal(0))
    two = Decimal("0.01")
    return {"id": int(account), "currency": state.currency, "totalValue": state.equity.quantize(two),
            "cash": {"availableToTrade": max(Decimal(0), cash - state.reserved).quantize(two),
                     "inPies": Decimal(0), "reservedForOrders": state.reserved.quantize(two)},
            "investments": {"currentValue": current.quantize(two),
                            "realizedProfitLoss": state.realized_pl.quantize(two),
                            "totalCost": invested.quantize(two),
                            "unrealizedProfitLoss": (current - invested).quantize(two)}}


async def summary(call: Call) -> Any:
    return _summary(call.sim, call.account)


async def cash(call: Call) -> Any:
    s = _summary(call.sim, call.account)
    return {"free": s["cash"]["availableToTrade"], "total": s["totalValue"],
            "ppl": s["investments"]["unrealizedProfitLoss"], "result": s["investments"]["realizedProfitLoss"],
            "invested": s["investments"]["totalCost"], "pieCash": Decimal(0),
            "blocked": s["cash"]["reservedForOrders"]}


async def info(call: Call) -> Any:
    return {"currencyCode": call.sim.engine.account(call.account).currency, "id": int(call.account)}


def _positions(sim: Trading212Sim, account: str, ticker: str | None = None) -> list[dict[str, Any]]:
    state = sim.engine.account_state(account)
    by_symbol = {sim.engine.market.canonical(listing.symbol): listing for listing in sim.by_ticker.values()}
    result = []
    for p in state.positions:
        listing = by_symbol.get(p.symbol)
        if listing is None or p.qty == 0 or (ticker is not None and listing.ticker != ticker):
            continue
        rate = sim.engine.market.fx_rate(p.currency, state.currency, state.timestamp)
        result.append({
            "instrument": wire.instrument(sim, listing), "quantity": p.qty, "quantityAvailableForTrading": p.qty,
            "quantityInPies": Decimal(0), "averagePricePaid": p.avg_price, "currentPrice": p.market_price,
            "createdAt": wire.iso(state.timestamp),
            "walletImpact": {"currency": state.currency,
                             "currentValue": (p.market_value * rate).quantize(Decimal("0.01")),
                             "totalCost": (p.cost_basis * rate).quantize(Decimal("0.01")),
                             "unrealizedProfitLoss": (p.unrealized_pl * rate).quantize(Decimal("0.01")),
                             "fxImpact": Decimal(0)},
        })
    return result


async def positions(call: Call) -> Any:
    ticker = call.request.query_params.get("ticker")
    return _positions(call.sim, call.account, ticker)


def _legacy_position(entry: dict[str, Any]) -> dict[str, Any]:
    return {"ticker": entry["instrument"]["ticker"], "quantity": entry["quantity"],
            "averagePrice": entry["averagePricePaid"], "currentPrice": entry["currentPrice"],
            "ppl": entry["walletImpact"]["unrealizedProfitLoss"], "fxPpl": Decimal(0),
            "initialFillDate": entry["createdAt"], "frontend": "API", "maxBuy": Decimal(10_000),
            "maxSell": entry["quantity"], "pieQuantity": Decimal(0)}


async def portfolio(call: Call) -> Any:
    return [_legacy_position(e) for e in _positions(call.sim, call.account)]


async def portfolio_ticker(call: Call) -> Any:
    found = _positions(call.sim, call.account, call.request.path_params["ticker"])
    if not found:
        raise wire.not_found("Position not found")
    return _legacy_position(found[0])


async def portfolio_search(call: Call) -> Any:
    body = await call.json() or {}
    found = _positions(call.sim, call.account, str(body.get("ticker")))
    if not found:
        raise wire.not_found("Position not found")
    return _legacy_position(found[0])


# ------------------------------------------------------------------------------------------ orders


def _mine(call: Call, order_id: str) -> Any:
    engine_id = call.sim.ids.get(int(order_id)) if order_id.lstrip("-").isdigit() else None
    if engine_id is None:
        return None
    found = call.sim.engine.find_order(order_id=engine_id, account_id=call.account)
    return found


async def list_orders(call: Call) -> Any:
    orders = call.sim.engine.orders(call.account, status="open")
    return [wire.order(call.sim, o) for o in orders if "ticker" in o.extra]


async def get_order(call: Call) -> Any:
    found = _mine(call, call.request.path_params["id"])
    if found is None or not found.is_open:
        raise wire.not_found()
    return wire.order(call.sim, found)


async def cancel_order(call: Call) -> Any:
    found = _mine(call, call.request.path_params["id"])
    if found is None:
        raise wire.not_found()
    if not found.is_open:
        raise wire.bad_request("order-not-cancellable", f"Order is {wire.STATUS[found.status].lower()}",
                               code="OrderNotCancellable", title="Error while cancelling the order")
    call.sim.engine.cancel_order(found.id, account_id=call.account)
    return None


def _number(body: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            raise wire.bad_request("order-validation-failed", f"{name} is required")
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise wire.bad_request("order-validation-failed", f"{name} must be a number") from None
    if not result.is_finite():
        raise wire.bad_request("order-validation-failed", f"{name} must be a number")
    return result


def placer(kind: OrderType) -> Callable[[Call], Awaitable[Any]]:
    async def place(call: Call) -> Any:
        body = await call.json()
        if not isinstance(body, dict):
            raise wire.bad_request("order-validation-failed", "a JSON object is required")
        ticker = body.get("ticker")
        listing = call.sim.by_ticker.get(str(ticker)) if ticker else None
        if listing is None:
            raise wire.bad_request("instrument-not-found", f"Ticker {ticker!r} not found", code="InstrumentNotFound")
        quantity = _number(body, "quantity")
        assert quantity is not None
        if quantity == 0:
            raise wire.bad_request("order-validation-failed", "quantity must not be zero")
        exponent = quantity.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > 8:
            raise wire.bad_request("quantity-precision-mismatch", f"invalid quantity precision {-exponent}",
                                   code="QuantityPrecisionMismatch")
        limit = _number(body, "limitPrice", required=kind in (OrderType.LIMIT, OrderType.STOP_LIMIT))
        stop = _number(body, "stopPrice", required=kind in (OrderType.STOP, OrderType.STOP_LIMIT))
        if kind is OrderType.MARKET:
            tif = TimeInForce.GTC  # a market order works until filled (queued while closed)
        else:
            validity = body.get("timeValidity", "DAY")
            tif = {"DAY": TimeInForce.DAY, "GOOD_TILL_CANCEL": TimeInForce.GTC}.get(str(validity))
            if tif is None:
                raise wire.bad_request("order-validation-failed", f"timeValidity {validity!r} is invalid")
        placed = call.sim.engine.place_order(
            call.account, symbol=listing.symbol, side=Side.SELL if quantity < 0 else Side.BUY, qty=abs(quantity),
            type=kind, limit_price=limit, stop_price=stop, time_in_force=tif,
            extended_hours=bool(body.get("extendedHours", False)) and kind is OrderType.MARKET,
            extra={"ticker": listing.ticker})
        if placed.status is OrderStatus.REJECTED:
            raise wire.rejection(placed)
        call.sim.ids[placed.seq] = placed.id
        call.sim.counters.orders_created += 1
        call.sim.faults.after_order_accepted()  # a "lost answer" fault: the order exists, the reply never comes
        return wire.order(call.sim, placed)

    return place


# ------------------------------------------------------------------------------------------ metadata, history


async def instruments(call: Call) -> Any:
    return [wire.tradable(call.sim, listing) for listing in call.sim.by_ticker.values()]


async def exchanges(call: Call) -> Any:
    return wire.exchanges(call.sim)


async def history_orders(call: Call) -> Any:
    params = call.request.query_params
    try:
        limit = int(params.get("limit", "20"))
        cursor = int(params["cursor"]) if params.get("cursor") else None
    except ValueError:
        raise wire.bad_request("invalid-filter", "limit and cursor must be integers", title="Bad Request") from None
    if not 1 <= limit <= 50:
        raise wire.bad_request("invalid-filter", "limit must be between 1 and 50", title="Bad Request")
    ticker = params.get("ticker")
    if ticker and ticker not in call.sim.by_ticker:
        raise wire.bad_request("invalid-filter", f"Ticker {ticker!r} not found", title="Bad Request")
    orders = [o for o in call.sim.engine.orders(call.account, status="closed")
              if "ticker" in o.extra and (not ticker or o.extra["ticker"] == ticker)
              and (cursor is None or wire.ms(o.created_at) < cursor)]
    page = orders[:limit]
    if len(orders) > limit:
        # The cursor is a millisecond time: a page must not end inside a run of orders created in the same
        # millisecond, or the next page (strictly older) would skip the rest of that run.
        cut = wire.ms(orders[limit].created_at)
        whole = [o for o in page if wire.ms(o.created_at) != cut]
        page = whole or [o for o in orders if wire.ms(o.created_at) >= cut]
    next_path = None
    if len(orders) > len(page):
        query = {"limit": str(limit), "cursor": str(wire.ms(page[-1].created_at))}
        if ticker:
            query["ticker"] = ticker
        next_path = f"{API}/equity/history/orders?{urlencode(query)}"
    return {"items": [wire.history_item(call.sim, o) for o in page], "nextPagePath": next_path}


async def empty_page(call: Call) -> Any:
    return {"items": [], "nextPagePath": None}


def routes(sim: Trading212Sim) -> list[Route]:
    table: list[tuple[str, str, str, Callable[[Call], Awaitable[Any]]]] = [
        ("GET", "/equity/account/summary", "account_summary", summary),
        ("GET", "/equity/account/cash", "account_cash", cash),
        ("GET", "/equity/account/info", "account_info", info),
        ("GET", "/equity/portfolio", "portfolio", portfolio),
        ("GET", "/equity/portfolio/{ticker}", "portfolio_ticker", portfolio_ticker),
        ("POST", "/equity/portfolio/ticker", "portfolio_search", portfolio_search),
        ("GET", "/equity/positions", "positions", positions),
        ("GET", "/equity/orders", "orders", list_orders),
        ("GET", "/equity/orders/{id}", "order", get_order),
        ("DELETE", "/equity/orders/{id}", "cancel", cancel_order),
        ("POST", "/equity/orders/market", "place_market", placer(OrderType.MARKET)),
        ("POST", "/equity/orders/limit", "place_limit", placer(OrderType.LIMIT)),
        ("POST", "/equity/orders/stop", "place_stop", placer(OrderType.STOP)),
        ("POST", "/equity/orders/stop_limit", "place_stop_limit", placer(OrderType.STOP_LIMIT)),
        ("GET", "/equity/metadata/instruments", "instruments", instruments),
        ("GET", "/equity/metadata/exchanges", "exchanges", exchanges),
        ("GET", "/equity/history/orders", "history_orders", history_orders),
        ("GET", "/history/orders", "history_orders", history_orders),  # the older path, without equity/
        ("GET", "/equity/history/dividends", "history_dividends", empty_page),
        ("GET", "/equity/history/transactions", "history_transactions", empty_page),
    ]
    result = []
    for method, path, name, handler in table:
        result.append(Route(API + path, endpoint(sim, name, handler), methods=[method]))
    return result
