"""exchangeInfo filters: parsing, Decimal rounding to step and tick, refusals naming the filter."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from orch.errors import InvalidOrder
from orch_binance import filters

BTCUSDT = json.loads((Path(__file__).parent / "fixtures" / "exchange_info_btcusdt.json").read_text())

D = Decimal


@pytest.fixture
def rules() -> filters.SymbolRules:
    return filters.parse_symbol(BTCUSDT)


def test_parse(rules):
    assert (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional) == \
        (D("0.01"), D("0.00001"), D("0.00001"), D(5))
    assert rules.market_max_qty == D(85) and rules.iceberg_parts == 10 and rules.notional_filter == "NOTIONAL"


@pytest.mark.parametrize("qty, expected", [
    ("0.123456789", "0.12345"), ("0.00001999", "0.00001"), ("0.000009", "0"), ("1", "1"), ("0.1000000", "0.1")])
def test_quantity_rounds_down_to_step_000001(rules, qty, expected):
    assert filters.round_qty(rules, D(qty)) == D(expected)


def test_rounded_quantity_prints_plainly(rules):
    assert filters.plain(filters.round_qty(rules, D("0.0100000"))) == "0.01"
    assert filters.plain(D("4.5E+4")) == "45000"


@pytest.mark.parametrize("price, buy, expected", [
    ("45000.019", True, "45000.01"), ("45000.011", False, "45000.02"), ("45000.015", None, "45000.02"),
    ("45000", True, "45000"), ("0.014", True, "0.01")])
def test_price_rounds_to_tick_001_in_the_traders_favour(rules, price, buy, expected):
    assert filters.round_price(rules, D(price), buy=buy) == D(expected)


def test_notional_just_under_the_minimum_is_refused(rules):
    qty = filters.round_qty(rules, D("0.0001"))
    price = D("49999.99")  # 0.0001 × 49999.99 = 4.999999 < 5
    with pytest.raises(InvalidOrder, match="Filter failure: NOTIONAL"):
        filters.check_notional(rules, price * qty, market=False)
    filters.check_notional(rules, D("50000.00") * qty, market=False)  # exactly 5: accepted


def test_market_notional_respects_the_apply_flags(rules):
    with pytest.raises(InvalidOrder, match="NOTIONAL"):
        filters.check_notional(rules, D("4.99"), market=True)  # applyMinToMarket
    filters.check_notional(rules, D("9000001"), market=True)  # applyMaxToMarket is false


def test_lot_size_names_the_filter(rules):
    with pytest.raises(InvalidOrder, match="Filter failure: LOT_SIZE"):
        filters.check_qty(rules, "quantity", D(0))
    with pytest.raises(InvalidOrder, match="LOT_SIZE.*stepSize"):
        filters.check_qty(rules, "quantity", D("0.000015"))
    with pytest.raises(InvalidOrder, match="MARKET_LOT_SIZE.*maxQty"):
        filters.check_qty(rules, "quantity", D(86), market=True)
    filters.check_qty(rules, "quantity", D(86))


def test_price_filter(rules):
    with pytest.raises(InvalidOrder, match="PRICE_FILTER.*tickSize"):
        filters.check_price(rules, "price", D("45000.001"))
    with pytest.raises(InvalidOrder, match="PRICE_FILTER.*maxPrice"):
        filters.check_price(rules, "price", D("1000000.01"))
    filters.check_price(rules, "price", D("45000.01"))


def test_iceberg_parts(rules):
    filters.check_iceberg(rules, D("1"), D("0.1"))
    with pytest.raises(InvalidOrder, match="ICEBERG_PARTS"):
        filters.check_iceberg(rules, D("1"), D("0.09"))


def test_legacy_min_notional_filter():
    data = {**BTCUSDT, "filters": [{"filterType": "MIN_NOTIONAL", "minNotional": "10", "applyToMarket": False}]}
    rules = filters.parse_symbol(data)
    assert rules.notional_filter == "MIN_NOTIONAL"
    with pytest.raises(InvalidOrder, match="MIN_NOTIONAL"):
        filters.check_notional(rules, D("9.99"), market=False)
    filters.check_notional(rules, D("9.99"), market=True)
