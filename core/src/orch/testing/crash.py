"""Crash runs: a process placing orders through ``Orchestrator.place()`` is SIGKILLed during submission,
then a fresh orchestrator opens the same journal, reconciles, and :mod:`orch.testing.ledger` judges.

The simulator lives in the caller's process (so it outlives the victim); the victim is
``python -m orch.testing.crash`` and patches itself (production code has no kill hooks) to stop at a
*point* and say so on stdout, where the caller kills it:

* ``after_intent``: the intent is journaled (PENDING_SUBMIT), nothing sent;
* ``in_flight``: the order request is on its way (the simulator delays it, the kill comes at a random
  moment before or after the simulator accepts it);
* ``after_answer``: the broker accepted and answered, the journal does not know yet;
* ``random``: orders are placed in a loop and the kill comes after a random delay.

Every point stops at a random one of the first orders, so earlier orders complete normally. After each
kill: no row may stay PENDING_SUBMIT/IN_FLIGHT, and the ledger must find no duplicate, lost or
mis-stated order.

Usage (inside trio, real clock)::

    async with crash_series("alpaca", tmp_path) as series:
        outcome = await series.run("after_answer", random.Random(1))
        assert outcome.report.clean
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import trio
from attrs import define, frozen

from orch.testing.ledger import LedgerReport, compare
from orch.testing.soak import VENUES, sim_orders

__all__ = ["POINTS", "CrashOutcome", "CrashSeries", "crash_series"]

POINTS = ("after_intent", "in_flight", "after_answer", "random")
CENT = Decimal("0.01")  # the price tick of the brokers crash runs use (AAPL, BTCUSDT)
IN_FLIGHT_LATENCY = 0.4  # how long the simulator holds an order request at the in_flight point


@frozen
class CrashOutcome:
    broker: str
    point: str
    killed: bool           # False: the victim finished (or failed) before the kill
    at: str                # what the victim last said ("POINT", "SENDING", "GO"...)
    report: LedgerReport
    left_uncertain: int    # rows still PENDING_SUBMIT/IN_FLIGHT after the reconcile
    rows: int


@define
class CrashSeries:
    broker: str
    running: Any
    config_data: dict[str, Any]
    journal_file: Path

    async def run(self, point: str, rng: random.Random, *, orders: int = 3) -> CrashOutcome:
        """One victim, killed at ``point`` (at a random one of its ``orders`` orders), then the check."""
        from orch.orchestrator import Orchestrator

        stop_at = rng.randint(1, orders)
        spec = {"broker": self.broker, "config": self.config_data, "journal": str(self.journal_file),
                "point": point, "stop_at": stop_at, "orders": orders if point != "random" else 10,
                "seed": rng.randrange(2**31)}
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = await trio.lowlevel.open_process([sys.executable, "-m", "orch.testing.crash", json.dumps(spec)],
                                                   stdin=-1, stdout=-1, env=env)
        lines = _Lines(process.stdout)
        killed, said = False, ""
        try:
            with trio.fail_after(60):
                said = await lines.next()
                if said != "READY":
                    raise RuntimeError(f"crash victim did not start: {said!r}")
                if point == "in_flight":
                    self.running.faults.set(latency=IN_FLIGHT_LATENCY, paths=[_order_path(self.broker)])
                await process.stdin.send_all(b"GO\n")
                said = "GO"
                if point == "random":
                    with trio.move_on_after(rng.uniform(0.0, 0.35)):
                        while said not in ("DONE", ""):
                            said = await lines.next()
                else:
                    while said not in ("POINT", "SENDING", "DONE", ""):
                        said = await lines.next()
                    if said == "SENDING":
                        await trio.sleep(rng.uniform(0.0, 2 * IN_FLIGHT_LATENCY))
                if process.returncode is None and said != "DONE":
                    process.send_signal(signal.SIGKILL)
                    killed = True
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
            self.running.faults.reset()
        if point == "in_flight":
            await trio.sleep(IN_FLIGHT_LATENCY * 2)  # a request the simulator still holds lands now
        config = _config(self.config_data)
        async with Orchestrator.open(config, journal_file=self.journal_file) as orch:
            await orch.client(self.broker)  # connecting reconciles the broker's unresolved orders
            rows = orch.journal.history(limit=1_000_000)
        uncertain = sum(1 for r in rows if r.state.value in ("pending_submit", "in_flight"))
        truth = sim_orders(self.broker, self.running)
        report = compare(truth, rows, {self.broker: len(rows)})
        # The resting orders are cancelled at the broker behind orch's back: the next reconcile records that
        # once and they are final, so each run costs a few requests (every broker limits them), not one
        # per order ever placed.
        self.running.engine.cancel_all()
        return CrashOutcome(self.broker, point, killed, said, report, uncertain, len(rows))


@contextlib.asynccontextmanager
async def crash_series(broker: str, workdir: Path) -> AsyncIterator[CrashSeries]:
    """The broker's simulator in this process (sessions open, cash topped up) and a journal path."""
    from orch.sim import SimClock, start_simulator
    from orch.simulators import session_time, simulator_spec

    async with trio.open_nursery() as nursery:
        running = await start_simulator(nursery, simulator_spec(broker), clock=SimClock(wall=session_time()))
        running.engine.market.force_sessions(True)
        running.engine.deposit(10**9, VENUES[broker].cash)
        section = {**running.config, "enabled": True, "timeout_seconds": 5}
        workdir.mkdir(parents=True, exist_ok=True)
        yield CrashSeries(broker, running, {"brokers": {broker: section}}, workdir / f"{broker}-journal.sqlite")
        nursery.cancel_scope.cancel()


def _config(data: dict[str, Any]) -> Any:
    from orch.config import config_from_data

    return config_from_data(data, source="crash", env={})


def _order_path(broker: str) -> str:
    return {"alpaca": "/v2/orders", "binance": "/api/v3/order", "trading212": "/api/v0/equity/orders"}[broker]


class _Lines:
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                line, self._buffer = self._buffer, b""
                return line.decode().strip()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()


# ------------------------------------------------------------------------------------------- victim


def _say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def _freeze() -> None:
    # Blocks the whole process (trio included) until the SIGKILL arrives.
    while True:
        time.sleep(3600)


def _victim(spec: dict[str, Any]) -> None:
    from orch.client import BrokerClient
    from orch.journal.store import Journal
    from orch.models import OrderRequest, OrderType, Side, TimeInForce
    from orch.orchestrator import Orchestrator

    point, stop_at = spec["point"], spec["stop_at"]
    seen = {"intent": 0, "send": 0, "answer": 0}

    def reached(kind: str) -> bool:
        seen[kind] += 1
        return seen[kind] == stop_at

    record_intent, record_order, place_order = Journal.record_intent, Journal.record_order, BrokerClient.place_order

    def intent_then_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        entry = record_intent(self, *args, **kwargs)
        if point == "after_intent" and reached("intent"):
            _say("POINT")
            _freeze()
        return entry

    def stop_before_recording(self: Any, coid: str, order: Any, source: str) -> Any:
        if point == "after_answer" and source == "submit" and reached("answer"):
            _say("POINT")
            _freeze()
        return record_order(self, coid, order, source)

    async def announce_sending(self: Any, request: Any) -> Any:
        if point == "in_flight" and reached("send"):
            _say("SENDING")
        return await place_order(self, request)

    Journal.record_intent = intent_then_stop  # type: ignore[method-assign]
    Journal.record_order = stop_before_recording  # type: ignore[method-assign]
    BrokerClient.place_order = announce_sending  # type: ignore[method-assign]

    broker = spec["broker"]
    venue = VENUES[broker]
    rng = random.Random(spec["seed"])

    async def main() -> None:
        async with Orchestrator.open(_config(spec["config"]), journal_file=spec["journal"]) as orch:
            client = await orch.client(broker)
            quote = await client.quote(venue.instrument)
            floor = (quote.bid / 2).quantize(CENT, rounding=ROUND_DOWN)  # rests for the whole run
            _say("READY")
            await trio.to_thread.run_sync(sys.stdin.readline)
            for _ in range(spec["orders"]):
                price = floor - CENT * rng.randint(0, 500)
                request = OrderRequest(venue.instrument, Side.BUY, qty=venue.unit * rng.randint(1, 3),
                                       type=OrderType.LIMIT, limit_price=price, time_in_force=TimeInForce.GTC)
                with contextlib.suppress(Exception):
                    await orch.place(request, broker=broker)
                _say("PLACED")
            _say("DONE")

    trio.run(main)


if __name__ == "__main__":
    _victim(json.loads(sys.argv[1]))
