"""A loopback TCP proxy in front of a simulator: the network path the kit can stall.

Everything a plugin sends to its simulator during a conformance test goes through this proxy. Normally
it forwards bytes both ways untouched. Two faults are its own, because a simulator cannot show them: its
server answers websocket pings below the application, and it answers every handshake.

* :meth:`LoopbackProxy.stall_open` black-holes the connections open now: they stay open and every byte
  either way is dropped, pings and their answers included (a connection gone silent while connected).
  New connections flow normally.
* :meth:`LoopbackProxy.stall_new` makes connections accepted from now on dead ends: the TCP connect
  succeeds, every byte sent is dropped and nothing ever answers (a server or load balancer that accepts
  and never answers the handshake).

Closing is never black-holed: when either end of a stalled connection closes, the other end sees it, as
a server that pings its clients soon would; otherwise a simulator that allows one stream per key would
refuse every reconnection while the abandoned one lingers. :meth:`LoopbackProxy.resume` ends the stall
of open connections (bytes dropped meanwhile stay lost) and lets new connections through again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import trio
from attrs import frozen

__all__ = ["LoopbackProxy", "ProxyConnection"]

_CHUNK = 65536


@frozen
class ProxyConnection:
    """One accepted connection: when (trio time), and whether it was stalled from the start."""

    time: float
    stalled: bool


class _Gate:
    """Whether one connection's bytes may flow."""

    def __init__(self, stalled: bool) -> None:
        self._open = trio.Event()
        if not stalled:
            self._open.set()

    @property
    def stalled(self) -> bool:
        return not self._open.is_set()

    def stall(self) -> None:
        if self._open.is_set():
            self._open = trio.Event()

    def resume(self) -> None:
        self._open.set()



class LoopbackProxy:
    """``on_connect(connection)`` is called for every accepted connection."""

    def __init__(self, target_host: str, target_port: int,
                 on_connect: Callable[[ProxyConnection], None] | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.connections: list[ProxyConnection] = []
        self._on_connect = on_connect
        self._stall_new = False
        self._gates: set[_Gate] = set()

    def stall_open(self) -> None:
        """Stop forwarding on every connection open now (until :meth:`resume`)."""
        for gate in self._gates:
            gate.stall()

    def stall_new(self) -> None:
        """Connections accepted from now on hang until :meth:`resume`."""
        self._stall_new = True

    def resume(self) -> None:
        self._stall_new = False
        for gate in self._gates:
            gate.resume()

    async def start(self, nursery: trio.Nursery, host: str = "127.0.0.1") -> int:
        """Listen on a free port of ``host`` in ``nursery``; returns the port."""
        listeners = await nursery.start(functools.partial(trio.serve_tcp, self._handle, 0, host=host))
        self.port = listeners[0].socket.getsockname()[1]
        return self.port

    async def _handle(self, client: trio.SocketStream) -> None:
        gate = _Gate(self._stall_new)
        connection = ProxyConnection(trio.current_time(), gate.stalled)
        self.connections.append(connection)
        if self._on_connect is not None:
            self._on_connect(connection)
        try:
            if gate.stalled:
                await self._sink(client)
                return
            try:
                upstream = await trio.open_tcp_stream(self.target_host, self.target_port)
            except OSError:
                return
            self._gates.add(gate)
            async with upstream, trio.open_nursery() as pipe:
                pipe.start_soon(self._pump, gate, client, upstream, pipe.cancel_scope)
                pipe.start_soon(self._pump, gate, upstream, client, pipe.cancel_scope)
        finally:
            self._gates.discard(gate)
            with trio.CancelScope(shield=True):
                await client.aclose()

    @staticmethod
    async def _sink(client: trio.SocketStream) -> None:
        """A dead end: read and drop until the client gives up."""
        try:
            while await client.receive_some(_CHUNK):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    @staticmethod
    async def _pump(gate: _Gate, source: trio.SocketStream, sink: trio.SocketStream,
                    scope: trio.CancelScope) -> None:
        try:
            while True:
                data = await source.receive_some(_CHUNK)
                if not data:
                    break
                if not gate.stalled:
                    await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            # Either side closing ends the pair, as a real connection would.
            scope.cancel()
