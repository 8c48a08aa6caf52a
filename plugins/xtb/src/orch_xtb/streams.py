"""xAPI's streaming socket without I/O.

Subscriptions are ``{"command": "getX", "streamSessionId": <from login>, …}`` and get **no
acknowledgement**; data arrives as ``{"command": "<type>", "data": {…}}``. A :class:`QuoteSession` asks for
keepAlive (every 3 s) and tickPrices per symbol, so a healthy connection is never quiet for long and the
first frame of any kind proves the subscription was taken. A fresh session per connection makes a
reconnect a resubscribe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from orch.errors import ProtocolError
from orch.parsing import integer
from orch.models import Instrument, Quote

from orch_xtb import protocol
from orch_xtb.protocol import BROKER

STREAM_COMMANDS = ("getTickPrices", "getKeepAlive", "getBalance", "getTrades", "getTradeStatus", "getProfits",
                   "getNews", "getCandles")


@frozen
class StreamOutput:
    send: tuple[str, ...] = ()
    items: tuple[Any, ...] = ()


def subscribe(command: str, stream_session: str, **arguments: Any) -> str:
    """A subscription frame: unlike main-socket commands, arguments sit at the top level."""
    return protocol.to_json({"command": command, "streamSessionId": stream_session, **arguments})


def unsubscribe(command: str, **arguments: Any) -> str:
    return protocol.to_json({"command": command, **arguments})


@frozen
class KeepAlive:
    timestamp_ms: int


class QuoteSession:
    """One streaming connection delivering Quotes for ``instruments`` (XTB symbol → orch instrument)."""

    def __init__(self, stream_session: str, instruments: Mapping[str, Instrument], *, broker: str = BROKER,
                 min_arrival_ms: int = 0) -> None:
        self._session = stream_session
        self._instruments = dict(instruments)
        self._broker = broker
        self._min_arrival = min_arrival_ms
        self.state = "subscribing"

    @property
    def ready(self) -> bool:
        return self.state == "streaming"

    def start(self) -> StreamOutput:
        frames = [subscribe("getKeepAlive", self._session)]
        frames += [subscribe("getTickPrices", self._session, symbol=symbol, minArrivalTime=self._min_arrival,
                             maxLevel=0) for symbol in self._instruments]
        return StreamOutput(send=tuple(frames))

    def receive(self, frame: str | bytes) -> StreamOutput:
        message = protocol.decode(frame, broker=self._broker)
        kind = message.get("command")
        data = message.get("data")
        if kind is None and message.get("status") is False:
            # Some servers answer a bad subscription like a command.
            raise protocol.error_for(str(message.get("errorCode") or "?"), str(message.get("errorDescr") or ""),
                                     broker=self._broker)
        self.state = "streaming"
        if kind == "keepAlive":
            with protocol.reading("keepAlive record", broker=self._broker):
                return StreamOutput(items=(KeepAlive(integer((data or {}).get("timestamp") or 0)),))
        if kind == "tickPrices":
            if not isinstance(data, dict):
                raise ProtocolError("tickPrices without data", broker=self._broker)
            instrument = self._instruments.get(str(data.get("symbol")))
            with protocol.reading("tick record", broker=self._broker):
                level = integer(data.get("level") or 0)
            if instrument is None or level != 0:
                return StreamOutput()
            quote: Quote = protocol.parse_tick(data, instrument, broker=self._broker)
            return StreamOutput(items=(quote,))
        return StreamOutput()
