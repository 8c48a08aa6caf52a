"""The simulator's DEGIRO payloads: order JSON in, ``update`` sections, report rows and vwd messages out.
Shapes follow /work/shared/protocols/degiro-xtb-trade-republic.md section 1; where the notes say a shape
is unsure, the plugin and degiro-connector are what this has to satisfy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from orch.models import OrderStatus, OrderType, Side, TimeInForce
from orch.sim.orders import RejectCode, SimOrder

from orch_degiro.sim.state import SIM_ACCOUNT, DegiroSim, VwdSession

UPDATE_SECTIONS = ("portfolio", "totalPortfolio", "cashFunds", "orders", "historicalOrders", "transactions", "alerts")
ORDER_TYPES = {0: OrderType.LIMIT, 1: OrderType.STOP_LIMIT, 2: OrderType.MARKET, 3: OrderType.STOP}
TYPE_CODES = {kind: code for code, kind in ORDER_TYPES.items()}
TYPE_WORDS = {OrderType.LIMIT: "LIMIT", OrderType.STOP_LIMIT: "STOPLIMIT", OrderType.MARKET: "MARKET",
              OrderType.STOP: "STOPLOSS"}
TIME_TYPES = {1: TimeInForce.DAY, 3: TimeInForce.GTC}
TIME_CODES = {tif: code for code, tif in TIME_TYPES.items()}
VWD_ZONE = ZoneInfo("Europe/Amsterdam")
VWD_IDLE = 15.0


def _errors(text: str, status: int = 400) -> Response:
    return Response(json.dumps({"errors": [{"text": text}]}), status_code=status,
                    media_type="application/json;charset=UTF-8")


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def parse_order(sim: DegiroSim, body: Any) -> dict[str, Any] | Response:
    """Engine keyword arguments for a checkOrder/confirm body, or the 400 DEGIRO would answer."""
    if not isinstance(body, Mapping):
        return _errors("The request body is not an order")
    try:
        kind = ORDER_TYPES[int(body.get("orderType"))]
        tif = TIME_TYPES[int(body.get("timeType"))]
    except (KeyError, TypeError, ValueError):
        return _errors("Invalid orderType or timeType")
    side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(str(body.get("buySell", "")).upper())
    if side is None:
        return _errors("Invalid buySell")
    symbol = sim.symbol_of(body.get("productId"))
    if symbol is None:
        return _errors("Unknown product", 400)
    size = _number(body.get("size"))
    if size is None or size <= 0:
        return _errors("Invalid size")
    order: dict[str, Any] = {"symbol": symbol, "side": side, "qty": size, "type": kind, "time_in_force": tif}
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        order["limit_price"] = _number(body.get("price"))
        if order["limit_price"] is None:
            return _errors("A price is required")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        order["stop_price"] = _number(body.get("stopPrice"))
        if order["stop_price"] is None:
            return _errors("A stop price is required")
    return order


_REJECT_TEXTS = {
    RejectCode.INSUFFICIENT_BUYING_POWER: "Insufficient free space for this order",
    RejectCode.INSUFFICIENT_QTY: "You cannot sell more than you hold",
    RejectCode.TICK_SIZE: "The price does not match the tick size",
    RejectCode.LOT_SIZE: "The size must be a whole number",
    RejectCode.UNKNOWN_SYMBOL: "Unknown product",
    RejectCode.MARKET_CLOSED: "The exchange is closed",
}


def rejection(code: RejectCode | None, reason: str | None) -> Response:
    return _errors(_REJECT_TEXTS.get(code, reason or "The order was refused") if code else (reason or "refused"))


# ------------------------------------------------------------------------------------- update sections


def _item(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "isAdded": True}


def _row(name: str, row_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "id": row_id, "value": [_item(k, v) for k, v in values.items()]}


def _section(name: str, rows: list[Any]) -> dict[str, Any]:
    return {"lastUpdated": 1, "name": name, "value": rows}


def _local(when: datetime) -> datetime:
    return when.astimezone(VWD_ZONE)


def _open_row(sim: DegiroSim, order: SimOrder) -> dict[str, Any]:
    info = sim.engine.market.info(order.canonical)
    pid = sim.register(info)
    remaining = (order.qty or Decimal(0)) - order.filled_qty
    return _row("order", order.id, {
        "id": order.id, "date": _local(order.created_at).strftime("%H:%M"), "productId": int(pid),
        "product": info.name or info.symbol, "contractType": 1, "contractSize": 1, "currency": info.currency,
        "buysell": "B" if order.side is Side.BUY else "S", "size": remaining, "quantity": order.qty,
        "price": order.limit_price or 0, "stopPrice": order.stop_price or 0,
        "totalOrderValue": (order.limit_price or 0) * (order.qty or 0),
        "orderTypeId": TYPE_CODES[order.type], "orderTimeTypeId": TIME_CODES.get(order.time_in_force, 1),
        "orderType": TYPE_WORDS[order.type],
        "orderTimeType": "DAY" if order.time_in_force is TimeInForce.DAY else "GTC",
        "isModifiable": True, "isDeletable": True})


def history_events(sim: DegiroSim, order: SimOrder) -> list[dict[str, Any]]:
    """An order as the reports service lists it: its CREATE row, then DELETE if it was cancelled."""
    info = sim.engine.market.info(order.canonical)
    pid = sim.register(info)
    common = {
        "orderId": order.id, "productId": int(pid), "size": order.qty, "price": order.limit_price or 0,
        "stopPrice": order.stop_price or 0, "buysell": "B" if order.side is Side.BUY else "S",
        "orderTypeId": TYPE_CODES[order.type], "orderTimeTypeId": TIME_CODES.get(order.time_in_force, 1),
        "status": "CONFIRMED", "currentTradedSize": order.filled_qty, "totalTradedSize": order.filled_qty,
        "created": order.created_at.isoformat(), "last": (order.updated_at or order.created_at).isoformat(),
    }
    rows = [{**common, "type": "CREATE", "isActive": order.is_open}]
    if order.status is OrderStatus.CANCELED:
        rows.append({**common, "type": "DELETE", "isActive": False,
                     "last": (order.canceled_at or order.updated_at or order.created_at).isoformat()})
    return rows


def _fill_row(sim: DegiroSim, fill: Any) -> dict[str, Any]:
    info = sim.engine.market.info(fill.symbol)
    pid = sim.register(info)
    sign = 1 if fill.side is Side.BUY else -1
    return {"id": int(fill.seq), "productId": int(pid), "date": fill.timestamp.isoformat(),
            "buysell": "B" if fill.side is Side.BUY else "S", "price": fill.price, "quantity": sign * fill.qty,
            "total": -sign * fill.qty * fill.price, "orderTypeId": None, "counterParty": "MK", "transfered": False,
            "orderId": fill.order_id, "totalInBaseCurrency": -sign * fill.qty * fill.price,
            "totalPlusFeeInBaseCurrency": -sign * fill.qty * fill.price - fill.fee, "transactionTypeId": 0,
            "tradingVenue": "XSIM"}


def update(sim: DegiroSim, wanted: list[str]) -> dict[str, Any]:
    engine = sim.engine
    out: dict[str, Any] = {}
    state = engine.account_state(SIM_ACCOUNT) if {"portfolio", "totalPortfolio", "cashFunds"} & set(wanted) else None
    today = engine.now().date()
    if "portfolio" in wanted:
        rows = []
        for position in state.positions:
            if position.qty == 0:
                continue
            pid = sim.register(engine.market.info(position.symbol))
            rows.append(_row("positionrow", pid, {
                "id": pid, "positionType": "PRODUCT", "size": position.qty, "price": position.market_price,
                "value": position.market_value, "breakEvenPrice": position.avg_price,
                "plBase": {state.currency: position.unrealized_pl}, "accruedInterest": None}))
        for currency, amount in sorted(state.cash.items()):
            rows.append(_row("positionrow", f"FLATEX_{currency}", {
                "id": f"FLATEX_{currency}", "positionType": "CASH", "size": amount, "price": 1, "value": amount}))
        out["portfolio"] = _section("portfolio", rows)
    if "totalPortfolio" in wanted:
        out["totalPortfolio"] = {"lastUpdated": 1, "name": "totalPortfolio", "value": [
            _item("degiroCash", Decimal(0)), _item("flatexCash", state.cash_total),
            _item("totalCash", state.cash_total),
            _item("freeSpaceNew", state.buying_power),
            _item("reportPortfValue", state.long_market_value), _item("reportCashBal", state.cash_total),
            _item("reportNetliq", state.equity), _item("reportOverallMargin", Decimal(0)),
            _item("reportTotalLongVal", state.long_market_value), _item("reportDeficit", Decimal(0)),
            _item("marginCallStatus", "NO_MARGIN_CALL")]}
    if "cashFunds" in wanted:
        out["cashFunds"] = _section("cashFunds", [
            _row("cashFund", str(i), {"id": str(i), "currencyCode": currency, "value": amount})
            for i, (currency, amount) in enumerate(sorted(state.cash.items()), start=1)])
    if "orders" in wanted:
        out["orders"] = _section("orders", [_open_row(sim, o) for o in engine.orders(SIM_ACCOUNT, status="open")])
    if "historicalOrders" in wanted:
        rows = []
        for order in reversed(engine.orders(SIM_ACCOUNT, status="closed")):
            if order.created_at.date() == today:
                for event in history_events(sim, order):
                    rows.append(_row("order", order.id, event))
        out["historicalOrders"] = _section("historicalOrders", rows)
    if "transactions" in wanted:
        out["transactions"] = _section("transactions", [
            _row("transaction", str(f.seq), _fill_row(sim, f)) for f in engine.fills(SIM_ACCOUNT)
            if f.timestamp.date() == today])
    if "alerts" in wanted:
        out["alerts"] = _section("alerts", [])
    return out


# ------------------------------------------------------------------------------------- reports


def window(params: Mapping[str, str]) -> tuple[date, date] | Response:
    try:
        start = datetime.strptime(params.get("fromDate", ""), "%d/%m/%Y").date()
        end = datetime.strptime(params.get("toDate", ""), "%d/%m/%Y").date()
    except ValueError:
        return _errors("fromDate and toDate must be DD/MM/YYYY")
    if (end - start).days > 90 or end < start:
        return _errors("The period is limited to 90 days")
    return start, end


def history_rows(sim: DegiroSim, start: date, end: date) -> list[dict[str, Any]]:
    rows = []
    for order in reversed(sim.engine.orders(SIM_ACCOUNT, status="all")):
        if start <= order.created_at.date() <= end:
            rows += history_events(sim, order)
    return rows


def transaction_rows(sim: DegiroSim, start: date, end: date) -> list[dict[str, Any]]:
    return [_fill_row(sim, f) for f in sim.engine.fills(SIM_ACCOUNT) if start <= f.timestamp.date() <= end]


# ------------------------------------------------------------------------------------- vwd


def open_vwd(sim: DegiroSim) -> str:
    token = sim.new_token()
    vsid = f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}"
    with sim.lock:
        sim.vwd[vsid] = VwdSession(last_used=sim.now())
    return vsid


def _live(sim: DegiroSim, vsid: str) -> VwdSession | None:
    with sim.lock:
        session = sim.vwd.get(vsid)
        if session is None:
            return None
        if sim.now() - session.last_used > VWD_IDLE:
            del sim.vwd[vsid]
            return None
        session.last_used = sim.now()
        return session


def vwd_subscribe(sim: DegiroSim, vsid: str, control: str) -> bool:
    session = _live(sim, vsid)
    if session is None:
        return False
    for part in control.split(";"):
        part = part.strip()
        if part.startswith("a_req(") and part.endswith(")"):
            key = part[6:-1]
            if key not in session.keys:
                session.keys.append(key)
        elif part.startswith("a_rel(") and part.endswith(")"):
            key = part[6:-1]
            if key in session.keys:
                session.keys.remove(key)
                session.sent.discard(key)
    return True


def _metric(sim: DegiroSim, vwd_id: str, metric: str) -> Any:
    symbol = sim.symbol_of_vwd(vwd_id)
    if symbol is None:
        return None
    quote = sim.engine.quote(symbol)
    local = _local(quote.timestamp)
    return {"BidPrice": quote.bid, "AskPrice": quote.ask, "LastPrice": quote.last, "BidVolume": quote.bid_size,
            "AskVolume": quote.ask_size, "LastVolume": quote.last_size, "LastDate": local.strftime("%Y-%m-%d"),
            "LastTime": local.strftime("%H:%M:%S"), "FullName": symbol}.get(metric)


def vwd_poll(sim: DegiroSim, vsid: str) -> list[dict[str, Any]]:
    session = _live(sim, vsid)
    if session is None:
        return [{"m": "sr"}]
    messages: list[dict[str, Any]] = []
    for ref, key in enumerate(session.keys, start=1):
        vwd_id, _, metric = key.rpartition(".")
        if sim.symbol_of_vwd(vwd_id) is None:
            if key not in session.sent:
                messages.append({"m": "ue", "v": [key]})
                session.sent.add(key)
            continue
        if key not in session.sent:
            messages.append({"m": "a_req", "v": [key, ref]})
            session.sent.add(key)
        value = _metric(sim, vwd_id, metric)
        if value is None:
            continue
        kind = "us" if isinstance(value, str) else "un"
        messages.append({"m": kind, "v": [ref, value]})
    return messages or [{"m": "h"}]
