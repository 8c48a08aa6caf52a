"""Local refusals: what Trading 212's API cannot do, and what the user's config disables, checked before
a request leaves. Pure functions of the request and the settings."""

from __future__ import annotations

from decimal import Decimal

from orch.errors import InvalidOrder, NotSupported
from orch.models import OrderClass, OrderRequest, OrderType, TimeInForce
from orch.settings import BrokerSettings

# Trading 212 documents no precision; 0.1-share examples are common and a finer quantity than this comes
# back as `quantity-precision-mismatch`.
MAX_QTY_DECIMALS = 8
MAX_PRICE_DECIMALS = 4
ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})
TIME_IN_FORCE = frozenset({TimeInForce.DAY, TimeInForce.GTC})


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check_order(request: OrderRequest, settings: BrokerSettings, *, broker: str = "trading212") -> None:
    section = f"brokers.{broker}"
    if request.notional is not None:
        raise NotSupported("notional_orders", "Trading 212's API takes quantities only (no value orders)",
                           broker=broker)
    if request.order_class is not OrderClass.SIMPLE:
        raise NotSupported(f"order_class:{request.order_class.value}",
                           f"Trading 212's API has no {request.order_class.value} orders", broker=broker)
    if request.type not in ORDER_TYPES:
        raise NotSupported(f"order_type:{request.type.value}",
                           f"Trading 212's API has no {request.type.value} orders", broker=broker)
    if request.post_only:
        raise NotSupported("post_only", "Trading 212 has no post-only orders", broker=broker)
    if request.iceberg_qty is not None:
        raise NotSupported("iceberg", "Trading 212 has no iceberg orders", broker=broker)
    if request.type is not OrderType.MARKET and request.time_in_force not in TIME_IN_FORCE:
        raise NotSupported(f"time_in_force:{request.time_in_force.value}",
                           "Trading 212 orders are DAY or GOOD_TILL_CANCEL", broker=broker)
    if request.type is OrderType.MARKET and request.time_in_force not in TIME_IN_FORCE:
        raise NotSupported(f"time_in_force:{request.time_in_force.value}",
                           "Trading 212 market orders have no time in force (they work until filled)",
                           broker=broker)
    if request.extended_hours and request.type is not OrderType.MARKET:
        raise InvalidOrder(f"{broker}: extended_hours applies to market orders only at Trading 212")
    toggle = settings.order_types.get(request.type.value)
    if toggle is not None and not toggle.enabled:
        raise NotSupported(f"order_types.{request.type.value}",
                           f"{section}.order_types.{request.type.value}.enabled is false", broker=broker)
    qty = request.qty
    assert qty is not None
    if _decimals(qty) > MAX_QTY_DECIMALS:
        raise InvalidOrder(f"{broker}: qty {qty} has more than {MAX_QTY_DECIMALS} decimals")
    trading = settings.trading_settings
    if trading.fractional_shares is False and qty != qty.to_integral_value():
        raise InvalidOrder(f"{broker}: qty {qty} is fractional; {section}.trading_settings.fractional_shares "
                           "is false")
    if trading.min_order_size is not None and qty < trading.min_order_size:
        raise InvalidOrder(f"{broker}: qty {qty} is below {section}.trading_settings.min_order_size")
    if trading.max_order_size is not None and qty > trading.max_order_size:
        raise InvalidOrder(f"{broker}: qty {qty} is above {section}.trading_settings.max_order_size")
    for name in ("limit_price", "stop_price"):
        price = getattr(request, name)
        if price is not None and _decimals(price) > MAX_PRICE_DECIMALS:
            raise InvalidOrder(f"{broker}: {name} {price} has more than {MAX_PRICE_DECIMALS} decimals")
