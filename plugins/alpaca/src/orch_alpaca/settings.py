"""The ``brokers.alpaca`` config section.

Every key of the broker guide's basic and advanced Alpaca blocks is accepted as written there; the shared
blocks (``rate_limits``, ``trading_settings``, ``order_types``, ``features``, ``markets``) come from
:class:`orch.settings.BrokerSettings`. The URL keys beyond the guide exist so simulators and tests can
point every channel (REST, market data, streams) at loopback.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen

from orch.errors import ConfigError, LiveTradingRefused
from orch.models import to_decimal
from orch.secret import Secret, as_secret
from orch.settings import BrokerSettings

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"

DATA_FEEDS = ("iex", "sip", "delayed_sip", "boats", "overnight", "otc")

_PAPER_HOST = urlsplit(PAPER_URL).hostname
_LIVE_HOST = urlsplit(LIVE_URL).hostname


_secret = as_secret


@frozen(kw_only=True)
class Subscription:
    """Which Alpaca market-data subscriptions the account has (the guide's ``market_data.subscription``).
    ``forex`` is accepted for the guide's sake; Alpaca does not trade forex, so it changes nothing."""

    stocks: bool = True
    crypto: bool = True
    forex: bool = False


@frozen(kw_only=True)
class MarketDataSettings:
    real_time_streaming: bool = True
    subscription: Subscription = field(factory=Subscription)
    data_feed: str = field(default="iex", validator=attrs.validators.in_(DATA_FEEDS))
    # The market-data API's own limit (Alpaca's Basic plan: 200 a minute; Algo Trader Plus: 10,000),
    # budgeted apart from the trading API's rate_limits.
    requests_per_minute: int = field(default=200, validator=[attrs.validators.instance_of(int),
                                                             attrs.validators.gt(0)])


@frozen(kw_only=True)
class AlpacaSettings(BrokerSettings):
    """``paper`` selects paper trading (the default). ``base_url`` overrides the trading REST host; it is
    checked against ``paper`` so a paper config can never reach the live host or the reverse."""

    api_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    secret_key: Secret = field(factory=lambda: Secret(None), converter=_secret)
    paper: bool = True
    base_url: str | None = None
    market_data: MarketDataSettings = field(factory=MarketDataSettings)
    data_url: str = DATA_URL
    data_stream_url: str = DATA_STREAM_URL
    stream_url: str | None = None
    # A stream that says nothing for this long is probed with a ping; no answer means reconnect.
    stream_silence_seconds: Decimal = field(default=Decimal(30), converter=to_decimal)


@frozen
class Endpoints:
    """The URLs one connection uses, resolved once from settings and the live permission."""

    trading: str
    data: str
    trade_stream: str
    stock_stream: str
    crypto_stream: str
    paper: bool


def _ws_url(http_url: str) -> str:
    parts = urlsplit(http_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return parts._replace(scheme=scheme).geturl()


def resolve_endpoints(settings: AlpacaSettings, *, live: bool, broker: str = "alpaca") -> Endpoints:
    """Pick the URLs for this connection. Raises before any socket opens when paper and live are mixed:
    ``paper = false`` without the live permission, or a ``base_url`` on the other mode's Alpaca host."""
    section = f"brokers.{broker}"
    host = urlsplit(settings.base_url).hostname if settings.base_url else None
    if settings.paper:
        if host == _LIVE_HOST:
            raise ConfigError("base_url is Alpaca's live endpoint but paper is true",
                              path=f"{section}.base_url",
                              hint=f"use {PAPER_URL}, or set paper = false and pass --live")
        trading = settings.base_url or PAPER_URL
    else:
        if not live:
            raise LiveTradingRefused(f"{section}.paper is false: live trading needs --live",
                                     hint="set paper = true to trade on the paper account")
        if host == _PAPER_HOST:
            raise ConfigError("base_url is Alpaca's paper endpoint but paper is false",
                              path=f"{section}.base_url", hint=f"use {LIVE_URL} or set paper = true")
        trading = settings.base_url or LIVE_URL
    trading = trading.rstrip("/")
    stream_root = settings.data_stream_url.rstrip("/")
    return Endpoints(
        trading=trading,
        data=settings.data_url.rstrip("/"),
        trade_stream=settings.stream_url or _ws_url(trading) + "/stream",
        stock_stream=f"{stream_root}/v2/{settings.market_data.data_feed}",
        crypto_stream=f"{stream_root}/v1beta3/crypto/us",
        paper=settings.paper,
    )
