"""orch.testing.proxy: forwards loopback bytes, black-holes open connections, dead-ends new ones."""

from __future__ import annotations

import functools

import pytest
import trio
import trio.testing

from orch.testing.proxy import LoopbackProxy


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


class Echo:
    """A target server that echoes and counts the connections it saw."""

    def __init__(self) -> None:
        self.accepted = 0
        self.closed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.accepted += 1
        try:
            async for data in stream:
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass
        self.closed.set()


async def start(nursery: trio.Nursery) -> tuple[Echo, LoopbackProxy, list]:
    echo = Echo()
    listeners = await nursery.start(functools.partial(trio.serve_tcp, echo.handle, 0, host="127.0.0.1"))
    seen: list = []
    proxy = LoopbackProxy("127.0.0.1", listeners[0].socket.getsockname()[1], on_connect=seen.append)
    await proxy.start(nursery)
    return echo, proxy, seen


async def nothing_within(stream: trio.SocketStream, seconds: float) -> bool:
    with trio.move_on_after(seconds):
        await stream.receive_some(100)
        return False
    return True


async def test_bytes_flow_both_ways(clock):
    async with trio.open_nursery() as nursery:
        echo, proxy, seen = await start(nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", proxy.port)
        await stream.send_all(b"ping")
        assert await stream.receive_some(100) == b"ping"
        assert echo.accepted == 1 and len(seen) == 1 and not seen[0].stalled
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_stalled_open_connection_is_silent_but_its_close_goes_through(clock):
    async with trio.open_nursery() as nursery:
        echo, proxy, _ = await start(nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", proxy.port)
        await stream.send_all(b"a")
        assert await stream.receive_some(100) == b"a"
        proxy.stall_open()
        await stream.send_all(b"lost")
        assert await nothing_within(stream, 60)
        fresh = await trio.open_tcp_stream("127.0.0.1", proxy.port)  # new connections still flow
        await fresh.send_all(b"b")
        assert await fresh.receive_some(100) == b"b"
        await stream.aclose()
        with trio.fail_after(5):
            await echo.closed.wait()  # the abandoned connection does not linger at the server
        proxy.resume()
        await fresh.aclose()
        nursery.cancel_scope.cancel()


async def test_a_stalled_new_connection_never_reaches_the_server(clock):
    async with trio.open_nursery() as nursery:
        echo, proxy, seen = await start(nursery)
        proxy.stall_new()
        stream = await trio.open_tcp_stream("127.0.0.1", proxy.port)  # the connect itself succeeds
        await stream.send_all(b"GET / HTTP/1.1\r\n\r\n")
        assert await nothing_within(stream, 120)
        assert echo.accepted == 0 and seen[-1].stalled
        proxy.resume()
        assert await nothing_within(stream, 10)  # a dead end stays one
        later = await trio.open_tcp_stream("127.0.0.1", proxy.port)
        await later.send_all(b"c")
        assert await later.receive_some(100) == b"c" and echo.accepted == 1
        for s in (stream, later):
            await s.aclose()
        nursery.cancel_scope.cancel()
