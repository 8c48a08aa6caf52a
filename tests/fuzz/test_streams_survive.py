"""Garbage on a running stream never stops the orchestrator: for every plugin with streams, the broker's own
simulator (over loopback, through the user path: BrokerClient.stream_quotes on a harness-connected client)
sends garbage frames mixed with valid ones (``Faults.ws_garbage*``). The stream keeps delivering valid
quotes afterwards (or reconnects and resumes), each bad frame is logged as a clear warning, and nothing
escapes into the nursery the connection lives in: the client still answers a plain quote afterwards.

IBKR streams nothing over websockets: its reader task owns the TWS socket for every answer, so a small
loopback TCP proxy in front of the fake TWS splices garbage messages into what TWS sends while quotes are
asked and orders stream.
"""

from __future__ import annotations

import logging
import struct
from contextlib import aclosing
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import trio

from orch.models import Instrument, Market, OrderRequest, OrderType, Quote, Side, TimeInForce
from orch.testing.harness import open_harness

# Garbage every stream decoder must shrug off: not JSON, invalid UTF-8 (binary frames), JSON of the
# wrong shape, records with fields missing or retyped, absurd numbers.
COMMON = ("not json at all", b"\xff\xfe\x00garbage\xc3", "{", "[[[[", "null", "[1, 2, 3]", "{}", "1E+999999",
          "[" * 3000)
GARBAGE: dict[str, tuple[str | bytes, ...]] = {
    "alpaca": COMMON + ('[{"T":"q","S":"AAPL","bp":"abc","ap":null,"t":"yesterday"}]',
                        '[{"T":"t","S":"AAPL","p":{"x":1},"t":5}]', '[{"T":"q","S":"AAPL"}]'),
    "binance": COMMON + ('{"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT","b":"x","B":"1","a":[],"A":"1",'
                         '"u":1}}', '{"e":"trade","s":"BTCUSDT","T":"soon","p":"1"}',
                         '{"e":"kline","s":"BTCUSDT","k":{"i":"1m"}}'),
    "xtb": COMMON + ('{"command":"tickPrices","data":{"symbol":"EURUSD","bid":"x","ask":1,"timestamp":1}}',
                     '{"command":"tickPrices","data":[]}', '{"command":"keepAlive","data":{"timestamp":"soon"}}',
                     '{"command":"tickPrices","data":{"symbol":"EURUSD","level":"high"}}'),
    # "1 A {..." and "1 D ..." break subscription 1's delta chain: the stream resubscribes by reconnecting.
    "trade_republic": ("gibberish", b"\xff\xfe\x00", "1 Z {}", "99 A {}", "\u00b2 A {}", "1 A {not json",
                       "1 D =999999", "echo", "1 E"),
}
INSTRUMENTS = {
    "alpaca": Instrument("AAPL", Market.US_STOCKS),
    "binance": Instrument("BTC/USDT", Market.CRYPTO, currency="USDT"),
    "xtb": Instrument("EUR/USD", Market.FOREX, currency="USD"),
    "trade_republic": Instrument("SAP", Market.EU_STOCKS, currency="EUR"),
}
QUOTES_AFTER_GARBAGE = 5
WINDOW = 600.0  # seconds of trio time (free on the autojump clock)


def check(quote: Any, instrument: Instrument) -> None:
    assert isinstance(quote, Quote)
    assert quote.instrument.symbol == instrument.symbol
    for price in (quote.bid, quote.ask, quote.last):
        assert price is None or (price.is_finite() and price > 0)
    assert quote.bid is not None or quote.ask is not None or quote.last is not None


def warnings_about_garbage(caplog: pytest.LogCaptureFixture) -> list[str]:
    words = ("unreadable", "resubscrib", "unreadable TWS message", "desynchronised")
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and any(w in r.getMessage() for w in words)]


@pytest.mark.parametrize("broker", sorted(GARBAGE))
async def test_stream_survives_garbage_frames(broker: str, autojump_clock: trio.testing.MockClock,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    instrument = INSTRUMENTS[broker]
    async with open_harness(broker) as h:
        faults = h.sim.running.faults
        async with aclosing(h.client.stream_quotes([instrument])) as stream:
            with trio.fail_after(WINDOW):
                check(await stream.__anext__(), instrument)
                # From now on every second message the simulator sends is preceded by a garbage frame.
                faults.set(ws_garbage=GARBAGE[broker], ws_garbage_every=2, ws_garbage_after=3)
                sent_before = faults.counters["ws_garbage_frames"]
                good = 0
                async for quote in stream:
                    check(quote, instrument)
                    if faults.counters["ws_garbage_frames"] > sent_before + 1:
                        good += 1
                    if good >= QUOTES_AFTER_GARBAGE and faults.counters["ws_garbage_frames"] >= len(GARBAGE[broker]):
                        break
        faults.set(ws_garbage=(), ws_garbage_every=0)
        garbage_sent = faults.counters["ws_garbage_frames"]
        assert garbage_sent >= len(GARBAGE[broker]), f"{broker}: only {garbage_sent} garbage frames went out"
        warned = warnings_about_garbage(caplog)
        assert warned, f"{broker}: {garbage_sent} garbage frames and not one warning about them"
        assert all("Traceback" not in w and "\n" not in w for w in warned)
        # Nothing escaped into the harness's nursery: the client still works.
        with trio.fail_after(WINDOW):
            check(await h.client.quote(instrument), instrument)


# ------------------------------------------------------------------------------------------ IBKR over TWS


def tws(*fields: Any) -> bytes:
    payload = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


DESYNC = struct.pack(">I", 3) + b"\xff\xfe\xfd"
# Well-framed garbage messages (each is skipped) and one frame with no NUL terminator, which
# desynchronises the stream: the connection is dropped and re-established, pending requests fail
# over to a retry.
TWS_GARBAGE = (
    tws("9", "1"), tws("15"), tws("49", "1", "1E+999999"), tws("1", "6", "4"), tws("58", "1"),
    tws("4", "2", "x", "y", "z"), tws("abc", "def"), tws("5", "7"), tws("3", "7", "Filled", "NaN"),
    tws("11", "-1", "7"), tws("61", "3", "DU1"), tws("\u00b2"), tws(""), tws("59", "1", "e"),
    tws("10", "3", "AAPL", "STK", "", "0", "", "SMART", "USD", "AAPL", "NMS", "NMS", "265598", "-1"),
    DESYNC,
)


class GarbageProxy:
    """A loopback TCP proxy in front of the fake TWS: what TWS sends is passed on message by message,
    and once the handshake is over every ``every``-th message is preceded by the next garbage message."""

    def __init__(self, port: int, garbage: tuple[bytes, ...], *, every: int = 2, after: int = 4) -> None:
        self.target = port
        self.garbage = garbage
        self.every = every
        self.after = after
        self.sent = 0
        self.connections = 0
        self.port = 0

    async def start(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.target)
        except OSError:
            await client.aclose()
            return
        async with client, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._up, client, upstream, nursery.cancel_scope)
            await self._down(upstream, client)
            nursery.cancel_scope.cancel()

    @staticmethod
    async def _up(client: trio.SocketStream, upstream: trio.SocketStream, scope: trio.CancelScope) -> None:
        try:
            async for data in client:
                await upstream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()

    async def _down(self, upstream: trio.SocketStream, client: trio.SocketStream) -> None:
        buffer = bytearray()
        count = 0
        try:
            async for data in upstream:
                buffer += data
                out = bytearray()
                while len(buffer) >= 4:
                    size = struct.unpack(">I", buffer[:4])[0]
                    if len(buffer) < 4 + size:
                        break
                    count += 1
                    if count > self.after and (count - self.after) % self.every == 0:
                        junk = self.garbage[self.sent % len(self.garbage)]
                        self.sent += 1
                        if junk is DESYNC and self.connections > 1:
                            continue  # once is enough: every reconnect would meet it again
                        out += junk
                    out += buffer[:4 + size]
                    del buffer[:4 + size]
                await client.send_all(bytes(out))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def test_ibkr_tws_reader_survives_garbage_messages(autojump_clock: trio.testing.MockClock,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    instrument = Instrument("AAPL", Market.US_STOCKS)
    async with open_harness("ibkr", connect=False) as h:
        h.sim.open_markets()
        proxy = GarbageProxy(int(h.section["port"]), TWS_GARBAGE)
        await proxy.start(h.nursery)
        client = await h.connect(h.settings_from({**h.section, "port": proxy.port}))
        seen: list[Any] = []

        async def watch_orders(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            async with aclosing(client.stream_orders()) as updates:
                task_status.started()
                async for order in updates:
                    seen.append(order)

        with trio.fail_after(WINDOW):
            async with trio.open_nursery() as watchers:
                await watchers.start(watch_orders)
                await trio.sleep(1)  # the order stream subscribes on its first step
                quotes, failures = [], []
                while proxy.sent < 2 * len(TWS_GARBAGE) or len(quotes) < QUOTES_AFTER_GARBAGE:
                    try:
                        quotes.append(await client.quote(instrument))
                    except Exception as exc:  # noqa: BLE001 - an answer lost to the desync fails over
                        assert type(exc).__module__.startswith("orch"), f"{type(exc).__name__}: {exc}"
                        failures.append(exc)
                        assert len(failures) <= 5, f"quotes keep failing: {failures}"
                        await trio.sleep(5)  # the reconnect takes its backoff
                for quote in quotes:
                    check(quote, instrument)
                request = OrderRequest(instrument=instrument, side=Side.BUY, qty=Decimal(1), type=OrderType.MARKET,
                                       time_in_force=TimeInForce.DAY, client_order_id="orch-fuzz-1")
                placed = await client.place_order(request)
                while not any(o.broker_order_id == placed.broker_order_id for o in seen):
                    await trio.sleep(0.5)
                watchers.cancel_scope.cancel()
        assert proxy.sent >= 2 * len(TWS_GARBAGE)
        assert proxy.connections >= 2, "the unterminated frame should have forced one reconnect"
        warned = warnings_about_garbage(caplog)
        assert any("unreadable TWS message" in w for w in warned)
        assert any("desynchronised" in w for w in warned)
        # The reader is still alive and the client still answers.
        check(await client.quote(instrument), instrument)
