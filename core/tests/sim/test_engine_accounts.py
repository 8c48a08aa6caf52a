"""Accounts, fees, rejections, client order ids, lookups, replace/modify and event feeds."""

from decimal import Decimal

import pytest
import trio

from orch.models import OrderRequest, OrderStatus, Instrument, Market, Side
from orch.sim import (ALL_OPEN, ByAssetClass, Engine, EngineConfig, EventKind, FlatFee, PercentFee,
                      PerShareFee, RejectCode, SimClock, SimError, SpreadFee)
from orch.sim.fees import Fee, Trade
from orch.sim.instruments import AssetClass


# ----------------------------------------------------------------------------------------- fees


def test_per_share_fees_have_a_minimum_and_a_cap(engine, order):
    engine.account().fee_model = PerShareFee()
    small = order(engine, qty=100)                     # 100 × 0.005 = 0.50 -> minimum 1
    big = order(engine, qty=500)                       # 500 × 0.005 = 2.5
    assert (small.fees, big.fees, big.fee_currency) == (1, Decimal("2.5"), "USD")
    engine.market.set_price("ZZZQ", "0.50")
    penny = engine.place_order(symbol="ZZZQ", side="buy", qty=100)  # value 51: capped at 1% = 0.51
    assert penny.avg_fill_price == Decimal("0.51") and penny.fees == Decimal("0.51")
    assert engine.account_state().fees_paid["USD"] == Decimal("4.01")
    expected = Decimal(100_000) - 600 * Decimal("100.01") - Decimal(51) - Decimal("4.01")
    assert engine.account_state().cash["USD"] == expected


def test_percent_fees_are_charged_in_the_asset_received(clock, market):
    engine = Engine("binance", market=market, clock=clock)
    engine.open_account("B", currency="USDT", cash={"USDT": 10_000}, auto_fx=False, fee_model=PercentFee())
    market.set_price("BTCUSDT", "60000")
    buy = engine.place_order(symbol="BTCUSDT", side="BUY", qty="0.1")
    assert (buy.fees, buy.fee_currency) == (Decimal("0.0001"), "BTC")
    state = engine.account_state()
    assert state.balance("BTC").free == Decimal("0.0999")
    assert state.balance("USDT").free == Decimal(10_000) - Decimal("0.1") * buy.avg_fill_price
    sell = engine.place_order(symbol="BTCUSDT", side="SELL", qty="0.05")
    assert sell.fee_currency == "USDT"
    assert sell.fees == (Decimal("0.05") * sell.avg_fill_price * Decimal("0.001")).quantize(Decimal("1e-8"))


def test_a_flat_fee_is_charged_once_per_order(engine, order):
    engine.account().fee_model = FlatFee(Decimal(2))
    engine.config.partial_fills = True
    engine.market.set_price("AAPL", "100", size=4)
    placed = order(engine, qty=10)
    engine.step()
    engine.step()
    done = engine.get_order(placed.id)
    assert len(done.fills) == 3 and done.fees == 2
    assert [f.fee for f in done.fills] == [2, 0, 0]


def test_a_schedule_per_asset_class(engine, order):
    # IBKR: a per-share charge on forex would bill 20,000 EURUSD as 100 USD; its forex rate is 0.2 bps.
    engine.account().fee_model = ByAssetClass(PerShareFee(), {
        AssetClass.FOREX: PercentFee(Decimal("0.00002"), minimum=Decimal(2), in_received_asset=False)})
    stock = order(engine, qty=500)
    assert (stock.fees, stock.fee_currency) == (Decimal("2.5"), "USD")
    engine.market.set_price("EURUSD", "1.08")
    small = engine.place_order(symbol="EURUSD", side="buy", qty=20_000)
    assert (small.fees, small.fee_currency) == (Decimal(2), "USD")          # 0.43 -> the minimum
    big = Trade(engine.market.info("EURUSD"), Side.BUY, Decimal(5_000_000), Decimal("1.08"), Decimal(5_400_000))
    assert engine.account().fee_model.fee(big) == Fee(Decimal("108"), "USD")


def test_spread_only_brokers_fill_worse_than_the_quote(engine, order):
    engine.account().fee_model = SpreadFee(Decimal(10))
    buy = order(engine, qty=1)
    assert buy.avg_fill_price == Decimal("100.12")    # 100.01 + 10 bps, rounded up to the tick
    assert buy.fees == 0
    capped = order(engine, qty=1, type="limit", limit_price="100.05")
    assert capped.avg_fill_price == Decimal("100.05")  # never beyond the limit


# ----------------------------------------------------------------------------------------- rejections


def test_buying_power_limits_orders_and_margin_extends_it(engine, order):
    too_big = order(engine, qty=1000)                  # 100 010 > 100 000
    assert too_big.reject_code is RejectCode.INSUFFICIENT_BUYING_POWER
    assert "needs 100010 USD" in too_big.reject_reason and "100000 USD available" in too_big.reject_reason
    assert engine.orders() == [] and engine.account_state().cash["USD"] == 100_000
    engine.account().margin_multiplier = Decimal(2)
    assert order(engine, qty=1000).status is OrderStatus.FILLED


def test_open_orders_reserve_buying_power(engine, order):
    resting = order(engine, qty=600, type="limit", limit_price="90.00")    # reserves 54 000
    assert resting.status is OrderStatus.NEW
    state = engine.account_state()
    assert (state.reserved, state.buying_power) == (54_000, 46_000)
    assert order(engine, qty=500, type="limit", limit_price="95.00").reject_code is \
        RejectCode.INSUFFICIENT_BUYING_POWER
    engine.cancel_order(resting.id)
    assert order(engine, qty=500, type="limit", limit_price="95.00").status is OrderStatus.NEW


def test_selling_what_is_not_held_needs_short_selling(engine, order):
    refused = order(engine, side="sell", qty=5)
    assert refused.reject_code is RejectCode.INSUFFICIENT_QTY
    assert "short selling is not allowed" in refused.reject_reason
    engine.account().allow_short = True
    short = order(engine, side="sell", qty=5)
    assert short.status is OrderStatus.FILLED
    position = engine.account_state().position("AAPL")
    assert (position.qty, position.avg_price, position.side) == (-5, Decimal("99.99"), "short")


@pytest.mark.parametrize("kwargs, code, fragment", [
    ({"symbol": "NOSUCHSYMBOL"}, RejectCode.UNKNOWN_SYMBOL, "unknown symbol"),
    ({"type": "limit", "limit_price": "100.005"}, RejectCode.TICK_SIZE, "not a multiple of the tick size 0.01"),
    ({"qty": "1.5"}, RejectCode.LOT_SIZE, "fractional quantity 1.5 is not allowed"),
    ({"type": "limit"}, RejectCode.INVALID_ORDER, "a limit order needs limit_price"),
    ({"type": "stop_limit", "stop_price": "90.00", "time_in_force": "opg", "limit_price": "89.00"},
     RejectCode.TIF_NOT_ALLOWED, "market or limit"),
    ({"notional": "100"}, RejectCode.LOT_SIZE, "notional orders need fractional trading"),
])
def test_rejections_carry_a_code_and_a_reason(engine, order, kwargs, code, fragment):
    rejected = order(engine, **kwargs)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reject_code is code
    assert fragment in rejected.reject_reason


def test_fractional_quantities_when_enabled(engine, order):
    engine.config.fractional = True
    assert order(engine, qty="1.5").filled_qty == Decimal("1.5")


def test_rejected_orders_are_listed_only_when_configured(engine, order):
    order(engine, symbol="NOSUCHSYMBOL")
    assert engine.orders() == []
    engine.config.keep_rejected = True
    kept = order(engine, symbol="NOSUCHSYMBOL")
    assert [o.id for o in engine.orders(status="closed")] == [kept.id]
    assert [e.kind for e in engine.history][-1] is EventKind.REJECTED


def test_client_order_ids_are_unique_among_open_orders_by_default(engine, order):
    first = order(engine, type="limit", limit_price="90.00", client_order_id="abc")
    duplicate = order(engine, type="limit", limit_price="90.00", client_order_id="abc")
    assert duplicate.reject_code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
    engine.cancel_order(first.id)
    reused = order(engine, type="limit", limit_price="90.00", client_order_id="abc")
    assert reused.status is OrderStatus.NEW
    assert engine.find_order(client_order_id="abc").id == reused.id   # the open one wins
    engine.cancel_order(reused.id)
    assert engine.find_order(client_order_id="abc").id == reused.id   # else the newest


def test_client_order_id_policies(engine, order):
    engine.config.client_order_id_unique = "always"
    first = order(engine, client_order_id="x1")
    assert first.status is OrderStatus.FILLED
    assert order(engine, client_order_id="x1").reject_code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
    engine.config.client_order_id_unique = "never"
    assert order(engine, client_order_id="x1").status is OrderStatus.FILLED


def test_caller_chosen_order_ids(engine, order):
    chosen = order(engine, order_id="42")
    assert chosen.id == "42"
    assert order(engine, order_id="42").reject_code is RejectCode.DUPLICATE_ORDER_ID


def test_preview_checks_an_order_without_placing_it(engine, order):
    engine.account().fee_model = PerShareFee()
    preview = engine.preview_order(symbol="AAPL", side="buy", qty=100, client_order_id="p1")
    assert preview.accepted and (preview.price, preview.value, preview.currency) == (
        Decimal("100.01"), Decimal("10001"), "USD")
    assert (preview.fee, preview.buying_power) == (1, 100_000)
    refused = engine.preview_order(symbol="AAPL", side="buy", qty=10_000)
    assert not refused.accepted and refused.reject_code is RejectCode.INSUFFICIENT_BUYING_POWER
    assert engine.orders() == [] and list(engine.history) == []
    assert order(engine, client_order_id="p1").status is OrderStatus.FILLED  # the id was not used up


# ----------------------------------------------------------------------------------------- currencies


def test_auto_fx_settles_foreign_trades_in_the_base_currency(clock, market):
    engine = Engine("t212", market=market, clock=clock)
    engine.open_account("EUR1", currency="EUR", cash=10_000)
    market.set_price("AAPL", "100")
    engine.place_order(symbol="AAPL", side="buy", qty=10)
    rate = market.fx_rate("USD", "EUR", ALL_OPEN)
    state = engine.account_state()
    assert set(state.cash) == {"EUR"}
    assert state.cash["EUR"] == Decimal(10_000) - (Decimal("1000.10") * rate).quantize(Decimal("1e-8"))
    assert state.position("AAPL").currency == "USD"


def test_without_auto_fx_a_trade_needs_cash_in_its_own_currency(clock, market):
    engine = Engine("ibkr", market=market, clock=clock)
    engine.open_account("U1", currency="USD", cash={"USD": 10_000}, auto_fx=False)
    refused = engine.place_order(symbol="SAP.DE", side="buy", qty=1)
    assert refused.reject_code is RejectCode.INSUFFICIENT_BUYING_POWER and "EUR" in refused.reject_reason
    engine.deposit(5_000, "EUR")
    assert engine.place_order(symbol="SAP.DE", side="buy", qty=1).status is OrderStatus.FILLED
    assert engine.account_state().cash["EUR"] < 5_000


def test_pence_quoted_shares_settle_in_pounds(clock, market):
    engine = Engine("t212", market=market, clock=clock)
    engine.open_account("GB", currency="GBP", cash=1_000)
    market.set_price("VOD.L", bid="71.98", ask="72.00")
    engine.place_order(symbol="VOD.L", side="buy", qty=100)
    state = engine.account_state()
    assert state.cash["GBP"] == Decimal(1_000) - Decimal(72)
    position = state.position("VOD.L")
    assert (position.avg_price, position.price_currency, position.currency) == (72, "GBX", "GBP")
    assert position.market_value == Decimal("71.99")


def test_crypto_deposits_become_positions_and_balances(clock, market):
    engine = Engine("binance", market=market, clock=clock)
    engine.open_account(cash={"USDT": 1_000, "BTC": "0.5"}, currency="USDT", auto_fx=False)
    state = engine.account_state()
    assert state.balance("BTC").total == Decimal("0.5") and state.balance("USDT").free == 1_000
    market.set_price("BTCUSDT", "60000")
    resting = engine.place_order(symbol="BTCUSDT", side="SELL", qty="0.2", type="LIMIT", limit_price="70000")
    assert resting.status is OrderStatus.NEW
    state = engine.account_state()
    assert (state.balance("BTC").free, state.balance("BTC").locked) == (Decimal("0.3"), Decimal("0.2"))


# ----------------------------------------------------------------------------------------- requests


def test_replace_creates_a_new_order_and_ends_the_old_one(engine, order):
    old = order(engine, type="limit", limit_price="90.00", client_order_id="r1")
    new = engine.replace_order(old.id, limit_price="91.00", qty=5)
    assert new.id != old.id and new.replaces == old.id and (new.qty, new.limit_price) == (5, 91)
    previous = engine.get_order(old.id)
    assert previous.status is OrderStatus.CANCELED and previous.replaced_by == new.id
    assert [e.kind for e in engine.history][-2:] == [EventKind.REPLACED, EventKind.NEW]
    filled = engine.replace_order(new.id, limit_price="101.00")
    assert filled.status is OrderStatus.FILLED
    with pytest.raises(SimError) as info:
        engine.replace_order(filled.id, qty=1)
    assert info.value.code == "not_modifiable"


def test_modify_changes_an_order_in_place(engine, order):
    resting = order(engine, type="limit", limit_price="90.00")
    modified = engine.modify_order(resting.id, qty=20, limit_price="95.00")
    assert (modified.id, modified.qty, modified.limit_price) == (resting.id, 20, 95)
    assert engine.history[-1].kind is EventKind.MODIFIED
    with pytest.raises(SimError, match="tick size"):
        engine.modify_order(resting.id, limit_price="95.001")
    with pytest.raises(SimError, match="has no stop price"):
        engine.modify_order(resting.id, stop_price="90.00")


def test_cancel_errors(engine, order):
    filled = order(engine)
    with pytest.raises(SimError) as info:
        engine.cancel_order(filled.id)
    assert info.value.code == "not_cancelable"
    with pytest.raises(SimError) as info:
        engine.cancel_order("nope")
    assert info.value.code == "order_not_found"
    assert engine.find_order(order_id="nope") is None
    assert engine.find_order(client_order_id="nope") is None


def test_cancel_all_and_listing_filters(engine, order):
    a = order(engine, type="limit", limit_price="90.00")
    b = engine.place_order(symbol="MSFT", side="buy", qty=1, type="limit", limit_price="10.00")
    filled = order(engine, qty=1)
    assert [o.id for o in engine.orders(status="open")] == [b.id, a.id]        # newest first
    assert [o.id for o in engine.orders(status="closed")] == [filled.id]
    assert [o.id for o in engine.orders(symbol="msft")] == [b.id]
    assert [o.id for o in engine.cancel_all(symbol="AAPL")] == [a.id]
    assert [o.id for o in engine.orders(status="open")] == [b.id]
    assert [f.order_id for f in engine.fills()] == [filled.id]


def test_snapshots_do_not_change_with_the_engine(engine, order):
    resting = order(engine, type="limit", limit_price="90.00")
    engine.cancel_order(resting.id)
    assert resting.status is OrderStatus.NEW
    resting.extra["x"] = 1
    assert engine.get_order(resting.id).extra == {}


def test_the_same_seed_gives_the_same_ids(market):
    def ids():
        engine = Engine("x", market=market, clock=SimClock(wall=ALL_OPEN, frozen=True), seed=3)
        engine.open_account()
        return [engine.place_order(symbol="MSFT", side="buy", qty=1).id for _ in range(3)]

    assert ids() == ids()
    engine = Engine("y", market=market, clock=SimClock(wall=ALL_OPEN), config=EngineConfig(
        order_ids="seq", first_order_seq=1000))
    engine.open_account()
    assert engine.place_order(symbol="MSFT", side="buy", qty=1).id == "1000"


def test_place_request_takes_an_orch_order_request(engine):
    request = OrderRequest(instrument=Instrument("AAPL", Market.US_STOCKS), side=Side.BUY, qty=Decimal(3),
                           client_order_id="orch-1")
    placed = engine.place_request(request)
    assert (placed.qty, placed.client_order_id, placed.status) == (3, "orch-1", OrderStatus.FILLED)
    model = placed.to_model("test", request.instrument)
    assert model.broker_order_id == placed.id and model.filled_qty == 3


def test_account_state_converts_to_orch_models(engine, order):
    order(engine, qty=10)
    state = engine.account_state()
    account = state.to_model("test")
    assert account.cash == state.cash["USD"] and account.equity == state.equity
    assert state.positions[0].to_model("test").qty == 10


# ----------------------------------------------------------------------------------------- events


async def test_subscribers_receive_events_in_order(engine, order):
    with engine.subscribe() as everything, engine.subscribe(kinds=["fill"]) as fills:
        placed = order(engine)
        resting = order(engine, type="limit", limit_price="90.00")
        engine.cancel_order(resting.id)
        got = [await everything.receive.receive() for _ in range(4)]
        assert [(e.kind, e.order.id) for e in got] == [
            (EventKind.NEW, placed.id), (EventKind.FILL, placed.id), (EventKind.NEW, resting.id),
            (EventKind.CANCELED, resting.id)]
        assert [e.seq for e in got] == sorted(e.seq for e in got)
        assert got[1].fill is not None and got[1].fill.price == Decimal("100.01")
        only = await fills.receive.receive()
        assert only.kind is EventKind.FILL
        with pytest.raises(trio.WouldBlock):
            fills.receive.receive_nowait()


async def test_feeds_filter_by_account(engine, order):
    engine.open_account("ACC2", cash=1_000)
    with engine.subscribe(account_id="ACC2") as feed:
        order(engine)
        other = engine.place_order("ACC2", symbol="AAPL", side="buy", qty=1)
        event = await feed.receive.receive()
        assert (event.account_id, event.order.id) == ("ACC2", other.id)


async def test_events_published_from_another_thread_arrive_in_trio(engine, order):
    with engine.subscribe() as feed:
        placed = await trio.to_thread.run_sync(lambda: order(engine))
        with trio.fail_after(5):
            first = await feed.receive.receive()
            second = await feed.receive.receive()
        assert (first.kind, second.kind, second.order.id) == (EventKind.NEW, EventKind.FILL, placed.id)


async def test_a_subscriber_that_stops_reading_is_cut_off(engine, order):
    feed = engine.subscribe(buffer=2)
    for _ in range(3):
        order(engine, qty=1)
    assert feed.overflowed and feed.closed
    received = [event async for event in feed]
    assert len(received) == 2


async def test_quote_feeds_push_changes_at_each_step(engine):
    with engine.subscribe_quotes(["AAPL"]) as quotes:
        engine.step()
        first = await quotes.receive.receive()
        assert (first.symbol, first.bid, first.ask) == ("AAPL", Decimal("99.99"), Decimal("100.01"))
        engine.step()  # unchanged: nothing sent
        with pytest.raises(trio.WouldBlock):
            quotes.receive.receive_nowait()
        engine.market.set_price("AAPL", "99")
        quotes.add("MSFT")
        engine.step()
        got = {q.symbol: q for q in (await quotes.receive.receive(), await quotes.receive.receive())}
        assert got["AAPL"].bid == Decimal("98.99") and "MSFT" in got


async def test_close_feeds_ends_every_stream(engine):
    feed = engine.subscribe()
    engine.close_feeds()
    assert [event async for event in feed] == []
