"""Alpaca's websocket protocols without I/O: the market-data stream and the trade_updates stream.

Each session object is a small state machine in the style of h11/wsproto. The transport feeds it every
frame it receives (:meth:`receive`) and sends what comes back in :attr:`StreamOutput.send`; data comes
back in :attr:`StreamOutput.items`. A fresh session per connection makes a reconnect a resubscribe.

Frames may be JSON (text, or binary as the paper trade stream sends) or msgpack (the market-data stream
when asked with ``Content-Type: application/msgpack``). JSON numbers become Decimals directly; msgpack
carries float64, which is turned into the shortest decimal that round-trips (what the server encoded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from attrs import frozen

from orch import parsing
from orch.errors import AuthError, BrokerError, BrokerUnavailable, PermissionDenied, ProtocolError
from orch.models import Fill, Instrument, Order, Quote, to_decimal

from orch_alpaca import protocol
from orch_alpaca.protocol import BROKER, Credentials, reading, reveal_credentials


@frozen
class StreamOutput:
    send: tuple[str, ...] = ()
    items: tuple[Any, ...] = ()


# ------------------------------------------------------------------------------------- frame decoding


def _from_msgpack(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _from_msgpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_msgpack(v) for v in value]
    return value


def decode_frame(frame: str | bytes, *, broker: str = BROKER) -> list[dict[str, Any]]:
    """The messages in one frame, always as a list (market data batches them in an array; the trade
    stream sends one object)."""
    try:
        if isinstance(frame, str) or frame[:1] in (b"[", b"{"):
            data = parsing.json_loads(frame)
        else:
            import msgpack

            # timestamp=3: msgpack Timestamp extensions arrive as aware UTC datetimes.
            data = _from_msgpack(msgpack.unpackb(frame, timestamp=3))
    except Exception as exc:  # json, msgpack and unicode errors have no common base
        raise ProtocolError(f"unreadable stream frame: {type(exc).__name__}", broker=broker) from None
    messages = data if isinstance(data, list) else [data]
    if not all(isinstance(m, dict) for m in messages):
        raise ProtocolError("stream frame holds something other than objects", broker=broker)
    return messages


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


# ------------------------------------------------------------------------------------- market data

# Alpaca's market-data stream error codes → what orch does about them. Unavailable ones are retried by
# reconnecting; the others end the stream because retrying cannot help.
_MD_ERRORS: dict[int, type[BrokerError]] = {
    402: AuthError,            # auth failed
    404: BrokerUnavailable,    # auth timeout
    405: PermissionDenied,     # symbol limit exceeded
    406: BrokerUnavailable,    # connection limit exceeded (another connection still open)
    407: BrokerUnavailable,    # slow client
    408: PermissionDenied,     # v2 not enabled for the account
    409: PermissionDenied,     # insufficient subscription
    500: BrokerUnavailable,    # internal error
}


def market_error(message: Mapping[str, Any], *, broker: str = BROKER) -> BrokerError:
    code = message.get("code")
    text = str(message.get("msg") or "")
    cls = _MD_ERRORS.get(code, ProtocolError) if isinstance(code, int) else ProtocolError
    return cls(f"market-data stream error: {text or 'no message'}", broker=broker, broker_code=code,
               broker_message=text)


def market_auth_message(credentials: Credentials, *, broker: str = BROKER) -> str:
    key_id, secret_key = reveal_credentials(credentials, broker=broker)
    return _dumps({"action": "auth", "key": key_id, "secret": secret_key})


def market_subscribe_message(*, quotes: Iterable[str] = (), trades: Iterable[str] = ()) -> str:
    return _dumps({"action": "subscribe", "trades": list(trades), "quotes": list(quotes)})


@frozen
class Subscribed:
    """The server's confirmation; ``missing`` are requested symbols it did not take."""

    quotes: tuple[str, ...]
    trades: tuple[str, ...]
    missing: tuple[str, ...] = ()


class MarketDataSession:
    """One market-data connection: wait for ``connected``, authenticate, subscribe, then turn ``q`` and
    ``t`` records into Quotes. A trade updates ``last`` on the latest bid/ask seen for its symbol, so
    every Quote carries the freshest of both."""

    def __init__(self, credentials: Credentials, instruments: Mapping[str, Instrument], *,
                 broker: str = BROKER, delayed: bool = False, trades: bool = True) -> None:
        self._credentials = credentials
        self._instruments = dict(instruments)
        self._broker = broker
        self._delayed = delayed
        self._trades = trades
        self._latest: dict[str, Quote] = {}
        self.state = "connecting"

    @property
    def ready(self) -> bool:
        return self.state == "streaming"

    def start(self) -> StreamOutput:
        return StreamOutput()  # the server speaks first

    def receive(self, frame: str | bytes) -> StreamOutput:
        send: list[str] = []
        items: list[Any] = []
        for message in decode_frame(frame, broker=self._broker):
            kind = message.get("T")
            if kind == "error":
                raise market_error(message, broker=self._broker)
            # A symbol sent as a list or a subscription list sent as a number must not escape as TypeError.
            with reading(f"stream message {kind!r}", broker=self._broker):
                if kind == "success":
                    self._on_success(str(message.get("msg")), send)
                elif kind == "subscription":
                    items.append(self._on_subscription(message))
                elif kind in ("q", "t") and self.state == "streaming":
                    quote = self._on_data(kind, message)
                    if quote is not None:
                        items.append(quote)
        return StreamOutput(tuple(send), tuple(items))

    def _on_success(self, text: str, send: list[str]) -> None:
        if text == "connected" and self.state == "connecting":
            self.state = "authenticating"
            send.append(market_auth_message(self._credentials, broker=self._broker))
        elif text == "authenticated" and self.state == "authenticating":
            self.state = "subscribing"
            symbols_ = list(self._instruments)
            send.append(market_subscribe_message(quotes=symbols_, trades=symbols_ if self._trades else ()))

    def _on_subscription(self, message: Mapping[str, Any]) -> Subscribed:
        self.state = "streaming"
        quotes = tuple(message.get("quotes") or ())
        trades = tuple(message.get("trades") or ())
        wildcard = "*" in quotes
        missing = tuple(s for s in self._instruments if not wildcard and s not in quotes)
        return Subscribed(quotes=quotes, trades=trades, missing=missing)

    def _on_data(self, kind: str, message: Mapping[str, Any]) -> Quote | None:
        symbol = message.get("S")
        instrument = self._instruments.get(symbol)
        if instrument is None:
            return None
        previous = self._latest.get(symbol)
        if kind == "q":
            quote = protocol.quote_from_record(message, instrument, broker=self._broker, delayed=self._delayed,
                                               last=previous.last if previous else None)
        else:
            with reading("stream trade", broker=self._broker):
                price = to_decimal(message["p"])
                when = protocol.parse_time(message["t"])
            if previous is None:
                quote = Quote(broker=self._broker, instrument=instrument, timestamp=when, last=price,
                              delayed=self._delayed)
            else:
                quote = attrs.evolve(previous, last=price, timestamp=max(when, previous.timestamp))
        self._latest[symbol] = quote
        return quote


# ------------------------------------------------------------------------------------- trade_updates


@frozen
class TradeUpdate:
    """One ``trade_updates`` event. ``fill`` is set for ``fill`` and ``partial_fill`` events."""

    event: str
    order: Order
    timestamp: datetime | None = None
    fill: Fill | None = None
    position_qty: Decimal | None = None


def trade_auth_message(credentials: Credentials, *, broker: str = BROKER) -> str:
    key_id, secret_key = reveal_credentials(credentials, broker=broker)
    return _dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret_key}})


def trade_listen_message(streams: Iterable[str] = ("trade_updates",)) -> str:
    return _dumps({"action": "listen", "data": {"streams": list(streams)}})


def parse_trade_update(data: Mapping[str, Any], *, broker: str = BROKER) -> TradeUpdate:
    """The ``data`` of a trade_updates message: the event, the order as it now stands and, for fills,
    this execution (``execution_id``, ``qty``, ``price``)."""
    with reading("trade update", broker=broker):
        order = protocol.parse_order(data["order"], broker=broker)
        event = str(data["event"])
        timestamp = protocol.parse_time(data.get("timestamp"))
        fill = None
        if event in ("fill", "partial_fill"):
            fill = Fill(broker=broker, broker_order_id=order.broker_order_id,
                        fill_id=str(data.get("execution_id") or f"{order.broker_order_id}@{data['timestamp']}"),
                        instrument=order.instrument, side=order.side, qty=to_decimal(data["qty"]),
                        price=to_decimal(data["price"]), timestamp=timestamp or order.updated_at,
                        client_order_id=order.client_order_id)
        position = data.get("position_qty")
        return TradeUpdate(event=event, order=order, timestamp=timestamp, fill=fill,
                           position_qty=None if position is None else to_decimal(position))


class TradeUpdatesSession:
    """One trade_updates connection: authenticate, listen, then turn events into TradeUpdates."""

    def __init__(self, credentials: Credentials, *, broker: str = BROKER) -> None:
        self._credentials = credentials
        self._broker = broker
        self.state = "authenticating"

    @property
    def ready(self) -> bool:
        return self.state == "streaming"

    def start(self) -> StreamOutput:
        return StreamOutput(send=(trade_auth_message(self._credentials, broker=self._broker),))

    def receive(self, frame: str | bytes) -> StreamOutput:
        send: list[str] = []
        items: list[Any] = []
        for message in decode_frame(frame, broker=self._broker):
            stream = message.get("stream")
            data = message.get("data") or {}
            if not isinstance(data, dict):
                raise ProtocolError(f"trade_updates stream: {stream!r} message data is not an object",
                                    broker=self._broker)
            if stream == "authorization":
                if data.get("status") != "authorized":
                    raise AuthError("the trade_updates stream refused the API key", broker=self._broker,
                                    broker_message=str(data.get("status")),
                                    hint="check api_key/secret_key; paper and live keys differ")
                if self.state == "authenticating":
                    self.state = "listening"
                    send.append(trade_listen_message())
            elif stream == "listening":
                confirmed = data.get("streams")
                if not isinstance(confirmed, list) or "trade_updates" not in confirmed:
                    raise ProtocolError("the trade_updates stream did not confirm the subscription",
                                        broker=self._broker)
                self.state = "streaming"
            elif stream == "trade_updates":
                items.append(parse_trade_update(data, broker=self._broker))
        return StreamOutput(tuple(send), tuple(items))
