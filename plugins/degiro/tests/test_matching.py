"""Finding an order whose confirm answer was lost (DEGIRO has no client order ids): the pure matching
rules, then the connection against its simulator with the answer cut after DEGIRO placed the order."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import trio

from orch.context import ConnectContext
from orch.errors import BrokerUnavailable
from orch.models import Instrument, Market, OrderRef, OrderRequest, OrderType, Side
from orch.resilience.limiter import RateLimiter
from orch.sim.runner import start_simulator

from orch_degiro import matching
from orch_degiro.connection import DegiroConnection
from orch_degiro.matching import ABSENT, FOUND, UNKNOWN, Intent, Seen
from orch_degiro.plugin import orch_broker_info
from orch_degiro.sim import SPEC
from orch_degiro.sim.state import SIM_ACCOUNT

SENT = datetime(2026, 3, 3, 14, 30, 0, tzinfo=timezone.utc)
INTENT = Intent("331868", Side.BUY, Decimal(5), OrderType.LIMIT, Decimal("180.5"), None, sent_at=SENT, sent_mono=100.0)


def seen(order_id: str, *, at: datetime | None = SENT + timedelta(seconds=1), **changes: Any) -> Seen:
    values = {"product_id": "331868", "side": Side.BUY, "qty": Decimal(5), "type": OrderType.LIMIT,
              "limit_price": Decimal("180.5"), "stop_price": None, "earliest": at, "latest": at, **changes}
    return Seen(order_id, **values)


def verdict(orders: list[Seen], *, elapsed: float = 60.0, complete: bool = True, **kwargs: Any) -> matching.Verdict:
    return matching.match(INTENT, orders, complete=complete, elapsed=elapsed, timeout=10.0, **kwargs)


# ------------------------------------------------------------------------------------- pure rules


def test_exactly_one_match_is_found():
    others = [seen("x1", side=Side.SELL), seen("x2", qty=Decimal(4)), seen("x3", limit_price=Decimal("180.4")),
              seen("x4", product_id="1"), seen("x5", type=OrderType.MARKET, limit_price=None)]
    result = verdict([*others, seen("ours")])
    assert (result.kind, result.order_id) == (FOUND, "ours")
    assert "no client order id" in result.reason


def test_identical_twin_orders_stay_unknown():
    result = verdict([seen("a"), seen("b", at=SENT + timedelta(seconds=2))])
    assert result.kind == UNKNOWN and result.order_id is None and "identical" in result.reason


def test_an_order_claimed_by_another_client_order_id_is_not_a_candidate():
    result = verdict([seen("a"), seen("b")], claimed={"a"})
    assert (result.kind, result.order_id) == (FOUND, "b")


def test_an_identical_order_of_ours_still_unaccounted_for_keeps_it_unknown():
    twin = Intent("331868", Side.BUY, Decimal(5), OrderType.LIMIT, Decimal("180.5"), None,
                  sent_at=SENT + timedelta(seconds=3), sent_mono=103.0)
    assert verdict([seen("a")], twins=[twin]).kind == UNKNOWN
    different = Intent("331868", Side.SELL, Decimal(5), OrderType.LIMIT, Decimal("180.5"), None,
                       sent_at=SENT, sent_mono=100.0)
    assert verdict([seen("a")], twins=[different]).kind == FOUND


def test_none_after_the_timeout_is_a_proven_absence():
    older = seen("old", at=SENT - timedelta(minutes=2))  # an identical order from before the send
    assert verdict([older], elapsed=10.0).kind == ABSENT
    assert verdict([], elapsed=11.0).kind == ABSENT


def test_none_before_the_timeout_or_from_incomplete_lists_is_unknown():
    assert verdict([], elapsed=9.9).kind == UNKNOWN
    assert verdict([], complete=False).kind == UNKNOWN


def test_clock_skew_is_allowed_for_but_not_much_more():
    assert verdict([seen("a", at=SENT - timedelta(seconds=4))]).kind == FOUND
    assert verdict([seen("a", at=SENT - timedelta(seconds=6))]).kind == ABSENT
    assert verdict([seen("a", at=SENT + timedelta(minutes=6))]).kind == ABSENT


def test_an_order_that_cannot_be_read_or_timed_keeps_it_unknown():
    assert verdict([seen("a"), seen("b", side=None)]).kind == UNKNOWN
    assert verdict([seen("a", at=None)]).kind == UNKNOWN
    # Something known differs: it is not ours, however unreadable the rest.
    assert verdict([seen("a"), seen("b", side=None, qty=Decimal(1))]).kind == FOUND


def test_rows_are_read_from_open_orders_and_history():
    today = date(2026, 3, 3)
    price = Decimal("180.5")
    history = [{"orderId": "h1", "productId": 331868, "buysell": "B", "size": 5, "price": price, "stopPrice": 0,
                "orderTypeId": 0, "created": "2026-03-03T15:30:01+01:00", "type": "CREATE"},
               {"orderId": "h1", "type": "DELETE", "created": "2026-03-03T15:40:00+01:00"}]
    open_rows = [{"id": "h1", "date": "15:30", "productId": 331868, "buysell": "B", "quantity": 5, "price": price,
                  "orderTypeId": 0},
                 {"id": "o2", "date": "15:29", "productId": 331868, "buysell": "B", "quantity": 5, "price": price,
                  "orderTypeId": 0},
                 {"id": "o3", "date": "02/03", "productId": 331868, "buysell": "B", "quantity": 5, "price": price,
                  "orderTypeId": 0}]
    rows = {s.order_id: s for s in matching.seen_orders(open_rows, history, today=today)}
    assert rows["h1"].earliest == rows["h1"].latest == SENT + timedelta(seconds=1)  # history's exact time wins
    assert (rows["o2"].earliest, rows["o2"].latest) == (SENT - timedelta(minutes=1), SENT)  # only the minute
    assert rows["o3"].latest <= SENT - timedelta(hours=14)  # yesterday
    assert matching.match(INTENT, list(rows.values()), complete=True, elapsed=60, timeout=10).kind == UNKNOWN
    only = [s for s in rows.values() if s.order_id != "h1"]
    # o2's minute ends at the send: within the skew allowed, so it is the one.
    assert matching.match(INTENT, only, complete=True, elapsed=60, timeout=10).order_id == "o2"


def test_the_server_clock_comes_from_the_date_header():
    assert matching.date_header({"date": "Tue, 03 Mar 2026 14:30:00 GMT"}) == SENT.timestamp()
    assert matching.date_header({}) is None
    assert matching.date_header({"date": "yesterday"}) is None


# ------------------------------------------------------------------------------------- the connection

AAPL = Instrument("AAPL", Market.US_STOCKS)
TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def connected() -> AsyncIterator[tuple[DegiroConnection, Any]]:
    from orch.config import config_from_data

    async with trio.open_nursery() as nursery:
        running = await start_simulator(nursery, SPEC)
        running.engine.market.force_sessions(True)
        section = {**running.config, "timeout_seconds": str(TIMEOUT)}
        settings = config_from_data({"brokers": {"degiro": section}}, source="<test>", env={}).brokers["degiro"]
        context = ConnectContext(broker="degiro", nursery=nursery, live=False,
                                 limiter=RateLimiter.from_settings(settings.rate_limits,
                                                                   orch_broker_info().rate_limits))
        conn = DegiroConnection(settings, context)
        try:
            yield await conn.open(), running.engine
        finally:
            await conn.aclose()
            nursery.cancel_scope.cancel()


def lose_confirm_answers(conn: DegiroConnection, *, reach: bool = True) -> None:
    """The confirm reaches DEGIRO (or not, ``reach=False``) and its answer is lost."""
    real = conn._send

    async def send(request: Any) -> Any:
        if "/v5/order/" in request.url and request.method == "POST":
            if reach:
                await real(request)
            raise BrokerUnavailable("connection reset", broker="degiro")
        return await real(request)

    conn._send = send  # type: ignore[method-assign]


def limit(coid: str, qty: int = 1) -> OrderRequest:
    return OrderRequest(AAPL, Side.BUY, qty=qty, type=OrderType.LIMIT, limit_price=Decimal("50"), client_order_id=coid)


async def place_lost(conn: DegiroConnection, coid: str) -> None:
    with pytest.raises(BrokerUnavailable):
        await conn.place_order(limit(coid))


async def test_a_lost_answer_is_found_by_matching(autojump_clock):
    async with connected() as (conn, engine):
        await conn.place_order(limit("earlier"))  # an identical order this connection knows: claimed
        lose_confirm_answers(conn)
        await trio.sleep(60)
        await place_lost(conn, "lost")
        found = await conn.get_order(OrderRef(client_order_id="lost", instrument=AAPL))
        assert found is not None and found.client_order_id == "lost" and "no client order id" in found.raw_status
        ids = {o.id for o in engine.orders(status="all")}
        assert len(ids) == 2 and found.broker_order_id in ids
        assert found.broker_order_id != conn._coid_to_id["earlier"]
        # Bound from now on: the same answer without matching again.
        again = await conn.get_order(OrderRef(client_order_id="lost"))
        assert again is not None and again.broker_order_id == found.broker_order_id


async def test_a_lost_answer_vs_an_identical_order_from_elsewhere_stays_unknown(autojump_clock):
    async with connected() as (conn, engine):
        lose_confirm_answers(conn)
        await place_lost(conn, "lost")
        # The same order placed meanwhile in the web trader (not by this connection).
        engine.place_order(SIM_ACCOUNT, symbol="AAPL", side=Side.BUY, qty=Decimal(1),
                           type=OrderType.LIMIT, limit_price=Decimal("50"))
        with pytest.raises(BrokerUnavailable, match="identical"):
            await conn.get_order(OrderRef(client_order_id="lost", instrument=AAPL))


async def test_two_lost_identical_orders_of_ours_stay_unknown(autojump_clock):
    async with connected() as (conn, engine):
        lose_confirm_answers(conn)
        await place_lost(conn, "first")
        lose_confirm_answers(conn, reach=False)
        await place_lost(conn, "second")
        assert len(engine.orders(status="all")) == 1  # only one of the two exists: which one cannot be told
        for coid in ("first", "second"):
            with pytest.raises(BrokerUnavailable, match="unaccounted"):
                await conn.get_order(OrderRef(client_order_id=coid, instrument=AAPL))


async def test_a_confirm_that_never_arrived_is_absent_only_after_the_timeout(autojump_clock):
    async with connected() as (conn, engine):
        lose_confirm_answers(conn, reach=False)
        await place_lost(conn, "lost")
        ref = OrderRef(client_order_id="lost", instrument=AAPL)
        with pytest.raises(BrokerUnavailable, match="may still be on its way"):
            await conn.get_order(ref)
        await trio.sleep(TIMEOUT)
        assert await conn.get_order(ref) is None
        assert engine.orders(status="all") == []


async def test_an_order_whose_confirm_never_left_is_absent_at_once(autojump_clock):
    async with connected() as (conn, engine):
        real = conn.call

        async def check_fails(request: Any) -> Any:
            if "checkOrder" in request.url:
                raise BrokerUnavailable("timed out", broker="degiro")
            return await real(request)

        conn.call = check_fails  # type: ignore[method-assign]
        with pytest.raises(BrokerUnavailable):
            await conn.place_order(limit("never"))
        assert await conn.get_order(OrderRef(client_order_id="never", instrument=AAPL)) is None
