"""Order classes: bracket, OCO and OTO groups; legs activate after the entry fills, one leg filling
cancels the other."""

from decimal import Decimal

from orch.models import OrderStatus, OrderType, StopLoss
from orch.sim import EventKind, RejectCode


def legs_of(engine, entry):
    return [engine.get_order(i) for i in entry.leg_ids]


def test_bracket_legs_are_held_until_the_entry_fills(engine, order):
    entry = order(engine, type="limit", limit_price="99.00", order_class="bracket", take_profit="110.00",
                  stop_loss="95.00")
    assert entry.status is OrderStatus.NEW and entry.role == "entry"
    take_profit, stop_loss = legs_of(engine, entry)
    assert (take_profit.role, take_profit.type, take_profit.side.value, take_profit.held) == (
        "take_profit", OrderType.LIMIT, "sell", True)
    assert (stop_loss.role, stop_loss.type, stop_loss.stop_price) == ("stop_loss", OrderType.STOP, 95)
    assert take_profit.parent_id == entry.id and take_profit.sibling_ids == (stop_loss.id,)
    engine.market.set_price("AAPL", "111")  # would fill the take-profit, but it is held
    engine.step()
    assert all(leg.status is OrderStatus.NEW and leg.filled_qty == 0 for leg in legs_of(engine, entry))

    engine.market.set_price("AAPL", "98.50")
    events = engine.step()
    assert [e.kind for e in events] == [EventKind.FILL, EventKind.ACTIVATED, EventKind.ACTIVATED]
    assert all(not leg.held and leg.qty == 10 for leg in legs_of(engine, entry))

    engine.market.set_price("AAPL", "110.50")
    events = engine.step()
    assert [(e.kind, e.order.role) for e in events] == [(EventKind.FILL, "take_profit"),
                                                         (EventKind.CANCELED, "stop_loss")]
    assert engine.account_state().position("AAPL") is None  # flat again


def test_a_bracket_stop_loss_fill_cancels_the_take_profit(engine, order):
    entry = order(engine, order_class="bracket", take_profit="110.00", stop_loss="95.00")
    assert entry.status is OrderStatus.FILLED  # market entry: legs work at once
    take_profit, stop_loss = legs_of(engine, entry)
    assert not take_profit.held and not stop_loss.held
    engine.market.set_price("AAPL", "94.00")
    engine.step()
    assert engine.get_order(stop_loss.id).status is OrderStatus.FILLED
    assert engine.get_order(take_profit.id).status is OrderStatus.CANCELED


def test_canceling_an_unfilled_entry_cancels_its_legs(engine, order):
    entry = order(engine, type="limit", limit_price="90.00", order_class="bracket", take_profit="110.00",
                  stop_loss="85.00")
    engine.cancel_order(entry.id)
    assert [leg.status for leg in legs_of(engine, entry)] == [OrderStatus.CANCELED] * 2


def test_an_entry_expiring_partly_filled_activates_legs_for_the_filled_quantity(engine, order):
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "100", size=4)
    entry = order(engine, qty=10, type="limit", limit_price="101.00", order_class="bracket",
                  take_profit="110.00", stop_loss="95.00")
    assert entry.filled_qty == 4
    engine.cancel_order(entry.id)
    assert [(leg.status, leg.qty, leg.held) for leg in legs_of(engine, entry)] == [
        (OrderStatus.NEW, 4, False)] * 2


def test_oco_exits_a_position_first_to_fill_wins(engine, order):
    engine.set_position("AAPL", 10, "100")
    primary = order(engine, side="sell", type="limit", order_class="oco", take_profit="105.00",
                    stop_loss=StopLoss(stop_price="95.00", limit_price="94.50"))
    stop = engine.get_order(primary.sibling_ids[0])
    assert (primary.type, primary.limit_price, primary.role) == (OrderType.LIMIT, 105, "take_profit")
    assert (stop.type, stop.stop_price, stop.limit_price, stop.held) == (OrderType.STOP_LIMIT, 95, Decimal("94.50"),
                                                                           False)
    # Both exit the same 10 shares: nothing else may be sold meanwhile.
    assert order(engine, side="sell", qty=1).reject_code is RejectCode.INSUFFICIENT_QTY
    engine.market.set_price("AAPL", "105.50")
    engine.step()
    assert engine.get_order(primary.id).status is OrderStatus.FILLED
    assert engine.get_order(stop.id).status is OrderStatus.CANCELED


def test_canceling_one_oco_member_cancels_the_other(engine, order):
    engine.set_position("AAPL", 10, "100")
    primary = order(engine, side="sell", type="limit", order_class="oco", take_profit="105.00",
                    stop_loss="95.00")
    engine.cancel_order(primary.sibling_ids[0])
    assert engine.get_order(primary.id).status is OrderStatus.CANCELED


def test_oto_has_one_leg(engine, order):
    entry = order(engine, type="limit", limit_price="99.00", order_class="oto", stop_loss="90.00")
    (leg,) = legs_of(engine, entry)
    assert (leg.role, leg.held, leg.sibling_ids) == ("stop_loss", True, ())
    engine.market.set_price("AAPL", "98")
    engine.step()
    assert not engine.get_order(leg.id).held


def test_a_partially_filled_leg_shrinks_its_sibling(engine, order):
    entry = order(engine, qty=10, order_class="bracket", take_profit="110.00", stop_loss="95.00")
    take_profit, stop_loss = legs_of(engine, entry)
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "111", size=3)
    events = engine.step()
    assert [(e.kind, e.order.role) for e in events] == [(EventKind.PARTIAL_FILL, "take_profit"),
                                                         (EventKind.MODIFIED, "stop_loss")]
    assert engine.get_order(stop_loss.id).qty == 7


def test_bracket_prices_on_the_wrong_side_are_rejected(engine, order):
    rejected = order(engine, order_class="bracket", take_profit="90.00", stop_loss="95.00")
    assert rejected.reject_code is RejectCode.INVALID_ORDER
    assert "take_profit.limit_price 90.00 must be above stop_loss.stop_price 95.00" in rejected.reject_reason
    missing = order(engine, order_class="bracket", take_profit="110.00")
    assert missing.reject_code is RejectCode.INVALID_ORDER and "needs take_profit and stop_loss" in \
        missing.reject_reason
