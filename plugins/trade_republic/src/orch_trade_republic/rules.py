"""Local refusals: what Trade Republic cannot do and what the config disables, checked before anything
is sent. Pure functions of the request and the settings.

Trade Republic's orders (``simpleCreateOrder``) are simple market, limit and stop-market orders with an
expiry of good-for-day (``gfd``), good-till-date (``gtd``) or good-till-cancelled (``gtc``), for a whole
number of shares (fractions only through savings plans, which orch does not use).
"""

from __future__ import annotations

from orch.errors import InvalidOrder, NotSupported
from orch.models import OrderClass, OrderRequest, OrderType, TimeInForce

from orch_trade_republic.frames import BROKER
from orch_trade_republic.settings import TradeRepublicSettings

ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP})
TIME_IN_FORCE = frozenset({TimeInForce.DAY, TimeInForce.GTC})
MAX_PRICE_DECIMALS = 4


def _refuse(capability: str, message: str, broker: str) -> NotSupported:
    return NotSupported(capability, message, broker=broker)


def check_order(request: OrderRequest, settings: TradeRepublicSettings, *, broker: str = BROKER) -> None:
    section = f"brokers.{broker}"
    if request.type not in ORDER_TYPES:
        raise _refuse(f"order_type:{request.type.value}",
                      f"Trade Republic takes market, limit and stop (stop-market) orders, not {request.type.value}",
                      broker)
    if request.time_in_force not in TIME_IN_FORCE:
        raise _refuse(f"time_in_force:{request.time_in_force.value}",
                      f"Trade Republic orders expire gfd (day), gtd or gtc, not {request.time_in_force.value}", broker)
    if request.order_class is not OrderClass.SIMPLE:
        raise _refuse(f"order_class:{request.order_class.value}", "Trade Republic has simple orders only", broker)
    if request.notional is not None:
        raise _refuse("notional_orders", "Trade Republic orders are for a number of shares", broker)
    if request.post_only:
        raise _refuse("post_only", "Trade Republic has no post-only orders", broker)
    if request.iceberg_qty is not None:
        raise _refuse("iceberg", "Trade Republic has no iceberg orders", broker)
    if request.extended_hours:
        raise _refuse("extended_hours", "Trade Republic trades within its venues' hours only", broker)
    assert request.qty is not None
    if request.qty != request.qty.to_integral_value():
        raise _refuse("fractional", f"fractional quantities ({request.qty}) are for savings plans only", broker)
    toggle = settings.order_types.get(request.type.value)
    if toggle is not None and not toggle.enabled:
        raise _refuse(f"order_types.{request.type.value}",
                      f"{section}.order_types.{request.type.value}.enabled is false", broker)
    trading = settings.trading_settings
    if trading.min_order_size is not None and request.qty < trading.min_order_size:
        raise InvalidOrder(f"{broker}: qty {request.qty} is below {section}.trading_settings.min_order_size "
                           f"({trading.min_order_size})")
    if trading.max_order_size is not None and request.qty > trading.max_order_size:
        raise InvalidOrder(f"{broker}: qty {request.qty} is above {section}.trading_settings.max_order_size "
                           f"({trading.max_order_size})")
    for name in ("limit_price", "stop_price"):
        value = getattr(request, name)
        if value is not None:
            exponent = value.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > MAX_PRICE_DECIMALS:
                raise InvalidOrder(f"{broker}: {name} {value} has more than {MAX_PRICE_DECIMALS} decimals")
