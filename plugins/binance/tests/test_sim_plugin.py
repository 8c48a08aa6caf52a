"""orch's Binance plugin, through its hooks, against the Binance simulator over loopback: signing and
the server clock (-1021 resync), request weights charged and corrected from the headers, 429 and the 418
ban halting the limiter, orders of every kind, and the simulator's own refusals (-1022, -1021)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from orch.config import config_from_data
from orch.context import ConnectContext
from orch.errors import AuthError, InvalidOrder, OrderRejected, RateLimited
from orch.models import (Instrument, Market, OrderClass, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType,
                         Side, StopLoss, TakeProfit, TimeInForce)
from orch.plugins import load_plugin
from orch.resilience import RateLimiter
from orch.resilience.limiter import BudgetHalted
from orch.sim.runner import start_simulator

from orch_binance import signing
from orch_binance.connection import BinanceConnection
from orch_binance.sim import SIM_ACCOUNT, SIM_API_KEY, SIM_SECRET_KEY, BinanceSim

BTC = Instrument("BTC/USDT", Market.CRYPTO, currency="USDT")
D = Decimal


class Wall:
    """An adjustable wall clock: the local clock a signed request is stamped with."""

    def __init__(self) -> None:
        import time

        self.skew = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.skew


@pytest.fixture
def plugin():
    return load_plugin("binance")


@pytest.fixture
async def running(nursery, plugin):
    return await start_simulator(nursery, plugin.hooks["orch_simulator"]())


@pytest.fixture
def sim(running) -> BinanceSim:
    return BinanceSim.of(running.engine)


@pytest.fixture
def settings(running):
    return config_from_data({"brokers": {"binance": running.config}}, source="<test>", env={}).brokers["binance"]


@pytest.fixture
def limiter(plugin, settings):
    return RateLimiter.from_settings(settings.rate_limits, plugin.info.rate_limits, name="binance")


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
async def conn(nursery, settings, limiter, wall):
    connection = await BinanceConnection(settings, ConnectContext("binance", nursery, limiter),
                                         wall_clock=wall).open()
    yield connection
    await connection.aclose()


async def test_a_drifting_clock_resyncs_once_and_the_request_succeeds(conn, sim, wall):
    wall.skew = 30.0  # the local clock jumped 30 s ahead after connecting
    account = await conn.account()
    assert account.cash == D(100_000) and conn.http.resyncs == 1
    assert sim.counters["GET /api/v3/time"] == 2  # at connect, and the resync
    assert conn.http.clock.offset_ms == pytest.approx(-30_000, abs=2_000)
    await conn.account()
    assert conn.http.resyncs == 1  # the new offset holds


async def test_an_order_refused_for_its_timestamp_twice_is_rejected_not_unknown(conn, sim, wall, monkeypatch):
    monkeypatch.setattr(signing.ServerClock, "update", lambda *args: 0)  # the resync "fails" to fix anything
    wall.skew = -120.0
    with pytest.raises(OrderRejected, match="recvWindow"):
        await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.01"), time_in_force=TimeInForce.GTC,
                                            client_order_id="skewed"))
    assert sim.counters["POST /api/v3/order"] == 2 and not running_orders(sim)


def running_orders(sim: BinanceSim) -> list:
    return sim.engine.orders(status="all")


async def test_weights_are_charged_and_corrected_from_the_headers(conn, sim, limiter):
    before = limiter.usage().used
    await conn.account()  # weight 20
    assert limiter.usage().used == before + 20
    # Another client on the same IP spends weight the limiter cannot know about; the header tells it.
    sim.charge("127.0.0.1", 1000)
    await conn.quote(BTC)
    assert limiter.usage().used >= before + 20 + 1000 + 2


async def test_429_carries_retry_after_and_418_halts_the_limiter_until_the_ban_ends(conn, sim, limiter):
    sim.options.weight_limit = limiter.usage().used + 5  # what connecting spent, and a little more
    sim.options.ban_after = 1
    with pytest.raises(RateLimited) as limited:
        await conn.account()
    assert limited.value.status == 429 and limited.value.retry_after and limited.value.retry_after > 0
    with pytest.raises(RateLimited) as banned:
        await conn.account()
    assert banned.value.status == 418 and "banned" in str(banned.value)
    sent = sim.counters["GET /api/v3/account"]
    with pytest.raises(BudgetHalted, match="halted"):
        await conn.account()
    assert sim.counters["GET /api/v3/account"] == sent  # nothing left while banned
    assert limiter.usage().halted_until is not None


async def test_orders_of_every_kind(conn, sim):
    quote = await conn.quote(BTC)
    far = (quote.bid / 2).quantize(D("0.01"))
    limit = await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.0100004"), type=OrderType.LIMIT,
                                                limit_price=far + D("0.004"), time_in_force=TimeInForce.GTC,
                                                client_order_id="orch-limit"))
    assert limit.status is OrderStatus.NEW and limit.qty == D("0.01") and limit.limit_price == far
    found = await conn.get_order(OrderRef(client_order_id="orch-limit", instrument=BTC))
    assert found.broker_order_id == limit.broker_order_id
    assert [o.broker_order_id for o in await conn.list_orders(OrderFilter())] == [limit.broker_order_id]
    canceled = await conn.cancel_order(OrderRef(broker_order_id=limit.broker_order_id, instrument=BTC))
    assert canceled.status is OrderStatus.CANCELED and canceled.client_order_id == "orch-limit"

    market = await conn.place_order(OrderRequest(BTC, Side.BUY, notional=D("100"), time_in_force=TimeInForce.GTC,
                                                 client_order_id="orch-quote"))
    assert market.status is OrderStatus.FILLED and market.notional == D(100) and market.filled_qty > 0
    fills = await conn.list_fills(None, BTC)
    assert fills and fills[-1].broker_order_id == market.broker_order_id and fills[-1].fee_currency == "USDT"

    maker = OrderRequest(BTC, Side.BUY, qty=D("0.01"), type=OrderType.LIMIT, limit_price=quote.ask * 2,
                         time_in_force=TimeInForce.GTC, post_only=True, client_order_id="orch-maker")
    with pytest.raises(OrderRejected, match="immediately match"):
        await conn.place_order(maker)

    iceberg = await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.1"), type=OrderType.LIMIT,
                                                  limit_price=far, time_in_force=TimeInForce.GTC,
                                                  iceberg_qty=D("0.02"), client_order_id="orch-ice"))
    assert iceberg.status is OrderStatus.NEW

    stop = await conn.place_order(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP_LIMIT,
                                               stop_price=far, limit_price=far, time_in_force=TimeInForce.GTC,
                                               client_order_id="orch-stop"))
    assert stop.type is OrderType.STOP_LIMIT and stop.stop_price == far and stop.status is OrderStatus.NEW

    oco = await conn.place_order(OrderRequest(
        BTC, Side.SELL, qty=D("0.01"), type=OrderType.LIMIT, limit_price=quote.ask * 2, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfit((quote.ask * 2).quantize(D("0.01"))),
        stop_loss=StopLoss(far), client_order_id="orch-oco"))
    assert oco.order_class is OrderClass.OCO and len(oco.legs) == 1 and oco.client_order_id == "orch-oco"
    assert oco.legs[0].stop_price == far
    await conn.cancel_order(OrderRef(client_order_id="orch-oco", instrument=BTC))
    leg = await conn.get_order(OrderRef(broker_order_id=oco.legs[0].broker_order_id, instrument=BTC))
    assert leg.status is OrderStatus.CANCELED  # one cancel ends the list


async def test_local_refusals_send_nothing(conn, sim):
    before = sum(sim.counters.values())
    with pytest.raises(InvalidOrder, match="NOTIONAL"):
        await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.0001"), type=OrderType.LIMIT,
                                            limit_price=D("1000"), time_in_force=TimeInForce.GTC))
    assert await conn.get_order(OrderRef(client_order_id="never", instrument=Instrument("NOPE", Market.CRYPTO))) \
        is None
    assert sum(sim.counters.values()) == before


async def test_the_simulator_verifies_signatures_and_the_recv_window(running):
    async with httpx.AsyncClient(base_url=running.url) as http:
        query = f"timestamp={int(__import__('time').time() * 1000)}&recvWindow=5000"
        good = signing.signature(SIM_SECRET_KEY, query)
        headers = {"X-MBX-APIKEY": SIM_API_KEY}
        ok = await http.get(f"/api/v3/account?{query}&signature={good}", headers=headers)
        assert ok.status_code == 200 and ok.headers["x-mbx-used-weight-1m"] == "20"
        bad = await http.get(f"/api/v3/account?{query}&signature={'0' * 64}", headers=headers)
        assert (bad.status_code, bad.json()["code"]) == (400, -1022)
        old = "timestamp=1499827319559&recvWindow=5000"
        late = await http.get(f"/api/v3/account?{old}&signature={signing.signature(SIM_SECRET_KEY, old)}",
                              headers=headers)
        assert late.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        nokey = await http.get(f"/api/v3/account?{query}&signature={good}")
        assert (nokey.status_code, nokey.json()["code"]) == (401, -2014)
        # Body and query concatenated, as Binance hashes them.
        in_query, in_body = "symbol=BTCUSDT&side=BUY", f"type=MARKET&quantity=0.001&{query}"
        sig = signing.signature(SIM_SECRET_KEY, in_query, in_body)
        mixed = await http.post(f"/api/v3/order?{in_query}", content=f"{in_body}&signature={sig}",
                                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
        assert mixed.status_code == 200, mixed.text
        assert mixed.json()["status"] == "FILLED" and mixed.headers["x-mbx-order-count-10s"] == "1"


async def test_wrong_secret_is_an_auth_error(nursery, settings, limiter):
    import attrs

    from orch.secret import Secret

    wrong = attrs.evolve(settings, secret_key=Secret("wrong-secret-value"))
    with pytest.raises(AuthError, match="-1022"):
        await BinanceConnection(wrong, ConnectContext("binance", nursery, limiter)).open()


async def test_a_full_ten_second_order_window_holds_back_orders_only(autojump_clock, conn, sim, limiter):
    import trio

    conn.http.set_order_limits(2)  # as exchangeInfo's ORDERS / 10 SECOND would say
    sim.options.orders_10s = 2

    def order(i: int) -> OrderRequest:
        return OrderRequest(BTC, Side.BUY, qty=D("0.001"), type=OrderType.LIMIT, limit_price=D("10000"),
                            time_in_force=TimeInForce.GTC, client_order_id=f"count-{i}")

    for i in range(2):
        await conn.place_order(order(i))
    started = trio.current_time()
    # Quotes and account reads go on: the order count is not the request weight.
    await conn.quote(BTC)
    assert limiter.usage().penalized_until is None and trio.current_time() - started < 1.0
    # The next order waits for the window instead of collecting -1015.
    await conn.place_order(order(2))
    assert trio.current_time() - started >= 10.0 - 1e-6
    assert sim.counters["status_429"] == 0 and sim.order_counts(SIM_ACCOUNT)[0] >= 1


async def test_the_daily_order_limit_refuses_orders_without_sending(autojump_clock, conn, sim):
    conn.http.set_order_limits(day=2)  # as exchangeInfo's ORDERS / 1 DAY would say
    sim.options.orders_1d = 2
    for i in range(2):
        await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.001"), type=OrderType.LIMIT,
                                            limit_price=D("10000"), time_in_force=TimeInForce.GTC,
                                            client_order_id=f"day-{i}"))
    with pytest.raises(BudgetHalted, match="2 orders a day"):
        await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.001"), type=OrderType.LIMIT,
                                            limit_price=D("10000"), time_in_force=TimeInForce.GTC,
                                            client_order_id="day-2"))
    assert sim.order_counts(SIM_ACCOUNT)[1] == 2 and sim.counters["status_429"] == 0


async def test_exchange_info_order_limit_is_adopted(conn):
    assert conn.http.order_limit_10s == 100


def _signed(query: str) -> str:
    return f"{query}&signature={signing.signature(SIM_SECRET_KEY, query)}"


@pytest.mark.parametrize("params, code, text", [
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&timeInForce=GTC", -1106, "timeInForce"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=10000", -1102, "timeInForce"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0010001&price=10000", -1013, "LOT_SIZE"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000.001", -1013, "PRICE_FILTER"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00001&price=10000", -1013, "NOTIONAL"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.000000001&price=10000", -1111, "precision"),
    ("symbol=BTCUSDT&side=SELL&type=STOP_LOSS&quantity=0.001&stopPrice=1000000", -2010, "trigger immediately"),
    ("symbol=NOSUCH&side=BUY&type=MARKET&quantity=1", -1121, "Invalid symbol"),
    ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=5000", -2010, "insufficient balance"),
    ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.01&price=10000&icebergQty=0.002", -2010,
     "Unsupported"),
])
async def test_the_simulator_refuses_orders_the_way_binance_does(running, params, code, text):
    import time

    query = f"{params}&timestamp={int(time.time() * 1000)}"
    async with httpx.AsyncClient(base_url=running.url, headers={"X-MBX-APIKEY": SIM_API_KEY}) as http:
        answer = await http.post(f"/api/v3/order?{_signed(query)}")
    assert answer.status_code == 400 and answer.json()["code"] == code and text in answer.json()["msg"]


async def test_a_lost_answer_is_an_unknown_outcome_and_the_order_is_found_by_its_client_id(conn, running):
    from orch.errors import BrokerUnavailable

    running.faults.set(drop_after_accept_burst=1)
    request = OrderRequest(BTC, Side.BUY, qty=D("0.001"), type=OrderType.LIMIT, limit_price=D("10000"),
                           time_in_force=TimeInForce.GTC, client_order_id="orch-lost-1")
    with pytest.raises(BrokerUnavailable):
        await conn.place_order(request)
    found = await conn.get_order(OrderRef(client_order_id="orch-lost-1", instrument=BTC))
    assert found is not None and found.status is OrderStatus.NEW and found.limit_price == D("10000")
    assert len(running.engine.orders(status="all")) == 1  # placed once, never resent


async def test_a_server_error_on_an_order_is_an_unknown_outcome(conn, running):
    from orch.errors import BrokerUnavailable

    running.faults.set(error_burst=1, error_status=503)
    with pytest.raises(BrokerUnavailable, match="unknown"):
        await conn.place_order(OrderRequest(BTC, Side.BUY, qty=D("0.001"), type=OrderType.LIMIT,
                                            limit_price=D("10000"), time_in_force=TimeInForce.GTC,
                                            client_order_id="orch-503"))
    assert await conn.get_order(OrderRef(client_order_id="orch-503", instrument=BTC)) is None  # proven absent


async def test_a_stop_beyond_the_market_goes_as_a_take_profit(conn, sim):
    quote = await conn.quote(BTC)
    target = (quote.ask * D("1.5")).quantize(D("0.01"))
    order = await conn.place_order(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP_LIMIT,
                                                stop_price=target, limit_price=target, time_in_force=TimeInForce.GTC,
                                                client_order_id="orch-tp"))
    assert order.type is OrderType.STOP_LIMIT and order.stop_price == target and order.status is OrderStatus.NEW
    placed = sim.engine.find_order(client_order_id="orch-tp")
    assert placed.extra["wire_type"] == "TAKE_PROFIT_LIMIT"
    below = (quote.bid * D("0.5")).quantize(D("0.01"))
    stop = await conn.place_order(OrderRequest(BTC, Side.SELL, qty=D("0.01"), type=OrderType.STOP_LIMIT,
                                               stop_price=below, limit_price=below, time_in_force=TimeInForce.GTC,
                                               client_order_id="orch-sl"))
    assert sim.engine.find_order(client_order_id="orch-sl").extra["wire_type"] == "STOP_LOSS_LIMIT"
    assert stop.status is OrderStatus.NEW
