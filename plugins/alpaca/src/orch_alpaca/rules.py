"""Local refusals: what the config disables and what Alpaca would certainly refuse, checked before a
request leaves. Pure functions of the request and the settings.

Config refusals name the setting (``brokers.alpaca.order_types.stop.enabled is false``) so the user
knows what to change. Disabled order types and features raise NotSupported; values raise InvalidOrder.
Checks that need account state (``features.short_selling`` against the position, ``margin_trading``
against cash, sizes of notional orders against a price) belong to :mod:`orch.risk`, which the
orchestrator runs with that state before the plugin is called; they are not fetched again here.
"""

from __future__ import annotations

from decimal import Decimal

from orch.errors import InvalidOrder, NotSupported
from orch.models import OrderClass, OrderRequest, OrderType, Side, TimeInForce
from orch.settings import BrokerSettings

MAX_QTY_DECIMALS = 9
MAX_CLIENT_ORDER_ID = 128
CRYPTO_TIF = frozenset({TimeInForce.GTC, TimeInForce.IOC})
CRYPTO_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})
DAY_OR_GTC = frozenset({TimeInForce.DAY, TimeInForce.GTC})
AUCTION_TIF = frozenset({TimeInForce.OPG, TimeInForce.CLS})


def _invalid(broker: str, message: str) -> InvalidOrder:
    return InvalidOrder(f"{broker}: {message}")


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _leg_types(request: OrderRequest) -> list[OrderType]:
    kinds = [request.type]
    if request.take_profit is not None:
        kinds.append(OrderType.LIMIT)
    if request.stop_loss is not None:
        kinds.append(OrderType.STOP_LIMIT if request.stop_loss.limit_price is not None else OrderType.STOP)
    return kinds


def check_config(request: OrderRequest, settings: BrokerSettings, *, crypto: bool,
                 broker: str = "alpaca") -> None:
    """What the user's config disables: order types, extended hours, fractional quantities, sizes."""
    section = f"brokers.{broker}"
    for kind in _leg_types(request):
        toggle = settings.order_types.get(kind.value)
        if toggle is not None and not toggle.enabled:
            raise NotSupported(f"order_types.{kind.value}",
                               f"{section}.order_types.{kind.value}.enabled is false", broker=broker)
    if request.extended_hours:
        # An extended-hours order placed now may trade in either extended session before it expires.
        for name in ("after_hours_trading", "pre_market_trading"):
            if getattr(settings.features, name) is False:
                raise NotSupported(f"features.{name}",
                                   f"{section}.features.{name} is false (extended_hours order)", broker=broker)
    if request.qty is not None:
        check_qty_settings(request.qty, settings, fractional_matters=not crypto, broker=broker)
    elif not crypto and settings.trading_settings.fractional_shares is False:
        raise _invalid(broker, f"a notional order buys fractional shares; "
                               f"{section}.trading_settings.fractional_shares is false")


def check_qty_settings(qty: Decimal, settings: BrokerSettings, *, fractional_matters: bool,
                       broker: str = "alpaca") -> None:
    """``trading_settings``: min/max_order_size are quantities (notional limits have their own keys);
    ``fractional_shares = false`` refuses a fractional stock quantity."""
    trading = settings.trading_settings
    section = f"brokers.{broker}.trading_settings"
    if fractional_matters and trading.fractional_shares is False and qty != qty.to_integral_value():
        raise _invalid(broker, f"qty {qty} is fractional; {section}.fractional_shares is false")
    if trading.min_order_size is not None and qty < trading.min_order_size:
        raise _invalid(broker, f"qty {qty} is below {section}.min_order_size ({trading.min_order_size})")
    if trading.max_order_size is not None and qty > trading.max_order_size:
        raise _invalid(broker, f"qty {qty} is above {section}.max_order_size ({trading.max_order_size})")


def check_price_increment(name: str, price: Decimal, *, broker: str = "alpaca") -> None:
    """Alpaca's sub-penny rule for stocks: at most 2 decimals from $1 up, 4 below."""
    allowed = 2 if price >= 1 else 4
    if _decimals(price) > allowed:
        raise _invalid(broker, f"{name} {price} has more than {allowed} decimals "
                               f"(sub-penny rule for prices {'at or above' if price >= 1 else 'below'} $1)")


def _prices(request: OrderRequest) -> list[tuple[str, Decimal]]:
    found = [(name, getattr(request, name)) for name in ("limit_price", "stop_price", "trail_price")
             if getattr(request, name) is not None]
    if request.take_profit is not None:
        found.append(("take_profit.limit_price", request.take_profit.limit_price))
    if request.stop_loss is not None:
        found.append(("stop_loss.stop_price", request.stop_loss.stop_price))
        if request.stop_loss.limit_price is not None:
            found.append(("stop_loss.limit_price", request.stop_loss.limit_price))
    return found


def check_alpaca(request: OrderRequest, *, crypto: bool, broker: str = "alpaca") -> None:
    """Combinations Alpaca documents as refused, checked here so they never reach the wire."""
    kind, tif, cls = request.type, request.time_in_force, request.order_class
    if request.post_only:
        raise NotSupported("post_only", "Alpaca has no post-only orders", broker=broker)
    if request.iceberg_qty is not None:
        raise NotSupported("iceberg", "Alpaca has no iceberg orders", broker=broker)
    if request.client_order_id is not None and len(request.client_order_id) > MAX_CLIENT_ORDER_ID:
        raise _invalid(broker, f"client_order_id is longer than {MAX_CLIENT_ORDER_ID} characters")
    if request.qty is not None and _decimals(request.qty) > MAX_QTY_DECIMALS:
        raise _invalid(broker, f"qty {request.qty} has more than {MAX_QTY_DECIMALS} decimals")
    if request.notional is not None:
        if kind is not OrderType.MARKET or cls is not OrderClass.SIMPLE:
            raise _invalid(broker, "a notional order must be a simple market order")
        if not crypto and tif is not TimeInForce.DAY:
            raise _invalid(broker, "a notional stock order must use time_in_force day")
    if crypto:
        if kind not in CRYPTO_TYPES:
            raise NotSupported(f"crypto {kind.value} orders",
                               f"Alpaca crypto takes market, limit and stop_limit orders, not {kind.value}",
                               broker=broker)
        if tif not in CRYPTO_TIF:
            raise _invalid(broker, f"crypto orders take time_in_force gtc or ioc, not {tif.value}")
        if cls is not OrderClass.SIMPLE:
            raise NotSupported(f"crypto {cls.value} orders", "Alpaca crypto orders are simple orders only",
                               broker=broker)
        if request.extended_hours:
            raise _invalid(broker, "extended_hours does not apply to crypto (it trades around the clock)")
        return
    if request.extended_hours:
        if kind is not OrderType.LIMIT or tif is not TimeInForce.DAY:
            raise _invalid(broker, "extended_hours orders must be limit orders with time_in_force day")
        if cls is not OrderClass.SIMPLE:
            raise _invalid(broker, f"extended_hours is not allowed on {cls.value} orders")
    if request.qty is not None and request.qty != request.qty.to_integral_value():
        if tif is not TimeInForce.DAY:
            raise _invalid(broker, "fractional quantities need time_in_force day")
        if cls is not OrderClass.SIMPLE:
            raise _invalid(broker, f"{cls.value} orders need a whole-share qty")
    if tif in AUCTION_TIF and kind not in (OrderType.MARKET, OrderType.LIMIT):
        raise _invalid(broker, f"time_in_force {tif.value} works with market and limit orders only")
    if kind is OrderType.TRAILING_STOP and tif not in DAY_OR_GTC:
        raise _invalid(broker, "trailing_stop orders take time_in_force day or gtc")
    if cls is not OrderClass.SIMPLE:
        _check_legs(request, broker=broker)
    for name, price in _prices(request):
        check_price_increment(name, price, broker=broker)


def _check_legs(request: OrderRequest, *, broker: str) -> None:
    cls = request.order_class
    if request.time_in_force not in DAY_OR_GTC:
        raise _invalid(broker, f"{cls.value} orders take time_in_force day or gtc")
    if cls is OrderClass.OCO:
        if request.type is not OrderType.LIMIT:
            raise _invalid(broker, "an oco order must be of type limit (its take-profit leg)")
        if request.limit_price is not None and request.limit_price != request.take_profit.limit_price:
            raise _invalid(broker, "an oco order's limit_price is its take_profit.limit_price; they differ")
    tp = request.take_profit.limit_price if request.take_profit else None
    sl = request.stop_loss.stop_price if request.stop_loss else None
    if tp is not None and sl is not None:
        # The exit legs sell when they close a long: a bracket/oto bought, or an oco (exit-only) that sells.
        exits_sell = (request.side is Side.SELL) if cls is OrderClass.OCO else (request.side is Side.BUY)
        if (exits_sell and tp <= sl) or (not exits_sell and tp >= sl):
            relation = "above" if exits_sell else "below"
            raise _invalid(broker, f"for a {request.side.value} {cls.value} the take-profit ({tp}) must be "
                                   f"{relation} the stop-loss ({sl})")
    entry = request.limit_price if cls is not OrderClass.OCO else None
    if entry is not None:
        buy = request.side is Side.BUY
        if tp is not None and ((buy and tp <= entry) or (not buy and tp >= entry)):
            raise _invalid(broker, f"take-profit {tp} is on the wrong side of the entry price {entry}")
        if sl is not None and ((buy and sl >= entry) or (not buy and sl <= entry)):
            raise _invalid(broker, f"stop-loss {sl} is on the wrong side of the entry price {entry}")


def check_order(request: OrderRequest, settings: BrokerSettings, *, crypto: bool,
                broker: str = "alpaca") -> None:
    """Every local check that needs no account state."""
    check_config(request, settings, crypto=crypto, broker=broker)
    check_alpaca(request, crypto=crypto, broker=broker)


def check_replace(*, qty: Decimal | None, limit_price: Decimal | None, stop_price: Decimal | None,
                  settings: BrokerSettings, crypto: bool | None, broker: str = "alpaca") -> None:
    """A replacement's new values under the same rules as a new order (where the asset kind is known)."""
    if qty is None and limit_price is None and stop_price is None:
        raise _invalid(broker, "a replacement needs a new qty, limit_price or stop_price")
    for name, value in (("qty", qty), ("limit_price", limit_price), ("stop_price", stop_price)):
        if value is not None and value <= 0:
            raise _invalid(broker, f"{name} must be positive, got {value}")
    if qty is not None:
        if _decimals(qty) > MAX_QTY_DECIMALS:
            raise _invalid(broker, f"qty {qty} has more than {MAX_QTY_DECIMALS} decimals")
        check_qty_settings(qty, settings, fractional_matters=crypto is False, broker=broker)
    if crypto is False:
        for name, value in (("limit_price", limit_price), ("stop_price", stop_price)):
            if value is not None:
                check_price_increment(name, value, broker=broker)
