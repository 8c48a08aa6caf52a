"""A self-contained in-memory broker for the CLI and shell tests: every required hook (and quote streaming)
on a dict-backed book, written against orch's public contract only.

Nothing is installed: :func:`install` registers fake plugins by filling ``orch.plugins``' discovery and
load caches through pytest's ``monkeypatch`` (then pluggy really validates and loads them), so the config
loader, ``orch <broker> …`` groups and :class:`~orch.orchestrator.Orchestrator` all find them.
:func:`loader` is the same thing as an Orchestrator ``plugin_loader``.

Each broker's :class:`Book` outlives connections (one-shot CLI commands each connect anew), counts
connects, and lets a test hook into the moment an order is about to be sent (``before_place``).
Behaviour a test can trigger: symbol ``NOGO`` or a buy costing more than the cash → explicit rejection
(``OrderRejected`` with a broker code); symbol ``NOPE`` → UnknownInstrument; ``book.refuse_auth`` →
AuthError at connect; limit orders rest open (so they can be cancelled); market orders fill at the ask
(buy) or bid (sell), plus ``book.slip``.
"""

# No `from __future__ import annotations`: loaded with runpy, so type hints must be real objects.

import itertools
import sys
import types
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import trio
from attrs import field

from orch.errors import AuthError, OrderNotFound, OrderRejected, UnknownInstrument
from orch.hookspecs import hookimpl
from orch.models import (Account, Balance, BrokerInfo, Capabilities, Market, Order, OrderClass, OrderStatus,
                         OrderType, Position, Quote, RateLimitDefaults, Side, TimeInForce)
from orch.secret import Secret
from orch.settings import BrokerSettings

SPREAD = Decimal("0.01")


def _secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value), source="config")


@attrs.frozen(kw_only=True)
class PaperSettings(BrokerSettings):
    paper: bool = True
    api_key: Secret | None = field(default=None, converter=_secret)
    base_url: str = "memory://paper"


@attrs.frozen(kw_only=True)
class NetSettings(BrokerSettings):
    testnet: bool = True
    api_key: Secret | None = field(default=None, converter=_secret)


class Book:
    """One broker's state, shared by all its connections."""

    def __init__(self, name: str, cash: Decimal = Decimal("100000")) -> None:
        self.name = name
        self.cash = cash
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, tuple[Any, Decimal]] = {}
        self.prices: dict[str, Decimal] = {}
        self.ids = itertools.count(1)
        self.connects = 0
        self.closes = 0
        self.refuse_auth = False
        self.slip = Decimal(0)
        self.placed: list[Any] = []
        self.before_place: Callable[[Any], None] | None = None

    def price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, Decimal("100"))


BOOKS: dict[str, Book] = {}


class Connection:
    def __init__(self, book: Book, context: Any) -> None:
        self.book = book
        self.context = context
        self.closed = False

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.book.closes += 1


def _now() -> datetime:
    return datetime.now(timezone.utc)


CAPABILITIES = Capabilities(
    order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce),
    order_classes=frozenset({OrderClass.SIMPLE, OrderClass.BRACKET, OrderClass.OCO, OrderClass.OTO}),
    notional_orders=True, fractional=True, stream_quotes=True, notes=("in-memory test broker",))


def build(name: str, *, markets: frozenset[Market], settings_type: type = PaperSettings,
          paper_flag: str = "paper") -> dict[str, Any]:
    """The hook implementations of broker ``name``."""

    def book(conn: Connection) -> Book:
        return conn.book

    def orch_broker_info() -> BrokerInfo:
        return BrokerInfo(name=name, title=f"Fake {name}", official=True, markets=markets,
                          capabilities=CAPABILITIES, settings_type=settings_type,
                          rate_limits=RateLimitDefaults(requests_per_minute=600),
                          endpoints={paper_flag: f"memory://{paper_flag}", "live": "memory://live"},
                          paper_flag=paper_flag)

    async def orch_connect(settings: Any, context: Any) -> Connection:
        await context.limiter.acquire(1)
        state = BOOKS.setdefault(name, Book(name))
        state.connects += 1
        if state.refuse_auth:
            raise AuthError("invalid api key", broker=name, broker_code=40110000, status=401)
        return Connection(state, context)

    async def orch_place_order(conn: Connection, request: Any) -> Order:
        await conn.context.limiter.acquire(1, order=True)
        state = book(conn)
        if state.before_place is not None:
            state.before_place(request)
        state.placed.append(request)
        symbol = request.instrument.symbol
        if symbol == "NOGO":
            raise OrderRejected("symbol is not tradable", broker=name, broker_code="42210000")
        price = state.price(symbol)
        fill_price = (price + SPREAD + state.slip) if request.side is Side.BUY else (price - SPREAD - state.slip)
        qty = request.qty if request.qty is not None else request.notional / fill_price
        if request.side is Side.BUY and qty * fill_price > state.cash:
            raise OrderRejected(f"insufficient buying power: needs {qty * fill_price}, has {state.cash}",
                                broker=name, broker_code="40310000")
        filled = request.type is OrderType.MARKET
        if filled:
            sign = 1 if request.side is Side.BUY else -1
            state.cash -= sign * qty * fill_price
            _, held = state.positions.get(symbol, (request.instrument, Decimal(0)))
            state.positions[symbol] = (request.instrument, held + sign * qty)
        order = Order(
            broker=name, broker_order_id=str(next(state.ids)), client_order_id=request.client_order_id,
            instrument=request.instrument, side=request.side, type=request.type,
            status=OrderStatus.FILLED if filled else OrderStatus.ACCEPTED,
            raw_status="filled" if filled else "accepted", qty=request.qty, notional=request.notional,
            filled_qty=qty if filled else Decimal(0), avg_fill_price=fill_price if filled else None,
            limit_price=request.limit_price, stop_price=request.stop_price,
            time_in_force=request.time_in_force, order_class=request.order_class, created_at=_now())
        state.orders[order.broker_order_id] = order
        return order

    def find(conn: Connection, ref: Any) -> Order | None:
        for order in book(conn).orders.values():
            if ref.broker_order_id == order.broker_order_id or (
                    ref.client_order_id is not None and ref.client_order_id == order.client_order_id):
                return order
        return None

    async def orch_get_order(conn: Connection, ref: Any) -> Order | None:
        return find(conn, ref)

    async def orch_cancel_order(conn: Connection, ref: Any) -> Order | None:
        order = find(conn, ref)
        if order is None:
            raise OrderNotFound("order not found", broker=name, broker_code=40410000)
        if order.status.is_final:
            raise OrderRejected(f"order is already {order.status.value}", broker=name, broker_code=42210000)
        order = attrs.evolve(order, status=OrderStatus.CANCELED, raw_status="canceled", updated_at=_now())
        book(conn).orders[order.broker_order_id] = order
        return order

    async def orch_list_orders(conn: Connection, filter: Any) -> list[Order]:
        wanted = {"open": lambda o: o.status.is_open, "closed": lambda o: o.status.is_final,
                  "all": lambda o: True}[filter.status]
        found = [o for o in book(conn).orders.values() if wanted(o)]
        return sorted(found, key=lambda o: int(o.broker_order_id), reverse=True)[:filter.limit]

    def quote_of(conn: Connection, instrument: Any) -> Quote:
        if instrument.symbol == "NOPE":
            raise UnknownInstrument(f"unknown symbol {instrument.symbol}", broker=name)
        price = book(conn).price(instrument.symbol)
        return Quote(broker=name, instrument=instrument, timestamp=_now(), bid=price - SPREAD,
                     ask=price + SPREAD, bid_size=Decimal(5), ask_size=Decimal(7), last=price)

    async def orch_quote(conn: Connection, instrument: Any) -> Quote:
        return quote_of(conn, instrument)

    async def orch_stream_quotes(conn: Connection, instruments: list[Any]):
        for tick in itertools.count():
            for instrument in instruments:
                await trio.lowlevel.checkpoint()
                quote = quote_of(conn, instrument)
                yield attrs.evolve(quote, last=quote.last + tick)

    async def orch_account(conn: Connection) -> Account:
        state = book(conn)
        held = sum((qty * state.price(sym) for sym, (_, qty) in state.positions.items()), Decimal(0))
        paper = getattr(conn.context, "live", False) is False
        return Account(broker=name, account_id=f"{name.upper()}-1", currency="USD", cash=state.cash,
                       equity=state.cash + held, buying_power=state.cash * 2, paper=paper,
                       balances=(Balance("USD", state.cash), Balance("BTC", Decimal("0.5"), Decimal("0.1"))),
                       raw={"trading_blocked": "False", "shorting_enabled": "True", "currency": "USD"})

    async def orch_positions(conn: Connection) -> list[Position]:
        state = book(conn)
        return [Position(broker=name, instrument=instrument, qty=qty, avg_price=state.price(sym),
                         market_value=qty * state.price(sym), currency="USD")
                for sym, (instrument, qty) in state.positions.items() if qty]

    hooks = {key: value for key, value in locals().items() if key.startswith("orch_")}
    return {key: hookimpl(function) for key, function in hooks.items()}


# The brokers the CLI tests use: a paper-flag stock broker and a testnet-flag crypto broker.
SPECS = {
    "memb": dict(markets=frozenset({Market.US_STOCKS}), settings_type=PaperSettings, paper_flag="paper"),
    "crypt": dict(markets=frozenset({Market.CRYPTO}), settings_type=NetSettings, paper_flag="testnet"),
}


def install(monkeypatch: Any, names: tuple[str, ...] = ("memb", "crypt")) -> dict[str, Book]:
    """Make ``names`` look installed to orch (metadata and load caches) for one test; fresh books."""
    from orch import plugins

    entries = {}
    for name in names:
        module_name = f"orch_cli_fake_{name}"
        module = types.ModuleType(module_name)
        for key, value in build(name, **SPECS[name]).items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, module_name, module)
        entries[name] = plugins.PluginEntry(name=name, module=module_name, dist_name=f"fake-{name}",
                                            version="1.0", unofficial=False)
    monkeypatch.setattr(plugins, "_entries", dict(sorted(entries.items())))
    monkeypatch.setattr(plugins, "_loaded", {})
    monkeypatch.setattr(plugins, "_pm", None)
    BOOKS.clear()
    for name in names:
        BOOKS[name] = Book(name)
    return BOOKS


def loader(name: str, section: Any = None) -> Any:
    """An Orchestrator ``plugin_loader`` for brokers set up by :func:`install`."""
    from orch.plugins import load_gated

    return load_gated(name, section)
