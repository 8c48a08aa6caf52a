"""Binance Spot REST (``/api/v3/…``) on the shared engine, with Binance's checks in Binance's order:
request weight (429, then 418), API key (-2014/-2015), signature over the raw query + body (-1022),
timestamp within recvWindow (-1021), mandatory and superfluous parameters (-1102/-1106), symbol (-1121),
filters (-1013 "Filter failure: NAME"), then the engine's own refusals (-2010).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from attrs import define
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orch.models import OrderStatus
from orch.sim.orders import RejectCode, SimError, SimOrder

from orch_binance import signing
from orch_binance.sim import wire
from orch_binance.sim.state import SIM_UID, BinanceSim

log = logging.getLogger("orch.sim.binance")

KEY_HEADER = "x-mbx-apikey"
NONE, SIGNED, KEY = "NONE", "SIGNED", "KEY"
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
TIFS = ("GTC", "IOC", "FOK")


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str, retry_after: float | None = None) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def bad(code: int, msg: str, status: int = 400) -> BinanceError:
    return BinanceError(status, code, msg)


def mandatory(name: str) -> BinanceError:
    return bad(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> BinanceError:
    return bad(-1106, f"Parameter '{name}' sent when not required.")


@define
class Call:
    sim: BinanceSim
    params: dict[str, str]
    account_id: str | None

    def get(self, name: str, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value in (None, ""):
            if required:
                raise mandatory(name)
            return None
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        value = self.get(name, required)
        if value is None:
            return None
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise bad(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                             "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None
        if not result.is_finite() or result < 0:
            raise bad(-1100, f"Illegal characters found in parameter '{name}'.")
        exponent = result.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > 8:
            raise bad(-1111, f"Parameter '{name}' has too much precision.")
        return result

    def symbol(self) -> str:
        symbol = self.get("symbol", required=True)
        if not self.sim.listed(symbol):
            raise bad(-1121, "Invalid symbol.")
        return symbol


Handler = Callable[[Call], Awaitable[Any]]


def _weight_headers(sim: BinanceSim, used: int) -> dict[str, str]:
    return {"x-mbx-used-weight": str(used), "x-mbx-used-weight-1m": str(used)}


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json;charset=UTF-8")


def endpoint(sim: BinanceSim, name: str, handler: Handler, *, weight: int | Callable[[dict[str, str]], int] = 1,
             security: str = NONE, orders: int = 0) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        sim.counters[name] += 1
        raw_query = request.url.query
        raw_body = (await request.body()).decode("utf-8", "replace")
        params = dict(parse_qsl(raw_body, keep_blank_values=True))
        params.update(parse_qsl(raw_query, keep_blank_values=True))  # the query string wins
        cost = weight(params) if callable(weight) else weight
        ip = request.client.host if request.client else "unknown"
        used, refusal, retry = sim.charge(ip, cost)
        headers = _weight_headers(sim, used)
        try:
            if refusal == 418:
                raise BinanceError(418, -1003, f"Way too much request weight used; IP banned until "
                                   f"{sim.ban_epoch_ms(ip)}. Please use WebSocket Streams for live updates to "
                                   "avoid bans.", retry)
            if refusal == 429:
                raise BinanceError(429, -1003, f"Too much request weight used; current limit is "
                                   f"{sim.options.weight_limit} request weight per 1 MINUTE. Please use WebSocket "
                                   "Streams for live updates to avoid polling the API.", retry)
            account_id = _authenticate(sim, request, raw_query, raw_body, params, security)
            if orders:
                ten, day = sim.order_counts(account_id)
                if ten + orders > sim.options.orders_10s:
                    raise BinanceError(429, -1015, f"Too many new orders; current limit is "
                                       f"{sim.options.orders_10s} orders per 10 SECOND.", 10.0)
                if day + orders > sim.options.orders_1d:
                    raise BinanceError(429, -1015, f"Too many new orders; current limit is "
                                       f"{sim.options.orders_1d} orders per 1 DAY.", None)
            result = await handler(Call(sim, params, account_id))
            status, body = 200, result
            if orders and account_id is not None:
                ten, day, _ = sim.count_order(account_id, orders)
                headers.update({"x-mbx-order-count-10s": str(ten), "x-mbx-order-count-1d": str(day)})
        except BinanceError as exc:
            status, body = exc.status, exc.body()
            if exc.retry_after is not None:
                headers["retry-after"] = str(max(1, round(exc.retry_after)))
        except SimError as exc:
            error = _sim_error(exc)
            status, body = error.status, error.body()
        sim.counters[f"status_{status}"] += 1
        return _json(status, body, headers)

    return run


def _authenticate(sim: BinanceSim, request: Request, raw_query: str, raw_body: str, params: dict[str, str],
                  security: str) -> str | None:
    if security == NONE:
        return None
    key = request.headers.get(KEY_HEADER)
    if not key:
        raise bad(-2014, "API-key format invalid.", 401)
    secret = sim.keys.get(key)
    if secret is None:
        raise bad(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    account_id = sim.engine.account().account_id
    if security == KEY:
        return account_id
    query, in_query = signing.strip_signature(raw_query)
    body, in_body = signing.strip_signature(raw_body)
    given = in_query or in_body
    if not given:
        raise mandatory("signature")
    if "timestamp" not in params:
        raise mandatory("timestamp")
    if not signing.verify(secret, query, body, given):
        raise bad(-1022, "Signature for this request is not valid.")
    try:
        timestamp = int(params["timestamp"])
        window = float(params.get("recvWindow") or 5000)
    except ValueError:
        raise bad(-1100, "Illegal characters found in parameter 'timestamp'.") from None
    if window > 60000:
        raise bad(-1131, "recvWindow must be less than 60000")
    if timestamp > 10 ** 14:
        timestamp //= 1000
    problem = signing.within_window(timestamp, int(sim.epoch() * 1000), window)
    if problem:
        raise bad(-1021, problem)
    return account_id


def _sim_error(exc: SimError) -> BinanceError:
    if exc.code in ("order_not_found",):
        return bad(-2013, "Order does not exist.")
    if exc.code == "not_cancelable":
        return bad(-2011, "Unknown order sent.")
    return bad(-1013, exc.message)


# ------------------------------------------------------------------------------------- public


def _exchange_symbol(sim: BinanceSim, symbol: str) -> dict[str, Any]:
    info = sim.engine.market.info(symbol)
    f = sim.filters(symbol)
    return {
        "symbol": symbol, "status": "TRADING", "baseAsset": info.base_asset, "baseAssetPrecision": 8,
        "quoteAsset": info.quote_asset, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8, "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": False, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False, "cancelReplaceAllowed": False, "amendAllowed": False,
        "pegInstructionsAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": wire.dec(f["min_price"]), "maxPrice": wire.dec(f["max_price"]),
             "tickSize": wire.dec(f["tick"])},
            {"filterType": "LOT_SIZE", "minQty": wire.dec(f["min_qty"]), "maxQty": wire.dec(f["max_qty"]),
             "stepSize": wire.dec(f["step"])},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": wire.dec(f["max_qty"]),
             "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": wire.dec(f["min_notional"]), "applyMinToMarket": True,
             "maxNotional": wire.dec(f["max_notional"]), "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


async def exchange_info(call: Call) -> Any:
    sim = call.sim
    wanted: list[str] = sim.symbols()
    if call.get("symbol"):
        wanted = [call.symbol()]
    elif call.get("symbols"):
        try:
            listed = json.loads(call.get("symbols"))
        except ValueError:
            raise bad(-1100, "Illegal characters found in parameter 'symbols'.") from None
        for symbol in listed:
            if not sim.listed(str(symbol)):
                raise bad(-1121, f"Invalid symbol '{symbol}'.")
        wanted = [str(s) for s in listed]
    return {"timezone": "UTC", "serverTime": int(sim.epoch() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": sim.options.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": sim.options.orders_10s},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": sim.options.orders_1d},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}],
            "exchangeFilters": [], "symbols": [_exchange_symbol(sim, s) for s in wanted]}


def _quote(call: Call) -> tuple[str, Any]:
    symbol = call.symbol()
    return symbol, call.sim.engine.quote(symbol)


async def ticker_price(call: Call) -> Any:
    symbol, quote = _quote(call)
    return {"symbol": symbol, "price": wire.dec(quote.last)}


async def book_ticker(call: Call) -> Any:
    symbol, q = _quote(call)
    return {"symbol": symbol, "bidPrice": wire.dec(q.bid), "bidQty": wire.dec(q.bid_size),
            "askPrice": wire.dec(q.ask), "askQty": wire.dec(q.ask_size)}


async def ticker_24hr(call: Call) -> Any:
    symbol, q = _quote(call)
    now = wire.ms(q.timestamp)
    opened = call.sim.engine.market.quote(symbol, q.timestamp.replace(microsecond=0) - timedelta(days=1)).last
    change = q.last - opened
    return {"symbol": symbol, "priceChange": wire.dec(change), "priceChangePercent": f"{change / opened * 100:.3f}",
            "weightedAvgPrice": wire.dec(q.last), "prevClosePrice": wire.dec(opened), "lastPrice": wire.dec(q.last),
            "lastQty": wire.dec(q.last_size), "bidPrice": wire.dec(q.bid), "bidQty": wire.dec(q.bid_size),
            "askPrice": wire.dec(q.ask), "askQty": wire.dec(q.ask_size), "openPrice": wire.dec(opened),
            "highPrice": wire.dec(max(q.last, opened)), "lowPrice": wire.dec(min(q.last, opened)),
            "volume": "1000.00000000", "quoteVolume": wire.dec(q.last * 1000), "openTime": now - 86_400_000,
            "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000}


async def server_time(call: Call) -> Any:
    return {"serverTime": int(call.sim.epoch() * 1000)}


async def ping(call: Call) -> Any:
    return {}


# ------------------------------------------------------------------------------------- account


async def account(call: Call) -> Any:
    state = call.sim.engine.account_state(call.account_id)
    omit = (call.get("omitZeroBalances") or "false").lower() == "true"
    balances = [{"asset": b.asset, "free": wire.dec(b.free), "locked": wire.dec(b.locked)} for b in state.balances
                if not (omit and b.free == 0 and b.locked == 0)]
    now = wire.ms(call.sim.engine.now())
    return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now, "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": SIM_UID}


# ------------------------------------------------------------------------------------- orders


def _check_filters(call: Call, symbol: str, qty: Decimal | None, price: Decimal | None,
                   stop: Decimal | None, market: bool) -> None:
    f = call.sim.filters(symbol)
    for value in (price, stop):
        if value is None:
            continue
        if value < f["min_price"] or value > f["max_price"] or (value - f["min_price"]) % f["tick"] != 0:
            raise bad(-1013, "Filter failure: PRICE_FILTER")
    if qty is not None:
        if qty < f["min_qty"] or qty > f["max_qty"] or (qty - f["min_qty"]) % f["step"] != 0:
            raise bad(-1013, "Filter failure: LOT_SIZE")
        reference = price if price is not None else stop
        if reference is None and market:
            reference = call.sim.engine.quote(symbol).last
        if reference is not None:
            notional = reference * qty
            if notional < f["min_notional"] or (not market and notional > f["max_notional"]):
                raise bad(-1013, "Filter failure: NOTIONAL")


def _reject(order: SimOrder) -> BinanceError:
    code = order.reject_code
    if code is RejectCode.UNKNOWN_SYMBOL:
        return bad(-1121, "Invalid symbol.")
    if code in (RejectCode.INSUFFICIENT_BUYING_POWER, RejectCode.INSUFFICIENT_QTY):
        return bad(-2010, "Account has insufficient balance for requested action.")
    if code is RejectCode.DUPLICATE_CLIENT_ORDER_ID:
        return bad(-2010, "Duplicate order sent.")
    if code is RejectCode.TICK_SIZE:
        return bad(-1013, "Filter failure: PRICE_FILTER")
    if code is RejectCode.LOT_SIZE:
        return bad(-1013, "Filter failure: LOT_SIZE")
    return bad(-2010, order.reject_reason or "Order rejected.")


def _side(call: Call) -> str:
    side = call.get("side", required=True)
    if side not in ("BUY", "SELL"):
        raise bad(-1117, "Invalid side.")
    return side


def _crosses(call: Call, symbol: str, side: str, price: Decimal) -> bool:
    q = call.sim.engine.quote(symbol)
    return price >= q.ask if side == "BUY" else price <= q.bid


def _triggers_now(call: Call, symbol: str, side: str, kind: str, stop: Decimal) -> bool:
    last = call.sim.engine.quote(symbol).last
    above = (kind.startswith("STOP_LOSS") and side == "BUY") or (kind.startswith("TAKE_PROFIT") and side == "SELL")
    return stop <= last if above else stop >= last


def _place(call: Call, *, symbol: str, side: str, kind: str, params: dict[str, Any], coid: str | None,
           extra: dict[str, Any]) -> SimOrder:
    engine = call.sim.engine
    if coid is None:
        coid = call.sim.new_client_order_id()
    order = engine.place_order(call.account_id, symbol=symbol, side=side.lower(), client_order_id=coid,
                               extra={"wire_type": kind, **extra}, **params)
    if order.status is OrderStatus.REJECTED:
        raise _reject(order)
    return order


async def new_order(call: Call) -> Any:
    symbol = call.symbol()
    side = _side(call)
    kind = call.get("type", required=True)
    if kind not in ORDER_TYPES:
        raise bad(-1116, "Invalid orderType.")
    tif = call.get("timeInForce")
    qty = call.decimal("quantity")
    quote_qty = call.decimal("quoteOrderQty")
    price = call.decimal("price")
    stop = call.decimal("stopPrice")
    iceberg = call.decimal("icebergQty")
    coid = call.get("newClientOrderId")
    resp_type = call.get("newOrderRespType") or ("FULL" if kind in ("MARKET", "LIMIT") else "ACK")
    limit_types = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    if kind in limit_types:
        if tif is None:
            raise mandatory("timeInForce")
        if tif not in TIFS:
            raise bad(-1115, "Invalid timeInForce.")
    elif tif is not None:
        raise not_required("timeInForce")
    if kind in (*limit_types, "LIMIT_MAKER") and price is None:
        raise mandatory("price")
    if kind not in (*limit_types, "LIMIT_MAKER") and price is not None:
        raise not_required("price")
    if kind.startswith(("STOP_LOSS", "TAKE_PROFIT")) and stop is None:
        raise mandatory("stopPrice")
    if kind == "MARKET":
        if (qty is None) == (quote_qty is None):
            raise bad(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
    elif qty is None:
        raise mandatory("quantity")
    elif quote_qty is not None:
        raise not_required("quoteOrderQty")
    if iceberg is not None:
        if kind not in (*limit_types, "LIMIT_MAKER"):
            raise not_required("icebergQty")
        if (tif or "GTC") != "GTC":
            raise bad(-2010, "Unsupported order combination")
    _check_filters(call, symbol, qty, price, stop, market=kind == "MARKET")
    if quote_qty is not None and quote_qty < call.sim.filters(symbol)["min_notional"]:
        raise bad(-1013, "Filter failure: NOTIONAL")
    if kind == "LIMIT_MAKER" and _crosses(call, symbol, side, price):
        raise bad(-2010, "Order would immediately match and take.")
    if stop is not None and _triggers_now(call, symbol, side, kind, stop):
        raise bad(-2010, "Order would trigger immediately.")

    extra: dict[str, Any] = {"wire_tif": tif or "GTC"}
    if iceberg is not None:
        extra["iceberg"] = iceberg
    args: dict[str, Any] = {"qty": qty, "notional": quote_qty, "time_in_force": (tif or "GTC").lower()}
    if kind in ("LIMIT", "LIMIT_MAKER"):
        args.update(type="limit", limit_price=price)
    elif kind == "MARKET":
        args.update(type="market", time_in_force="gtc")
    elif kind == "STOP_LOSS":
        args.update(type="stop", stop_price=stop)
    elif kind == "STOP_LOSS_LIMIT":
        args.update(type="stop_limit", stop_price=stop, limit_price=price)
    else:
        # Take-profit triggers in the opposite direction to a stop; the engine has no such trigger, so the
        # order rests as a limit at its trigger price (it fills when the market reaches it, as Binance's does).
        args.update(type="limit", limit_price=stop)
        extra.update(wire_stop=stop, wire_price=price)
    order = _place(call, symbol=symbol, side=side, kind=kind, params=args, coid=coid, extra=extra)
    call.sim.faults.after_order_accepted()
    if resp_type == "ACK":
        return {"symbol": symbol, "orderId": int(order.id), "orderListId": -1,
                "clientOrderId": order.client_order_id, "transactTime": wire.ms(order.created_at)}
    body = wire.order_result(order)
    if resp_type == "FULL":
        body["fills"] = wire.full_fills(order)
    return body


async def new_oco(call: Call) -> Any:
    symbol = call.symbol()
    side = _side(call)
    qty = call.decimal("quantity", required=True)
    legs = {}
    for pos in ("above", "below"):
        kind = call.get(f"{pos}Type", required=True)
        legs[pos] = {"type": kind, "price": call.decimal(f"{pos}Price"), "stop": call.decimal(f"{pos}StopPrice"),
                     "tif": call.get(f"{pos}TimeInForce"), "coid": call.get(f"{pos}ClientOrderId")}
    above, below = legs["above"], legs["below"]
    # The take-profit leg (LIMIT_MAKER or TAKE_PROFIT*) and the stop leg: which is above depends on the side.
    tp, sl = (above, below) if side == "SELL" else (below, above)
    if not (tp["type"] in ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT") and sl["type"].startswith("STOP_LOSS")):
        raise bad(-1166, "Order list requires one leg to be a STOP_LOSS type and the other a take-profit type.")
    tp_price = tp["price"] if tp["type"] == "LIMIT_MAKER" else (tp["price"] or tp["stop"])
    if tp_price is None:
        raise mandatory(f"{'above' if tp is above else 'below'}Price")
    if sl["stop"] is None:
        raise mandatory(f"{'above' if sl is above else 'below'}StopPrice")
    for leg in (tp, sl):
        _check_filters(call, symbol, qty, leg["price"], leg["stop"], market=False)
    last = call.sim.engine.quote(symbol).last
    if (side == "SELL" and not tp_price > last > sl["stop"]) or (side == "BUY" and not tp_price < last < sl["stop"]):
        raise bad(-2010, "The relationship of the prices for the orders is not correct.")
    list_coid = call.get("listClientOrderId") or call.sim.new_client_order_id()
    coid = tp["coid"] or call.sim.new_client_order_id()
    with call.sim.engine._lock:  # the list id and both orders are one act
        order = _place(call, symbol=symbol, side=side, kind=tp["type"],
                       params={"qty": qty, "type": "limit", "limit_price": tp_price, "time_in_force": "gtc",
                               "order_class": "oco", "take_profit": tp_price, "stop_loss": sl["stop"],
                               "stop_loss_limit_price": sl["price"]},
                       coid=coid, extra={"wire_tif": "GTC"})
        list_id = int(order.id)
        engine = call.sim.engine
        stop_order = engine._orders[order.sibling_ids[0]]
        stop_order.client_order_id = sl["coid"] or call.sim.new_client_order_id()
        # The engine names OCO siblings by id only; Binance gives each leg a client order id of its own.
        engine._by_client_id.setdefault((stop_order.account_id, stop_order.client_order_id), []).append(stop_order.id)
        stop_order.extra.update(wire_type=sl["type"], wire_tif=sl["tif"] or "GTC", list_id=list_id)
        engine._orders[order.id].extra["list_id"] = list_id
        if tp["type"] != "LIMIT_MAKER":
            engine._orders[order.id].extra.update(wire_stop=tp["stop"] or tp_price)
        reports = [engine._orders[order.id].snapshot(), stop_order.snapshot()]
    call.sim.faults.after_order_accepted()
    return {"orderListId": list_id, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING", "listClientOrderId": list_coid,
            "transactionTime": wire.ms(order.created_at), "symbol": symbol,
            "orders": [{"symbol": symbol, "orderId": int(o.id), "clientOrderId": o.client_order_id}
                       for o in reports],
            "orderReports": [wire.order_result(o) for o in reports]}


def _find(call: Call, symbol: str) -> SimOrder:
    engine = call.sim.engine
    order_id = call.get("orderId")
    coid = call.get("origClientOrderId")
    if order_id is None and coid is None:
        raise bad(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    found = engine.find_order(order_id=order_id, account_id=call.account_id) if order_id else \
        engine.find_order(client_order_id=coid, account_id=call.account_id)
    if found is None or found.canonical != symbol or (order_id and coid and found.client_order_id != coid):
        raise bad(-2013, "Order does not exist.")
    return found


async def query_order(call: Call) -> Any:
    symbol = call.symbol()
    return wire.order_result(_find(call, symbol), query=True)


async def cancel_order(call: Call) -> Any:
    symbol = call.symbol()
    try:
        found = _find(call, symbol)
    except BinanceError:
        raise bad(-2011, "Unknown order sent.") from None
    if not found.is_open:
        raise bad(-2011, "Unknown order sent.")
    canceled = call.sim.engine.cancel_order(found.id, account_id=call.account_id)
    body = wire.order_result(canceled)
    body["origClientOrderId"] = canceled.client_order_id
    body["clientOrderId"] = call.get("newClientOrderId") or call.sim.new_client_order_id()
    body["transactTime"] = wire.ms(call.sim.engine.now())
    return body


async def open_orders(call: Call) -> Any:
    symbol = call.symbol() if call.get("symbol") else None
    orders = call.sim.engine.orders(call.account_id, status="open", symbol=symbol, newest_first=False)
    return [wire.order_result(o, query=True) for o in orders if not o.held]


async def all_orders(call: Call) -> Any:
    symbol = call.symbol()
    limit = int(call.get("limit") or 500)
    orders = call.sim.engine.orders(call.account_id, status="all", symbol=symbol, newest_first=False)
    start = call.get("startTime")
    if start is not None:
        orders = [o for o in orders if wire.ms(o.created_at) >= int(start)]
    return [wire.order_result(o, query=True) for o in orders][-limit:]


async def my_trades(call: Call) -> Any:
    symbol = call.symbol()
    fills = call.sim.engine.fills(call.account_id, symbol=symbol, order_id=call.get("orderId"))
    start = call.get("startTime")
    if start is not None:
        fills = [f for f in fills if wire.ms(f.timestamp) >= int(start)]
    limit = int(call.get("limit") or 500)
    return [wire.my_trade(f, symbol) for f in fills][-limit:]


def _ticker_weight(params: dict[str, str]) -> int:
    return 2 if params.get("symbol") else 4


def _open_orders_weight(params: dict[str, str]) -> int:
    return 6 if params.get("symbol") else 80


def _trades_weight(params: dict[str, str]) -> int:
    return 5 if params.get("orderId") else 20


def routes(sim: BinanceSim) -> list[Route]:
    def r(path: str, method: str, handler: Handler, **kwargs: Any) -> Route:
        return Route(path, endpoint(sim, f"{method} {path}", handler, **kwargs), methods=[method])

    return [
        r("/api/v3/ping", "GET", ping),
        r("/api/v3/time", "GET", server_time),
        r("/api/v3/exchangeInfo", "GET", exchange_info, weight=20),
        r("/api/v3/ticker/price", "GET", ticker_price, weight=_ticker_weight),
        r("/api/v3/ticker/bookTicker", "GET", book_ticker, weight=_ticker_weight),
        r("/api/v3/ticker/24hr", "GET", ticker_24hr, weight=_ticker_weight),
        r("/api/v3/account", "GET", account, weight=20, security=SIGNED),
        r("/api/v3/order", "POST", new_order, security=SIGNED, orders=1),
        r("/api/v3/orderList/oco", "POST", new_oco, security=SIGNED, orders=2),
        r("/api/v3/order", "GET", query_order, weight=4, security=SIGNED),
        r("/api/v3/order", "DELETE", cancel_order, security=SIGNED),
        r("/api/v3/openOrders", "GET", open_orders, weight=_open_orders_weight, security=SIGNED),
        r("/api/v3/allOrders", "GET", all_orders, weight=20, security=SIGNED),
        r("/api/v3/myTrades", "GET", my_trades, weight=_trades_weight, security=SIGNED),
    ]

