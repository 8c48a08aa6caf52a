"""Fixtures for the orch.sim tests: an engine on a frozen clock at a moment every session is open."""

from decimal import Decimal

import pytest

from orch.sim import ALL_OPEN, Engine, EngineConfig, MarketModel, SimClock


@pytest.fixture
def clock():
    return SimClock(wall=ALL_OPEN, frozen=True)


@pytest.fixture
def market():
    return MarketModel(seed=11)


@pytest.fixture
def engine(clock, market):
    """AAPL pinned at a mid of 100.00: bid 99.99, ask 100.01 (2 bps spread)."""
    engine = Engine("test", market=market, clock=clock, config=EngineConfig(), seed=5)
    engine.open_account("ACC1", currency="USD", cash=Decimal(100_000))
    market.set_price("AAPL", "100")
    return engine


def place(engine, **kwargs):
    """place_order with the test defaults (AAPL, buy, qty 10) filled in."""
    kwargs.setdefault("symbol", "AAPL")
    kwargs.setdefault("side", "buy")
    if "notional" not in kwargs:
        kwargs.setdefault("qty", 10)
    return engine.place_order(**kwargs)


@pytest.fixture
def order():
    return place
