"""What ``Orchestrator.place()`` (routing, reference quote, risk checks, journal intent and outcome) costs
over the bare plugin call ``BrokerClient.place_order`` against the same Alpaca simulator, in the same run.

    .venv/bin/python bench/place_overhead.py [-n ORDERS] [-r ROUNDS] [--sim process|thread] [--json]

One orchestrator (journal in a temporary directory) and the BrokerClient it connected: each round places
ORDERS orders through ``place()`` and ORDERS through that client's ``place_order``, alternating which goes
first. Orders are the same resting limit orders as in alpaca_orders.py, both limiters lifted. Besides the
time per order it counts the simulator's HTTP requests per order, since place() asks for a quote first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

from orch.config import config_from_data
from orch.orchestrator import Orchestrator

from _sims import BenchSim, simulator  # bench/ is the script's directory
from alpaca_orders import WARMUP, order_request, section

BARE = "BrokerClient.place_order"
PLACE = "Orchestrator.place"


def measure(running: BenchSim, n: int, rounds: int, journal_dir: Path) -> tuple[dict[str, list[float]],
                                                                                   dict[str, float]]:
    config = config_from_data({"brokers": {"alpaca": section(running)}}, source="<bench>", env={})
    seconds: dict[str, list[float]] = {BARE: [], PLACE: []}
    requests: Counter[str] = Counter()

    async def main() -> None:
        async with Orchestrator.open(config, journal_file=journal_dir / "journal.sqlite3") as orch:
            client = await orch.client("alpaca")

            async def bare(coid: str) -> None:
                await client.place_order(order_request(coid))

            async def place(coid: str) -> None:
                await orch.place(order_request(coid))

            calls = {BARE: bare, PLACE: place}
            for label, call in calls.items():
                for i in range(WARMUP):
                    await call(f"w{label[0]}{i}")
            for round_ in range(rounds):
                order = [BARE, PLACE] if round_ % 2 == 0 else [PLACE, BARE]
                for label in order:
                    before = running.command("requests")
                    start = time.perf_counter()
                    for i in range(n):
                        await calls[label](f"r{round_}{label[0]}{i}")
                    seconds[label].append(time.perf_counter() - start)
                    requests[label] += running.command("requests") - before

    trio.run(main)
    per_order = {label: requests[label] / (n * rounds) for label in seconds}
    return seconds, per_order


def rows(seconds: dict[str, list[float]], per_order: dict[str, float], n: int) -> list[dict[str, Any]]:
    """The table: time per order (median round), HTTP requests per order, ratio to the bare call."""
    bare = statistics.median(seconds[BARE])
    return [{"path": label, "ms_per_order": round(statistics.median(s) / n * 1000, 3),
             "orders_per_s": round(n / statistics.median(s), 1),
             "http_requests_per_order": round(per_order[label], 2),
             "ratio_to_bare": round(statistics.median(s) / bare, 2)} for label, s in seconds.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--orders", type=int, default=100, help="orders per path per round")
    parser.add_argument("-r", "--rounds", type=int, default=4)
    parser.add_argument("--sim", choices=("process", "thread"), default="process",
                        help="where the simulator runs (a thread shares this process's GIL)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with simulator("alpaca", args.sim) as running, tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        seconds, per_order = measure(running, args.orders, args.rounds, Path(tmp))
    table = rows(seconds, per_order, args.orders)
    if args.json:
        print(json.dumps({"orders": args.orders, "rounds": args.rounds, "python": sys.version.split()[0],
                          "rows": table}, indent=2))
        return
    width = max(len(r["path"]) for r in table)
    print(f"Alpaca simulator, {args.orders} limit orders x {args.rounds} rounds per path "
          f"(Python {sys.version.split()[0]})")
    print(f"{'path'.ljust(width)}  ms/order  orders/s  HTTP req/order  vs bare")
    for r in table:
        print(f"{r['path'].ljust(width)}  {r['ms_per_order']:8.2f}  {r['orders_per_s']:8.1f}  "
              f"{r['http_requests_per_order']:14.2f}  {r['ratio_to_bare']:6.2f}x")


if __name__ == "__main__":
    main()
