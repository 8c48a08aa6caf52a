"""orch.testing.checks: each well-formedness check names every problem it finds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from orch.models import (Account, Instrument, Market, Order, OrderStatus, OrderType, Position, Quote, Side)
from orch.testing import checks

AAPL = Instrument("AAPL", Market.US_STOCKS)
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)


def quote(**changes) -> Quote:
    fields = {"broker": "x", "instrument": AAPL, "timestamp": NOW, "bid": "10", "ask": "10.01"} | changes
    return Quote(**fields)


def test_a_sane_quote_passes():
    checks.check_quote(quote(), "x", AAPL, now=NOW + timedelta(seconds=5), max_age=60)
    # Brokers spell pairs differently; the instrument still matches.
    btc = Instrument("BTC/USD", Market.CRYPTO)
    checks.check_quote(quote(instrument=Instrument("BTCUSD", Market.CRYPTO)), "x", btc, now=NOW, max_age=60)


@pytest.mark.parametrize("changes, now, problem", [
    ({"bid": "10.02"}, NOW, "bid 10.02 is above ask 10.01"),
    ({"bid": None}, NOW, "bid is missing"),
    ({"ask": "0"}, NOW, "ask must be positive"),
    ({}, NOW + timedelta(minutes=5), "stale"),
    ({}, NOW - timedelta(minutes=5), "in the future"),
    ({"broker": "y"}, NOW, "broker is 'y'"),
    ({"instrument": Instrument("MSFT", Market.US_STOCKS)}, NOW, "asked for 'AAPL'"),
])
def test_quote_problems(changes, now, problem):
    with pytest.raises(AssertionError, match=problem):
        checks.check_quote(quote(**changes), "x", AAPL, now=now, max_age=60)


def test_account_problems_are_listed_together():
    account = Account("x", " ", "dollars", cash="1", equity="-1", buying_power="0", paper=False)
    with pytest.raises(AssertionError) as info:
        checks.check_account(account, "x")
    message = str(info.value)
    for part in ("account_id is empty", "not a currency code", "equity must not be negative", "paper is not True"):
        assert part in message


def test_position_and_order_problems():
    with pytest.raises(AssertionError, match="qty is 0"):
        checks.check_position(Position("x", AAPL, qty="0"), "x")
    order = Order("x", "o1", AAPL, Side.BUY, OrderType.MARKET, OrderStatus.FILLED, "", qty="1", filled_qty="2")
    with pytest.raises(AssertionError) as info:
        checks.check_order(order, "x")
    assert "raw_status" in str(info.value) and "filled_qty 2 exceeds qty 1" in str(info.value)
    with pytest.raises(AssertionError, match="not orch.models.Account"):
        checks.check_account({"cash": 1}, "x")
