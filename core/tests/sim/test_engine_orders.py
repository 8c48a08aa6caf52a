"""Engine order semantics: each order type and time in force, sessions, partial fills, notional orders."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from orch.models import OrderStatus
from orch.sim import ALL_CLOSED, US_PREMARKET, EventKind, RejectCode


def kinds(events):
    return [(e.kind.value, e.order.id) for e in events]


def test_market_orders_fill_at_the_touch(engine, order):
    buy = order(engine, qty=10)
    assert buy.status is OrderStatus.FILLED
    assert (buy.filled_qty, buy.avg_fill_price) == (10, Decimal("100.01"))
    sell = order(engine, side="sell", qty=4)
    assert sell.avg_fill_price == Decimal("99.99")
    state = engine.account_state()
    assert state.cash["USD"] == Decimal(100_000) - Decimal("1000.10") + Decimal("399.96")
    position = state.position("AAPL")
    assert (position.qty, position.avg_price) == (6, Decimal("100.01"))
    assert position.realized_pl == Decimal("-0.08")  # (99.99 - 100.01) × 4


def test_a_limit_order_rests_until_the_market_reaches_it(engine, order):
    limit = order(engine, type="limit", limit_price="98.00")
    assert limit.status is OrderStatus.NEW and limit.filled_qty == 0
    assert engine.step() == []
    engine.market.set_price("AAPL", "98.50")  # ask 98.51: still above the limit
    engine.step()
    assert engine.get_order(limit.id).status is OrderStatus.NEW
    engine.market.set_price("AAPL", "97.00")
    events = engine.step()
    assert [e.kind for e in events] == [EventKind.FILL]
    filled = engine.get_order(limit.id)
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == Decimal("97.01")
    assert filled.fills[0].liquidity == "maker"


def test_a_marketable_limit_fills_at_the_better_touch_price(engine, order):
    limit = order(engine, type="limit", limit_price="105.00")
    assert limit.status is OrderStatus.FILLED and limit.avg_fill_price == Decimal("100.01")


def test_a_stop_triggers_on_the_last_price_then_fills_as_a_market_order(engine, order):
    engine.set_position("AAPL", 10, "100")
    stop = order(engine, side="sell", type="stop", stop_price="95.00")
    assert stop.status is OrderStatus.NEW and not stop.triggered
    engine.market.set_price("AAPL", "95.01")
    assert engine.step() == []
    engine.market.set_price("AAPL", "94.50")
    events = engine.step()
    assert [e.kind for e in events] == [EventKind.TRIGGERED, EventKind.FILL]
    assert engine.get_order(stop.id).avg_fill_price == Decimal("94.49")


def test_a_stop_limit_waits_for_its_limit_after_triggering(engine, order):
    engine.set_position("AAPL", 10, "100")
    stop = order(engine, side="sell", type="stop_limit", stop_price="95.00", limit_price="94.00")
    engine.market.set_price("AAPL", "93.00")  # triggers, but the bid 92.99 is below the limit
    engine.step()
    current = engine.get_order(stop.id)
    assert current.triggered and current.status is OrderStatus.NEW
    engine.market.set_price("AAPL", "94.50")  # the stop does not re-arm; the limit is now reachable
    engine.step()
    assert engine.get_order(stop.id).avg_fill_price == Decimal("94.49")


def test_a_trailing_stop_by_percent_follows_the_high_water_mark(engine, order):
    engine.set_position("AAPL", 10, "100")
    trail = order(engine, side="sell", type="trailing_stop", trail_percent="5")
    for price in ("110", "120", "115"):
        engine.market.set_price("AAPL", price)
        engine.step()
    current = engine.get_order(trail.id)
    assert current.hwm == Decimal("120.00") and current.trail_stop == Decimal("114.00")
    assert current.status is OrderStatus.NEW
    engine.market.set_price("AAPL", "113.90")  # half spread at this price: 0.02
    engine.step()
    assert engine.get_order(trail.id).avg_fill_price == Decimal("113.88")


def test_a_trailing_stop_by_price_for_a_buy_tracks_the_low(engine, order):
    trail = order(engine, side="buy", type="trailing_stop", trail_price="2.00")
    for price in ("97", "95", "96.50"):
        engine.market.set_price("AAPL", price)
        engine.step()
    current = engine.get_order(trail.id)
    assert (current.hwm, current.trail_stop, current.status) == (Decimal("95.00"), Decimal("97.00"),
                                                                  OrderStatus.NEW)
    engine.market.set_price("AAPL", "97.00")
    engine.step()
    assert engine.get_order(trail.id).avg_fill_price == Decimal("97.01")


def test_day_orders_expire_at_the_session_close_and_gtc_orders_do_not(engine, order):
    day = order(engine, type="limit", limit_price="90.00")
    gtc = order(engine, type="limit", limit_price="90.00", time_in_force="gtc")
    assert day.expires_at == datetime(2024, 6, 4, 20, 0, tzinfo=timezone.utc)
    engine.clock.set(datetime(2024, 6, 4, 19, 59, 59, tzinfo=timezone.utc))
    assert engine.step() == []
    engine.clock.advance(1)
    events = engine.step()
    assert [(e.kind, e.order.id) for e in events] == [(EventKind.EXPIRED, day.id)]
    assert engine.get_order(day.id).status is OrderStatus.EXPIRED
    assert engine.get_order(gtc.id).status is OrderStatus.NEW


def test_ioc_fills_what_it_can_and_expires_the_rest(engine, order):
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "100", size=300)
    ioc = order(engine, qty=500, time_in_force="ioc")
    assert (ioc.status, ioc.filled_qty) == (OrderStatus.EXPIRED, 300)
    assert engine.account_state().position("AAPL").qty == 300


def test_fok_fills_completely_or_not_at_all(engine, order):
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "100", size=300)
    refused = order(engine, qty=500, time_in_force="fok")
    assert (refused.status, refused.filled_qty) == (OrderStatus.EXPIRED, 0)
    accepted = order(engine, qty=300, time_in_force="fok")
    assert accepted.status is OrderStatus.FILLED
    not_marketable = order(engine, qty=1, type="limit", limit_price="50.00", time_in_force="fok")
    assert not_marketable.status is OrderStatus.EXPIRED


def test_partial_fills_take_the_quoted_size_each_step(engine, order):
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "100", size=100)
    big = order(engine, qty=250)
    assert (big.status, big.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 100)
    events = engine.step()
    assert [e.kind for e in events] == [EventKind.PARTIAL_FILL]
    events = engine.step()
    assert [e.kind for e in events] == [EventKind.FILL]
    done = engine.get_order(big.id)
    assert (done.filled_qty, len(done.fills)) == (250, 3)


def test_orders_share_the_touch_within_a_step(engine, order):
    engine.config.partial_fills = True
    engine.config.fill_on_submit = False
    engine.market.set_price("AAPL", "100", size=100)
    first, second = order(engine, qty=80), order(engine, qty=80)
    engine.step()
    assert engine.get_order(first.id).filled_qty == 80
    assert engine.get_order(second.id).filled_qty == 20


def test_without_fill_on_submit_orders_wait_for_the_next_step(engine, order):
    engine.config.fill_on_submit = False
    pending = order(engine)
    assert pending.status is OrderStatus.NEW
    engine.step()
    assert engine.get_order(pending.id).status is OrderStatus.FILLED


def test_a_market_order_placed_while_closed_fills_at_the_open(engine, order):
    engine.clock.set(US_PREMARKET)
    waiting = order(engine)
    assert waiting.status is OrderStatus.NEW
    events = engine.advance(90 * 60, step=60)  # 08:00 -> 09:30 New York
    assert [e.kind for e in events] == [EventKind.FILL]
    assert events[0].timestamp == datetime(2024, 6, 4, 13, 30, tzinfo=timezone.utc)


def test_extended_hours_orders_trade_before_the_open(engine, order):
    engine.clock.set(US_PREMARKET)
    extended = order(engine, type="limit", limit_price="101.00", extended_hours=True)
    assert extended.status is OrderStatus.FILLED
    engine.config.allow_extended_hours = False
    refused = order(engine, type="limit", limit_price="101.00", extended_hours=True)
    assert refused.reject_code is RejectCode.EXTENDED_HOURS_NOT_ALLOWED


def test_closed_markets_reject_day_orders_when_configured(engine, order):
    engine.config.reject_when_closed = True
    engine.clock.set(ALL_CLOSED)
    rejected = order(engine)
    assert rejected.reject_code is RejectCode.MARKET_CLOSED and "closed" in rejected.reject_reason
    gtc = order(engine, type="limit", limit_price="99.00", time_in_force="gtc")
    assert gtc.status is OrderStatus.NEW
    crypto = engine.place_order(symbol="BTCUSDT", side="buy", qty="0.001")
    assert crypto.status is OrderStatus.FILLED  # crypto never closes


def test_ioc_while_closed_expires_at_once(engine, order):
    engine.clock.set(ALL_CLOSED)
    assert order(engine, time_in_force="ioc").status is OrderStatus.EXPIRED


def test_opg_executes_at_the_opening_price(engine, order):
    engine.clock.set(US_PREMARKET)
    opg = order(engine, time_in_force="opg")
    assert opg.status is OrderStatus.NEW
    assert opg.execute_at == datetime(2024, 6, 4, 13, 30, tzinfo=timezone.utc)
    engine.advance(90 * 60, step=600)
    filled = engine.get_order(opg.id)
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == Decimal("100.00")
    assert filled.filled_at == opg.execute_at


def test_opg_limit_that_is_not_reached_expires_and_opg_is_refused_once_open(engine, order):
    engine.clock.set(US_PREMARKET)
    opg = order(engine, type="limit", limit_price="90.00", time_in_force="opg")
    engine.advance(90 * 60, step=600)
    assert engine.get_order(opg.id).status is OrderStatus.EXPIRED
    late = order(engine, time_in_force="opg")
    assert late.reject_code is RejectCode.TIF_NOT_ALLOWED


def test_cls_executes_at_the_closing_price(engine, order):
    cls = order(engine, time_in_force="cls")
    assert cls.status is OrderStatus.NEW
    engine.clock.set(datetime(2024, 6, 4, 19, 59, 59, tzinfo=timezone.utc))
    engine.step()
    assert engine.get_order(cls.id).status is OrderStatus.NEW
    engine.market.set_price("AAPL", "101")
    engine.advance(1)
    done = engine.get_order(cls.id)
    assert done.status is OrderStatus.FILLED and done.avg_fill_price == Decimal("101.00")


def test_notional_orders_buy_a_fraction(engine):
    engine.config.fractional = True
    order = engine.place_order(symbol="AAPL", side="buy", notional="1000")
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == Decimal("9.999000099")  # floor(1000 / 100.01) to 1e-9
    assert order.filled_qty * order.avg_fill_price <= 1000


def test_advance_walks_the_clock_and_reports_events(engine, order):
    engine.config.fill_on_submit = False
    placed = order(engine)
    events = engine.advance(5)
    assert kinds(events) == [("fill", placed.id)]
    assert engine.now() == engine.clock.now()
    assert engine.now() - timedelta(seconds=5) == datetime(2024, 6, 4, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("kwargs, message", [
    ({"side": "hold"}, "side must be one of"),
    ({"type": "iceberg"}, "type must be one of"),
    ({"qty": 1.5}, "float"),
])
def test_unparseable_values_raise(engine, order, kwargs, message):
    from orch.sim import SimError

    with pytest.raises(SimError, match=message) as info:
        order(engine, **kwargs)
    assert info.value.code == "invalid"
