"""Reading broker payloads: any surprise becomes one ProtocolError naming the object, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from orch.errors import ProtocolError


@contextmanager
def reading(what: str, *, title: str, broker: str) -> Iterator[None]:
    """``with reading("order", title="Alpaca", broker="alpaca"): …`` turns a missing field, a wrong type or
    an unparseable number inside the block into ``ProtocolError("cannot read Alpaca order: …")``."""
    try:
        yield
    except ProtocolError:
        raise
    # LookupError: a missing key or a list shorter than promised. ArithmeticError: decimal's
    # InvalidOperation/Overflow and OverflowError (a timestamp or a number far out of range).
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else (str(exc) or type(exc).__name__)
        raise ProtocolError(f"cannot read {title} {what}: {detail}", broker=broker) from None


# No id, count, timestamp or amount a broker sends has more digits than this: beyond, a value is corrupt.
MAX_DIGITS = 40


def integer(value: Any) -> int:
    """``int(value)`` for a value from the wire, refusing (ValueError) a Decimal too large to be an id, a
    count or a timestamp before converting it: ``int(Decimal("1E+999999"))`` alone takes a minute."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DIGITS:
        raise ValueError(f"number out of range: {value:.3E}")
    return int(value)


def json_decimal(text: str) -> Decimal:
    """``parse_float`` for ``json.loads``: an exact Decimal, refusing (ValueError, which ``json.loads``
    passes on) an exponent no broker sends, so a hostile ``1E+999999`` never reaches ``int()`` or
    arithmetic that would stall the event loop on it."""
    value = Decimal(text)
    if value and abs(value.adjusted()) > MAX_DIGITS * 10:
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a broker sends")


def json_loads(data: str | bytes) -> Any:
    """A broker's JSON with exact Decimals (:func:`json_decimal`), no NaN/Infinity, and every way of
    being unreadable (bad JSON, invalid UTF-8, nesting deep enough to exhaust the recursion limit)
    raised as ValueError: callers turn that one exception into their ProtocolError."""
    try:
        return json.loads(data, parse_float=json_decimal, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


LATEST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime holds


def utc_from_millis(value: Any) -> datetime:
    """An aware UTC datetime from epoch milliseconds on the wire. Out of range is a ValueError, checked
    first: ``datetime.fromtimestamp`` raises OSError (EOVERFLOW) or OverflowError for some of those."""
    millis = integer(value)
    if not -LATEST_EPOCH * 1000 <= millis <= LATEST_EPOCH * 1000:
        raise ValueError(f"timestamp {millis} ms out of range")
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


def one_line(text: Any, limit: int = 300) -> str:
    """A broker's own text (an error code or message) fit for orch's one-line errors: whitespace runs,
    newlines included, become one space, and it is cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
