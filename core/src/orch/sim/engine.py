"""The matching engine every broker simulator translates its wire protocol onto.

One :class:`Engine` per simulated broker: its own accounts, order ids, fills and events, priced by a
:class:`~orch.sim.market.MarketModel` at the time of a :class:`~orch.sim.clock.SimClock`. Orders execute
against the model's top of book (buy at the ask, sell at the bid); nothing trades against anything else.

What it does:

* accounts with cash in several currencies, positions with average price and realised P&L, buying power
  (cash account or margin multiplier), short selling only where allowed, fee models (:mod:`.fees`);
* order types market, limit, stop, stop_limit, trailing_stop (by price or percent); TIF day (dies at the
  session close), gtc, ioc, fok, opg (executes at the open), cls (executes at the close);
* order classes bracket and OTO (legs held until the entry fills, then working; one leg filling cancels the
  other) and OCO (two exit orders, the first to fill cancels the other);
* optional partial fills: each step an order takes at most the size quoted at the touch;
* rejections with a :class:`~.orders.RejectCode` and a readable reason; client order id uniqueness among
  open orders, forever, or not at all;
* events (:class:`~.orders.OrderEvent`) fanned out to trio memory channels (:meth:`Engine.subscribe`) and
  quotes to :meth:`Engine.subscribe_quotes`;
* :meth:`Engine.step` re-evaluates resting orders at the current time (the runner calls it every
  second); :meth:`Engine.advance` moves the clock and steps, for tests without trio;
* :meth:`Engine.preview_order` runs every check without placing (what-if / checkOrder endpoints).

Every call is thread-safe and synchronous (no awaits), so an ASGI handler, a TCP handler and a test thread
may all use one engine. Everything returned is a snapshot.

Example::

    engine = Engine("alpaca", clock=SimClock(wall=ALL_OPEN))
    engine.open_account("PA0001", currency="USD", cash=100_000)
    order = engine.place_order(symbol="AAPL", side="buy", qty=10)             # market: filled now
    bracket = engine.place_order(symbol="AAPL", side="buy", qty=5, type="limit", limit_price="180",
                                 order_class="bracket", take_profit="200", stop_loss="170")
    engine.cancel_order(bracket.id)
    with engine.subscribe() as events:                                        # inside trio
        async for event in events: ...
"""

from __future__ import annotations

import enum
import math
import random
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import attrs
from attrs import define

from orch.errors import InvalidOrder
from orch.models import (Instrument, OrderClass, OrderRequest, OrderStatus, OrderType, Side, StopLoss,
                         TakeProfit, TimeInForce, to_decimal)
from orch.sim.accounts import (AccountState, BalanceState, PositionState, SimAccount, SimPosition,
                               is_cash_asset)
from orch.sim.clock import SimClock
from orch.sim.fees import FeeModel, Trade, ZeroFee
from orch.sim.feeds import FanOut, Feed, QuoteFeed
from orch.sim.instruments import AssetClass, SymbolInfo, UnknownSymbol
from orch.sim.market import MarketModel, SimQuote
from orch.sim.numbers import floor_to_step, tidy
from orch.sim.orders import (EventKind, OrderEvent, OrderPreview, RejectCode, SimError, SimFill,
                             SimOrder)

__all__ = ["Engine", "EngineConfig"]

_E = TypeVar("_E", bound=enum.Enum)
_FRACTION_STEP = Decimal("1e-9")
_MONEY_PLACES = Decimal("1e-8")
_STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


@define
class EngineConfig:
    """Behaviour switches; change them at any time (``engine.config.partial_fills = True``).

    ``fill_on_submit``: marketable orders execute inside ``place_order`` (True) or at the next step
    (False: the placement response shows an unfilled order, as Alpaca's usually does). IOC/FOK always
    execute at submission. ``reject_when_closed``: DAY/IOC/FOK orders are rejected while their session is
    closed instead of waiting for the open. ``client_order_id_unique``: ``"open"`` (a client id may be
    reused once the earlier order is closed, as some venues allow), ``"always"``, or ``"never"`` (no
    check). ``keep_rejected``: rejected orders stay listed (IBKR shows them) instead of vanishing.
    ``order_ids``: ``"uuid"`` (seeded, deterministic) or ``"seq"`` (the integer sequence as a string).
    """

    partial_fills: bool = False
    fill_on_submit: bool = True
    reject_when_closed: bool = False
    allow_extended_hours: bool = True
    enforce_tick_size: bool = True
    fractional: bool = False
    client_order_id_unique: str = "open"
    keep_rejected: bool = False
    order_ids: str = "uuid"
    first_order_seq: int = 1
    history: int = 10_000


def _coerce(kind: type[_E], value: Any, name: str) -> _E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        text = value.strip()
        for member in kind:  # type: ignore[attr-defined]
            if text.lower() == str(member.value).lower() or text.upper() == member.name:
                return member
    allowed = ", ".join(str(m.value) for m in kind)  # type: ignore[attr-defined]
    raise SimError("invalid", f"{name} must be one of {allowed}, got {value!r}")


def _dec(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise SimError("invalid", f"{name}: {exc}") from None


class Engine:
    """A simulated broker's back office and exchange. See the module docstring."""

    def __init__(self, broker: str = "sim", *, market: MarketModel | None = None,
                 clock: SimClock | None = None, config: EngineConfig | None = None, seed: int = 0) -> None:
        self.broker = broker
        self.market = market or MarketModel(seed)
        self.clock = clock or SimClock()
        self.config = config or EngineConfig()
        self._rng = random.Random(f"{seed}|{broker}")
        self._lock = threading.RLock()
        self._depth = 0
        self._accounts: dict[str, SimAccount] = {}
        self._orders: dict[str, SimOrder] = {}
        self._open: dict[str, SimOrder] = {}
        self._by_client_id: dict[tuple[str, str], list[str]] = {}
        self._fills: list[SimFill] = []
        self._order_seq = self.config.first_order_seq - 1
        self._fill_seq = 0
        self._event_seq = 0
        self._pending: list[OrderEvent] = []
        self.history: deque[OrderEvent] = deque(maxlen=self.config.history)
        self._order_feeds: FanOut[OrderEvent] = FanOut()
        self._quote_feeds: FanOut[SimQuote] = FanOut()

    # ==================================================================================== plumbing

    @contextmanager
    def _mutation(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                outermost = self._depth == 0
                if outermost:
                    events, self._pending = self._pending, []
                    self._order_feeds.publish(events)
        if outermost:
            self._order_feeds.deliver()
            self._quote_feeds.deliver()

    def now(self) -> datetime:
        return self.clock.now()

    def quote(self, symbol: str) -> SimQuote:
        """The market's quote for ``symbol`` now. Raises :class:`~.instruments.UnknownSymbol`."""
        return self.market.quote(symbol, self.now())

    def _emit(self, kind: EventKind, order: SimOrder, fill: SimFill | None = None, **detail: Any) -> None:
        self._event_seq += 1
        event = OrderEvent(seq=self._event_seq, kind=kind, account_id=order.account_id,
                           timestamp=self.now(), order=order.snapshot(), fill=fill, detail=detail)
        self.history.append(event)
        self._pending.append(event)

    def _new_order_id(self) -> str:
        if self.config.order_ids == "seq":
            return str(self._order_seq)
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # ==================================================================================== accounts

    def open_account(self, account_id: str | None = None, *, currency: str = "USD",
                     cash: Any = Decimal(100_000), margin_multiplier: Any = 1, allow_short: bool = False,
                     fee_model: FeeModel | None = None, auto_fx: bool = True,
                     fractional: bool | None = None) -> SimAccount:
        """Create an account. ``cash`` is an amount in ``currency`` or a mapping ``{asset: amount}``; crypto
        assets in it (``{"USDT": 10_000, "BTC": "0.5"}``) become positions valued at the current mid.
        The first account opened is the default for every call that takes ``account_id=None``."""
        with self._mutation():
            account_id = account_id or f"SIM{len(self._accounts) + 1:07d}"
            if account_id in self._accounts:
                raise SimError("invalid", f"account {account_id} already exists")
            account = SimAccount(account_id=account_id, currency=currency.upper(),
                                 margin_multiplier=_dec(margin_multiplier, "margin_multiplier") or Decimal(1),
                                 allow_short=allow_short, fee_model=fee_model or ZeroFee(), auto_fx=auto_fx,
                                 fractional=fractional)
            self._accounts[account_id] = account
            amounts = cash if isinstance(cash, Mapping) else {currency: cash}
            for asset, amount in amounts.items():
                self._deposit(account, asset, _dec(amount, f"cash[{asset}]") or Decimal(0))
            return account

    def account(self, account_id: str | None = None) -> SimAccount:
        """The live account object (settings such as ``allow_short`` or ``fee_model`` may be changed)."""
        with self._lock:
            if account_id is None:
                if not self._accounts:
                    raise SimError("account_not_found", "no account has been opened on this engine")
                return next(iter(self._accounts.values()))
            try:
                return self._accounts[account_id]
            except KeyError:
                raise SimError("account_not_found", f"no account {account_id!r}") from None

    @property
    def accounts(self) -> list[SimAccount]:
        with self._lock:
            return list(self._accounts.values())

    def deposit(self, amount: Any, currency: str | None = None, *, account_id: str | None = None) -> None:
        """Add (or with a negative amount, remove) cash or a crypto asset."""
        with self._mutation():
            account = self.account(account_id)
            self._deposit(account, currency or account.currency, _dec(amount, "amount") or Decimal(0))

    def _deposit(self, account: SimAccount, asset: str, amount: Decimal) -> None:
        asset = asset.upper()
        if is_cash_asset(asset):
            account.add_cash(asset, amount)
            return
        symbol = f"{asset}USD" if asset not in ("USD",) else asset
        try:
            price = self.market.mid(symbol, self.now())
        except UnknownSymbol:
            raise SimError("invalid", f"cannot deposit {asset}: neither a currency nor a known asset") from None
        self._position_for(account, self.market.info(symbol)).apply(Side.BUY, amount, price)

    def set_position(self, symbol: str, qty: Any, avg_price: Any = None, *,
                     account_id: str | None = None) -> None:
        """Seed a holding without trading (tests, demos). ``avg_price`` defaults to the current mid."""
        with self._mutation():
            account = self.account(account_id)
            info = self.market.info(symbol)
            position = self._position_for(account, info)
            position.qty = _dec(qty, "qty") or Decimal(0)
            price = _dec(avg_price, "avg_price")
            position.avg_price = price if price is not None else self.market.mid(info.symbol, self.now())

    def _position_for(self, account: SimAccount, info: SymbolInfo) -> SimPosition:
        key = info.position_key
        position = account.positions.get(key)
        if position is None:
            position = SimPosition(key=key, symbol=info.symbol, price_currency=info.currency,
                                   cash_per_price_unit=info.cash_per_price_unit)
            account.positions[key] = position
        return position

    # ---------------------------------------------------------------------------------- valuation

    def account_state(self, account_id: str | None = None) -> AccountState:
        """Cash, positions at market, equity, buying power and per-asset balances, valued now."""
        with self._lock:
            return self._state(self.account(account_id), self.now())

    def _to_base(self, account: SimAccount, amount: Decimal, currency: str, when: datetime) -> Decimal:
        if currency == account.currency or amount == 0:
            return amount
        return amount * self.market.fx_rate(currency, account.currency, when)

    def _state(self, account: SimAccount, when: datetime, *, exclude: frozenset[str] = frozenset()
               ) -> AccountState:
        positions = []
        long_value = short_value = Decimal(0)
        for position in account.positions.values():
            if position.qty == 0:
                continue
            info = self.market.info(position.symbol)
            price = self.market.mid(info.symbol, when)
            value = position.qty * price * info.cash_per_price_unit
            cost = position.qty * position.avg_price * info.cash_per_price_unit
            positions.append(PositionState(
                key=position.key, symbol=position.symbol, qty=position.qty, avg_price=position.avg_price,
                market_price=price, market_value=tidy(value), cost_basis=tidy(cost),
                unrealized_pl=tidy(value - cost), realized_pl=position.realized_pl,
                currency=info.cash_currency, price_currency=info.currency))
            base_value = self._to_base(account, value, info.cash_currency, when)
            if value >= 0:
                long_value += base_value
            else:
                short_value += base_value
        cash_total = sum((self._to_base(account, amount, ccy, when) for ccy, amount in account.cash.items()),
                         Decimal(0))
        reserved_by_ccy, locked_qty = self._reservations(account, when, exclude)
        reserved = sum((self._to_base(account, amount, ccy, when) for ccy, amount in reserved_by_ccy.items()),
                       Decimal(0))
        equity = cash_total + long_value + short_value
        buying_power = equity * account.margin_multiplier - long_value + short_value - reserved
        balances = [BalanceState(asset=ccy, free=tidy(amount - reserved_by_ccy.get(ccy, Decimal(0))),
                                 locked=tidy(reserved_by_ccy.get(ccy, Decimal(0))))
                    for ccy, amount in account.cash.items()]
        balances += [BalanceState(asset=p.key, free=tidy(p.qty - locked_qty.get(p.key, Decimal(0))),
                                  locked=tidy(locked_qty.get(p.key, Decimal(0))))
                     for p in account.positions.values()
                     if self.market.info(p.symbol).asset_class is AssetClass.CRYPTO and p.qty != 0]
        return AccountState(
            account_id=account.account_id, currency=account.currency, timestamp=when,
            cash=dict(account.cash), cash_total=_money(cash_total), long_market_value=_money(long_value),
            short_market_value=_money(short_value), equity=_money(equity),
            buying_power=_money(max(Decimal(0), buying_power)), reserved=_money(reserved),
            margin_multiplier=account.margin_multiplier, realized_pl=_money(account.realized_pl),
            positions=tuple(positions), balances=tuple(balances), fees_paid=dict(account.fees_paid))

    def _reservations(self, account: SimAccount, when: datetime, exclude: frozenset[str]
                      ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """Cash held back by open buys (per cash currency) and quantity held back by open sells (per
        position key). Held legs reserve nothing; an OCO group counts once."""
        cash: dict[str, Decimal] = {}
        qty: dict[str, Decimal] = {}
        seen_groups: set[str] = set()
        for order in self._open.values():
            if order.account_id != account.account_id or order.held or order.id in exclude:
                continue
            if order.sibling_ids:
                group = min((order.id, *order.sibling_ids))
                if group in seen_groups:
                    continue
                seen_groups.add(group)
            info = self.market.info(order.canonical)
            if order.side is Side.BUY:
                ccy, amount = self._cost(order, info, when)
                cash[ccy] = cash.get(ccy, Decimal(0)) + amount
            else:
                remaining = order.remaining_qty
                if remaining is None:
                    assert order.remaining_notional is not None
                    remaining = order.remaining_notional / (self.market.quote(info.symbol, when).bid
                                                            * info.cash_per_price_unit)
                qty[info.position_key] = qty.get(info.position_key, Decimal(0)) + remaining
        return cash, qty

    def _cost(self, order: SimOrder, info: SymbolInfo, when: datetime) -> tuple[str, Decimal]:
        """What the rest of an open buy order will cost, in its settlement currency."""
        account = self._accounts[order.account_id]
        if order.remaining_notional is not None:
            amount = order.remaining_notional
        else:
            price = self._reference_price(order.type, order.side, order.limit_price, order.stop_price,
                                          self.market.quote(info.symbol, when))
            amount = (order.remaining_qty or Decimal(0)) * price * info.cash_per_price_unit
        return self._settlement(account, info, amount, when)

    def _settlement(self, account: SimAccount, info: SymbolInfo, amount: Decimal, when: datetime
                    ) -> tuple[str, Decimal]:
        if account.auto_fx and info.cash_currency != account.currency:
            return account.currency, self._to_base(account, amount, info.cash_currency, when)
        return info.cash_currency, amount

    @staticmethod
    def _reference_price(kind: OrderType, side: Side, limit: Decimal | None, stop: Decimal | None,
                         quote: SimQuote) -> Decimal:
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is not None:
            return limit
        touch = quote.ask if side is Side.BUY else quote.bid
        if kind is OrderType.STOP and stop is not None:
            return max(touch, stop) if side is Side.BUY else min(touch, stop)
        return touch

    # ==================================================================================== placing

    def place_request(self, request: OrderRequest, *, account_id: str | None = None,
                      order_id: str | None = None, extra: Mapping[str, Any] | None = None) -> SimOrder:
        """:meth:`place_order` from an orch :class:`~orch.models.OrderRequest` (its symbol is used as is)."""
        return self.place_order(
            account_id, symbol=request.instrument.symbol, side=request.side, qty=request.qty,
            notional=request.notional, type=request.type, limit_price=request.limit_price,
            stop_price=request.stop_price, trail_price=request.trail_price,
            trail_percent=request.trail_percent, time_in_force=request.time_in_force,
            extended_hours=request.extended_hours, client_order_id=request.client_order_id,
            order_class=request.order_class, take_profit=request.take_profit, stop_loss=request.stop_loss,
            order_id=order_id, extra=extra)

    def place_order(self, account_id: str | None = None, *, symbol: str, side: Side | str,
                    qty: Any = None, notional: Any = None, type: OrderType | str = OrderType.MARKET,
                    limit_price: Any = None, stop_price: Any = None, trail_price: Any = None,
                    trail_percent: Any = None, time_in_force: TimeInForce | str = TimeInForce.DAY,
                    extended_hours: bool = False, client_order_id: str | None = None,
                    order_class: OrderClass | str = OrderClass.SIMPLE, take_profit: Any = None,
                    stop_loss: Any = None, stop_loss_limit_price: Any = None, order_id: str | None = None,
                    extra: Mapping[str, Any] | None = None) -> SimOrder:
        """Submit an order; returns a snapshot of it (for brackets/OTO the entry, for OCO the take-profit
        order; ``leg_ids`` / ``sibling_ids`` name the rest).

        Numbers may be Decimal, int or str (never float). ``take_profit`` is a limit price or a
        :class:`~orch.models.TakeProfit`; ``stop_loss`` a stop price (with ``stop_loss_limit_price``) or a
        :class:`~orch.models.StopLoss`. ``trail_percent`` is in percent (``"1.5"`` = 1.5%). ``order_id``
        lets the client choose the id (IBKR). An order the engine refuses comes back with status
        ``rejected``, ``reject_code`` and ``reject_reason`` (nothing raised); unparseable values raise
        :class:`~.orders.SimError` (``invalid``), an unknown account ``account_not_found``.
        """
        fields, tp, sl, order_id, extras = self._parse_order_args(
            symbol=symbol, side=side, qty=qty, notional=notional, type=type, limit_price=limit_price,
            stop_price=stop_price, trail_price=trail_price, trail_percent=trail_percent,
            time_in_force=time_in_force, extended_hours=extended_hours, client_order_id=client_order_id,
            order_class=order_class, take_profit=take_profit, stop_loss=stop_loss,
            stop_loss_limit_price=stop_loss_limit_price, order_id=order_id, extra=extra)
        with self._mutation():
            account = self.account(account_id)
            return self._submit(account, fields, tp, sl, order_id, extras)

    @staticmethod
    def _parse_order_args(*, symbol: str, side: Side | str, qty: Any = None, notional: Any = None,
                          type: OrderType | str = OrderType.MARKET, limit_price: Any = None,
                          stop_price: Any = None, trail_price: Any = None, trail_percent: Any = None,
                          time_in_force: TimeInForce | str = TimeInForce.DAY, extended_hours: bool = False,
                          client_order_id: str | None = None, order_class: OrderClass | str = OrderClass.SIMPLE,
                          take_profit: Any = None, stop_loss: Any = None, stop_loss_limit_price: Any = None,
                          order_id: str | None = None, extra: Mapping[str, Any] | None = None
                          ) -> tuple[dict[str, Any], TakeProfit | None, StopLoss | None, str | None, dict[str, Any]]:
        fields = dict(
            symbol=symbol, side=_coerce(Side, side, "side"), type=_coerce(OrderType, type, "type"),
            time_in_force=_coerce(TimeInForce, time_in_force, "time_in_force"),
            order_class=_coerce(OrderClass, order_class, "order_class"), qty=_dec(qty, "qty"),
            notional=_dec(notional, "notional"), limit_price=_dec(limit_price, "limit_price"),
            stop_price=_dec(stop_price, "stop_price"), trail_price=_dec(trail_price, "trail_price"),
            trail_percent=_dec(trail_percent, "trail_percent"), extended_hours=bool(extended_hours),
            client_order_id=client_order_id)
        tp = take_profit if isinstance(take_profit, TakeProfit) or take_profit is None else \
            TakeProfit(limit_price=_dec(take_profit, "take_profit"))
        if isinstance(stop_loss, StopLoss) or stop_loss is None:
            sl = stop_loss
        else:
            sl = StopLoss(stop_price=_dec(stop_loss, "stop_loss"),
                          limit_price=_dec(stop_loss_limit_price, "stop_loss_limit_price"))
        return fields, tp, sl, None if order_id is None else str(order_id), dict(extra or {})

    def _draft(self, account: SimAccount, f: dict[str, Any], order_id: str | None, extra: dict[str, Any],
               now: datetime, *, preview: bool = False) -> tuple[SimOrder, SymbolInfo | None]:
        if preview:
            oid, seq = order_id or "preview", 0
        else:
            self._order_seq += 1
            oid, seq = order_id or self._new_order_id(), self._order_seq
        try:
            info: SymbolInfo | None = self.market.info(f["symbol"])
            canonical = info.symbol  # type: ignore[union-attr]
        except UnknownSymbol:
            info, canonical = None, f["symbol"].strip().upper()
        order = SimOrder(id=oid, seq=seq, account_id=account.account_id, canonical=canonical,
                         created_at=now, updated_at=now, extra=extra, **f)
        return order, info

    def _validate(self, account: SimAccount, order: SimOrder, info: SymbolInfo | None, tp: TakeProfit | None,
                  sl: StopLoss | None, order_id: str | None, now: datetime) -> tuple[RejectCode, str] | None:
        """Every reason to refuse ``order``, in the order brokers usually check them; None if acceptable."""
        if order_id is not None and order_id in self._orders:
            return RejectCode.DUPLICATE_ORDER_ID, f"order id {order_id} is already in use"
        if info is None:
            return RejectCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol!r}"
        cls = order.order_class
        if cls is OrderClass.OCO and order.type is OrderType.LIMIT and order.limit_price is None and tp:
            order.limit_price = tp.limit_price
        try:
            OrderRequest(instrument=Instrument(symbol=info.symbol, market=info.market), side=order.side,
                         qty=order.qty, notional=order.notional, type=order.type,
                         limit_price=order.limit_price, stop_price=order.stop_price,
                         trail_price=order.trail_price, trail_percent=order.trail_percent,
                         time_in_force=order.time_in_force, extended_hours=order.extended_hours,
                         client_order_id=order.client_order_id, order_class=cls, take_profit=tp,
                         stop_loss=sl)
        except InvalidOrder as exc:
            return RejectCode.INVALID_ORDER, exc.message
        problem = self._check_legs(order, tp, sl)
        if problem:
            return RejectCode.INVALID_ORDER, problem
        if order.client_order_id is not None and self._client_id_taken(account.account_id,
                                                                       order.client_order_id):
            return (RejectCode.DUPLICATE_CLIENT_ORDER_ID,
                    f"client order id {order.client_order_id!r} is already in use")
        for code, reason in (self._check_prices(order, info, tp, sl), self._check_qty(order, info, account),
                             self._check_session(order, info, now), self._check_funds(account, order, info, now)):
            if code is not None:
                return code, reason
        return None

    def preview_order(self, account_id: str | None = None, **order: Any) -> OrderPreview:
        """Check an order without placing it (DEGIRO's checkOrder, IBKR's what-if): the same arguments
        as :meth:`place_order`; nothing is filed, no event is sent, no id is used up."""
        fields, tp, sl, order_id, extra = self._parse_order_args(**order)
        with self._lock:
            account = self.account(account_id)
            now = self.now()
            draft, info = self._draft(account, fields, order_id, extra, now, preview=True)
            problem = self._validate(account, draft, info, tp, sl, order_id, now)
            if problem is not None:
                return OrderPreview(accepted=False, reject_code=problem[0], reject_reason=problem[1])
            assert info is not None
            quote = self.market.quote(info.symbol, now)
            price = self._marked_up(draft, info, self._reference_price(
                draft.type, draft.side, draft.limit_price, draft.stop_price, quote))
            qty = draft.qty if draft.qty is not None else self._wanted_qty(draft, info, price)
            value = qty * price * info.cash_per_price_unit
            currency, amount = self._settlement(account, info, value, now)
            fee = account.fee_model.fee(Trade(info=info, side=draft.side, qty=qty, price=price, value=value))
            state = self._state(account, now)
            return OrderPreview(accepted=True, price=price, qty=qty, value=_money(amount), currency=currency,
                                fee=fee.amount if fee else Decimal(0), fee_currency=fee.currency if fee else None,
                                buying_power=state.buying_power)

    def _submit(self, account: SimAccount, f: dict[str, Any], tp: TakeProfit | None, sl: StopLoss | None,
                order_id: str | None, extra: dict[str, Any]) -> SimOrder:
        now = self.now()
        order, info = self._draft(account, f, order_id, extra, now)
        problem = self._validate(account, order, info, tp, sl, order_id, now)
        if problem is not None:
            return self._reject(order, *problem)

        # Accepted: file it (and its legs), then let it execute if it can.
        members = self._build_group(order, tp, sl, now)
        for member in members:
            self._file(member)
        for member in members:
            self._emit(EventKind.NEW, member)
        immediate = order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        if self.config.fill_on_submit or immediate:
            liquidity: dict[tuple[str, Side], Decimal] = {}
            for member in members:
                self._evaluate(member, now, liquidity, immediate=immediate)
            for leg_id in order.leg_ids:  # legs activated by an entry that filled at once
                self._evaluate(self._orders[leg_id], now, liquidity)
        if immediate and order.is_open:
            self._close(order, OrderStatus.EXPIRED, now, reason=f"{order.time_in_force.value} remainder")
        return order.snapshot()

    def _reject(self, order: SimOrder, code: RejectCode, reason: str) -> SimOrder:
        order.status = OrderStatus.REJECTED
        order.reject_code = code
        order.reject_reason = reason
        if self.config.keep_rejected and code not in (RejectCode.DUPLICATE_CLIENT_ORDER_ID,
                                                      RejectCode.DUPLICATE_ORDER_ID):
            self._file(order)
        self._emit(EventKind.REJECTED, order, code=code.value, reason=reason)
        return order.snapshot()

    def _file(self, order: SimOrder) -> None:
        self._orders[order.id] = order
        if order.is_open:
            self._open[order.id] = order
        if order.client_order_id is not None:
            self._by_client_id.setdefault((order.account_id, order.client_order_id), []).append(order.id)

    def _client_id_taken(self, account_id: str, client_order_id: str, exclude: str | None = None) -> bool:
        policy = self.config.client_order_id_unique
        if policy == "never":
            return False
        for existing in self._by_client_id.get((account_id, client_order_id), ()):
            if existing == exclude:
                continue
            if policy == "always" or self._orders[existing].is_open:
                return True
        return False

    # ---------------------------------------------------------------------------------- checks

    @staticmethod
    def _check_legs(order: SimOrder, tp: TakeProfit | None, sl: StopLoss | None) -> str | None:
        if tp is None or sl is None:
            return None
        # Bracket legs exit the entry, OCO orders exit a position: either way the take-profit sits on the
        # profitable side of the stop.
        exit_side = order.side if order.order_class is OrderClass.OCO else (
            Side.SELL if order.side is Side.BUY else Side.BUY)
        if exit_side is Side.SELL and not tp.limit_price > sl.stop_price:
            return (f"take_profit.limit_price {tp.limit_price} must be above stop_loss.stop_price "
                    f"{sl.stop_price} when the exit sells")
        if exit_side is Side.BUY and not tp.limit_price < sl.stop_price:
            return (f"take_profit.limit_price {tp.limit_price} must be below stop_loss.stop_price "
                    f"{sl.stop_price} when the exit buys")
        return None

    def _check_prices(self, order: SimOrder, info: SymbolInfo, tp: TakeProfit | None, sl: StopLoss | None
                      ) -> tuple[RejectCode | None, str]:
        if not self.config.enforce_tick_size:
            return None, ""
        prices = {"limit_price": order.limit_price, "stop_price": order.stop_price,
                  "trail_price": order.trail_price,
                  "take_profit.limit_price": tp.limit_price if tp else None,
                  "stop_loss.stop_price": sl.stop_price if sl else None,
                  "stop_loss.limit_price": sl.limit_price if sl else None}
        for name, price in prices.items():
            if price is not None and price % info.tick_size != 0:
                return (RejectCode.TICK_SIZE,
                        f"{name} {price} is not a multiple of the tick size {info.tick_size} of {info.symbol}")
        return None, ""

    def _qty_step(self, info: SymbolInfo, account: SimAccount) -> Decimal:
        fractional = self.config.fractional if account.fractional is None else account.fractional
        if fractional and info.asset_class in (AssetClass.STOCK, AssetClass.ETF):
            return _FRACTION_STEP
        return info.qty_step

    def _check_qty(self, order: SimOrder, info: SymbolInfo, account: SimAccount
                   ) -> tuple[RejectCode | None, str]:
        step = self._qty_step(info, account)
        if order.qty is not None and order.qty % step != 0:
            if step == 1:
                return RejectCode.LOT_SIZE, f"fractional quantity {order.qty} is not allowed for {info.symbol}"
            return RejectCode.LOT_SIZE, f"qty {order.qty} is not a multiple of the step {step} of {info.symbol}"
        if order.notional is not None and step == 1 and info.asset_class in (AssetClass.STOCK,
                                                                            AssetClass.ETF):
            return RejectCode.LOT_SIZE, f"notional orders need fractional trading, which is off for {info.symbol}"
        return None, ""

    def _check_session(self, order: SimOrder, info: SymbolInfo, now: datetime
                       ) -> tuple[RejectCode | None, str]:
        session = info.session
        tif = order.time_in_force
        if order.extended_hours and not self.config.allow_extended_hours:
            return RejectCode.EXTENDED_HOURS_NOT_ALLOWED, "extended hours trading is not enabled"
        phase = self.market.phase(session, now)
        if tif in (TimeInForce.OPG, TimeInForce.CLS) and order.type not in (OrderType.MARKET, OrderType.LIMIT):
            return RejectCode.TIF_NOT_ALLOWED, f"{tif.value} orders must be market or limit orders"
        if tif is TimeInForce.OPG and phase == "regular":
            return RejectCode.TIF_NOT_ALLOWED, f"opg orders are accepted only before {session} opens"
        open_now = self.market.is_open(session, now, extended=order.extended_hours)
        if not open_now and self.config.reject_when_closed and tif in (TimeInForce.DAY, TimeInForce.IOC,
                                                                      TimeInForce.FOK):
            return RejectCode.MARKET_CLOSED, f"the {session} market is closed"
        return None, ""

    def _check_funds(self, account: SimAccount, order: SimOrder, info: SymbolInfo, now: datetime,
                     exclude: frozenset[str] = frozenset()) -> tuple[RejectCode | None, str]:
        quote = self.market.quote(info.symbol, now)
        state = self._state(account, now, exclude=exclude)
        price = self._reference_price(order.type, order.side, order.limit_price, order.stop_price, quote)
        if order.side is Side.BUY:
            if order.notional is not None:
                value = order.notional
            else:
                assert order.qty is not None
                value = order.qty * price * info.cash_per_price_unit
            if order.notional is not None and order.notional < price * info.cash_per_price_unit * \
                    self._qty_step(info, account):
                return RejectCode.INVALID_ORDER, f"notional {order.notional} buys less than the smallest quantity"
            ccy, cost = self._settlement(account, info, value, now)
            if account.margin_multiplier == 1 and not account.auto_fx:
                reserved, _ = self._reservations(account, now, exclude)
                available = account.cash.get(ccy, Decimal(0)) - reserved.get(ccy, Decimal(0))
                if cost > available:
                    return (RejectCode.INSUFFICIENT_BUYING_POWER,
                            f"insufficient balance: the order needs {_money(cost)} {ccy}, "
                            f"{_money(max(available, Decimal(0)))} {ccy} available")
                return None, ""
            needed = self._to_base(account, cost, ccy, now)
            if needed > state.buying_power:
                return (RejectCode.INSUFFICIENT_BUYING_POWER,
                        f"insufficient buying power: the order needs {_money(needed)} {account.currency}, "
                        f"{state.buying_power} {account.currency} available")
            return None, ""
        qty = order.qty if order.qty is not None else order.notional / (price * info.cash_per_price_unit)
        available_qty = state.balance(info.position_key).free if info.asset_class is AssetClass.CRYPTO \
            else self._free_position_qty(account, info, now, exclude)
        if qty <= available_qty:
            return None, ""
        if not account.allow_short:
            return (RejectCode.INSUFFICIENT_QTY,
                    f"insufficient qty: selling {tidy(qty)} {info.symbol}, {tidy(max(available_qty, Decimal(0)))}"
                    f" available (short selling is not allowed)")
        short_value = self._to_base(account, (qty - max(available_qty, Decimal(0))) * price
                                    * info.cash_per_price_unit, info.cash_currency, now)
        if short_value > state.buying_power:
            return (RejectCode.INSUFFICIENT_BUYING_POWER,
                    f"insufficient buying power to sell short: needs {_money(short_value)} {account.currency}, "
                    f"{state.buying_power} available")
        return None, ""

    def _free_position_qty(self, account: SimAccount, info: SymbolInfo, now: datetime,
                           exclude: frozenset[str]) -> Decimal:
        _, locked = self._reservations(account, now, exclude)
        return account.position_qty(info.position_key) - locked.get(info.position_key, Decimal(0))

    # ---------------------------------------------------------------------------------- groups

    def _build_group(self, order: SimOrder, tp: TakeProfit | None, sl: StopLoss | None, now: datetime
                     ) -> list[SimOrder]:
        cls = order.order_class
        self._schedule(order, now)
        if cls is OrderClass.SIMPLE:
            return [order]
        if cls is OrderClass.OCO:
            # The take-profit limit is the primary order; the stop-loss is its sibling.
            assert tp is not None and sl is not None
            order.type, order.limit_price, order.stop_price = OrderType.LIMIT, tp.limit_price, None
            order.role = "take_profit"
            stop = self._child(order, "stop_loss", order.side, sl, held=False)
            order.sibling_ids, stop.sibling_ids = (stop.id,), (order.id,)
            self._schedule(stop, now)
            return [order, stop]
        exit_side = Side.SELL if order.side is Side.BUY else Side.BUY
        order.role = "entry"
        legs = []
        if tp is not None:
            legs.append(self._child(order, "take_profit", exit_side, tp, held=True))
        if sl is not None:
            legs.append(self._child(order, "stop_loss", exit_side, sl, held=True))
        order.leg_ids = tuple(leg.id for leg in legs)
        if len(legs) == 2:
            legs[0].sibling_ids, legs[1].sibling_ids = (legs[1].id,), (legs[0].id,)
        return [order, *legs]

    def _child(self, parent: SimOrder, role: str, side: Side, price: TakeProfit | StopLoss, *, held: bool
               ) -> SimOrder:
        self._order_seq += 1
        if isinstance(price, TakeProfit):
            kind, limit, stop = OrderType.LIMIT, price.limit_price, None
        else:
            kind = OrderType.STOP if price.limit_price is None else OrderType.STOP_LIMIT
            limit, stop = price.limit_price, price.stop_price
        return SimOrder(id=self._new_order_id(), seq=self._order_seq, account_id=parent.account_id,
                        symbol=parent.symbol, canonical=parent.canonical, side=side, type=kind,
                        time_in_force=parent.time_in_force, created_at=parent.created_at,
                        updated_at=parent.created_at, qty=parent.qty, limit_price=limit, stop_price=stop,
                        extended_hours=parent.extended_hours, order_class=parent.order_class,
                        parent_id=parent.id if held else None, role=role, held=held)

    def _schedule(self, order: SimOrder, now: datetime) -> None:
        """Work out when a DAY order dies and when an OPG/CLS order executes."""
        tif = order.time_in_force
        if tif is TimeInForce.DAY:
            order.expires_at = self.market.next_close(order.canonical, now, extended=order.extended_hours)
        elif tif is TimeInForce.OPG:
            order.execute_at = self.market.next_open(order.canonical, now)
        elif tif is TimeInForce.CLS:
            order.execute_at = self.market.next_close(order.canonical, now)

    # ==================================================================================== matching

    def _evaluate(self, order: SimOrder, now: datetime, liquidity: dict[tuple[str, Side], Decimal], *,
                  immediate: bool = False, resting: bool = False) -> None:
        """Execute what ``order`` can at ``now``. ``immediate``: IOC/FOK at submission (what cannot fill
        now expires); ``resting``: evaluated by a step, so a limit fill provides liquidity (maker)."""
        if not order.working:
            return
        info = self.market.info(order.canonical)
        tif = order.time_in_force
        if tif in (TimeInForce.OPG, TimeInForce.CLS):
            self._auction(order, info, now)
            return
        open_now = self.market.symbol_is_open(info.symbol, now,
                                              extended=order.extended_hours and self.config.allow_extended_hours)
        if not open_now:
            if immediate:
                self._close(order, OrderStatus.EXPIRED, now, reason="market closed")
            return
        quote = self.market.quote(info.symbol, now)
        if order.type in _STOP_TYPES and not order.triggered and not self._trigger(order, info, quote):
            if immediate and tif is TimeInForce.FOK:
                self._close(order, OrderStatus.EXPIRED, now, reason="fok not executable")
            return
        price = self._execution_price(order, quote)
        if price is None:
            if immediate and tif is TimeInForce.FOK:
                self._close(order, OrderStatus.EXPIRED, now, reason="fok not executable")
            return
        price = self._marked_up(order, info, price)
        key = (info.symbol, order.side)
        touch_size = quote.ask_size if order.side is Side.BUY else quote.bid_size
        available = liquidity.setdefault(key, touch_size) if self.config.partial_fills else None
        wanted = self._wanted_qty(order, info, price)
        if wanted <= 0:
            if order.filled_qty > 0:  # a notional order whose remainder buys less than one step
                self._close(order, OrderStatus.FILLED, now)
            return
        qty = wanted if available is None else min(wanted, available)
        if immediate and tif is TimeInForce.FOK and qty < wanted:
            self._close(order, OrderStatus.EXPIRED, now, reason="fok not fully executable")
            return
        if qty <= 0:
            return
        if available is not None:
            liquidity[key] = available - qty
        self._apply_fill(order, info, qty, price, now,
                         maker=resting and order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT))

    def _trigger(self, order: SimOrder, info: SymbolInfo, quote: SimQuote) -> bool:
        last = quote.last
        if order.type is OrderType.TRAILING_STOP:
            if order.side is Side.SELL:
                order.hwm = last if order.hwm is None else max(order.hwm, last)
                offset = order.trail_price if order.trail_price is not None else \
                    order.hwm * (order.trail_percent or Decimal(0)) / 100
                order.trail_stop = _round(order.hwm - offset, info.tick_size, ROUND_FLOOR)
                hit = last <= order.trail_stop
            else:
                order.hwm = last if order.hwm is None else min(order.hwm, last)
                offset = order.trail_price if order.trail_price is not None else \
                    order.hwm * (order.trail_percent or Decimal(0)) / 100
                order.trail_stop = _round(order.hwm + offset, info.tick_size, ROUND_CEILING)
                hit = last >= order.trail_stop
        else:
            assert order.stop_price is not None
            hit = last >= order.stop_price if order.side is Side.BUY else last <= order.stop_price
        if hit:
            order.triggered = True
            order.updated_at = quote.timestamp
            self._emit(EventKind.TRIGGERED, order, price=str(last))
        return hit

    @staticmethod
    def _execution_price(order: SimOrder, quote: SimQuote) -> Decimal | None:
        touch = quote.ask if order.side is Side.BUY else quote.bid
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert order.limit_price is not None
            if order.side is Side.BUY:
                return touch if touch <= order.limit_price else None
            return touch if touch >= order.limit_price else None
        return touch

    def _marked_up(self, order: SimOrder, info: SymbolInfo, price: Decimal) -> Decimal:
        bps = self._accounts[order.account_id].fee_model.markup_bps
        if not bps:
            return price
        limit = order.limit_price if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        if order.side is Side.BUY:
            marked = _round(price * (1 + bps / 10000), info.tick_size, ROUND_CEILING)
            return marked if limit is None else min(marked, limit)
        marked = max(info.tick_size, _round(price * (1 - bps / 10000), info.tick_size, ROUND_FLOOR))
        return marked if limit is None else max(marked, limit)

    def _wanted_qty(self, order: SimOrder, info: SymbolInfo, price: Decimal) -> Decimal:
        if order.qty is not None:
            return order.qty - order.filled_qty
        assert order.remaining_notional is not None
        step = self._qty_step(info, self._accounts[order.account_id])
        return floor_to_step(order.remaining_notional / (price * info.cash_per_price_unit), step)

    def _auction(self, order: SimOrder, info: SymbolInfo, now: datetime) -> None:
        """OPG and CLS orders execute once, at the opening or closing price, in full or not at all."""
        assert order.execute_at is not None
        if now < order.execute_at:
            return
        price = self.market.quote(info.symbol, order.execute_at).last
        if order.type is OrderType.LIMIT:
            assert order.limit_price is not None
            ok = price <= order.limit_price if order.side is Side.BUY else price >= order.limit_price
            if not ok:
                self._close(order, OrderStatus.EXPIRED, now, reason=f"{order.time_in_force.value} limit not reached")
                return
        qty = self._wanted_qty(order, info, price)
        if qty <= 0:
            self._close(order, OrderStatus.EXPIRED, now, reason="notional below one unit")
            return
        self._apply_fill(order, info, qty, price, order.execute_at)

    # ---------------------------------------------------------------------------------- fills

    def _apply_fill(self, order: SimOrder, info: SymbolInfo, qty: Decimal, price: Decimal, now: datetime,
                    *, maker: bool = False) -> None:
        account = self._accounts[order.account_id]
        value = qty * price * info.cash_per_price_unit
        fee = account.fee_model.fee(Trade(info=info, side=order.side, qty=qty, price=price, value=value,
                                          first_fill=order.filled_qty == 0))
        ccy, amount = self._settlement(account, info, value, now)
        amount = _money(amount)
        account.add_cash(ccy, -amount if order.side is Side.BUY else amount)
        position = self._position_for(account, info)
        realized = position.apply(order.side, qty, price)
        account.realized_pl += self._to_base(account, realized, info.cash_currency, now)
        fee_amount, fee_ccy = Decimal(0), None
        if fee is not None and fee.amount:
            fee_amount, fee_ccy = fee.amount, fee.currency
            if fee_ccy == info.position_key and info.asset_class is AssetClass.CRYPTO:
                position.qty -= fee_amount
            elif account.auto_fx and fee_ccy != account.currency and is_cash_asset(fee_ccy):
                account.add_cash(account.currency, -_money(self._to_base(account, fee_amount, fee_ccy, now)))
            else:
                account.add_cash(fee_ccy, -fee_amount)
            account.fees_paid[fee_ccy] = account.fees_paid.get(fee_ccy, Decimal(0)) + fee_amount
        self._fill_seq += 1
        fill = SimFill(id=str(self._fill_seq), seq=self._fill_seq, order_id=order.id,
                       account_id=order.account_id, symbol=order.symbol, side=order.side, qty=qty, price=price,
                       timestamp=now, fee=fee_amount, fee_currency=fee_ccy,
                       liquidity="maker" if maker else "taker", client_order_id=order.client_order_id)
        self._fills.append(fill)
        order.fills = (*order.fills, fill)
        order.filled_qty += qty
        order.filled_value += qty * price
        order.avg_fill_price = tidy((order.filled_value / order.filled_qty).quantize(
            info.tick_size * Decimal("0.0001")))
        order.fees += fee_amount
        order.fee_currency = fee_ccy or order.fee_currency
        order.updated_at = now
        done = (order.qty is not None and order.filled_qty >= order.qty) or (
            order.qty is None and self._wanted_qty(order, info, price) <= 0)
        if done:
            order.status = OrderStatus.FILLED
            order.filled_at = now
            self._open.pop(order.id, None)
            self._emit(EventKind.FILL, order, fill)
            self._after_final(order, now)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
            self._emit(EventKind.PARTIAL_FILL, order, fill)
            self._resize_siblings(order, now)

    def _resize_siblings(self, order: SimOrder, now: datetime) -> None:
        remaining = order.remaining_qty
        if remaining is None:
            return
        for sibling_id in order.sibling_ids:
            sibling = self._orders[sibling_id]
            if sibling.is_open and sibling.qty is not None:
                sibling.qty = sibling.filled_qty + remaining
                sibling.updated_at = now
                self._emit(EventKind.MODIFIED, sibling, reason="oco sibling partially filled")

    # ---------------------------------------------------------------------------------- closing

    def _close(self, order: SimOrder, status: OrderStatus, now: datetime, *, reason: str | None = None,
               kind: EventKind | None = None) -> None:
        order.status = status
        order.updated_at = now
        if status is OrderStatus.CANCELED:
            order.canceled_at = now
        elif status is OrderStatus.EXPIRED:
            order.expired_at = now
        elif status is OrderStatus.FILLED:
            order.filled_at = order.filled_at or now
        self._open.pop(order.id, None)
        event = kind or {OrderStatus.CANCELED: EventKind.CANCELED, OrderStatus.EXPIRED: EventKind.EXPIRED,
                         OrderStatus.FILLED: EventKind.FILL}[status]
        detail = {"reason": reason} if reason else {}
        self._emit(event, order, **detail)
        self._after_final(order, now)

    def _after_final(self, order: SimOrder, now: datetime) -> None:
        """A final order's group reacts: legs activate or die with their entry; siblings die with it."""
        legs = [self._orders[i] for i in order.leg_ids]
        if legs:
            if order.filled_qty > 0:
                for leg in legs:
                    if leg.is_open and leg.held:
                        leg.held = False
                        leg.qty = order.filled_qty
                        leg.created_at = leg.updated_at = now
                        self._schedule(leg, now)
                        self._emit(EventKind.ACTIVATED, leg)
            else:
                for leg in legs:
                    if leg.is_open:
                        self._close(leg, OrderStatus.CANCELED, now, reason=f"entry {order.status.value}")
        if order.status is OrderStatus.FILLED or order.status is OrderStatus.CANCELED or (
                order.status is OrderStatus.EXPIRED):
            for sibling_id in order.sibling_ids:
                sibling = self._orders[sibling_id]
                if sibling.is_open:
                    self._close(sibling, OrderStatus.CANCELED, now, reason=f"oco sibling {order.status.value}")

    # ==================================================================================== requests

    def cancel_order(self, order_id: str, *, account_id: str | None = None) -> SimOrder:
        """Cancel an open order (an entry takes its legs along, an OCO member its sibling); returns the
        snapshot. :class:`SimError` ``order_not_found`` / ``not_cancelable`` (already final)."""
        with self._mutation():
            order = self._get(order_id, account_id)
            if not order.is_open:
                raise SimError("not_cancelable", f"order {order_id} is already {order.status.value}")
            self._close(order, OrderStatus.CANCELED, self.now(), reason="canceled by request")
            return order.snapshot()

    def cancel_all(self, *, account_id: str | None = None, symbol: str | None = None) -> list[SimOrder]:
        """Cancel every open order of the account (optionally of one symbol); returns what was canceled."""
        with self._mutation():
            account = self.account(account_id)
            canonical = self.market.canonical(symbol) if symbol else None
            canceled = []
            for order in list(self._open.values()):
                if order.account_id != account.account_id or not order.is_open:
                    continue
                if canonical and order.canonical != canonical:
                    continue
                self._close(order, OrderStatus.CANCELED, self.now(), reason="cancel all")
                canceled.append(order)
            return [o.snapshot() for o in canceled]

    def replace_order(self, order_id: str, *, qty: Any = None, limit_price: Any = None,
                      stop_price: Any = None, trail: Any = None, time_in_force: TimeInForce | str | None = None,
                      client_order_id: str | None = None, account_id: str | None = None) -> SimOrder:
        """Alpaca-style replace: the old order ends (``replaced_by`` set, event ``replaced``) and a new order
        with the changes takes its place; returns the new order (or a rejected one: the old then stays).
        ``trail`` is the new trail price or percent, whichever the order uses. Orders with legs or
        siblings cannot be replaced (use :meth:`modify_order`)."""
        with self._mutation():
            old = self._get(order_id, account_id)
            self._check_modifiable(old)
            if old.leg_ids or old.sibling_ids or old.parent_id:
                raise SimError("not_modifiable", f"order {order_id} belongs to a group: modify it instead")
            now = self.now()
            account = self._accounts[old.account_id]
            info = self.market.info(old.canonical)
            self._order_seq += 1
            new = attrs.evolve(
                old, id=self._new_order_id(), seq=self._order_seq, created_at=now, updated_at=now,
                status=OrderStatus.NEW, filled_qty=Decimal(0), filled_value=Decimal(0), avg_fill_price=None,
                fees=Decimal(0), fee_currency=None, filled_at=None, canceled_at=None, expired_at=None,
                fills=(), replaces=old.id, replaced_by=None, hwm=None, trail_stop=None, triggered=False,
                extra=dict(old.extra))
            self._apply_changes(new, qty, limit_price, stop_price, trail)
            if qty is None and old.qty is not None:
                new.qty = old.qty - old.filled_qty
            if time_in_force is not None:
                new.time_in_force = _coerce(TimeInForce, time_in_force, "time_in_force")
            if client_order_id is not None:
                new.client_order_id = client_order_id
            if new.client_order_id is not None and self._client_id_taken(
                    new.account_id, new.client_order_id, exclude=old.id):
                return self._reject(new, RejectCode.DUPLICATE_CLIENT_ORDER_ID,
                                    f"client order id {new.client_order_id!r} is already in use")
            for code, reason in (self._check_prices(new, info, None, None), self._check_qty(new, info, account),
                                 self._check_funds(account, new, info, now, exclude=frozenset({old.id}))):
                if code is not None:
                    return self._reject(new, code, reason)
            old.replaced_by = new.id
            old.status = OrderStatus.CANCELED
            old.canceled_at = old.updated_at = now
            self._open.pop(old.id, None)
            self._emit(EventKind.REPLACED, old, replaced_by=new.id)
            self._schedule(new, now)
            self._file(new)
            self._emit(EventKind.NEW, new, replaces=old.id)
            if self.config.fill_on_submit:
                self._evaluate(new, now, {})
            return new.snapshot()

    def modify_order(self, order_id: str, *, qty: Any = None, limit_price: Any = None, stop_price: Any = None,
                     trail: Any = None, account_id: str | None = None) -> SimOrder:
        """IBKR-style modification in place (same id, event ``modified``). A new quantity below what is
        already filled is refused with :class:`SimError` ``invalid``."""
        with self._mutation():
            order = self._get(order_id, account_id)
            self._check_modifiable(order)
            info = self.market.info(order.canonical)
            trial = order.snapshot()
            self._apply_changes(trial, qty, limit_price, stop_price, trail)
            if trial.qty is not None and trial.qty <= trial.filled_qty:
                raise SimError("invalid", f"qty {trial.qty} is not above the {trial.filled_qty} already filled")
            code, reason = self._check_prices(trial, info, None, None)
            if code is None:
                code, reason = self._check_qty(trial, info, self._accounts[order.account_id])
            if code is not None:
                raise SimError("invalid", reason)
            now = self.now()
            for name in ("qty", "limit_price", "stop_price", "trail_price", "trail_percent"):
                setattr(order, name, getattr(trial, name))
            if trail is not None:
                order.trail_stop = None  # recomputed from the watermark at the next evaluation
            order.updated_at = now
            self._emit(EventKind.MODIFIED, order)
            if self.config.fill_on_submit:
                self._evaluate(order, now, {})
            return order.snapshot()

    @staticmethod
    def _check_modifiable(order: SimOrder) -> None:
        if not order.is_open:
            raise SimError("not_modifiable", f"order {order.id} is already {order.status.value}")

    @staticmethod
    def _apply_changes(order: SimOrder, qty: Any, limit_price: Any, stop_price: Any, trail: Any) -> None:
        if qty is not None:
            order.qty = _dec(qty, "qty")
        if limit_price is not None:
            if order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                raise SimError("invalid", f"a {order.type.value} order has no limit price")
            order.limit_price = _dec(limit_price, "limit_price")
        if stop_price is not None:
            if order.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
                raise SimError("invalid", f"a {order.type.value} order has no stop price")
            order.stop_price = _dec(stop_price, "stop_price")
        if trail is not None:
            if order.type is not OrderType.TRAILING_STOP:
                raise SimError("invalid", f"a {order.type.value} order has no trail")
            if order.trail_price is not None:
                order.trail_price = _dec(trail, "trail")
            else:
                order.trail_percent = _dec(trail, "trail")
        for name in ("qty", "limit_price", "stop_price", "trail_price", "trail_percent"):
            value = getattr(order, name)
            if value is not None and value <= 0:
                raise SimError("invalid", f"{name} must be positive, got {value}")

    # ---------------------------------------------------------------------------------- lookups

    def _get(self, order_id: str, account_id: str | None) -> SimOrder:
        order = self._orders.get(str(order_id))
        if order is None or (account_id is not None and order.account_id != account_id):
            raise SimError("order_not_found", f"no order {order_id!r}")
        return order

    def get_order(self, order_id: str, *, account_id: str | None = None) -> SimOrder:
        """The order with this engine id. :class:`SimError` ``order_not_found``."""
        with self._lock:
            return self._get(order_id, account_id).snapshot()

    def find_order(self, *, order_id: str | None = None, client_order_id: str | None = None,
                   account_id: str | None = None) -> SimOrder | None:
        """By engine id or client order id (the open one if any, else the newest); None if absent."""
        with self._lock:
            if order_id is not None:
                order = self._orders.get(str(order_id))
                if order is None or (account_id is not None and order.account_id != account_id):
                    return None
                return order.snapshot()
            if client_order_id is None:
                raise SimError("invalid", "find_order needs order_id or client_order_id")
            accounts = [account_id] if account_id else list(self._accounts)
            candidates = [self._orders[i] for acc in accounts
                          for i in self._by_client_id.get((acc, client_order_id), ())]
            if not candidates:
                return None
            candidates.sort(key=lambda o: (o.is_open, o.seq))
            return candidates[-1].snapshot()

    def orders(self, account_id: str | None = None, *, status: str = "all", symbol: str | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
               newest_first: bool = True, include_legs: bool = True) -> list[SimOrder]:
        """Orders of one account (or all with ``account_id=None``) filtered by ``status`` (``open``,
        ``closed``, ``all``), symbol (any spelling) and creation time."""
        if status not in ("open", "closed", "all"):
            raise SimError("invalid", f"status must be open, closed or all, got {status!r}")
        with self._lock:
            canonical = None
            if symbol is not None:
                try:
                    canonical = self.market.canonical(symbol)
                except UnknownSymbol:
                    return []
            source = self._open.values() if status == "open" else self._orders.values()
            result = [o for o in source
                      if (account_id is None or o.account_id == account_id)
                      and (status != "closed" or not o.is_open)
                      and (canonical is None or o.canonical == canonical)
                      and (since is None or o.created_at >= since)
                      and (until is None or o.created_at <= until)
                      and (include_legs or o.parent_id is None)]
            result.sort(key=lambda o: o.seq, reverse=newest_first)
            if limit is not None:
                result = result[:limit]
            return [o.snapshot() for o in result]

    def fills(self, account_id: str | None = None, *, symbol: str | None = None,
              since: datetime | None = None, order_id: str | None = None) -> list[SimFill]:
        """Executions, oldest first."""
        with self._lock:
            canonical = self.market.canonical(symbol) if symbol else None
            return [f for f in self._fills
                    if (account_id is None or f.account_id == account_id)
                    and (canonical is None or self._orders[f.order_id].canonical == canonical)
                    and (since is None or f.timestamp >= since)
                    and (order_id is None or f.order_id == order_id)]

    # ==================================================================================== time

    def step(self) -> list[OrderEvent]:
        """Re-evaluate every open order at the current time: expire DAY orders past their close, run
        OPG/CLS auctions, trigger stops, fill what has become marketable; push changed quotes to quote
        feeds. Returns the events it produced."""
        with self._mutation():
            now = self.now()
            start = len(self._pending)
            liquidity: dict[tuple[str, Side], Decimal] = {}
            for order in sorted(self._open.values(), key=lambda o: o.seq):
                if not order.is_open:
                    continue
                if (order.expires_at is not None and now >= order.expires_at
                        and order.time_in_force is TimeInForce.DAY):
                    self._close(order, OrderStatus.EXPIRED, now, reason="day order past the session close")
                    continue
                self._evaluate(order, now, liquidity, resting=True)
            self._publish_quotes(now)
            return list(self._pending[start:])

    def advance(self, seconds: float, *, step: float | None = None) -> list[OrderEvent]:
        """Move the clock forward ``seconds`` in increments of ``step`` (default: the market's price step),
        stepping after each; returns all events. For tests that do not run trio's clock."""
        increment = step or self.market.step_seconds
        count = max(1, math.ceil(seconds / increment))
        events: list[OrderEvent] = []
        for i in range(count):
            self.clock.advance(min(increment, seconds - i * increment) if seconds > 0 else 0)
            events += self.step()
        return events

    def _publish_quotes(self, now: datetime) -> None:
        feeds = [f for f in self._quote_feeds.feeds if isinstance(f, QuoteFeed)]
        symbols = set().union(*(f.symbols for f in feeds)) if feeds else set()
        for symbol in sorted(symbols):
            try:
                quote = self.market.quote(symbol, now)
            except UnknownSymbol:
                continue
            for feed in feeds:
                feed.offer_quote(quote)

    # ==================================================================================== events

    def subscribe(self, account_id: str | None = None, *, kinds: Iterable[EventKind | str] | None = None,
                  buffer: int = 10_000) -> Feed[OrderEvent]:
        """A feed of order events for one account (or all), optionally only some kinds. Call inside trio;
        iterate it there (``with engine.subscribe() as feed: async for event in feed``)."""
        wanted = None if kinds is None else {_coerce(EventKind, k, "kind") for k in kinds}

        def accept(event: OrderEvent) -> bool:
            return (account_id is None or event.account_id == account_id) and (
                wanted is None or event.kind in wanted)

        return self._order_feeds.add(Feed(accept, buffer=buffer))

    def subscribe_quotes(self, symbols: Iterable[str] = (), *, buffer: int = 10_000) -> QuoteFeed:
        """A feed of quotes for ``symbols`` (add more later with ``feed.add``), pushed at each step when
        they change. Call inside trio."""
        feed = QuoteFeed(self.market.canonical, symbols, buffer=buffer)
        self._quote_feeds.add(feed)
        return feed

    def close_feeds(self) -> None:
        """End every feed (subscribers see the end of their stream): used when a simulator stops."""
        self._order_feeds.close_all()
        self._quote_feeds.close_all()

    def __repr__(self) -> str:
        return (f"Engine({self.broker!r}, accounts={len(self._accounts)}, orders={len(self._orders)}, "
                f"open={len(self._open)})")


def _round(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return ((value / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)


def _money(value: Decimal) -> Decimal:
    return tidy(value.quantize(_MONEY_PLACES))
