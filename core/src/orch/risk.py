"""Pre-trade risk checks: a pure function of the order, the broker's settings and the state the caller
passes in (position, open orders, recent order count, today's realized P/L, halt flag, market session).

Nothing here does I/O or remembers orders; the orchestrator gathers the state, calls
:meth:`RiskEngine.check`, and on :class:`RiskHalt` records the halt (the kill switch) before refusing.
Every refusal is a :class:`~orch.errors.RiskRejected` whose ``rule`` mirrors the config key and whose
message gives the value, the limit and where the limit is configured, e.g.
``risk rule max_order_size: qty 1500 exceeds brokers.alpaca.trading_settings.max_order_size 1000``.

Limits are inclusive: a value equal to a maximum (or minimum) passes; the daily loss limit is the
exception, since reaching it is what halts trading. A check whose limit is configured but whose value
cannot be computed (a market order with no quote, a notional order with no price) refuses the order
rather than letting it through unchecked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from orch.config_model import RiskSettings
from orch.errors import RiskRejected
from orch.models import OrderClass, OrderRequest, OrderType, Quote, Side, TimeInForce, utcnow

__all__ = ["OrderRateWindow", "RiskEngine", "RiskHalt", "Session", "reference_price"]

Session = Literal["regular", "pre", "after", "closed"]
_SESSIONS = ("regular", "pre", "after", "closed")

# Config keys of order_types that disable an order; brokers name some types differently (Binance's
# stop_loss is a stop order, IBKR's guide block has bracket).
_TYPE_KEYS = {
    OrderType.MARKET: ("market",),
    OrderType.LIMIT: ("limit",),
    OrderType.STOP: ("stop", "stop_loss"),
    OrderType.STOP_LIMIT: ("stop_limit", "stop_loss_limit"),
    OrderType.TRAILING_STOP: ("trailing_stop", "trailing"),
}
_CLASS_KEYS = {OrderClass.BRACKET: "bracket", OrderClass.OCO: "oco", OrderClass.OTO: "oto"}


class RiskHalt(RiskRejected):
    """A refusal that must also halt trading (the daily loss limit). The caller records ``halt_reason``
    as the kill switch, so later checks refuse with rule ``halted`` until ``orch resume``."""

    def __init__(self, rule: str, message: str, *, halt_reason: str, limit: Decimal | int | None = None,
                 value: Decimal | int | None = None) -> None:
        self.halt_reason = halt_reason
        super().__init__(rule, message, limit=limit, value=value)


def _fmt(value: Decimal | int) -> str:
    """Plain notation without trailing zeros: 1000000.0 → 1000000, 0.0100 → 0.01."""
    if isinstance(value, int):
        return str(value)
    return format(value.normalize(), "f")


def reference_price(request: OrderRequest, quote: Quote | None) -> tuple[Decimal | None, str]:
    """The price notional checks use, and what it is: the limit price; else the stop price (a stop
    order executes near it); else the side of the quote the order would take (ask to buy, bid to sell);
    else the last trade; else the mid."""
    if request.limit_price is not None:
        return request.limit_price, "limit price"
    if request.stop_price is not None:
        return request.stop_price, "stop price"
    if quote is not None:
        side_price = quote.ask if request.side is Side.BUY else quote.bid
        if side_price is not None:
            return side_price, "ask" if request.side is Side.BUY else "bid"
        if quote.last is not None:
            return quote.last, "last"
        if quote.mid is not None:
            return quote.mid, "mid"
    return None, "no price"


class _Order:
    """The numbers of one order, derived once: quantity, notional, and how they were obtained."""

    def __init__(self, request: OrderRequest, quote: Quote | None) -> None:
        self.request = request
        self.symbol = request.instrument.symbol
        self.price, self.price_source = reference_price(request, quote)
        if request.qty is not None:
            self.qty: Decimal | None = request.qty
            self.qty_text = f"qty {_fmt(request.qty)}"
            if self.price is not None:
                self.notional: Decimal | None = request.qty * self.price
                self.notional_text = (f"notional {_fmt(self.notional)} (qty {_fmt(request.qty)} × "
                                      f"{self.price_source} {_fmt(self.price)})")
            else:
                self.notional = None
                self.notional_text = "notional unknown"
        else:
            assert request.notional is not None  # OrderRequest guarantees exactly one of qty/notional
            self.notional = request.notional
            self.notional_text = f"notional {_fmt(request.notional)}"
            if self.price is not None:
                self.qty = request.notional / self.price
                self.qty_text = (f"qty {_fmt(self.qty)} (notional {_fmt(request.notional)} ÷ "
                                 f"{self.price_source} {_fmt(self.price)})")
            else:
                self.qty = None
                self.qty_text = "qty unknown"

    def need_qty(self, rule: str, limit: Decimal | int) -> Decimal:
        if self.qty is None:
            raise RiskRejected(rule, f"cannot check a notional order of {_fmt(self.request.notional)} "
                                     f"{self.symbol} without a price (no quote); give a qty or a limit "
                                     f"price", limit=limit)
        return self.qty

    def need_notional(self, rule: str, limit: Decimal | int) -> Decimal:
        if self.notional is None:
            raise RiskRejected(rule, f"cannot check the notional of {self.qty_text} {self.symbol}: no quote "
                                     f"and no limit or stop price", limit=limit)
        return self.notional


class RiskEngine:
    """Pre-trade checks across brokers (``risk``) and per broker (``per_broker[name]``: a
    ``BrokerSettings`` or anything with ``trading_settings``, ``features`` and ``order_types``).
    ``clock`` returns the current aware datetime; it is only used to say how long until the next open."""

    def __init__(self, risk: RiskSettings | None = None, per_broker: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.risk = risk if risk is not None else RiskSettings()
        self.per_broker = dict(per_broker or {})
        self.clock = clock

    def check(self, broker: str, request: OrderRequest, *, quote: Quote | None, position_qty: Decimal,
              open_orders: int, orders_last_minute: int, realized_pl_today: Decimal, halted: str | None,
              market_open: bool | None = None, session: Session | None = None,
              cash_available: Decimal | None = None, next_open: datetime | None = None) -> None:
        """Return None if ``request`` may be sent to ``broker``, else raise :class:`RiskRejected`
        (:class:`RiskHalt` when the daily loss limit is reached: record the halt, then refuse).

        ``position_qty`` is the signed position in the symbol at this broker (negative = short);
        ``open_orders`` and ``orders_last_minute`` do not count this order; ``realized_pl_today`` is
        negative for a loss; ``halted`` is the kill switch's reason, None when trading is allowed;
        ``market_open``/``session`` describe the instrument's market now (None = unknown, not checked);
        ``cash_available`` is cash buying power without margin (None = not checked); ``next_open`` is
        the market's next opening, quoted in the market-hours refusal when known."""
        if session is not None and session not in _SESSIONS:
            raise ValueError(f"session must be one of {', '.join(_SESSIONS)}, got {session!r}")
        order = _Order(request, quote)
        settings = self.per_broker.get(broker)
        prefix = f"brokers.{broker}"
        self._halted(halted)
        self._daily_loss(realized_pl_today)
        self._order_types(settings, prefix, request)
        self._extended_hours(settings, prefix, request, session)
        self._market_hours(request, market_open, session, next_open)
        self._sizes(settings, prefix, order)
        self._notionals(settings, prefix, order)
        self._position(order, position_qty)
        self._short_selling(settings, prefix, order, position_qty)
        self._margin(settings, prefix, order, cash_available)
        self._counts(open_orders, orders_last_minute)

    # -- kill switch and loss -----------------------------------------------------------------------------

    @staticmethod
    def _halted(halted: str | None) -> None:
        if halted is not None:
            reason = f" ({halted})" if halted else ""
            raise RiskRejected("halted", f"trading is halted{reason}; run `orch resume` to lift the halt")

    def _daily_loss(self, realized_pl_today: Decimal) -> None:
        limit = self.risk.daily_loss_limit
        if limit is None:
            return
        # Written either as a loss (500) or as a P/L floor (-500); both mean "stop at a 500 loss".
        floor = -abs(limit)
        if realized_pl_today <= floor:
            halt = (f"daily loss limit: realized P/L today {_fmt(realized_pl_today)} reached "
                    f"risk.daily_loss_limit {_fmt(abs(limit))}")
            raise RiskHalt("daily_loss_limit",
                           f"realized P/L today {_fmt(realized_pl_today)} reached the loss limit "
                           f"risk.daily_loss_limit {_fmt(abs(limit))}; trading is halted until `orch resume`",
                           halt_reason=halt, limit=abs(limit), value=realized_pl_today)

    # -- broker features --------------------------------------------------------------------------------

    @staticmethod
    def _order_types(settings: Any, prefix: str, request: OrderRequest) -> None:
        toggles = {str(k).lower(): v for k, v in (getattr(settings, "order_types", None) or {}).items()}
        wanted = [(request.type.value, k) for k in _TYPE_KEYS[request.type]]
        if request.order_class in _CLASS_KEYS:
            wanted.append((request.order_class.value, _CLASS_KEYS[request.order_class]))
        if request.take_profit is not None:
            wanted.append(("take_profit", "take_profit"))
        for what, key in wanted:
            toggle = toggles.get(key)
            if toggle is not None and getattr(toggle, "enabled", True) is False:
                raise RiskRejected("order_types", f"{what} orders are disabled by "
                                                  f"{prefix}.order_types.{key}.enabled = false")

    @staticmethod
    def _extended_hours(settings: Any, prefix: str, request: OrderRequest, session: str | None) -> None:
        features = getattr(settings, "features", None)
        after = getattr(features, "after_hours_trading", None)
        pre = getattr(features, "pre_market_trading", None)

        def refuse(rule: str, why: str) -> None:
            raise RiskRejected(rule, f"{why} and {prefix}.features.{rule} is false")

        if session == "after" and after is False:
            refuse("after_hours_trading", "the market is in its after-hours session")
        if session == "pre" and pre is False:
            refuse("pre_market_trading", "the market is in its pre-market session")
        if request.extended_hours:
            # An extended-hours order placed now may execute in either extended session later.
            if after is False:
                refuse("after_hours_trading", "the order asks for extended hours")
            if pre is False:
                refuse("pre_market_trading", "the order asks for extended hours")

    def _market_hours(self, request: OrderRequest, market_open: bool | None, session: str | None,
                      next_open: datetime | None) -> None:
        if not self.risk.enforce_market_hours:
            return
        closed = market_open is False or (market_open is None and session == "closed")
        if not (closed and request.type is OrderType.MARKET and request.time_in_force is TimeInForce.DAY):
            return
        when = ""
        if next_open is not None:
            wait = next_open - self.clock()
            when = f"; next open {next_open.isoformat()}"
            if wait > timedelta(0):
                minutes = int(wait.total_seconds() // 60)
                when += f" (in {minutes // 60}h {minutes % 60:02d}m)"
        raise RiskRejected("market_hours",
                           f"the market for {request.instrument.symbol} is closed and a DAY market order "
                           f"would not execute now{when} (risk.enforce_market_hours is true; use a limit "
                           f"order or GTC)")

    # -- sizes and notionals ------------------------------------------------------------------------------

    @staticmethod
    def _sizes(settings: Any, prefix: str, order: _Order) -> None:
        trading = getattr(settings, "trading_settings", None)
        low = getattr(trading, "min_order_size", None)
        high = getattr(trading, "max_order_size", None)
        path = f"{prefix}.trading_settings"
        if low is not None:
            qty = order.need_qty("min_order_size", low)
            if qty < low:
                raise RiskRejected("min_order_size", f"{order.qty_text} is below {path}.min_order_size "
                                                     f"{_fmt(low)}", limit=low, value=qty)
        if high is not None:
            qty = order.need_qty("max_order_size", high)
            if qty > high:
                raise RiskRejected("max_order_size", f"{order.qty_text} exceeds {path}.max_order_size "
                                                     f"{_fmt(high)}", limit=high, value=qty)

    def _notionals(self, settings: Any, prefix: str, order: _Order) -> None:
        trading = getattr(settings, "trading_settings", None)
        path = f"{prefix}.trading_settings"
        low = getattr(trading, "min_notional", None)
        if low is not None:
            value = order.need_notional("min_notional", low)
            if value < low:
                raise RiskRejected("min_notional", f"{order.notional_text} is below {path}.min_notional "
                                                   f"{_fmt(low)}", limit=low, value=value)
        for rule, limit, where in (("max_notional", getattr(trading, "max_notional", None),
                                    f"{path}.max_notional"),
                                   ("max_order_notional", self.risk.max_order_notional,
                                    "risk.max_order_notional")):
            if limit is None:
                continue
            value = order.need_notional(rule, limit)
            if value > limit:
                raise RiskRejected(rule, f"{order.notional_text} exceeds {where} {_fmt(limit)}",
                                   limit=limit, value=value)

    # -- position, short selling, margin ------------------------------------------------------------------

    def _position(self, order: _Order, position_qty: Decimal) -> None:
        limit = self.risk.max_position_per_symbol
        if limit is None:
            return
        qty = order.need_qty("max_position_per_symbol", limit)
        signed = qty if order.request.side is Side.BUY else -qty
        after = position_qty + signed
        # An order that shrinks the position always passes, even above a limit lowered since it was built.
        if abs(after) > limit and abs(after) > abs(position_qty):
            raise RiskRejected("max_position_per_symbol",
                               f"resulting position {_fmt(after)} {order.symbol} (now {_fmt(position_qty)}, "
                               f"{order.request.side.value} {_fmt(qty)}) exceeds "
                               f"risk.max_position_per_symbol {_fmt(limit)}", limit=limit, value=abs(after))

    @staticmethod
    def _short_selling(settings: Any, prefix: str, order: _Order, position_qty: Decimal) -> None:
        features = getattr(settings, "features", None)
        if getattr(features, "short_selling", None) is not False or order.request.side is not Side.SELL:
            return
        held = max(position_qty, Decimal(0))
        if order.qty is None and held > 0:
            raise RiskRejected("short_selling", f"cannot tell whether a sell of notional "
                                                f"{_fmt(order.request.notional)} {order.symbol} exceeds the "
                                                f"position {_fmt(held)} without a price, and "
                                                f"{prefix}.features.short_selling is false", limit=held)
        if order.qty is None or order.qty > held:
            shown = "notional " + _fmt(order.request.notional) if order.qty is None else _fmt(order.qty)
            raise RiskRejected("short_selling", f"sell {shown} {order.symbol} exceeds the position "
                                                f"{_fmt(held)} and {prefix}.features.short_selling is false",
                               limit=held, value=order.qty)

    @staticmethod
    def _margin(settings: Any, prefix: str, order: _Order, cash: Decimal | None) -> None:
        features = getattr(settings, "features", None)
        if (getattr(features, "margin_trading", None) is not False or cash is None
                or order.request.side is not Side.BUY):
            return
        value = order.need_notional("margin_trading", cash)
        if value > cash:
            raise RiskRejected("margin_trading", f"{order.notional_text} exceeds cash {_fmt(cash)} and "
                                                 f"{prefix}.features.margin_trading is false",
                               limit=cash, value=value)

    # -- counts -----------------------------------------------------------------------------------------

    def _counts(self, open_orders: int, orders_last_minute: int) -> None:
        limit = self.risk.max_open_orders
        if limit is not None and open_orders + 1 > limit:
            raise RiskRejected("max_open_orders", f"{open_orders} open orders already; one more exceeds "
                                                  f"risk.max_open_orders {limit}",
                               limit=limit, value=open_orders + 1)
        limit = self.risk.max_orders_per_minute
        if limit is not None and orders_last_minute + 1 > limit:
            raise RiskRejected("max_orders_per_minute",
                               f"{orders_last_minute} orders in the last minute; one more exceeds "
                               f"risk.max_orders_per_minute {limit}",
                               limit=limit, value=orders_last_minute + 1)


class OrderRateWindow:
    """Orders sent in the last ``seconds`` (60 by default), per broker and in total, on trio's clock
    (``trio.current_time``; pass ``clock`` to use another monotonic source). Feeds
    ``orders_last_minute``."""

    def __init__(self, seconds: float = 60.0, *, clock: Callable[[], float] | None = None) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        self.seconds = seconds
        self._clock = clock
        self._events: deque[tuple[float, str]] = deque()

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        import trio

        return trio.current_time()

    def _prune(self, now: float) -> None:
        # An order exactly `seconds` old has left the window.
        while self._events and self._events[0][0] <= now - self.seconds:
            self._events.popleft()

    def record(self, broker: str) -> None:
        """Count one order sent to ``broker`` now."""
        now = self._now()
        self._prune(now)
        self._events.append((now, broker))

    def count(self, broker: str | None = None) -> int:
        """Orders in the window for ``broker`` (all brokers when None)."""
        self._prune(self._now())
        if broker is None:
            return len(self._events)
        return sum(1 for _, b in self._events if b == broker)
