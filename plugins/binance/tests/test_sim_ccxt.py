"""ccxt's binance client (the reference client), its URLs pointed at the simulator: markets, ticker,
balance, and a limit order created, fetched and cancelled. ccxt signs with its own code and its own wall
clock, so this is the proof that the simulator's signature and recvWindow checks accept a real client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest

from orch.sim.runner import run_simulator_in_thread

from orch_binance.sim import SIM_API_KEY, SIM_SECRET_KEY, SPEC, BinanceSim


@pytest.fixture
def running() -> Iterator[Any]:
    with run_simulator_in_thread(SPEC) as sim:
        yield sim


def client(url: str, secret: str = SIM_SECRET_KEY) -> ccxt.binance:
    exchange = ccxt.binance({"apiKey": SIM_API_KEY, "secret": secret, "enableRateLimit": False,
                             "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                         "fetchMargins": False}})
    # Every host ccxt knows is pointed at the simulator (spot lives under /api/v3), so nothing can leave
    # the loopback interface.
    exchange.urls["api"] = {name: url + urlsplit(value).path for name, value in exchange.urls["api"].items()}
    return exchange


def test_ccxt_markets_ticker_balance_and_a_limit_order(running):
    exchange = client(running.url)
    markets = exchange.load_markets()
    assert "BTC/USDT" in markets
    market = markets["BTC/USDT"]
    assert market["precision"]["price"] == 0.01 and market["limits"]["cost"]["min"] == 5.0

    ticker = exchange.fetch_ticker("BTC/USDT")
    assert 0 < ticker["bid"] <= ticker["ask"] and ticker["last"] > 0

    balance = exchange.fetch_balance()
    assert balance["USDT"]["free"] == 100_000 and balance["BTC"]["total"] == 1

    price = float(exchange.price_to_precision("BTC/USDT", ticker["bid"] * 0.5))
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"newClientOrderId": "ccxt-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "ccxt-1" and order["amount"] == 0.01

    fetched = exchange.fetch_order(order["id"], "BTC/USDT")
    assert fetched["id"] == order["id"] and fetched["price"] == price and fetched["status"] == "open"
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(0.01 * price, rel=1e-9)

    canceled = exchange.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert exchange.fetch_open_orders("BTC/USDT") == []
    sim = BinanceSim.of(running.engine)
    assert sim.counters["POST /api/v3/order"] == 1 and sim.counters["DELETE /api/v3/order"] == 1


def test_ccxt_market_order_fills_and_shows_in_my_trades(running):
    exchange = client(running.url)
    exchange.load_markets()
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    trades = exchange.fetch_my_trades("BTC/USDT")
    assert [t["order"] for t in trades] == [order["id"]] and trades[0]["fee"]["currency"] == "USDT"


def test_ccxt_with_a_wrong_secret_gets_binances_signature_error(running):
    exchange = client(running.url, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_balance()


def test_ccxt_sees_binances_filter_failure(running):
    exchange = client(running.url)
    exchange.load_markets()
    with pytest.raises((ccxt.InvalidOrder, ccxt.BadRequest), match="Filter failure: NOTIONAL"):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.00001, 1000.0)
