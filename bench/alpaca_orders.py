"""Orders per second against the Alpaca simulator: orch's Alpaca plugin (through BrokerClient, as the
orchestrator calls it) and the whole ``Orchestrator.place`` path next to a bare httpx loop and alpaca-py's
TradingClient, in the same run against the same simulator.

    .venv/bin/python bench/alpaca_orders.py [-n ORDERS] [-r ROUNDS] [--sim process|thread] [--json]

The simulator runs in a child process (``_sims.py``; ``--sim thread`` puts it on a thread of this process,
sharing the GIL); every contender crosses the same loopback socket. Both rate limiters are lifted
(the simulator's budget and orch's own), so the limiter is not what is measured. Every order is a
one-share DAY limit buy of MSFT at $1.00, far below the market, so it rests and the fill engine does no
work; open orders are cancelled between batches. The contenders run one after another (the order rotating
round by round), ROUNDS times, so machine noise hits them alike; the table
gives the median round's rate and its ratio to raw httpx and to alpaca-py. ``Orchestrator.place`` adds
routing, a reference quote (one more HTTP request), the risk checks and the journal (SQLite, in a
temporary directory, fresh for each batch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import trio

from orch.client import BrokerClient
from orch.config import config_from_data
from orch.models import Instrument, Market, OrderRequest, OrderType, Side, TimeInForce
from orch.orchestrator import Orchestrator
from orch.plugins import load_plugin

from _sims import BenchSim, simulator  # bench/ is the script's directory
from orch_alpaca.sim import SIM_KEY_ID, SIM_SECRET_KEY

SYMBOL = "MSFT"
LIMIT = "1.00"  # far below the market: the order rests
WARMUP = 5
UNLIMITED = {"requests_per_minute": 1_000_000, "burst_limit": 1_000_000}

RAW = "raw httpx"
SDK = "alpaca-py"
PLUGIN = "orch plugin (BrokerClient)"
PLACE = "orch Orchestrator.place"


def section(running: BenchSim) -> dict[str, Any]:
    """The ``brokers.alpaca`` config section for the simulator, orch's limiters lifted (the market-data
    API has its own budget: Orchestrator.place asks for a quote before each order)."""
    market_data = {**running.config.get("market_data", {}), "requests_per_minute": 10**9}
    return {"enabled": True, **running.config, "rate_limits": dict(UNLIMITED), "market_data": market_data}


def order_request(coid: str) -> OrderRequest:
    return OrderRequest(instrument=Instrument(SYMBOL, Market.US_STOCKS), side=Side.BUY, qty=Decimal(1),
                        type=OrderType.LIMIT, limit_price=Decimal(LIMIT), time_in_force=TimeInForce.DAY,
                        client_order_id=coid)


def order_json(coid: str) -> dict[str, str]:
    return {"symbol": SYMBOL, "qty": "1", "side": "buy", "type": "limit", "time_in_force": "day",
            "limit_price": LIMIT, "client_order_id": coid}


async def connected_client(running: BenchSim, nursery: trio.Nursery) -> BrokerClient:
    """A BrokerClient built as the orchestrator builds one (orch.testing's Harness does the same)."""
    loaded = load_plugin("alpaca")
    config = config_from_data({"brokers": {"alpaca": section(running)}}, source="<bench>", env={})
    client = BrokerClient("alpaca", loaded.hooks, config.brokers["alpaca"], loaded.info)
    await client.connect(nursery)
    return client


def _timed(n: int, prefix: str, warm: Callable[[str], Any], each: Callable[[str], Any]) -> float:
    for i in range(WARMUP):
        warm(f"{prefix}-w{i}")
    start = time.perf_counter()
    for i in range(n):
        each(f"{prefix}-{i}")
    return time.perf_counter() - start


def run_plugin(running: BenchSim, n: int, prefix: str) -> float:
    async def main() -> float:
        async with trio.open_nursery() as nursery:
            client = await connected_client(running, nursery)
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


def run_raw(running: BenchSim, n: int, prefix: str) -> float:
    headers = {"APCA-API-KEY-ID": SIM_KEY_ID, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}

    async def main() -> float:
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as http:
            async def post(coid: str) -> None:
                response = await http.post("/v2/orders", json=order_json(coid))
                if response.status_code != 200:
                    raise SystemExit(f"raw httpx: POST /v2/orders answered {response.status_code}")
                response.json()

            for i in range(WARMUP):
                await post(f"{prefix}-w{i}")
            start = time.perf_counter()
            for i in range(n):
                await post(f"{prefix}-{i}")
            return time.perf_counter() - start

    return trio.run(main)


def run_sdk(running: BenchSim, n: int, prefix: str) -> float:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide
    from alpaca.trading.enums import TimeInForce as SdkTif
    from alpaca.trading.requests import LimitOrderRequest

    trading = TradingClient(SIM_KEY_ID, SIM_SECRET_KEY, paper=True, url_override=running.url)

    def submit(coid: str) -> None:
        trading.submit_order(LimitOrderRequest(symbol=SYMBOL, qty=1, side=OrderSide.BUY, limit_price=float(LIMIT),
                                               time_in_force=SdkTif.DAY, client_order_id=coid))

    return _timed(n, prefix, submit, submit)


def run_place(running: BenchSim, n: int, prefix: str) -> float:
    config = config_from_data({"brokers": {"alpaca": section(running)}}, source="<bench>", env={})

    async def main() -> float:
        with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
            async with Orchestrator.open(config, journal_file=Path(tmp) / "journal.sqlite3") as orch:
                await orch.client("alpaca")
                for i in range(WARMUP):
                    await orch.place(order_request(f"{prefix}-w{i}"), broker="alpaca")
                start = time.perf_counter()
                for i in range(n):
                    await orch.place(order_request(f"{prefix}-{i}"), broker="alpaca")
                return time.perf_counter() - start

    return trio.run(main)


CONTENDERS: list[tuple[str, Callable[[BenchSim, int, str], float]]] = [
    (RAW, run_raw), (SDK, run_sdk), (PLUGIN, run_plugin), (PLACE, run_place)]


def cancel_all(running: BenchSim) -> None:
    """The simulator slows as resting orders pile up: each contender starts from an empty book."""
    headers = {"APCA-API-KEY-ID": SIM_KEY_ID, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    response = httpx.delete(f"{running.url}/v2/orders", headers=headers, timeout=60)
    if response.status_code not in (200, 207):
        raise SystemExit(f"DELETE /v2/orders answered {response.status_code}")


def measure(n: int, rounds: int, sim: str = "process", running: BenchSim | None = None) -> dict[str, list[float]]:
    """Orders per second by contender, one figure per round; on ``running`` if given (it must be fresh: the
    simulator's order count is checked), else on a simulator of its own."""
    if running is None:
        with simulator("alpaca", sim) as fresh:
            return measure(n, rounds, sim, fresh)
    rates: dict[str, list[float]] = {label: [] for label, _ in CONTENDERS}
    for round_ in range(rounds):
        for k in range(len(CONTENDERS)):
            label, run = CONTENDERS[(k + round_) % len(CONTENDERS)]  # rotate who goes first
            elapsed = run(running, n, f"b{round_}c{k}")
            rates[label].append(n / elapsed)
            cancel_all(running)
    placed = running.command("orders_created")
    expected = rounds * len(CONTENDERS) * (n + WARMUP)
    if placed != expected:
        raise SystemExit(f"the simulator accepted {placed} orders, expected {expected}")
    return rates


def rows(rates: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The table: median round's rate, best round, ratios to raw httpx and to alpaca-py."""
    raw, sdk = statistics.median(rates[RAW]), statistics.median(rates[SDK])
    return [{"client": label, "orders_per_s": round(statistics.median(r), 1), "best": round(max(r), 1),
             "vs_raw_httpx": round(statistics.median(r) / raw, 2),
             "vs_alpaca_py": round(statistics.median(r) / sdk, 2)} for label, r in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--orders", type=int, default=300, help="orders per contender per round")
    parser.add_argument("-r", "--rounds", type=int, default=3)
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
    print(f"Alpaca simulator ({args.sim}), {args.orders} limit orders x {args.rounds} rounds each "
          f"(Python {sys.version.split()[0]})")
    print(f"{'client'.ljust(width)}  orders/s    best  vs httpx  vs alpaca-py")
    for r in table:
        print(f"{r['client'].ljust(width)}  {r['orders_per_s']:8.1f}  {r['best']:6.1f}  {r['vs_raw_httpx']:7.2f}x"
              f"  {r['vs_alpaca_py']:11.2f}x")


if __name__ == "__main__":
    main()
