"""The conformance kit's one window onto a running simulator (:mod:`orch.sim`).

Everything the checks need of a simulator goes through :class:`SimulatorHandle`: where it listens and the
config section pointing at it, how many requests and stream connections it has seen (and when, on trio's
clock), its simulated time, and the faults to inject. Nothing else in :mod:`orch.testing` touches
:mod:`orch.sim`, so a change there is absorbed here.

Requests are counted by a :class:`~orch.sim.faults.Faults` subclass, because every simulator, HTTP or
socket, asks its fault plan about each request before handling it (faulted ones included). Stream
connections are counted by a thin wrapper around the simulator's own app (ASGI websocket scopes) or
connection handler (TCP). The plugin reaches the simulator through a :class:`~orch.testing.proxy.LoopbackProxy`
(the config section points at the proxy), so the kit can also stall the network path itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
import trio
from attrs import frozen

from orch.testing.proxy import LoopbackProxy

__all__ = ["Recorder", "RequestRecord", "SimulatorHandle", "start"]


@frozen
class RequestRecord:
    """One request as the simulator saw it: trio time, method and path (a message name for socket
    protocols), and the status a fault answered with (None when the simulator handled it)."""

    time: float
    method: str
    path: str
    fault_status: int | None = None


@frozen
class ConnectionRecord:
    time: float
    kind: str  # "websocket" or "tcp"
    path: str


class Recorder:
    """Everything the simulator (and the proxy in front of it) received, in order. Listeners are called
    on each new record."""

    def __init__(self) -> None:
        self.requests: list[RequestRecord] = []
        self.connections: list[ConnectionRecord] = []
        self.attempts: list[Any] = []  # every TCP connection the proxy accepted
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def request(self, method: str, path: str, status: int | None) -> None:
        self.requests.append(RequestRecord(_now(), method, path, status))
        self._notify()

    def connection(self, kind: str, path: str) -> None:
        self.connections.append(ConnectionRecord(_now(), kind, path))
        self._notify()

    def attempt(self, connection: Any) -> None:
        self.attempts.append(connection)
        self._notify()


def _now() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # a simulator thread outside any trio run: order is what matters then
        return float("nan")


def _recording_faults(recorder: Recorder, seed: int) -> Any:
    from orch.sim.faults import Faults

    class RecordingFaults(Faults):
        def before_request(self, method: str = "GET", path: str = "/") -> Any:
            decision = super().before_request(method, path)
            recorder.request(method, path, decision.status)
            return decision

    return RecordingFaults(seed=seed)


def _count_asgi(build: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    def wrapped_build(engine: Any, faults: Any) -> Any:
        app = build(engine, faults)

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "websocket":
                recorder.connection("websocket", scope.get("path", ""))
            await app(scope, receive, send)

        return counting

    return wrapped_build


def _count_tcp(make_handler: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    def wrapped(engine: Any, faults: Any) -> Any:
        handler = make_handler(engine, faults)

        async def counting(stream: Any) -> None:
            recorder.connection("tcp", "")
            await handler(stream)

        return counting

    return wrapped


class SimulatorHandle:
    """A running simulator as the conformance checks see it."""

    def __init__(self, running: Any, recorder: Recorder, proxy: LoopbackProxy) -> None:
        self._running = running
        self.recorder = recorder
        self.proxy = proxy

    # ------------------------------------------------------------------------------ where, what

    @property
    def broker(self) -> str:
        return self._running.broker

    @property
    def url(self) -> str:
        return self._running.url

    @property
    def config(self) -> dict[str, Any]:
        """A fresh copy of the broker's config section pointing at this simulator, through the proxy
        (with the simulator's keys)."""
        return copy.deepcopy(dict(self._running.spec.config_for(self._running.host, self.proxy.port)))

    @property
    def running(self) -> Any:
        """The :class:`orch.sim.runner.RunningSim` itself, for plugin-specific set-up in a subclass."""
        return self._running

    def now(self) -> datetime:
        """The simulator's calendar time (moves with trio's clock)."""
        return self._running.engine.now()

    def open_markets(self) -> None:
        """Force every trading session open, so market orders fill whatever the date."""
        self._running.engine.market.force_sessions(True)

    def quote_mid(self, symbol: str) -> Any:
        return self._running.engine.quote(symbol).mid

    def quote(self, symbol: str, broker: str, instrument: Any) -> Any:
        """The simulated market's own quote for ``symbol`` as an orch Quote (the reference price for
        brokers whose API has no quotes)."""
        return self._running.engine.quote(symbol).to_model(broker, instrument)

    # ------------------------------------------------------------------------------ counting

    def request_count(self) -> int:
        """Every request the simulator received: HTTP requests, websocket handshakes and socket
        messages, those answered by an injected fault included."""
        return len(self.recorder.requests)

    def requests_since(self, index: int) -> list[RequestRecord]:
        return self.recorder.requests[index:]

    def connection_count(self) -> int:
        """Stream connections opened so far (websocket handshakes or TCP connections)."""
        return len(self.recorder.connections)

    def connections_since(self, index: int) -> list[ConnectionRecord]:
        return self.recorder.connections[index:]

    def attempt_count(self) -> int:
        """TCP connections the plugin opened towards the simulator (REST and streams alike), counted at
        the proxy, so attempts that never got through a stalled path count too."""
        return len(self.recorder.attempts)

    def attempts_since(self, index: int) -> list[Any]:
        return self.recorder.attempts[index:]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked after every request or connection."""
        while not predicate():
            event = trio.Event()
            remove = self.recorder.on_change(event.set)
            try:
                if predicate():
                    return
                await event.wait()
            finally:
                remove()

    # ------------------------------------------------------------------------------ faults

    def inject_rate_limit(self, burst: int, retry_after: float | None = 1.0, status: int = 429) -> None:
        """The next ``burst`` requests are answered ``status`` with ``Retry-After``."""
        self._running.faults.set(rate_limit_burst=burst, retry_after=retry_after, rate_limit_status=status)

    def stall_open_connections(self) -> None:
        """Black-hole the connections open now: they stay open but nothing is forwarded either way
        (websocket pings go unanswered). New connections flow normally."""
        self.proxy.stall_open()

    def stall_new_connections(self) -> None:
        """Connections opened from now on are accepted and then hang (no handshake answer)."""
        self.proxy.stall_new()

    def resume_network(self) -> None:
        """Every stalled connection flows again."""
        self.proxy.resume()

    def silence_streams(self, silent: bool = True) -> None:
        """Stream connections stay open but the simulator sends nothing on them."""
        self._running.faults.set(ws_silent=silent)

    def drop_streams(self, after_messages: int | None) -> None:
        """Every stream connection is closed by the simulator after ``after_messages`` messages (None:
        no more drops)."""
        self._running.faults.set(ws_drop_after=after_messages)

    def fault_counters(self) -> dict[str, int]:
        return dict(self._running.faults.counters)

    def reset_faults(self) -> None:
        self._running.faults.reset()

    def stop(self) -> None:
        self._running.stop()


async def start(nursery: trio.Nursery, spec: Any, host: str = "127.0.0.1") -> SimulatorHandle:
    """Serve ``spec`` (a :class:`orch.sim.spec.SimulatorSpec`) on a free loopback port in ``nursery``,
    behind a proxy on another, with request and connection recording, every trading session forced
    open."""
    from orch.sim.runner import start_simulator

    recorder = Recorder()
    if spec.kind == "asgi":
        spec = attrs.evolve(spec, build=_count_asgi(spec.build, recorder))
    else:
        spec = attrs.evolve(spec, tcp_handler=_count_tcp(spec.tcp_handler, recorder))
    running = await start_simulator(nursery, spec, host, 0,
                                    faults=_recording_faults(recorder, spec.fault_seed))
    proxy = LoopbackProxy(running.host, running.port, on_connect=recorder.attempt)
    await proxy.start(nursery, host)
    handle = SimulatorHandle(running, recorder, proxy)
    handle.open_markets()
    return handle
