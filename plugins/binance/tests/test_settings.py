"""The brokers.binance section: the guide's blocks as written, endpoint resolution (testnet by default,
no paper/live mix-up, the retired stream host accepted with a notice), and the rate_limits block reaching
orch's limiter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orch.config import load_config
from orch.errors import ConfigError, LiveTradingRefused
from orch.plugins import load_plugin
from orch.resilience import RateLimiter
from orch_binance.settings import BinanceSettings, EndpointSettings, resolve_endpoints

GUIDE = Path(__file__).parents[3] / "core" / "tests" / "fixtures" / "guide"


def guide(name: str) -> BinanceSettings:
    return load_config(GUIDE / name, env={}).brokers["binance"]


def test_the_guides_advanced_block_loads_and_its_old_websocket_url_is_replaced_with_a_notice():
    settings = guide("binance_advanced.json")
    assert settings.testnet and settings.symbols.spot_trading.quote_assets == ("USDT", "BUSD", "USDC")
    assert settings.market_data.streaming.intervals == ("1m", "5m", "15m", "1h")
    endpoints = resolve_endpoints(settings, live=False)
    assert endpoints.rest == "https://testnet.binance.vision"
    assert endpoints.stream == "wss://stream.testnet.binance.vision"
    assert endpoints.ws_api == "wss://ws-api.testnet.binance.vision/ws-api/v3"
    (notice,) = endpoints.notices
    assert "wss://testnet.binance.vision/ws is outdated" in notice and "May 2025" in notice


def test_the_guides_rate_limits_reach_the_limiter():
    settings = guide("binance_advanced.json")
    limiter = RateLimiter.from_settings(settings.rate_limits, load_plugin("binance").info.rate_limits, name="binance")
    rules = {rule.name: (rule.limit, rule.period) for rule in limiter.rules}
    assert rules["weight"] == (6000, 60.0) and rules["requests"] == (1200, 60.0) and rules["orders"] == (10, 1.0)


def test_basic_block_and_defaults():
    settings = guide("binance_basic.json")
    endpoints = resolve_endpoints(settings, live=False)
    assert endpoints.rest == "https://testnet.binance.vision" and endpoints.testnet and not endpoints.notices


def test_no_paper_live_mix_up():
    with pytest.raises(ConfigError, match="live host api.binance.com but testnet is true"):
        resolve_endpoints(BinanceSettings(base_url="https://api.binance.com"), live=False)
    with pytest.raises(LiveTradingRefused, match="--live"):
        resolve_endpoints(BinanceSettings(testnet=False), live=False)
    with pytest.raises(ConfigError, match="testnet host"):
        resolve_endpoints(BinanceSettings(testnet=False, base_url="https://testnet.binance.vision"), live=True)
    live = resolve_endpoints(BinanceSettings(testnet=False), live=True)
    assert live.rest == "https://api.binance.com" and live.stream == "wss://stream.binance.com:9443"
    with pytest.raises(ConfigError, match="recv_window"):
        resolve_endpoints(BinanceSettings(recv_window=70000), live=False)


def test_stream_url_forms():
    for given in ("ws://127.0.0.1:9/ws", "ws://127.0.0.1:9/stream", "ws://127.0.0.1:9/"):
        settings = BinanceSettings(endpoints=EndpointSettings(websocket=given))
        assert resolve_endpoints(settings, live=False).stream == "ws://127.0.0.1:9"


def test_secrets_never_show():
    settings = BinanceSettings(api_key="key-canary-1234", secret_key="secret-canary-5678")
    assert "canary" not in repr(settings) and "canary" not in json.dumps(str(settings))
