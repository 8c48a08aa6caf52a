"""The Trading 212 simulator's own state: the instruments it lists (Trading 212 tickers mapped onto
:mod:`orch.sim` symbols), its API keys, and the per-account, per-endpoint rate limits with their
``x-ratelimit-*`` headers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import trio
from attrs import define, field, frozen

from orch.sim.engine import Engine
from orch.sim.faults import Faults

SIM_ACCOUNT = "21200001"
SIM_KEY = "T212SIMKEY0001"
SIM_SECRET = "t212-sim-secret-0001"

# Per-account limits: endpoint -> (requests, seconds), as Trading 212 publishes them.
LIMITS: dict[str, tuple[int, int]] = {
    "account_summary": (1, 5), "account_cash": (1, 2), "account_info": (1, 30), "portfolio": (1, 5),
    "portfolio_ticker": (1, 1), "portfolio_search": (1, 1),
    "positions": (1, 1), "orders": (1, 5), "order": (1, 1), "cancel": (50, 60), "place_market": (50, 60),
    "place_limit": (1, 2), "place_stop": (1, 2), "place_stop_limit": (1, 2), "instruments": (1, 50),
    "exchanges": (1, 30), "history_orders": (6, 60), "history_dividends": (6, 60),
    "history_transactions": (6, 60),
}


@frozen
class Listing:
    """One tradable instrument: its Trading 212 ticker, the engine's symbol, and metadata fields."""

    ticker: str
    symbol: str
    type: str
    schedule_id: int
    short_name: str


# (ticker, engine symbol, type, working schedule id)
LISTINGS: tuple[Listing, ...] = tuple(Listing(t, s, k, w, s.split(".")[0]) for t, s, k, w in (
    ("AAPL_US_EQ", "AAPL", "STOCK", 53), ("MSFT_US_EQ", "MSFT", "STOCK", 53), ("TSLA_US_EQ", "TSLA", "STOCK", 53),
    ("NVDA_US_EQ", "NVDA", "STOCK", 53), ("AMZN_US_EQ", "AMZN", "STOCK", 53), ("SPY_US_EQ", "SPY", "ETF", 53),
    ("VUSAl_EQ", "VUSA.L", "ETF", 71), ("VODl_EQ", "VOD.L", "STOCK", 71), ("HSBAl_EQ", "HSBA.L", "STOCK", 71),
    ("SAPd_EQ", "SAP.DE", "STOCK", 81), ("SIEd_EQ", "SIE.DE", "STOCK", 81), ("SXR8d_EQ", "SXR8.DE", "ETF", 81),
    ("ASML_NL_EQ", "ASML.AS", "STOCK", 91), ("AIRp_EQ", "AIR.PA", "STOCK", 91),
))

# schedule id -> (exchange id, exchange name, orch.sim session name)
SCHEDULES: dict[int, tuple[int, str, str]] = {53: (1, "NASDAQ", "US"), 71: (2, "London Stock Exchange", "LSE"),
                                              81: (3, "Deutsche Börse Xetra", "XETRA"),
                                              91: (4, "Euronext", "EURONEXT")}


@define
class Options:
    """``enforce_limits``: answer 429 past an endpoint's limit; ``limit_scale`` shrinks every window
    (0.01 makes 5 s 50 ms, for wall-clock tests); ``error_style``: ``rfc7807`` (current) or ``legacy``
    (``{code, clarification}``)."""

    enforce_limits: bool = True
    limit_scale: float = 1.0
    error_style: str = "rfc7807"


@define
class Window:
    start: float
    used: int


@define
class Budget:
    allowed: bool
    limit: int
    period: float
    used: int
    reset: float

    def headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-period": f"{self.period:g}",
                "x-ratelimit-remaining": str(max(0, self.limit - self.used)),
                "x-ratelimit-reset": str(math.ceil(self.reset)), "x-ratelimit-used": str(self.used)}


@define
class Counters:
    requests: int = 0
    orders_created: int = 0
    by_endpoint: dict[str, int] = field(factory=dict)
    statuses: dict[str, int] = field(factory=dict)


class Trading212Sim:
    """What the routes share. ``keys`` maps API key -> (secret, account id)."""

    def __init__(self, engine: Engine, faults: Faults, *, options: Options | None = None,
                 keys: dict[str, tuple[str, str]] | None = None, epoch: Callable[[], float] | None = None) -> None:
        self.engine = engine
        # By default the simulated clock, the one the Date header and order timestamps come from.
        self.epoch = epoch or (lambda: engine.now().timestamp())
        self.faults = faults
        self.options = options or Options()
        self.keys = keys or {SIM_KEY: (SIM_SECRET, SIM_ACCOUNT)}
        self.by_ticker = {listing.ticker: listing for listing in LISTINGS}
        self.counters = Counters()
        self._windows: dict[tuple[str, str], Window] = {}
        self.ids: dict[int, str] = {}  # Trading 212 integer id -> engine order id
        self.added_on = "2018-01-01T00:00:00.000Z"

    @staticmethod
    def of(engine: Engine) -> Trading212Sim:
        return engine._trading212_sim  # type: ignore[attr-defined]

    def hit(self, account: str, endpoint: str) -> Budget:
        """Count one request of ``account`` to ``endpoint``. Windows run on trio's clock (a MockClock drives
        them); ``x-ratelimit-reset`` is the window's end in epoch seconds of ``epoch()``, the clock of the
        server's ``Date`` header, so a client subtracting the two gets the true wait. A refused request is
        not counted (the burst model: the window's quota, then nothing until it resets)."""
        limit, seconds = LIMITS[endpoint]
        period = seconds * self.options.limit_scale
        now = trio.current_time()
        key = (account, endpoint)
        window = self._windows.get(key)
        if window is None or now >= window.start + period:
            window = self._windows[key] = Window(now, 0)
        allowed = window.used < limit or not self.options.enforce_limits
        if allowed:
            window.used += 1
        left = max(0.0, window.start + period - now)
        return Budget(allowed, limit, float(seconds), window.used, self.epoch() + left)

    def snapshot(self) -> dict[str, Any]:
        return {"counters": {"requests": self.counters.requests, "orders_created": self.counters.orders_created,
                             "by_endpoint": dict(self.counters.by_endpoint),
                             "statuses": dict(self.counters.statuses)},
                "options": {"enforce_limits": self.options.enforce_limits,
                            "limit_scale": self.options.limit_scale, "error_style": self.options.error_style}}
