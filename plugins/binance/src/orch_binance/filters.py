"""exchangeInfo symbol filters, enforced locally with Decimal arithmetic.

Quantities are rounded **down** to the lot step (never trade more than asked); limit prices to the tick in
the trader's favour (a buy down, a sell up: never pay more or receive less than asked); stop prices to the
nearest tick. What still breaks a filter after rounding is refused before anything is sent, with the
filter's name, as Binance would refuse it (-1013 "Filter failure: NAME").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from attrs import frozen

from orch.errors import InvalidOrder, ProtocolError

_ZERO = Decimal(0)


@frozen
class SymbolRules:
    """The parts of one exchangeInfo symbol orch uses. A zero bound means "no bound" (Binance's rule)."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal = _ZERO
    min_price: Decimal = _ZERO
    max_price: Decimal = _ZERO
    step_size: Decimal = _ZERO
    min_qty: Decimal = _ZERO
    max_qty: Decimal = _ZERO
    market_step_size: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    min_notional: Decimal = _ZERO
    max_notional: Decimal = _ZERO
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    notional_filter: str = "NOTIONAL"
    iceberg_parts: int | None = None
    order_types: tuple[str, ...] = ()
    iceberg_allowed: bool = True
    oco_allowed: bool = True
    quote_order_qty_market_allowed: bool = True
    quote_precision: int = 8

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def parse_symbol(data: Mapping[str, Any]) -> SymbolRules:
    """One entry of ``exchangeInfo.symbols``. Unknown filters are ignored (Binance adds new ones)."""
    try:
        found: dict[str, Any] = {}
        for item in data.get("filters") or ():
            kind = item.get("filterType")
            if kind == "PRICE_FILTER":
                found.update(tick_size=_d(item["tickSize"]), min_price=_d(item["minPrice"]),
                             max_price=_d(item["maxPrice"]))
            elif kind == "LOT_SIZE":
                found.update(step_size=_d(item["stepSize"]), min_qty=_d(item["minQty"]),
                             max_qty=_d(item["maxQty"]))
            elif kind == "MARKET_LOT_SIZE":
                found.update(market_step_size=_d(item["stepSize"]), market_min_qty=_d(item["minQty"]),
                             market_max_qty=_d(item["maxQty"]))
            elif kind == "NOTIONAL":
                found.update(min_notional=_d(item.get("minNotional", 0)),
                             max_notional=_d(item.get("maxNotional", 0)),
                             apply_min_to_market=bool(item.get("applyMinToMarket", True)),
                             apply_max_to_market=bool(item.get("applyMaxToMarket", False)),
                             notional_filter="NOTIONAL")
            elif kind == "MIN_NOTIONAL" and "min_notional" not in found:
                found.update(min_notional=_d(item["minNotional"]),
                             apply_min_to_market=bool(item.get("applyToMarket", True)),
                             notional_filter="MIN_NOTIONAL")
            elif kind == "ICEBERG_PARTS":
                found["iceberg_parts"] = int(item["limit"])
        return SymbolRules(
            symbol=str(data["symbol"]), status=str(data.get("status", "TRADING")),
            base_asset=str(data["baseAsset"]), quote_asset=str(data["quoteAsset"]),
            order_types=tuple(data.get("orderTypes") or ()),
            iceberg_allowed=bool(data.get("icebergAllowed", True)), oco_allowed=bool(data.get("ocoAllowed", True)),
            quote_order_qty_market_allowed=bool(data.get("quoteOrderQtyMarketAllowed", True)),
            quote_precision=int(data.get("quoteAssetPrecision", data.get("quotePrecision", 8))), **found)
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        name = data.get("symbol") if isinstance(data, Mapping) else None
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
        raise ProtocolError(f"cannot read exchangeInfo symbol {name!r}: {detail}", broker="binance") from None


def parse_exchange_info(data: Mapping[str, Any]) -> dict[str, SymbolRules]:
    symbols: Sequence[Mapping[str, Any]] = data.get("symbols") or () if isinstance(data, Mapping) else None
    if not isinstance(symbols, (list, tuple)):
        raise ProtocolError("cannot read exchangeInfo: expected a list of symbols", broker="binance")
    return {rules.symbol: rules for rules in (parse_symbol(item) for item in symbols)}


# ------------------------------------------------------------------------------------- rounding


def _to_step(value: Decimal, step: Decimal, rounding: str, origin: Decimal = _ZERO) -> Decimal:
    if step <= 0:
        return value
    units = ((value - origin) / step).to_integral_value(rounding=rounding)
    result = origin + units * step
    return result.normalize() if result else _ZERO


def round_qty(rules: SymbolRules, qty: Decimal, *, market: bool = False) -> Decimal:
    """Down to the lot step (MARKET_LOT_SIZE's for market orders when it sets one)."""
    step = rules.step_size
    if market and rules.market_step_size:
        step = rules.market_step_size
    return _to_step(qty, step, ROUND_FLOOR)


def round_price(rules: SymbolRules, price: Decimal, *, buy: bool | None) -> Decimal:
    """To the tick from ``minPrice``: a buy limit down, a sell limit up, a stop (``buy=None``) to the
    nearest tick."""
    rounding = ROUND_HALF_UP if buy is None else (ROUND_FLOOR if buy else ROUND_CEILING)
    return _to_step(price, rules.tick_size, rounding, rules.min_price if rules.tick_size else _ZERO)


def round_quote(rules: SymbolRules, amount: Decimal) -> Decimal:
    """A quoteOrderQty to the quote asset's precision (down)."""
    return amount.quantize(Decimal(1).scaleb(-rules.quote_precision), rounding=ROUND_FLOOR).normalize()


def plain(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros (``4.5E+4`` → ``45000``)."""
    return format(value.normalize(), "f")


# ------------------------------------------------------------------------------------- checks


def failure(rules: SymbolRules, name: str, detail: str, *, broker: str = "binance") -> InvalidOrder:
    return InvalidOrder(f"{broker}: {rules.symbol}: Filter failure: {name} ({detail})")


def check_price(rules: SymbolRules, label: str, price: Decimal, *, broker: str = "binance") -> None:
    if rules.min_price and price < rules.min_price:
        raise failure(rules, "PRICE_FILTER", f"{label} {plain(price)} is below minPrice {plain(rules.min_price)}",
                      broker=broker)
    if rules.max_price and price > rules.max_price:
        raise failure(rules, "PRICE_FILTER", f"{label} {plain(price)} is above maxPrice {plain(rules.max_price)}",
                      broker=broker)
    if rules.tick_size and (price - rules.min_price) % rules.tick_size != 0:
        raise failure(rules, "PRICE_FILTER", f"{label} {plain(price)} is not a multiple of tickSize "
                      f"{plain(rules.tick_size)}", broker=broker)


def check_qty(rules: SymbolRules, label: str, qty: Decimal, *, market: bool = False,
              broker: str = "binance") -> None:
    lots = [("LOT_SIZE", rules.min_qty, rules.max_qty, rules.step_size)]
    if market and rules.market_step_size is not None:
        lots.append(("MARKET_LOT_SIZE", rules.market_min_qty or _ZERO, rules.market_max_qty or _ZERO,
                     rules.market_step_size))
    for name, low, high, step in lots:
        if qty <= 0 or (low and qty < low):
            raise failure(rules, name, f"{label} {plain(qty)} is below minQty {plain(low)}", broker=broker)
        if high and qty > high:
            raise failure(rules, name, f"{label} {plain(qty)} is above maxQty {plain(high)}", broker=broker)
        if step and (qty - low) % step != 0:
            raise failure(rules, name, f"{label} {plain(qty)} is not a multiple of stepSize {plain(step)}",
                          broker=broker)


def check_notional(rules: SymbolRules, value: Decimal, *, market: bool, broker: str = "binance") -> None:
    """price × quantity within [minNotional, maxNotional]; for market orders only where the filter's
    ``applyMinToMarket`` / ``applyMaxToMarket`` say so."""
    name = rules.notional_filter
    if rules.min_notional and (not market or rules.apply_min_to_market) and value < rules.min_notional:
        raise failure(rules, name, f"notional {plain(value)} is below minNotional {plain(rules.min_notional)}",
                      broker=broker)
    if rules.max_notional and (not market or rules.apply_max_to_market) and value > rules.max_notional:
        raise failure(rules, name, f"notional {plain(value)} is above maxNotional {plain(rules.max_notional)}",
                      broker=broker)


def check_iceberg(rules: SymbolRules, qty: Decimal, iceberg_qty: Decimal, *, broker: str = "binance") -> None:
    if not rules.iceberg_allowed:
        raise failure(rules, "ICEBERG_PARTS", "icebergAllowed is false for this symbol", broker=broker)
    check_qty(rules, "icebergQty", iceberg_qty, broker=broker)
    if rules.iceberg_parts is not None:
        parts = (qty / iceberg_qty).to_integral_value(rounding=ROUND_CEILING)
        if parts > rules.iceberg_parts:
            raise failure(rules, "ICEBERG_PARTS", f"{parts} parts, at most {rules.iceberg_parts}", broker=broker)
