"""Local refusals: config switches (naming the setting) and Alpaca's documented rules, before any I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orch.errors import InvalidOrder, NotSupported
from orch.models import (Instrument, Market, OrderClass, OrderRequest, OrderType, Side, StopLoss, TakeProfit,
                         TimeInForce)
from orch.settings import FeatureSettings, Toggle, TradingSettings
from orch_alpaca import rules
from orch_alpaca.settings import AlpacaSettings

AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTC/USD", Market.CRYPTO)


def order(**kwargs) -> OrderRequest:
    base = {"instrument": AAPL, "side": Side.BUY, "qty": "1", "client_order_id": "orch-1"}
    return OrderRequest(**{**base, **kwargs})


def check(request: OrderRequest, settings: AlpacaSettings | None = None, *, crypto: bool = False) -> None:
    rules.check_order(request, settings or AlpacaSettings(), crypto=crypto)


def refused(request: OrderRequest, settings: AlpacaSettings | None = None, *, crypto: bool = False,
            error: type = InvalidOrder) -> str:
    with pytest.raises(error) as caught:
        check(request, settings, crypto=crypto)
    text = str(caught.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------------------------------ config switches


@pytest.mark.parametrize("kind, extra", [
    ("market", {}),
    ("limit", {"limit_price": "10"}),
    ("stop", {"stop_price": "10"}),
    ("stop_limit", {"stop_price": "10", "limit_price": "10.5"}),
    ("trailing_stop", {"trail_percent": "2"}),
])
def test_a_disabled_order_type_is_refused_naming_the_setting(kind, extra):
    settings = AlpacaSettings(order_types={kind: Toggle(enabled=False)})
    text = refused(order(type=OrderType(kind), **extra), settings, error=NotSupported)
    assert f"brokers.alpaca.order_types.{kind}.enabled is false" in text
    # Other types still pass.
    other = "limit" if kind != "limit" else "market"
    check(order(type=OrderType(other), **({"limit_price": "10"} if other == "limit" else {})), settings)


def test_a_disabled_stop_type_also_blocks_a_bracket_stop_loss():
    settings = AlpacaSettings(order_types={"stop": Toggle(enabled=False)})
    bracket = order(type=OrderType.LIMIT, limit_price="100", order_class=OrderClass.BRACKET,
                    take_profit=TakeProfit("110"), stop_loss=StopLoss("95"))
    assert "order_types.stop.enabled is false" in refused(bracket, settings, error=NotSupported)
    check(order(type=OrderType.LIMIT, limit_price="100", order_class=OrderClass.BRACKET,
                take_profit=TakeProfit("110"), stop_loss=StopLoss("95", "94.5")), settings)


@pytest.mark.parametrize("flag", ["after_hours_trading", "pre_market_trading"])
def test_extended_hours_needs_both_extended_sessions_enabled(flag):
    settings = AlpacaSettings(features=FeatureSettings(**{flag: False}))
    request = order(type=OrderType.LIMIT, limit_price="190", extended_hours=True)
    assert f"brokers.alpaca.features.{flag} is false" in refused(request, settings, error=NotSupported)
    check(order(type=OrderType.LIMIT, limit_price="190"), settings)  # a regular-hours order is fine
    check(request, AlpacaSettings(features=FeatureSettings(after_hours_trading=True, pre_market_trading=True)))


def test_fractional_shares_false_refuses_fractional_qty_and_notional():
    settings = AlpacaSettings(trading_settings=TradingSettings(fractional_shares=False))
    assert "trading_settings.fractional_shares is false" in refused(order(qty="0.5"), settings)
    assert "fractional_shares is false" in refused(order(qty=None, notional="100"), settings)
    check(order(qty="2"), settings)
    # Crypto quantities are not shares.
    check(order(instrument=BTC, qty="0.5", time_in_force=TimeInForce.GTC), settings, crypto=True)


def test_min_and_max_order_size_are_quantities():
    settings = AlpacaSettings(trading_settings=TradingSettings(min_order_size=Decimal(1),
                                                               max_order_size=Decimal(1000)))
    assert "trading_settings.min_order_size (1)" in refused(order(qty="0.5"), settings)
    assert "trading_settings.max_order_size (1000)" in refused(order(qty="1001"), settings)
    check(order(qty="1"), settings)
    check(order(qty="1000"), settings)


def test_the_guides_advanced_block_allows_an_ordinary_order():
    settings = AlpacaSettings(
        trading_settings=TradingSettings(fractional_shares=True, min_order_size=Decimal("1.0"),
                                         max_order_size=Decimal("1000000.0")),
        order_types={k: Toggle(enabled=True) for k in ("market", "limit", "stop", "stop_limit")},
        features=FeatureSettings(short_selling=True, margin_trading=False, after_hours_trading=False,
                                 pre_market_trading=False))
    check(order(qty="10"), settings)
    check(order(type=OrderType.STOP_LIMIT, stop_price="100", limit_price="101"), settings)


# ------------------------------------------------------------------------------------------ Alpaca's rules


def test_notional_only_for_simple_market_day_orders():
    assert "simple market order" in refused(order(qty=None, notional="100", type=OrderType.LIMIT,
                                                  limit_price="10"))
    assert "time_in_force day" in refused(order(qty=None, notional="100", time_in_force=TimeInForce.GTC))
    check(order(qty=None, notional="100"))
    check(order(instrument=BTC, qty=None, notional="100", time_in_force=TimeInForce.GTC), crypto=True)


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.FOK, TimeInForce.OPG, TimeInForce.CLS])
def test_crypto_takes_gtc_or_ioc_only(tif):
    assert "gtc or ioc" in refused(order(instrument=BTC, time_in_force=tif), crypto=True)


def test_crypto_order_types_and_classes():
    for kind, extra in ((OrderType.STOP, {"stop_price": "40000"}),
                        (OrderType.TRAILING_STOP, {"trail_percent": "1"})):
        refused(order(instrument=BTC, type=kind, time_in_force=TimeInForce.GTC, **extra), crypto=True,
                error=NotSupported)
    refused(order(instrument=BTC, type=OrderType.LIMIT, limit_price="40000", time_in_force=TimeInForce.GTC,
                  order_class=OrderClass.OTO, stop_loss=StopLoss("39000")), crypto=True, error=NotSupported)
    check(order(instrument=BTC, type=OrderType.STOP_LIMIT, stop_price="40000", limit_price="39990.123",
                time_in_force=TimeInForce.IOC), crypto=True)


def test_extended_hours_only_for_limit_day():
    assert "limit orders with time_in_force day" in refused(order(extended_hours=True))
    assert "limit orders with time_in_force day" in refused(
        order(type=OrderType.LIMIT, limit_price="10", time_in_force=TimeInForce.GTC, extended_hours=True))
    assert "not allowed on bracket" in refused(
        order(type=OrderType.LIMIT, limit_price="100", extended_hours=True, order_class=OrderClass.BRACKET,
              take_profit=TakeProfit("110"), stop_loss=StopLoss("95")))
    check(order(type=OrderType.LIMIT, limit_price="10", extended_hours=True))


@pytest.mark.parametrize("price, ok", [
    ("290.12", True), ("290.123", False), ("1", True), ("1.001", False),
    ("0.9999", True), ("0.99999", False), ("290.120", True),
])
def test_sub_penny_rule(price, ok):
    request = order(type=OrderType.LIMIT, limit_price=price)
    if ok:
        check(request)
    else:
        assert f"limit_price {price}" in refused(request) and "sub-penny" in refused(request)


def test_sub_penny_rule_covers_every_price_of_a_bracket():
    request = order(type=OrderType.LIMIT, limit_price="100", order_class=OrderClass.BRACKET,
                    take_profit=TakeProfit("110.005"), stop_loss=StopLoss("95"))
    assert "take_profit.limit_price 110.005" in refused(request)


def test_qty_precision_and_client_order_id_length():
    assert "9 decimals" in refused(order(qty="0.0000000001"))
    assert "128 characters" in refused(order(client_order_id="x" * 129))


def test_fractional_stock_qty_needs_day_and_a_simple_order():
    assert "time_in_force day" in refused(order(qty="0.5", type=OrderType.LIMIT, limit_price="10",
                                                time_in_force=TimeInForce.GTC))
    check(order(qty="0.5", type=OrderType.LIMIT, limit_price="10"))


def test_auction_and_trailing_time_in_force():
    on_open = order(type=OrderType.STOP, stop_price="10", time_in_force=TimeInForce.OPG)
    assert "market and limit" in refused(on_open)
    check(order(time_in_force=TimeInForce.CLS))
    assert "day or gtc" in refused(order(side=Side.SELL, type=OrderType.TRAILING_STOP, trail_price="1",
                                         time_in_force=TimeInForce.IOC))


def test_bracket_legs_must_straddle_the_entry():
    def bracket(side, limit, tp, sl):
        return order(side=side, type=OrderType.LIMIT, limit_price=limit, order_class=OrderClass.BRACKET,
                     take_profit=TakeProfit(tp), stop_loss=StopLoss(sl))

    assert "must be above" in refused(bracket(Side.BUY, "100", "95", "110"))
    assert "must be below" in refused(bracket(Side.SELL, "100", "110", "95"))
    assert "wrong side of the entry" in refused(bracket(Side.BUY, "100", "99", "95"))
    check(bracket(Side.BUY, "100", "110", "95"))
    check(bracket(Side.SELL, "100", "95", "110"))
    assert "day or gtc" in refused(order(type=OrderType.LIMIT, limit_price="100", time_in_force=TimeInForce.IOC,
                                         order_class=OrderClass.BRACKET, take_profit=TakeProfit("110"),
                                         stop_loss=StopLoss("95")))


def test_oco_is_a_limit_order_whose_price_is_the_take_profit():
    def oco(**kwargs):
        base = {"side": Side.SELL, "type": OrderType.LIMIT, "limit_price": "301", "time_in_force": TimeInForce.GTC,
                "order_class": OrderClass.OCO, "take_profit": TakeProfit("301"), "stop_loss": StopLoss("299")}
        return order(**{**base, **kwargs})

    check(oco())
    assert "they differ" in refused(oco(limit_price="300"))
    assert "must be above" in refused(oco(limit_price="298", take_profit=TakeProfit("298")))
    check(oco(side=Side.BUY, limit_price="290", take_profit=TakeProfit("290"), stop_loss=StopLoss("310")))
    assert "must be of type limit" in refused(oco(type=OrderType.STOP_LIMIT, stop_price="299.5"))


def test_post_only_and_iceberg_are_not_supported():
    refused(order(type=OrderType.LIMIT, limit_price="10", post_only=True), error=NotSupported)
    refused(order(type=OrderType.LIMIT, limit_price="10", iceberg_qty="1"), error=NotSupported)


def test_replacement_values():
    settings = AlpacaSettings(trading_settings=TradingSettings(fractional_shares=False,
                                                               max_order_size=Decimal(100)))
    with pytest.raises(InvalidOrder, match="needs a new qty"):
        rules.check_replace(qty=None, limit_price=None, stop_price=None, settings=settings, crypto=False)
    with pytest.raises(InvalidOrder, match="fractional_shares is false"):
        rules.check_replace(qty=Decimal("1.5"), limit_price=None, stop_price=None, settings=settings, crypto=False)
    with pytest.raises(InvalidOrder, match="max_order_size"):
        rules.check_replace(qty=Decimal("101"), limit_price=None, stop_price=None, settings=settings, crypto=None)
    with pytest.raises(InvalidOrder, match="sub-penny"):
        rules.check_replace(qty=None, limit_price=Decimal("10.001"), stop_price=None, settings=settings,
                            crypto=False)
    with pytest.raises(InvalidOrder, match="positive"):
        rules.check_replace(qty=None, limit_price=Decimal("-1"), stop_price=None, settings=settings, crypto=False)
    rules.check_replace(qty=Decimal("5"), limit_price=Decimal("10.25"), stop_price=None, settings=settings,
                        crypto=False)
