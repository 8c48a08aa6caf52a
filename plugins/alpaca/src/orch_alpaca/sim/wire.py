"""Alpaca's JSON shapes, written from the simulation kit's records. Pure functions, no I/O.

Decimals leave as strings in plain notation (``"5"``, never ``"5E+0"``), timestamps as RFC3339 UTC with
microseconds and ``Z``, ids as UUIDs. Market-data records use Alpaca's compact keys and JSON numbers;
in msgpack mode the stream module turns their ``t`` into a msgpack Timestamp.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from orch.models import OrderClass, OrderStatus
from orch.sim.instruments import AssetClass, SymbolInfo
from orch.sim.numbers import tidy

# Fixed namespace: the same symbol (or engine id) always gets the same UUID, across runs and simulators.
NAMESPACE = uuid.UUID("5c1f0a4e-6b0e-4c55-9a55-a1ba6ca0a1ba")

_ETF_EXCHANGE = "ARCA"
_STOCK_EXCHANGE = "NASDAQ"
_NYSE = frozenset({"JPM", "BAC", "V", "MA", "KO", "DIS", "BA", "WMT", "XOM", "IBM", "ORCL", "CRM", "UBER",
                   "BRK.B", "F", "T"})


def dec(value: Decimal | int | None) -> str | None:
    if value is None:
        return None
    return format(tidy(Decimal(value)), "f")


def num(value: Decimal | int | None) -> float | int | None:
    """A JSON number for market data (Alpaca sends prices and sizes there as numbers)."""
    if value is None:
        return None
    value = tidy(Decimal(value))
    return int(value) if value == value.to_integral_value() else float(value)


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


# ------------------------------------------------------------------------------------- symbols, assets


def is_crypto(info: SymbolInfo) -> bool:
    return info.asset_class is AssetClass.CRYPTO


def order_symbol(info: SymbolInfo) -> str:
    """How orders and market data name the symbol: ``AAPL``, ``BTC/USD``."""
    return f"{info.base_asset}/{info.quote_asset}" if is_crypto(info) else info.symbol


def position_symbol(info: SymbolInfo) -> str:
    """How positions and trade_updates name it: ``AAPL``, ``BTCUSD`` (no slash)."""
    return f"{info.base_asset}{info.quote_asset}" if is_crypto(info) else info.symbol


def asset_class(info: SymbolInfo) -> str:
    return "crypto" if is_crypto(info) else "us_equity"


def exchange(info: SymbolInfo) -> str:
    if is_crypto(info):
        return "CRYPTO"
    if info.asset_class is AssetClass.ETF:
        return _ETF_EXCHANGE
    return "NYSE" if info.symbol in _NYSE else _STOCK_EXCHANGE


def asset_id(info: SymbolInfo) -> str:
    return stable_uuid("asset", order_symbol(info))


def asset_json(info: SymbolInfo, *, shortable: bool = True) -> dict[str, Any]:
    crypto = is_crypto(info)
    body: dict[str, Any] = {
        "id": asset_id(info),
        "class": asset_class(info),
        "exchange": exchange(info),
        "symbol": order_symbol(info),
        "name": info.name or order_symbol(info),
        "status": "active",
        "tradable": True,
        "marginable": not crypto,
        "maintenance_margin_requirement": 100 if crypto else 30,
        "margin_requirement_long": "100" if crypto else "30",
        "margin_requirement_short": "100" if crypto else "30",
        "shortable": shortable and not crypto,
        "easy_to_borrow": shortable and not crypto,
        "fractionable": True,
        "attributes": [],
    }
    if crypto:
        body["min_order_size"] = dec(info.qty_step)
        body["min_trade_increment"] = dec(info.qty_step)
        body["price_increment"] = dec(info.tick_size)
    return body


# ------------------------------------------------------------------------------------- orders

# What Alpaca calls each engine status (the "replaced" and "held" cases are decided from the order).
_STATUS_WORD = {
    OrderStatus.NEW: "new",
    OrderStatus.ACCEPTED: "accepted",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.PENDING_CANCEL: "pending_cancel",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.EXPIRED: "expired",
}


def status_word(order: Any) -> str:
    """Alpaca's status for a SimOrder: ``replaced`` once a successor exists, ``held`` for a bracket leg
    waiting on its parent."""
    if order.replaced_by is not None and order.status is OrderStatus.CANCELED:
        return "replaced"
    if order.held and order.status.is_open:
        return "held"
    return _STATUS_WORD.get(order.status, order.status.value)


def order_class_word(value: OrderClass) -> str:
    # Alpaca's own answers leave simple orders' class empty; alpaca-py and orch both read "" as simple.
    return "" if value is OrderClass.SIMPLE else value.value


def order_json(order: Any, info: SymbolInfo, *, ids: Mapping[str, str] | None = None,
               legs: Sequence[Any] | None = None, leg_info: Mapping[str, SymbolInfo] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Order object for a :class:`~orch.sim.orders.SimOrder`. ``ids`` maps engine ids to the UUIDs
    shown on the wire (identity when absent); ``legs`` are the child SimOrders (nested listing)."""
    def wire_id(value: str | None) -> str | None:
        if value is None:
            return None
        return (ids or {}).get(value, value)

    word = status_word(order)
    replaced_at = order.updated_at if word == "replaced" else None
    canceled_at = None if word == "replaced" else order.canceled_at
    failed_at = order.updated_at if order.status is OrderStatus.REJECTED else None
    order_type = order.type.value
    body: dict[str, Any] = {
        "id": wire_id(order.id),
        "client_order_id": order.client_order_id or wire_id(order.id),
        "created_at": ts(order.created_at),
        "updated_at": ts(order.updated_at or order.created_at),
        "submitted_at": ts(order.created_at),
        "filled_at": ts(order.filled_at),
        "expired_at": ts(order.expired_at),
        "canceled_at": ts(canceled_at),
        "failed_at": ts(failed_at),
        "replaced_at": ts(replaced_at),
        "replaced_by": wire_id(order.replaced_by),
        "replaces": wire_id(order.replaces),
        "asset_id": asset_id(info),
        "symbol": order_symbol(info),
        "asset_class": asset_class(info),
        "notional": dec(order.notional),
        "qty": dec(order.qty) if order.qty is not None else (
            dec(order.filled_qty) if order.notional is not None and order.filled_qty else None),
        "filled_qty": dec(order.filled_qty),
        "filled_avg_price": dec(order.avg_fill_price),
        "order_class": order_class_word(order.order_class),
        "order_type": order_type,
        "type": order_type,
        "side": order.side.value,
        "position_intent": order.extra.get("position_intent"),
        "time_in_force": order.time_in_force.value,
        "limit_price": dec(order.limit_price),
        "stop_price": dec(order.stop_price if order.type.value != "trailing_stop" else order.trail_stop),
        "status": word,
        "extended_hours": bool(order.extended_hours),
        "legs": None,
        "trail_percent": dec(order.trail_percent),
        "trail_price": dec(order.trail_price),
        "hwm": dec(order.hwm),
        "subtag": None,
        "source": None,
        "expires_at": ts(order.expires_at),
    }
    if order.notional is not None:
        body["qty"] = None  # Alpaca keeps qty null on a notional order; filled_qty tells the size
    if legs:
        body["legs"] = [order_json(leg, (leg_info or {}).get(leg.id, info), ids=ids) for leg in legs]
    if extra:
        body.update(extra)
    return body


# ------------------------------------------------------------------------------------- account, positions


def account_json(state: Any, *, account_uuid: str, account_number: str, created_at: datetime,
                 shorting_enabled: bool, last_equity: Decimal | None = None) -> dict[str, Any]:
    """The account object from an :class:`~orch.sim.accounts.AccountState` (USD)."""
    cash = state.cash.get(state.currency, Decimal(0))
    multiplier = state.margin_multiplier
    non_marginable = max(Decimal(0), cash - state.reserved) if multiplier > 1 else state.buying_power
    equity = state.equity
    zero = "0"
    return {
        "id": account_uuid,
        "admin_configurations": {},
        "user_configurations": None,
        "account_number": account_number,
        "status": "ACTIVE",
        "crypto_status": "ACTIVE",
        "options_approved_level": 0,
        "options_trading_level": 0,
        "currency": state.currency,
        "buying_power": dec(state.buying_power),
        "regt_buying_power": dec(state.buying_power),
        "daytrading_buying_power": dec(state.buying_power if multiplier >= 4 else Decimal(0)),
        "effective_buying_power": dec(state.buying_power),
        "non_marginable_buying_power": dec(non_marginable),
        "options_buying_power": dec(max(Decimal(0), cash)),
        "bod_dtbp": zero,
        "cash": dec(cash),
        "accrued_fees": zero,
        "portfolio_value": dec(equity),
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": ts(created_at),
        "trade_suspended_by_user": False,
        "multiplier": dec(multiplier),
        "shorting_enabled": shorting_enabled,
        "equity": dec(equity),
        "last_equity": dec(last_equity if last_equity is not None else equity),
        "long_market_value": dec(state.long_market_value),
        "short_market_value": dec(state.short_market_value),
        "position_market_value": dec(state.long_market_value - state.short_market_value),
        "initial_margin": dec(state.reserved),
        "maintenance_margin": zero,
        "last_maintenance_margin": zero,
        "sma": zero,
        "daytrade_count": 0,
        "balance_asof": state.timestamp.date().isoformat(),
        "crypto_tier": 1,
        "intraday_adjustments": zero,
        "pending_reg_taf_fees": zero,
        "pending_transfer_in": zero,
        "pending_transfer_out": zero,
    }


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    if denominator == 0:
        return "0"
    return dec((numerator / denominator).quantize(Decimal("1e-10")))


def position_json(position: Any, info: SymbolInfo, *, lastday_price: Decimal,
                  qty_available: Decimal | None = None) -> dict[str, Any]:
    """A position from a :class:`~orch.sim.accounts.PositionState`, valued at its market price."""
    qty = position.qty
    cost_basis = position.cost_basis
    price = position.market_price
    intraday = (price - lastday_price) * qty
    lastday_value = abs(lastday_price * qty)
    return {
        "asset_id": asset_id(info),
        "symbol": position_symbol(info),
        "exchange": exchange(info),
        "asset_class": asset_class(info),
        "asset_marginable": not is_crypto(info),
        "qty": dec(qty),
        "qty_available": dec(qty if qty_available is None else qty_available),
        "avg_entry_price": dec(position.avg_price),
        "side": "long" if qty >= 0 else "short",
        "market_value": dec(position.market_value),
        "cost_basis": dec(cost_basis),
        "unrealized_pl": dec(position.unrealized_pl),
        "unrealized_plpc": _ratio(position.unrealized_pl, abs(cost_basis)),
        "unrealized_intraday_pl": dec(intraday),
        "unrealized_intraday_plpc": _ratio(intraday, lastday_value),
        "current_price": dec(price),
        "lastday_price": dec(lastday_price),
        "change_today": _ratio(price - lastday_price, lastday_price),
    }


def fill_activity_json(fill: Any, order: Any, info: SymbolInfo, *, order_uuid: str, account_uuid: str,
                       sold_short: bool = False) -> dict[str, Any]:
    """One ``activity_type: FILL`` entry. The id sorts by time (Alpaca's ``<timestamp>::<uuid>`` shape),
    which is what makes it usable as a page token."""
    stamp = fill.timestamp.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    side = order.side.value
    if side == "sell" and sold_short:
        side = "sell_short"
    # As of this execution, not as the order stands now: an early fill of a larger order was partial.
    cumulative = sum((f.qty for f in order.fills if f.seq <= fill.seq), Decimal(0)) or fill.qty
    last = not order.fills or order.fills[-1].seq == fill.seq
    if order.qty is not None:
        done = cumulative >= order.qty
        leaves = max(Decimal(0), order.qty - cumulative)
    else:
        done = last and order.status is OrderStatus.FILLED
        leaves = Decimal(0)
    return {
        "id": f"{stamp}{fill.seq:06d}::{stable_uuid('fill', fill.id)}",
        "account_id": account_uuid,
        "activity_type": "FILL",
        "transaction_time": ts(fill.timestamp),
        "type": "fill" if done else "partial_fill",
        "price": dec(fill.price),
        "qty": dec(fill.qty),
        "side": side,
        "symbol": position_symbol(info),
        "leaves_qty": dec(leaves),
        "order_id": order_uuid,
        "cum_qty": dec(cumulative),
        "order_status": "filled" if done else "partially_filled",
    }


# ------------------------------------------------------------------------------------- market data


def quote_record(quote: Any, *, crypto: bool, when: datetime | None = None) -> dict[str, Any]:
    """A compact quote (``t`` is a datetime here; the encoder decides text or msgpack Timestamp)."""
    record: dict[str, Any] = {"t": when or quote.timestamp, "bp": num(quote.bid), "bs": num(quote.bid_size),
                              "ap": num(quote.ask), "as": num(quote.ask_size)}
    if not crypto:
        record.update({"bx": "V", "ax": "V", "c": ["R"], "z": "C"})
    return record


def trade_record(price: Decimal, size: Decimal, when: datetime, trade_id: int, *, crypto: bool,
                 taker_side: str = "B") -> dict[str, Any]:
    record: dict[str, Any] = {"t": when, "p": num(price), "s": num(size), "i": trade_id}
    if crypto:
        record["tks"] = taker_side
    else:
        record.update({"x": "V", "c": ["@"], "z": "C"})
    return record


def bar_record(bar: Any) -> dict[str, Any]:
    mid = (bar.high + bar.low + bar.close) / 3
    return {"t": bar.start, "o": num(bar.open), "h": num(bar.high), "l": num(bar.low), "c": num(bar.close),
            "v": num(bar.volume), "n": max(1, int(bar.volume // 100) or 1), "vw": num(mid.quantize(Decimal("1e-4")))}


def jsonable(value: Any) -> Any:
    """Market-data records for a JSON answer: datetimes become RFC3339 strings."""
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
