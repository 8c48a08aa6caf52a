"""Well-formedness checks on what a plugin returns. Each raises AssertionError naming the broker, the
object and every problem found, so one failure says everything that is wrong with it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orch.models import Account, Instrument, Order, Position, Quote

__all__ = ["check_account", "check_order", "check_position", "check_quote", "same_instrument"]

_CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{2,5}$")


def _fail(what: str, problems: list[str]) -> None:
    if problems:
        raise AssertionError(f"{what}: " + "; ".join(problems))


def _aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None


def _decimal(problems: list[str], name: str, value: Any, *, optional: bool = False, positive: bool = False,
             non_negative: bool = False) -> None:
    if value is None:
        if not optional:
            problems.append(f"{name} is missing")
        return
    if not isinstance(value, Decimal) or isinstance(value, bool):
        problems.append(f"{name} is a {type(value).__name__}, not a Decimal")
        return
    if not value.is_finite():
        problems.append(f"{name} is {value}")
    elif positive and value <= 0:
        problems.append(f"{name} must be positive, got {value}")
    elif non_negative and value < 0:
        problems.append(f"{name} must not be negative, got {value}")


def same_instrument(a: Instrument, b: Instrument) -> bool:
    """Brokers spell symbols differently (BTC/USD, BTCUSD, btc-usd): compare letters and digits only."""
    def key(i: Instrument) -> str:
        return re.sub(r"[^A-Z0-9]", "", i.symbol.upper())

    return key(a) == key(b)


def check_account(account: Any, broker: str) -> None:
    problems: list[str] = []
    if not isinstance(account, Account):
        raise AssertionError(f"{broker}: account() returned {type(account).__name__}, not orch.models.Account")
    if account.broker != broker:
        problems.append(f"broker is {account.broker!r}, expected {broker!r}")
    if not isinstance(account.account_id, str) or not account.account_id.strip():
        problems.append("account_id is empty")
    if not isinstance(account.currency, str) or not _CURRENCY.match(account.currency):
        problems.append(f"currency {account.currency!r} is not a currency code")
    for name in ("cash", "equity", "buying_power"):
        _decimal(problems, name, getattr(account, name))
    _decimal(problems, "equity", account.equity, non_negative=True)
    _decimal(problems, "buying_power", account.buying_power, non_negative=True)
    for balance in account.balances:
        _decimal(problems, f"balance {balance.asset}.free", balance.free)
        _decimal(problems, f"balance {balance.asset}.locked", balance.locked)
    if account.paper is not True:
        problems.append("paper is not True although the connection is to a simulator's paper endpoint")
    _fail(f"{broker} account", problems)


def check_position(position: Any, broker: str) -> None:
    problems: list[str] = []
    if not isinstance(position, Position):
        raise AssertionError(f"{broker}: positions() holds a {type(position).__name__}, not orch.models.Position")
    if position.broker != broker:
        problems.append(f"broker is {position.broker!r}")
    if not isinstance(position.instrument, Instrument) or not position.instrument.symbol:
        problems.append("instrument is missing")
    _decimal(problems, "qty", position.qty)
    if position.qty == 0:
        problems.append("qty is 0 (a closed position must not be listed)")
    for name in ("avg_price", "market_value", "unrealized_pl"):
        _decimal(problems, name, getattr(position, name), optional=True)
    _decimal(problems, "avg_price", position.avg_price, optional=True, positive=True)
    if not isinstance(position.currency, str) or not _CURRENCY.match(position.currency):
        problems.append(f"currency {position.currency!r} is not a currency code")
    _fail(f"{broker} position {getattr(position.instrument, 'symbol', '?')}", problems)


def check_quote(quote: Any, broker: str, instrument: Instrument, *, now: datetime, max_age: float,
                max_ahead: float = 5.0) -> None:
    """Sane: both sides present and positive, bid ≤ ask, aware timestamp no older than ``max_age``
    seconds before ``now`` (the simulator's time) and not in its future."""
    problems: list[str] = []
    if not isinstance(quote, Quote):
        raise AssertionError(f"{broker}: quote() returned {type(quote).__name__}, not orch.models.Quote")
    if quote.broker != broker:
        problems.append(f"broker is {quote.broker!r}")
    if not same_instrument(quote.instrument, instrument):
        problems.append(f"instrument is {quote.instrument.symbol!r}, asked for {instrument.symbol!r}")
    _decimal(problems, "bid", quote.bid, positive=True)
    _decimal(problems, "ask", quote.ask, positive=True)
    _decimal(problems, "bid_size", quote.bid_size, optional=True, non_negative=True)
    _decimal(problems, "ask_size", quote.ask_size, optional=True, non_negative=True)
    _decimal(problems, "last", quote.last, optional=True, positive=True)
    if isinstance(quote.bid, Decimal) and isinstance(quote.ask, Decimal) and quote.bid > quote.ask:
        problems.append(f"bid {quote.bid} is above ask {quote.ask}")
    if not _aware(quote.timestamp):
        problems.append(f"timestamp {quote.timestamp!r} is not timezone-aware")
    else:
        if quote.timestamp < now - timedelta(seconds=max_age):
            problems.append(f"stale: timestamp {quote.timestamp.isoformat()} is more than {max_age:g}s before "
                            f"the simulator's time {now.isoformat()}")
        if quote.timestamp > now + timedelta(seconds=max_ahead):
            problems.append(f"timestamp {quote.timestamp.isoformat()} is in the future "
                            f"(simulator time {now.isoformat()})")
    _fail(f"{broker} quote {instrument.symbol}", problems)


def check_order(order: Any, broker: str) -> None:
    problems: list[str] = []
    if not isinstance(order, Order):
        raise AssertionError(f"{broker}: got a {type(order).__name__} where an orch.models.Order belongs")
    if order.broker != broker:
        problems.append(f"broker is {order.broker!r}")
    if not isinstance(order.broker_order_id, str) or not order.broker_order_id:
        problems.append("broker_order_id is empty")
    if not isinstance(order.raw_status, str) or not order.raw_status:
        problems.append("raw_status (the broker's own word) is empty")
    _decimal(problems, "qty", order.qty, optional=order.notional is not None, positive=True)
    _decimal(problems, "filled_qty", order.filled_qty, non_negative=True)
    _decimal(problems, "avg_fill_price", order.avg_fill_price, optional=True, positive=True)
    _decimal(problems, "limit_price", order.limit_price, optional=True, positive=True)
    for name in ("created_at", "updated_at"):
        value = getattr(order, name)
        if value is not None and not _aware(value):
            problems.append(f"{name} is not timezone-aware")
    if order.qty is not None and isinstance(order.filled_qty, Decimal) and order.filled_qty > order.qty:
        problems.append(f"filled_qty {order.filled_qty} exceeds qty {order.qty}")
    _fail(f"{broker} order {order.broker_order_id}", problems)
