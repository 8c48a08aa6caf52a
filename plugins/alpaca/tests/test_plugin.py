"""The plugin as the core loads it: contract checks, registration record, connect over real loopback."""

from __future__ import annotations

import inspect
import json
from decimal import Decimal

import pytest
import trio
import trio_websocket

from orch import hookspecs, plugins
from orch.context import ConnectContext
from orch.errors import BrokerUnavailable
from orch.models import Instrument, Market, OrderClass, OrderType, TimeInForce
from orch_alpaca import plugin
from orch_alpaca.connection import AlpacaConnection
from orch_alpaca.settings import AlpacaSettings


def test_the_core_loads_the_plugin_from_its_entry_point():
    loaded = plugins.load_plugin("alpaca")
    assert loaded.info.name == "alpaca" and loaded.info.settings_type is AlpacaSettings
    assert set(hookspecs.REQUIRED_HOOKS) <= set(loaded.hooks)


def test_capabilities_match_the_optional_hooks_exactly():
    caps = plugin.orch_broker_info().capabilities
    for hook, flag in hookspecs.CAPABILITY_HOOKS.items():
        assert getattr(caps, flag) == hasattr(plugin, hook), hook
    assert caps.order_types == frozenset(OrderType)
    assert caps.time_in_force == frozenset(TimeInForce)
    assert caps.order_classes == {OrderClass.SIMPLE, OrderClass.BRACKET, OrderClass.OCO, OrderClass.OTO}
    assert caps.native_client_order_id and caps.notional_orders and caps.fractional and caps.extended_hours
    assert not caps.post_only and not caps.iceberg


def test_registration_record():
    info = plugin.orch_broker_info()
    assert info.official and info.markets == {Market.US_STOCKS, Market.CRYPTO}
    assert dict(info.endpoints) == {"paper": "https://paper-api.alpaca.markets",
                                    "live": "https://api.alpaca.markets"}
    assert info.paper_flag == "paper" and info.rate_limits.requests_per_minute == 200
    assert dict(info.secret_env) == {"api_key": "APCA_API_KEY_ID", "secret_key": "APCA_API_SECRET_KEY"}


def test_glue_shapes():
    for name in hookspecs.REQUIRED_HOOKS + tuple(hookspecs.CAPABILITY_HOOKS):
        function = getattr(plugin, name)
        if name in ("orch_stream_quotes", "orch_stream_orders"):
            assert inspect.isasyncgenfunction(function), name
        elif name != "orch_broker_info":
            assert inspect.iscoroutinefunction(function), name


async def test_connect_to_an_unreachable_host_is_unavailable(limiter):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    settings = AlpacaSettings(api_key="PKCANARYKEY0123456789", secret_key="canary-secret-3f9a1c7e5b2d",
                              base_url="http://127.0.0.1:9")
    async with trio.open_nursery() as nursery:
        context = ConnectContext(broker="alpaca", nursery=nursery, limiter=limiter)
        with pytest.raises(BrokerUnavailable, match="127.0.0.1:9"):
            await plugin.orch_connect(settings, context)


async def test_real_websocket_on_loopback(limiter, key):
    """The real trio-websocket connector against a loopback server speaking Alpaca's stream protocol."""
    received = []

    async def handler(request):
        ws = await request.accept()
        await ws.send_message('[{"T":"success","msg":"connected"}]')
        received.append(json.loads(await ws.get_message()))
        await ws.send_message('[{"T":"success","msg":"authenticated"}]')
        received.append(json.loads(await ws.get_message()))
        await ws.send_message('[{"T":"subscription","trades":["AAPL"],"quotes":["AAPL"],"bars":[]}]')
        await ws.send_message('[{"T":"q","S":"AAPL","bp":189.2,"bs":2,"ap":189.25,"as":3,'
                              '"t":"2026-11-24T15:30:00Z"}]')
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        port = listeners.port
        settings = AlpacaSettings(api_key=key, secret_key="canary-secret-3f9a1c7e5b2d",
                                  data_stream_url=f"ws://127.0.0.1:{port}")
        conn = AlpacaConnection(settings, ConnectContext(broker="alpaca", nursery=nursery, limiter=limiter))
        stream = plugin.orch_stream_quotes(conn, [Instrument("AAPL", Market.US_STOCKS)])
        with trio.fail_after(10):
            quote = await stream.__anext__()
        await stream.aclose()
        await conn.aclose()
        nursery.cancel_scope.cancel()
    assert (quote.bid, quote.ask) == (Decimal("189.2"), Decimal("189.25"))
    assert received[0]["action"] == "auth" and received[0]["key"] == key
    assert received[1] == {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"]}
