"""The ``brokers.binance`` config section.

Every key of the broker guide's basic and advanced Binance blocks is accepted as written there; the shared
blocks (``rate_limits``, ``trading_settings``, ``order_types``, ``markets``) come from
:class:`orch.settings.BrokerSettings`. ``testnet`` (default true) is the paper flag: live only with
``testnet = false`` **and** ``--live``.

The guide's ``endpoints.websocket`` (``wss://testnet.binance.vision/ws``) is the testnet stream host Binance
retired in May 2025; it is still accepted, and resolved to today's host with a warning.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from attrs import field, frozen

from orch.errors import ConfigError, LiveTradingRefused
from orch.models import to_decimal
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

TESTNET_URL = "https://testnet.binance.vision"
LIVE_URL = "https://api.binance.com"
TESTNET_STREAM_URL = "wss://stream.testnet.binance.vision"
LIVE_STREAM_URL = "wss://stream.binance.com:9443"
TESTNET_WS_API_URL = "wss://ws-api.testnet.binance.vision/ws-api/v3"
LIVE_WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"

# Hosts that were Binance's once and are not any more: (retired prefix, replacement, since when).
RETIRED_STREAM_HOSTS = {"testnet.binance.vision": (TESTNET_STREAM_URL, "May 2025")}

_LIVE_HOSTS = frozenset({"api.binance.com", "api-gcp.binance.com", "api1.binance.com", "api2.binance.com",
                         "api3.binance.com", "api4.binance.com", "stream.binance.com", "ws-api.binance.com"})
_TESTNET_HOSTS = frozenset({"testnet.binance.vision", "api1.testnet.binance.vision",
                            "stream.testnet.binance.vision", "ws-api.testnet.binance.vision"})


_secret = as_secret


@frozen(kw_only=True)
class EndpointSettings:
    """``base_url``: REST host; ``websocket``: market streams (``…/ws`` or the bare host); ``ws_api``: the
    WebSocket API (user data stream)."""

    base_url: str | None = None
    websocket: str | None = None
    ws_api: str | None = None


@frozen(kw_only=True)
class SpotTrading:
    enabled: bool = True
    base_assets: tuple[str, ...] = ()
    quote_assets: tuple[str, ...] = ()


@frozen(kw_only=True)
class FuturesTrading:
    """Accepted so a config mentioning futures loads; orch refuses futures orders (NotSupported)."""

    enabled: bool = False


@frozen(kw_only=True)
class SymbolSettings:
    spot_trading: SpotTrading = field(factory=SpotTrading)
    futures_trading: FuturesTrading = field(factory=FuturesTrading)
    usdt_futures: FuturesTrading = field(factory=FuturesTrading)
    coin_futures: FuturesTrading = field(factory=FuturesTrading)


@frozen(kw_only=True)
class Streaming:
    enabled: bool = True
    symbols: tuple[str, ...] = ()
    intervals: tuple[str, ...] = ("1m",)


@frozen(kw_only=True)
class MarketDataSettings:
    streaming: Streaming = field(factory=Streaming)


@frozen(kw_only=True)
class BinanceSettings(BrokerSettings):
    api_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    secret_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    testnet: bool = True
    base_url: str | None = None
    endpoints: EndpointSettings = field(factory=EndpointSettings)
    symbols: SymbolSettings = field(factory=SymbolSettings)
    market_data: MarketDataSettings = field(factory=MarketDataSettings)
    # Milliseconds a signed request stays valid (Binance: default 5000, at most 60000).
    recv_window: int = 5000
    # Minutes the cached exchangeInfo (filters) is trusted before it is fetched again.
    exchange_info_ttl_minutes: Decimal = field(default=Decimal(60), converter=to_decimal)
    stream_silence_seconds: Decimal = field(default=Decimal(30), converter=to_decimal)


@frozen
class Endpoints:
    rest: str
    stream: str
    ws_api: str
    testnet: bool
    notices: tuple[str, ...] = ()


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def _stream_root(url: str) -> str:
    """``wss://host/ws`` and ``wss://host/stream`` name the same server as ``wss://host``."""
    trimmed = url.rstrip("/")
    for suffix in ("/ws", "/stream"):
        if trimmed.endswith(suffix):
            return trimmed[: -len(suffix)]
    return trimmed


def resolve_endpoints(settings: BinanceSettings, *, live: bool, broker: str = "binance") -> Endpoints:
    """The URLs of one connection. Refuses, before any socket opens, a testnet config pointing at a live
    host (or the reverse) and ``testnet = false`` without ``--live``."""
    section = f"brokers.{broker}"
    rest = settings.endpoints.base_url or settings.base_url
    if settings.recv_window <= 0 or settings.recv_window > 60000:
        raise ConfigError(f"must be between 1 and 60000 ms, got {settings.recv_window}",
                          path=f"{section}.recv_window")
    urls = {"base_url": rest, "endpoints.websocket": settings.endpoints.websocket,
            "endpoints.ws_api": settings.endpoints.ws_api}
    if settings.testnet:
        for key, url in urls.items():
            host = _host(url)
            if host is not None and (host in _LIVE_HOSTS or host.endswith(".binance.com")):
                raise ConfigError(f"is Binance's live host {host} but testnet is true", path=f"{section}.{key}",
                                  hint=f"use {TESTNET_URL}, or set testnet = false and pass --live")
    else:
        if not live:
            raise LiveTradingRefused(f"{section}.testnet is false: live trading needs --live",
                                     hint="set testnet = true to trade on the Binance testnet")
        for key, url in urls.items():
            host = _host(url)
            if host in _TESTNET_HOSTS:
                raise ConfigError(f"is the Binance testnet host {host} but testnet is false",
                                  path=f"{section}.{key}", hint=f"use {LIVE_URL} or set testnet = true")
    notices: list[str] = []
    stream = settings.endpoints.websocket
    if stream:
        retired = RETIRED_STREAM_HOSTS.get(_host(stream) or "")
        if retired is not None:
            notices.append(f"{section}.endpoints.websocket {stream} is outdated (Binance retired it in "
                           f"{retired[1]}); using {retired[0]}")
            stream = retired[0]
        stream = _stream_root(stream)
    else:
        stream = TESTNET_STREAM_URL if settings.testnet else LIVE_STREAM_URL
    ws_api = settings.endpoints.ws_api or (TESTNET_WS_API_URL if settings.testnet else LIVE_WS_API_URL)
    default_rest = TESTNET_URL if settings.testnet else LIVE_URL
    return Endpoints(rest=(rest or default_rest).rstrip("/"), stream=stream, ws_api=ws_api,
                     testnet=settings.testnet, notices=tuple(notices))
