"""Serve simulators on loopback: in a trio nursery, in a thread, or in a subprocess.

* :func:`start_simulator` (async): serve a :class:`~orch.sim.spec.SimulatorSpec` in the caller's nursery.
  ASGI apps go through hypercorn's trio worker (behind :class:`~orch.sim.asgi.FaultMiddleware`), socket
  protocols through ``trio.serve_tcp``. Port 0 picks a free port; the function returns only once the
  server listens, with the actual port. A background task steps the engine every ``step_interval``
  seconds of trio time, so resting orders fill as prices move (under a MockClock, ``await trio.sleep``
  drives it).
* :func:`run_simulator_in_thread` (sync context manager): the same in a trio loop on a thread, for
  synchronous clients (alpaca-py, requests) in plain tests. ``sim.call(fn, *args)`` runs ``fn`` on the
  simulator's thread.
* :func:`run_simulator_in_subprocess` (sync context manager): a separate process (``python -m
  orch.sim.runner module:SPEC``) for clients that must not share the test's process; control it through
  ``/__sim__`` (:mod:`orch.sim.control`).

Example::

    async with trio.open_nursery() as nursery:
        sim = await start_simulator(nursery, SPEC)              # 127.0.0.1, a free port
        async with httpx.AsyncClient(base_url=sim.url) as client: ...
        sim.faults.set(error_burst=1)
        sim.stop()

    with run_simulator_in_thread(SPEC) as sim:
        alpaca_sdk_client(base_url=sim.url, ...)
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import trio
from attrs import define, field

from orch.sim.clock import SimClock
from orch.sim.engine import Engine
from orch.sim.faults import CONTROL_PREFIX, Faults
from orch.sim.market import MarketModel
from orch.sim.spec import SimulatorSpec

__all__ = ["RunningSim", "SubprocessSim", "load_spec", "run_simulator_in_subprocess",
           "run_simulator_in_thread", "start_simulator"]

log = logging.getLogger("orch.sim.runner")
_server_log = logging.getLogger("orch.sim.server")
R = TypeVar("R")


@define
class RunningSim:
    """A simulator that is listening. ``config`` is ``spec.config_for(host, port)``."""

    spec: SimulatorSpec
    engine: Engine
    faults: Faults
    host: str
    port: int
    config: dict[str, Any]
    control_url: str | None = None
    _scope: trio.CancelScope = field(repr=False, default=None)
    _token: trio.lowlevel.TrioToken = field(repr=False, default=None)

    @property
    def broker(self) -> str:
        return self.spec.broker

    @property
    def url(self) -> str:
        """``http://host:port`` for an ASGI simulator, ``tcp://host:port`` for a socket one."""
        scheme = "http" if self.spec.kind == "asgi" else "tcp"
        return f"{scheme}://{_host_for_url(self.host)}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{_host_for_url(self.host)}:{self.port}"

    def _in_our_run(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` on the simulator's trio thread and return its result (directly when already
        there). Use it from a test thread for anything that must run inside trio, e.g. subscribing."""
        if self._in_our_run():
            return fn(*args)
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        """Stop serving (safe from any thread; returns at once)."""
        if self._in_our_run():
            self._scope.cancel()
            return
        try:
            self._token.run_sync_soon(self._scope.cancel)
        except trio.RunFinishedError:
            pass


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _hypercorn_config(host: str, port: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{_host_for_url(host)}:{port}"]
    config.accesslog = None
    config.errorlog = _server_log
    config.graceful_timeout = 0.5
    # Real brokers keep idle connections for a minute or more; hypercorn's 5 s default would make tests on
    # a MockClock see idle pooled connections closed under them whenever virtual time jumps.
    config.keep_alive_timeout = 75
    # FaultMiddleware writes the Date header from the simulated clock; hypercorn's would be the wall clock.
    config.include_date_header = False
    return config


async def _serve_asgi(app: Any, host: str, port: int, *, task_status: trio.TaskStatus[int]) -> None:
    from hypercorn.trio import serve

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, _hypercorn_config(host, port)))
        task_status.started(int(binds[0].rsplit(":", 1)[1]))


def _guard(handler: Callable[[trio.SocketStream], Any], broker: str) -> Callable[[trio.SocketStream], Any]:
    """One misbehaving connection must not bring the server down (trio.serve_tcp would propagate)."""

    async def guarded(stream: trio.SocketStream) -> None:
        try:
            await handler(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("%s simulator: connection handler failed", broker)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    return guarded


async def _step_loop(engine: Engine, interval: float) -> None:
    while True:
        await trio.sleep(interval)
        try:
            engine.step()
        except Exception:
            log.exception("%s simulator: engine step failed", engine.broker)


async def start_simulator(nursery: trio.Nursery, spec: SimulatorSpec, host: str = "127.0.0.1", port: int = 0,
                          *, engine: Engine | None = None, faults: Faults | None = None,
                          clock: SimClock | None = None, market: MarketModel | None = None,
                          step_interval: float | None = None, control: bool = False) -> RunningSim:
    """Serve ``spec`` on ``host:port`` inside ``nursery``; returns once it listens.

    ``engine``/``faults``: use these instead of fresh ones from the spec. ``clock``/``market``: share one
    clock or market model between several simulators (the demo sets the time once for all).
    ``control``: for a TCP simulator, also serve the ``/__sim__`` control endpoint on a free port
    (ASGI simulators always have it under their own URL).
    """
    return await nursery.start(partial(_run, spec, host, port, engine=engine, faults=faults, clock=clock,
                                       market=market, step_interval=step_interval, control=control))


async def _run(spec: SimulatorSpec, host: str, port: int, *, engine: Engine | None, faults: Faults | None,
               clock: SimClock | None, market: MarketModel | None, step_interval: float | None,
               control: bool, task_status: trio.TaskStatus[RunningSim]) -> None:
    from orch.sim.asgi import FaultMiddleware

    engine = engine or spec.make_engine()
    if clock is not None:
        engine.clock = clock
    if market is not None:
        engine.market = market
    faults = faults or spec.make_faults()
    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                control_url = None
                if spec.kind == "asgi":
                    assert spec.build is not None
                    app = FaultMiddleware(spec.build(engine, faults), faults, engine=engine,
                                          error_response=spec.error_response)
                    actual = await nursery.start(_serve_asgi, app, host, port)
                    control_url = f"http://{_host_for_url(host)}:{actual}{CONTROL_PREFIX}"
                else:
                    assert spec.tcp_handler is not None
                    handler = _guard(spec.tcp_handler(engine, faults), spec.broker)
                    listeners = await nursery.start(partial(trio.serve_tcp, handler, port, host=host))
                    actual = listeners[0].socket.getsockname()[1]
                    if control:
                        from orch.sim.control import control_app

                        control_port = await nursery.start(_serve_asgi, control_app(engine, faults), host, 0)
                        control_url = f"http://{_host_for_url(host)}:{control_port}{CONTROL_PREFIX}"
                nursery.start_soon(_step_loop, engine, step_interval or spec.step_interval)
                running = RunningSim(spec=spec, engine=engine, faults=faults, host=host, port=actual,
                                     config=spec.config_for(host, actual), control_url=control_url,
                                     scope=scope, token=trio.lowlevel.current_trio_token())
                task_status.started(running)
    finally:
        engine.close_feeds()


# ------------------------------------------------------------------------------------------- thread


@contextmanager
def run_simulator_in_thread(spec: SimulatorSpec, host: str = "127.0.0.1", port: int = 0, *,
                            timeout: float = 10.0, **options: Any) -> Iterator[RunningSim]:
    """Run the simulator in a trio loop on a daemon thread for the duration of the ``with`` block;
    ``options`` as for :func:`start_simulator`. Leaving the block stops it and joins the thread; an error
    inside the simulator's loop is re-raised there."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue()
    failure: list[BaseException] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            sim = await start_simulator(nursery, spec, host, port, **options)
            stop = trio.Event()
            handoff.put(("ready", (sim, stop)))
            await stop.wait()
            nursery.cancel_scope.cancel()

    def target() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported to the test thread, not lost in this one
            failure.append(exc)
            handoff.put(("failed", exc))

    thread = threading.Thread(target=target, name=f"orch-sim-{spec.broker}", daemon=True)
    thread.start()
    try:
        state, payload = handoff.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"{spec.broker} simulator did not start within {timeout} s") from None
    if state == "failed":
        thread.join(timeout)
        raise RuntimeError(f"{spec.broker} simulator failed to start: {payload}") from payload
    sim, stop = payload
    try:
        yield sim
    finally:
        try:
            sim._token.run_sync_soon(stop.set)
        except trio.RunFinishedError:
            pass
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"{spec.broker} simulator thread did not stop within {timeout} s")
        if failure:
            raise RuntimeError(f"{spec.broker} simulator failed: {failure[0]}") from failure[0]


# ------------------------------------------------------------------------------------------- subprocess


def load_spec(reference: str) -> SimulatorSpec:
    """``"package.module:NAME"`` → the SimulatorSpec there (``NAME`` may also be a function returning
    one, such as a plugin's ``orch_simulator`` hook)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {reference!r}")
    target = getattr(importlib.import_module(module_name), attr)
    spec = target() if callable(target) and not isinstance(target, SimulatorSpec) else target
    if not isinstance(spec, SimulatorSpec):
        raise TypeError(f"{reference} is not a SimulatorSpec (got {type(spec).__name__})")
    return spec


@define
class SubprocessSim:
    """A simulator in another process: where it listens and how to configure a client for it."""

    broker: str
    host: str
    port: int
    url: str
    config: dict[str, Any]
    control_url: str | None
    process: subprocess.Popen = field(repr=False)


@contextmanager
def run_simulator_in_subprocess(reference: str, host: str = "127.0.0.1", port: int = 0, *,
                                timeout: float = 20.0) -> Iterator[SubprocessSim]:
    """Run ``python -m orch.sim.runner <reference>`` for the ``with`` block. The child prints one JSON
    line when it listens; closing its stdin stops it."""
    command = [sys.executable, "-m", "orch.sim.runner", reference, "--host", host, "--port", str(port),
               "--control"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = _read_line(process, timeout)
        if not line:
            raise RuntimeError(f"simulator subprocess for {reference} exited with code {process.wait(timeout)}")
        info = json.loads(line)
        yield SubprocessSim(broker=info["broker"], host=info["host"], port=info["port"], url=info["url"],
                            config=info["config"], control_url=info.get("control_url"), process=process)
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        process.kill()
        raise RuntimeError(f"simulator subprocess did not report its port within {timeout} s")
    return result[0] if result else ""


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m orch.sim.runner",
                                     description="Serve one broker simulator on loopback until stdin closes.")
    parser.add_argument("spec", help="module:attribute of a SimulatorSpec (or a function returning one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control", action="store_true", help="serve /__sim__ for TCP simulators too")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"error: cannot load simulator {args.spec}: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            sim = await start_simulator(nursery, spec, args.host, args.port, control=args.control)
            print(json.dumps({"broker": sim.broker, "host": sim.host, "port": sim.port, "url": sim.url,
                              "config": sim.config, "control_url": sim.control_url}, default=str), flush=True)
            # Closing stdin (the parent exiting or leaving its with-block) stops the simulator.
            await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
