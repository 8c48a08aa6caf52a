"""Orders per second against the Binance simulator: orch's Binance plugin (through BrokerClient, as the
orchestrator calls it) and the whole ``Orchestrator.place`` path next to a raw signed httpx loop and ccxt's async binance client, in the same run
against the same simulator; and stream messages decoded per second by the plugin's market-stream session
next to a bare ``json.loads`` loop over the same frames.

    .venv/bin/python bench/binance_orders.py [-n ORDERS] [-r ROUNDS] [-m MESSAGES] [--sim process|thread] [--json]

The simulator runs in a child process (``_sims.py``; ``--sim thread``: on a thread of this one); its weight and order-count limits and orch's own limiter are lifted,
so no limiter is measured. Every order is a 0.001 BTC GTC limit buy of BTCUSDT at 10000 USDT, far below
the market, so it rests; open orders are cancelled between batches. Contenders rotate round by round and
the table gives the median round's rate and its ratio to raw httpx and to ccxt. ``Orchestrator.place`` adds
routing, a reference quote, the risk checks and the journal (in a temporary directory, fresh per batch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from orch.client import BrokerClient
from orch.config import config_from_data
from orch.models import Instrument, Market, OrderRequest, OrderType, Side, TimeInForce
from orch.orchestrator import Orchestrator
from orch.plugins import load_plugin

from _sims import BenchSim, simulator  # bench/ is the script's directory
from orch_binance import signing
from orch_binance.sim import SIM_API_KEY, SIM_SECRET_KEY
from orch_binance.streams import MarketStreamSession

SYMBOL = "BTCUSDT"
PRICE = "10000"
QTY = "0.001"
WARMUP = 5
UNLIMITED = {"requests_per_minute": 1_000_000, "weight_per_minute": 100_000_000, "orders_per_second": 1_000_000}

RAW = "raw signed httpx"
CCXT = "ccxt async"
PLUGIN = "orch plugin (BrokerClient)"
PLACE = "orch Orchestrator.place"


def order_request(coid: str) -> OrderRequest:
    return OrderRequest(Instrument(SYMBOL, Market.CRYPTO, currency="USDT"), Side.BUY, qty=Decimal(QTY),
                        type=OrderType.LIMIT, limit_price=Decimal(PRICE), time_in_force=TimeInForce.GTC,
                        client_order_id=coid)


def run_plugin(running: BenchSim, n: int, prefix: str) -> float:
    async def main() -> float:
        async with trio.open_nursery() as nursery:
            loaded = load_plugin("binance")
            section = {**running.config, "rate_limits": dict(UNLIMITED)}
            config = config_from_data({"brokers": {"binance": section}}, source="<bench>", env={})
            client = BrokerClient("binance", loaded.hooks, config.brokers["binance"], loaded.info)
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


def run_raw(running: BenchSim, n: int, prefix: str) -> float:
    async def main() -> float:
        async with httpx.AsyncClient(base_url=running.url, headers={"X-MBX-APIKEY": SIM_API_KEY}) as http:
            async def post(coid: str) -> None:
                body = (f"symbol={SYMBOL}&side=BUY&type=LIMIT&timeInForce=GTC&quantity={QTY}&price={PRICE}"
                        f"&newClientOrderId={coid}&timestamp={int(time.time() * 1000)}")
                body += f"&signature={signing.signature(SIM_SECRET_KEY, '', body)}"
                response = await http.post("/api/v3/order", content=body,
                                           headers={"Content-Type": "application/x-www-form-urlencoded"})
                if response.status_code != 200:
                    raise SystemExit(f"raw httpx: POST /api/v3/order answered {response.status_code}: {response.text}")
                response.json()

            for i in range(WARMUP):
                await post(f"{prefix}-w{i}")
            start = time.perf_counter()
            for i in range(n):
                await post(f"{prefix}-{i}")
            return time.perf_counter() - start

    return trio.run(main)


def run_ccxt(running: BenchSim, n: int, prefix: str) -> float:
    import ccxt.async_support as ccxt_async

    async def main() -> float:
        exchange = ccxt_async.binance({"apiKey": SIM_API_KEY, "secret": SIM_SECRET_KEY, "enableRateLimit": False,
                                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                                   "fetchMargins": False}})
        exchange.urls["api"] = {k: running.url + urlsplit(v).path for k, v in exchange.urls["api"].items()}
        try:
            await exchange.load_markets()
            for i in range(WARMUP):
                await exchange.create_order("BTC/USDT", "limit", "buy", float(QTY), float(PRICE),
                                            {"newClientOrderId": f"{prefix}-w{i}"})
            start = time.perf_counter()
            for i in range(n):
                await exchange.create_order("BTC/USDT", "limit", "buy", float(QTY), float(PRICE),
                                            {"newClientOrderId": f"{prefix}-{i}"})
            return time.perf_counter() - start
        finally:
            await exchange.close()

    return asyncio.run(main())


def run_place(running: BenchSim, n: int, prefix: str) -> float:
    section = {**running.config, "rate_limits": dict(UNLIMITED)}
    config = config_from_data({"brokers": {"binance": section}}, source="<bench>", env={})

    async def main() -> float:
        with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
            async with Orchestrator.open(config, journal_file=Path(tmp) / "journal.sqlite3") as orch:
                await orch.client("binance")
                for i in range(WARMUP):
                    await orch.place(order_request(f"{prefix}-w{i}"), broker="binance")
                start = time.perf_counter()
                for i in range(n):
                    await orch.place(order_request(f"{prefix}-{i}"), broker="binance")
                return time.perf_counter() - start

    return trio.run(main)


CONTENDERS: list[tuple[str, Callable[[BenchSim, int, str], float]]] = [
    (RAW, run_raw), (CCXT, run_ccxt), (PLUGIN, run_plugin), (PLACE, run_place)]


def measure_orders(n: int, rounds: int, sim: str = "process") -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {label: [] for label, _ in CONTENDERS}
    with simulator("binance", sim) as running:
        for round_ in range(rounds):
            for k in range(len(CONTENDERS)):
                label, run = CONTENDERS[(k + round_) % len(CONTENDERS)]
                rates[label].append(n / run(running, n, f"b{round_}c{k}"))
                resting = running.command("cancel_all")
                if resting != n + WARMUP:
                    raise SystemExit(f"{label}: the simulator held {resting} resting orders, expected {n + WARMUP}")
    return rates


def measure_stream(messages: int, rounds: int) -> dict[str, list[float]]:
    """Frames as the simulator sends them on a combined stream: bookTicker, trade, kline in turn."""
    from stream_decode import binance_frames

    frames = binance_frames(messages)
    rates: dict[str, list[float]] = {"orch MarketStreamSession": [], "bare json.loads": []}
    for _ in range(rounds):
        session = MarketStreamSession({SYMBOL: Instrument(SYMBOL, Market.CRYPTO, currency="USDT")}, intervals=["1m"])
        session.receive('{"result":null,"id":1}')
        start = time.perf_counter()
        for frame in frames:
            session.receive(frame)
        rates["orch MarketStreamSession"].append(messages / (time.perf_counter() - start))
        start = time.perf_counter()
        for frame in frames:
            json.loads(frame, parse_float=Decimal)
        rates["bare json.loads"].append(messages / (time.perf_counter() - start))
    return rates


def order_rows(orders: dict[str, list[float]]) -> list[dict[str, Any]]:
    raw, peer = statistics.median(orders[RAW]), statistics.median(orders[CCXT])
    return [{"client": label, "orders_per_s": round(statistics.median(r), 1),
             "vs_raw_httpx": round(statistics.median(r) / raw, 2),
             "vs_ccxt": round(statistics.median(r) / peer, 2)} for label, r in orders.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--orders", type=int, default=200, help="orders per contender per round")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-m", "--messages", type=int, default=30_000, help="stream frames per round")
    parser.add_argument("--sim", choices=("process", "thread"), default="process",
                        help="where the simulator runs (a thread shares this process's GIL)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    orders = measure_orders(args.orders, args.rounds, args.sim)
    stream = measure_stream(args.messages, args.rounds)
    table = order_rows(orders)
    bare = statistics.median(stream["bare json.loads"])
    stream_rows = [{"decoder": label, "messages_per_s": round(statistics.median(r)),
                    "vs_json_loads": round(statistics.median(r) / bare, 2)} for label, r in stream.items()]
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "orders": table, "stream": stream_rows}, indent=2))
        return
    print(f"Binance simulator ({args.sim}), {args.orders} limit orders x {args.rounds} rounds (Python {sys.version.split()[0]})")
    width = max(len(r["client"]) for r in table)
    print(f"{'client'.ljust(width)}  orders/s  vs httpx  vs ccxt")
    for r in table:
        print(f"{r['client'].ljust(width)}  {r['orders_per_s']:8.1f}  {r['vs_raw_httpx']:7.2f}x  {r['vs_ccxt']:6.2f}x")
    print(f"\nstream frames decoded, {args.messages} x {args.rounds} rounds")
    for r in stream_rows:
        print(f"{r['decoder'].ljust(26)}  {r['messages_per_s']:9d}/s  {r['vs_json_loads']:5.2f}x json.loads")


if __name__ == "__main__":
    main()
