"""Rate limits (issue 11, item 2): a burst of ten times a broker's limit, sent through the user's path (an
:class:`~orch.orchestrator.Orchestrator` on a config pointing at the broker's simulator), never puts more
than the broker's limit into any window of the broker's length, counted at the simulator (each request's
trio time as the simulator received it); and no rate-limit refusal reaches the user: every call of the
burst succeeds, idempotent calls by waiting, orders by being held back before they are sent.

Every call family the broker limits is in the burst (orders, quotes, account and positions, order
lookups), all fired at once. Minute-long windows run in virtual time (trio's MockClock, autojump), which
drives the simulator, the limiter and the SQLite budget store alike. Where the broker's real limit would
need thousands of requests, the simulator's limit is lowered and the config's ``rate_limits`` set to match
(what the user would do for a smaller plan); the windows and the code paths are the same.

Each broker also gets a control: the same burst with orch's limiter opened far above the broker's limit
must make the simulator refuse requests, so each simulator enforces its limit and the count above can
fail. The shared-budget cases spend part of the broker's budget from another client first; orch learns of
it from the broker's usage headers (Alpaca's ``X-RateLimit-Remaining``, Binance's
``X-MBX-USED-WEIGHT-1M``) and still keeps every window within the limit.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from attrs import frozen, field
from trio.testing import MockClock

from orch.models import OrderRequest, OrderType, Side, TimeInForce
from orch.orchestrator import Orchestrator
from orch.resilience import RateLimiter

# The helpers sit beside this file; pytest's importlib mode does not put this directory on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from _rate_run import Outcome, accounts, burst, describe, positions  # noqa: E402
from _windows import Charge, Limit, busiest_window, over_limit  # noqa: E402


@pytest.fixture
def clock() -> MockClock:
    return MockClock(autojump_threshold=0)


def order(symbol: str, qty: str, tif: TimeInForce = TimeInForce.DAY):
    async def place(orch: Orchestrator, *_: Any) -> None:
        result = await orch.place(OrderRequest(instrument=orch.instrument(symbol), side=Side.BUY,
                                               qty=Decimal(qty), type=OrderType.MARKET, time_in_force=tif))
        assert result.outcome == "placed", result
    return place


def quote(symbol: str, broker: str):
    async def ask(orch: Orchestrator, *_: Any) -> None:
        await orch.quote(symbol, broker=broker)
    return ask


async def refresh(orch: Orchestrator, seeded: list[str]) -> None:
    await orch.refresh(seeded[0])


def list_orders(broker: str):
    async def ask(orch: Orchestrator, *_: Any) -> None:
        await orch.list_orders(broker)
    return ask


def seed_order(symbol: str, qty: str, tif: TimeInForce = TimeInForce.DAY):
    """warm_up: one order placed before the burst, for the lookups to ask about."""
    async def seed(orch: Orchestrator) -> list[str]:
        result = await orch.place(OrderRequest(instrument=orch.instrument(symbol), side=Side.BUY,
                                               qty=Decimal(qty), type=OrderType.MARKET, time_in_force=tif))
        return [result.entry.client_order_id]
    return seed


def path_is(*paths: str, method: str | None = None, units: int = 1):
    def count(record: Any) -> int:
        return units if record.path in paths and (method is None or record.method == method) else 0
    return count


def path_not(*paths: str):
    def count(record: Any) -> int:
        return 0 if record.path in paths else 1
    return count


def report(broker: str, outcome: Outcome, limits: list[Limit]) -> str:
    figures = ", ".join(f"{limit.name}: {limit.busiest(outcome.sources[limit.source]).units}/{limit.limit} per "
                        f"{limit.period:g}s" for limit in limits)
    return (f"{broker}: {len(outcome.records)} requests, burst over {outcome.elapsed:.1f}s (virtual); busiest "
            f"windows {figures}; sent {describe(outcome.records)}")


# ------------------------------------------------------------------------------------------ the checker


def test_the_window_count_catches_an_over_limit_sequence():
    """The checker itself can fail: 3 per 1 s is exceeded by four requests within one second, even
    when no fixed one-second bucket holds four, and not by the same requests spread a little more."""
    sliding = [(0.5, 1), (0.9, 1), (1.2, 1), (1.4, 1)]  # buckets [0,1) and [1,2) hold 2 each
    assert busiest_window(sliding, 1.0).units == 4
    assert busiest_window([(0.0, 1), (0.5, 1), (0.9, 1), (1.0, 1)], 1.0).units == 3  # half-open windows
    assert busiest_window([(0.0, 5), (30.0, 1), (59.9, 1), (60.0, 7)], 60.0).units == 9  # weights, [30, 90)
    assert busiest_window([], 60.0).units == 0
    limits = [Limit("per second", 3, 1.0, lambda e: 1)]
    over = over_limit(limits, {"requests": [Charge(t, 1) for t, _ in sliding]})
    assert over["per second"][0].units == 4
    assert not over_limit(limits, {"requests": [Charge(t, 1) for t in (0.0, 0.5, 0.9, 1.0, 1.5, 1.9)]})


# ------------------------------------------------------------------------------------------ brokers


@frozen
class Profile:
    """How to burst one broker. ``families(scale)``: name → (calls, call), ``scale`` times the limit of
    the budget each family draws on. ``section``: the config the burst runs with; ``open_section``: orch's
    limiter opened far above the broker's limit (the control). ``min_elapsed``: the least virtual time a
    burst of ten limits takes when the limiter spreads it."""

    broker: str
    families: Any
    limits: list[Limit]
    prepare: Any
    refusals: Any
    section: dict[str, Any] = field(factory=dict)
    open_section: dict[str, Any] = field(factory=dict)
    warm_up: Any = None
    open_up: Any = None
    lower: Any = None
    min_elapsed: float = 0.0

    async def run(self, tmp_path: Path, *, scale: int = 10, section: dict[str, Any] | None = None,
                  spend_first: Any = None, control: bool = False) -> Outcome:
        warm_up = self.warm_up
        if control and warm_up is not None:
            # Without orch's limiter even the warm-up may be refused: the burst goes ahead regardless.
            async def tolerant(orch: Orchestrator, seed: Any = warm_up) -> Any:
                try:
                    return await seed(orch)
                except Exception:
                    return ["no-such-order"]
            warm_up = tolerant
        return await burst(self.broker, tmp_path, self.families(scale),
                           section=self.section if section is None else section, prepare=self.prepare,
                           spend_first=spend_first, warm_up=warm_up, refusals=self.refusals)


# --- Alpaca: 200 trading requests a minute per key, market data apart (200 a minute on the free plan).

ALPACA_LIMIT = 20  # per minute, for trading and for market data, lowered at the simulator and in config
ALPACA_DATA = ("/v2/stocks/quotes/latest",)


def alpaca_sim(sim: Any) -> None:
    from orch_alpaca.sim import AlpacaSim

    options = AlpacaSim.of(sim.running.engine).options
    options.rate_limit = options.data_rate_limit = ALPACA_LIMIT


def alpaca_refusals(sim: Any) -> int:
    from orch_alpaca.sim import AlpacaSim

    return AlpacaSim.of(sim.running.engine).counters.rate_limited


def alpaca_families(scale: int) -> dict[str, Any]:
    # The trading calls share one budget, quotes have their own (each order asks for a reference quote).
    n = scale * ALPACA_LIMIT
    return {"orders": (n // 4, order("AAPL", "1")), "quotes": (n - n // 4, quote("AAPL", "alpaca")),
            "account": (n // 4, accounts), "positions": (n // 4, positions), "lookups": (n // 4 - 1, refresh)}


ALPACA = Profile(
    "alpaca", alpaca_families, prepare=alpaca_sim, refusals=alpaca_refusals, warm_up=seed_order("AAPL", "1"),
    limits=[Limit("trading", ALPACA_LIMIT, 60.0, path_not(*ALPACA_DATA)),
            Limit("market data", ALPACA_LIMIT, 60.0, path_is(*ALPACA_DATA))],
    section={"rate_limits": {"requests_per_minute": ALPACA_LIMIT},
             "market_data": {"requests_per_minute": ALPACA_LIMIT}},
    open_section={"rate_limits": {"requests_per_minute": 100_000},
                  "market_data": {"requests_per_minute": 100_000}},
    min_elapsed=8 * 60.0)


# --- Binance: request weight 6000 a minute per IP; orders 100 per 10 s and 200,000 a day per account.
# Lowered at the simulator only: orch adopts them from exchangeInfo's rateLimits, as from real Binance.

BINANCE_WEIGHT = 300  # per minute
BINANCE_ORDERS = 5  # per 10 s


def binance_sim(sim: Any) -> dict[str, list[Charge]]:
    """Lower the simulator's limits and meter the weight it charges (the weight of a request depends on
    its parameters, which the request records do not keep)."""
    from orch_binance.sim.state import BinanceSim

    state = BinanceSim.of(sim.running.engine)
    state.options.weight_limit, state.options.orders_10s = BINANCE_WEIGHT, BINANCE_ORDERS
    charged: list[Charge] = []
    charge = state.charge

    def metered(ip: str, weight: int) -> Any:
        charged.append(Charge(trio.current_time(), weight))
        return charge(ip, weight)

    state.charge = metered
    return {"weight": charged}


def binance_refusals(sim: Any) -> int:
    from orch_binance.sim.state import BinanceSim

    counters = BinanceSim.of(sim.running.engine).counters
    return counters["status_429"] + counters["status_418"]


def binance_families(scale: int) -> dict[str, Any]:
    # Weights: account 20, a quote 2, an order 1 (+ 2 for its reference quote), a lookup 4: about `scale`
    # minutes' worth of weight, and `scale` windows' worth of orders.
    n = scale * BINANCE_WEIGHT // 300
    return {"orders": (scale * BINANCE_ORDERS, order("BTC/USDT", "0.01", TimeInForce.GTC)),
            "quotes": (5 * n, quote("BTC/USDT", "binance")), "account": (8 * n, accounts),
            "positions": (5 * n, positions), "lookups": (3 * n, refresh)}


BINANCE = Profile(
    "binance", binance_families, prepare=binance_sim, refusals=binance_refusals,
    warm_up=seed_order("BTC/USDT", "0.01", TimeInForce.GTC),
    limits=[Limit("weight", BINANCE_WEIGHT, 60.0, lambda charge: charge.units, source="weight"),
            Limit("orders", BINANCE_ORDERS, 10.0, path_is("/api/v3/order", method="POST"))],
    open_section={"rate_limits": {"weight_per_minute": 10**6, "requests_per_minute": 10**6,
                                  "orders_per_second": 10**4}},
    min_elapsed=8 * 60.0)


# --- IBKR: TWS takes at most 50 client messages a second on a connection (error 100 past that).

IBKR_RATE = 50


def ibkr_sim(sim: Any) -> None:
    from orch_ibkr.sim.server import TwsState

    TwsState.of(sim.running.engine).max_messages_per_second = IBKR_RATE


def ibkr_refusals(sim: Any) -> int:
    from orch_ibkr.sim.server import TwsState

    return TwsState.of(sim.running.engine).counters.get("pacing_refused", 0)


def ibkr_families(scale: int) -> dict[str, Any]:
    # Messages: a quote about 3 (contract details, data type, snapshot), an order 2 and its reference
    # quote, account and positions 2 each (request and cancel): `scale` seconds' worth in all.
    n = scale * IBKR_RATE // 12
    return {"orders": (n, order("AAPL", "1")), "quotes": (n, quote("AAPL", "ibkr")), "account": (n, accounts),
            "positions": (n, positions), "lookups": (n, refresh)}


IBKR = Profile(
    "ibkr", ibkr_families, prepare=ibkr_sim, refusals=ibkr_refusals, warm_up=seed_order("AAPL", "1"),
    limits=[Limit("messages", IBKR_RATE, 1.0, lambda record: 1)],
    open_section={"rate_limits": {"requests_per_minute": 10**6, "burst_limit": 10**5}},
    min_elapsed=8.0)


# --- Trading 212: a limit per endpoint and account (1 per 5 s for the account summary, 50 a minute for
# market orders...), no quotes at all.

def t212_sim(sim: Any) -> dict[str, list[Charge]]:
    """Meter every request the simulator's per-endpoint budget counts (refused ones included)."""
    from orch_trading212.sim.state import Trading212Sim

    state = Trading212Sim.of(sim.running.engine)
    charged: list[Charge] = []
    hit = state.hit

    def metered(account: str, endpoint: str) -> Any:
        budget = hit(account, endpoint)
        charged.append(Charge(trio.current_time(), 1, endpoint))
        return budget

    state.hit = metered
    return {"endpoints": charged}


def t212_refusals(sim: Any) -> int:
    from orch_trading212.sim.state import Trading212Sim

    return Trading212Sim.of(sim.running.engine).counters.statuses.get("429", 0)


T212_MARKET_ORDERS = 5  # per minute, lowered at the simulator and in the plugin's table (the real: 50)


def t212_lower(monkeypatch: Any) -> None:
    from orch_trading212 import protocol
    from orch_trading212.sim import state

    for table in (protocol.LIMITS, state.LIMITS):
        monkeypatch.setitem(table, "place_market", (T212_MARKET_ORDERS, table["place_market"][1]))


def t212_families(scale: int) -> dict[str, Any]:
    return {"orders": (scale * T212_MARKET_ORDERS, order("AAPL", "0.5")), "account": (scale, accounts),
            "positions": (scale, positions), "list orders": (scale, list_orders("trading212")),
            "lookups": (scale, refresh)}


def endpoint_is(name: str):
    return lambda charge: 1 if charge.what == name else 0


def t212_limits() -> list[Limit]:
    from orch_trading212.sim.state import LIMITS

    return [Limit(name, T212_MARKET_ORDERS if name == "place_market" else limit, float(seconds),
                  endpoint_is(name), source="endpoints") for name, (limit, seconds) in LIMITS.items()]


def t212_open_up(monkeypatch: Any) -> None:
    from orch_trading212 import protocol

    for name, (_, period) in list(protocol.LIMITS.items()):
        monkeypatch.setitem(protocol.LIMITS, name, (10**6, period))


TRADING212 = Profile(
    "trading212", t212_families, prepare=t212_sim, refusals=t212_refusals, warm_up=seed_order("AAPL", "1"),
    limits=t212_limits(), open_up=t212_open_up, lower=t212_lower,
    open_section={"rate_limits": {"requests_per_minute": 10**6}},
    min_elapsed=8 * 60.0)


# --- XTB: at least 200 ms between commands on a connection (XTB drops it at the sixth violation in a row).

XTB_SPACING = 0.2


def xtb_refusals(sim: Any) -> int:
    # Every command closer than 200 ms to the one before (the sixth in a row closes the connection).
    from orch_xtb.sim.state import XtbSim

    return XtbSim.of(sim.running.engine).counters.spacing_violations


def xtb_families(scale: int) -> dict[str, Any]:
    # Commands: a quote 1, an order about 4 (reference quote, transaction, its status, the record), account
    # and positions 1 or 2: `scale` seconds' worth (5 a second) in all.
    n = scale * 5 // 10
    return {"orders": (n, order("EUR/USD", "1000")), "quotes": (n, quote("EUR/USD", "xtb")),
            "account": (n, accounts), "positions": (n, positions), "lookups": (n, refresh)}


def xtb_open_up(monkeypatch: Any) -> None:
    from orch_xtb import transport

    monkeypatch.setattr(transport, "SPACING", 0.0)  # the transport's own guard, behind the limiter


XTB = Profile(
    "xtb", xtb_families, prepare=lambda sim: None, refusals=xtb_refusals, warm_up=seed_order("EUR/USD", "1000"),
    open_up=xtb_open_up,
    # Commands on the command socket ("WS"); the websocket handshake itself is no command.
    limits=[Limit("spacing", 1, XTB_SPACING, lambda record: 1 if record.method == "WS" else 0)],
    open_section={"rate_limits": {"requests_per_minute": 10**6, "burst_limit": 10**5}},
    min_elapsed=8.0)


# --- DEGIRO: order requests (checkOrder, then the confirmation) closer than about 0.75 s get 429.

DEGIRO_SPACING = 0.75


def degiro_sim(sim: Any) -> None:
    from orch_degiro.sim.state import DegiroSim

    DegiroSim.of(sim.running.engine).options.order_interval = DEGIRO_SPACING  # off unless asked


def degiro_count_refusals(monkeypatch: Any) -> None:
    from orch_degiro.sim import app

    pace = app._order_pace

    def counted(sim: Any) -> Any:
        refused = pace(sim)
        if refused is not None:
            sim.counters["paced"] += 1
        return refused

    monkeypatch.setattr(app, "_order_pace", counted)


def degiro_refusals(sim: Any) -> int:
    from orch_degiro.sim.state import DegiroSim

    return DegiroSim.of(sim.running.engine).counters["paced"]


def degiro_order_request(record: Any) -> int:
    return 1 if record.method == "POST" and ("/checkOrder;" in record.path or "/v5/order/" in record.path) else 0


def degiro_families(scale: int) -> dict[str, Any]:
    # Two order requests per order: `scale` times 0.75 s of them, with the other calls all at once.
    n = scale // 2
    return {"orders": (n, order("SAP.DE", "1")), "quotes": (n, quote("SAP.DE", "degiro")),
            "account": (n, accounts), "positions": (n, positions), "lookups": (n, refresh)}


DEGIRO = Profile(
    "degiro", degiro_families, prepare=degiro_sim, refusals=degiro_refusals, warm_up=seed_order("SAP.DE", "1"),
    lower=degiro_count_refusals,
    limits=[Limit("order requests", 1, DEGIRO_SPACING, degiro_order_request)],
    open_section={"rate_limits": {"requests_per_minute": 10**6, "burst_limit": 10**5, "orders_per_second": 10**4}},
    min_elapsed=(10 - 1) * DEGIRO_SPACING)


# --- Trade Republic: no published figure. The simulator holds a connection to a subscription limit the
# test sets, and the config's budget matches it.

TR_LIMIT = 30  # subscriptions a minute


def tr_sim(sim: Any) -> None:
    from orch_trade_republic.sim.state import TradeRepublicSim

    options = TradeRepublicSim.of(sim.running.engine).options
    options.max_subscriptions, options.subscription_window = TR_LIMIT, 60.0


def tr_refusals(sim: Any) -> int:
    from orch_trade_republic.sim.state import TradeRepublicSim

    return TradeRepublicSim.of(sim.running.engine).counters.get("rate_limited", 0)


def tr_families(scale: int) -> dict[str, Any]:
    # Subscriptions: a quote 1 to 3 (search, instrument, ticker; the first two are cached), an order 2 and
    # its reference quote, account 2, positions 1 or 2, a lookup 1.
    n = scale * TR_LIMIT // 10
    return {"orders": (n // 2, order("SAP", "1")), "quotes": (n, quote("SAP", "trade_republic")),
            "account": (n, accounts), "positions": (n, positions), "lookups": (n, refresh)}


TRADE_REPUBLIC = Profile(
    "trade_republic", tr_families, prepare=tr_sim, refusals=tr_refusals, warm_up=seed_order("SAP", "1"),
    limits=[Limit("subscriptions", TR_LIMIT, 60.0, lambda record: 1 if record.method == "SUB" else 0)],
    section={"rate_limits": {"requests_per_minute": TR_LIMIT}},
    open_section={"rate_limits": {"requests_per_minute": 10**6, "burst_limit": 10**5}},
    min_elapsed=8 * 60.0)

PROFILES = {p.broker: p for p in (ALPACA, BINANCE, IBKR, TRADING212, XTB, DEGIRO, TRADE_REPUBLIC)}


@pytest.mark.parametrize("broker", sorted(PROFILES))
async def test_a_burst_of_ten_limits_never_exceeds_the_broker_limit(broker, clock, tmp_path, monkeypatch):
    profile = PROFILES[broker]
    if profile.lower is not None:
        profile.lower(monkeypatch)
    outcome = await profile.run(tmp_path)
    assert not outcome.failures(), f"{broker}: calls of the burst failed: {outcome.failures()}"
    over = over_limit(profile.limits, outcome.sources)
    assert not over, f"{broker}: over the limit {over}\n{report(broker, outcome, profile.limits)}"
    assert outcome.refusals == 0, f"{broker}: the simulator refused {outcome.refusals} requests"
    # Ten limits' worth really was sent, and the limiter had to spread it out.
    assert outcome.elapsed >= profile.min_elapsed, report(broker, outcome, profile.limits)
    print(report(broker, outcome, profile.limits))


@pytest.mark.parametrize("broker", sorted(PROFILES))
async def test_control_without_orchs_limiter_the_simulator_refuses(broker, clock, tmp_path, monkeypatch):
    """The same burst with orch's limiter opened far above the broker's limit and deaf to the broker's
    usage headers: the simulator enforces the limit itself (it refuses), and the window count sees the
    excess, so the test above can fail."""
    profile = PROFILES[broker]
    if profile.lower is not None:
        profile.lower(monkeypatch)
    monkeypatch.setattr(RateLimiter, "observe", lambda self, **kwargs: None)
    if profile.open_up is not None:
        profile.open_up(monkeypatch)
    outcome = await profile.run(tmp_path, scale=2, section=profile.open_section, control=True)
    assert outcome.refusals > 0, report(broker, outcome, profile.limits)
    assert over_limit(profile.limits, outcome.sources), report(broker, outcome, profile.limits)


# ------------------------------------------------------------------------------------------ a shared budget


async def alpaca_other_client(sim: Any, spent: int = 15) -> None:
    """Another program with the same keys spends most of the minute's trading budget first."""
    headers = {"APCA-API-KEY-ID": sim.config["api_key"], "APCA-API-SECRET-KEY": sim.config["secret_key"]}
    async with httpx.AsyncClient(base_url=sim.url) as other:
        for _ in range(spent):
            assert (await other.get("/v2/account", headers=headers)).status_code == 200


async def binance_other_client(sim: Any, spent: int = 10) -> None:
    """Another program on the same IP spends two thirds of the minute's request weight first."""
    async with httpx.AsyncClient(base_url=sim.url) as other:
        for _ in range(spent):
            assert (await other.get("/api/v3/exchangeInfo")).status_code == 200  # weight 20


SHARED = {"alpaca": alpaca_other_client, "binance": binance_other_client}


@pytest.mark.parametrize("broker", sorted(SHARED))
async def test_a_budget_partly_spent_by_another_client_is_respected(broker, clock, tmp_path):
    """orch learns the other client's usage from the broker's headers (Alpaca's X-RateLimit-Remaining,
    Binance's X-MBX-USED-WEIGHT-1M) on its first answers and fits its burst into what is left: counted at
    the simulator with the other client's requests, no window is over the limit and nothing is refused."""
    profile = PROFILES[broker]
    outcome = await profile.run(tmp_path, scale=3, spend_first=SHARED[broker])
    assert not outcome.failures(), f"{broker}: calls of the burst failed: {outcome.failures()}"
    over = over_limit(profile.limits, outcome.sources)
    assert not over, f"{broker}: over the limit {over}\n{report(broker, outcome, profile.limits)}"
    assert outcome.refusals == 0, f"{broker}: the simulator refused {outcome.refusals} requests"
    print(report(broker, outcome, profile.limits))


@pytest.mark.parametrize("broker", sorted(SHARED))
async def test_control_deaf_to_the_usage_headers_orch_would_be_refused(broker, clock, tmp_path, monkeypatch):
    """The same run with the usage figures in the headers ignored (limits are still read): orch spends its
    whole budget on top of the other client's and the simulator refuses, so the test above depends on orch
    reading the usage."""
    observe = RateLimiter.observe

    def limits_only(self: RateLimiter, *, used: Any = None, remaining: Any = None, **kwargs: Any) -> None:
        observe(self, **kwargs)

    monkeypatch.setattr(RateLimiter, "observe", limits_only)
    profile = PROFILES[broker]
    outcome = await profile.run(tmp_path, scale=1, spend_first=SHARED[broker], control=True)
    assert outcome.refusals > 0, report(broker, outcome, profile.limits)


# ------------------------------------------------------------------------------------------ the right family


async def t212_other_client(sim: Any) -> None:
    """Another program with the same key reads the account summary: Trading 212's window for it (1 per
    5 s) is spent when orch asks next."""
    from orch_trading212 import protocol
    from orch_trading212.protocol import Credentials
    from orch.secret import Secret

    auth = protocol.authorization(Credentials(Secret(sim.config["api_key"]), Secret(sim.config["secret_key"])))
    async with httpx.AsyncClient(base_url=sim.url) as other:
        answer = await other.get("/api/v0/equity/account/summary", headers={"Authorization": auth})
        assert answer.status_code == 200


async def test_a_429_on_one_trading212_endpoint_holds_back_that_endpoint_only(clock, tmp_path, monkeypatch):
    """Trading 212 limits each endpoint on its own: the 429 orch earns on the account summary (its window
    spent by another client) must not hold back positions or orders for the summary's 5 s."""
    finished: dict[str, list[float]] = {"account": [], "positions": []}

    def timed(name: str, call: Any):
        async def run(orch: Orchestrator, context: Any) -> None:
            await call(orch, context)
            finished[name].append(trio.current_time())
        return run

    started = []

    async def seed(orch: Orchestrator) -> None:
        started.append(trio.current_time())

    outcome = await burst("trading212", tmp_path, {"account": (1, timed("account", accounts)),
                                                   "positions": (3, timed("positions", positions))},
                          prepare=t212_sim, spend_first=t212_other_client, warm_up=seed, refusals=t212_refusals)
    assert not outcome.failures(), outcome.failures()
    assert outcome.refusals >= 1  # the account summary was refused once, and retried after the reset
    # Positions (1 a second) went on at their own pace, not after the summary's reset.
    assert max(finished["positions"]) - started[0] <= 3.0 + 1e-6, (started, finished)
    assert min(finished["account"]) - started[0] >= 4.0, (started, finished)
