"""Reading and checking ``POST /v2/orders`` and ``PATCH /v2/orders/{id}`` bodies the way Alpaca does.

Pure functions: a body in, the engine's arguments out, or an :class:`~.errors.AlpacaError` carrying
Alpaca's status, code and message. Numbers may be JSON strings or numbers (alpaca-py sends numbers such
as ``1.0``); floats are read through ``repr`` so ``190.1`` stays ``190.1``.

What the engine checks anyway (buying power, quantity held, client id uniqueness, tick size) is left to
it; the simulator maps its refusal codes onto Alpaca's answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen

from orch.sim.instruments import SymbolInfo, UnknownSymbol

from orch_alpaca.sim import errors, wire

MAX_QTY_DECIMALS = 9
MAX_CLIENT_ORDER_ID = 128
SIDES = ("buy", "sell")
TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")
CLASSES = ("simple", "bracket", "oco", "oto")
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")
CRYPTO_TYPES = ("market", "limit", "stop_limit")
CRYPTO_TIFS = ("gtc", "ioc")
CENT = Decimal("0.01")


@frozen
class NewOrder:
    """Everything ``Engine.place_order`` needs, plus the asset and the wire-only position intent."""

    info: SymbolInfo
    fields: Mapping[str, Any]
    position_intent: str | None = None


def number(value: Any, name: str) -> Decimal | None:
    """A decimal from a JSON string or number; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise errors.invalid(f"invalid {name}")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise errors.invalid(f"invalid {name}: {value!r}") from None
    if not result.is_finite():
        raise errors.invalid(f"invalid {name}: {value!r}")
    return result


def _word(body: Mapping[str, Any], name: str, allowed: tuple[str, ...], *, default: str | None = None,
          what: str | None = None) -> str:
    value = body.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise errors.invalid(f"{name} is required")
    text = str(value).strip().lower()
    if text not in allowed:
        raise errors.invalid(f"invalid {what or name}: {value!r}")
    return text


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise errors.invalid(f"invalid {name}: {value!r}")


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check_sub_penny(name: str, price: Decimal | None) -> None:
    """Stocks: at most 2 decimals from $1 up, 4 below (Alpaca's 42210000)."""
    if price is None:
        return
    allowed = 2 if price >= 1 else 4
    if _decimals(price) > allowed:
        raise errors.unprocessable(f"invalid {name} {wire.dec(price)}. sub-penny increment does not fulfill "
                                   f"minimum pricing criteria")


def _positive(name: str, value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise errors.invalid(f"{name} must be > 0")


def _leg(body: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise errors.malformed()
    return value


def parse_new_order(body: Any, resolve: Callable[[str], SymbolInfo],
                    price_of: Callable[[SymbolInfo, str], Decimal]) -> NewOrder:
    """Check a create-order body. ``resolve`` maps a symbol to its asset (:class:`UnknownSymbol` if
    none); ``price_of(info, side)`` is the price a marketable order would get now (the base price of a
    market-entry bracket)."""
    if not isinstance(body, Mapping):
        raise errors.malformed()
    order_class = _word(body, "order_class", CLASSES + ("",), default="simple")
    order_class = order_class or "simple"
    symbol = body.get("symbol")
    if symbol is None or str(symbol).strip() == "":
        raise errors.invalid("symbol is required")
    try:
        info = resolve(str(symbol))
    except UnknownSymbol:
        raise errors.invalid(f"asset {str(symbol).strip()} not found") from None
    crypto = wire.is_crypto(info)
    side = _word(body, "side", SIDES)
    kind = _word(body, "type", TYPES, what="order type")
    tif = _word(body, "time_in_force", TIFS)
    qty = number(body.get("qty"), "qty")
    notional = number(body.get("notional"), "notional")
    limit_price = number(body.get("limit_price"), "limit_price")
    stop_price = number(body.get("stop_price"), "stop_price")
    trail_price = number(body.get("trail_price"), "trail_price")
    trail_percent = number(body.get("trail_percent"), "trail_percent")
    extended = _flag(body.get("extended_hours"), "extended_hours")
    client_order_id = body.get("client_order_id")
    if client_order_id is not None:
        client_order_id = str(client_order_id)
        if len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise errors.invalid(f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
        client_order_id = client_order_id or None
    intent = body.get("position_intent")
    if intent is not None and str(intent).lower() not in INTENTS:
        raise errors.invalid(f"invalid position_intent: {intent!r}")

    # Size.
    if qty is not None and notional is not None:
        raise errors.invalid("only one of qty or notional can be specified")
    if qty is None and notional is None:
        raise errors.invalid("qty or notional is required")
    _positive("qty", qty)
    _positive("notional", notional)
    if qty is not None and _decimals(qty) > MAX_QTY_DECIMALS:
        raise errors.invalid(f"qty must have at most {MAX_QTY_DECIMALS} decimal places")
    fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
    if notional is not None and kind != "market":
        raise errors.invalid("notional orders must be market orders")
    if fractional and not crypto and tif != "day":
        raise errors.invalid("fractional orders must be DAY orders")

    # Prices by order type.
    for name, value in (("limit_price", limit_price), ("stop_price", stop_price),
                        ("trail_price", trail_price), ("trail_percent", trail_percent)):
        _positive(name, value)
    if kind in ("limit", "stop_limit") and limit_price is None and order_class != "oco":
        raise errors.invalid(f"{kind.replace('_', ' ')} orders require a limit price")
    if kind in ("stop", "stop_limit") and stop_price is None:
        raise errors.invalid(f"{kind.replace('_', ' ')} orders require a stop price")
    if kind == "trailing_stop":
        if (trail_price is None) == (trail_percent is None):
            raise errors.invalid("trailing stop orders require exactly one of trail_price or trail_percent")
        if tif not in ("day", "gtc"):
            raise errors.invalid("trailing stop orders must be DAY or GTC")
    else:
        trail_price = trail_percent = None
    if kind in ("market", "stop", "trailing_stop"):
        limit_price = None
    if kind in ("market", "limit", "trailing_stop"):
        stop_price = None

    if crypto:
        if kind not in CRYPTO_TYPES:
            raise errors.invalid("invalid order type for crypto order")
        if tif not in CRYPTO_TIFS:
            raise errors.invalid("invalid crypto time_in_force")
        if order_class != "simple":
            raise errors.invalid("crypto orders must be simple orders")
        if extended:
            raise errors.invalid("extended hours orders are not supported for crypto")
    if extended:
        if kind != "limit":
            raise errors.invalid('only type="limit" is allowed for extended hours orders')
        if tif != "day":
            raise errors.invalid('only time_in_force="day" is allowed for extended hours orders')

    take_profit = _leg(body, "take_profit")
    stop_loss = _leg(body, "stop_loss")
    tp_limit = number(take_profit.get("limit_price"), "take_profit.limit_price") if take_profit else None
    sl_stop = number(stop_loss.get("stop_price"), "stop_loss.stop_price") if stop_loss else None
    sl_limit = number(stop_loss.get("limit_price"), "stop_loss.limit_price") if stop_loss else None
    if order_class == "simple":
        tp_limit = sl_stop = sl_limit = None
    else:
        _check_class(order_class, kind, tif, extended, side, limit_price, stop_price, tp_limit, sl_stop,
                     lambda: price_of(info, side))
        if order_class == "oco":
            limit_price = None  # the take-profit leg carries it

    if not crypto:
        for name, price in (("limit_price", limit_price), ("stop_price", stop_price),
                            ("trail_price", trail_price), ("take_profit.limit_price", tp_limit),
                            ("stop_loss.stop_price", sl_stop), ("stop_loss.limit_price", sl_limit)):
            check_sub_penny(name, price)

    fields = dict(symbol=info.symbol, side=side, type=kind, time_in_force=tif, qty=qty, notional=notional,
                  limit_price=limit_price, stop_price=stop_price, trail_price=trail_price,
                  trail_percent=trail_percent, extended_hours=extended, client_order_id=client_order_id,
                  order_class=order_class, take_profit=tp_limit, stop_loss=sl_stop,
                  stop_loss_limit_price=sl_limit)
    return NewOrder(info=info, fields=fields, position_intent=str(intent).lower() if intent else None)


def _check_class(order_class: str, kind: str, tif: str, extended: bool, side: str, limit_price: Decimal | None,
                 stop_price: Decimal | None, tp_limit: Decimal | None, sl_stop: Decimal | None,
                 market_price: Callable[[], Decimal]) -> None:
    if extended:
        raise errors.invalid(f"{order_class} orders cannot be extended hours orders")
    if tif not in ("day", "gtc"):
        raise errors.invalid(f"{order_class} orders must be DAY or GTC")
    if kind == "trailing_stop":
        raise errors.invalid(f"{order_class} orders must be market, limit, stop or stop_limit orders")
    if order_class == "bracket":
        if tp_limit is None:
            raise errors.invalid("bracket orders require take_profit.limit_price")
        if sl_stop is None:
            raise errors.invalid("bracket orders require stop_loss.stop_price")
    elif order_class == "oto":
        if (tp_limit is None) == (sl_stop is None):
            raise errors.invalid("oto orders require exactly one of take_profit or stop_loss")
    elif order_class == "oco":
        if kind != "limit":
            raise errors.invalid("oco orders must be limit orders")
        if tp_limit is None or sl_stop is None:
            raise errors.invalid("oco orders require take_profit.limit_price and stop_loss.stop_price")
    buy_entry = side == "buy"
    if order_class == "oco":
        base = tp_limit
        exit_sells = side == "sell"
    else:
        base = limit_price if kind in ("limit", "stop_limit") else stop_price if kind == "stop" else None
        if base is None:
            base = market_price()
        exit_sells = buy_entry
    assert base is not None
    if tp_limit is not None and sl_stop is not None:
        if exit_sells and not tp_limit > sl_stop:
            raise errors.invalid("take_profit.limit_price must be > stop_loss.stop_price")
        if not exit_sells and not tp_limit < sl_stop:
            raise errors.invalid("take_profit.limit_price must be < stop_loss.stop_price")
    if sl_stop is not None:
        if exit_sells and sl_stop > base - CENT:
            raise errors.invalid(f"stop_loss.stop_price must be <= base_price - 0.01 "
                                 f"(stop_price {wire.dec(sl_stop)}, base_price {wire.dec(base)})")
        if not exit_sells and sl_stop < base + CENT:
            raise errors.invalid(f"stop_loss.stop_price must be >= base_price + 0.01 "
                                 f"(stop_price {wire.dec(sl_stop)}, base_price {wire.dec(base)})")
    if tp_limit is not None and order_class != "oco":
        if exit_sells and tp_limit < base + CENT:
            raise errors.invalid(f"take_profit.limit_price must be >= base_price + 0.01 "
                                 f"(limit_price {wire.dec(tp_limit)}, base_price {wire.dec(base)})")
        if not exit_sells and tp_limit > base - CENT:
            raise errors.invalid(f"take_profit.limit_price must be <= base_price - 0.01 "
                                 f"(limit_price {wire.dec(tp_limit)}, base_price {wire.dec(base)})")


@frozen
class Replacement:
    qty: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail: Decimal | None
    time_in_force: str | None
    client_order_id: str | None


def parse_replace(body: Any, *, crypto: bool) -> Replacement:
    """Check a replace body (``qty``, ``time_in_force``, ``limit_price``, ``stop_price``, ``trail``,
    ``client_order_id``). An empty body is allowed (Alpaca then re-submits the order unchanged)."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise errors.malformed()
    qty = number(body.get("qty"), "qty")
    limit_price = number(body.get("limit_price"), "limit_price")
    stop_price = number(body.get("stop_price"), "stop_price")
    trail = number(body.get("trail"), "trail")
    for name, value in (("qty", qty), ("limit_price", limit_price), ("stop_price", stop_price), ("trail", trail)):
        _positive(name, value)
    if qty is not None and _decimals(qty) > MAX_QTY_DECIMALS:
        raise errors.invalid(f"qty must have at most {MAX_QTY_DECIMALS} decimal places")
    tif = None
    if body.get("time_in_force") not in (None, ""):
        tif = _word(body, "time_in_force", CRYPTO_TIFS if crypto else TIFS)
    if not crypto:
        check_sub_penny("limit_price", limit_price)
        check_sub_penny("stop_price", stop_price)
    client_order_id = body.get("client_order_id")
    if client_order_id is not None:
        client_order_id = str(client_order_id)
        if len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise errors.invalid(f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
    return Replacement(qty=qty, limit_price=limit_price, stop_price=stop_price, trail=trail,
                       time_in_force=tif, client_order_id=client_order_id or None)
