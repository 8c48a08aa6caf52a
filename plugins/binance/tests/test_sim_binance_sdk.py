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
