"""The quote-stream half of :class:`~orch.testing.conformance.BrokerConformance`: a stream must survive
a silent connection, a mute feed, a handshake that is never answered and repeated drops, reconnecting
with backoff and never in a storm. Faults come from the simulator (mute feed, drops) and from the kit's
proxy in front of it (silent connections, dead-end handshakes); connections are counted at both.

Mixed into BrokerConformance, which supplies ``broker``, ``trade_instrument``, ``quote_max_age`` and
the fixtures. Every test is skipped when the plugin declares no ``stream_quotes``.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, ClassVar

import pytest
import trio
from trio.testing import MockClock

from orch.models import Instrument
from orch.testing import checks
from orch.testing.harness import Harness

__all__ = ["QuoteStreamChecks"]


class QuoteStreamChecks:
    """Bounds in seconds of trio time (free on the mock clock)."""

    broker: ClassVar[str]
    quote_max_age: ClassVar[float]
    stream_first_quote_timeout: ClassVar[float] = 120.0
    stream_silence_window: ClassVar[float] = 180.0
    stream_drop_window: ClassVar[float] = 120.0
    max_stream_connections: ClassVar[int] = 20  # in any one window: more is a reconnect storm

    def _stream_instrument(self, h: Harness) -> Instrument:
        if not h.capabilities.stream_quotes:
            pytest.skip(f"{self.broker}: declares no stream_quotes")
        return self.trade_instrument(h)

    async def _next_quote_after(self, stream: Any, instrument: Instrument, sim_time: Any, timeout: float) -> Any:
        """The first streamed quote stamped after ``sim_time``: earlier ones may sit in buffers, and one
        stamped at that very instant may have left before the fault did."""
        with trio.fail_after(timeout):
            async for quote in stream:
                assert checks.same_instrument(quote.instrument, instrument), (
                    f"{self.broker}: streamed a quote for {quote.instrument.symbol}, subscribed {instrument.symbol}")
                if quote.timestamp > sim_time:
                    return quote
        raise AssertionError(f"{self.broker}: the quote stream ended")

    async def _watch(self, h: Harness, count: Any, window: float) -> bool:
        """Wait ``window`` seconds; stop early and return True (a storm) once ``count()`` exceeds
        ``max_stream_connections``: on the autojump clock a reconnect loop without delays would never
        let the window end."""
        def storm() -> bool:
            return count() > self.max_stream_connections

        with trio.move_on_after(window):
            await h.sim.wait_until(storm)
        return storm()

    async def _streaming(self, h: Harness, stream: Any, instrument: Instrument) -> Any:
        with trio.fail_after(self.stream_first_quote_timeout):
            first = await stream.__anext__()
        checks.check_quote(first, self.broker, instrument, now=h.sim.now(), max_age=self.quote_max_age)
        assert h.sim.connection_count() >= 1, (
            f"{self.broker}: quotes streamed but the simulator saw no stream connection")
        return first

    async def test_silent_quote_stream_reconnects(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """A stream connection that goes silent while staying open (black-holed: no data, pings
        unanswered) is detected and replaced within the window, without a reconnect storm, and quotes
        flow again on the same iterator."""
        h = orch_harness
        instrument = self._stream_instrument(h)
        async with aclosing(h.client.stream_quotes([instrument])) as stream:
            await self._streaming(h, stream, instrument)
            attempts, connections = h.sim.attempt_count(), h.sim.connection_count()
            silent_at = h.sim.now()
            h.sim.stall_open_connections()
            try:
                with trio.move_on_after(self.stream_silence_window):
                    quote = await self._next_quote_after(stream, instrument, silent_at,
                                                         self.stream_silence_window + 1)
                    checks.check_quote(quote, self.broker, instrument, now=h.sim.now(),
                                       max_age=self.quote_max_age)
                    tried = h.sim.attempts_since(attempts)
                    assert len(tried) <= self.max_stream_connections, (
                        f"{self.broker}: reconnect storm: {len(tried)} connection attempts after the stream "
                        f"went silent")
                    assert h.sim.connections_since(connections), (
                        f"{self.broker}: fresh quotes without a new stream connection")
                    return
            finally:
                h.sim.resume_network()
            raise AssertionError(
                f"{self.broker}: the stream connection went silent (no data, pings unanswered) and no fresh "
                f"quote arrived within {self.stream_silence_window:g}s; new connections flowed normally "
                f"({len(h.sim.attempts_since(attempts))} attempted)")

    async def test_mute_quote_feed_is_replaced(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """The simulator stops sending on its stream connections while keeping them open (its websocket
        layer still answers pings, as a real server's does when the feed behind it dies): the plugin
        notices the mute feed and reconnects within the window, without a reconnect storm, and quotes
        flow again once the feed speaks."""
        h = orch_harness
        instrument = self._stream_instrument(h)
        async with aclosing(h.client.stream_quotes([instrument])) as stream:
            await self._streaming(h, stream, instrument)
            start = h.sim.connection_count()
            h.sim.silence_streams(True)
            try:
                storm = await self._watch(h, lambda: len(h.sim.connections_since(start)),
                                          self.stream_silence_window)
                reconnects = len(h.sim.connections_since(start))
            finally:
                h.sim.silence_streams(False)
            assert not storm, (f"{self.broker}: reconnect storm: more than {self.max_stream_connections} "
                               f"connections while the feed was mute")
            assert reconnects, (f"{self.broker}: the feed was mute for {self.stream_silence_window:g}s (the "
                                f"connection open, pings answered) and the plugin never reconnected")
            resumed = h.sim.now()
            quote = await self._next_quote_after(stream, instrument, resumed, self.stream_first_quote_timeout)
            checks.check_quote(quote, self.broker, instrument, now=h.sim.now(), max_age=self.quote_max_age)

    async def test_stalled_stream_handshake_is_retried(self, orch_harness: Harness, orch_clock: MockClock) -> None:
        """After a drop, reconnecting to a server that accepts the connection but never answers the
        handshake must time out and try again (a stuck handshake must not wedge the stream forever);
        once the server answers, quotes flow again."""
        h = orch_harness
        instrument = self._stream_instrument(h)
        async with aclosing(h.client.stream_quotes([instrument])) as stream:
            await self._streaming(h, stream, instrument)
            attempts = h.sim.attempt_count()
            h.sim.stall_new_connections()
            h.sim.drop_streams(after_messages=0)  # closes the open stream at its next message
            try:
                storm = await self._watch(h, lambda: len(h.sim.attempts_since(attempts)),
                                          self.stream_silence_window)
                tried = len(h.sim.attempts_since(attempts))
            finally:
                h.sim.drop_streams(None)
                resumed = h.sim.now()
                h.sim.resume_network()
            assert not storm, (f"{self.broker}: reconnect storm: more than {self.max_stream_connections} "
                               f"connection attempts against a server that never answers the handshake")
            assert tried >= 2, (
                f"{self.broker}: {tried} connection attempt(s) in {self.stream_silence_window:g}s after the "
                f"stream dropped: a handshake that is never answered must time out and be retried")
            quote = await self._next_quote_after(stream, instrument, resumed, self.stream_first_quote_timeout)
            checks.check_quote(quote, self.broker, instrument, now=h.sim.now(), max_age=self.quote_max_age)

    async def test_dropped_quote_stream_reconnects_with_backoff(self, orch_harness: Harness,
                                                                orch_clock: MockClock) -> None:
        """While the simulator closes every stream connection at once, the plugin keeps reconnecting
        with growing delays (no storm); once it stops, quotes flow again."""
        h = orch_harness
        instrument = self._stream_instrument(h)
        async with aclosing(h.client.stream_quotes([instrument])) as stream:
            with trio.fail_after(self.stream_first_quote_timeout):
                await stream.__anext__()
            start = h.sim.connection_count()
            h.sim.drop_streams(after_messages=0)
            try:
                storm = await self._watch(h, lambda: len(h.sim.connections_since(start)), self.stream_drop_window)
                connections = h.sim.connections_since(start)
            finally:
                h.sim.drop_streams(None)
            assert not storm, (f"{self.broker}: reconnect storm: more than {self.max_stream_connections} "
                               f"connections in {self.stream_drop_window:g}s of dropped streams")
            assert len(connections) >= 3, (
                f"{self.broker}: only {len(connections)} reconnect(s) in {self.stream_drop_window:g}s of "
                f"dropped streams (expected it to keep trying)")
            gaps = [b.time - a.time for a, b in zip(connections, connections[1:])]
            assert gaps[-1] >= 2 * gaps[0], (
                f"{self.broker}: reconnect delays do not grow (first {gaps[0]:.2f}s, last {gaps[-1]:.2f}s): "
                f"no backoff")
            resumed = h.sim.now()
            timeout = self.stream_first_quote_timeout + self.stream_drop_window
            quote = await self._next_quote_after(stream, instrument, resumed, timeout)
            checks.check_quote(quote, self.broker, instrument, now=h.sim.now(), max_age=self.quote_max_age)
