"""Binance's official SDK, binance-sdk-spot (REST), pointed at the simulator with ``base_path``: it signs
with everything, signature included, in the query string, even for POST; the simulator must accept that
as readily as ccxt's form bodies."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from orch.sim.runner import run_simulator_in_thread

from orch_binance.sim import SIM_API_KEY, SIM_SECRET_KEY, SPEC, BinanceSim

spot_sdk = pytest.importorskip("binance_sdk_spot.spot")
enums = pytest.importorskip("binance_sdk_spot.rest_api.models.enums")


@pytest.fixture
def running() -> Iterator[Any]:
    with run_simulator_in_thread(SPEC) as sim:
        yield sim


def client(url: str, secret: str = SIM_SECRET_KEY) -> Any:
    config = spot_sdk.ConfigurationRestAPI(api_key=SIM_API_KEY, api_secret=secret, base_path=url, retries=0,
                                           timeout=10_000)
    return spot_sdk.Spot(config_rest_api=config).rest_api


def test_official_sdk_round_trip(running):
    rest = client(running.url)
    info = rest.exchange_info(symbol="BTCUSDT").data()
    assert info.symbols[0].symbol == "BTCUSDT"
    ticker = rest.ticker_price(symbol="BTCUSDT").data()
    price = Decimal(str(ticker.actual_instance.price))
    assert price > 0
    balances = {b.asset: b for b in rest.get_account().data().balances}
    assert Decimal(balances["USDT"].free) == 100_000

    limit = (price / 2).quantize(Decimal("0.01"))
    placed = rest.new_order(symbol="BTCUSDT", side=enums.NewOrderSideEnum["BUY"], type=enums.NewOrderTypeEnum["LIMIT"],
                            time_in_force=enums.NewOrderTimeInForceEnum["GTC"], quantity=0.01, price=float(limit),
                            new_client_order_id="sdk-1")
    order = placed.data()
    assert order.status == "NEW" and order.client_order_id == "sdk-1"
    assert placed.rate_limits  # the SDK read the X-MBX-USED-WEIGHT / ORDER-COUNT headers
    fetched = rest.get_order(symbol="BTCUSDT", orig_client_order_id="sdk-1").data()
    assert fetched.order_id == order.order_id and Decimal(fetched.price) == limit
    canceled = rest.delete_order(symbol="BTCUSDT", order_id=order.order_id).data()
    assert canceled.status == "CANCELED" and canceled.orig_client_order_id == "sdk-1"
    assert BinanceSim.of(running.engine).counters["POST /api/v3/order"] == 1


def test_official_sdk_sees_a_bad_signature(running):
    rest = client(running.url, secret="wrong-secret")
    with pytest.raises(Exception, match="Signature for this request is not valid"):
        rest.get_account()


async def _collect(handle: Any, wanted: int, *, timeout: float = 10.0) -> list[Any]:
    import asyncio

    got: list[Any] = []
    handle.on("message", got.append)
    async with asyncio.timeout(timeout):
        while len(got) < wanted:
            await asyncio.sleep(0.05)
    return got


def test_official_sdk_market_streams(running):
    import asyncio

    async def main() -> tuple[list[Any], list[Any]]:
        config = spot_sdk.ConfigurationWebSocketStreams(stream_url=running.ws_url, reconnect_attempts=1)
        connection = await spot_sdk.Spot(config_ws_streams=config).websocket_streams.create_connection()
        try:
            books = await connection.book_ticker(symbol="btcusdt")
            trades = await connection.trade(symbol="btcusdt")
            return await _collect(books, 2), await _collect(trades, 1)
        finally:
            await connection.close_connection(close_session=True)

    books, trades = asyncio.run(main())
    assert books[0].s == "BTCUSDT" and Decimal(books[0].b) < Decimal(books[0].a)
    assert trades[0].e == "trade" and Decimal(trades[0].p) > 0


def test_official_sdk_user_data_stream_over_the_websocket_api(running):
    import asyncio

    async def main() -> list[Any]:
        config = spot_sdk.ConfigurationWebSocketAPI(api_key=SIM_API_KEY, api_secret=SIM_SECRET_KEY,
                                                    stream_url=f"{running.ws_url}/ws-api/v3", reconnect_attempts=1)
        connection = await spot_sdk.Spot(config_ws_api=config).websocket_api.create_connection()
        try:
            subscribed = await connection.user_data_stream_subscribe_signature()  # the SDK signs it
            running.engine.place_order(symbol="BTCUSDT", side="buy", qty="0.01", time_in_force="gtc",
                                       client_order_id="sdk-uds")
            return await _collect(subscribed.stream, 2)
        finally:
            await connection.close_connection(close_session=True)

    events = [e.actual_instance for e in asyncio.run(main())]
    assert [(e.x, e.X) for e in events] == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert events[1].c == "sdk-uds" and Decimal(events[1].l) == Decimal("0.01") and events[1].N == "USDT"
