"""Binance's websocket protocols without I/O: the market streams (bookTicker, trade, kline) and the
WebSocket API user data stream (``userDataStream.subscribe.signature``, executionReport events).

Each session is a small state machine: the transport sends what :meth:`start` returns, feeds every frame to
:meth:`receive`, sends what comes back in ``send`` and delivers ``items``. A fresh session per connection
makes a reconnect a resubscribe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from attrs import frozen

from orch import parsing
from orch.errors import AuthError, BrokerError, ProtocolError
from orch.models import Fill, Instrument, Order, Quote, Side

from orch_binance import protocol, signing
from orch_binance.protocol import BROKER, Credentials, reading, reveal_credentials


@frozen
class StreamOutput:
    send: tuple[str, ...] = ()
    items: tuple[Any, ...] = ()


@frozen
class Kline:
    instrument: Instrument
    interval: str
    open_time: datetime
    close_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    closed: bool


@frozen
class Gap:
    """The stream was down for ``seconds`` (trio time) and resubscribed; what happened meanwhile was missed."""

    seconds: float
    reason: str


def _decode(frame: str | bytes, broker: str) -> Any:
    try:
        return parsing.json_loads(frame)
    except ValueError:
        raise ProtocolError("unreadable stream frame (not JSON)", broker=broker) from None


def stream_names(symbols: Sequence[str], intervals: Sequence[str] = ()) -> list[str]:
    names = []
    for symbol in symbols:
        low = symbol.lower()
        names += [f"{low}@bookTicker", f"{low}@trade", *(f"{low}@kline_{i}" for i in intervals)]
    return names


class MarketStreamSession:
    """One market-stream connection: SUBSCRIBE to bookTicker, trade and the klines, then turn payloads
    into Quotes (and Klines). bookTicker carries no time: a Quote is stamped with the latest event time
    the server sent on this connection (trade or kline ``E``), so it is the server's clock, never ours."""

    def __init__(self, instruments: Mapping[str, Instrument], *, intervals: Sequence[str] = (),
                 broker: str = BROKER, request_id: int = 1) -> None:
        self._instruments = {s.upper(): i for s, i in instruments.items()}
        self._names = stream_names(list(self._instruments), intervals)
        self._broker = broker
        self._id = request_id
        self._server_ms: int | None = None
        self._latest: dict[str, Quote] = {}
        self._last: dict[str, Decimal] = {}
        self.state = "subscribing"

    @property
    def ready(self) -> bool:
        return self.state == "streaming"

    def start(self) -> StreamOutput:
        message = {"method": "SUBSCRIBE", "params": self._names, "id": self._id}
        return StreamOutput(send=(json.dumps(message, separators=(",", ":")),))

    def receive(self, frame: str | bytes) -> StreamOutput:
        message = _decode(frame, self._broker)
        if not isinstance(message, dict):
            return StreamOutput()
        if "result" in message and message.get("id") == self._id:
            self.state = "streaming"
            return StreamOutput()
        if "code" in message and "msg" in message:
            raise ProtocolError(f"market stream refused the subscription: {message['msg']}", broker=self._broker,
                                broker_code=message.get("code"), broker_message=str(message.get("msg")))
        data = message.get("data") if "stream" in message else message
        if not isinstance(data, dict):
            return StreamOutput()
        item = self._payload(data)
        return StreamOutput(items=(item,) if item is not None else ())

    def _payload(self, data: Mapping[str, Any]) -> Any:
        with reading("stream payload", broker=self._broker):
            event = data.get("e")
            if isinstance(data.get("E"), int):
                self._server_ms = max(self._server_ms or 0, data["E"])
            symbol = str(data.get("s") or "").upper()
            instrument = self._instruments.get(symbol)
            if instrument is None:
                return None
            if event == "trade":
                when = protocol.ms_time(data["T"])
                price = Decimal(str(data["p"]))
                self._last[symbol] = price
                previous = self._latest.get(symbol)
                if previous is None:
                    return None  # a quote starts with a book: the price is kept for it
                quote = attrs.evolve(previous, last=price, timestamp=max(when, previous.timestamp))
                self._latest[symbol] = quote
                return quote
            if event == "kline":
                k = data["k"]
                return Kline(instrument=instrument, interval=str(k["i"]), open_time=protocol.ms_time(k["t"]),
                             close_time=protocol.ms_time(k["T"]), open=Decimal(str(k["o"])), high=Decimal(str(k["h"])),
                             low=Decimal(str(k["l"])), close=Decimal(str(k["c"])), volume=Decimal(str(k["v"])),
                             trades=int(k["n"]), closed=bool(k["x"]))
            if "b" in data and "a" in data and "u" in data:
                if self._server_ms is None:
                    return None  # no server time seen yet on this connection
                quote = Quote(broker=self._broker, instrument=instrument,
                              timestamp=protocol.ms_time(self._server_ms), bid=Decimal(str(data["b"])),
                              ask=Decimal(str(data["a"])), bid_size=Decimal(str(data["B"])),
                              ask_size=Decimal(str(data["A"])), last=self._last.get(symbol))
                self._latest[symbol] = quote
                return quote
        return None


# ------------------------------------------------------------------------------------- user data


@frozen
class ExecutionReport:
    """One executionReport: the order as it now stands and, for a TRADE, this execution."""

    execution_type: str
    order: Order
    fill: Fill | None = None


def parse_execution_report(event: Mapping[str, Any], *, broker: str = BROKER,
                           instruments: Mapping[str, Instrument] | None = None) -> ExecutionReport:
    with reading("executionReport", broker=broker):
        symbol = str(event["s"])
        instrument = (instruments or {}).get(symbol) or protocol.instrument_for(symbol)
        order_data = {
            "symbol": symbol, "orderId": event["i"], "clientOrderId": event.get("C") or event["c"],
            "side": event["S"], "type": event["o"], "timeInForce": event.get("f"), "origQty": event["q"],
            "price": event.get("p"), "stopPrice": event.get("P"), "status": event["X"],
            "executedQty": event["z"], "cummulativeQuoteQty": event.get("Z"),
            "origQuoteOrderQty": event.get("Q"), "time": event.get("O"), "updateTime": event.get("T"),
        }
        order = protocol.parse_order(order_data, broker=broker, instrument=instrument)
        fill = None
        if event["x"] == "TRADE":
            fill = Fill(broker=broker, broker_order_id=str(event["i"]), fill_id=str(event["t"]),
                        instrument=instrument, side=Side(str(event["S"]).lower()), qty=Decimal(str(event["l"])),
                        price=Decimal(str(event["L"])), timestamp=protocol.ms_time(event["T"]),
                        client_order_id=order.client_order_id, fee=Decimal(str(event.get("n") or 0)),
                        fee_currency=event.get("N"))
        return ExecutionReport(execution_type=str(event["x"]), order=order, fill=fill)


class UserDataSession:
    """One WebSocket API connection subscribed to the user data stream with a signed request."""

    def __init__(self, credentials: Credentials, *, timestamp_ms: Any, recv_window: int = 5000,
                 broker: str = BROKER, instruments: Mapping[str, Instrument] | None = None) -> None:
        self._credentials = credentials
        self._timestamp_ms = timestamp_ms
        self._recv_window = recv_window
        self._broker = broker
        self._instruments = instruments
        self.subscription: int | None = None
        self.state = "subscribing"

    @property
    def ready(self) -> bool:
        return self.state == "streaming"

    def subscribe_message(self) -> str:
        api_key, secret = reveal_credentials(self._credentials, broker=self._broker)
        params: dict[str, Any] = {"apiKey": api_key, "recvWindow": self._recv_window,
                                  "timestamp": self._timestamp_ms()}
        params["signature"] = signing.ws_api_signature(secret, params)
        return json.dumps({"id": "orch-uds", "method": "userDataStream.subscribe.signature", "params": params},
                          separators=(",", ":"))

    def start(self) -> StreamOutput:
        return StreamOutput(send=(self.subscribe_message(),))

    def receive(self, frame: str | bytes) -> StreamOutput:
        message = _decode(frame, self._broker)
        if not isinstance(message, dict):
            return StreamOutput()
        if message.get("id") == "orch-uds":
            if message.get("status") != 200:
                error = message.get("error")
                error = error if isinstance(error, dict) else {"msg": error}
                code, text = error.get("code"), " ".join(str(error.get("msg") or "").split())
                cls = AuthError if code in (-1022, -2014, -2015) else BrokerError
                raise cls(f"user data stream refused: {text}", broker=self._broker, broker_code=code,
                          broker_message=text)
            result = message.get("result")
            self.subscription = result.get("subscriptionId") if isinstance(result, dict) else None
            self.state = "streaming"
            return StreamOutput()
        event = message.get("event")
        if isinstance(event, dict) and event.get("e") == "executionReport":
            return StreamOutput(items=(parse_execution_report(event, broker=self._broker,
                                                              instruments=self._instruments),))
        return StreamOutput()
