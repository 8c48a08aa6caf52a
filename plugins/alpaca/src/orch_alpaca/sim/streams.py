"""The server side of Alpaca's two websocket protocols, without I/O.

:class:`MarketDataSession` is one market-data connection (``/v2/{feed}``, ``/v1beta3/crypto/us``):
``connected`` → auth (message or handshake headers) → ``authenticated`` → subscribe/unsubscribe, answered
with the full current set. :class:`TradeUpdatesSession` is one ``/stream`` connection: authenticate →
authorization, listen → listening. Each ``receive`` takes one decoded client message and returns the
messages to send back; the transport in :mod:`.app` does the sockets and pushes data.

Framing (:func:`encode_market`, :func:`encode_trade`): market data goes out as JSON text, or as msgpack
binary when the handshake said ``Content-Type: application/msgpack``; there every ``t`` is a msgpack
Timestamp (ext type -1), which alpaca-py calls ``.to_datetime()`` on. trade_updates go out as binary frames
holding JSON, as Alpaca's paper endpoint sends them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import msgpack

from orch_alpaca.sim import wire

STOCK_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections",
                  "cancelErrors")
CRYPTO_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "orderbooks")
# Channels whose subscribed symbols count against the plan's symbol limit (bars are unlimited).
LIMITED_CHANNELS = ("trades", "quotes")
TRADE_STREAMS = ("trade_updates",)


# ------------------------------------------------------------------------------------- framing


def decode_client(frame: str | bytes) -> Any:
    """A client message: JSON (text or binary) or msgpack (binary). Raises ValueError if neither."""
    if isinstance(frame, str):
        return json.loads(frame)
    stripped = frame.lstrip()
    if stripped[:1] in (b"{", b"["):
        return json.loads(stripped)
    try:
        return msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ValueError(f"unreadable frame ({type(exc).__name__})") from None


def encode_market(messages: list[dict[str, Any]], *, msgpack_mode: bool) -> str | bytes:
    if msgpack_mode:
        return msgpack.packb(messages, datetime=True)
    return json.dumps(wire.jsonable(messages), separators=(",", ":"))


def encode_trade(message: Mapping[str, Any]) -> bytes:
    return json.dumps(wire.jsonable(dict(message)), separators=(",", ":")).encode()


def success(msg: str) -> dict[str, Any]:
    return {"T": "success", "msg": msg}


def error(code: int, msg: str) -> dict[str, Any]:
    return {"T": "error", "code": code, "msg": msg}


# ------------------------------------------------------------------------------------- market data


class MarketDataSession:
    """One market-data connection.

    ``check_key(key, secret)`` says whether a key pair is valid; ``claim(key)`` reserves the key's one
    connection to this endpoint (False: the limit is reached, error 406) and ``release(key)`` frees it.
    ``symbol_limit`` caps distinct trade+quote symbols (error 405; None for unlimited). ``canonical``
    normalises a symbol for this feed, returning None for one the feed does not carry (silently left
    out of the subscription, as Alpaca does).
    """

    def __init__(self, *, crypto: bool, check_key: Callable[[str, str], bool],
                 claim: Callable[[str], bool] = lambda key: True, release: Callable[[str], None] = lambda key: None,
                 symbol_limit: int | None = None, canonical: Callable[[str], str | None] = lambda s: s) -> None:
        self.crypto = crypto
        self.channels = CRYPTO_CHANNELS if crypto else STOCK_CHANNELS
        self._check_key = check_key
        self._claim = claim
        self._release = release
        self._symbol_limit = symbol_limit
        self._canonical = canonical
        self.subscriptions: dict[str, list[str]] = {name: [] for name in self.channels}
        self.key: str | None = None
        self.authenticated = False
        self.closing = False  # set when the server must close after sending (auth failure, 406)

    def greet(self, header_key: str | None = None, header_secret: str | None = None) -> list[dict[str, Any]]:
        """What the server says on connect; handshake headers authenticate at once."""
        messages = [success("connected")]
        if header_key is not None and header_secret is not None:
            messages += self._authenticate(header_key, header_secret)
        return messages

    def _authenticate(self, key: str, secret: str) -> list[dict[str, Any]]:
        if self.authenticated:
            return [error(403, "already authenticated")]
        if not self._check_key(key, secret):
            self.closing = True
            return [error(402, "auth failed")]
        if not self._claim(key):
            self.closing = True
            return [error(406, "connection limit exceeded")]
        self.key = key
        self.authenticated = True
        return [success("authenticated")]

    def close(self) -> None:
        if self.key is not None:
            self._release(self.key)
            self.key = None

    def receive(self, message: Any) -> list[dict[str, Any]]:
        if not isinstance(message, Mapping) or not isinstance(message.get("action"), str):
            return [error(400, "invalid syntax")]
        action = message["action"]
        if action == "auth":
            return self._authenticate(str(message.get("key", "")), str(message.get("secret", "")))
        if action not in ("subscribe", "unsubscribe"):
            return [error(400, "invalid syntax")]
        if not self.authenticated:
            return [error(401, "not authenticated")]
        wanted: dict[str, list[str]] = {}
        for name in self.channels:
            value = message.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                return [error(400, "invalid syntax")]
            wanted[name] = value
        updated = {name: list(symbols) for name, symbols in self.subscriptions.items()}
        for name, symbols in wanted.items():
            for raw in symbols:
                symbol = "*" if raw == "*" else self._canonical(raw)
                if symbol is None:
                    continue
                if action == "subscribe" and symbol not in updated[name]:
                    updated[name].append(symbol)
                elif action == "unsubscribe" and symbol in updated[name]:
                    updated[name].remove(symbol)
        if self._symbol_limit is not None:
            distinct = {s for name in LIMITED_CHANNELS if name in updated for s in updated[name] if s != "*"}
            if len(distinct) > self._symbol_limit:
                return [error(405, "symbol limit exceeded")]
        self.subscriptions = updated
        return [self.subscription_message()]

    def subscription_message(self) -> dict[str, Any]:
        return {"T": "subscription", **{name: list(symbols) for name, symbols in self.subscriptions.items()}}

    def wants(self, channel: str, symbol: str) -> bool:
        symbols = self.subscriptions.get(channel, ())
        return symbol in symbols or "*" in symbols

    def symbols(self) -> set[str]:
        """Every explicitly subscribed symbol of the data channels the simulator pushes."""
        return {s for name in ("trades", "quotes", "bars") if name in self.subscriptions
                for s in self.subscriptions[name] if s != "*"}

    @property
    def wildcard(self) -> bool:
        return any("*" in self.subscriptions.get(name, ()) for name in ("trades", "quotes"))


def quote_message(symbol: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"T": "q", "S": symbol, **record}


def trade_message(symbol: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"T": "t", "S": symbol, **record}


# ------------------------------------------------------------------------------------- trade_updates


def authorization(status: str, action: str) -> dict[str, Any]:
    return {"stream": "authorization", "data": {"status": status, "action": action}}


class TradeUpdatesSession:
    """One ``/stream`` connection. ``check_key`` as for market data. ``streams`` is what the client listens
    to now (the last ``listen`` replaces it)."""

    def __init__(self, *, check_key: Callable[[str, str], bool]) -> None:
        self._check_key = check_key
        self.key: str | None = None
        self.authenticated = False
        self.streams: list[str] = []

    def header_auth(self, key: str | None, secret: str | None) -> None:
        if key is not None and secret is not None and self._check_key(key, secret):
            self.key, self.authenticated = key, True

    def receive(self, message: Any) -> list[dict[str, Any]]:
        if not isinstance(message, Mapping):
            return [{"stream": "error", "data": {"error_message": "invalid syntax"}}]
        action = message.get("action")
        data = message.get("data") if isinstance(message.get("data"), Mapping) else {}
        if action in ("authenticate", "auth"):
            key = data.get("key_id", message.get("key"))
            secret = data.get("secret_key", message.get("secret"))
            if isinstance(key, str) and isinstance(secret, str) and self._check_key(key, secret):
                self.key, self.authenticated = key, True
                return [authorization("authorized", "authenticate")]
            self.authenticated = False
            return [authorization("unauthorized", "authenticate")]
        if action == "listen":
            if not self.authenticated:
                return [authorization("unauthorized", "listen")]
            requested = data.get("streams")
            if not isinstance(requested, list):
                return [{"stream": "error", "data": {"error_message": "invalid syntax"}}]
            self.streams = [s for s in requested if s in TRADE_STREAMS]
            return [{"stream": "listening", "data": {"streams": list(self.streams)}}]
        return [{"stream": "error", "data": {"error_message": "unrecognized action"}}]

    @property
    def listening(self) -> bool:
        return self.authenticated and "trade_updates" in self.streams


def trade_update(event: str, order: Mapping[str, Any], timestamp: datetime, *, execution_id: str | None = None,
                 price: Any = None, qty: Any = None, position_qty: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event, "timestamp": wire.ts(timestamp), "order": dict(order)}
    if execution_id is not None:
        data["execution_id"] = execution_id
    if price is not None:
        data["price"] = price
        data["qty"] = qty
        data["position_qty"] = position_qty
    return {"stream": "trade_updates", "data": data}


def merge(*batches: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for batch in batches for m in batch]
