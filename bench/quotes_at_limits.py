"""1,000 quotes across three brokers at their published rate limits, against the theoretical bound: the
shortest time those limits allow for the requests the quotes needed.

    .venv/bin/python bench/quotes_at_limits.py [-n QUOTES] [--brokers alpaca,binance,ibkr] [-c CONCURRENCY] [--json]

Everything runs in one trio run on trio's MockClock (virtual time, autojump): the three simulators on
loopback and one BrokerClient per broker connected as the orchestrator connects it (``orch.testing``'s
harness: the plugin's published limits, default retries and timeouts). A minute of rate-limit waiting
costs no wall time, and the simulators answer in zero virtual time, so the measured virtual time is what
orch's limiters, retries and timeouts make of the limits.

The quotes are split evenly between the brokers, which are asked at the same time; each broker's share
goes through CONCURRENCY callers. Before the clock starts, each client makes one quote (contract lookups,
exchange info) and then idles 61 virtual seconds so every window is empty.

The bound: every limiter charge made after the clock started is recorded (key, rules, units); replaying
them in order through orch's own budget arithmetic (``MemoryBudgetStore``) on a clock that jumps straight
to each grant gives the earliest instant the last one could have been granted, per limiter, with zero
network time. A broker's bound is the largest over its limiters (Alpaca's market data has its own); the
run's bound is the largest over brokers, as they run side by side. ``measured / bound`` of 1.00 is
perfect. Requests per quote tell whether a plugin spends more than one request on a quote.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import trio
import trio.testing

from orch.models import Instrument, Market
from orch.resilience.budget import MemoryBudgetStore, Rule
from orch.testing.harness import Harness, open_harness

INSTRUMENTS: dict[str, Instrument] = {
    "alpaca": Instrument("AAPL", Market.US_STOCKS),
    "binance": Instrument("BTC/USDT", Market.CRYPTO, currency="USDT"),
    "ibkr": Instrument("AAPL", Market.US_STOCKS),
    "xtb": Instrument("EUR/USD", Market.FOREX, currency="USD"),
}
DEFAULT_BROKERS = ("alpaca", "binance", "ibkr")
IDLE = 61.0  # longer than any window: the run starts from empty budgets


class ChargeLog:
    """Wraps a store's ``take``: every granted charge while ``on``."""

    def __init__(self, store: Any) -> None:
        self.on = False
        self.charges: list[tuple[str, list[tuple[Rule, int]]]] = []
        take = store.take

        def recording_take(key: str, charges: Sequence[tuple[Rule, int]]) -> Any:
            decision = take(key, charges)
            if decision.granted and self.on and any(units for _, units in charges):
                self.charges.append((key, list(charges)))
            return decision

        store.take = recording_take


def bound(charges: list[tuple[str, list[tuple[Rule, int]]]]) -> dict[str, float]:
    """Per limiter key: the earliest instant its last charge fits, replaying the charges in order from
    empty windows at t = 0, each as soon as every rule has room."""
    now = 0.0
    store = MemoryBudgetStore(clock=lambda: now)
    last: dict[str, float] = {}
    for key, rules in charges:
        now = last.get(key, 0.0)
        while True:
            decision = store.take(key, rules)
            if decision.granted:
                break
            now += decision.wait
        last[key] = now
    return last


async def _quotes(harness: Harness, instrument: Instrument, count: int,
                  concurrency: int) -> tuple[float, list[str]]:
    """Run ``count`` quotes through ``concurrency`` callers; returns the trio time the last one finished
    and the failures."""
    client = harness.client
    assert client is not None
    left = count
    failures: list[str] = []

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            try:
                await client.quote(instrument)
            except Exception as exc:  # counted and shown: a quote lost to a timeout is a finding
                failures.append(f"{type(exc).__name__}: {exc}")

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(caller)
    return trio.current_time(), failures


async def _run(brokers: Sequence[str], quotes: int, concurrency: int) -> dict[str, Any]:
    shares = {b: quotes // len(brokers) + (1 if i < quotes % len(brokers) else 0) for i, b in enumerate(brokers)}
    async with contextlib.AsyncExitStack() as stack:
        harnesses: dict[str, Harness] = {}
        logs: dict[str, ChargeLog] = {}
        for broker in brokers:
            harness = await stack.enter_async_context(open_harness(broker))
            if broker == "ibkr":
                harness.sim.running.engine.market.force_sessions(True)
            harnesses[broker] = harness
            logs[broker] = ChargeLog(harness.client.limiter.store)
            await harness.client.quote(INSTRUMENTS[broker])  # contract lookups and exchange info, once
        await trio.sleep(IDLE)
        before = {b: h.client.metrics() for b, h in harnesses.items()}
        for log in logs.values():
            log.on = True
        start = trio.current_time()
        finished: dict[str, float] = {}
        failed: dict[str, list[str]] = {}

        async def one(broker: str) -> None:
            end, failed[broker] = await _quotes(harnesses[broker], INSTRUMENTS[broker], shares[broker], concurrency)
            finished[broker] = end - start

        async with trio.open_nursery() as nursery:
            for broker in brokers:
                nursery.start_soon(one, broker)
        rows = []
        for broker in brokers:
            after = harnesses[broker].client.metrics()
            per_key = bound(logs[broker].charges)
            limiter = harnesses[broker].client.limiter
            names = {limiter.key: "main", **{child.key: name for name, child in limiter.budgets.items()}}
            limits = {names.get(key, key): ", ".join(f"{r.name} {r.limit}/{r.period:g}s" for r, _ in charges)
                      for key, charges in {k: c for k, c in logs[broker].charges}.items()}
            broker_bound = max(per_key.values(), default=0.0)
            failures = failed[broker]
            rows.append({"broker": broker, "quotes": shares[broker], "limits": limits,
                         "requests_per_quote": round(len(logs[broker].charges) / shares[broker], 2),
                         "bound_s": round(broker_bound, 2), "measured_s": round(finished[broker], 2),
                         "ratio": round(finished[broker] / broker_bound, 2) if broker_bound > 0 else None,
                         "retries": (after.attempts - before[broker].attempts) - (after.calls - before[broker].calls),
                         "failed": len(failures), "first_failure": failures[0] if failures else None})
    total_bound = max(r["bound_s"] for r in rows)
    total = max(r["measured_s"] for r in rows)
    return {"quotes": quotes, "brokers": list(brokers), "concurrency": concurrency, "rows": rows,
            "bound_s": total_bound, "measured_s": total,
            "ratio": round(total / total_bound, 2) if total_bound > 0 else None}


def measure(quotes: int = 1000, brokers: Sequence[str] = DEFAULT_BROKERS, concurrency: int = 1) -> dict[str, Any]:
    unknown = [b for b in brokers if b not in INSTRUMENTS]
    if unknown:
        raise SystemExit(f"no quote instrument for {', '.join(unknown)} (have {', '.join(INSTRUMENTS)})")
    wall, cpu = time.perf_counter(), time.process_time()
    result = trio.run(_run, list(brokers), quotes, concurrency, clock=trio.testing.MockClock(autojump_threshold=0))
    result["wall_s"] = round(time.perf_counter() - wall, 2)
    result["cpu_s"] = round(time.process_time() - cpu, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--quotes", type=int, default=1000)
    parser.add_argument("--brokers", default=",".join(DEFAULT_BROKERS), help="comma-separated plugin names")
    parser.add_argument("-c", "--concurrency", type=int, default=1, help="callers per broker")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = measure(args.quotes, [b.strip() for b in args.brokers.split(",") if b.strip()], args.concurrency)
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], **result}, indent=2))
        return
    print(f"{result['quotes']} quotes across {', '.join(result['brokers'])} at their published limits "
          f"({result['concurrency']} caller(s) per broker, virtual time; Python {sys.version.split()[0]})")
    print("broker    quotes  req/quote  bound s  measured s  measured/bound  retries  failed  limits")
    for r in result["rows"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        limits = "; ".join(f"{k}: {v}" for k, v in r["limits"].items())
        print(f"{r['broker']:<8}  {r['quotes']:6d}  {r['requests_per_quote']:9.2f}  {r['bound_s']:7.2f}  "
              f"{r['measured_s']:10.2f}  {ratio:>14}  {r['retries']:7d}  {r['failed']:6d}  {limits}")
    ratio = f"{result['ratio']:.2f}" if result["ratio"] is not None else "-"
    print(f"all       {result['quotes']:6d}  {'':9}  {result['bound_s']:7.2f}  {result['measured_s']:10.2f}  "
          f"{ratio:>14}")
    print(f"real time {result['wall_s']:.2f} s, CPU {result['cpu_s']:.2f} s")
    for r in result["rows"]:
        if r["first_failure"]:
            print(f"{r['broker']}: first failure: {r['first_failure']}")


if __name__ == "__main__":
    main()
