"""Finding an order whose confirm answer was lost, without client order ids (sans-IO).

DEGIRO keeps no client order id, so the connection remembers what it sent (:class:`Intent`) and, when the
answer is lost, looks for an order that agrees with it: product, side, quantity, type, prices, and created
at or after the send (allowing for clock skew). :func:`match` only ever names an order when exactly one
fits and no identical order of ours is unaccounted for; anything else it cannot tell apart stays unknown.
Absence is proven only from complete lists, once the send is older than the request timeout (a request
held up on the way could still create the order before that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from attrs import frozen

from orch.errors import ProtocolError
from orch.models import OrderRequest, OrderType, Side

from orch_degiro import protocol

# An order sent at server time T shows a creation time within this window: the Date header is whole
# seconds, and DEGIRO's clock and ours are read at different moments.
MATCH_BEFORE = timedelta(seconds=5)
MATCH_AFTER = timedelta(minutes=5)
MATCH_NOTE = "matched by product, side, quantity, type, price and time; DEGIRO has no client order id"

FOUND, ABSENT, UNKNOWN = "found", "absent", "unknown"
_PRICED = {"limit_price": (OrderType.LIMIT, OrderType.STOP_LIMIT), "stop_price": (OrderType.STOP, OrderType.STOP_LIMIT)}


@frozen
class Intent:
    """What this process sent under a client order id. ``sent_at``: the server's clock when the confirm
    left (for comparing with DEGIRO's timestamps); ``sent_mono``: trio's clock then (for the timeout)."""

    product_id: str
    side: Side
    qty: Decimal
    type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    sent_at: datetime
    sent_mono: float

    @classmethod
    def of(cls, request: OrderRequest, product_id: str, *, sent_at: datetime, sent_mono: float) -> Intent:
        priced = {name: getattr(request, name) if request.type in types else None for name, types in _PRICED.items()}
        return cls(str(product_id), request.side, Decimal(request.qty or 0), request.type, sent_at=sent_at,
                   sent_mono=sent_mono, **priced)

    def same_order(self, other: Intent) -> bool:
        """Identical orders sent close enough in time that DEGIRO's lists cannot tell them apart."""
        return (self.product_id, self.side, self.qty, self.type, self.limit_price, self.stop_price) == (
            other.product_id, other.side, other.qty, other.type, other.limit_price, other.stop_price) and abs(
            self.sent_at - other.sent_at) <= MATCH_BEFORE + MATCH_AFTER


@frozen
class Seen:
    """One order in DEGIRO's lists. None stands for a value that could not be read; ``earliest`` and
    ``latest`` bound its creation time (open orders show only the minute)."""

    order_id: str
    product_id: str | None
    side: Side | None
    qty: Decimal | None
    type: OrderType | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    earliest: datetime | None
    latest: datetime | None


@frozen
class Verdict:
    kind: str  # FOUND, ABSENT or UNKNOWN
    reason: str
    order_id: str | None = None


def date_header(headers: Mapping[str, str]) -> float | None:
    """The server's clock (epoch seconds) from a response's ``Date`` header, None when absent or unreadable:
    order times are compared on DEGIRO's clock, so a skewed local clock stays out of it."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return None


def _read(read: Any, row: Mapping[str, Any]) -> Any:
    try:
        return read(row)
    except (ProtocolError, ValueError, TypeError, ArithmeticError):
        return None


def _seen(order_id: str, row: Mapping[str, Any], qty_key: str, earliest: datetime | None,
          latest: datetime | None) -> Seen:
    kind = _read(protocol._order_type, row)
    prices = {name: (protocol._price(row, key) if kind in _PRICED[name] else None)
              for name, key in (("limit_price", "price"), ("stop_price", "stopPrice"))}
    pid = row.get("productId")
    return Seen(order_id, None if pid is None else str(pid), _read(lambda r: protocol._side(r.get("buysell")), row),
                protocol._decimal(row.get(qty_key)), kind, earliest=earliest, latest=latest, **prices)


def _open_time(value: Any, today: date) -> tuple[datetime | None, datetime | None]:
    """An open order's ``date``: ``HH:MM`` today (Amsterdam time), or ``dd/MM`` for an earlier day."""
    text = str(value or "").strip()
    try:
        if ":" in text:
            start = datetime.combine(today, time.fromisoformat(text), protocol.VWD_ZONE)
            return start, start + timedelta(minutes=1)
        if "/" in text:
            day, month = (int(part) for part in text.split("/")[:2])
            start = datetime(today.year if (month, day) <= (today.month, today.day) else today.year - 1, month, day,
                             tzinfo=protocol.VWD_ZONE)
            return start, start + timedelta(days=1)
    except ValueError:
        pass
    return None, None


def seen_orders(open_rows: Iterable[Mapping[str, Any]], history_rows: Iterable[Mapping[str, Any]], *,
                today: date) -> list[Seen]:
    """The orders in the open orders (update ``orders``) and the order history rows (update
    ``historicalOrders`` or the reports' ``order-history``), one per order id. A history CREATE row's
    ``created`` is exact and wins over an open order's minute; ``today`` is DEGIRO's date (Amsterdam)."""
    out: dict[str, Seen] = {}
    for row in history_rows:
        order_id = str(row.get("orderId") or "")
        if not order_id or order_id in out:
            continue  # the first row of an order is its CREATE
        created = protocol._when(row.get("created"))
        out[order_id] = _seen(order_id, row, "size", created, created)
    for row in open_rows:
        order_id = str(row.get("id") or "")
        if order_id and order_id not in out:
            out[order_id] = _seen(order_id, row, "quantity", *_open_time(row.get("date"), today))
    return list(out.values())


def _agrees(seen: Seen, intent: Intent) -> bool | None:
    """False when something known differs; None when nothing known differs but something is unreadable."""
    pairs = [(seen.product_id, intent.product_id), (seen.side, intent.side), (seen.qty, intent.qty),
             (seen.type, intent.type)]
    if seen.type is intent.type:
        pairs += [(seen.limit_price, intent.limit_price), (seen.stop_price, intent.stop_price)]
    if any(have is not None and have != want for have, want in pairs):
        return False
    low, high = intent.sent_at - MATCH_BEFORE, intent.sent_at + MATCH_AFTER
    if (seen.latest is not None and seen.latest < low) or (seen.earliest is not None and seen.earliest > high):
        return False
    unreadable = any(have is None and want is not None for have, want in pairs)
    return None if unreadable or seen.earliest is None or seen.latest is None else True


def match(intent: Intent, seen: Sequence[Seen], *, claimed: Iterable[str] = (), twins: Sequence[Intent] = (),
          complete: bool, elapsed: float, timeout: float) -> Verdict:
    """Which order of ``seen`` is the one sent as ``intent``. ``claimed``: order ids already bound to
    other client order ids; ``twins``: other intents of ours whose order is not known yet; ``complete``:
    ``seen`` holds every order DEGIRO showed since the send; ``elapsed``: seconds since the send."""
    taken = set(claimed)
    verdicts = [(s, _agrees(s, intent)) for s in seen if s.order_id not in taken]
    sure = [s for s, agrees in verdicts if agrees is True]
    maybe = [s for s, agrees in verdicts if agrees is None]
    if maybe:
        return Verdict(UNKNOWN, f"{len(maybe)} order(s) could not be read well enough to compare")
    if not sure:
        if not complete:
            return Verdict(UNKNOWN, "DEGIRO's order lists were incomplete")
        if elapsed < timeout:
            return Verdict(UNKNOWN, "no matching order yet, but the request may still be on its way")
        return Verdict(ABSENT, "no order matches")
    if len(sure) > 1:
        return Verdict(UNKNOWN, f"{len(sure)} identical orders match; cannot tell which one was this one")
    if any(twin.same_order(intent) for twin in twins):
        return Verdict(UNKNOWN, "an identical order of ours is unaccounted for; cannot tell which one this is")
    return Verdict(FOUND, MATCH_NOTE, sure[0].order_id)
