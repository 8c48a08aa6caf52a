"""Binance request signing without I/O.

SIGNED REST requests carry ``timestamp`` (ms), ``recvWindow`` and ``signature``: the hex HMAC-SHA256, keyed
with the secret, of the query string **concatenated with no separator** to the form body, exactly as sent.
The server does not sort parameters, so the bytes hashed here are the bytes put on the wire, and
``signature`` goes last. WebSocket API requests sign differently: every param but ``signature`` (``apiKey``
included), sorted by name, joined as ``k=v&…``.

:class:`ServerClock` keeps the offset between the local clock and Binance's (``GET /api/v3/time``), so a
drifting local clock does not make every request fail with -1021.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from attrs import define


def encode(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&…`` in the given order, values percent-encoded (non-ASCII and reserved characters)."""
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params)


def signature(secret: str, query: str, body: str = "") -> str:
    """The hex HMAC-SHA256 of ``query + body`` (no separator between them)."""
    return hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()


def verify(secret: str, query: str, body: str, given: str) -> bool:
    """What a server does: hash what it received, minus the ``signature`` pair, and compare (hex is
    case-insensitive)."""
    expected = signature(secret, query, body)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def strip_signature(encoded: str) -> tuple[str, str | None]:
    """``encoded`` without its ``signature=…`` pair, and the signature (None if absent)."""
    kept, found = [], None
    for part in encoded.split("&") if encoded else ():
        if part.startswith("signature="):
            found = part.partition("=")[2]
        else:
            kept.append(part)
    return "&".join(kept), found


def ws_api_signature(secret: str, params: Mapping[str, object]) -> str:
    """WebSocket API: sorted ``k=v`` pairs of every param except ``signature``, in raw UTF-8."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@define
class ServerClock:
    """Local milliseconds → Binance's. ``offset_ms`` is server minus local, measured at the midpoint of a
    ``/api/v3/time`` round trip; ``synced`` tells whether it was ever measured."""

    offset_ms: int = 0
    synced: bool = False

    def timestamp(self, local_ms: int) -> int:
        return local_ms + self.offset_ms

    def update(self, server_ms: int, sent_local_ms: int, received_local_ms: int) -> int:
        midpoint = (sent_local_ms + received_local_ms) // 2
        self.offset_ms = int(server_ms) - midpoint
        self.synced = True
        return self.offset_ms


def within_window(timestamp_ms: int, server_ms: int, recv_window_ms: float) -> str | None:
    """Binance's timing rule; None if acceptable, else why not (the -1021 message)."""
    if timestamp_ms >= server_ms + 1000:
        return "Timestamp for this request was 1000ms ahead of the server's time."
    if server_ms - timestamp_ms > recv_window_ms:
        return "Timestamp for this request is outside of the recvWindow."
    return None
