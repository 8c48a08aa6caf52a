"""Orders per second against the fake TWS: orch's IBKR plugin (through BrokerClient, as the orchestrator
calls it) next to ib_async (the maintained ib_insync) placing the same orders, in the same run against the
same simulator.

    .venv/bin/python bench/ibkr_orders.py [-n ORDERS] [-r ROUNDS] [--sim process|thread] [--json]

The simulator runs in a child process (``_sims.py``; ``--sim thread``: on a thread of this one). Each
contender keeps one TWS connection for the whole run (its start-up sync is not measured) and places
ORDERS one-share DAY limit buys of AAPL at $1.00, which rest, waiting for each order's acknowledgement
before the next, as orch's ``place_order`` does: for ib_async, until the trade leaves PendingSubmit. Both
pacing throttles are lifted (orch's limiter, ib_async's ``MaxRequests``, the fake TWS's 50 messages a
second), so none is measured; the
engine's open orders are cancelled between batches. Contenders alternate which goes first, round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import trio

from orch.client import BrokerClient
from orch.config import config_from_data
from orch.models import Instrument, Market, OrderRequest, OrderType, Side, TimeInForce
from orch.plugins import load_plugin

from _sims import BenchSim, simulator  # bench/ is the script's directory

SYMBOL = "AAPL"
LIMIT = "1.00"  # far below the market: the order rests
WARMUP = 5
UNLIMITED = {"requests_per_minute": 10**9, "burst_limit": 10**9}

SDK = "ib_async"
PLUGIN = "orch plugin (BrokerClient)"
ACKED = ("Submitted", "PreSubmitted")


def order_request(coid: str) -> OrderRequest:
    return OrderRequest(instrument=Instrument(SYMBOL, Market.US_STOCKS), side=Side.BUY, qty=Decimal(1),
                        type=OrderType.LIMIT, limit_price=Decimal(LIMIT), time_in_force=TimeInForce.DAY,
                        client_order_id=coid)


class PluginContender:
    """orch's BrokerClient in a fresh trio run per batch."""

    def __init__(self, running: BenchSim, client_id: int) -> None:
        self.running = running
        self.client_id = client_id

    def batch(self, n: int, prefix: str) -> float:
        async def main() -> float:
            async with trio.open_nursery() as nursery:
                loaded = load_plugin("ibkr")
                section = {"enabled": True, **self.running.config, "client_id": self.client_id,
                           "rate_limits": dict(UNLIMITED)}
                config = config_from_data({"brokers": {"ibkr": section}}, source="<bench>", env={})
                client = BrokerClient("ibkr", loaded.hooks, config.brokers["ibkr"], loaded.info)
                await client.connect(nursery)
                for i in range(WARMUP):
                    await client.place_order(order_request(f"{prefix}-w{i}"))
                start = time.perf_counter()
                for i in range(n):
                    await client.place_order(order_request(f"{prefix}-{i}"))
                elapsed = time.perf_counter() - start
                await client.aclose()
                nursery.cancel_scope.cancel()
            return elapsed

        return trio.run(main)


class SdkContender:
    """ib_async's IB on a fresh asyncio loop per batch."""

    def __init__(self, running: BenchSim, client_id: int) -> None:
        self.running = running
        self.client_id = client_id

    def batch(self, n: int, prefix: str) -> float:
        import ib_async

        async def main() -> float:
            ib = ib_async.IB()
            ib.client.MaxRequests = 0  # ib_async's own 45-a-second throttle, lifted like orch's limiter
            await ib.connectAsync(self.running.host, self.running.port, clientId=self.client_id, timeout=20)
            try:
                [contract] = await ib.qualifyContractsAsync(ib_async.Stock(SYMBOL, "SMART", "USD"))

                async def place(ref: str) -> None:
                    trade = ib.placeOrder(contract, ib_async.LimitOrder("BUY", 1, float(LIMIT), orderRef=ref,
                                                                        tif="DAY"))
                    while trade.orderStatus.status not in ACKED:
                        if trade.orderStatus.status in ("Cancelled", "Inactive", "ApiCancelled"):
                            raise SystemExit(f"ib_async: order {ref} was refused: {trade.log[-1:]}")
                        await asyncio.wait_for(trade.statusEvent, 10)

                for i in range(WARMUP):
                    await place(f"{prefix}-w{i}")
                start = time.perf_counter()
                for i in range(n):
                    await place(f"{prefix}-{i}")
                return time.perf_counter() - start
            finally:
                ib.disconnect()

        return asyncio.run(main())


CONTENDERS: list[tuple[str, Callable[[BenchSim, int], Any]]] = [(SDK, SdkContender), (PLUGIN, PluginContender)]


def measure(n: int, rounds: int, sim: str = "process") -> dict[str, list[float]]:
    """Orders per second by contender, one figure per round."""
    rates: dict[str, list[float]] = {label: [] for label, _ in CONTENDERS}
    with simulator("ibkr", sim) as running:
        contenders = [(label, make(running, 11 + k)) for k, (label, make) in enumerate(CONTENDERS)]
        for round_ in range(rounds):
            for k in range(len(contenders)):
                label, contender = contenders[(k + round_) % len(contenders)]
                rates[label].append(n / contender.batch(n, f"b{round_}c{k}"))
                resting = running.command("cancel_all")
                if resting != n + WARMUP:
                    raise SystemExit(f"{label}: the simulator held {resting} resting orders, expected {n + WARMUP}")
    return rates


def rows(rates: dict[str, list[float]]) -> list[dict[str, Any]]:
    sdk = statistics.median(rates[SDK])
    return [{"client": label, "orders_per_s": round(statistics.median(r), 1), "best": round(max(r), 1),
             "vs_ib_async": round(statistics.median(r) / sdk, 2)} for label, r in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Batches of 100: the fake TWS slows as resting orders pile up (about 3x from 30 to 300 of them).
    parser.add_argument("-n", "--orders", type=int, default=100, help="orders per contender per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--sim", choices=("process", "thread"), default="process",
                        help="where the simulator runs (a thread shares this process's GIL)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    table = rows(measure(args.orders, args.rounds, args.sim))
    if args.json:
        print(json.dumps({"orders": args.orders, "rounds": args.rounds, "python": sys.version.split()[0],
                          "rows": table}, indent=2))
        return
    width = max(len(r["client"]) for r in table)
    print(f"fake TWS ({args.sim}), {args.orders} limit orders x {args.rounds} rounds each (Python {sys.version.split()[0]})")
    print(f"{'client'.ljust(width)}  orders/s    best  vs ib_async")
    for r in table:
        print(f"{r['client'].ljust(width)}  {r['orders_per_s']:8.1f}  {r['best']:6.1f}  {r['vs_ib_async']:9.2f}x")


if __name__ == "__main__":
    main()
