"""The shared keep-alive loop (orch.streaming) on trio's autojump clock, against in-memory websockets: a
scripted server per connection, a sans-IO session that subscribes with one frame and streams after "ok"."""

from __future__ import annotations

from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from orch.errors import AuthError
from orch.streaming import BackgroundStream, StreamPolicy, run_stream


class Dropped(Exception):
    """The server closed the connection (a transient network error for this fake)."""


class Refused(Exception):
    """The server refused the keys (fatal for this fake)."""


def classify(exc, url, broker):
    if isinstance(exc, Dropped):
        return None
    if isinstance(exc, Refused):
        return AuthError(f"{url} refused the keys", broker=broker)
    return exc


@attrs.frozen
class Output:
    send: tuple = ()
    items: tuple = ()


class Session:
    def __init__(self):
        self.ready = False

    def start(self):
        return Output(send=("subscribe",))

    def receive(self, frame):
        if frame == "ok":
            self.ready = True
            return Output()
        return Output(items=(frame,))


class FakeSocket:
    def __init__(self, answers_ping):
        self.to_client, self._inbox = trio.open_memory_channel(16)
        self.sent = []
        self.pings = 0
        self._answers_ping = answers_ping

    async def get_message(self):
        frame = await self._inbox.receive()
        if frame is None:
            raise Dropped("bye")
        return frame

    async def send_message(self, message):
        self.sent.append(message)

    async def ping(self, payload=None):
        self.pings += 1
        if not self._answers_ping:
            await trio.sleep_forever()


class FakeServer:
    """Each connection runs the next script; ``refuse`` entries fail the connect itself."""

    def __init__(self, nursery, scripts, *, answers_ping=True):
        self.nursery = nursery
        self.scripts = list(scripts)
        self.answers_ping = answers_ping
        self.sockets = []
        self.times = []

    @asynccontextmanager
    async def connect(self, url):
        self.times.append(trio.current_time())
        script = self.scripts.pop(0) if self.scripts else None
        if script is None:
            await trio.sleep_forever()
        if isinstance(script, Exception):
            raise script
        socket = FakeSocket(self.answers_ping)
        self.sockets.append(socket)
        self.nursery.start_soon(script, socket)
        yield socket


def script(*frames, drop=False):
    async def run(socket):
        for frame in frames:
            await socket.to_client.send(frame)
        if drop:
            await socket.to_client.send(None)

    return run


async def collect(scripts, count, *, policy=StreamPolicy(backoff_initial=1.0, backoff_max=8.0),
                  answers_ping=True, **kwargs):
    """Run the loop until ``count`` items arrived; return the items and the server."""
    got = []
    with trio.fail_after(3600):  # a deadlock on the autojump clock would otherwise spin forever
        async with trio.open_nursery() as nursery:
            server = FakeServer(nursery, scripts, answers_ping=answers_ping)

            async def deliver(item):
                got.append(item)
                if len(got) == count:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(lambda: run_stream("wss://feed", Session, deliver, classify=classify,
                                                  connect=server.connect, policy=policy, broker="fake",
                                                  rng=lambda: 0.0, **kwargs))
    return got, server


async def test_a_drop_reconnects_after_backoff_and_resubscribes(autojump_clock):
    resumed = []

    async def on_resume(seconds, reason, deliver):
        resumed.append((seconds, reason))
        await deliver("gap")

    got, server = await collect([script("ok", "a", drop=True), script("ok", "b")], 3, on_resume=on_resume)
    assert got == ["a", "gap", "b"]
    assert [s.sent for s in server.sockets] == [["subscribe"], ["subscribe"]]
    # rng 0 takes the low end of the jitter: half of backoff_initial.
    assert server.times[1] - server.times[0] == pytest.approx(0.5)
    assert resumed == [(pytest.approx(0.5), "Dropped: bye")]


async def test_backoff_grows_until_a_session_streams_then_resets(autojump_clock):
    scripts = [Dropped("no"), Dropped("no"), Dropped("no"), script("ok", "a", drop=True), script("ok", "b")]
    got, server = await collect(scripts, 2, policy=StreamPolicy(backoff_initial=1.0, backoff_max=8.0, stable=0.0))
    assert got == ["a", "b"]
    delays = [b - a for a, b in zip(server.times, server.times[1:])]
    assert delays == pytest.approx([0.5, 1.0, 2.0, 0.5])


async def test_a_session_dropped_right_after_it_streamed_does_not_reset_the_backoff(autojump_clock):
    # Found by tests/faults: a server closing every connection after two messages got a reconnect a second.
    scripts = [Dropped("no"), script("ok", "a", drop=True), script("ok", "b", drop=True), script("ok", "c")]
    got, server = await collect(scripts, 3)
    assert got == ["a", "b", "c"]
    delays = [b - a for a, b in zip(server.times, server.times[1:])]
    assert delays == pytest.approx([0.5, 1.0, 2.0])


async def test_a_mute_feed_is_replaced_after_its_quiet_periods_even_though_pings_are_answered(autojump_clock):
    async def mute(socket):
        await socket.to_client.send("ok")
        await trio.sleep_forever()

    policy = StreamPolicy(silence=5.0, probe=2.0, quiet_periods=2, backoff_initial=1.0)
    got, server = await collect([mute, script("ok", "a")], 1, policy=policy)
    assert got == ["a"]
    assert server.sockets[0].pings == 2
    # three silent periods (two excused by answered pings), then the backoff
    assert server.times[1] - server.times[0] == pytest.approx(3 * 5.0 + 0.5)


async def test_an_unanswered_ping_replaces_the_connection_at_once(autojump_clock):
    async def silent(socket):
        await socket.to_client.send("ok")

    policy = StreamPolicy(silence=5.0, probe=2.0, quiet_periods=3, backoff_initial=1.0)
    got, server = await collect([silent, script("ok", "a")], 1, policy=policy, answers_ping=False)
    assert got == ["a"] and server.sockets[0].pings == 1
    assert server.times[1] - server.times[0] == pytest.approx(5.0 + 2.0 + 0.5)


async def test_a_stalled_handshake_is_abandoned(autojump_clock):
    async def never_answers(socket):
        await trio.sleep_forever()

    policy = StreamPolicy(silence=100.0, handshake=15.0, backoff_initial=1.0)
    got, server = await collect([never_answers, script("ok", "a")], 1, policy=policy)
    assert got == ["a"]
    # the handshake deadline (15 s), not the much longer silence, ended the first attempt
    assert server.times[1] - server.times[0] == pytest.approx(15.0 + 0.5)
    assert server.sockets[0].pings == 0


async def test_a_fatal_error_ends_the_stream_without_reconnecting(autojump_clock):
    async def deliver(item):
        raise AssertionError(f"delivered {item!r} after a fatal error")

    async with trio.open_nursery() as nursery:
        server = FakeServer(nursery, [Refused("401"), script("ok", "a")])
        with pytest.raises(AuthError, match="refused the keys") as info:
            await run_stream("wss://feed", Session, deliver, classify=classify, connect=server.connect,
                             broker="fake", rng=lambda: 0.0)
    assert isinstance(info.value.__cause__, Refused)
    assert len(server.times) == 1


async def test_background_stream_drops_when_lossy_and_raises_a_runner_error(autojump_clock):
    async with trio.open_nursery() as nursery:
        async def burst(deliver):
            for n in range(5):
                await deliver(n)
            await trio.sleep(1)
            raise AuthError("keys revoked", broker="fake")

        stream = BackgroundStream(nursery, [burst], buffer=2, lossy=True, logger=None)
        got = []
        with pytest.raises(AuthError, match="keys revoked"):
            async for item in stream:
                got.append(item)
    # the first item goes straight to the waiting consumer, two fill the buffer, the rest are dropped
    assert got == [0, 1, 2] and stream.dropped == 2
