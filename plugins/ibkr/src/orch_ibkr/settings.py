"""The ``brokers.ibkr`` config section.

Both of the broker guide's blocks are accepted as written there: the basic one (``host``, ``port``,
``client_id``, ``paper``, ``account_id``, ``base_currency``) and the advanced one (``connection``,
``order_settings``, ``supported_markets``, ``order_types``). A value in ``connection`` wins over the
top-level key of the same name. There are no secrets: TWS / IB Gateway does the logging in.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
from attrs import field, frozen

from orch.errors import ConfigError, LiveTradingRefused
from orch.models import to_decimal
from orch.settings import BrokerSettings

PAPER_PORT = 7497          # TWS paper
LIVE_PORT = 7496           # TWS live
GATEWAY_PAPER_PORT = 4002
GATEWAY_LIVE_PORT = 4001
DEFAULT_HOST = "127.0.0.1"

_DATA_TYPES = {"live": 1, "realtime": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4, "delayed-frozen": 4}


def _data_type(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("market_data_type must be 1-4 or live/frozen/delayed/delayed_frozen")
    if isinstance(value, int) and 1 <= value <= 4:
        return value
    if isinstance(value, str) and value.strip().lower() in _DATA_TYPES:
        return _DATA_TYPES[value.strip().lower()]
    if isinstance(value, str) and value.strip() in ("1", "2", "3", "4"):
        return int(value)
    raise ValueError(f"market_data_type must be 1-4 or live/frozen/delayed/delayed_frozen, got {value!r}")


@frozen(kw_only=True)
class ConnectionSettings:
    host: str | None = None
    port: int | None = None
    client_id: int | None = None
    timeout: Decimal | None = field(default=None, converter=attrs.converters.optional(to_decimal))
    retry_attempts: int | None = None


@frozen(kw_only=True)
class OrderSettings:
    default_order_type: str | None = None
    default_time_in_force: str | None = None
    default_lmqty: Decimal | None = field(default=None, converter=attrs.converters.optional(to_decimal))
    transmit: bool = True


@frozen(kw_only=True)
class StockMarket:
    enabled: bool = True
    exchanges: tuple[str, ...] = ("SMART",)


@frozen(kw_only=True)
class MarketToggle:
    enabled: bool = True


@frozen(kw_only=True)
class SupportedMarkets:
    stocks: StockMarket = field(factory=StockMarket)
    options: MarketToggle = field(factory=MarketToggle)
    futures: MarketToggle = field(factory=MarketToggle)
    forex: MarketToggle = field(factory=MarketToggle)


@frozen(kw_only=True)
class IbkrSettings(BrokerSettings):
    """``paper`` (default true) selects the paper port; live ports need ``paper = false`` and ``--live``."""

    host: str | None = None
    port: int | None = None
    client_id: int | None = None
    paper: bool = True
    account_id: str = ""
    base_currency: str = "USD"
    connection: ConnectionSettings = field(factory=ConnectionSettings)
    order_settings: OrderSettings = field(factory=OrderSettings)
    supported_markets: SupportedMarkets = field(factory=SupportedMarkets)
    # 1 live, 2 frozen, 3 delayed, 4 delayed-frozen (reqMarketDataType)
    market_data_type: int = field(default=1, converter=_data_type)
    # A safety cap: a bigger quantity is refused before anything is sent.
    max_order_qty: Decimal = field(default=Decimal(1_000_000), converter=to_decimal)
    reconnect_initial_delay: Decimal = field(default=Decimal("0.5"), converter=to_decimal)
    reconnect_max_delay: Decimal = field(default=Decimal(30), converter=to_decimal)


@frozen
class Endpoint:
    host: str
    port: int
    client_id: int
    paper: bool
    timeout: float
    retry_attempts: int


def resolve_endpoint(settings: IbkrSettings, *, live: bool, broker: str = "ibkr") -> Endpoint:
    """Where to connect. Refuses before any socket opens when paper and live are mixed: ``paper = false``
    without the live permission, or a well-known port of the other mode."""
    section = f"brokers.{broker}"
    conn = settings.connection
    host = conn.host or settings.host or DEFAULT_HOST
    port_path = f"{section}.connection.port" if conn.port is not None else f"{section}.port"
    port = conn.port if conn.port is not None else settings.port
    client_id = conn.client_id if conn.client_id is not None else settings.client_id
    if settings.paper:
        port = PAPER_PORT if port is None else port
        if port in (LIVE_PORT, GATEWAY_LIVE_PORT):
            raise ConfigError(f"port {port} is a live trading port but paper is true", path=port_path,
                              hint=f"use {PAPER_PORT} (TWS paper) or {GATEWAY_PAPER_PORT} (Gateway paper), or set "
                                   "paper = false and pass --live")
    else:
        if not live:
            raise LiveTradingRefused(f"{section}.paper is false: live trading needs --live",
                                     hint="set paper = true to trade on the paper account")
        port = LIVE_PORT if port is None else port
        if port in (PAPER_PORT, GATEWAY_PAPER_PORT):
            raise ConfigError(f"port {port} is a paper trading port but paper is false", path=port_path,
                              hint=f"use {LIVE_PORT} (TWS) or {GATEWAY_LIVE_PORT} (Gateway), or set paper = true")
    if not 0 < port < 65536:
        raise ConfigError(f"must be a TCP port, got {port}", path=port_path)
    timeout = float(conn.timeout) if conn.timeout is not None else float(settings.timeout_seconds)
    if timeout <= 0:
        raise ConfigError(f"must be positive, got {timeout}", path=f"{section}.connection.timeout")
    attempts = conn.retry_attempts if conn.retry_attempts is not None else 3
    return Endpoint(host=host, port=port, client_id=1 if client_id is None else client_id, paper=settings.paper,
                    timeout=timeout, retry_attempts=max(1, attempts))
