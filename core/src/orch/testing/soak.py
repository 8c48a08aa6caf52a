"""The soak: many orders through ``Orchestrator.place()`` across the official brokers' simulators while
their fault plans change under them, then one verdict (:mod:`orch.testing.ledger`).

Everything runs in one trio run on a :class:`trio.testing.MockClock` that jumps whenever every task waits:
rate-limit waits, retry backoffs, request timeouts (the "hang" faults) and lookups cost no wall time, yet
every limiter stays on and every simulator still counts its own limits on the same clock. The simulators
listen on loopback sockets, so each order takes the real HTTP/websocket/TCP path.

Each broker's orders are cut into episodes of a few dozen orders; each episode has a fault plan drawn from
:func:`fault_menu` (latency, 5xx bursts, 429 or 418 bursts, "order accepted but the answer is lost" in
reset and hang mode, websocket drops, a mix, or nothing). All choices come from ``random.Random(seed)``,
and every simulator's fault RNG is seeded from it, so a seed names one schedule of orders and faults
(the interleaving of concurrent orders may still differ between runs).

At the end the faults are switched off, trio time moves on so the engines fill what they will, the
orchestrator reconciles every broker, and :func:`orch.testing.ledger.compare` counts duplicates, lost and
mis-stated orders.

Usage::

    result = run(SoakOptions(orders=300, seed=7), workdir=tmp_path)
    assert result.report.clean, result.report.findings

``bench/soak.py`` is the command line; ``tests/faults/test_soak.py`` the small run in the suite.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from attrs import field, frozen

from orch.errors import OrchError
from orch.models import Instrument, Market, OrderRef, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from orch.testing.ledger import BrokerOrder, LedgerReport, compare

__all__ = ["OFFICIAL", "SoakOptions", "SoakResult", "Venue", "VENUES", "fault_menu", "run", "run_async",
           "sim_orders"]

OFFICIAL = ("alpaca", "binance", "ibkr", "trading212", "xtb")
CASH = Decimal(10) ** 10


@frozen
class Venue:
    """How the soak trades at one broker: the instrument, its simulator symbol, a quantity unit (orders
    are 1-3 units), the time in force its plugin takes, and the cash asset to top up."""

    name: str
    instrument: Instrument
    symbol: str
    unit: Decimal
    tif: TimeInForce
    cash: str


VENUES = {
    "alpaca": Venue("alpaca", Instrument("AAPL", Market.US_STOCKS, "USD"), "AAPL", Decimal(1), TimeInForce.DAY, "USD"),
    "binance": Venue("binance", Instrument("BTCUSDT", Market.CRYPTO, "USDT"), "BTCUSDT", Decimal("0.001"),
                     TimeInForce.GTC, "USDT"),
    "ibkr": Venue("ibkr", Instrument("AAPL", Market.US_STOCKS, "USD"), "AAPL", Decimal(1), TimeInForce.DAY, "USD"),
    "trading212": Venue("trading212", Instrument("AAPL", Market.US_STOCKS, "USD"), "AAPL", Decimal(1),
                        TimeInForce.DAY, "EUR"),
    "xtb": Venue("xtb", Instrument("EURUSD", Market.FOREX), "EURUSD", Decimal(1000), TimeInForce.GTC, "USD"),
}


@frozen
class SoakOptions:
    orders: int = 10_000
    seed: int = 1
    brokers: tuple[str, ...] = field(default=OFFICIAL, converter=tuple)
    concurrency: int = 4               # orders in flight at once per broker
    timeout_seconds: int = 2           # the brokers' request timeout: what a "hang" costs
    episode: tuple[int, int] = (10, 60)  # orders per fault episode (min, max)
    limit_share: float = 0.3           # resting limit orders (the rest are market orders)
    faults: bool = True
    # Seconds of trio time between engine steps (the simulators' own 0.25 s re-evaluates every resting
    # order four times a second of a run that spans hours of trio time: most of the CPU of a big soak).
    step_interval: float = 5.0


@frozen
class SoakResult:
    options: SoakOptions
    report: LedgerReport
    wall_seconds: float
    trio_seconds: float
    outcomes: dict[str, Counter[str]]       # broker -> outcome name -> count
    injected: dict[str, dict[str, int]]     # broker -> fault counter -> count
    plans: Counter[str]                     # fault episode kind -> count
    errors: dict[str, Counter[str]]         # broker -> what place() raised (ids and numbers as #) -> count
    reconcile_rounds: int = 1               # final reconcile rounds until nothing was left in flight

    def to_dict(self) -> dict[str, Any]:
        return {"orders": self.options.orders, "seed": self.options.seed,
                "wall_seconds": round(self.wall_seconds, 2), "trio_seconds": round(self.trio_seconds, 1),
                "orders_per_second": round(self.options.orders / self.wall_seconds, 1) if self.wall_seconds else None,
                **self.report.to_dict(), "outcomes": {b: dict(c) for b, c in self.outcomes.items()},
                "injected": self.injected, "episodes": dict(self.plans), "reconcile_rounds": self.reconcile_rounds,
                "errors": {b: dict(c.most_common(8)) for b, c in self.errors.items()}}


# ------------------------------------------------------------------------------------------- faults


def drops_answers(spec: Any) -> bool:
    """Whether the simulator injects "accepted but the answer is lost" (it asks
    ``Faults.after_order_accepted``); some simulators do not yet, and the soak leaves that fault out there."""
    module = inspect.getmodule(spec.build or spec.tcp_handler)
    package = importlib.import_module(module.__name__.rpartition(".")[0]) if module else None
    sources = []
    for found in pkgutil.walk_packages(getattr(package, "__path__", []), f"{package.__name__}."):
        try:
            sources.append(inspect.getsource(importlib.import_module(found.name)))
        except (OSError, TypeError):
            continue
    return any("after_order_accepted" in s for s in sources)


def fault_menu(broker: str, *, drops: bool) -> list[tuple[str, Callable[[random.Random], dict[str, Any]]]]:
    """(kind, plan maker) pairs: what an episode at ``broker`` may inject."""
    limited = (lambda r: {"rate_limit_burst": r.randint(1, 3), "retry_after": 1,
                          "rate_limit_status": r.choice((429, 418))}) if broker == "binance" else \
        (lambda r: {"rate_limit_burst": r.randint(1, 3), "retry_after": 1})
    menu: list[tuple[str, Callable[[random.Random], dict[str, Any]]]] = [
        ("none", lambda r: {}),
        ("latency", lambda r: {"latency": 0.05, "latency_jitter": r.uniform(0.1, 1.5)}),
        ("5xx_burst", lambda r: {"error_burst": r.randint(1, 4), "error_status": r.choice((500, 502, 503, 504))}),
        ("5xx_rate", lambda r: {"error_rate": r.uniform(0.05, 0.2)}),
        ("429_burst" if broker != "binance" else "429_418_burst", limited),
        ("ws_drop", lambda r: {"ws_drop_rate": r.uniform(0.05, 0.3)}),
    ]
    if drops:
        menu += [
            ("drop_reset", lambda r: {"drop_after_accept_burst": r.randint(1, 3), "drop_mode": "reset"}),
            ("drop_reset_rate", lambda r: {"drop_after_accept_rate": r.uniform(0.1, 0.3), "drop_mode": "reset"}),
            ("drop_hang", lambda r: {"drop_after_accept_burst": 1, "drop_mode": "hang"}),
            ("mixed", lambda r: {"latency_jitter": 0.5, "error_rate": 0.05, "rate_limit_rate": 0.05,
                                 "drop_after_accept_rate": 0.1, "ws_drop_rate": 0.05,
                                 "drop_mode": r.choice(("reset", "hang"))}),
        ]
    else:
        menu.append(("mixed", lambda r: {"latency_jitter": 0.5, "error_rate": 0.05, "rate_limit_rate": 0.05,
                                         "ws_drop_rate": 0.05}))
    return menu


def _episodes(rng: random.Random, count: int, menu: list, options: SoakOptions) -> list[tuple[str, dict, int]]:
    episodes, left = [], count
    while left > 0:
        size = min(left, rng.randint(*options.episode))
        kind, make = rng.choice(menu) if options.faults else ("none", lambda r: {})
        episodes.append((kind, make(rng), size))
        left -= size
    return episodes


# ------------------------------------------------------------------------------------------- truth


def sim_orders(broker: str, running: Any) -> list[BrokerOrder]:
    """Every order ``running`` (a :class:`orch.sim.RunningSim`) holds, as the plugin names it."""
    engine = running.engine
    if broker == "xtb":
        return _xtb_orders(engine)
    found = []
    for order in engine.orders(None, status="all"):
        if order.parent_id is not None:
            continue
        order_id = order.id
        if broker == "ibkr":
            order_id = order.id.rsplit("-", 1)[-1]  # the engine's "<client id>-<order id>"; orch sees orderId
        status = order.status
        if broker == "trading212":
            order_id = str(order.seq)
            if status is OrderStatus.EXPIRED:
                status = OrderStatus.CANCELED  # Trading 212 has no "expired": its wire says CANCELLED
        found.append(BrokerOrder(broker, order_id, order.client_order_id, status, order.filled_qty,
                                 order.side, order.qty))
    return found


def _xtb_orders(engine: Any) -> list[BrokerOrder]:
    from orch_xtb.sim import XtbSim

    sim = XtbSim.of(engine)
    found = []
    for trade in [*sim.trades.values(), *sim.closed.values()]:
        if trade.closed and trade.order != trade.position:
            continue  # a closing record; the soak only opens
        units = trade.volume * sim.symbol(trade.symbol).contract_size
        if trade.pending:
            status, filled = (OrderStatus.CANCELED if trade.closed else OrderStatus.ACCEPTED), Decimal(0)
        else:
            status, filled = OrderStatus.FILLED, units
        found.append(BrokerOrder("xtb", str(trade.order), trade.custom_comment or None, status, filled,
                                 Side.BUY if trade.buy else Side.SELL, units))
    return found


# ------------------------------------------------------------------------------------------- run


def run(options: SoakOptions, workdir: Path) -> SoakResult:
    """Run the soak in a fresh trio run on an autojumping MockClock."""
    return trio.run(run_async, options, workdir, clock=trio.testing.MockClock(autojump_threshold=0))


async def run_async(options: SoakOptions, workdir: Path) -> SoakResult:
    """Run the soak in the current trio run (give it an autojumping MockClock, or it takes real time)."""
    from orch.config import config_from_data
    from orch.orchestrator import Orchestrator
    from orch.resilience.budget import MemoryBudgetStore
    from orch.sim import start_simulator
    from orch.simulators import simulator_spec

    started, trio_started = time.perf_counter(), trio.current_time()
    rng = random.Random(options.seed)
    brokers = [b for b in OFFICIAL if b in options.brokers] + [b for b in options.brokers if b not in OFFICIAL]
    shares = _split(options.orders, brokers)
    outcomes: dict[str, Counter[str]] = {b: Counter() for b in brokers}
    plans: Counter[str] = Counter()
    errors: dict[str, Counter[str]] = {b: Counter() for b in brokers}
    calls: Counter[str] = Counter()
    async with trio.open_nursery() as nursery:
        sims, sections, plan_of = {}, {}, {}
        for broker in brokers:
            spec = simulator_spec(broker)
            spec = attrs.evolve(spec, fault_seed=rng.randrange(2**31)) if hasattr(spec, "fault_seed") else spec
            running = await start_simulator(nursery, spec, step_interval=options.step_interval)
            running.engine.market.force_sessions(True)
            running.engine.deposit(CASH, VENUES[broker].cash)
            sims[broker] = running
            sections[broker] = {**running.config, "enabled": True, "timeout_seconds": options.timeout_seconds}
            plan_of[broker] = _episodes(rng, shares[broker], fault_menu(broker, drops=drops_answers(spec)), options)
        config = config_from_data({"brokers": sections}, source="soak", env={})
        requests = {b: _requests(rng, VENUES[b], sims[b], shares[b], options) for b in brokers}
        # The in-memory budget runs on trio's clock (the SQLite one shares the system clock between
        # processes, which a MockClock does not move).
        async with Orchestrator.open(config, journal_file=workdir / "journal.sqlite",
                                     budget_store=MemoryBudgetStore()) as orch:
            for broker in brokers:
                await orch.client(broker)
            async with trio.open_nursery() as soak:
                for broker in brokers:
                    soak.start_soon(_drive, orch, broker, sims[broker], requests[broker], plan_of[broker],
                                    options, outcomes[broker], plans, calls, errors[broker])
            for running in sims.values():
                running.faults.reset()
            await trio.sleep(10)  # the engines fill what they will
            rounds = await _final_reconcile(orch, brokers, errors)
            truth = [o for b in brokers for o in sim_orders(b, sims[b])]
            rows = orch.journal.history(limit=10 * options.orders + 10)
            report = compare(truth, rows, calls)
        injected = {b: {k: v for k, v in sims[b].faults.counters.items() if k not in ("requests", "ws_messages")}
                    for b in brokers}
        nursery.cancel_scope.cancel()
    return SoakResult(options, report, time.perf_counter() - started, trio.current_time() - trio_started,
                      outcomes, injected, plans, errors, rounds)


def _split(total: int, brokers: list[str]) -> dict[str, int]:
    base, extra = divmod(total, len(brokers))
    return {b: base + (1 if i < extra else 0) for i, b in enumerate(brokers)}


def _requests(rng: random.Random, venue: Venue, running: Any, count: int, options: SoakOptions) -> list[OrderRequest]:
    quote = running.engine.quote(venue.symbol)
    tick = running.engine.market.info(venue.symbol).tick_size
    # Half the bid, a random number of ticks apart: rests for the whole run and is told apart by price.
    floor = (quote.bid / 2).quantize(tick, rounding=ROUND_DOWN)
    requests = []
    for _ in range(count):
        qty = venue.unit * rng.randint(1, 3)
        if rng.random() < options.limit_share:
            price = floor - tick * rng.randint(0, 5000)
            # GTC: the run spans hours of trio time, and a DAY order expiring mid-run proves nothing.
            requests.append(OrderRequest(venue.instrument, Side.BUY, qty=qty, type=OrderType.LIMIT, limit_price=price,
                                         time_in_force=TimeInForce.GTC))
        else:
            requests.append(OrderRequest(venue.instrument, Side.BUY, qty=qty, type=OrderType.MARKET,
                                         time_in_force=venue.tif))
    return requests


async def _final_reconcile(orch: Any, brokers: list[str], errors: dict[str, Counter[str]], rounds: int = 3) -> int:
    """Reconcile every broker as a restart would, once its circuit may be probed again. A broker that could
    not be asked (its reconnect still under way) gets another round after a pause, as the next start
    would; returns how many rounds it took."""
    from orch.journal.model import JournalState

    uncertain = (JournalState.PENDING_SUBMIT, JournalState.IN_FLIGHT)
    for attempt in range(1, rounds + 1):
        for broker in brokers:
            await _back_off(orch, broker, pause=0)
            await orch.reconcile(broker)
        left = [e for e in orch.journal.unresolved() if e.state in uncertain]
        if not left:
            return attempt
        await trio.sleep(30)
    for entry in left[:5]:  # why: what the broker says when asked once more
        client = orch.clients().get(entry.broker)
        try:
            found = await client.get_order(OrderRef(client_order_id=entry.client_order_id,
                                                    instrument=entry.request.instrument)) if client else "no client"
            errors[entry.broker][f"left in flight; asked again: {found!r:.100}"] += 1
        except OrchError as exc:
            errors[entry.broker][f"left in flight; asking again: {type(exc).__name__}: {exc}"[:160]] += 1
    return rounds


async def _back_off(orch: Any, broker: str, pause: float = 1) -> None:
    """What a careful caller does after a failure: wait a moment, and for an open circuit until it may
    probe again (placing into an open circuit only collects refusals)."""
    await trio.sleep(pause)
    client = orch.clients().get(broker)
    while client is not None and client.breaker.state.value == "open":
        await trio.sleep(5)


async def _drive(orch: Any, broker: str, running: Any, requests: list[OrderRequest], episodes: list,
                 options: SoakOptions, outcomes: Counter[str], plans: Counter[str], calls: Counter[str],
                 errors: Counter[str]) -> None:
    """Place ``requests`` at ``broker``, ``options.concurrency`` at a time, switching the fault plan at each
    episode's first order."""
    starts = {}
    index = 0
    for kind, plan, size in episodes:
        starts[index] = (kind, plan)
        index += size
    queue = iter(enumerate(requests))

    async def worker() -> None:
        for i, request in queue:
            if i in starts:
                kind, plan = starts[i]
                running.faults.reset()
                if plan:
                    running.faults.set(**plan)
                plans[kind] += 1
            calls[broker] += 1
            try:
                result = await orch.place(request, broker=broker)
                outcomes[result.outcome] += 1
            except OrchError as exc:
                outcomes[type(exc).__name__] += 1
                await _back_off(orch, broker)
                errors[re.sub(r"orch-[0-9a-z]+|\d+(\.\d+)?", "#", f"{type(exc).__name__}: {exc}")[:120]] += 1

    async with trio.open_nursery() as nursery:
        for _ in range(options.concurrency):
            nursery.start_soon(worker)

