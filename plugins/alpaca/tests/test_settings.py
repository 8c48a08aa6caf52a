"""The brokers.alpaca section: every key of the guide's blocks, secrets, and paper/live endpoints."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from orch.config import config_from_data
from orch.errors import ConfigError, LiveTradingRefused
from orch.models import Market
from orch_alpaca.settings import AlpacaSettings, resolve_endpoints

BASIC = """{"brokers": {"alpaca": {
  "enabled": true,
  "api_key": "PKCANARYKEY0123456789",
  "secret_key": "canary-secret-3f9a1c7e5b2d",
  "paper": true,
  "base_url": "https://paper-api.alpaca.markets"
}}}"""

ADVANCED = """{"brokers": {"alpaca": {
  "enabled": true,
  "api_key": "PKCANARYKEY0123456789",
  "secret_key": "canary-secret-3f9a1c7e5b2d",
  "paper": true,
  "base_url": "https://paper-api.alpaca.markets",
  "rate_limits": {"requests_per_minute": 200, "burst_limit": 50, "cool_down_seconds": 1},
  "trading_settings": {"default_order_type": "market", "default_time_in_force": "day",
                       "fractional_shares": true, "min_order_size": 1.0, "max_order_size": 1000000.0},
  "market_data": {"real_time_streaming": true,
                  "subscription": {"stocks": true, "crypto": true, "forex": false},
                  "data_feed": "iex"},
  "order_types": {"market": {"enabled": true}, "limit": {"enabled": true},
                  "stop": {"enabled": true}, "stop_limit": {"enabled": true}},
  "features": {"short_selling": true, "margin_trading": false, "after_hours_trading": false,
               "pre_market_trading": false}
}}}"""


def load(text: str, env: dict | None = None) -> AlpacaSettings:
    config = config_from_data(json.loads(text, parse_float=Decimal), env=env or {})
    return config.brokers["alpaca"]


def test_basic_block(key, secret):
    settings = load(BASIC)
    assert isinstance(settings, AlpacaSettings)
    assert settings.enabled and settings.paper and settings.base_url == "https://paper-api.alpaca.markets"
    assert (settings.api_key.reveal(), settings.secret_key.reveal()) == (key, secret)
    assert key not in repr(settings) and secret not in repr(settings)


def test_advanced_block():
    settings = load(ADVANCED)
    assert settings.rate_limits.requests_per_minute == 200 and settings.rate_limits.burst_limit == 50
    assert settings.rate_limits.cool_down_seconds == Decimal(1)
    trading = settings.trading_settings
    assert (trading.default_order_type, trading.default_time_in_force, trading.fractional_shares) == (
        "market", "day", True)
    assert (trading.min_order_size, trading.max_order_size) == (Decimal("1.0"), Decimal("1000000.0"))
    market_data = settings.market_data
    assert market_data.real_time_streaming and market_data.data_feed == "iex"
    assert (market_data.subscription.stocks, market_data.subscription.crypto,
            market_data.subscription.forex) == (True, True, False)
    assert {k: v.enabled for k, v in settings.order_types.items()} == {
        "market": True, "limit": True, "stop": True, "stop_limit": True}
    features = settings.features
    assert (features.short_selling, features.margin_trading, features.after_hours_trading,
            features.pre_market_trading) == (True, False, False, False)


def test_multi_broker_block_with_markets():
    settings = load('{"brokers": {"alpaca": {"enabled": true, "api_key": "PKCANARYKEY0123456789", '
                    '"secret_key": "YOUR_ALPACA_SECRET_KEY", "paper": true, "markets": ["US_STOCKS", "CRYPTO"]}}}')
    assert settings.markets == (Market.US_STOCKS, Market.CRYPTO)
    assert not settings.secret_key.is_set  # the guide's placeholder is not a secret


def test_unknown_keys_and_bad_feeds_are_config_errors():
    with pytest.raises(ConfigError) as caught:
        load('{"brokers": {"alpaca": {"papr": true}}}')
    assert "brokers.alpaca.papr" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load('{"brokers": {"alpaca": {"market_data": {"data_feed": "nasdaq"}}}}')
    assert "data_feed" in str(caught.value)


def test_secrets_from_the_environment(secret):
    settings = load('{"brokers": {"alpaca": {"enabled": true}}}',
                    env={"ORCH_ALPACA_API_KEY": "PKFROMENV000111", "APCA_API_SECRET_KEY": secret})
    assert settings.api_key.reveal() == "PKFROMENV000111" and settings.api_key.source == "env:ORCH_ALPACA_API_KEY"
    assert settings.secret_key.source == "env:APCA_API_SECRET_KEY"


def test_default_endpoints_are_paper():
    endpoints = resolve_endpoints(AlpacaSettings(), live=False)
    assert endpoints.paper
    assert endpoints.trading == "https://paper-api.alpaca.markets"
    assert endpoints.data == "https://data.alpaca.markets"
    assert endpoints.trade_stream == "wss://paper-api.alpaca.markets/stream"
    assert endpoints.stock_stream == "wss://stream.data.alpaca.markets/v2/iex"
    assert endpoints.crypto_stream == "wss://stream.data.alpaca.markets/v1beta3/crypto/us"


def test_live_needs_the_live_permission():
    with pytest.raises(LiveTradingRefused, match="brokers.alpaca.paper is false"):
        resolve_endpoints(AlpacaSettings(paper=False), live=False)
    endpoints = resolve_endpoints(AlpacaSettings(paper=False), live=True)
    assert (endpoints.trading, endpoints.trade_stream, endpoints.paper) == (
        "https://api.alpaca.markets", "wss://api.alpaca.markets/stream", False)


def test_paper_and_live_hosts_cannot_be_mixed():
    with pytest.raises(ConfigError) as caught:
        resolve_endpoints(AlpacaSettings(paper=True, base_url="https://api.alpaca.markets/"), live=True)
    assert caught.value.path == "brokers.alpaca.base_url"
    with pytest.raises(ConfigError):
        resolve_endpoints(AlpacaSettings(paper=False, base_url="https://paper-api.alpaca.markets"), live=True)


def test_every_channel_can_point_at_a_simulator():
    settings = AlpacaSettings(base_url="http://127.0.0.1:8123/", data_url="http://127.0.0.1:8124",
                              data_stream_url="ws://127.0.0.1:8125")
    endpoints = resolve_endpoints(settings, live=False)
    assert endpoints.trading == "http://127.0.0.1:8123"
    assert endpoints.trade_stream == "ws://127.0.0.1:8123/stream"
    assert endpoints.data == "http://127.0.0.1:8124"
    assert endpoints.stock_stream == "ws://127.0.0.1:8125/v2/iex"
    override = resolve_endpoints(AlpacaSettings(stream_url="ws://127.0.0.1:9/x"), live=False)
    assert override.trade_stream == "ws://127.0.0.1:9/x"
