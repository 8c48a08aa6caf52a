"""Local refusals: what the config disables and what xAPI cannot express, checked before anything is sent.
Lot sizes and price precision need the symbol record and are checked in :mod:`orch_xtb.symbols`."""

from __future__ import annotations

from orch.errors import InvalidOrder, NotSupported
from orch.models import OrderClass, OrderRequest, OrderType, TimeInForce
from orch.settings import BrokerSettings

ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP})
TIME_IN_FORCE = frozenset({TimeInForce.DAY, TimeInForce.GTC})
ORDER_CLASSES = frozenset({OrderClass.SIMPLE, OrderClass.BRACKET, OrderClass.OTO})
MAX_COMMENT = 64  # customComment carries orch's client order id


def check_order(request: OrderRequest, settings: BrokerSettings, *, broker: str = "xtb") -> None:
    section = f"brokers.{broker}"
    if request.post_only:
        raise NotSupported("post_only", "xAPI has no post-only orders", broker=broker)
    if request.iceberg_qty is not None:
        raise NotSupported("iceberg", "xAPI has no iceberg orders", broker=broker)
    if request.notional is not None:
        raise NotSupported("notional_orders", "xAPI orders are sized in lots, not in money", broker=broker)
    if request.extended_hours:
        raise NotSupported("extended_hours", "XTB has no extended-hours flag (CFD hours are the instrument's)",
                           broker=broker)
    if request.type not in ORDER_TYPES:
        raise NotSupported(f"order_type:{request.type.value}",
                           f"xAPI takes market, limit and stop orders, not {request.type.value}", broker=broker)
    if request.time_in_force not in TIME_IN_FORCE:
        raise NotSupported(f"time_in_force:{request.time_in_force.value}",
                           f"xAPI orders are good till cancelled or expire (day); not {request.time_in_force.value}",
                           broker=broker)
    if request.order_class not in ORDER_CLASSES:
        raise NotSupported(f"order_class:{request.order_class.value}",
                           "xAPI attaches a stop-loss/take-profit to the order itself (bracket/oto), no oco",
                           broker=broker)
    kinds = [request.type]
    if request.stop_loss is not None:
        kinds.append(OrderType.STOP)
        if request.stop_loss.limit_price is not None:
            raise InvalidOrder(f"{broker}: an XTB stop-loss is a price level (sl), it takes no limit price")
    for kind in kinds:
        toggle = settings.order_types.get(kind.value)
        if toggle is not None and not toggle.enabled:
            raise NotSupported(f"order_types.{kind.value}", f"{section}.order_types.{kind.value}.enabled is false",
                               broker=broker)
    if request.client_order_id is not None and len(request.client_order_id) > MAX_COMMENT:
        raise InvalidOrder(f"{broker}: client_order_id is longer than {MAX_COMMENT} characters (customComment)")
    trading = settings.trading_settings
    qty = request.qty
    if qty is not None and trading.min_order_size is not None and qty < trading.min_order_size:
        raise InvalidOrder(f"{broker}: qty {qty} is below {section}.trading_settings.min_order_size "
                           f"({trading.min_order_size})")
    if qty is not None and trading.max_order_size is not None and qty > trading.max_order_size:
        raise InvalidOrder(f"{broker}: qty {qty} is above {section}.trading_settings.max_order_size "
                           f"({trading.max_order_size})")
