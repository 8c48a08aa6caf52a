"""Client order ids: how orch names an order before any broker has seen it."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from orch.models import utcnow

PREFIX = "orch-"
MAX_LENGTH = 32

# Crockford's base32 in lower case: no i, l, o or u, so ids read back unambiguously from a screen.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 9  # 45 bits of milliseconds: enough until the year 3084
_RANDOM_CHARS = 16  # 80 random bits: a collision needs ~10^12 ids in the same millisecond

# The strictest published rule among the brokers (Binance ``newClientOrderId``); every id must match it.
PORTABLE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def _base32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_client_order_id(broker: str, *, now: datetime | None = None) -> str:
    """A fresh id such as ``orch-01jd3k8x2m4q7w9e5r1t3y6v8`` (30 characters).

    One format serves every broker: it is at most :data:`MAX_LENGTH` characters of ``[0-9a-z-]``, within
    Alpaca's 48, Binance's 36 and its pattern (:data:`PORTABLE`), and IBKR's free-form ``orderRef``.
    ``broker`` is part of the signature so a future broker with a narrower rule can be given its own
    format without changing callers. The leading millisecond time makes ids sort roughly by creation; the
    random tail makes them unique across processes without coordination (the journal's UNIQUE constraint
    is the final guard).
    """
    if not broker:
        raise ValueError("new_client_order_id needs a broker name")
    millis = int((now or utcnow()).timestamp() * 1000) & ((1 << 5 * _TIME_CHARS) - 1)
    return PREFIX + _base32(millis, _TIME_CHARS) + _base32(secrets.randbits(5 * _RANDOM_CHARS), _RANDOM_CHARS)
