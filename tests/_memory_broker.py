"""A minimal in-memory broker, written as a third party would write one: it uses only orch's public
contract (hookspecs, models, errors, settings). The plugin tests copy this file into throwaway plugin
packages; ``build`` returns the hook implementations for one entry-point module, so a variant can drop or
replace hooks (``globals().update(build("name", omit={"orch_positions"}))``).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal

import attrs

from orch.errors import InsufficientFunds, NotSupported, OrderNotFound, OrderRejected
from orch.hookspecs import hookimpl
from orch.models import (Account, BrokerInfo, Capabilities, Market, Order, OrderStatus, OrderType, Position,
                         Quote, RateLimitDefaults, Side)
from orch.settings import BrokerSettings

PRICE = Decimal("100")
SPREAD = Decimal("0.01")


@attrs.frozen(kw_only=True)
class Settings(BrokerSettings):
    paper: bool = True
    starting_cash: Decimal = Decimal("10000")


class Connection:
    def __init__(self, settings: Settings) -> None:
        self.cash = settings.starting_cash
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, tuple[object, Decimal]] = {}
        self.ids = itertools.count(1)
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def _now() -> datetime:
    return datetime.now(timezone.utc)


def build(name: str, *, official: bool = True, capabilities: Capabilities | None = None,
          omit: frozenset[str] | set[str] = frozenset(), info_name: str | None = None) -> dict:
    def orch_broker_info():
        return BrokerInfo(
            name=info_name or name, title=f"In-memory test broker ({name})", official=official,
            markets=frozenset({Market.US_STOCKS}), capabilities=capabilities or Capabilities(),
            settings_type=Settings, rate_limits=RateLimitDefaults(requests_per_minute=600),
            endpoints={"paper": "memory://paper"},
            risk_notice=None if official else "test-only unofficial broker")

    async def orch_connect(settings, context):
        await context.limiter.acquire(1)
        return Connection(settings)

    async def orch_place_order(conn, request):
        if request.qty is None:
            raise NotSupported("notional_orders", broker=name)
        cost = request.qty * PRICE
        if request.side is Side.BUY and request.type is OrderType.MARKET and cost > conn.cash:
            raise InsufficientFunds(f"needs {cost}, has {conn.cash}", broker=name)
        filled = request.type is OrderType.MARKET
        if filled:
            sign = 1 if request.side is Side.BUY else -1
            conn.cash -= sign * cost
            _, held = conn.positions.get(request.instrument.symbol, (request.instrument, Decimal(0)))
            conn.positions[request.instrument.symbol] = (request.instrument, held + sign * request.qty)
        order = Order(
            broker=name, broker_order_id=str(next(conn.ids)), client_order_id=request.client_order_id,
            instrument=request.instrument, side=request.side, type=request.type,
            status=OrderStatus.FILLED if filled else OrderStatus.ACCEPTED,
            raw_status="FILLED" if filled else "WORKING", qty=request.qty,
            filled_qty=request.qty if filled else Decimal(0), avg_fill_price=PRICE if filled else None,
            limit_price=request.limit_price, time_in_force=request.time_in_force, created_at=_now())
        conn.orders[order.broker_order_id] = order
        return order

    def find(conn, ref):
        for order in conn.orders.values():
            if ref.broker_order_id == order.broker_order_id or (
                    ref.client_order_id is not None and ref.client_order_id == order.client_order_id):
                return order
        return None

    async def orch_get_order(conn, ref):
        return find(conn, ref)

    async def orch_cancel_order(conn, ref):
        order = find(conn, ref)
        if order is None:
            raise OrderNotFound("no such order", broker=name)
        if order.status.is_final:
            raise OrderRejected(f"order is already {order.status.value}", broker=name)
        order = attrs.evolve(order, status=OrderStatus.CANCELED, raw_status="CANCELLED", updated_at=_now())
        conn.orders[order.broker_order_id] = order
        return order

    async def orch_list_orders(conn, filter):
        wanted = {"open": lambda o: o.status.is_open, "closed": lambda o: o.status.is_final,
                  "all": lambda o: True}[filter.status]
        found = [o for o in conn.orders.values() if wanted(o)]
        return sorted(found, key=lambda o: int(o.broker_order_id), reverse=True)[:filter.limit]

    async def orch_quote(conn, instrument):
        return Quote(broker=name, instrument=instrument, timestamp=_now(), bid=PRICE - SPREAD,
                     ask=PRICE + SPREAD, last=PRICE)

    async def orch_account(conn):
        held = sum((qty * PRICE for _, qty in conn.positions.values()), Decimal(0))
        return Account(broker=name, account_id="MEM-1", currency="USD", cash=conn.cash,
                       equity=conn.cash + held, buying_power=conn.cash, paper=True)

    async def orch_positions(conn):
        return [Position(broker=name, instrument=instrument, qty=qty, avg_price=PRICE,
                         market_value=qty * PRICE)
                for instrument, qty in conn.positions.values() if qty]

    hooks = {key: value for key, value in locals().items() if key.startswith("orch_")}
    return {key: hookimpl(function) for key, function in hooks.items() if key not in omit}
