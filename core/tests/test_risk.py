"""Pre-trade risk rules: each accepts just under its limit, refuses just over, and the refusal names the
rule, the value, the limit and where the limit is configured. Per-broker blocks are the guide's own."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import trio

from orch.config_model import RiskSettings
from orch.errors import RiskRejected
from orch.models import (Instrument, Market, OrderClass, OrderRequest, OrderType, Quote, Side, StopLoss,
                         TakeProfit, TimeInForce, from_data)
from orch.risk import OrderRateWindow, RiskEngine, RiskHalt, reference_price
from orch.settings import BrokerSettings

D = Decimal
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")


def guide_block(text: str) -> BrokerSettings:
    """A broker section's shared blocks as written in the guide (parse_float=Decimal, like config.py)."""
    return from_data(json.loads(text, parse_float=Decimal), BrokerSettings)


# Alpaca "Advanced Configuration": trading_settings, order_types, features.
ALPACA = guide_block("""{
  "trading_settings": {"default_order_type": "market", "default_time_in_force": "day",
                       "fractional_shares": true, "min_order_size": 1.0, "max_order_size": 1000000.0},
  "order_types": {"market": {"enabled": true}, "limit": {"enabled": true}, "stop": {"enabled": true},
                  "stop_limit": {"enabled": true}},
  "features": {"short_selling": true, "margin_trading": false, "after_hours_trading": false,
               "pre_market_trading": false}
}""")
# Binance "Advanced Configuration".
BINANCE = guide_block("""{
  "trading_settings": {"default_order_type": "limit", "default_time_in_force": "GTC",
                       "min_notional": 10.0, "max_notional": 900000.0},
  "order_types": {"limit": {"enabled": true}, "market": {"enabled": true}, "stop_loss": {"enabled": true},
                  "take_profit": {"enabled": true}, "oco": {"enabled": true}}
}""")


def engine(risk: RiskSettings | None = None, **brokers) -> RiskEngine:
    per_broker = {"alpaca": ALPACA, "binance": BINANCE}
    per_broker.update(brokers)
    return RiskEngine(risk or RiskSettings(enforce_market_hours=False), per_broker, clock=lambda: NOW)


def order(side=Side.BUY, qty="10", instrument=AAPL, **kwargs) -> OrderRequest:
    if qty is not None:
        kwargs["qty"] = qty
    return OrderRequest(instrument=instrument, side=side, **kwargs)


def limit(side, qty, price, instrument=AAPL, **kwargs) -> OrderRequest:
    return order(side, qty, instrument, type=OrderType.LIMIT, limit_price=price, **kwargs)


def quote(bid=None, ask=None, last=None, instrument=AAPL) -> Quote:
    return Quote(broker="x", instrument=instrument, timestamp=NOW, bid=bid, ask=ask, last=last)


STATE = dict(quote=None, position_qty=D(0), open_orders=0, orders_last_minute=0, realized_pl_today=D(0),
             halted=None)


def check(eng: RiskEngine, broker: str, request: OrderRequest, **state) -> None:
    eng.check(broker, request, **{**STATE, **state})


def refused(eng, broker, request, **state) -> RiskRejected:
    with pytest.raises(RiskRejected) as err:
        check(eng, broker, request, **state)
    return err.value


# ---------------------------------------------------------------------------------------------- sizes


def test_max_order_size_message_from_the_spec():
    eng = engine(alpaca=guide_block('{"trading_settings": {"max_order_size": 1000}}'))
    check(eng, "alpaca", order(qty="1000"))
    err = refused(eng, "alpaca", order(qty="1500"))
    assert str(err) == ("risk rule max_order_size: qty 1500 exceeds "
                        "brokers.alpaca.trading_settings.max_order_size 1000")
    assert (err.rule, err.limit, err.value) == ("max_order_size", D(1000), D(1500))


def test_max_order_size_guide_value_just_over():
    check(engine(), "alpaca", order(qty="1000000"))
    err = refused(engine(), "alpaca", order(qty="1000000.001"))
    assert "qty 1000000.001 exceeds brokers.alpaca.trading_settings.max_order_size 1000000" in str(err)


def test_min_order_size():
    check(engine(), "alpaca", order(qty="1"))
    err = refused(engine(), "alpaca", order(qty="0.99"))
    assert str(err) == ("risk rule min_order_size: qty 0.99 is below "
                        "brokers.alpaca.trading_settings.min_order_size 1")


def test_order_size_of_a_notional_order_uses_the_quote():
    q = quote(bid="99", ask="100")
    check(engine(), "alpaca", order(qty=None, notional="100"), quote=q)  # 1 share at the ask
    err = refused(engine(), "alpaca", order(qty=None, notional="99"), quote=q)
    assert err.rule == "min_order_size"
    assert "qty 0.99 (notional 99 ÷ ask 100) is below" in str(err)


def test_order_size_of_a_notional_order_without_a_price_is_refused():
    err = refused(engine(), "alpaca", order(qty=None, notional="500"))
    assert err.rule == "min_order_size"
    assert "cannot check a notional order of 500 AAPL without a price" in str(err)


# ---------------------------------------------------------------------------------------------- notionals


def test_min_notional_binance():
    check(engine(), "binance", limit(Side.BUY, "0.0002", "50000", BTC))
    err = refused(engine(), "binance", limit(Side.BUY, "0.0002", "49999.99", BTC))
    assert str(err) == ("risk rule min_notional: notional 9.999998 (qty 0.0002 × limit price 49999.99) "
                        "is below brokers.binance.trading_settings.min_notional 10")
    assert (err.limit, err.value) == (D(10), D("9.999998"))


def test_max_notional_binance():
    check(engine(), "binance", limit(Side.SELL, "18", "50000", BTC))
    err = refused(engine(), "binance", limit(Side.SELL, "18", "50000.01", BTC))
    assert err.rule == "max_notional"
    assert "notional 900000.18 (qty 18 × limit price 50000.01) exceeds " \
           "brokers.binance.trading_settings.max_notional 900000" in str(err)


def test_max_order_notional_with_market_order_priced_from_the_quote_side():
    eng = engine(RiskSettings(max_order_notional=D(50000), enforce_market_hours=False))
    check(eng, "alpaca", order(qty="100"), quote=quote(bid="600", ask="500"))
    err = refused(eng, "alpaca", order(qty="100"), quote=quote(bid="400", ask="500.01"))
    assert str(err) == ("risk rule max_order_notional: notional 50001 (qty 100 × ask 500.01) exceeds "
                        "risk.max_order_notional 50000")
    # A sell is priced at the bid.
    check(eng, "alpaca", order(Side.SELL, qty="100"), quote=quote(bid="500", ask="900"))
    assert refused(eng, "alpaca", order(Side.SELL, qty="100"),
                   quote=quote(bid="500.01", ask="400")).rule == "max_order_notional"


def test_max_order_notional_of_a_notional_order():
    eng = engine(RiskSettings(max_order_notional=D(50000), enforce_market_hours=False))
    check(eng, "unknown-broker", order(qty=None, notional="50000"))
    err = refused(eng, "unknown-broker", order(qty=None, notional="50000.01"))
    assert "notional 50000.01 exceeds risk.max_order_notional 50000" in str(err)


def test_notional_limit_without_any_price_refuses():
    eng = engine(RiskSettings(max_order_notional=D(50000), enforce_market_hours=False))
    err = refused(eng, "alpaca", order(qty="1"))
    assert err.rule == "max_order_notional"
    assert "cannot check the notional of qty 1 AAPL: no quote and no limit or stop price" in str(err)


def test_reference_price_order():
    q = quote(bid="99", ask="101", last="100")
    assert reference_price(limit(Side.BUY, "1", "95"), q) == (D(95), "limit price")
    stop = order(type=OrderType.STOP, stop_price="105")
    assert reference_price(stop, q) == (D(105), "stop price")
    assert reference_price(order(), q) == (D(101), "ask")
    assert reference_price(order(Side.SELL), q) == (D(99), "bid")
    assert reference_price(order(), quote(last="100")) == (D(100), "last")
    assert reference_price(order(), None) == (None, "no price")


# ---------------------------------------------------------------------------------------------- position


def test_max_position_per_symbol():
    eng = engine(RiskSettings(max_position_per_symbol=D(100), enforce_market_hours=False))
    check(eng, "alpaca", order(qty="10"), position_qty=D(90))
    err = refused(eng, "alpaca", order(qty="11"), position_qty=D(90))
    assert str(err) == ("risk rule max_position_per_symbol: resulting position 101 AAPL (now 90, buy 11) "
                        "exceeds risk.max_position_per_symbol 100")
    assert (err.limit, err.value) == (D(100), D(101))
    # Short side counts by absolute size.
    check(eng, "alpaca", order(Side.SELL, qty="10"), position_qty=D(-90))
    err = refused(eng, "alpaca", order(Side.SELL, qty="11"), position_qty=D(-90))
    assert "resulting position -101 AAPL" in str(err)


def test_reducing_a_position_above_the_limit_passes():
    eng = engine(RiskSettings(max_position_per_symbol=D(100), enforce_market_hours=False))
    check(eng, "alpaca", order(Side.SELL, qty="10"), position_qty=D(150))
    assert refused(eng, "alpaca", order(qty="1"), position_qty=D(150)).rule == "max_position_per_symbol"


# ---------------------------------------------------------------------------------------------- counts


def test_max_open_orders():
    eng = engine(RiskSettings(max_open_orders=5, enforce_market_hours=False))
    check(eng, "alpaca", order(), open_orders=4)
    err = refused(eng, "alpaca", order(), open_orders=5)
    assert str(err) == ("risk rule max_open_orders: 5 open orders already; one more exceeds "
                        "risk.max_open_orders 5")


def test_max_orders_per_minute():
    eng = engine(RiskSettings(max_orders_per_minute=10, enforce_market_hours=False))
    check(eng, "alpaca", order(), orders_last_minute=9)
    err = refused(eng, "alpaca", order(), orders_last_minute=10)
    assert str(err) == ("risk rule max_orders_per_minute: 10 orders in the last minute; one more exceeds "
                        "risk.max_orders_per_minute 10")


# ---------------------------------------------------------------------------------------------- loss, halt


@pytest.mark.parametrize("configured", [D(500), D(-500)])
def test_daily_loss_limit_halts(configured):
    eng = engine(RiskSettings(daily_loss_limit=configured, enforce_market_hours=False))
    check(eng, "alpaca", order(), realized_pl_today=D("-499.99"))
    check(eng, "alpaca", order(), realized_pl_today=D("1000"))
    with pytest.raises(RiskHalt) as err:
        check(eng, "alpaca", order(), realized_pl_today=D("-500.01"))
    assert err.value.rule == "daily_loss_limit"
    assert "realized P/L today -500.01 reached the loss limit risk.daily_loss_limit 500" in str(err.value)
    assert "orch resume" in str(err.value)
    assert "-500.01" in err.value.halt_reason
    assert isinstance(err.value, RiskRejected)
    with pytest.raises(RiskHalt):  # reaching the limit exactly is enough
        check(eng, "alpaca", order(), realized_pl_today=D("-500"))


def test_halted_refuses_everything_and_says_how_to_resume():
    err = refused(engine(), "alpaca", order(Side.SELL, qty="1"), position_qty=D(10),
                  halted="daily loss limit reached")
    assert err.rule == "halted"
    assert str(err) == ("risk rule halted: trading is halted (daily loss limit reached); run `orch resume` "
                        "to lift the halt")


# ---------------------------------------------------------------------------------------------- features


def test_short_selling_disabled():
    eng = engine(alpaca=guide_block('{"features": {"short_selling": false}}'))
    check(eng, "alpaca", order(Side.SELL, qty="10"), position_qty=D(10))
    err = refused(eng, "alpaca", order(Side.SELL, qty="10.01"), position_qty=D(10))
    assert str(err) == ("risk rule short_selling: sell 10.01 AAPL exceeds the position 10 and "
                        "brokers.alpaca.features.short_selling is false")
    assert refused(eng, "alpaca", order(Side.SELL, qty="1"), position_qty=D(-5)).rule == "short_selling"
    check(eng, "alpaca", order(Side.BUY, qty="1"), position_qty=D(-5))  # buying to cover is fine


def test_short_selling_allowed_by_the_guide_alpaca_block():
    check(engine(), "alpaca", order(Side.SELL, qty="20"), position_qty=D(0))


def test_short_selling_notional_sell_without_price_is_refused():
    eng = engine(alpaca=guide_block('{"features": {"short_selling": false}}'))
    err = refused(eng, "alpaca", order(Side.SELL, qty=None, notional="100"), position_qty=D(5))
    assert err.rule == "short_selling" and "without a price" in str(err)


def test_margin_trading_disabled_uses_cash():
    check(engine(), "alpaca", limit(Side.BUY, "10", "100"), cash_available=D(1000))
    err = refused(engine(), "alpaca", limit(Side.BUY, "10", "100.01"), cash_available=D(1000))
    assert str(err) == ("risk rule margin_trading: notional 1000.1 (qty 10 × limit price 100.01) exceeds "
                        "cash 1000 and brokers.alpaca.features.margin_trading is false")
    check(engine(), "alpaca", limit(Side.BUY, "10", "100.01"))  # cash unknown: not checked
    check(engine(), "alpaca", limit(Side.SELL, "10", "100.01"), cash_available=D(0))


@pytest.mark.parametrize(("session", "rule"),
                         [("after", "after_hours_trading"), ("pre", "pre_market_trading")])
def test_extended_sessions_disabled(session, rule):
    check(engine(), "alpaca", order(), session="regular")
    err = refused(engine(), "alpaca", limit(Side.BUY, "1", "100"), session=session)
    assert err.rule == rule
    assert f"brokers.alpaca.features.{rule} is false" in str(err)


def test_extended_hours_order_refused_when_either_extended_session_is_disabled():
    err = refused(engine(), "alpaca", limit(Side.BUY, "1", "100", extended_hours=True))
    assert err.rule == "after_hours_trading" and "asks for extended hours" in str(err)
    only_pre = engine(alpaca=guide_block('{"features": {"after_hours_trading": true, '
                                         '"pre_market_trading": false}}'))
    check(only_pre, "alpaca", limit(Side.BUY, "1", "100"), session="after")
    assert refused(only_pre, "alpaca", limit(Side.BUY, "1", "100", extended_hours=True)).rule \
        == "pre_market_trading"
    allowed = engine(alpaca=guide_block('{"features": {"after_hours_trading": true, '
                                        '"pre_market_trading": true}}'))
    check(allowed, "alpaca", limit(Side.BUY, "1", "100", extended_hours=True), session="pre")


# ---------------------------------------------------------------------------------------------- order types


def test_disabled_order_type():
    eng = engine(alpaca=guide_block('{"order_types": {"stop_limit": {"enabled": false}}}'))
    check(eng, "alpaca", limit(Side.BUY, "1", "100"))
    err = refused(eng, "alpaca", order(type=OrderType.STOP_LIMIT, stop_price="100", limit_price="101"))
    assert str(err) == ("risk rule order_types: stop_limit orders are disabled by "
                        "brokers.alpaca.order_types.stop_limit.enabled = false")


def test_disabled_order_type_under_the_brokers_own_name_and_order_classes():
    eng = engine(binance=guide_block('{"order_types": {"stop_loss": {"enabled": false}, '
                                     '"oco": {"enabled": false}, "limit": {"enabled": true}}}'))
    err = refused(eng, "binance", order(qty="1", instrument=BTC, type=OrderType.STOP, stop_price="40000"))
    assert "stop orders are disabled by brokers.binance.order_types.stop_loss.enabled = false" in str(err)
    oco = limit(Side.SELL, "1", "60000", BTC, order_class=OrderClass.OCO, take_profit=TakeProfit("60000"),
                stop_loss=StopLoss("40000"))
    assert "oco orders are disabled" in str(refused(eng, "binance", oco))
    check(engine(), "binance", oco)  # the guide's own block enables oco


# ---------------------------------------------------------------------------------------------- market hours


def test_market_hours_refuses_day_market_order_when_closed_with_next_open():
    eng = engine(RiskSettings(enforce_market_hours=True))
    check(eng, "alpaca", order(), market_open=True)
    err = refused(eng, "alpaca", order(), market_open=False, next_open=NOW + timedelta(hours=2, minutes=5))
    assert err.rule == "market_hours"
    assert "the market for AAPL is closed" in str(err)
    assert "next open 2026-11-24T14:05:00+00:00 (in 2h 05m)" in str(err)
    assert refused(eng, "alpaca", order(), market_open=None, session="closed").rule == "market_hours"


def test_market_hours_lets_limit_and_gtc_orders_and_unknown_hours_through():
    eng = engine(RiskSettings(enforce_market_hours=True))
    check(eng, "alpaca", limit(Side.BUY, "1", "100"), market_open=False)
    check(eng, "alpaca", order(time_in_force=TimeInForce.GTC), market_open=False)
    check(eng, "alpaca", order(), market_open=None)
    check(engine(RiskSettings(enforce_market_hours=False)), "alpaca", order(), market_open=False)


# ---------------------------------------------------------------------------------------------- misc


def test_unknown_broker_has_no_per_broker_limits():
    check(engine(), "ibkr", order(Side.SELL, qty="0.001"), position_qty=D(0))


def test_invalid_session_is_a_programming_error():
    with pytest.raises(ValueError, match="session must be one of"):
        check(engine(), "alpaca", order(), session="lunch")


# ---------------------------------------------------------------------------------------------- rate window


async def test_order_rate_window_slides_on_trio_time(autojump_clock):
    window = OrderRateWindow()
    window.record("alpaca")
    await trio.sleep(30)
    window.record("binance")
    window.record("alpaca")
    assert (window.count(), window.count("alpaca"), window.count("binance")) == (3, 2, 1)
    await trio.sleep(29.5)
    assert window.count("alpaca") == 2
    await trio.sleep(1)
    assert (window.count(), window.count("alpaca")) == (2, 1)
    await trio.sleep(30)
    assert window.count() == 0


def test_order_rate_window_with_an_injected_clock_feeds_the_engine():
    now = [100.0]
    window = OrderRateWindow(10, clock=lambda: now[0])
    eng = engine(RiskSettings(max_orders_per_minute=2, enforce_market_hours=False))
    for _ in range(2):
        check(eng, "alpaca", order(), orders_last_minute=window.count("alpaca"))
        window.record("alpaca")
    assert refused(eng, "alpaca", order(), orders_last_minute=window.count("alpaca")).rule \
        == "max_orders_per_minute"
    now[0] += 9.5
    assert window.count("alpaca") == 2
    now[0] += 0.5  # exactly 10 s old: out of the window
    assert window.count("alpaca") == 0
    check(eng, "alpaca", order(), orders_last_minute=window.count("alpaca"))
    with pytest.raises(ValueError):
        OrderRateWindow(0)
