"""Stand-ins for the broker plugins in config tests: a Settings class per broker of the guide, shaped by
the guide's JSON, and a registry with the :mod:`orch.plugins` API. A broker whose real plugin is installed
is served by the real plugin instead, so the guide's configs are also checked against its Settings.

Loaded by the test modules with :func:`load` (pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import types
from decimal import Decimal

from attrs import field, frozen

from orch.secret import Secret
from orch.settings import BrokerSettings


def _unset() -> Secret:
    return Secret(None)


# ----------------------------------------------------------------------------- alpaca


@frozen(kw_only=True)
class Subscription:
    stocks: bool = True
    crypto: bool = True
    forex: bool = False


@frozen(kw_only=True)
class AlpacaMarketData:
    real_time_streaming: bool = True
    subscription: Subscription = field(factory=Subscription)
    data_feed: str = "iex"


@frozen(kw_only=True)
class AlpacaSettings(BrokerSettings):
    api_key: Secret = field(factory=_unset)
    secret_key: Secret = field(factory=_unset)
    paper: bool = True
    base_url: str | None = None
    market_data: AlpacaMarketData = field(factory=AlpacaMarketData)


# ----------------------------------------------------------------------------- binance


@frozen(kw_only=True)
class BinanceEndpoints:
    base_url: str | None = None
    websocket: str | None = None


@frozen(kw_only=True)
class SpotTrading:
    enabled: bool = True
    base_assets: tuple[str, ...] = ()
    quote_assets: tuple[str, ...] = ()


@frozen(kw_only=True)
class BinanceStreaming:
    enabled: bool = False
    symbols: tuple[str, ...] = ()
    intervals: tuple[str, ...] = ()


@frozen(kw_only=True)
class BinanceMarketData:
    streaming: BinanceStreaming = field(factory=BinanceStreaming)


@frozen(kw_only=True)
class BinanceSettings(BrokerSettings):
    api_key: Secret = field(factory=_unset)
    secret_key: Secret = field(factory=_unset)
    testnet: bool = True
    base_url: str | None = None
    endpoints: BinanceEndpoints = field(factory=BinanceEndpoints)
    symbols: dict[str, SpotTrading] = field(factory=dict)
    market_data: BinanceMarketData = field(factory=BinanceMarketData)


# ----------------------------------------------------------------------------- ibkr


@frozen(kw_only=True)
class IbkrConnection:
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    timeout: Decimal | None = None
    retry_attempts: int | None = None


@frozen(kw_only=True)
class IbkrOrderSettings:
    default_order_type: str | None = None
    default_time_in_force: str | None = None
    default_lmqty: Decimal | None = None
    transmit: bool = True


@frozen(kw_only=True)
class IbkrMarket:
    enabled: bool = True
    exchanges: tuple[str, ...] = ()


@frozen(kw_only=True)
class IbkrSettings(BrokerSettings):
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    paper: bool = True
    account_id: str = ""
    base_currency: str = "USD"
    connection: IbkrConnection | None = None
    order_settings: IbkrOrderSettings = field(factory=IbkrOrderSettings)
    supported_markets: dict[str, IbkrMarket] = field(factory=dict)


# ----------------------------------------------------------------------------- others


@frozen(kw_only=True)
class Trading212Settings(BrokerSettings):
    api_key: Secret = field(factory=_unset)
    practice: bool = True
    base_url: str | None = None
    rate_limit: int | None = None


@frozen(kw_only=True)
class XtbSettings(BrokerSettings):
    api_key: Secret = field(factory=_unset)
    secret_key: Secret = field(factory=_unset)
    demo: bool = True
    server: str = "demo"
    max_instruments: int | None = None


@frozen(kw_only=True)
class DegiroSettings(BrokerSettings):
    username: str | None = None
    password: Secret = field(factory=_unset)
    mfa: bool = False
    session: Secret | None = None
    use_proxy: bool = False
    proxy_url: str = ""


@frozen(kw_only=True)
class TradeRepublicSettings(BrokerSettings):
    username: str | None = None
    password: Secret = field(factory=_unset)
    pin: Secret = field(factory=_unset)
    device_id: str | None = None
    secure_session: bool = True


# name -> (Settings class, unofficial)
GUIDE_BROKERS: dict[str, tuple[type, bool]] = {
    "alpaca": (AlpacaSettings, False),
    "binance": (BinanceSettings, False),
    "ibkr": (IbkrSettings, False),
    "trading212": (Trading212Settings, False),
    "xtb": (XtbSettings, False),
    "degiro": (DegiroSettings, True),
    "trade_republic": (TradeRepublicSettings, True),
}


class FakeRegistry:
    """The :mod:`orch.plugins` API over :data:`GUIDE_BROKERS`; with ``use_real`` a broker whose real plugin
    is installed is delegated to :mod:`orch.plugins`. ``loaded`` records every plugin "imported"."""

    def __init__(self, brokers: dict[str, tuple[type, bool]] | None = None, *, use_real: bool = True):
        self.fakes = dict(GUIDE_BROKERS if brokers is None else brokers)
        self.loaded: list[str] = []
        self.real = None
        self.real_names: set[str] = set()
        if use_real:
            try:
                from orch import plugins
            except ImportError:
                plugins = None
            if plugins is not None:
                self.real = plugins
                self.real_names = set(plugins.installed_broker_names())

    def installed_broker_names(self) -> list[str]:
        return sorted(set(self.fakes) | self.real_names)

    def is_unofficial(self, name: str) -> bool:
        if name in self.real_names:
            return self.real.is_unofficial(name)
        return self.fakes[name][1]

    def load_plugin(self, name: str):
        self.loaded.append(name)
        if name in self.real_names:
            return self.real.load_plugin(name)
        settings_type, unofficial = self.fakes[name]
        info = types.SimpleNamespace(name=name, settings_type=settings_type, official=not unofficial,
                                     secret_env={})
        return types.SimpleNamespace(name=name, info=info)

    def settings_type(self, name: str) -> type:
        return self.load_plugin(name).info.settings_type
