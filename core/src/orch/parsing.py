"""Reading broker payloads: any surprise becomes one ProtocolError naming the object, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
