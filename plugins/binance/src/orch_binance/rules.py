"""From an orch OrderRequest to Binance's parameters, with every local refusal on the way: what the config
disables, what Binance Spot cannot do, and (after rounding to step and tick) what breaks a symbol filter.
Pure functions of the request, the symbol's exchangeInfo rules and the settings.
"""

from __future__ import annotations

from decimal import Decimal

from orch.errors import InvalidOrder, NotSupported
from orch.models import Instrument, Market, OrderClass, OrderRequest, OrderType, Side, TimeInForce
from orch.settings import BrokerSettings

from orch_binance import filters
from orch_binance.filters import SymbolRules, plain

BROKER = "binance"
CLIENT_ID_MAX = 36
TIFS = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
FUTURES_MESSAGE = ("Binance USDT-M and COIN-M futures are not supported by orch yet (spot only); "
                   "trade futures on Binance directly")

# orch order type -> the guide's order_types keys that can switch it off.
_TOGGLES = {OrderType.MARKET: ("market",), OrderType.LIMIT: ("limit",), OrderType.STOP: ("stop_loss", "stop"),
            OrderType.STOP_LIMIT: ("stop_loss", "stop_limit", "stop_loss_limit")}



def _invalid(message: str, broker: str) -> InvalidOrder:
    return InvalidOrder(f"{broker}: {message}")


def to_symbol(instrument: Instrument, *, broker: str = BROKER) -> str:
    """``BTCUSDT`` from ``BTCUSDT``, ``BTC/USDT``, ``btc-usdt``; ``broker_ids[broker]`` wins."""
    from orch.errors import UnknownInstrument

    if instrument.market is Market.FUTURES:
        raise NotSupported("futures", FUTURES_MESSAGE, broker=broker)
    explicit = instrument.broker_ids.get(broker)
    if explicit:
        return explicit.upper()
    if instrument.market is not Market.CRYPTO:
        raise UnknownInstrument(f"{instrument.symbol!r}: Binance Spot trades CRYPTO, not {instrument.market.value}",
                                broker=broker)
    text = "".join(ch for ch in instrument.symbol.upper() if ch.isalnum())
    if not text:
        raise UnknownInstrument(f"{instrument.symbol!r} is not a Binance symbol", broker=broker)
    return text


def check_capabilities(request: OrderRequest, settings: BrokerSettings, *, broker: str = BROKER) -> None:
    """What Binance Spot (or the config) cannot do, refused before any I/O."""
    section = f"brokers.{broker}"
    if request.instrument.market is Market.FUTURES:
        raise NotSupported("futures", FUTURES_MESSAGE, broker=broker)
    if request.extended_hours:
        raise NotSupported("extended_hours", "Binance trades around the clock; there are no extended hours",
                           broker=broker)
    if request.type is OrderType.TRAILING_STOP:
        raise NotSupported("order_type:trailing_stop", "trailing stops (trailingDelta) are not supported yet",
                           broker=broker)
    if request.order_class in (OrderClass.BRACKET, OrderClass.OTO):
        raise NotSupported(f"order_class:{request.order_class.value}",
                           f"{request.order_class.value} orders are not supported on Binance (use oco)", broker=broker)
    if request.time_in_force not in TIFS:
        raise NotSupported(f"time_in_force:{request.time_in_force.value}",
                           f"Binance takes time in force GTC, IOC or FOK, not {request.time_in_force.value}",
                           broker=broker)
    for key in _TOGGLES.get(request.type, ()):
        toggle = settings.order_types.get(key)
        if toggle is not None and not toggle.enabled:
            raise NotSupported(f"order_types.{key}", f"{section}.order_types.{key}.enabled is false", broker=broker)
    if request.order_class is OrderClass.OCO:
        for key in ("oco", "take_profit", "stop_loss"):
            toggle = settings.order_types.get(key)
            if toggle is not None and not toggle.enabled:
                raise NotSupported(f"order_types.{key}", f"{section}.order_types.{key}.enabled is false (oco)",
                                   broker=broker)
    if request.client_order_id is not None and len(request.client_order_id) > CLIENT_ID_MAX:
        raise _invalid(f"client_order_id is longer than {CLIENT_ID_MAX} characters", broker)
    if request.notional is not None and (request.type is not OrderType.MARKET
                                         or request.order_class is not OrderClass.SIMPLE):
        raise _invalid("an order by notional (quoteOrderQty) must be a simple market order", broker)
    if request.iceberg_qty is not None:
        if request.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            raise _invalid("icebergQty applies to limit and stop-limit orders only", broker)
        if request.time_in_force is not TimeInForce.GTC:
            raise _invalid("an iceberg order needs time_in_force gtc", broker)


def check_toggle(key: str, settings: BrokerSettings, *, broker: str = BROKER) -> None:
    toggle = settings.order_types.get(key)
    if toggle is not None and not toggle.enabled:
        raise NotSupported(f"order_types.{key}", f"brokers.{broker}.order_types.{key}.enabled is false", broker=broker)


def _config_notional(value: Decimal, settings: BrokerSettings, *, broker: str) -> None:
    trading = settings.trading_settings
    section = f"brokers.{broker}.trading_settings"
    if trading.min_notional is not None and value < trading.min_notional:
        raise _invalid(f"notional {plain(value)} is below {section}.min_notional ({plain(trading.min_notional)})",
                       broker)
    if trading.max_notional is not None and value > trading.max_notional:
        raise _invalid(f"notional {plain(value)} is above {section}.max_notional ({plain(trading.max_notional)})",
                       broker)


def _check_sizes(qty: Decimal, settings: BrokerSettings, *, broker: str) -> None:
    trading = settings.trading_settings
    section = f"brokers.{broker}.trading_settings"
    if trading.min_order_size is not None and qty < trading.min_order_size:
        raise _invalid(f"qty {plain(qty)} is below {section}.min_order_size ({plain(trading.min_order_size)})", broker)
    if trading.max_order_size is not None and qty > trading.max_order_size:
        raise _invalid(f"qty {plain(qty)} is above {section}.max_order_size ({plain(trading.max_order_size)})", broker)


def is_take_profit(request: OrderRequest, last: Decimal) -> bool:
    """A stop on the far side of the market: a sell triggered by a rise, a buy by a fall. Binance's
    STOP_LOSS would refuse it ("Order would trigger immediately"); its TAKE_PROFIT types trigger exactly
    there, when the market reaches the stop price."""
    if request.type not in (OrderType.STOP, OrderType.STOP_LIMIT) or request.stop_price is None:
        return False
    return request.stop_price > last if request.side is Side.SELL else request.stop_price < last


def order_params(request: OrderRequest, rules: SymbolRules, settings: BrokerSettings, *,
                 broker: str = BROKER, take_profit: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """(``order`` or ``oco``, the parameters of ``POST /api/v3/order`` or ``/api/v3/orderList/oco``) after
    rounding and every filter check. ``take_profit`` sends a stop order as TAKE_PROFIT(_LIMIT) (see
    :func:`is_take_profit`). Raises NotSupported / InvalidOrder (naming the filter)."""
    check_capabilities(request, settings, broker=broker)
    if not rules.trading:
        raise _invalid(f"{rules.symbol} is not trading (status {rules.status})", broker)
    side = "BUY" if request.side is Side.BUY else "SELL"
    buy = request.side is Side.BUY
    market = request.type is OrderType.MARKET
    base = [("symbol", rules.symbol), ("side", side)]

    if request.notional is not None:
        if not rules.quote_order_qty_market_allowed:
            raise _invalid(f"{rules.symbol} does not take market orders by quoteOrderQty", broker)
        amount = filters.round_quote(rules, request.notional)
        filters.check_notional(rules, amount, market=True, broker=broker)
        _config_notional(amount, settings, broker=broker)
        params = [*base, ("type", "MARKET"), ("quoteOrderQty", plain(amount))]
        return "order", _finish(params, request)

    qty = filters.round_qty(rules, request.qty, market=market)
    filters.check_qty(rules, "quantity", qty, market=market, broker=broker)
    _check_sizes(qty, settings, broker=broker)

    if request.order_class is OrderClass.OCO:
        return "oco", _oco(request, rules, settings, qty, side, buy, broker=broker)

    params = list(base)
    limit = stop = None
    if request.limit_price is not None and request.type is not OrderType.MARKET:
        limit = filters.round_price(rules, request.limit_price, buy=buy)
        filters.check_price(rules, "price", limit, broker=broker)
    if request.stop_price is not None:
        stop = filters.round_price(rules, request.stop_price, buy=None)
        filters.check_price(rules, "stopPrice", stop, broker=broker)
    if request.type is OrderType.MARKET:
        params += [("type", "MARKET"), ("quantity", plain(qty))]
    elif request.type is OrderType.LIMIT:
        if request.post_only:
            params += [("type", "LIMIT_MAKER"), ("quantity", plain(qty)), ("price", plain(limit))]
        else:
            params += [("type", "LIMIT"), ("timeInForce", TIFS[request.time_in_force]), ("quantity", plain(qty)),
                       ("price", plain(limit))]
    elif request.type is OrderType.STOP:
        kind = "TAKE_PROFIT" if take_profit else "STOP_LOSS"
        params += [("type", kind), ("quantity", plain(qty)), ("stopPrice", plain(stop))]
    elif request.type is OrderType.STOP_LIMIT:
        kind = "TAKE_PROFIT_LIMIT" if take_profit else "STOP_LOSS_LIMIT"
        params += [("type", kind), ("timeInForce", TIFS[request.time_in_force]),
                   ("quantity", plain(qty)), ("price", plain(limit)), ("stopPrice", plain(stop))]
    if rules.order_types and params[2][1] not in rules.order_types:
        raise NotSupported(f"order_type:{params[2][1]}", f"{rules.symbol} does not take {params[2][1]} orders",
                           broker=broker)
    reference = limit if limit is not None else stop
    if reference is not None:
        filters.check_notional(rules, reference * qty, market=False, broker=broker)
        _config_notional(reference * qty, settings, broker=broker)
    if request.iceberg_qty is not None:
        iceberg = filters.round_qty(rules, request.iceberg_qty)
        filters.check_iceberg(rules, qty, iceberg, broker=broker)
        params.append(("icebergQty", plain(iceberg)))
    return "order", _finish(params, request)


def _finish(params: list[tuple[str, str]], request: OrderRequest) -> list[tuple[str, str]]:
    if request.client_order_id is not None:
        params.append(("newClientOrderId", request.client_order_id))
    # RESULT for every type: the default for stop orders is ACK, which says nothing of the order's state.
    params.append(("newOrderRespType", "RESULT"))
    return params


def _oco(request: OrderRequest, rules: SymbolRules, settings: BrokerSettings, qty: Decimal, side: str, buy: bool,
         *, broker: str) -> list[tuple[str, str]]:
    """An exit OCO: a take-profit leg and a stop-loss leg sharing ``quantity``. Selling, the take-profit
    (LIMIT_MAKER) is the above leg and the stop below; buying, the reverse with a TAKE_PROFIT_LIMIT below.
    orch's client order id names the list and the take-profit leg."""
    if not rules.oco_allowed:
        raise NotSupported("order_class:oco", f"{rules.symbol} does not allow OCO orders", broker=broker)
    assert request.take_profit is not None and request.stop_loss is not None
    tp = filters.round_price(rules, request.take_profit.limit_price, buy=buy)
    sl_stop = filters.round_price(rules, request.stop_loss.stop_price, buy=None)
    sl_limit = None
    if request.stop_loss.limit_price is not None:
        sl_limit = filters.round_price(rules, request.stop_loss.limit_price, buy=buy)
    for label, price in (("take_profit", tp), ("stop_loss.stop_price", sl_stop), ("stop_loss.limit_price", sl_limit)):
        if price is not None:
            filters.check_price(rules, label, price, broker=broker)
            filters.check_notional(rules, price * qty, market=False, broker=broker)
    if (not buy and tp <= sl_stop) or (buy and tp >= sl_stop):
        raise _invalid(f"for a {side.lower()} oco the take-profit {plain(tp)} must be "
                       f"{'above' if not buy else 'below'} the stop {plain(sl_stop)}", broker)
    _config_notional(tp * qty, settings, broker=broker)
    tif = TIFS[request.time_in_force] if request.time_in_force in TIFS else "GTC"
    stop_leg = [("Type", "STOP_LOSS_LIMIT" if sl_limit is not None else "STOP_LOSS"), ("StopPrice", plain(sl_stop))]
    if sl_limit is not None:
        stop_leg += [("Price", plain(sl_limit)), ("TimeInForce", tif)]
    coid = request.client_order_id
    if not buy:
        above = [("Type", "LIMIT_MAKER"), ("Price", plain(tp))] + ([("ClientOrderId", coid)] if coid else [])
        below = stop_leg
    else:
        above = stop_leg
        below = [("Type", "TAKE_PROFIT_LIMIT"), ("StopPrice", plain(tp)), ("Price", plain(tp)), ("TimeInForce", tif)]
        below += [("ClientOrderId", coid)] if coid else []
    params = [("symbol", rules.symbol), ("side", side), ("quantity", plain(qty))]
    if coid:
        params.append(("listClientOrderId", coid))
    params += [(f"above{k}", v) for k, v in above] + [(f"below{k}", v) for k, v in below]
    params.append(("newOrderRespType", "RESULT"))
    return params
