"""orch instruments <-> IB contracts, and the local order checks made before anything is sent.

* stocks: ``AAPL`` -> STK on the instrument's exchange or the first of ``supported_markets.stocks.exchanges``
  (SMART by default);
* forex: ``EURUSD`` / ``EUR/USD`` / ``EUR.USD`` -> CASH ``EUR`` in ``USD`` on IDEALPRO;
* futures: ``ES 202612`` (or ``ES:202612``) -> FUT on the instrument's exchange (CME by default);
* options: ``AAPL 20261218 C 200`` (or colon-separated) -> OPT on SMART, multiplier 100;
* an IB conId in ``instrument.broker_ids["ibkr"]`` is sent as is.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from orch.errors import InvalidOrder, NotSupported, UnknownInstrument
from orch.models import Instrument, Market, OrderClass, OrderRequest, OrderType, Side, TimeInForce

from orch_ibkr.protocol import Contract, IbOrder
from orch_ibkr.settings import IbkrSettings

_STOCK_MARKETS = (Market.US_STOCKS, Market.EU_STOCKS, Market.GLOBAL_STOCKS)
_FX = re.compile(r"^([A-Z]{3})[/._-]?([A-Z]{3})$")
ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
               OrderType.STOP_LIMIT: "STP LMT", OrderType.TRAILING_STOP: "TRAIL"}
TIFS = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC"}
_ORDER_TYPE_KEYS = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop",
                    OrderType.STOP_LIMIT: "stop_limit", OrderType.TRAILING_STOP: "trailing_stop"}


def to_contract(instrument: Instrument, settings: IbkrSettings, *, broker: str = "ibkr") -> Contract:
    markets = settings.supported_markets
    symbol = instrument.symbol.strip().upper()
    con_id = 0
    raw_id = instrument.broker_ids.get(broker) or instrument.broker_ids.get("ibkr")
    if raw_id:
        if not str(raw_id).isdigit():
            raise UnknownInstrument(f"{instrument.symbol}: broker_ids.{broker} must be an IB conId, got {raw_id!r}",
                                    broker=broker)
        con_id = int(raw_id)
    market = instrument.market
    if market is Market.FOREX:
        if not markets.forex.enabled:
            raise NotSupported("market:forex", "forex is disabled (supported_markets.forex)", broker=broker)
        match = _FX.match(symbol)
        if not match:
            raise UnknownInstrument(f"{instrument.symbol}: not a currency pair such as EURUSD", broker=broker)
        return Contract(symbol=match[1], sec_type="CASH", exchange="IDEALPRO", currency=match[2], con_id=con_id)
    if market in _STOCK_MARKETS:
        if not markets.stocks.enabled:
            raise NotSupported("market:stocks", "stocks are disabled (supported_markets.stocks)", broker=broker)
        allowed = [e.upper() for e in markets.stocks.exchanges] or ["SMART"]
        exchange = (instrument.exchange or allowed[0]).upper()
        if exchange not in allowed:
            raise InvalidOrder(f"{instrument.symbol}: exchange {exchange} is not in "
                               f"brokers.{broker}.supported_markets.stocks.exchanges ({', '.join(allowed)})")
        return Contract(symbol=symbol, sec_type="STK", exchange=exchange, currency=instrument.currency.upper(),
                        con_id=con_id)
    parts = [p for p in re.split(r"[\s:]+", symbol) if p]
    if market is Market.FUTURES:
        if not markets.futures.enabled:
            raise NotSupported("market:futures", "futures are disabled (supported_markets.futures)", broker=broker)
        if len(parts) != 2 and not con_id:
            raise UnknownInstrument(f"{instrument.symbol}: write a future as 'ES 202612' (symbol and contract "
                                    "month)", broker=broker)
        return Contract(symbol=parts[0], sec_type="FUT", exchange=(instrument.exchange or "CME").upper(),
                        currency=instrument.currency.upper(), last_trade_date=parts[1] if len(parts) > 1 else "",
                        con_id=con_id)
    if market is Market.OPTIONS:
        if not markets.options.enabled:
            raise NotSupported("market:options", "options are disabled (supported_markets.options)", broker=broker)
        if len(parts) != 4 and not con_id:
            raise UnknownInstrument(f"{instrument.symbol}: write an option as 'AAPL 20261218 C 200'", broker=broker)
        try:
            strike = Decimal(parts[3]) if len(parts) > 3 else None
        except InvalidOperation:
            raise UnknownInstrument(f"{instrument.symbol}: bad strike {parts[3]!r}", broker=broker) from None
        return Contract(symbol=parts[0], sec_type="OPT", exchange=(instrument.exchange or "SMART").upper(),
                        currency=instrument.currency.upper(), last_trade_date=parts[1] if len(parts) > 1 else "",
                        right=parts[2][:1] if len(parts) > 2 else "", strike=strike, multiplier="100",
                        con_id=con_id)
    raise NotSupported(f"market:{market.value.lower()}", f"{market.value} is not traded through the TWS plugin",
                       broker=broker)


def to_instrument(contract: Contract, *, broker: str = "ibkr") -> Instrument:
    ids = {broker: str(contract.con_id)} if contract.con_id else {}
    if contract.sec_type == "CASH":
        return Instrument(f"{contract.symbol}{contract.currency}", Market.FOREX, currency=contract.currency,
                          broker_ids=ids)
    if contract.sec_type == "FUT":
        return Instrument(f"{contract.symbol} {contract.last_trade_date}".strip(), Market.FUTURES,
                          currency=contract.currency, exchange=contract.exchange or None, broker_ids=ids)
    if contract.sec_type == "OPT":
        strike = format(contract.strike.normalize(), "f") if contract.strike is not None else ""
        return Instrument(f"{contract.symbol} {contract.last_trade_date} {contract.right} {strike}", Market.OPTIONS,
                          currency=contract.currency, broker_ids=ids)
    market = Market.US_STOCKS if contract.currency in ("USD", "") else Market.GLOBAL_STOCKS
    return Instrument(contract.symbol, market, currency=contract.currency or "USD", broker_ids=ids)


def check_order(request: OrderRequest, settings: IbkrSettings, *, broker: str = "ibkr") -> None:
    """Refusals before any I/O: what TWS would certainly refuse, or what orch does not send to it."""
    if request.notional is not None:
        raise NotSupported("notional_orders", "TWS orders take a quantity, not an amount", broker=broker)
    if request.type not in ORDER_TYPES:
        raise NotSupported(f"order_type:{request.type.value}", broker=broker)
    if request.time_in_force not in TIFS:
        raise NotSupported(f"time_in_force:{request.time_in_force.value}", broker=broker)
    if request.order_class not in (OrderClass.SIMPLE, OrderClass.BRACKET):
        raise NotSupported(f"order_class:{request.order_class.value}", broker=broker)
    for name, flag in (("post_only", request.post_only), ("iceberg", request.iceberg_qty is not None)):
        if flag:
            raise NotSupported(name, broker=broker)
    toggle = settings.order_types.get(_ORDER_TYPE_KEYS[request.type])
    if toggle is not None and not toggle.enabled:
        raise NotSupported(f"order_type:{request.type.value}",
                           f"{request.type.value} orders are disabled (brokers.{broker}.order_types)", broker=broker)
    bracket = settings.order_types.get("bracket")
    if request.order_class is OrderClass.BRACKET and bracket is not None and not bracket.enabled:
        raise NotSupported("order_class:bracket", f"bracket orders are disabled (brokers.{broker}.order_types)",
                           broker=broker)
    qty = request.qty
    assert qty is not None
    if qty != qty.to_integral_value():
        raise InvalidOrder(f"{request.instrument.symbol}: TWS takes whole quantities, got {qty}")
    if qty > settings.max_order_qty:
        raise InvalidOrder(f"{request.instrument.symbol}: quantity {qty} is above brokers.{broker}.max_order_qty "
                           f"({settings.max_order_qty})")
    if request.order_class is OrderClass.BRACKET:
        tp, sl = request.take_profit, request.stop_loss
        assert tp is not None and sl is not None
        buy = request.side is Side.BUY
        if (tp.limit_price <= sl.stop_price) if buy else (tp.limit_price >= sl.stop_price):
            raise InvalidOrder(f"{request.instrument.symbol}: take-profit {tp.limit_price} and stop-loss "
                               f"{sl.stop_price} are on the wrong sides for a {request.side.value}")


def to_ib_order(request: OrderRequest, *, transmit: bool = True, account: str = "") -> IbOrder:
    """The IB order for a simple order (or a bracket's parent): orch's client order id as orderRef."""
    kind = ORDER_TYPES[request.type]
    aux = request.stop_price if request.type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
    percent = trail_stop = None
    if request.type is OrderType.TRAILING_STOP:
        aux, percent, trail_stop = request.trail_price, request.trail_percent, request.stop_price
    return IbOrder(action="BUY" if request.side is Side.BUY else "SELL", total_quantity=request.qty or Decimal(0),
                   order_type=kind, lmt_price=request.limit_price, aux_price=aux, trailing_percent=percent,
                   trail_stop_price=trail_stop, tif=TIFS[request.time_in_force],
                   order_ref=request.client_order_id or "", transmit=transmit, outside_rth=request.extended_hours,
                   account=account)
