"""The simulators the order benchmarks run against, in a child process (default) or on a thread.

On a thread the simulator shares the benchmark's GIL: every request then pays a GIL hand-over each way,
and the client's own cost is lost in it. In a child process (``python bench/_sims.py BROKER``) it runs on
the other core, so a client's overhead shows. Either way the benchmark sees the same interface:
``url``, ``host``, ``port``, ``config`` (the broker's config section) and ``command(name)``, which runs a
named action on the simulator's engine (see COMMANDS) and returns its JSON-able result.

Each broker's simulator is set up for the benchmarks before it is handed out (SETUP): rate budgets
raised to 10^9 so no limiter is measured, the clock or sessions set so that DAY limit orders rest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MODES = ("process", "thread")


def _spec(broker: str) -> Any:
    if broker == "alpaca":
        from orch_alpaca.sim import SPEC
    elif broker == "binance":
        from orch_binance.sim import SPEC
    elif broker == "ibkr":
        from orch_ibkr.sim import SPEC
    else:
        raise SystemExit(f"no benchmark simulator set-up for {broker!r}")
    return SPEC


def _start_options(broker: str) -> dict[str, Any]:
    if broker == "alpaca":
        from orch.sim.clock import ALL_OPEN, SimClock

        return {"clock": SimClock(wall=ALL_OPEN)}  # an open session: DAY orders are accepted and rest
    return {}


def _setup(broker: str, engine: Any) -> None:
    if broker == "alpaca":
        from orch_alpaca.sim import AlpacaSim

        options = AlpacaSim.of(engine).options
        options.rate_limit = 10**9
        options.data_rate_limit = 10**9  # Orchestrator.place asks for a quote before each order
    elif broker == "binance":
        from orch_binance.sim import BinanceSim

        options = BinanceSim.of(engine).options
        options.weight_limit = options.orders_10s = options.orders_1d = 10**9
    elif broker == "ibkr":
        from orch_ibkr.sim import TwsState

        engine.market.force_sessions(True)
        TwsState.of(engine).max_messages_per_second = None  # TWS's 50 messages a second, like the others' limits


def _orders_created(engine: Any) -> int:
    from orch_alpaca.sim import AlpacaSim

    return AlpacaSim.of(engine).counters.orders_created


def _requests(engine: Any) -> int:
    from orch_alpaca.sim import AlpacaSim

    return sum(AlpacaSim.of(engine).counters.endpoints.values())


COMMANDS: dict[str, Callable[[Any], Any]] = {
    "cancel_all": lambda engine: len(engine.cancel_all()),  # how many resting orders there were
    "orders_created": _orders_created,  # Alpaca only
    "requests": _requests,  # Alpaca only: HTTP requests served so far
}


class BenchSim:
    """What the benchmarks use of a running simulator, wherever it runs."""

    def __init__(self, info: dict[str, Any], command: Callable[[str], Any]) -> None:
        self.host: str = info["host"]
        self.port: int = info["port"]
        self.url: str = info["url"]
        self.config: dict[str, Any] = info["config"]
        self._command = command

    def command(self, name: str) -> Any:
        return self._command(name)


@contextmanager
def simulator(broker: str, mode: str = "process") -> Iterator[BenchSim]:
    if mode == "thread":
        import trio

        from orch.sim.runner import run_simulator_in_thread

        with run_simulator_in_thread(_spec(broker), **_start_options(broker)) as running:
            running.call(_setup, broker, running.engine)
            info = {"host": running.host, "port": running.port, "url": running.url, "config": running.config}

            def command(name: str) -> Any:
                # From inside a trio run (a benchmark's) trio refuses the blocking hand-over: there a plain
                # call does, as these commands only read counters or cancel orders between batches.
                try:
                    trio.lowlevel.current_trio_token()
                except RuntimeError:
                    return running.call(COMMANDS[name], running.engine)
                return COMMANDS[name](running.engine)

            yield BenchSim(info, command)
        return
    if mode != "process":
        raise SystemExit(f"simulator mode must be one of {', '.join(MODES)}, got {mode!r}")
    process = subprocess.Popen([sys.executable, __file__, broker], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    lock = threading.Lock()

    def read_line(what: str) -> dict[str, Any]:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise SystemExit(f"{broker} simulator process ended while {what} (exit code {process.poll()})")
        return json.loads(line)

    def command(name: str) -> Any:
        with lock:
            assert process.stdin is not None
            process.stdin.write(name + "\n")
            process.stdin.flush()
            reply = read_line(f"running {name}")
        if "error" in reply:
            raise SystemExit(f"{broker} simulator: {name} failed: {reply['error']}")
        return reply["result"]

    try:
        yield BenchSim(read_line("starting"), command)
    finally:
        if process.stdin:
            process.stdin.close()  # the child stops when its stdin closes
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _serve(broker: str) -> None:
    import trio

    from orch.sim.runner import start_simulator

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            sim = await start_simulator(nursery, _spec(broker), **_start_options(broker))
            _setup(broker, sim.engine)
            print(json.dumps({"host": sim.host, "port": sim.port, "url": sim.url, "config": sim.config},
                             default=str), flush=True)
            while True:
                line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                if not line:
                    break
                name = line.strip()
                try:
                    reply = {"result": COMMANDS[name](sim.engine)}
                except Exception as exc:  # reported to the benchmark, which stops with it
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                print(json.dumps(reply), flush=True)
            nursery.cancel_scope.cancel()

    trio.run(main)


if __name__ == "__main__":
    _serve(sys.argv[1])
