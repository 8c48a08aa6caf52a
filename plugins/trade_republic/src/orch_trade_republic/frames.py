"""Trade Republic's websocket framing without I/O.

Client frames: ``connect 31 {json}`` once, then ``sub <id> {json}``, ``unsub <id>`` and ``echo <ms>``.
Server frames: ``connected`` (the handshake answer), ``<id> A {json}`` (a full answer), ``<id> D <delta>``
(a change against the previous answer, :mod:`.delta`), ``<id> C`` (the subscription is over), ``<id> E
{json}`` (an error) and the echo of an ``echo``.

:class:`WsSession` is the state of one connection in the style of wsproto: it numbers subscriptions,
keeps each one's previous answer for deltas, and turns frames into events. A fresh session per
connection makes a reconnect a resubscribe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import frozen

from orch.errors import ProtocolError
from orch.parsing import json_loads, one_line

from orch_trade_republic.delta import DeltaError, apply_delta

BROKER = "trade_republic"
CONNECT_VERSION = 31


def connect_message(locale: str = "en", *, client_version: str = "5582") -> str:
    body = {"locale": locale, "platformId": "webtrading", "platformVersion": "chrome - 94.0.4606",
            "clientId": "app.traderepublic.com", "clientVersion": client_version}
    return f"connect {CONNECT_VERSION} {dumps(body)}"


def dumps(data: Any) -> str:
    """Compact JSON with Decimals written exactly as they read (never through a float)."""
    if isinstance(data, Decimal):
        return format(data, "f")
    if isinstance(data, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in data.items()) + "}"
    if isinstance(data, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in data) + "]"
    return json.dumps(data)


def loads(text: str, *, broker: str = BROKER, what: str = "answer") -> Any:
    try:
        return json_loads(text) if text.strip() else None
    except ValueError:
        raise ProtocolError(f"unreadable {what} (not JSON)", broker=broker) from None


class Desynced(ProtocolError):
    """A subscription's delta state is lost (a delta that does not fit, or no readable base): its answers
    cannot be rebuilt until it is subscribed afresh."""


# ------------------------------------------------------------------------------------- events


@frozen
class Connected:
    pass


@frozen
class Answer:
    """A full (``A``) or rebuilt (``D``) answer; ``text`` is its JSON text."""

    sub_id: int
    data: Any
    text: str
    delta: bool = False


@frozen
class Complete:
    sub_id: int


@frozen
class Failed:
    """An ``E`` frame: ``errors`` as the server sent them (``errorCode``, ``errorMessage``, ``meta``)."""

    sub_id: int
    errors: tuple[Mapping[str, Any], ...]

    @property
    def code(self) -> str:
        return one_line(self.errors[0].get("errorCode") or "", 60) if self.errors else ""

    @property
    def message(self) -> str:
        return one_line(self.errors[0].get("errorMessage") or "") if self.errors else ""

    @property
    def meta(self) -> Mapping[str, Any]:
        meta = self.errors[0].get("meta") if self.errors else None
        return meta if isinstance(meta, Mapping) else {}


@frozen
class Echo:
    text: str


@frozen
class Ignored:
    """A frame for a subscription this session no longer has (late frames after ``unsub``)."""

    sub_id: int


Event = Connected | Answer | Complete | Failed | Echo | Ignored


class WsSession:
    """One websocket connection's protocol state (see the module docstring)."""

    def __init__(self, *, broker: str = BROKER, first_id: int = 1) -> None:
        self.broker = broker
        self.connected = False
        self._next = first_id
        self._payloads: dict[int, Mapping[str, Any]] = {}
        self._previous: dict[int, str] = {}

    @property
    def active(self) -> dict[int, Mapping[str, Any]]:
        return dict(self._payloads)

    def subscribe(self, payload: Mapping[str, Any]) -> tuple[int, str]:
        sub_id = self._next
        self._next += 1
        self._payloads[sub_id] = payload
        return sub_id, f"sub {sub_id} {dumps(payload)}"

    def unsubscribe(self, sub_id: int) -> str:
        self._payloads.pop(sub_id, None)
        self._previous.pop(sub_id, None)
        return f"unsub {sub_id}"

    @staticmethod
    def echo(millis: int) -> str:
        return f"echo {millis}"

    def receive(self, frame: str | bytes) -> Event:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", "replace")
        if not self.connected:
            if frame.strip() == "connected":
                self.connected = True
                return Connected()
            raise ProtocolError(f"handshake answered {frame[:60]!r} instead of 'connected'", broker=self.broker)
        if frame.startswith("echo"):
            return Echo(frame)
        head, _, rest = frame.partition(" ")
        if not (head.isascii() and head.isdigit() and len(head) <= 18):
            raise ProtocolError(f"unreadable frame {frame[:40]!r}", broker=self.broker)
        sub_id = int(head)
        code, _, payload = rest.partition(" ")
        if sub_id not in self._payloads:
            return Ignored(sub_id)
        if code == "A":
            # The base of later deltas only once it reads: deltas against an unreadable base are refused
            # (Desynced) instead of rebuilding text from it.
            self._previous.pop(sub_id, None)
            data = loads(payload, broker=self.broker)
            self._previous[sub_id] = payload
            return Answer(sub_id, data, payload)
        if code == "D":
            previous = self._previous.get(sub_id)
            if previous is None:
                raise Desynced(f"delta for subscription {sub_id} before any readable full answer", broker=self.broker)
            try:
                text = apply_delta(previous, payload)
                data = loads(text, broker=self.broker, what="delta result")
            except (DeltaError, ProtocolError) as exc:
                self._previous.pop(sub_id, None)
                raise Desynced(f"subscription {sub_id}: {exc}", broker=self.broker) from None
            self._previous[sub_id] = text
            return Answer(sub_id, data, text, delta=True)
        if code == "C":
            self._payloads.pop(sub_id, None)
            self._previous.pop(sub_id, None)
            return Complete(sub_id)
        if code == "E":
            self._payloads.pop(sub_id, None)
            self._previous.pop(sub_id, None)
            try:
                data = loads(payload, broker=self.broker, what="error")
            except ProtocolError:
                data = None
            errors = data.get("errors") if isinstance(data, Mapping) else None
            if not isinstance(errors, list) or not errors:
                # The subscription ended with an error nobody can read: not the broker refusing something
                # (that has a code), so the subscription is lost rather than refused.
                raise Desynced(f"subscription {sub_id} ended with an unreadable error {payload[:40]!r}",
                               broker=self.broker)
            return Failed(sub_id, tuple(e if isinstance(e, Mapping) else {"errorMessage": str(e)} for e in errors))
        raise ProtocolError(f"unknown frame code {code!r} for subscription {sub_id}", broker=self.broker)
