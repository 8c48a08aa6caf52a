"""Domain models shared by the core and every plugin.

All classes are frozen attrs classes. Every price, quantity and amount is a :class:`~decimal.Decimal`
(never a float); every datetime is timezone-aware. :data:`converter` (un)structures all of them to plain
JSON/TOML-ready data and back (see :func:`to_json` / :func:`from_json`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from attrs import field, frozen

from orch.errors import InvalidOrder

# ---------------------------------------------------------------------------------------------- enums


class Market(str, enum.Enum):
    US_STOCKS = "US_STOCKS"
    EU_STOCKS = "EU_STOCKS"
    GLOBAL_STOCKS = "GLOBAL_STOCKS"
    CRYPTO = "CRYPTO"
    FOREX = "FOREX"
    CFD = "CFD"
    OPTIONS = "OPTIONS"
    FUTURES = "FUTURES"


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(str, enum.Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(str, enum.Enum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class OrderClass(str, enum.Enum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


class OrderStatus(str, enum.Enum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_final


_FINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED,
                             OrderStatus.EXPIRED})

# ---------------------------------------------------------------------------------------------- helpers


def to_decimal(value: Any) -> Decimal:
    """Exact conversion for values arriving from the wire or the user. Floats are refused: a float has
    already lost the exact value, so accepting one would hide a bug upstream."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("expected a decimal number, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a decimal number, got {value!r}") from None
    elif isinstance(value, float):
        raise TypeError("expected a decimal number, got a float (parse JSON with parse_float=Decimal)")
    else:
        raise TypeError(f"expected a decimal number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _aware(instance: Any, attribute: attrs.Attribute, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attribute.name} must be timezone-aware, got {value!r}")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------- models


@frozen
class Instrument:
    """What to trade. ``broker_ids`` holds each broker's own identifier (a Binance symbol, an IBKR conId,
    a Trading 212 ticker, an ISIN…) under keys the plugins choose."""

    symbol: str
    market: Market
    currency: str = "USD"
    exchange: str | None = None
    broker_ids: Mapping[str, str] = field(factory=dict, hash=False)

    def __str__(self) -> str:
        return self.symbol


@frozen
class TakeProfit:
    limit_price: Decimal = field(converter=to_decimal)


@frozen
class StopLoss:
    stop_price: Decimal = field(converter=to_decimal)
    limit_price: Decimal | None = field(default=None, converter=_optional_decimal)


_MAX_ORDER_DIGITS = 18


def _check_order_request(request: OrderRequest) -> None:
    problems = []
    if (request.qty is None) == (request.notional is None):
        problems.append("give exactly one of qty and notional")
    values = {name: getattr(request, name) for name in ("qty", "notional", "limit_price", "stop_price",
                                                         "trail_price", "trail_percent", "iceberg_qty")}
    if request.take_profit is not None:
        values["take_profit.limit_price"] = request.take_profit.limit_price
    if request.stop_loss is not None:
        values["stop_loss.stop_price"] = request.stop_loss.stop_price
        values["stop_loss.limit_price"] = request.stop_loss.limit_price
    for name, value in values.items():
        if value is not None and value <= 0 and "." not in name:
            problems.append(f"{name} must be positive, got {value}")
        elif value is not None and value.adjusted() >= _MAX_ORDER_DIGITS:
            # No market trades this much; and 1E+999999 would overflow the risk arithmetic (qty * price).
            problems.append(f"{name} is out of range, got {value:.3E}")
    kind = request.type
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and request.limit_price is None:
        problems.append(f"a {kind.value} order needs limit_price")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and request.stop_price is None:
        problems.append(f"a {kind.value} order needs stop_price")
    if kind is OrderType.TRAILING_STOP and (request.trail_price is None) == (request.trail_percent is None):
        problems.append("a trailing_stop order needs exactly one of trail_price and trail_percent")
    if kind is OrderType.MARKET and request.limit_price is not None:
        problems.append("a market order takes no limit_price")
    if request.post_only and kind is not OrderType.LIMIT:
        problems.append("post_only applies to limit orders only")
    cls = request.order_class
    if cls is OrderClass.BRACKET and (request.take_profit is None or request.stop_loss is None):
        problems.append("a bracket order needs take_profit and stop_loss")
    if cls is OrderClass.OCO and (request.take_profit is None or request.stop_loss is None):
        problems.append("an oco order needs take_profit and stop_loss")
    if cls is OrderClass.OTO and (request.take_profit is None) == (request.stop_loss is None):
        problems.append("an oto order needs exactly one of take_profit and stop_loss")
    if cls is OrderClass.SIMPLE and (request.take_profit or request.stop_loss):
        problems.append("take_profit/stop_loss need order_class bracket, oco or oto")
    if request.client_order_id is not None and not request.client_order_id.strip():
        problems.append("client_order_id must not be blank")
    if problems:
        raise InvalidOrder(f"invalid order for {request.instrument.symbol}: " + "; ".join(problems))


@frozen
class OrderRequest:
    """An order as the user means it, before any broker sees it. Construction validates the combination
    of fields and raises :class:`~orch.errors.InvalidOrder` with every problem in one line."""

    instrument: Instrument
    side: Side
    qty: Decimal | None = field(default=None, converter=_optional_decimal)
    notional: Decimal | None = field(default=None, converter=_optional_decimal)
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = field(default=None, converter=_optional_decimal)
    stop_price: Decimal | None = field(default=None, converter=_optional_decimal)
    trail_price: Decimal | None = field(default=None, converter=_optional_decimal)
    trail_percent: Decimal | None = field(default=None, converter=_optional_decimal)
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    client_order_id: str | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    post_only: bool = False
    iceberg_qty: Decimal | None = field(default=None, converter=_optional_decimal)

    def __attrs_post_init__(self) -> None:
        _check_order_request(self)

    def with_client_order_id(self, client_order_id: str) -> OrderRequest:
        return attrs.evolve(self, client_order_id=client_order_id)


@frozen
class OrderRef:
    """How to name an existing order: by the broker's id, by orch's client order id, or both. Some
    brokers (Binance) also need the instrument to look an order up."""

    broker_order_id: str | None = None
    client_order_id: str | None = None
    instrument: Instrument | None = None

    def __attrs_post_init__(self) -> None:
        if self.broker_order_id is None and self.client_order_id is None:
            raise InvalidOrder("an order reference needs broker_order_id or client_order_id")


@frozen
class OrderFilter:
    """Which orders ``orch_list_orders`` returns. ``status`` is ``open``, ``closed`` or ``all``."""

    status: str = field(default="open", validator=attrs.validators.in_(("open", "closed", "all")))
    instrument: Instrument | None = None
    since: datetime | None = field(default=None, validator=_aware)
    limit: int = 100


@frozen
class Order:
    """An order as a broker knows it. ``status`` is orch's normalized status; ``raw_status`` the broker's
    own word for it."""

    broker: str
    broker_order_id: str
    instrument: Instrument
    side: Side
    type: OrderType
    status: OrderStatus
    raw_status: str
    client_order_id: str | None = None
    qty: Decimal | None = field(default=None, converter=_optional_decimal)
    notional: Decimal | None = field(default=None, converter=_optional_decimal)
    filled_qty: Decimal = field(default=Decimal(0), converter=to_decimal)
    avg_fill_price: Decimal | None = field(default=None, converter=_optional_decimal)
    limit_price: Decimal | None = field(default=None, converter=_optional_decimal)
    stop_price: Decimal | None = field(default=None, converter=_optional_decimal)
    time_in_force: TimeInForce | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    created_at: datetime | None = field(default=None, validator=_aware)
    updated_at: datetime | None = field(default=None, validator=_aware)
    reject_reason: str | None = None
    legs: tuple[Order, ...] = ()


@frozen
class Fill:
    broker: str
    broker_order_id: str
    fill_id: str
    instrument: Instrument
    side: Side
    qty: Decimal = field(converter=to_decimal)
    price: Decimal = field(converter=to_decimal)
    timestamp: datetime = field(validator=_aware)
    client_order_id: str | None = None
    fee: Decimal = field(default=Decimal(0), converter=to_decimal)
    fee_currency: str | None = None


@frozen
class Quote:
    broker: str
    instrument: Instrument
    timestamp: datetime = field(validator=_aware)
    bid: Decimal | None = field(default=None, converter=_optional_decimal)
    ask: Decimal | None = field(default=None, converter=_optional_decimal)
    bid_size: Decimal | None = field(default=None, converter=_optional_decimal)
    ask_size: Decimal | None = field(default=None, converter=_optional_decimal)
    last: Decimal | None = field(default=None, converter=_optional_decimal)
    delayed: bool = False

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return self.last
        return (self.bid + self.ask) / 2


@frozen
class Balance:
    """One currency or asset of an account (a crypto exchange reports many)."""

    asset: str
    free: Decimal = field(converter=to_decimal)
    locked: Decimal = field(default=Decimal(0), converter=to_decimal)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@frozen
class Account:
    broker: str
    account_id: str
    currency: str
    cash: Decimal = field(converter=to_decimal)
    equity: Decimal = field(converter=to_decimal)
    buying_power: Decimal = field(converter=to_decimal)
    status: str = "ACTIVE"
    paper: bool = True
    balances: tuple[Balance, ...] = ()
    raw: Mapping[str, str] = field(factory=dict, hash=False)


@frozen
class Position:
    broker: str
    instrument: Instrument
    qty: Decimal = field(converter=to_decimal)
    avg_price: Decimal | None = field(default=None, converter=_optional_decimal)
    market_value: Decimal | None = field(default=None, converter=_optional_decimal)
    unrealized_pl: Decimal | None = field(default=None, converter=_optional_decimal)
    currency: str = "USD"


@frozen
class Capabilities:
    """What a plugin implements. The core checks these against the hooks a plugin provides and refuses a
    request that needs a capability the plugin lacks (:class:`~orch.errors.NotSupported`) before any I/O."""

    order_types: frozenset[OrderType] = frozenset({OrderType.MARKET, OrderType.LIMIT})
    time_in_force: frozenset[TimeInForce] = frozenset({TimeInForce.DAY, TimeInForce.GTC})
    order_classes: frozenset[OrderClass] = frozenset({OrderClass.SIMPLE})
    native_client_order_id: bool = True
    notional_orders: bool = False
    fractional: bool = False
    short_selling: bool = False
    extended_hours: bool = False
    post_only: bool = False
    iceberg: bool = False
    replace_order: bool = False
    stream_quotes: bool = False
    stream_orders: bool = False
    list_fills: bool = False
    quotes: bool = True
    notes: tuple[str, ...] = ()


@frozen
class RateLimitDefaults:
    """The broker's published limits, used when config says nothing."""

    requests_per_minute: int
    burst: int | None = None
    orders_per_second: int | None = None
    weight_per_minute: int | None = None


@frozen
class BrokerInfo:
    """What ``orch_broker_info`` returns: the plugin's registration record.

    ``settings_type`` is the plugin's attrs Settings class (a subclass of
    :class:`orch.settings.BrokerSettings`); config sections are validated by it. ``endpoints`` maps a mode
    (``paper``/``testnet``/``practice``/``demo`` and ``live``) to its default URL. ``paper_flag`` names the
    boolean setting that selects the non-live mode (``paper``, ``testnet``, ``practice`` or ``demo``).
    """

    name: str
    title: str
    official: bool
    markets: frozenset[Market]
    capabilities: Capabilities
    settings_type: type
    rate_limits: RateLimitDefaults
    endpoints: Mapping[str, str] = field(factory=dict, hash=False)
    paper_flag: str = "paper"
    risk_notice: str | None = None
    service_notice: str | None = None
    secret_env: Mapping[str, str] = field(factory=dict, hash=False)


# ---------------------------------------------------------------------------------------------- converter


def _make_converter():
    import importlib

    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=True, prefer_attrib_converters=True)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _: to_decimal(v))
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())

    def _structure_datetime(value: Any, _: type) -> datetime:
        result = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if result.tzinfo is None:
            raise ValueError(f"datetime must be timezone-aware, got {value!r}")
        return result

    conv.register_structure_hook(datetime, _structure_datetime)

    def _unstructure_type(cls: type) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def _structure_type(value: Any, _: type) -> type:
        if isinstance(value, type):
            return value
        module, _, qualname = str(value).partition(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj

    conv.register_unstructure_hook(type, _unstructure_type)
    conv.register_structure_hook(type, _structure_type)
    # Sets unstructure to sorted lists so JSON/TOML output is stable.
    conv.register_unstructure_hook_func(
        lambda t: getattr(t, "__origin__", None) is frozenset,
        lambda s: sorted(conv.unstructure(x) for x in s),
    )
    return conv


converter = _make_converter()


def to_data(obj: Any) -> Any:
    """Unstructure a model (or a list of them) to JSON/TOML-ready data."""
    return converter.unstructure(obj)


def from_data(data: Any, cls: Any) -> Any:
    return converter.structure(data, cls)


def drop_none(data: Any) -> Any:
    """TOML has no null: remove None values (recursively) before writing."""
    if isinstance(data, dict):
        return {k: drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [drop_none(v) for v in data]
    return data


def to_toml(obj: Any) -> str:
    """TOML has no null: absent keys stand for None and structure back to the fields' None defaults."""
    import tomli_w

    data = drop_none(to_data(obj))
    if not isinstance(data, dict):
        data = {"items": data}
    return tomli_w.dumps(data)


def from_toml(text: str, cls: Any) -> Any:
    import tomllib

    return from_data(tomllib.loads(text, parse_float=Decimal), cls)


def to_json(obj: Any, **kwargs: Any) -> str:
    return json.dumps(to_data(obj), **kwargs)


def from_json(text: str | bytes, cls: Any) -> Any:
    """Parse JSON with exact decimals (``parse_float=Decimal``) and structure it into ``cls``."""
    return from_data(json.loads(text, parse_float=Decimal), cls)
