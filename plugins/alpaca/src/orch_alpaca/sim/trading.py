"""Trading API v2 routes (paper semantics): account, positions, orders, assets, clock, calendar and fill
activities, translated onto the shared engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from starlette.routing import Route

from orch.models import OrderClass, OrderStatus, OrderType, Side
from orch.sim.instruments import SymbolInfo, UnknownSymbol
from orch.sim.orders import RejectCode, SimOrder
from orch.sim.sessions import SESSIONS

from orch_alpaca.sim import errors, orderbody, wire
from orch_alpaca.sim.http import Call, route
from orch_alpaca.sim.state import AlpacaSim

NEW_YORK = ZoneInfo("America/New_York")
MAX_ORDERS = 500
MAX_ACTIVITIES = 100


# ------------------------------------------------------------------------------------- rendering


def _market_open(sim: AlpacaSim, order: SimOrder, info: SymbolInfo) -> bool:
    return sim.engine.market.symbol_is_open(info.symbol, sim.now(), extended=order.extended_hours)


def render(sim: AlpacaSim, order: SimOrder, *, nested: bool = False) -> dict[str, Any]:
    """An engine order as Alpaca's Order JSON; ``nested`` puts the legs under ``legs``."""
    info = sim.info(order.canonical)
    legs = None
    if nested:
        leg_ids = order.leg_ids
        if order.order_class is OrderClass.OCO and order.role == "take_profit":
            leg_ids = order.sibling_ids
        legs = [sim.engine.get_order(i) for i in leg_ids] or None
    extra: dict[str, Any] = {}
    # Off-hours Alpaca shows a just-received order as "accepted", not yet "new".
    if order.status is OrderStatus.NEW and not order.held and not order.fills and not _market_open(sim, order, info):
        extra["status"] = "accepted"
    body = wire.order_json(order, info, legs=legs, extra=extra)
    if legs:
        body["legs"] = [render(sim, leg) for leg in legs]
    return body


def _is_child(order: SimOrder) -> bool:
    """Shown under its parent's ``legs`` when nested (bracket/OTO legs, the stop of an OCO)."""
    return order.parent_id is not None or (order.order_class is OrderClass.OCO and order.role == "stop_loss")


# ------------------------------------------------------------------------------------- parsing helpers


def parse_when(value: str | None, name: str) -> datetime | None:
    """RFC3339 timestamp or a date (midnight New York, as Alpaca reads bare dates)."""
    if value is None or value == "":
        return None
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(timezone.utc)
        result = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid(f"invalid {name}: {value!r}") from None
    if result.tzinfo is None:
        result = result.replace(tzinfo=timezone.utc)
    return result


def parse_int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise errors.invalid(f"invalid {name}: {value!r}") from None


def _choice(call: Call, name: str, allowed: Sequence[str], default: str) -> str:
    value = (call.query.get(name) or default).strip().lower()
    if value not in allowed:
        raise errors.invalid(f"invalid {name}: {call.query.get(name)!r}")
    return value


# ------------------------------------------------------------------------------------- refusals


def refusal(sim: AlpacaSim, order: SimOrder, info: SymbolInfo, account_id: str) -> errors.AlpacaError:
    """Alpaca's answer to an order the engine rejected."""
    code = order.reject_code
    reason = order.reject_reason or "order rejected"
    if code is RejectCode.DUPLICATE_CLIENT_ORDER_ID:
        return errors.invalid("client_order_id must be unique")
    if code is RejectCode.UNKNOWN_SYMBOL:
        return errors.invalid(f"asset {order.symbol} not found")
    if code is RejectCode.INSUFFICIENT_BUYING_POWER:
        state = sim.engine.account_state(account_id)
        return errors.forbidden("insufficient buying power", buying_power=wire.dec(state.buying_power),
                                cost_basis=wire.dec(_cost(sim, order, info)))
    if code is RejectCode.INSUFFICIENT_QTY:
        return insufficient_qty(sim, order.qty, info, account_id)
    if code is RejectCode.TICK_SIZE:
        return errors.unprocessable(f"{reason}. sub-penny increment does not fulfill minimum pricing criteria")
    return errors.invalid(reason)


def _cost(sim: AlpacaSim, order: SimOrder, info: SymbolInfo) -> Decimal:
    if order.notional is not None:
        return order.notional
    price = order.limit_price if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    if price is None:
        price = sim.price_for(info, order.side.value)
    return ((order.qty or Decimal(0)) * price).quantize(Decimal("0.01"))


def _held_for_orders(sim: AlpacaSim, account_id: str, info: SymbolInfo) -> Decimal:
    held = Decimal(0)
    for order in sim.engine.orders(account_id, status="open"):
        if order.side is Side.SELL and not order.held and order.qty is not None and \
                sim.info(order.canonical).position_key == info.position_key:
            held += order.qty - order.filled_qty
    return held


def _position_qty(sim: AlpacaSim, account_id: str, info: SymbolInfo) -> Decimal:
    return sim.engine.account(account_id).position_qty(info.position_key)


def insufficient_qty(sim: AlpacaSim, requested: Decimal | None, info: SymbolInfo, account_id: str
                     ) -> errors.AlpacaError:
    existing = _position_qty(sim, account_id, info)
    held = _held_for_orders(sim, account_id, info)
    available = max(Decimal(0), existing - held)
    if wire.is_crypto(info):
        message = (f"insufficient balance for {info.base_asset} (requested: {wire.dec(requested)}, "
                   f"available: {wire.dec(available)})")
    else:
        message = (f"insufficient qty available for order (requested: {wire.dec(requested)}, "
                   f"available: {wire.dec(available)})")
    return errors.forbidden(message, available=wire.dec(available), existing_qty=wire.dec(existing),
                            held_for_orders=wire.dec(held), symbol=wire.position_symbol(info))


# ------------------------------------------------------------------------------------- orders


def _resolve(sim: AlpacaSim, text: str) -> SymbolInfo:
    return sim.listing.resolve(text)


def _submit(sim: AlpacaSim, account_id: str, new: orderbody.NewOrder) -> SimOrder:
    info = new.info
    fields = dict(new.fields)
    if wire.is_crypto(info) and fields["side"] == "sell":
        # Crypto cannot be sold short: the engine would allow it on a margin account.
        qty = fields["qty"]
        if qty is None:
            qty = fields["notional"] / sim.price_for(info, "sell")
        if qty > _position_qty(sim, account_id, info) - _held_for_orders(sim, account_id, info):
            raise insufficient_qty(sim, fields["qty"] or qty, info, account_id)
    if not fields.get("client_order_id"):
        # Alpaca makes one up when the client sends none, so every order can be found by it.
        fields["client_order_id"] = sim.new_client_order_id()
    extra = {"position_intent": new.position_intent} if new.position_intent else None
    order = sim.engine.place_order(account_id, extra=extra, **fields)
    if order.status is OrderStatus.REJECTED:
        sim.counters.order_rejected()
        raise refusal(sim, order, info, account_id)
    sim.counters.order_created()
    return order


async def create_order(call: Call) -> Any:
    sim = call.sim
    body = await call.json()
    new = orderbody.parse_new_order(body, lambda s: _resolve(sim, s), sim.price_for)
    order = _submit(sim, call.account_id, new)
    answer = render(sim, order, nested=True)
    # The order exists now; a planned fault may still lose this answer on the way back.
    sim.faults.after_order_accepted()
    return answer


def _get(sim: AlpacaSim, call: Call, order_id: str) -> SimOrder:
    order = sim.engine.find_order(order_id=order_id, account_id=call.account_id)
    if order is None:
        raise errors.not_found("order not found")
    return order


async def get_order(call: Call) -> Any:
    order = _get(call.sim, call, call.request.path_params["order_id"])
    return render(call.sim, order, nested=call.flag("nested"))


async def get_by_client_order_id(call: Call) -> Any:
    client_order_id = call.query.get("client_order_id")
    if not client_order_id:
        raise errors.invalid("client_order_id is required")
    order = call.sim.engine.find_order(client_order_id=client_order_id, account_id=call.account_id)
    if order is None:
        raise errors.not_found("order not found")
    return render(call.sim, order, nested=call.flag("nested"))


async def list_orders(call: Call) -> Any:
    sim = call.sim
    status = _choice(call, "status", ("open", "closed", "all"), "open")
    direction = _choice(call, "direction", ("asc", "desc"), "desc")
    limit = parse_int(call.query.get("limit"), "limit", 50)
    if not 1 <= limit <= MAX_ORDERS:
        raise errors.invalid(f"limit must be between 1 and {MAX_ORDERS}")
    after = parse_when(call.query.get("after"), "after")
    until = parse_when(call.query.get("until"), "until")
    nested = call.flag("nested")
    side = call.query.get("side")
    if side is not None and side.lower() not in ("buy", "sell"):
        raise errors.invalid(f"invalid side: {side!r}")
    wanted: set[str] | None = None
    if call.query.get("symbols"):
        wanted = set()
        for text in call.query["symbols"].split(","):
            try:
                wanted.add(_resolve(sim, text).symbol)
            except UnknownSymbol:
                continue
    orders = sim.engine.orders(call.account_id, status=status, newest_first=direction == "desc")
    selected = []
    for order in orders:
        if after is not None and order.created_at <= after:
            continue
        if until is not None and order.created_at >= until:
            continue
        if nested and _is_child(order):
            continue
        if wanted is not None and order.canonical not in wanted:
            continue
        if side is not None and order.side.value != side.lower():
            continue
        selected.append(order)
        if len(selected) >= limit:
            break
    return [render(sim, order, nested=nested) for order in selected]


async def replace_order(call: Call) -> Any:
    sim = call.sim
    old = _get(sim, call, call.request.path_params["order_id"])
    info = sim.info(old.canonical)
    change = orderbody.parse_replace(await call.json(), crypto=wire.is_crypto(info))
    if not old.is_open:
        raise errors.unprocessable(f"order is not replaceable (status {wire.status_word(old)})")
    if old.type is OrderType.MARKET:
        raise errors.unprocessable("market orders cannot be replaced")
    if old.leg_ids or old.sibling_ids or old.parent_id:
        # A bracket or OCO member keeps its place in the group; only its prices and size change.
        order = sim.engine.modify_order(old.id, qty=change.qty, limit_price=change.limit_price,
                                        stop_price=change.stop_price, trail=change.trail,
                                        account_id=call.account_id)
        return render(sim, order, nested=True)
    new = sim.engine.replace_order(old.id, qty=change.qty, limit_price=change.limit_price,
                                   stop_price=change.stop_price, trail=change.trail,
                                   time_in_force=change.time_in_force, client_order_id=change.client_order_id,
                                   account_id=call.account_id)
    if new.status is OrderStatus.REJECTED:
        sim.counters.order_rejected()
        raise refusal(sim, new, info, call.account_id)
    sim.counters.order_created()
    answer = render(sim, new)
    sim.faults.after_order_accepted()
    return answer


async def cancel_order(call: Call) -> Any:
    sim = call.sim
    order = _get(sim, call, call.request.path_params["order_id"])
    sim.engine.cancel_order(order.id, account_id=call.account_id)
    return None


async def cancel_all(call: Call) -> Any:
    sim = call.sim
    canceled = sim.engine.cancel_all(account_id=call.account_id)
    return 207, [{"id": order.id, "status": 200, "body": render(sim, sim.engine.get_order(order.id))}
                 for order in canceled]


# ------------------------------------------------------------------------------------- account, positions


async def get_account(call: Call) -> Any:
    sim = call.sim
    state = sim.engine.account_state(call.account_id)
    account = sim.engine.account(call.account_id)
    return wire.account_json(state, account_uuid=sim.account_uuid(call.account_id),
                             account_number=sim.account_number(call.account_id), created_at=sim.created_at,
                             shorting_enabled=account.allow_short)


async def get_configurations(call: Call) -> Any:
    account = call.sim.engine.account(call.account_id)
    return {"dtbp_check": "entry", "trade_confirm_email": "all", "suspend_trade": False,
            "no_shorting": not account.allow_short, "fractional_trading": True,
            "max_margin_multiplier": wire.dec(account.margin_multiplier), "max_options_trading_level": 0,
            "pdt_check": "entry", "ptp_no_exception_entry": False}


def _positions(sim: AlpacaSim, account_id: str) -> list[tuple[Any, SymbolInfo]]:
    state = sim.engine.account_state(account_id)
    result = []
    for position in state.positions:
        info = sim.info(position.symbol)
        if position.qty == 0:
            continue
        result.append((position, info))
    return result


def _position_json(sim: AlpacaSim, account_id: str, position: Any, info: SymbolInfo) -> dict[str, Any]:
    lastday = sim.engine.market.mid(info.symbol, sim.now() - timedelta(days=1))
    held = _held_for_orders(sim, account_id, info)
    available = position.qty - held if position.qty > 0 else position.qty
    return wire.position_json(position, info, lastday_price=lastday, qty_available=available)


async def list_positions(call: Call) -> Any:
    sim = call.sim
    return [_position_json(sim, call.account_id, p, info) for p, info in _positions(sim, call.account_id)]


def _find_position(sim: AlpacaSim, account_id: str, text: str) -> tuple[Any, SymbolInfo]:
    try:
        info = _resolve(sim, text)
    except UnknownSymbol:
        raise errors.not_found("position does not exist") from None
    for position, pinfo in _positions(sim, account_id):
        if pinfo.position_key == info.position_key:
            return position, pinfo
    raise errors.not_found("position does not exist")


async def get_position(call: Call) -> Any:
    sim = call.sim
    position, info = _find_position(sim, call.account_id, call.request.path_params["symbol"])
    return _position_json(sim, call.account_id, position, info)


def _close(sim: AlpacaSim, account_id: str, position: Any, info: SymbolInfo, qty: Decimal) -> SimOrder:
    side = "sell" if position.qty > 0 else "buy"
    fields = dict(symbol=info.symbol, side=side, type="market", qty=qty,
                  time_in_force="gtc" if wire.is_crypto(info) else "day")
    return _submit(sim, account_id, orderbody.NewOrder(info=info, fields=fields))


async def close_position(call: Call) -> Any:
    sim = call.sim
    position, info = _find_position(sim, call.account_id, call.request.path_params["symbol"])
    held = abs(position.qty)
    qty = orderbody.number(call.query.get("qty"), "qty")
    percentage = orderbody.number(call.query.get("percentage"), "percentage")
    if qty is not None and percentage is not None:
        raise errors.invalid("only one of qty or percentage can be specified")
    if percentage is not None:
        if not 0 < percentage <= 100:
            raise errors.invalid("percentage must be between 0 and 100")
        qty = (held * percentage / 100).quantize(Decimal("1e-9"))
    if qty is None:
        qty = held
    if qty <= 0 or qty > held:
        raise insufficient_qty(sim, qty, info, call.account_id)
    order = _close(sim, call.account_id, position, info, qty)
    return render(sim, order)


async def close_all_positions(call: Call) -> Any:
    sim = call.sim
    if call.flag("cancel_orders"):
        sim.engine.cancel_all(account_id=call.account_id)
    results = []
    for position, info in _positions(sim, call.account_id):
        try:
            order = _close(sim, call.account_id, position, info, abs(position.qty))
            results.append({"symbol": wire.position_symbol(info), "status": 200, "order_id": order.id,
                            "body": render(sim, order)})
        except errors.AlpacaError as exc:
            results.append({"symbol": wire.position_symbol(info), "status": exc.status, "body": exc.body()})
    return 207, results


# ------------------------------------------------------------------------------------- assets, clock


async def list_assets(call: Call) -> Any:
    sim = call.sim
    status = call.query.get("status")
    asset_class = call.query.get("asset_class")
    exchange = call.query.get("exchange")
    result = []
    for info in sim.listing.assets():
        body = wire.asset_json(info, shortable=sim.engine.account(call.account_id).allow_short)
        if status and status != body["status"]:
            continue
        if asset_class and asset_class != body["class"]:
            continue
        if exchange and exchange.upper() != body["exchange"]:
            continue
        result.append(body)
    return result


async def get_asset(call: Call) -> Any:
    sim = call.sim
    text = call.request.path_params["symbol"]
    try:
        info = _resolve(sim, text)
    except UnknownSymbol:
        raise errors.not_found(f"asset not found for {text}") from None
    return wire.asset_json(info, shortable=sim.engine.account(call.account_id).allow_short)


def _local(when: datetime) -> str:
    return when.astimezone(NEW_YORK).isoformat(timespec="microseconds")


async def get_clock(call: Call) -> Any:
    sim = call.sim
    now = sim.now()
    market = sim.engine.market
    is_open = market.is_open("US", now)
    session = SESSIONS["US"]
    next_close = session.next_close(now)
    next_open = session.next_open(next_close + timedelta(seconds=1) if is_open else now)
    return {"timestamp": _local(now), "is_open": is_open, "next_open": _local(next_open),
            "next_close": _local(next_close)}


def _trading_day(day: date) -> bool:
    session = SESSIONS["US"]
    return day.weekday() in session.weekdays and day not in session.holidays


def _hhmm(value: time | None, default: str, colon: bool = True) -> str:
    if value is None:
        return default if colon else default.replace(":", "")
    return value.strftime("%H:%M" if colon else "%H%M")


async def get_calendar(call: Call) -> Any:
    sim = call.sim
    today = sim.now().astimezone(NEW_YORK).date()
    try:
        start = date.fromisoformat(call.query["start"][:10]) if call.query.get("start") else today - timedelta(7)
        end = date.fromisoformat(call.query["end"][:10]) if call.query.get("end") else today + timedelta(30)
    except ValueError:
        raise errors.invalid("invalid start or end date") from None
    if (end - start).days > 3660:
        raise errors.invalid("date range too large")
    session = SESSIONS["US"]
    days = []
    day = start
    while day <= end:
        if _trading_day(day):
            settle = day + timedelta(days=1)
            while not _trading_day(settle):
                settle += timedelta(days=1)
            days.append({"date": day.isoformat(), "open": _hhmm(session.open, "09:30"),
                         "close": _hhmm(session.close, "16:00"),
                         "session_open": _hhmm(session.pre_open, "04:00", colon=False),
                         "session_close": _hhmm(session.post_close, "20:00", colon=False),
                         "settlement_date": settle.isoformat()})
        day += timedelta(days=1)
    return days


# ------------------------------------------------------------------------------------- activities


async def list_activities(call: Call) -> Any:
    sim = call.sim
    types = call.request.path_params.get("activity_type") or call.query.get("activity_types") or "FILL"
    wanted = {t.strip().upper() for t in types.split(",") if t.strip()}
    if not wanted <= {"FILL", "TRANS", "MISC", "DIV", "CSD", "CSW", "FEE", "INT", "JNLC", "JNLS"}:
        raise errors.invalid(f"invalid activity_types: {types!r}")
    if "FILL" not in wanted:
        return []
    direction = _choice(call, "direction", ("asc", "desc"), "desc")
    page_size = parse_int(call.query.get("page_size"), "page_size", MAX_ACTIVITIES)
    if not 1 <= page_size <= MAX_ACTIVITIES:
        raise errors.invalid(f"page_size must be between 1 and {MAX_ACTIVITIES}")
    after = parse_when(call.query.get("after"), "after")
    until = parse_when(call.query.get("until"), "until")
    on = call.query.get("date")
    token = call.query.get("page_token")
    entries = []
    held: dict[str, Decimal] = {}  # position replayed from the fills, to tell a short sale
    for fill in sim.engine.fills(call.account_id):
        order = sim.engine.get_order(fill.order_id)
        info = sim.info(order.canonical)
        before = held.get(info.position_key, Decimal(0))
        held[info.position_key] = before + (fill.qty if fill.side is Side.BUY else -fill.qty)
        if after is not None and fill.timestamp <= after:
            continue
        if until is not None and fill.timestamp >= until:
            continue
        if on and fill.timestamp.astimezone(NEW_YORK).date().isoformat() != on[:10]:
            continue
        entries.append(wire.fill_activity_json(fill, order, info, order_uuid=order.id,
                                               account_uuid=sim.account_uuid(call.account_id),
                                               sold_short=fill.side is Side.SELL and fill.qty > before))
    entries.sort(key=lambda e: e["id"], reverse=direction == "desc")
    if token:
        entries = [e for e in entries if (e["id"] < token if direction == "desc" else e["id"] > token)]
    return entries[:page_size]


# ------------------------------------------------------------------------------------- routes


def routes(sim: AlpacaSim) -> list[Route]:
    return [
        route(sim, "/v2/account", "GET", get_account),
        route(sim, "/v2/account/configurations", "GET", get_configurations),
        route(sim, "/v2/account/activities", "GET", list_activities),
        route(sim, "/v2/account/activities/{activity_type}", "GET", list_activities),
        route(sim, "/v2/positions", "GET", list_positions),
        route(sim, "/v2/positions", "DELETE", close_all_positions),
        route(sim, "/v2/positions/{symbol:path}", "GET", get_position),
        route(sim, "/v2/positions/{symbol:path}", "DELETE", close_position),
        route(sim, "/v2/orders", "POST", create_order),
        route(sim, "/v2/orders", "GET", list_orders),
        route(sim, "/v2/orders", "DELETE", cancel_all),
        route(sim, "/v2/orders:by_client_order_id", "GET", get_by_client_order_id),
        route(sim, "/v2/orders/{order_id}", "GET", get_order),
        route(sim, "/v2/orders/{order_id}", "PATCH", replace_order),
        route(sim, "/v2/orders/{order_id}", "DELETE", cancel_order),
        route(sim, "/v2/assets", "GET", list_assets),
        route(sim, "/v2/assets/{symbol:path}", "GET", get_asset),
        route(sim, "/v2/clock", "GET", get_clock),
        route(sim, "/v2/calendar", "GET", get_calendar),
    ]
